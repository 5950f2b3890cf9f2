//! GraphQL over HTTP (POST, and GET for queries), following the GraphQL-over-HTTP
//! specification's media types and status codes.

use std::{
    collections::HashSet,
    sync::{LazyLock, Mutex},
    time::Instant,
};

use async_graphql::{
    BatchRequest, ErrorExtensions, Request, Response as GqlResponse, ServerError,
    parser::{parse_query, types::OperationType},
};
use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::HttpState;
use crate::{auth, error::AppError, graphql::loaders::Loaders};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// `POST /graphql` with a JSON body.
pub async fn post(State(http): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let format = ResponseFormat::negotiate(&headers);
    if !json_content_type(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format,
            AppError::bad_input("Content-Type", "send application/json"),
        );
    }
    let request = match serde_json::from_slice::<BatchRequest>(&body) {
        Ok(BatchRequest::Single(request)) => request,
        Ok(BatchRequest::Batch(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format,
                AppError::bad_input("body", "batched requests are not accepted; send one operation per request"),
            );
        }
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format,
                AppError::bad_input("body", "expected a JSON object with a `query` string"),
            );
        }
    };
    execute(http, &headers, request, format).await
}

/// `GET /graphql?query=…`, for queries only.
pub async fn get(State(http): State<HttpState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let format = ResponseFormat::negotiate(&headers);
    let request = match async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format,
                AppError::bad_input("query", "missing or malformed"),
            );
        }
    };
    if is_mutation(&request) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            format,
            AppError::bad_input("method", "mutations must be sent with POST"),
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(http, &headers, request, format).await
}

async fn execute(http: HttpState, headers: &HeaderMap, request: Request, format: ResponseFormat) -> Response {
    let viewer = match auth::bearer_from_headers(headers) {
        Ok(token) => http.app.auth.viewer(&http.app.db, token).await,
        Err(error) => Err(error),
    };
    let viewer = match viewer {
        Ok(viewer) => viewer,
        Err(error) => {
            let status = match error {
                AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut response = error_response(status, format, error);
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    let operation = operation_label(request.operation_name.as_deref());
    let started = Instant::now();
    let request = request.data(Loaders::new(&http.app.db)).data(viewer);
    let response = http.schema.execute(request).await;
    let outcome = if response.is_ok() { "ok" } else { "error" };
    metrics::counter!("baton_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("baton_graphql_request_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    let status = if format == ResponseFormat::GraphqlResponseJson && is_request_error(&response) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    json_response(status, format, &response)
}

/// The media type the client asked for. `application/graphql-response+json` unlocks
/// meaningful status codes; legacy `application/json` always gets 200 for a well-formed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResponseFormat {
    GraphqlResponseJson,
    Json,
}

impl ResponseFormat {
    fn negotiate(headers: &HeaderMap) -> Self {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if accept.contains(GRAPHQL_RESPONSE_JSON) {
            Self::GraphqlResponseJson
        } else if accept.contains(JSON) {
            Self::Json
        } else {
            Self::GraphqlResponseJson
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }
}

fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media_type == JSON || media_type == GRAPHQL_RESPONSE_JSON
}

/// A request error (unparsable, invalid) produced no data at all, as opposed to a field error.
fn is_request_error(response: &GqlResponse) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn is_mutation(request: &Request) -> bool {
    let Ok(document) = parse_query(&request.query) else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let selected = match (&request.operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            _ => true,
        };
        selected && operation.node.ty == OperationType::Mutation
    })
}

fn json_response(status: StatusCode, format: ResponseFormat, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, format.media_type())], bytes).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialize a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A response with one error and no data.
fn error_response(status: StatusCode, format: ResponseFormat, error: AppError) -> Response {
    let error = error.extend();
    let server_error = ServerError {
        message: error.message,
        source: None,
        locations: Vec::new(),
        path: Vec::new(),
        extensions: error.extensions,
    };
    json_response(status, format, &serde_json::json!({ "errors": [server_error] }))
}

/// Operation names become metric labels; unknown clients could send endless distinct names,
/// so only the first few hundred well-formed ones get their own label.
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
