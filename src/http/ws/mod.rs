//! GraphQL over WebSocket at `/graphql` (`graphql-transport-ws` and the legacy
//! `graphql-ws`), beside GraphQL over HTTP GET on the same path.
//!
//! Baton speaks the protocols itself rather than through a stock service, for three reasons:
//! each socket stays small (the tungstenite defaults allocate 128 KiB per socket) and bounded;
//! the connection enforces what the protocols leave to servers (below); and a pushed event is
//! rendered once for every subscriber asking the same query ([`crate::graphql::subscription::render`]),
//! where a stock service would resolve and serialize it once per subscriber.
//!
//! Both protocols end a connection with the close codes of `graphql-transport-ws`:
//! - `4400` a message that is not JSON of the protocol;
//! - `4401` a subscription before `connection_init` was acknowledged;
//! - `4403` a missing or bad token, a token that has expired (plus the tolerated clock skew)
//!   while the socket was open, and a user deactivated while connected;
//! - `4408` no `connection_init` within [`crate::config::WsConfig::init_timeout`];
//! - `4409` a `subscribe` with the id of a subscription still running;
//! - `4429` a second `connection_init`;
//! - `1001` the server is shutting down: reconnect, to any instance, with the last cursor;
//! - `1009` a message over [`MAX_MESSAGE_BYTES`].
//!
//! Other refusals end only the operation, with an `error` message for its id: a query or
//! mutation (`BAD_USER_INPUT`: those go over HTTP, where limits apply), an invalid document,
//! and a subscription beyond [`crate::config::WsConfig::max_subscriptions`] (`RATE_LIMITED`).
//! Every [`crate::config::WsConfig::keep_alive`] the server sends the protocol's keep-alive
//! and a WebSocket ping; a peer silent for two of those, or not taking writes for as long, is
//! dropped, so dead sockets do not hold subscriptions.

mod connection;
pub mod protocol;

use std::{net::SocketAddr, str::FromStr};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade},
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use self::protocol::{Protocol, SUBPROTOCOLS};
use super::{HttpState, graphql};
use crate::auth;

/// Bytes read from the socket at a time, and what an idle socket keeps for reading. Client
/// messages are small (a subscribe is a few hundred bytes); a larger one grows the buffer
/// to its size, up to [`MAX_MESSAGE_BYTES`].
pub const READ_BUFFER_BYTES: usize = 1024;
/// Bytes buffered before a write is flushed.
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Unsent bytes a socket may hold before it fails rather than grow.
pub const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// The largest message (and frame) a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// `GET /graphql`: a WebSocket upgrade, or a query over HTTP.
pub async fn get(State(http): State<HttpState>, request: Request<Body>) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !wants_websocket(&parts.headers) {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        return graphql::get_from(&http, peer, &parts.headers, &parts.uri).await;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &http).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = upgrade
        .protocols(SUBPROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|protocol| protocol.to_str().ok())
        .and_then(|protocol| Protocol::from_str(protocol).ok());
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "ask for the graphql-transport-ws or graphql-ws subprotocol").into_response();
    };
    let header_token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(auth::bearer_token)
        .map(str::to_owned);
    let connections = http.app.connections.clone();
    upgrade.on_upgrade(move |socket| connections.track_future(connection::serve(http, socket, protocol, header_token)))
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}
