use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    baton::telemetry::init_tracing();
    let cli = baton::config::Cli::parse();
    baton::commands::run(cli).await
}
