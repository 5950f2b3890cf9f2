use clap::Parser;

/// Most of a request's allocations are small and short-lived, shared across worker and
/// database threads; mimalloc serves them with less contention and fragmentation than the
/// system allocator. It also takes the place of `malloc` itself (the `override` feature), so
/// SQLite's own allocations, a row's and a statement's, are served by it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    baton::telemetry::init_tracing();
    let cli = baton::config::Cli::parse();
    baton::commands::run(cli).await
}
