//! One WebSocket connection: the protocol's state, the subscriptions it runs, and the
//! timers that end it.

use std::{pin::Pin, sync::Arc};

use async_graphql::{Request, ServerError};
use axum::{
    body::Bytes,
    extract::ws::{CloseFrame, Message, WebSocket},
};
use chrono::{DateTime, Utc};
use futures::{
    SinkExt, StreamExt,
    stream::{self, BoxStream},
};
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior, Sleep};
use tokio_stream::StreamMap;

use super::protocol::{ClientMessage, Protocol, close};
use crate::{
    auth,
    domain::access::Viewer,
    error::AppError,
    events::Follower,
    graphql::{
        BatonSchema, cost,
        subscription::{
            feed::{self, Feed, server_error},
            render::{LiveQuery, Renderer},
        },
    },
    http::{HttpState, graphql::give_code},
    state::AppState,
};

/// Runs one connection until either side ends it.
pub async fn serve(http: HttpState, socket: WebSocket, protocol: Protocol, header_token: Option<String>) {
    let config = http.app.ws;
    let shutdown = http.app.shutdown.clone();
    // A peer that sends nothing (not even a pong) for this long, or does not take our
    // writes for as long, is gone or hopelessly behind.
    let patience = config.keep_alive * 2;
    let (mut sink, mut stream) = socket.split();
    let mut connection = Connection::new(http, protocol, header_token);
    let init_deadline = tokio::time::sleep(config.init_timeout);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(Instant::now() + config.keep_alive, config.keep_alive);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut expiry: Option<Pin<Box<Sleep>>> = None;
    let mut last_heard = Instant::now();
    loop {
        let replies = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    last_heard = Instant::now();
                    // Boxed, like the other rare, deep futures below: a future is as large as the
                    // largest one it awaits inline, and every idle socket would carry that size.
                    let replies = Box::pin(connection.receive(&message.into_data())).await;
                    if let Some(valid_until) = connection.valid_until.take() {
                        let left = (valid_until - Utc::now()).to_std().unwrap_or_default();
                        expiry = Some(Box::pin(tokio::time::sleep(left)));
                    }
                    replies
                }
                // Pings are answered by the WebSocket layer; either kind shows the peer is there.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    last_heard = Instant::now();
                    Replies::default()
                }
                Some(Err(error)) if too_big(&error) => {
                    Replies::close(close::MESSAGE_TOO_BIG, "Message too big: at most 64 KiB")
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            Some((id, pushed)) = connection.subscriptions.next(), if !connection.subscriptions.is_empty() => {
                connection.pushed(&id, pushed)
            }
            () = &mut init_deadline, if !connection.initialised => {
                Replies::close(close::INIT_TIMEOUT, "Connection initialisation timeout")
            }
            () = async { if let Some(expiry) = expiry.as_mut() { expiry.await } }, if expiry.is_some() => {
                Replies::close(close::FORBIDDEN, "Forbidden: the token has expired")
            }
            _ = keep_alive.tick(), if connection.viewer.is_some() => {
                if last_heard.elapsed() > patience {
                    tracing::debug!("dropping a WebSocket peer silent for {patience:?}");
                    return;
                }
                connection.keep_alive()
            }
            () = shutdown.cancelled() => {
                Replies::close(close::GOING_AWAY, "Baton is shutting down; reconnect with your last cursor")
            }
        };
        for message in replies.messages {
            match tokio::time::timeout(patience, sink.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::debug!("dropping a WebSocket peer that took no writes for {patience:?}");
                    return;
                }
            }
        }
        if replies.then_close {
            return;
        }
    }
}

/// Whether a read failed on a message or frame over the size limit (the socket itself is
/// fine, so it can still say why it closes).
fn too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

/// What the connection sends next, and whether it ends after that.
#[derive(Default)]
struct Replies {
    messages: Vec<Message>,
    then_close: bool,
}

impl Replies {
    fn text(text: String) -> Self {
        Self { messages: vec![Message::Text(text.into())], then_close: false }
    }

    fn close(code: u16, reason: &str) -> Self {
        Self::default().and_close(code, reason)
    }

    fn and_close(mut self, code: u16, reason: &str) -> Self {
        self.messages.push(Message::Close(Some(CloseFrame { code, reason: reason.into() })));
        self.then_close = true;
        self
    }
}

/// What a subscription yields to its connection.
enum Pushed {
    /// An event's rendered payload.
    Next(Arc<str>),
    /// Reading the log failed; the client resumes from its last cursor.
    Failed(AppError),
    /// The instance is shutting down.
    End,
}

struct Connection {
    http: HttpState,
    protocol: Protocol,
    /// The upgrade request's token, used when `connection_init` carries none.
    header_token: Option<String>,
    /// Whether `connection_init` arrived.
    initialised: bool,
    /// Who is connected, once the token was accepted.
    viewer: Option<Viewer>,
    /// Until when the accepted token is valid; taken by the loop to arm the expiry timer.
    valid_until: Option<DateTime<Utc>>,
    /// The running subscriptions by id.
    subscriptions: StreamMap<String, BoxStream<'static, Pushed>>,
}

impl Connection {
    fn new(http: HttpState, protocol: Protocol, header_token: Option<String>) -> Self {
        Self {
            http,
            protocol,
            header_token,
            initialised: false,
            viewer: None,
            valid_until: None,
            subscriptions: StreamMap::new(),
        }
    }

    async fn receive(&mut self, data: &[u8]) -> Replies {
        let Ok(message) = serde_json::from_slice::<ClientMessage>(data) else {
            return Replies::close(close::INVALID_MESSAGE, "Invalid message received");
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.init(payload.unwrap_or_default()).await,
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload).await,
            ClientMessage::Complete { id } => match self.subscriptions.remove(&id) {
                Some(_) => Replies::text(self.protocol.complete(&id)),
                None => Replies::default(),
            },
            ClientMessage::Ping { .. } => self.protocol.pong().map(Replies::text).unwrap_or_default(),
            ClientMessage::Pong { .. } => Replies::default(),
            ClientMessage::ConnectionTerminate => Replies::close(close::NORMAL, ""),
        }
    }

    async fn init(&mut self, payload: Value) -> Replies {
        if self.initialised {
            return Replies::close(close::TOO_MANY_INITS, "Too many initialisation requests");
        }
        self.initialised = true;
        match authenticate(&self.http.app, &payload, self.header_token.take()).await {
            Ok((viewer, valid_until)) => {
                self.viewer = Some(viewer);
                self.valid_until = Some(valid_until);
                Replies::text(self.protocol.connection_ack())
            }
            Err(code) => {
                let reason = refusal(code);
                let refused = self.protocol.connection_error(reason).map(Replies::text).unwrap_or_default();
                refused.and_close(code, reason)
            }
        }
    }

    async fn subscribe(&mut self, id: String, payload: Value) -> Replies {
        let Some(viewer) = self.viewer.clone() else {
            return Replies::close(close::UNAUTHORIZED, "Unauthorized");
        };
        if self.subscriptions.contains_key(&id) {
            return Replies::close(close::DUPLICATE_ID, &format!("Subscriber for {id} already exists"));
        }
        // Bounded before anything parses the document further: a small document can
        // expand without bound (see `graphql::cost`).
        let query = payload.get("query").and_then(Value::as_str).unwrap_or_default();
        if let Err(error) = cost::check(query, &self.http.cost) {
            return self.refuse(&id, error);
        }
        if is_query_or_mutation(&payload) {
            let refusal = "only subscriptions run over WebSocket; send queries and mutations over HTTP";
            return self.refuse(&id, AppError::bad_input("query", refusal));
        }
        let cap = self.http.app.ws.max_subscriptions;
        if self.subscriptions.len() >= cap {
            let message = format!("at most {cap} subscriptions may run on one connection");
            let mut error = ServerError::new(message, None);
            error.extensions.get_or_insert_with(Default::default).set("code", "RATE_LIMITED");
            return Replies::text(self.protocol.error(&id, &[error]));
        }
        let Ok(request) = serde_json::from_value::<Request>(payload) else {
            return self.refuse(&id, AppError::bad_input("payload", "expected { query, variables, operationName }"));
        };
        let query = Arc::new(LiveQuery::new(&request));
        match feed::plan(&self.http.schema, request, &viewer).await {
            Ok(feed) => {
                let following = Following::start(&self.http, viewer, feed, query);
                self.subscriptions.insert(id, following.into_stream());
                Replies::default()
            }
            Err(mut errors) => {
                errors.iter_mut().for_each(give_code);
                Replies::text(self.protocol.error(&id, &errors))
            }
        }
    }

    fn refuse(&self, id: &str, error: AppError) -> Replies {
        Replies::text(self.protocol.error(id, &[server_error(error)]))
    }

    fn pushed(&mut self, id: &str, pushed: Pushed) -> Replies {
        if self.deactivated() {
            return Replies::close(close::FORBIDDEN, "Forbidden: the user was deactivated");
        }
        match pushed {
            Pushed::Next(payload) => Replies::text(self.protocol.next(id, &payload)),
            Pushed::Failed(error) => self.refuse(id, error),
            Pushed::End => Replies::text(self.protocol.complete(id)),
        }
    }

    /// The protocol's keep-alive and a WebSocket ping, which live peers answer by themselves.
    fn keep_alive(&self) -> Replies {
        if self.deactivated() {
            return Replies::close(close::FORBIDDEN, "Forbidden: the user was deactivated");
        }
        Replies {
            messages: vec![Message::Text(self.protocol.keep_alive().into()), Message::Ping(Bytes::new())],
            then_close: false,
        }
    }

    fn deactivated(&self) -> bool {
        self.viewer.as_ref().is_some_and(|viewer| self.http.app.deactivated.contains(viewer.id))
    }
}

/// One subscription's way through the log: the events it wants, rendered.
struct Following {
    follower: Follower,
    feed: Feed,
    viewer: Viewer,
    query: Arc<LiveQuery>,
    schema: BatonSchema,
    renderer: Arc<Renderer>,
}

impl Following {
    fn start(http: &HttpState, viewer: Viewer, feed: Feed, query: Arc<LiveQuery>) -> Self {
        let app = &http.app;
        Self {
            follower: app.events.follow(app.db.clone(), feed.after, viewer.lead_scope()),
            feed,
            viewer,
            query,
            schema: http.schema.clone(),
            renderer: Arc::clone(&app.renderer),
        }
    }

    /// Wanted events as rendered payloads; the per-event check runs on every event as it
    /// is pushed, from the row alone.
    fn into_stream(self) -> BoxStream<'static, Pushed> {
        stream::unfold(Some(self), |following| async move {
            let mut following = following?;
            loop {
                match following.follower.next().await {
                    None => return Some((Pushed::End, None)),
                    // The stream ends after reporting the failure.
                    Some(Err(error)) => return Some((Pushed::Failed(error), None)),
                    Some(Ok(event)) if (following.feed.wanted)(&following.viewer, &event.event) => {
                        let Following { renderer, schema, query, viewer, .. } = &following;
                        let payload = Box::pin(renderer.render(schema, query, viewer, &event)).await;
                        return Some((Pushed::Next(payload), Some(following)));
                    }
                    Some(Ok(_)) => {}
                }
            }
        })
        .boxed()
    }
}

/// Whether a `subscribe` payload holds a query or mutation to run. A document that does not
/// parse, or names no operation it holds, is left to planning to report.
fn is_query_or_mutation(payload: &Value) -> bool {
    use async_graphql::parser::types::OperationType;
    let Some(query) = payload.get("query").and_then(Value::as_str) else { return false };
    let Ok(document) = async_graphql::parser::parse_query(query) else { return false };
    let name = payload.get("operationName").and_then(Value::as_str);
    document
        .operations
        .iter()
        .find(|(operation_name, _)| name.is_none() || operation_name.map(|n| n.as_str()) == name)
        .is_some_and(|(_, operation)| operation.node.ty != OperationType::Subscription)
}

/// The viewer, from the `connection_init` payload's `authorization` (or, without one, the
/// upgrade request's header), with the time the token stops being valid; or the close code.
async fn authenticate(
    app: &AppState,
    payload: &Value,
    header_token: Option<String>,
) -> Result<(Viewer, DateTime<Utc>), u16> {
    let from_payload =
        ["authorization", "Authorization"].iter().find_map(|key| payload.get(key)).and_then(Value::as_str);
    let token = match from_payload {
        Some(value) => auth::bearer_token(value).map(str::to_owned),
        None => header_token,
    };
    let Some(token) = token else { return Err(close::FORBIDDEN) };
    match app.auth.viewer_with_expiry(&app.db, &token).await {
        Ok(accepted) => Ok(accepted),
        Err(AppError::Unauthenticated(_)) => Err(close::FORBIDDEN),
        Err(error) => {
            tracing::error!(error = %error.message(), "cannot authenticate a WebSocket connection");
            Err(close::INTERNAL)
        }
    }
}

fn refusal(code: u16) -> &'static str {
    match code {
        close::FORBIDDEN => "Forbidden",
        _ => "Internal error",
    }
}
