//! GraphQL over HTTP (POST, and GET for queries), following the GraphQL-over-HTTP
//! specification's media types and status codes.
//!
//! Every request passes, in order: body size and media type, rate limit, token, the cost
//! check of its document (before async-graphql validates it), then execution under a
//! time limit.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use async_graphql::{
    BatchRequest, ErrorExtensions, Request, Response as GqlResponse, ServerError, Variables,
    parser::types::{OperationDefinition, OperationType},
};
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequestParts, Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{HttpState, input_errors, rate_limit::Caller};
use crate::{
    auth,
    domain::{access::Viewer, time},
    error::AppError,
    graphql::{self, context::ReceivedAt, field_errors, loaders::Loaders, metrics as operation_metrics},
    startup::MAX_BODY_BYTES,
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The peer's IP address, when the server was started with connection info.
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

/// `POST /graphql` with a JSON body.
pub async fn post(
    State(http): State<HttpState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let format = ResponseFormat::negotiate(&headers);
            let status = rejection.status();
            let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::bad_input("body", format!("larger than {MAX_BODY_BYTES} bytes"))
            } else {
                AppError::bad_input("body", "could not be read")
            };
            return error_response(status, format, error);
        }
    };
    respond(&http, peer, &headers, &body).await
}

/// Answers one POSTed body as `POST /graphql` would, from the media type check on: the
/// whole request path short of the socket (the fuzz target drives it directly).
pub async fn respond(http: &HttpState, peer: Option<IpAddr>, headers: &HeaderMap, body: &[u8]) -> Response {
    let received = ReceivedAt(time::now());
    let format = ResponseFormat::negotiate(headers);
    if !json_content_type(headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format,
            AppError::bad_input("Content-Type", "send application/json"),
        );
    }
    let operations = match serde_json::from_slice::<BatchRequest>(body) {
        Ok(BatchRequest::Single(request)) => Operations::Single(Box::new(request)),
        Ok(BatchRequest::Batch(requests)) => match batch_refusal(requests.len(), http.limits.max_batch) {
            None => Operations::Batch(requests),
            Some(error) => return error_response(StatusCode::BAD_REQUEST, format, error),
        },
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format,
                AppError::bad_input("body", "expected a JSON object with a `query` string"),
            );
        }
    };
    execute(http, peer, headers, operations, Method::POST, format, received).await
}

/// Why a batch of `len` operations is refused, if it is.
fn batch_refusal(len: usize, max_batch: usize) -> Option<AppError> {
    if max_batch == 0 {
        Some(AppError::bad_input("body", "batched requests are not accepted; send one operation per request"))
    } else if len == 0 || len > max_batch {
        Some(AppError::bad_input("body", format!("a batch holds 1 to {max_batch} operations")))
    } else {
        None
    }
}

/// One operation, or a batch of them (when batches are enabled).
enum Operations {
    Single(Box<Request>),
    Batch(Vec<Request>),
}

/// The parameters of a GET request, named as the GraphQL-over-HTTP specification names them.
#[derive(Deserialize)]
struct GetParams {
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

impl GetParams {
    fn into_request(self) -> Result<Request, AppError> {
        let mut request = Request::new(self.query);
        if let Some(name) = self.operation_name.filter(|n| !n.is_empty()) {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables.filter(|v| !v.is_empty()) {
            let json = serde_json::from_str(&variables)
                .map_err(|_| AppError::bad_input("variables", "must be a JSON object"))?;
            request = request.variables(Variables::from_json(json));
        }
        Ok(request)
    }
}

/// `GET /graphql?query=…`, for queries only (reached through the WebSocket route's handler
/// when the request is no upgrade). Without the peer address, a GET without a valid token
/// is rate limited in one bucket shared by all such requests: they are refused anyway.
pub async fn get(State(http): State<HttpState>, headers: HeaderMap, uri: Uri) -> Response {
    get_from(&http, None, &headers, &uri).await
}

/// `GET /graphql?query=…` from `peer`.
pub async fn get_from(http: &HttpState, peer: Option<IpAddr>, headers: &HeaderMap, uri: &Uri) -> Response {
    let received = ReceivedAt(time::now());
    let format = ResponseFormat::negotiate(headers);
    let request = Query::<GetParams>::try_from_uri(uri)
        .map_err(|_| AppError::bad_input("query", "missing or malformed"))
        .and_then(|Query(params)| params.into_request());
    let request = match request {
        Ok(request) => request,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, format, error),
    };
    execute(http, peer, headers, Operations::Single(Box::new(request)), Method::GET, format, received).await
}

async fn execute(
    http: &HttpState,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    operations: Operations,
    method: Method,
    format: ResponseFormat,
    received: ReceivedAt,
) -> Response {
    let user_id = auth::bearer_from_headers(headers).and_then(|token| http.app.auth.verify(token));
    // The limiter counts a token's subject once its signature and claims check out (no
    // database needed for that), and the peer address otherwise.
    let caller = match user_id {
        Ok(user_id) => Caller::User(user_id),
        Err(_) => Caller::Address(peer),
    };
    let count = match &operations {
        Operations::Single(_) => 1,
        Operations::Batch(requests) => u32::try_from(requests.len()).unwrap_or(u32::MAX),
    };
    if let Err(error) = http.rate_limits.check(caller, count) {
        return rate_limited(format, error);
    }
    let viewer = match user_id {
        Ok(user_id) => http.app.auth.active_user(&http.app.db, user_id).await,
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
    let is_get = method == Method::GET;
    match operations {
        Operations::Single(request) => {
            single_response(run(http, *request, viewer, is_get, received).await, http, format)
        }
        Operations::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(run(http, request, viewer.clone(), is_get, received).await.into_body(http));
            }
            json_response(StatusCode::OK, format, &responses)
        }
    }
}

/// Checks one operation's cost, then runs it under the execution time limit.
async fn run(http: &HttpState, mut request: Request, viewer: Viewer, is_get: bool, received: ReceivedAt) -> Outcome {
    if let Err(error) = http.documents.check_request(&mut request, &http.cost) {
        metrics::counter!("baton_graphql_refused_total", "reason" => error.code()).increment(1);
        return Outcome::Refused(error);
    }
    if is_get && is_mutation(&mut request) {
        return Outcome::MutationOverGet;
    }
    if let Some(error) = missing_required_variable(&mut request) {
        return Outcome::Refused(error);
    }
    // Kept to name the field of an input error async-graphql reports by type only, and to
    // find where a failed field's null goes.
    let variables = request.variables.clone();
    let (query, operation_name) = (request.query.clone(), request.operation_name.clone());
    let operation = operation_metrics::operation_of(&mut request);
    let request = request.data(Loaders::new(&http.app.db)).data(viewer).data(received);
    let started = Instant::now();
    let outcome = match tokio::time::timeout(http.limits.execution_timeout, http.schema.execute(request)).await {
        Ok(mut response) => {
            for error in &mut response.errors {
                give_code(error);
                input_errors::name_field(error, &variables);
            }
            field_errors::mend(&mut response, &query, operation_name.as_deref());
            Outcome::Ran(response)
        }
        Err(_) => Outcome::TimedOut,
    };
    let response = match &outcome {
        Outcome::Ran(response) => Some(response),
        _ => None,
    };
    operation_metrics::record(&operation, response, started.elapsed());
    outcome
}

/// How one operation ended.
enum Outcome {
    Ran(GqlResponse),
    Refused(AppError),
    MutationOverGet,
    TimedOut,
}

impl Outcome {
    /// The GraphQL response, whatever the outcome.
    fn into_body(self, http: &HttpState) -> GqlResponse {
        match self {
            Self::Ran(response) => response,
            Self::Refused(error) => GqlResponse::from_errors(vec![server_error(error)]),
            Self::MutationOverGet => GqlResponse::from_errors(vec![server_error(AppError::bad_input(
                "method",
                "mutations must be sent with POST",
            ))]),
            Self::TimedOut => GqlResponse::from_errors(vec![timeout_error(http)]),
        }
    }
}

fn single_response(outcome: Outcome, http: &HttpState, format: ResponseFormat) -> Response {
    let modern = format == ResponseFormat::GraphqlResponseJson;
    let status = match &outcome {
        Outcome::MutationOverGet => StatusCode::METHOD_NOT_ALLOWED,
        Outcome::TimedOut if modern => StatusCode::SERVICE_UNAVAILABLE,
        Outcome::Refused(_) if modern => StatusCode::BAD_REQUEST,
        Outcome::Ran(response) if modern && is_request_error(response) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let allow_post = matches!(outcome, Outcome::MutationOverGet);
    let body = outcome.into_body(http);
    let mut response = if is_request_error(&body) {
        // A request error has no `data` entry at all (GraphQL spec, "Response Format").
        json_response(status, format, &serde_json::json!({ "errors": body.errors }))
    } else {
        json_response(status, format, &body)
    };
    if allow_post {
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// The error of an operation abandoned at the execution time limit. Its database work
/// was dropped with it; a mutation retried with its idempotency key tells whether it landed.
fn timeout_error(http: &HttpState) -> ServerError {
    let limit = humantime::format_duration(http.limits.execution_timeout);
    tracing::warn!(%limit, "operation abandoned at the execution time limit");
    metrics::counter!("baton_graphql_refused_total", "reason" => "TIMEOUT").increment(1);
    let mut error = ServerError::new(format!("the operation did not finish within {limit}"), None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "INTERNAL");
    extensions.set("reason", "TIMEOUT");
    error.extensions = Some(extensions);
    error
}

fn rate_limited(format: ResponseFormat, error: AppError) -> Response {
    metrics::counter!("baton_graphql_refused_total", "reason" => error.code()).increment(1);
    let retry_after = match &error {
        AppError::RateLimited { retry_after_secs } => *retry_after_secs,
        _ => 1,
    };
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, format, error);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
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

/// Gives errors raised by async-graphql itself (syntax, validation, input coercion, query
/// limits) the code the API promises on every error; ours already carry one.
pub(crate) fn give_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    let limit_exceeded = ["Query is too complex", "Query is nested too deep", "recursion depth", "recursion limit"]
        .iter()
        .any(|limit| error.message.contains(limit));
    extensions.set("code", if limit_exceeded { "QUERY_TOO_COMPLEX" } else { "BAD_USER_INPUT" });
}

/// A request error (unparsable, invalid) produced no data at all, as opposed to a field error.
fn is_request_error(response: &GqlResponse) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A required variable of the selected operation that the request leaves out or sets to
/// null. The GraphQL spec coerces an operation's variables before running it, and that is
/// a request error; async-graphql finds out only while resolving the field that uses the
/// variable, and answers with a field error and partial data.
fn missing_required_variable(request: &mut Request) -> Option<AppError> {
    let variables = std::mem::take(&mut request.variables);
    let missing = selected_operation(request).and_then(|operation| {
        operation.variable_definitions.iter().map(|definition| &definition.node).find(|definition| {
            !definition.var_type.node.nullable
                && definition.default_value.is_none()
                && matches!(variables.get(&definition.name.node), None | Some(async_graphql::Value::Null))
        })
    });
    let error = missing.map(|definition| {
        let name = format!("${}", definition.name.node);
        AppError::bad_input(name.clone(), format!("variable {name} of type {} is required", definition.var_type.node))
    });
    request.variables = variables;
    error
}

/// The operation the request selects, when exactly one matches (async-graphql refuses the
/// rest itself).
fn selected_operation(request: &mut Request) -> Option<&OperationDefinition> {
    let wanted = request.operation_name.clone();
    graphql::selected_operation(request.parsed_query().ok()?, wanted.as_deref())
}

/// Whether the operation the request selects is a mutation (the document is parsed by
/// then, and stays parsed for execution).
fn is_mutation(request: &mut Request) -> bool {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let selected = match (&wanted, name) {
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
    json_response(status, format, &serde_json::json!({ "errors": [server_error(error)] }))
}

fn server_error(error: AppError) -> ServerError {
    let error = error.extend();
    ServerError {
        message: error.message,
        source: None,
        locations: Vec::new(),
        path: Vec::new(),
        extensions: error.extensions,
    }
}
