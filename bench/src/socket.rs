//! WebSocket subscribers (`graphql-transport-ws`), many per process: each socket is a task
//! that reads everything it is sent (so pings are answered) and reports its results.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

/// A result a socket received, and when.
pub struct Delivery {
    pub received_at: DateTime<Utc>,
    pub payload: Value,
}

/// Open sockets; they close when this is dropped.
pub struct Sockets {
    tasks: Vec<JoinHandle<()>>,
}

impl Sockets {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens `count` sockets to `base` (http://host:port), the n-th signed in with
/// `tokens[n % tokens.len()]`, each running `query`; results go to `deliveries`.
pub async fn open(
    base: &str,
    tokens: &[String],
    query: &str,
    count: usize,
    deliveries: mpsc::UnboundedSender<Delivery>,
) -> anyhow::Result<Sockets> {
    let url = format!("{}/graphql", base.replacen("http://", "ws://", 1));
    let opened: Vec<anyhow::Result<JoinHandle<()>>> = stream::iter(0..count)
        .map(|n| {
            let (url, token, deliveries) = (url.clone(), tokens[n % tokens.len()].clone(), deliveries.clone());
            async move { subscribe(&url, &token, query, deliveries).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let tasks = opened.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Sockets { tasks })
}

async fn subscribe(
    url: &str,
    token: &str,
    query: &str,
    deliveries: mpsc::UnboundedSender<Delivery>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.context("WebSocket connect")?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
            other => bail!("no connection_ack: {other:?}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message
                && text.starts_with(r#"{"type":"next""#)
            {
                let received_at = Utc::now();
                let payload = serde_json::from_str::<Value>(&text).map(|m| m["payload"].clone()).unwrap_or_default();
                let _ = deliveries.send(Delivery { received_at, payload });
            }
        }
    }))
}
