//! A GraphQL-over-WebSocket client for tests: real TCP, either protocol.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

use crate::helpers::{TestApp, TestUser};

/// How long a test waits for a message that must come.
pub const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`
    Current,
    /// The legacy `graphql-ws` (subscriptions-transport-ws)
    Legacy,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::Current => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }
}

/// What the server sent that the test looks at.
#[derive(Debug)]
pub enum Received {
    /// A result for a subscription: its payload.
    Next(Value),
    /// Any other protocol message, whole.
    Other(Value),
    /// The server closed the socket with this code and reason.
    Closed(Option<(u16, String)>),
}

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Protocol,
    /// Return keep-alives (`ping`, `ka`) as [`Received::Other`] rather than skip them.
    pub show_keep_alives: bool,
    /// The id of the last message received that had one.
    pub last_id: Option<String>,
}

impl WsClient {
    /// Opens a socket to `/graphql` asking for `protocol`, with an optional upgrade header token.
    pub async fn connect(app: &TestApp, protocol: Protocol, header_token: Option<&str>) -> Self {
        let mut request = format!("ws://{}/graphql", app.address).into_client_request().expect("request");
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", protocol.name().parse().expect("header"));
        if let Some(token) = header_token {
            headers.insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
        assert_eq!(
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
            Some(protocol.name())
        );
        Self { socket, protocol, show_keep_alives: false, last_id: None }
    }

    /// Connects and initialises with `user`'s token in the `connection_init` payload.
    pub async fn signed_in(app: &TestApp, protocol: Protocol, user: &TestUser) -> Self {
        let mut client = Self::connect(app, protocol, None).await;
        client.init(json!({ "authorization": format!("Bearer {}", user.token) })).await;
        client.expect_ack().await;
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload })).await;
    }

    pub async fn expect_ack(&mut self) {
        match self.receive(PATIENCE).await {
            Some(Received::Other(message)) if message["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::Current => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next message within `within`, or `None`.
    pub async fn receive(&mut self, within: Duration) -> Option<Received> {
        loop {
            let message = match tokio::time::timeout(within, self.socket.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Received::Closed(None)),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if let Some(id) = value["id"].as_str() {
                        self.last_id = Some(id.to_owned());
                    }
                    return Some(match value["type"].as_str() {
                        Some("next" | "data") => Received::Next(value["payload"].clone()),
                        Some("ka" | "ping" | "pong") if !self.show_keep_alives => continue,
                        _ => Received::Other(value),
                    });
                }
                Message::Close(frame) => {
                    return Some(Received::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string()))));
                }
                _ => {}
            }
        }
    }

    /// The data of the next result, which must come within `within`.
    pub async fn next_data(&mut self, within: Duration) -> Value {
        match self.receive(within).await {
            Some(Received::Next(payload)) => {
                assert!(payload.get("errors").is_none(), "errors: {payload}");
                payload["data"].clone()
            }
            other => panic!("expected a result within {within:?}, got {other:?}"),
        }
    }

    /// The close code the server ends the socket with.
    pub async fn close_code(&mut self) -> Option<u16> {
        self.close_frame().await.map(|(code, _)| code)
    }

    /// The close code and reason the server ends the socket with.
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        loop {
            match self.receive(PATIENCE).await {
                Some(Received::Closed(frame)) => return frame,
                Some(Received::Other(_)) => {}
                other => panic!("expected the socket to close, got {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// The cursor of the newest event in the log: a subscription given it as `after` follows
/// everything from here on, without racing its own start.
pub async fn head_cursor(app: &TestApp) -> Value {
    let query = "{ leadEvents(first: 1, order: NEWEST_FIRST) { edges { cursor } } }";
    let data = app.data(app.observer().await, query, json!({})).await;
    data["leadEvents"]["edges"][0]["cursor"].clone()
}
