//! GraphQL over HTTP (POST, and GET for queries), following the GraphQL-over-HTTP
//! specification's media types and status codes.

use async_graphql::{
    BatchRequest, ErrorExtensions, Request, Response as GqlResponse, ServerError, Variables,
    parser::{parse_query, types::OperationType},
};
use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::HttpState;
use crate::{
    auth,
    domain::time,
    error::AppError,
    graphql::{context::ReceivedAt, loaders::Loaders},
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// `POST /graphql` with a JSON body.
pub async fn post(State(http): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let received = ReceivedAt(time::now());
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
    execute(http, &headers, request, format, received).await
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

/// `GET /graphql?query=…`, for queries only.
pub async fn get(State(http): State<HttpState>, headers: HeaderMap, uri: Uri) -> Response {
    let received = ReceivedAt(time::now());
    let format = ResponseFormat::negotiate(&headers);
    let request = Query::<GetParams>::try_from_uri(&uri)
        .map_err(|_| AppError::bad_input("query", "missing or malformed"))
        .and_then(|Query(params)| params.into_request());
    let request = match request {
        Ok(request) => request,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, format, error),
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
    execute(http, &headers, request, format, received).await
}

async fn execute(
    http: HttpState,
    headers: &HeaderMap,
    request: Request,
    format: ResponseFormat,
    received: ReceivedAt,
) -> Response {
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
    let request = request.data(Loaders::new(&http.app.db)).data(viewer).data(received);
    let mut response = http.schema.execute(request).await;
    response.errors.iter_mut().for_each(give_code);
    if is_request_error(&response) {
        // A request error has no `data` entry at all (GraphQL spec, "Response Format").
        let status = match format {
            ResponseFormat::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            ResponseFormat::Json => StatusCode::OK,
        };
        return json_response(status, format, &serde_json::json!({ "errors": response.errors }));
    }
    json_response(StatusCode::OK, format, &response)
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
    let limit_exceeded = ["Query is too complex", "Query is nested too deep", "recursion depth"]
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
