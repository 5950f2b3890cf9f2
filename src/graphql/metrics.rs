//! Request count and latency per GraphQL operation, as Prometheus metrics.

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock, Mutex},
    time::Instant,
};

use async_graphql::{
    Response,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute},
};

/// Records `baton_graphql_requests_total` and `baton_graphql_request_duration_seconds`,
/// labelled with the executed operation's name (from the document when the request does
/// not name it).
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetrics)
    }
}

#[async_trait::async_trait]
impl Extension for OperationMetrics {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let operation = operation_label(operation_name);
        let outcome = if response.is_ok() { "ok" } else { "error" };
        metrics::counter!("baton_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("baton_graphql_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        response
    }
}

/// Operation names become metric labels; clients could send endless distinct names, so
/// only the first few hundred well-formed ones get a label of their own.
fn operation_label(name: Option<&str>) -> String {
    static SEEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
    const MAX_LABELS: usize = 256;
    let Some(name) = name.filter(|n| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) else {
        return "anonymous".to_owned();
    };
    let Ok(mut seen) = SEEN.lock() else {
        return "other".to_owned();
    };
    if seen.contains(name) || (seen.len() < MAX_LABELS && seen.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}
