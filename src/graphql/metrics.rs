//! Request count and latency per GraphQL operation, as Prometheus metrics.

use std::{
    collections::HashSet,
    sync::{LazyLock, Mutex},
    time::Duration,
};

use async_graphql::{Request, Response};

/// Records `baton_graphql_requests_total` and `baton_graphql_request_duration_seconds` for
/// one executed operation, labelled with its name (from the document when the request
/// does not name it). Recorded around execution rather than by a schema extension: with
/// any extension installed, every field of every response goes through the extension
/// chain (a registry lookup and a boxed future per field).
pub fn record(operation: &str, response: Option<&Response>, took: Duration) {
    let outcome = if response.is_some_and(Response::is_ok) { "ok" } else { "error" };
    metrics::counter!("baton_graphql_requests_total", "operation" => operation.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("baton_graphql_request_duration_seconds", "operation" => operation.to_owned())
        .record(took.as_secs_f64());
}

/// The label of the operation `request` runs: its `operationName`, or the name of the
/// document's only operation.
pub fn operation_of(request: &mut Request) -> String {
    let named = request.operation_name.clone().or_else(|| {
        let document = request.parsed_query().ok()?;
        let mut names = document.operations.iter().map(|(name, _)| name);
        match (names.next(), names.next()) {
            (Some(Some(name)), None) => Some(name.to_string()),
            _ => None,
        }
    });
    operation_label(named.as_deref())
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
