//! `baton serve` as operators run it: on SIGTERM it stops, closing WebSockets with 1001
//! (going away) so clients reconnect, to another instance, with their last cursor.

use std::{process::Stdio, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const SECRET: &str = "a-shutdown-test-secret-long-enough-for-hs256";

/// Runs a `baton` subcommand on `database` and returns what it printed.
async fn baton(database: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["--database-url", database])
        .args(args)
        .env("BATON_JWT_SECRET", SECRET)
        .output()
        .await
        .expect("run baton");
    assert!(output.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_owned()
}

#[tokio::test]
async fn sigterm_closes_websockets_with_going_away_and_the_process_exits() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}/baton.db?mode=rwc", dir.path().display());
    baton(&database, &["user", "add", "--email", "ops@example.com", "--name", "Ops", "--role", "SALES_MANAGER"]).await;
    let token = baton(&database, &["token", "--email", "ops@example.com"]).await;
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("address")
    };
    let mut server = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["--database-url", &database, "serve", "--listen", &address.to_string()])
        .env("BATON_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start baton serve");
    let client = reqwest::Client::new();
    let ready = async {
        while !client.get(format!("http://{address}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready).await.expect("baton serve became ready");

    let mut request = format!("ws://{address}/graphql").into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.expect("send");
    let ack = socket.next().await.expect("a message").expect("a frame");
    assert!(ack.to_text().is_ok_and(|text| text.contains("connection_ack")), "{ack:?}");
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { salCreated { cursor } }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await.expect("send");

    let pid = server.id().expect("running").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the socket was closed in time");
    assert_eq!(closed, Some(1001), "going away");
    let status =
        tokio::time::timeout(Duration::from_secs(10), server.wait()).await.expect("exited in time").expect("status");
    assert!(status.success(), "baton serve exited with {status}");
}
