//! The data and the server under test: a seeded database per size, `baton serve` as a
//! separate process pinned to the first core, and what `/proc` and `/metrics` say about it.

use std::{
    process::Stdio,
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

use crate::{Backend, Cli};

/// The HS256 secret the server verifies and `baton token` signs with.
pub const SECRET: &str = "baton-bench-secret-long-enough-for-hs256";
/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A seeded database.
pub struct Dataset {
    pub url: String,
    pub leads: u64,
    /// How long seeding took, when this run seeded.
    pub seeded_in: Option<Duration>,
}

/// Seeds a database of `cli.leads` leads, or reuses one a previous run seeded completely.
pub async fn prepare(cli: &Cli) -> anyhow::Result<Dataset> {
    std::fs::create_dir_all(&cli.out)?;
    let (url, marker) = match cli.database {
        Backend::Sqlite => {
            let path = cli.out.join(format!("baton-{}.db", cli.leads));
            (format!("sqlite://{}?mode=rwc", path.display()), path.with_extension("db.seeded"))
        }
        Backend::Postgres => {
            let name = format!("baton_bench_{}", cli.leads);
            (format!("{}/{name}", cli.postgres), cli.out.join(format!("{name}.seeded")))
        }
    };
    if marker.exists() && !cli.reseed {
        return Ok(Dataset { url, leads: cli.leads, seeded_in: None });
    }
    recreate(cli, &url)?;
    eprintln!("seeding {} leads into {url} …", cli.leads);
    let started = Instant::now();
    let leads = cli.leads.to_string();
    baton(cli, &url, &["seed", "--leads", &leads]).await?;
    let seeded_in = started.elapsed();
    std::fs::write(&marker, format!("{}\n", seeded_in.as_secs_f64()))?;
    Ok(Dataset { url, leads: cli.leads, seeded_in: Some(seeded_in) })
}

/// Removes the database behind `url` and creates it empty.
fn recreate(cli: &Cli, url: &str) -> anyhow::Result<()> {
    match cli.database {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://").trim_end_matches("?mode=rwc");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        Backend::Postgres => {
            let name = url.rsplit('/').next().unwrap_or_default();
            let admin = format!("{}/postgres", cli.postgres);
            for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
                let status = std::process::Command::new("psql").args([&admin, "-qAtc", &sql]).status()?;
                if !status.success() {
                    bail!("psql could not run: {sql}");
                }
            }
        }
    }
    Ok(())
}

/// The machine's cores, as `taskset` lists them ("0,1"), from before the load generator
/// pinned itself to one.
static ALL_CORES: OnceLock<String> = OnceLock::new();

/// Remembers the cores this process may run on; called before it pins itself.
pub fn remember_cores(cores: &[core_affinity::CoreId]) {
    let list: Vec<String> = cores.iter().map(|core| core.id.to_string()).collect();
    let _ = ALL_CORES.set(list.join(","));
}

/// Runs a `baton` subcommand on `url` and returns what it printed. It runs on every core,
/// as a user would run it (`seed` uses them all), not on the load generator's one.
pub async fn baton(cli: &Cli, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let cores = ALL_CORES.get().map_or("0", String::as_str);
    let output = Command::new("taskset")
        .args(["-c", cores])
        .arg(&cli.baton)
        .args(["--database-url", url])
        .args(args)
        .env("BATON_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .with_context(|| {
            format!("cannot run {} under taskset; build it with `cargo build --release`", cli.baton.display())
        })?;
    if !output.status.success() {
        bail!("baton {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// A user of the benchmark (created once per database) and a token for them.
pub async fn token_for_new_user(cli: &Cli, url: &str, email: &str, role: &str) -> anyhow::Result<String> {
    // Adding fails when an earlier run added the user; the token tells whether they exist.
    let _ = baton(cli, url, &["user", "add", "--email", email, "--name", email, "--role", role]).await;
    token(cli, url, email).await
}

/// A token for an existing user.
pub async fn token(cli: &Cli, url: &str, email: &str) -> anyhow::Result<String> {
    baton(cli, url, &["token", "--email", email, "--ttl", "12h"]).await
}

/// `baton serve`, running until dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
}

impl Server {
    /// Starts `baton serve` on `port`, pinned to the first core, and waits until it is ready.
    pub async fn start(cli: &Cli, url: &str, port: u16, http: &reqwest::Client) -> anyhow::Result<Self> {
        let log = std::fs::File::create(cli.out.join(format!("serve-{port}.log")))?;
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(&cli.baton)
            .args(["--database-url", url, "serve", "--listen", &listen])
            .env("BATON_JWT_SECRET", SECRET)
            .env("BATON_WS_MAX_SUBSCRIPTIONS", "20")
            // The load generator is one user sending as fast as the server answers.
            .env("BATON_RATE_LIMIT_PER_MINUTE", "1000000000")
            .env("BATON_RATE_LIMIT_BURST", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start baton serve (is taskset installed?)")?;
        let pid = child.id().context("baton serve exited at once")?;
        let server = Self { child, pid, base: format!("http://{listen}") };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = http.get(format!("{}/readyz", server.base)).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("baton serve did not become ready; see {}", cli.out.join(format!("serve-{port}.log")).display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// CPU time the server process has used, user and system.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at the closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok()).unwrap_or_default();
        (ticks(11) + ticks(12)) / TICKS_PER_SECOND
    }

    /// SQL statements the server has sent, from its Prometheus metrics.
    pub async fn statements(&self, http: &reqwest::Client) -> f64 {
        let Ok(response) = http.get(format!("{}/metrics", self.base)).send().await else { return 0.0 };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("baton_db_statement_seconds_count"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
