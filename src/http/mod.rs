//! HTTP endpoints: GraphQL over HTTP, GraphiQL, health and metrics.

pub mod graphql;
pub mod health;
pub mod input_errors;
pub mod probe;
pub mod rate_limit;
pub mod ws;

use async_graphql::http::GraphiQLSource;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;

use std::sync::Arc;

use crate::{
    config::LimitsConfig,
    graphql::{BatonSchema, cost},
    state::AppState,
};

/// What the router's handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// Database, authenticator and other request-wide parts.
    pub app: AppState,
    /// The executable schema.
    pub schema: BatonSchema,
    /// Renders the Prometheus exposition at `/metrics`.
    pub prometheus: PrometheusHandle,
    /// Whether GraphiQL is served at `/`.
    pub graphiql: bool,
    /// Batches, execution time and request rate allowed per client.
    pub limits: LimitsConfig,
    /// The bounds every document is checked against before validation (HTTP and WebSocket).
    pub cost: cost::Limits,
    /// Documents already parsed and checked against `cost`.
    pub documents: Arc<cost::CheckedDocuments>,
    /// Requests per minute per user and per anonymous address.
    pub rate_limits: Arc<rate_limit::RateLimits>,
}

/// GraphiQL, when enabled.
pub async fn graphiql(axum::extract::State(http): axum::extract::State<HttpState>) -> Response {
    if !http.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(GraphiQLSource::build().title("Baton").endpoint("/graphql").subscription_endpoint("/graphql").finish())
        .into_response()
}
