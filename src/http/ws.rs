//! GraphQL over WebSocket at `/graphql` (`graphql-transport-ws` and the legacy
//! `graphql-ws`), beside GraphQL over HTTP GET on the same path.
//!
//! The upgrade is ours rather than the stock service's, to keep each socket small (the
//! tungstenite defaults allocate 128 KiB per socket), to bound messages, and to close a
//! connection whose token is missing or bad with `4403 Forbidden` in either protocol (the
//! library alone would close `graphql-transport-ws` with 1002 and leave `graphql-ws` open).
//!
//! Both protocols end a connection with the close codes of `graphql-transport-ws`:
//! - `4401` a subscription before `connection_init` was acknowledged;
//! - `4403` a missing or bad token, and a token that has expired (plus the tolerated clock
//!   skew) while the socket was open;
//! - `4408` no `connection_init` within [`crate::config::WsConfig::init_timeout`];
//! - `4409` a `subscribe` with the id of a subscription still running.
//!
//! Other refusals end only the operation, with an `error` message for its id (as the
//! protocol allows for a `subscribe` that cannot run): a query or mutation
//! (`BAD_USER_INPUT`: those go over HTTP, where limits apply) and a subscription beyond
//! [`crate::config::WsConfig::max_subscriptions`] (`RATE_LIMITED`). The server sends a keep-alive (`ping`,
//! or `ka` in the legacy protocol) every [`crate::config::WsConfig::keep_alive`].

use std::{
    collections::HashSet,
    pin::Pin,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
};

use async_graphql::parser::types::OperationType;
use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage},
};
use axum::{
    body::{Body, Bytes},
    extract::{
        FromRequestParts, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::{
    SinkExt, StreamExt,
    channel::{mpsc, oneshot},
    future,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior, Sleep};

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
const INIT_TIMEOUT: u16 = 4408;
const DUPLICATE_ID: u16 = 4409;
const INTERNAL: u16 = 1011;

/// Client messages the library has not taken yet, at most.
const INBOX: usize = 8;

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
///
/// The library speaks the protocol; this loop stands between it and the socket to enforce
/// what it does not: the `connection_init` timeout, the token's expiry, keep-alives, unique
/// subscription ids, the cap on subscriptions, and subscriptions only.
async fn serve(http: HttpState, socket: WebSocket, protocol: WebSocketProtocols, header_token: Option<String>) {
    let config = http.app.ws;
    let (mut sink, mut stream) = socket.split();
    // Client messages pass to the library through a small queue; while it is full the
    // socket is not read, so a client cannot make the server buffer its messages.
    let (mut inbox, input) = mpsc::channel::<Bytes>(INBOX);
    // Why the connection was refused at `connection_init`, as a close code.
    let refused = Arc::new(AtomicU16::new(0));
    // Until when the accepted token is valid, sent once the connection is acknowledged.
    let (accepted, mut acceptance) = oneshot::channel::<DateTime<Utc>>();
    let app = http.app.clone();
    let refusal = Arc::clone(&refused);
    let messages =
        GraphQLWebSocket::new(http.schema.clone(), input, protocol).on_connection_init(move |payload| async move {
            match authenticate(&app, &payload, header_token).await {
                Ok((data, valid_until)) => {
                    let _ = accepted.send(valid_until);
                    Ok(data)
                }
                Err(code) => {
                    refusal.store(code, Ordering::Relaxed);
                    Err(async_graphql::Error::new(reason(code)))
                }
            }
        });
    futures::pin_mut!(messages);
    let mut session = Session::new(protocol, config.max_subscriptions);
    let init_deadline = tokio::time::sleep(config.init_timeout);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(Instant::now() + config.keep_alive, config.keep_alive);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut expiry: Option<Pin<Box<Sleep>>> = None;
    let (mut awaiting_acceptance, mut acknowledged) = (true, false);
    // A client message the library has not taken yet.
    let mut held: Option<Bytes> = None;
    loop {
        if let Some(message) = held.take()
            && let Err(error) = inbox.try_send(message)
        {
            if error.is_disconnected() {
                break;
            }
            held = Some(error.into_inner());
        }
        let step = tokio::select! {
            incoming = stream.next(), if held.is_none() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    let data = message.into_data();
                    match session.inspect(&data) {
                        Verdict::Forward => {
                            held = Some(data);
                            Step::Continue
                        }
                        Verdict::Reply(text) => Step::Send(text),
                        Verdict::Close(code, reason) => Step::Close(code, reason),
                    }
                }
                // Ping and pong frames are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Step::Continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            _ = future::poll_fn(|cx| inbox.poll_ready(cx)), if held.is_some() => Step::Continue,
            outgoing = messages.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    session.sent(&text);
                    Step::Send(text)
                }
                Some(WsMessage::Close(code, text)) => {
                    let code = match (refused.load(Ordering::Relaxed), code) {
                        (refusal, _) if refusal != 0 => refusal,
                        // A subscription before `connection_init` was acknowledged.
                        (_, 1011) => UNAUTHORIZED,
                        (_, code) => code,
                    };
                    let text = if code == UNAUTHORIZED || code == FORBIDDEN { reason(code).to_owned() } else { text };
                    Step::Close(code, text)
                }
                None => break,
            },
            () = &mut init_deadline, if !session.initialised => {
                Step::Close(INIT_TIMEOUT, "Connection initialisation timeout".to_owned())
            }
            valid_until = &mut acceptance, if awaiting_acceptance => {
                awaiting_acceptance = false;
                if let Ok(valid_until) = valid_until {
                    acknowledged = true;
                    let left = (valid_until - Utc::now()).to_std().unwrap_or_default();
                    expiry = Some(Box::pin(tokio::time::sleep(left)));
                }
                Step::Continue
            }
            () = async { if let Some(expiry) = expiry.as_mut() { expiry.await } }, if expiry.is_some() => {
                Step::Close(FORBIDDEN, "Forbidden: the token has expired".to_owned())
            }
            _ = keep_alive.tick(), if acknowledged => Step::Send(session.keep_alive().to_owned()),
        };
        match step {
            Step::Continue => {}
            Step::Send(text) => {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Step::Close(code, reason) => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                return;
            }
        }
    }
    // The legacy protocol reports a refusal with a `connection_error` message and stops;
    // the socket is then closed with the same code as the current protocol's.
    let code = refused.load(Ordering::Relaxed);
    if code != 0 {
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason(code).into() }))).await;
    }
}

/// What the loop does next.
enum Step {
    Continue,
    Send(String),
    Close(u16, String),
}

/// What to do with a client message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Hand it to the library.
    Forward,
    /// Answer it here (an `error` message) and drop it.
    Reply(String),
    /// Close the socket.
    Close(u16, String),
}

/// What the connection knows of the client's subscriptions.
struct Session {
    protocol: WebSocketProtocols,
    max_subscriptions: usize,
    /// Whether `connection_init` arrived.
    initialised: bool,
    /// Ids of the subscriptions running now.
    running: HashSet<String>,
}

/// The parts of a client message the session looks at.
#[derive(Deserialize)]
struct ClientEnvelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// A `complete` message of the server.
#[derive(Deserialize)]
struct Completed {
    id: String,
}

impl Session {
    fn new(protocol: WebSocketProtocols, max_subscriptions: usize) -> Self {
        Self { protocol, max_subscriptions, initialised: false, running: HashSet::new() }
    }

    /// Decides about a client message. Malformed messages, and everything before
    /// `connection_init`, go to the library, which closes the socket as the protocol says.
    fn inspect(&mut self, data: &[u8]) -> Verdict {
        let Ok(message) = serde_json::from_slice::<ClientEnvelope>(data) else { return Verdict::Forward };
        match (message.kind.as_str(), message.id) {
            ("connection_init", _) => self.initialised = true,
            ("subscribe" | "start", Some(id)) if self.initialised => {
                if self.running.contains(&id) {
                    return Verdict::Close(DUPLICATE_ID, format!("Subscriber for {id} already exists"));
                }
                if is_query_or_mutation(&message.payload) {
                    let message = "only subscriptions run over WebSocket; send queries and mutations over HTTP";
                    return Verdict::Reply(operation_error(&id, "BAD_USER_INPUT", message));
                }
                if self.running.len() >= self.max_subscriptions {
                    let message = format!("at most {} subscriptions may run on one connection", self.max_subscriptions);
                    return Verdict::Reply(operation_error(&id, "RATE_LIMITED", &message));
                }
                self.running.insert(id);
            }
            ("complete" | "stop", Some(id)) => {
                self.running.remove(&id);
            }
            _ => {}
        }
        Verdict::Forward
    }

    /// Notes a server message: a `complete` ends its subscription.
    fn sent(&mut self, text: &str) {
        if text.starts_with(r#"{"type":"complete""#)
            && let Ok(completed) = serde_json::from_str::<Completed>(text)
        {
            self.running.remove(&completed.id);
        }
    }

    /// The protocol's keep-alive message.
    fn keep_alive(&self) -> &'static str {
        match self.protocol {
            WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
            WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
        }
    }
}

/// Whether a `subscribe` payload holds a query or mutation to run. A document that does not
/// parse, or names no operation it holds, is left to the library to report.
fn is_query_or_mutation(payload: &Value) -> bool {
    let Some(query) = payload.get("query").and_then(Value::as_str) else { return false };
    let Ok(document) = async_graphql::parser::parse_query(query) else { return false };
    let name = payload.get("operationName").and_then(Value::as_str);
    document
        .operations
        .iter()
        .find(|(operation_name, _)| name.is_none() || operation_name.map(|n| n.as_str()) == name)
        .is_some_and(|(_, operation)| operation.node.ty != OperationType::Subscription)
}

/// An `error` message ending operation `id`, in both protocols, with a stable code.
fn operation_error(id: &str, code: &str, message: &str) -> String {
    json!({
        "type": "error",
        "id": id,
        "payload": [{ "message": message, "extensions": { "code": code } }],
    })
    .to_string()
}

/// The viewer and per-connection loaders, from the `connection_init` payload's
/// `authorization` (or, without one, the upgrade request's header), with the time the token
/// stops being valid; or the close code.
async fn authenticate(
    app: &AppState,
    payload: &Value,
    header_token: Option<String>,
) -> Result<(Data, DateTime<Utc>), u16> {
    let from_payload =
        ["authorization", "Authorization"].iter().find_map(|key| payload.get(key)).and_then(Value::as_str);
    let token = match from_payload {
        Some(value) => auth::bearer_token(value).map(str::to_owned),
        None => header_token,
    };
    let Some(token) = token else { return Err(FORBIDDEN) };
    let (viewer, valid_until) = match app.auth.viewer_with_expiry(&app.db, &token).await {
        Ok(accepted) => accepted,
        Err(AppError::Unauthenticated(_)) => return Err(FORBIDDEN),
        Err(error) => {
            tracing::error!(error = %error.message(), "cannot authenticate a WebSocket connection");
            return Err(INTERNAL);
        }
    };
    let mut data = Data::default();
    data.insert(Loaders::new(&app.db));
    data.insert(viewer);
    Ok((data, valid_until))
}

fn reason(code: u16) -> &'static str {
    match code {
        FORBIDDEN => "Forbidden",
        UNAUTHORIZED => "Unauthorized",
        _ => "Internal error",
    }
}
