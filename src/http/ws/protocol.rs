//! The messages of both GraphQL-over-WebSocket protocols, `graphql-transport-ws` and the
//! legacy `graphql-ws`, and the close codes Baton ends connections with in either.

use std::str::FromStr;

use async_graphql::ServerError;
use serde::Deserialize;
use serde_json::{Value, json};

/// `Sec-WebSocket-Protocol` values Baton speaks, preferred first.
pub const SUBPROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Close codes of `graphql-transport-ws`, used for the legacy protocol too.
pub mod close {
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect (elsewhere) with the last cursor.
    pub const GOING_AWAY: u16 = 1001;
    /// A message over [`super::super::MAX_MESSAGE_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const INVALID_MESSAGE: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const DUPLICATE_ID: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// Which protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    Current,
    /// `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl FromStr for Protocol {
    type Err = ();

    fn from_str(name: &str) -> Result<Self, ()> {
        match name {
            "graphql-transport-ws" => Ok(Self::Current),
            "graphql-ws" => Ok(Self::Legacy),
            _ => Err(()),
        }
    }
}

/// A message from the client, in either protocol.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: Value,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        payload: Option<Value>,
    },
}

impl Protocol {
    pub fn connection_ack(self) -> String {
        r#"{"type":"connection_ack"}"#.to_owned()
    }

    /// The server's keep-alive: a `ping` the client answers, or the legacy one-way `ka`.
    pub fn keep_alive(self) -> String {
        match self {
            Self::Current => r#"{"type":"ping"}"#,
            Self::Legacy => r#"{"type":"ka"}"#,
        }
        .to_owned()
    }

    /// The answer to a client's `ping`; the legacy protocol has none.
    pub fn pong(self) -> Option<String> {
        (self == Self::Current).then(|| r#"{"type":"pong"}"#.to_owned())
    }

    /// A result for operation `id`, around a payload rendered (once, for many) as JSON text.
    pub fn next(self, id: &str, payload: &str) -> String {
        let kind = match self {
            Self::Current => "next",
            Self::Legacy => "data",
        };
        let id = Value::from(id);
        format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#)
    }

    /// Errors ending operation `id` before or instead of results.
    pub fn error(self, id: &str, errors: &[ServerError]) -> String {
        json!({ "type": "error", "id": id, "payload": errors }).to_string()
    }

    pub fn complete(self, id: &str) -> String {
        json!({ "type": "complete", "id": id }).to_string()
    }

    /// What the legacy protocol sends before closing a connection it refuses.
    pub fn connection_error(self, message: &str) -> Option<String> {
        (self == Self::Legacy)
            .then(|| json!({ "type": "connection_error", "payload": { "message": message } }).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_wrap_a_rendered_payload_without_parsing_it_again() {
        let text = Protocol::Current.next("a\"b", r#"{"data":{"x":1}}"#);
        let message: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(message, json!({ "type": "next", "id": "a\"b", "payload": { "data": { "x": 1 } } }));
        let legacy: Value = serde_json::from_str(&Protocol::Legacy.next("1", "{}")).expect("JSON");
        assert_eq!(legacy["type"], "data");
    }

    #[test]
    fn both_protocols_subscribe_and_stop_the_same_way() {
        for kind in ["subscribe", "start"] {
            let message: ClientMessage =
                serde_json::from_value(json!({ "type": kind, "id": "1", "payload": { "query": "{}" } }))
                    .expect("parse");
            assert!(matches!(message, ClientMessage::Subscribe { id, .. } if id == "1"));
        }
        for kind in ["complete", "stop"] {
            let message: ClientMessage = serde_json::from_value(json!({ "type": kind, "id": "1" })).expect("parse");
            assert!(matches!(message, ClientMessage::Complete { id } if id == "1"));
        }
        assert!(serde_json::from_value::<ClientMessage>(json!({ "type": "subscribe" })).is_err());
    }
}
