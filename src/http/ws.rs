//! GraphQL over WebSocket at `/graphql` (`graphql-transport-ws` and the legacy
//! `graphql-ws`), beside GraphQL over HTTP GET on the same path.
//!
//! The upgrade is ours rather than the stock service's, to keep each socket small (the
//! tungstenite defaults allocate 128 KiB per socket), to bound messages, and to close a
//! connection whose token is missing or bad with `4403 Forbidden` in either protocol (the
//! library alone would close `graphql-transport-ws` with 1002 and leave `graphql-ws` open).

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage},
};
use axum::{
    body::Body,
    extract::{
        FromRequestParts, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt, future};
use serde_json::Value;

use super::{HttpState, graphql};
use crate::{auth, error::AppError, graphql::loaders::Loaders, state::AppState};

/// Bytes read from the socket at a time.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Bytes buffered before a write is flushed.
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Unsent bytes a socket may hold before it fails rather than grow.
pub const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// The largest message (and frame) a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Close codes of `graphql-transport-ws`, also used for the legacy protocol.
const FORBIDDEN: u16 = 4403;
const UNAUTHORIZED: u16 = 4401;
const INTERNAL: u16 = 1011;

/// `GET /graphql`: a WebSocket upgrade, or a query over HTTP.
pub async fn get(State(http): State<HttpState>, request: Request<Body>) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !wants_websocket(&parts.headers) {
        return graphql::get(State(http), parts.headers, parts.uri).await;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &http).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|protocol| protocol.to_str().ok())
        .and_then(|protocol| WebSocketProtocols::from_str(protocol).ok());
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "ask for the graphql-transport-ws or graphql-ws subprotocol").into_response();
    };
    let header_token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(auth::bearer_token)
        .map(str::to_owned);
    upgrade.on_upgrade(move |socket| serve(http, socket, protocol, header_token))
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// Runs one connection until either side ends it.
async fn serve(http: HttpState, socket: WebSocket, protocol: WebSocketProtocols, header_token: Option<String>) {
    let (mut sink, stream) = socket.split();
    let input = stream.take_while(|message| future::ready(message.is_ok())).filter_map(|message| {
        future::ready(match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
            _ => None,
        })
    });
    // Why the connection was refused at `connection_init`, as a close code.
    let refused = Arc::new(AtomicU16::new(0));
    let app = http.app.clone();
    let refusal = Arc::clone(&refused);
    let messages = GraphQLWebSocket::new(http.schema.clone(), input, protocol).on_connection_init(move |payload| {
        let refused = refusal;
        async move {
            authenticate(&app, &payload, header_token).await.map_err(|code| {
                refused.store(code, Ordering::Relaxed);
                async_graphql::Error::new(reason(code))
            })
        }
    });
    futures::pin_mut!(messages);
    while let Some(message) = messages.next().await {
        let frame = match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, text) => {
                let code = match (refused.load(Ordering::Relaxed), code) {
                    (refusal, _) if refusal != 0 => refusal,
                    // A subscription before `connection_init` was acknowledged.
                    (_, 1011) => UNAUTHORIZED,
                    (_, code) => code,
                };
                let text = if code == UNAUTHORIZED || code == FORBIDDEN { reason(code).to_owned() } else { text };
                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: text.into() }))).await;
                return;
            }
        };
        if sink.send(frame).await.is_err() {
            return;
        }
    }
    // The legacy protocol reports a refusal with a `connection_error` message and stops;
    // the socket is then closed with the same code as the current protocol's.
    let code = refused.load(Ordering::Relaxed);
    if code != 0 {
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason(code).into() }))).await;
    }
}

/// The viewer and per-connection loaders, from the `connection_init` payload's
/// `authorization` (or, without one, the upgrade request's header); or the close code.
async fn authenticate(app: &AppState, payload: &Value, header_token: Option<String>) -> Result<Data, u16> {
    let from_payload =
        ["authorization", "Authorization"].iter().find_map(|key| payload.get(key)).and_then(Value::as_str);
    let token = match from_payload {
        Some(value) => auth::bearer_token(value).map(str::to_owned),
        None => header_token,
    };
    let Some(token) = token else { return Err(FORBIDDEN) };
    let viewer = match app.auth.viewer(&app.db, &token).await {
        Ok(viewer) => viewer,
        Err(AppError::Unauthenticated(_)) => return Err(FORBIDDEN),
        Err(error) => {
            tracing::error!(error = %error.message(), "cannot authenticate a WebSocket connection");
            return Err(INTERNAL);
        }
    };
    let mut data = Data::default();
    data.insert(Loaders::new(&app.db));
    data.insert(viewer);
    Ok(data)
}

fn reason(code: u16) -> &'static str {
    match code {
        FORBIDDEN => "Forbidden",
        UNAUTHORIZED => "Unauthorized",
        _ => "Internal error",
    }
}
