//! Logs and metrics.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Structured logs to stderr, filtered by `RUST_LOG` (default: info for Baton).
/// JSON lines when `BATON_LOG_FORMAT=json`.
pub fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("baton=info,tower_http=info,warn"));
    let json = std::env::var("BATON_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(fmt::layer().json().with_writer(std::io::stderr)).try_init()
    } else {
        registry.with(fmt::layer().compact().with_writer(std::io::stderr)).try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}

/// The process-wide Prometheus recorder. Metrics macros write to one global recorder,
/// so it is installed once and every server in the process renders from it.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            drop(metrics::set_global_recorder(recorder));
            handle
        })
        .clone()
}
