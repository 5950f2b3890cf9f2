//! Baton's benchmarks. Seeds a database with `baton seed`, starts `baton serve` as a separate
//! process pinned to the first core, and drives it over real HTTP and WebSocket from this
//! process, pinned to the second. Every scenario prints a table row per measurement; all of
//! them are written as JSON to `<out>/<database>-<leads>.json`.

mod api;
mod load;
mod machine;
mod report;
mod scenarios;
mod server;
mod socket;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Run Baton's benchmark scenarios.
#[derive(Debug, Parser)]
#[command(name = "baton-bench")]
pub struct Cli {
    /// The database to benchmark on.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub database: Backend,
    /// The PostgreSQL server (a database per size is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Leads to seed (1e5, 1e6, and 1e7 on PostgreSQL are the reference sizes).
    #[arg(long, default_value_t = 100_000)]
    pub leads: u64,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The `baton` binary to benchmark (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/baton")]
    pub baton: PathBuf,
    /// Where databases, server logs and results go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Seed again even when a seeded database of this size exists.
    #[arg(long)]
    pub reseed: bool,
    /// Scenarios to run, in order.
    #[arg(value_enum, required = true)]
    pub scenarios: Vec<Scenario>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `lead(id)` with account and owner.
    PointRead,
    /// A rep's SAL inbox: 20 leads with account, newest first.
    SalInbox,
    /// An account with 50 leads and their owners.
    AccountLeads,
    /// `funnel` and `kpis` for a year, grouped by month and channel.
    Kpis,
    /// `acceptLead` with 1, 8 and 32 concurrent writers.
    Accept,
    /// Push latency to one rep's socket among 1,000 and 10,000 subscribed sockets.
    PushLatency,
    /// One event to 2,000 and 10,000 subscribers: time to the last delivery.
    FanOut,
    /// Server memory per idle subscribed socket, at 10,000 sockets.
    IdleMemory,
    /// Two instances on one PostgreSQL: push latency across them.
    CrossInstance,
    /// `importLeads` throughput (and `seed`, measured when seeding).
    Import,
    /// Every scenario above.
    All,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The load generator runs on one thread pinned to the second core; the server gets the first.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    server::remember_cores(&cores);
    if let Some(core) = cores.get(1) {
        core_affinity::set_for_current(*core);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(scenarios::run(cli))
}
