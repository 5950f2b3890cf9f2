//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, response::IntoResponse};

use super::HttpState;
use crate::db;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Longest `/readyz` waits for the database: a load balancer's probe must get an answer
/// even when the database hangs.
const READY_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The process can serve: the database answers, within [`READY_PING_TIMEOUT`]. The pool
/// replaces dead connections on its own, so this turns 200 again once the database is back.
pub async fn readyz(State(http): State<HttpState>) -> impl IntoResponse {
    let answered = tokio::time::timeout(READY_PING_TIMEOUT, db::ping(&http.app.db)).await;
    if answered.unwrap_or(false) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

/// Prometheus exposition.
pub async fn metrics(State(http): State<HttpState>) -> impl IntoResponse {
    db::record_pool_metrics(&http.app.db);
    metrics::gauge!("baton_db_writers_queued").set(http.app.writer.queued() as f64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], http.prometheus.render())
}
