//! Results: a table row per measurement as it is made, and all of them as JSON at the end.

use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One measured number set.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measurement {
    pub scenario: String,
    /// What varied within the scenario (writers, sockets, rate).
    pub variant: String,
    pub database: String,
    pub leads: u64,
    pub requests: u64,
    pub errors: u64,
    pub throughput_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub cpu_ms_per_request: Option<f64>,
    pub statements_per_request: Option<f64>,
    pub server_rss_mib: Option<f64>,
    /// A scenario's own figure (memory per socket, leads per second), named in `note`.
    pub value: Option<f64>,
    pub note: String,
}

impl Measurement {
    pub fn with_latency(mut self, latency: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if !latency.is_empty() {
            self.p50_ms = Some(ms(latency.value_at_quantile(0.5)));
            self.p99_ms = Some(ms(latency.value_at_quantile(0.99)));
            self.max_ms = Some(ms(latency.max()));
        }
        self
    }
}

pub fn print_header() {
    println!(
        "{:<15} {:<26} {:>8} {:>6} {:>10} {:>8} {:>8} {:>9} {:>8} {:>7} {:>8}  note",
        "scenario",
        "variant",
        "requests",
        "errors",
        "per s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cpu ms",
        "stmts",
        "rss MiB"
    );
}

pub fn print(m: &Measurement) {
    let num = |value: Option<f64>, decimals: usize| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"));
    println!(
        "{:<15} {:<30} {:>8} {:>6} {:>10} {:>8} {:>8} {:>9} {:>8} {:>7} {:>8} {:>9}  {}",
        m.scenario,
        m.variant,
        m.requests,
        m.errors,
        num(m.throughput_per_s, 0),
        num(m.p50_ms, 2),
        num(m.p99_ms, 2),
        num(m.max_ms, 1),
        num(m.cpu_ms_per_request, 3),
        num(m.statements_per_request, 2),
        num(m.server_rss_mib, 0),
        num(m.value, 1),
        m.note
    );
}

pub fn write_json(path: &Path, measurements: &[Measurement]) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(measurements)?)?;
    Ok(())
}
