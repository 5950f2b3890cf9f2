//! Liveness, readiness and metrics.

use axum::{extract::State, http::StatusCode, response::IntoResponse};

use super::HttpState;
use crate::db;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// The process can serve: the database answers.
pub async fn readyz(State(http): State<HttpState>) -> impl IntoResponse {
    if db::ping(&http.app.db).await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

/// Prometheus exposition.
pub async fn metrics(State(http): State<HttpState>) -> impl IntoResponse {
    db::record_pool_metrics(&http.app.db);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], http.prometheus.render())
}
