//! WebSocket hygiene, over a real socket in both protocols: the `connection_init` timeout
//! (4408), duplicate ids (4409), the cap on subscriptions per socket, keep-alives, only
//! subscriptions over the socket, the token's expiry (4403), a user deactivated while
//! connected (4403), silent peers, shutdown (1001), malformed messages (4400), a second
//! `connection_init` (4429), messages over 64 KiB (1009), and a client that stops reading while 10,000 events are appended.

use std::time::{Duration, Instant};

use baton::config::{LiveConfig, WsConfig};
use entity::{Channel, LeadEventKind, Role, lead_event};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TEST_SECRET, TestApp, TestUser, jwt_config},
    ws::{PATIENCE, Protocol, Received, WsClient, head_cursor},
};

const BOTH: [Protocol; 2] = [Protocol::Current, Protocol::Legacy];
const LEAD_EVENTS: &str = "subscription($filter: LeadEventFilter) { leadEvents(filter: $filter) { id kind } }";

/// Baton whose sockets have these limits.
async fn app_with(ws: WsConfig) -> TestApp {
    TestApp::spawn_live(jwt_config(Some(TEST_SECRET), None, None), LiveConfig { ws, ..LiveConfig::default() }).await
}

/// The `error` message the server answers a `subscribe` with: its id and first error.
async fn operation_error(client: &mut WsClient) -> (String, Value) {
    match client.receive(PATIENCE).await {
        Some(Received::Other(message)) if message["type"] == "error" => {
            (message["id"].as_str().unwrap_or_default().to_owned(), message["payload"][0].clone())
        }
        other => panic!("expected an error message, got {other:?}"),
    }
}

/// The server acknowledges a client's `complete` with its own.
async fn expect_complete(client: &mut WsClient, id: &str) {
    match client.receive(PATIENCE).await {
        Some(Received::Other(message)) if message["type"] == "complete" => assert_eq!(message["id"], id),
        other => panic!("expected complete for {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_that_sends_no_connection_init_in_time_is_closed_with_4408() {
    let app = app_with(WsConfig { init_timeout: Duration::from_millis(300), ..WsConfig::default() }).await;
    for protocol in BOTH {
        let mut client = WsClient::connect(&app, protocol, None).await;
        let opened = Instant::now();
        assert_eq!(
            client.close_frame().await,
            Some((4408, "Connection initialisation timeout".to_owned())),
            "{protocol:?}"
        );
        assert!(opened.elapsed() >= Duration::from_millis(250), "{:?}", opened.elapsed());
    }
    // In time, the connection is acknowledged and stays open past the timeout.
    let rep = app.user(Role::SalesRep).await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    assert!(client.receive(Duration::from_millis(600)).await.is_none(), "closed after a timely connection_init");
}

#[tokio::test]
async fn a_subscribe_reusing_the_id_of_a_running_subscription_closes_the_socket_with_4409() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    for protocol in BOTH {
        let mut client = WsClient::signed_in(&app, protocol, &manager).await;
        client.subscribe("same", LEAD_EVENTS, json!({})).await;
        client.subscribe("same", LEAD_EVENTS, json!({})).await;
        assert_eq!(
            client.close_frame().await,
            Some((4409, "Subscriber for same already exists".to_owned())),
            "{protocol:?}"
        );
    }
    // An id may be used again once its subscription is complete.
    let mut client = WsClient::signed_in(&app, Protocol::Current, &manager).await;
    client.subscribe("again", LEAD_EVENTS, json!({})).await;
    client.send(json!({ "id": "again", "type": "complete" })).await;
    expect_complete(&mut client, "again").await;
    client.subscribe("again", LEAD_EVENTS, json!({})).await;
    let lead = app.create_lead(app.observer().await, "reused@example.com", json!({})).await;
    let data = client.next_data(PATIENCE).await;
    assert_eq!((client.last_id.as_deref(), &data["leadEvents"]["kind"]), (Some("again"), &json!("CREATED")), "{lead}");
}

#[tokio::test]
async fn a_subscription_beyond_the_cap_is_refused_with_an_error_and_the_others_keep_running() {
    let app = app_with(WsConfig { max_subscriptions: 2, ..WsConfig::default() }).await;
    let manager = app.user(Role::SalesManager).await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &manager).await;
    client.subscribe("a", LEAD_EVENTS, json!({})).await;
    client.subscribe("b", LEAD_EVENTS, json!({})).await;
    client.subscribe("c", LEAD_EVENTS, json!({})).await;
    let (id, error) = operation_error(&mut client).await;
    assert_eq!((id.as_str(), &error["extensions"]["code"]), ("c", &json!("RATE_LIMITED")), "{error}");
    // Completing one makes room for another.
    client.send(json!({ "id": "a", "type": "complete" })).await;
    expect_complete(&mut client, "a").await;
    client.subscribe("d", LEAD_EVENTS, json!({})).await;
    app.create_lead(app.observer().await, "capped@example.com", json!({})).await;
    let mut pushed_to = Vec::new();
    for _ in 0..2 {
        assert_eq!(client.next_data(PATIENCE).await["leadEvents"]["kind"], "CREATED");
        pushed_to.push(client.last_id.clone().unwrap_or_default());
    }
    pushed_to.sort();
    assert_eq!(pushed_to, ["b", "d"]);
    assert!(client.receive(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_query_or_mutation_sent_over_the_socket_gets_an_error_and_is_not_run() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let mutation = r#"mutation { createLead(input: { email: "sneaky@example.com", channel: WEBINAR }) { id } }"#;
    for protocol in BOTH {
        let mut client = WsClient::signed_in(&app, protocol, &admin).await;
        client.subscribe("m", mutation, json!({})).await;
        let (id, error) = operation_error(&mut client).await;
        assert_eq!((id.as_str(), &error["extensions"]["code"]), ("m", &json!("BAD_USER_INPUT")), "{error}");
        // A named operation is judged by the one chosen, not by the first of the document.
        let document = "query Me { me { id } } subscription Live { leadEvents { id } }";
        client
            .send(json!({ "id": "q", "type": client_start(protocol),
            "payload": { "query": document, "operationName": "Me" } }))
            .await;
        let (id, error) = operation_error(&mut client).await;
        assert_eq!((id.as_str(), &error["extensions"]["code"]), ("q", &json!("BAD_USER_INPUT")), "{error}");
        // The socket stays usable for subscriptions.
        client
            .send(json!({ "id": "s", "type": client_start(protocol),
            "payload": { "query": document, "operationName": "Live" } }))
            .await;
        let lead = app.create_lead(&admin, &format!("fine-{}@example.com", protocol.name()), json!({})).await;
        assert!(client.next_data(PATIENCE).await["leadEvents"]["id"].is_string(), "{lead}");
    }
    let data = app.data(&admin, "{ leads(first: 100) { edges { node { email } } } }", json!({})).await;
    let emails = crate::helpers::node_strings(&data["leads"], "email");
    assert!(!emails.iter().any(|email| email.starts_with("sneaky")), "the mutation ran: {emails:?}");
}

#[tokio::test]
async fn a_fragment_bomb_subscription_is_refused_as_too_complex_and_the_socket_stays_usable() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let mut bomb = String::from("subscription { leadEvents { lead { owner { ...F0 } } } }\n");
    for level in 0..30 {
        bomb.push_str(&format!("fragment F{level} on User {{ ...F{next} ...F{next} }}\n", next = level + 1));
    }
    bomb.push_str("fragment F30 on User { email }\n");
    for protocol in BOTH {
        let mut client = WsClient::signed_in(&app, protocol, &manager).await;
        let sent = Instant::now();
        client.subscribe("bomb", &bomb, json!({})).await;
        let (id, error) = operation_error(&mut client).await;
        assert_eq!((id.as_str(), &error["extensions"]["code"]), ("bomb", &json!("QUERY_TOO_COMPLEX")), "{error}");
        assert!(sent.elapsed() < Duration::from_secs(1), "refusing took {:?}", sent.elapsed());
        client.subscribe("fine", LEAD_EVENTS, json!({})).await;
        let lead = app
            .create_lead(app.observer().await, &format!("after-bomb-{}@example.com", protocol.name()), json!({}))
            .await;
        assert!(client.next_data(PATIENCE).await["leadEvents"]["id"].is_string(), "{lead}");
    }
}

fn client_start(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Current => "subscribe",
        Protocol::Legacy => "start",
    }
}

#[tokio::test]
async fn the_server_sends_keep_alives_at_its_interval() {
    let app = app_with(WsConfig { keep_alive: Duration::from_millis(200), ..WsConfig::default() }).await;
    let rep = app.user(Role::SalesRep).await;
    for (protocol, kind) in [(Protocol::Current, "ping"), (Protocol::Legacy, "ka")] {
        let mut client = WsClient::signed_in(&app, protocol, &rep).await;
        client.show_keep_alives = true;
        for _ in 0..2 {
            match client.receive(PATIENCE).await {
                Some(Received::Other(message)) => assert_eq!(message["type"], kind, "{message}"),
                other => panic!("{protocol:?}: expected a keep-alive, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_socket_is_closed_with_4403_when_its_token_expires() {
    let mut jwt = jwt_config(Some(TEST_SECRET), None, None);
    jwt.leeway_secs = 0;
    let app = TestApp::spawn_with(jwt).await;
    let rep = app.user(Role::SalesRep).await;
    for protocol in BOTH {
        let token = app.state.auth.issue(rep.id, Duration::from_secs(2)).expect("token");
        let short = TestUser { token, ..rep.clone() };
        let mut client = WsClient::signed_in(&app, protocol, &short).await;
        client.subscribe("1", LEAD_EVENTS, json!({})).await;
        let opened = Instant::now();
        let frame = client.close_frame().await;
        assert_eq!(frame.as_ref().map(|(code, _)| *code), Some(4403), "{protocol:?}: {frame:?}");
        assert!(opened.elapsed() >= Duration::from_millis(500), "closed too early: {:?}", opened.elapsed());
    }
}

#[tokio::test]
async fn a_socket_is_closed_with_4403_once_its_user_is_deactivated() {
    let app = app_with(WsConfig { keep_alive: Duration::from_millis(100), ..WsConfig::default() }).await;
    for protocol in BOTH {
        let rep = app.user(Role::SalesRep).await;
        let mut client = WsClient::signed_in(&app, protocol, &rep).await;
        client.subscribe("1", LEAD_EVENTS, json!({})).await;
        baton::service::user::set_active(&app.state.db, rep.id, false).await.expect("deactivate");
        let frame = client.close_frame().await;
        assert_eq!(frame, Some((4403, "Forbidden: the user was deactivated".to_owned())), "{protocol:?}");
    }
}

#[tokio::test]
async fn a_peer_that_answers_no_ping_is_dropped_and_one_that_reads_is_kept() {
    let keep_alive = Duration::from_millis(100);
    let app = app_with(WsConfig { keep_alive, ..WsConfig::default() }).await;
    let rep = app.user(Role::SalesRep).await;
    let mut silent = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    let mut live = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    live.show_keep_alives = true;
    // The live client reads (and so answers pings) while the silent one does not.
    let listening = Instant::now();
    while listening.elapsed() < keep_alive * 8 {
        match live.receive(PATIENCE).await {
            Some(Received::Other(message)) if message["type"] == "ping" => {}
            other => panic!("the reading client should only get keep-alives, got {other:?}"),
        }
    }
    // Once it reads, the silent client finds its connection dropped after the keep-alives it missed.
    loop {
        match silent.receive(PATIENCE).await {
            Some(Received::Closed(_)) => break,
            Some(_) => {}
            None => panic!("the silent peer was not dropped"),
        }
    }
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_going_away_so_clients_reconnect_elsewhere() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let mut clients = Vec::new();
    for protocol in BOTH {
        let mut client = WsClient::signed_in(&app, protocol, &manager).await;
        client.subscribe("1", LEAD_EVENTS, json!({})).await;
        clients.push(client);
    }
    app.state.shutdown.cancel();
    for mut client in clients {
        let frame = client.close_frame().await;
        assert_eq!(frame.map(|(code, _)| code), Some(1001));
    }
}

#[tokio::test]
async fn a_malformed_message_closes_with_4400_and_a_second_init_with_4429() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    for protocol in BOTH {
        let mut client = WsClient::signed_in(&app, protocol, &rep).await;
        client.send(json!({ "type": "subscribe", "payload": {} })).await;
        assert_eq!(client.close_code().await, Some(4400), "{protocol:?}: a subscribe without id");
        let mut client = WsClient::signed_in(&app, protocol, &rep).await;
        client.init(json!({ "authorization": format!("Bearer {}", rep.token) })).await;
        assert_eq!(client.close_code().await, Some(4429), "{protocol:?}");
    }
}

/// How many events the slow consumer misses while not reading.
const BACKLOG: usize = 10_000;
/// Each event's note, so the backlog (about 10 MB) is far more than the socket buffers hold.
const NOTE_BYTES: usize = 1000;

/// Appends `count` touchpoint events of `lead` in one transaction; returns their ids in order.
async fn append_events(app: &TestApp, lead: Uuid, count: usize) -> Vec<Uuid> {
    let txn = baton::db::begin_write(&app.state.db).await.expect("begin");
    let now = baton::domain::time::now();
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    for chunk in ids.chunks(1000) {
        let rows = chunk.iter().map(|id| lead_event::ActiveModel {
            id: Set(*id),
            lead_id: Set(lead),
            kind: Set(LeadEventKind::Touchpoint),
            from_stage: Set(None),
            to_stage: Set(None),
            from_stage_entered_at: Set(None),
            actor_id: Set(None),
            owner_id: Set(None),
            channel: Set(Channel::Webinar),
            campaign_id: Set(None),
            reason_code: Set(None),
            note: Set(Some("n".repeat(NOTE_BYTES))),
            amount: Set(None),
            currency_code: Set(None),
            detail: Set(None),
            occurred_at: Set(now),
            ..Default::default()
        });
        lead_event::Entity::insert_many(rows).exec_without_returning(&txn).await.expect("append events");
    }
    txn.commit().await.expect("commit");
    app.state.events.committed();
    ids
}

/// Outcome chosen: the slow socket is not closed and not buffered for. The server stops
/// writing when the socket's buffers are full (256 KiB of unsent data at most), the
/// subscriber falls behind the bounded channel, and once the client reads again it is
/// caught up from the log, page by page: every event, in order.
#[tokio::test]
async fn a_client_that_stops_reading_while_10000_events_are_appended_gets_them_all_in_order_once_it_reads_again() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let lead: Uuid = app.create_lead(app.observer().await, "busy@example.com", json!({})).await.parse().expect("uuid");
    let mut client = WsClient::signed_in(&app, Protocol::Current, &manager).await;
    let query =
        "subscription($after: String) { leadEvents(after: $after, filter: { kinds: [TOUCHPOINT] }) { id note } }";
    client.subscribe("slow", query, json!({ "after": head_cursor(&app).await })).await;
    // Live once a first event arrives.
    let sentinel = append_events(&app, lead, 1).await;
    assert_eq!(client.next_data(PATIENCE).await["leadEvents"]["id"], sentinel[0].to_string());

    // The client stops reading.
    let started = Instant::now();
    let ids = append_events(&app, lead, BACKLOG).await;
    let appended = started.elapsed();
    let last_position = lead_event_position(&app, *ids.last().expect("ids")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.state.events.head().position < last_position {
        assert!(Instant::now() < deadline, "the tailer did not publish the backlog");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Reading again: all of them, in order, none twice.
    let reading = Instant::now();
    for (n, id) in ids.iter().enumerate() {
        let data = client.next_data(PATIENCE).await;
        assert_eq!(data["leadEvents"]["id"], id.to_string(), "event {n} of {BACKLOG}");
    }
    let read = reading.elapsed();
    assert!(client.receive(Duration::from_millis(300)).await.is_none(), "more than the backlog");
    let catch_ups = app.state.events.catch_ups();
    eprintln!(
        "slow consumer: appended {BACKLOG} events in {appended:?}, read them in {read:?}, catch-ups from the log: {catch_ups}"
    );
    assert!(catch_ups >= 1, "the subscriber was buffered for instead of caught up from the log");
}

async fn lead_event_position(app: &TestApp, id: Uuid) -> i64 {
    use sea_orm::{ColumnTrait, QueryFilter};
    lead_event::Entity::find()
        .filter(lead_event::Column::Id.eq(id))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("event")
        .position
}

#[tokio::test]
async fn a_message_far_larger_than_a_read_is_taken_whole_and_one_over_64_kib_ends_the_socket() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    // 40 KiB of padding in an operation name the server ignores costs nothing to plan.
    let padding = "x".repeat(40 * 1024);
    let mut client = WsClient::signed_in(&app, Protocol::Current, &admin).await;
    client
        .send(json!({ "id": "big", "type": "subscribe", "payload": {
            "query": LEAD_EVENTS, "variables": { "filter": null }, "extensions": { "padding": padding } } }))
        .await;
    let lead = app.create_lead(&admin, "large-message@example.com", json!({})).await;
    assert!(client.next_data(PATIENCE).await["leadEvents"]["id"].is_string(), "{lead}");

    let too_big = "x".repeat(65 * 1024);
    client.send(json!({ "id": "huge", "type": "subscribe", "payload": { "query": too_big } })).await;
    assert_eq!(client.close_code().await, Some(1009));
}
