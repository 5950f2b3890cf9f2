//! Live lead events over WebSocket: SAL alerts, authorization per pushed event, replay
//! from a cursor without gap or duplicate, both protocols, refusals, and (on PostgreSQL)
//! commit order and several instances on one database.

use std::time::{Duration, Instant};

use entity::{Role, Stage};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, TestUser},
    ws::{PATIENCE, Protocol, Received, WsClient},
};

const SAL_CREATED: &str = "subscription($after: String) {
    salCreated(after: $after) { id cursor kind fromStage toStage owner { id } lead { id email stage } }
}";
const LEAD_EVENTS: &str = "subscription($after: String, $filter: LeadEventFilter) {
    leadEvents(after: $after, filter: $filter) { id cursor kind toStage owner { id } lead { id } }
}";

/// A push must arrive within this of the mutation that caused it, where a test does not
/// measure latency: generous for a loaded machine; alone, pushes take milliseconds.
const PUSH_DEADLINE: Duration = Duration::from_secs(5);
/// The speed-to-lead promise.
const PROMISED_LATENCY: Duration = Duration::from_secs(1);
/// How long a test listens for an event that must not come, where nothing later can prove it.
const QUIET: Duration = Duration::from_millis(300);

/// An MQL, ready to be accepted.
async fn mql(app: &TestApp, email: &str) -> String {
    app.lead_in_stage(email, Stage::Mql, None).await
}

/// Accepts `lead` for `rep` as an admin.
async fn accept_for(app: &TestApp, lead: &str, rep: &TestUser) {
    let admin = app.observer().await;
    app.moved(admin, "acceptLead", json!({ "leadId": lead, "ownerId": rep.id.to_string() })).await;
}

/// Subscribes to `salCreated` and waits until the subscription is live: a subscription
/// without `after` starts at the head of the log, so the test makes sure it is registered
/// by accepting a sentinel SAL and waiting for it.
async fn sal_subscriber(app: &TestApp, protocol: Protocol, user: &TestUser, rep: &TestUser) -> WsClient {
    let mut client = WsClient::signed_in(app, protocol, user).await;
    client.subscribe("sals", SAL_CREATED, json!({})).await;
    let sentinel = mql(app, &format!("sentinel-{}@example.com", uuid::Uuid::now_v7().simple())).await;
    // The subscription registers asynchronously; once the sentinel arrives it is live.
    accept_for(app, &sentinel, rep).await;
    let data = client.next_data(PATIENCE).await;
    assert_eq!(data["salCreated"]["lead"]["id"], sentinel.as_str(), "{data}");
    client
}

#[tokio::test]
async fn a_rep_receives_their_new_sal_within_a_second_of_its_acceptance() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let lead = mql(&app, "ada@example.com").await;
    // From the lead's creation on, so the test does not race the subscription's start.
    let mut client = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    client.subscribe("1", SAL_CREATED, json!({ "after": first_cursor(&app).await })).await;
    let asked = Instant::now();
    accept_for(&app, &lead, &rep).await;
    let data = client.next_data(PUSH_DEADLINE).await;
    let latency = asked.elapsed();
    eprintln!("salCreated push latency (mutation start to push): {latency:?}");
    assert!(latency < PROMISED_LATENCY, "{latency:?}");
    let event = &data["salCreated"];
    assert_eq!(event["lead"]["id"], lead.as_str());
    assert_eq!(
        (&event["kind"], &event["fromStage"], &event["toStage"]),
        (&json!("STAGE_CHANGED"), &json!("MQL"), &json!("SAL"))
    );
    assert_eq!(event["owner"]["id"], rep.id.to_string());
    assert_eq!(event["lead"]["stage"], "SAL");
    assert!(event["cursor"].is_string());
}

/// A cursor before every event of the log: that of its first event, which is a creation.
async fn first_cursor(app: &TestApp) -> Value {
    let query = "{ leadEvents(first: 1, order: OLDEST_FIRST) { edges { cursor node { kind } } } }";
    let data = app.data(app.observer().await, query, json!({})).await;
    let edge = &data["leadEvents"]["edges"][0];
    assert_eq!(edge["node"]["kind"], "CREATED", "{data}");
    edge["cursor"].clone()
}

#[tokio::test]
async fn a_rep_does_not_receive_another_reps_sal_but_a_manager_receives_both() {
    let app = TestApp::spawn().await;
    let (ada_rep, bob_rep) = (app.user(Role::SalesRep).await, app.user(Role::SalesRep).await);
    let manager = app.user(Role::SalesManager).await;
    let mut bob = sal_subscriber(&app, Protocol::Current, &bob_rep, &bob_rep).await;
    let mut boss = sal_subscriber(&app, Protocol::Current, &manager, &ada_rep).await;
    let adas = mql(&app, "ada@example.com").await;
    let bobs = mql(&app, "bob@example.com").await;
    accept_for(&app, &adas, &ada_rep).await;
    accept_for(&app, &bobs, &bob_rep).await;
    // Bob's first push is his own SAL: Ada's, earlier in the log, was not sent to him.
    assert_eq!(bob.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], bobs.as_str());
    assert_eq!(boss.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], adas.as_str());
    assert_eq!(boss.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], bobs.as_str());
    assert!(bob.receive(QUIET).await.is_none(), "bob received more");
}

#[tokio::test]
async fn a_client_reconnecting_with_its_last_cursor_gets_exactly_the_sals_it_missed_then_live_ones() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let mut client = sal_subscriber(&app, Protocol::Current, &rep, &rep).await;
    let first = mql(&app, "first@example.com").await;
    accept_for(&app, &first, &rep).await;
    let last_seen = client.next_data(PUSH_DEADLINE).await["salCreated"].clone();
    assert_eq!(last_seen["lead"]["id"], first.as_str());
    client.close().await;

    let mut missed = Vec::new();
    for n in 0..5 {
        let lead = mql(&app, &format!("missed-{n}@example.com")).await;
        accept_for(&app, &lead, &rep).await;
        missed.push(lead);
    }
    let mut client = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    client.subscribe("again", SAL_CREATED, json!({ "after": last_seen["cursor"] })).await;
    let mut cursors = vec![last_seen["cursor"].as_str().unwrap_or_default().to_owned()];
    for lead in &missed {
        let event = client.next_data(PATIENCE).await["salCreated"].clone();
        assert_eq!(event["lead"]["id"], lead.as_str(), "replayed out of order or with a gap");
        cursors.push(event["cursor"].as_str().unwrap_or_default().to_owned());
    }
    let live = mql(&app, "live@example.com").await;
    accept_for(&app, &live, &rep).await;
    let event = client.next_data(PUSH_DEADLINE).await["salCreated"].clone();
    assert_eq!(event["lead"]["id"], live.as_str(), "a duplicate at the seam, or the live SAL missing");
    cursors.push(event["cursor"].as_str().unwrap_or_default().to_owned());
    assert!(client.receive(QUIET).await.is_none(), "more than the missed and the live SALs");
    let mut distinct = cursors.clone();
    distinct.dedup();
    assert_eq!(distinct, cursors);
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_delivers_sals_too() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let mut client = sal_subscriber(&app, Protocol::Legacy, &rep, &rep).await;
    let lead = mql(&app, "ada@example.com").await;
    accept_for(&app, &lead, &rep).await;
    assert_eq!(client.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], lead.as_str());
}

#[tokio::test]
async fn a_token_in_the_upgrade_request_header_is_accepted() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let lead = mql(&app, "ada@example.com").await;
    let mut client = WsClient::connect(&app, Protocol::Current, Some(&manager.token)).await;
    client.init(json!(null)).await;
    client.expect_ack().await;
    client.subscribe("1", SAL_CREATED, json!({ "after": first_cursor(&app).await })).await;
    accept_for(&app, &lead, &rep).await;
    assert_eq!(client.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], lead.as_str());
}

#[tokio::test]
async fn a_missing_or_bad_token_closes_the_socket_with_4403_in_both_protocols() {
    let app = TestApp::spawn().await;
    for protocol in [Protocol::Current, Protocol::Legacy] {
        for payload in
            [json!({}), json!({ "authorization": "Bearer not-a-jwt" }), json!({ "authorization": "Basic abc" })]
        {
            let mut client = WsClient::connect(&app, protocol, None).await;
            client.init(payload.clone()).await;
            if protocol == Protocol::Legacy {
                match client.receive(PATIENCE).await {
                    Some(Received::Other(message)) => assert_eq!(message["type"], "connection_error", "{message}"),
                    other => panic!("{payload}: expected connection_error, got {other:?}"),
                }
            }
            assert_eq!(client.close_code().await, Some(4403), "{protocol:?} {payload}");
        }
    }
}

#[tokio::test]
async fn subscribing_before_connection_init_closes_the_socket_with_4401() {
    let app = TestApp::spawn().await;
    let mut client = WsClient::connect(&app, Protocol::Current, None).await;
    client.subscribe("1", SAL_CREATED, json!({})).await;
    assert_eq!(client.close_code().await, Some(4401));
}

#[tokio::test]
async fn a_bad_cursor_is_refused_as_bad_user_input() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    client.subscribe("1", SAL_CREATED, json!({ "after": "nonsense" })).await;
    let error = match client.receive(PATIENCE).await {
        Some(Received::Other(message)) if message["type"] == "error" => message["payload"][0].clone(),
        Some(Received::Next(payload)) => payload["errors"][0].clone(),
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
}

#[tokio::test]
async fn a_rep_stops_receiving_a_leads_events_once_it_is_reassigned_away_from_them() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.user(Role::SalesRep).await, app.user(Role::SalesRep).await);
    let manager = app.user(Role::SalesManager).await;
    let lead = mql(&app, "moved@example.com").await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &ada).await;
    client.subscribe("1", LEAD_EVENTS, json!({ "after": first_cursor(&app).await })).await;
    // The queue's MQL is Ada's to see: its qualification is replayed.
    let qualified = client.next_data(PATIENCE).await["leadEvents"].clone();
    assert_eq!((&qualified["kind"], &qualified["toStage"]), (&json!("STAGE_CHANGED"), &json!("MQL")));
    accept_for(&app, &lead, &ada).await;
    assert_eq!(client.next_data(PUSH_DEADLINE).await["leadEvents"]["toStage"], "SAL");
    let input = json!({ "leadId": lead, "ownerId": bob.id.to_string() });
    let data = app
        .data(
            &manager,
            "mutation($input: AssignLeadInput!) { assignLead(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert_eq!(data["assignLead"]["id"], lead.as_str());
    let next = mql(&app, "next@example.com").await;
    // Ada's next event is the next MQL in the queue: the reassignment was not pushed to her.
    let event = client.next_data(PUSH_DEADLINE).await["leadEvents"].clone();
    assert_eq!((&event["lead"]["id"], &event["toStage"]), (&json!(next), &json!("MQL")), "{event}");
}

#[tokio::test]
async fn lead_events_can_be_filtered() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &marketer).await;
    let first = app.create_lead(&marketer, "first@example.com", json!({})).await;
    let filter = json!({ "kinds": ["STAGE_CHANGED"], "toStages": ["MQL"] });
    client.subscribe("1", LEAD_EVENTS, json!({ "after": first_cursor(&app).await, "filter": filter })).await;
    app.moved(&marketer, "qualifyLead", json!({ "leadId": first })).await;
    let event = client.next_data(PUSH_DEADLINE).await["leadEvents"].clone();
    assert_eq!((&event["lead"]["id"], &event["toStage"]), (&json!(first), &json!("MQL")), "{event}");
    assert!(client.receive(QUIET).await.is_none());
}

/// Inserts, in `txn`, the event of `lead` becoming `rep`'s SAL, without touching the lead:
/// a writer whose transaction is still open.
async fn append_sal_event(txn: &sea_orm::DatabaseTransaction, lead: &str, rep: &TestUser) -> i64 {
    use entity::{Channel, LeadEventKind, lead_event};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let event = lead_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        lead_id: Set(lead.parse().expect("uuid")),
        kind: Set(LeadEventKind::StageChanged),
        from_stage: Set(Some(Stage::Mql)),
        to_stage: Set(Some(Stage::Sal)),
        from_stage_entered_at: Set(None),
        actor_id: Set(None),
        owner_id: Set(Some(rep.id)),
        channel: Set(Channel::Webinar),
        campaign_id: Set(None),
        reason_code: Set(None),
        note: Set(None),
        amount: Set(None),
        currency_code: Set(None),
        detail: Set(None),
        occurred_at: Set(baton::domain::time::now()),
        ..Default::default()
    };
    event.insert(txn).await.expect("append event").position
}

#[tokio::test]
async fn on_postgresql_an_event_whose_transaction_commits_late_is_delivered_in_order_not_skipped() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    if !app.on_postgres() {
        return;
    }
    let (manager, rep) = (app.user(Role::SalesManager).await, app.user(Role::SalesRep).await);
    let early = mql(&app, "early@example.com").await;
    let late = mql(&app, "late@example.com").await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &manager).await;
    client.subscribe("1", SAL_CREATED, json!({ "after": first_cursor(&app).await })).await;

    // The early event takes its position first, but its transaction stays open while a
    // later event commits.
    let txn = app.state.db.begin().await.expect("begin");
    let early_position = append_sal_event(&txn, &early, &rep).await;
    accept_for(&app, &late, &rep).await;
    assert!(client.receive(QUIET).await.is_none(), "the tailer passed an open transaction's event");
    assert!(app.state.events.head().position < early_position, "the tailer advanced past the open transaction");

    txn.commit().await.expect("commit");
    let first = client.next_data(PUSH_DEADLINE).await["salCreated"].clone();
    let second = client.next_data(PUSH_DEADLINE).await["salCreated"].clone();
    assert_eq!(first["lead"]["id"], early.as_str(), "{first}");
    assert_eq!(second["lead"]["id"], late.as_str(), "{second}");

    // Both cursors resume where they should: after the early one comes the late one.
    let mut again = WsClient::signed_in(&app, Protocol::Current, &manager).await;
    again.subscribe("1", SAL_CREATED, json!({ "after": first["cursor"] })).await;
    assert_eq!(again.next_data(PATIENCE).await["salCreated"]["lead"]["id"], late.as_str());
    assert!(again.receive(QUIET).await.is_none());
}

/// Ids of the events of one `leadEvents` page after `after`, oldest first, and the last cursor.
async fn log_page(app: &TestApp, after: &Value) -> (Vec<String>, Value) {
    let query = "query($after: String) { leadEvents(first: 100, after: $after, order: OLDEST_FIRST) {
        edges { cursor node { lead { id } } } } }";
    let data = app.data(app.observer().await, query, json!({ "after": after })).await;
    let edges = data["leadEvents"]["edges"].as_array().cloned().unwrap_or_default();
    let leads = edges.iter().map(|edge| edge["node"]["lead"]["id"].as_str().unwrap_or_default().to_owned()).collect();
    let last = edges.last().map_or_else(|| after.clone(), |edge| edge["cursor"].clone());
    (leads, last)
}

#[tokio::test]
async fn on_postgresql_paging_the_log_never_passes_an_event_whose_transaction_commits_late() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    if !app.on_postgres() {
        return;
    }
    let rep = app.user(Role::SalesRep).await;
    let early = mql(&app, "early@example.com").await;
    let late = mql(&app, "late@example.com").await;
    let (_, mut cursor) = log_page(&app, &first_cursor(&app).await).await;

    let txn = app.state.db.begin().await.expect("begin");
    append_sal_event(&txn, &early, &rep).await;
    accept_for(&app, &late, &rep).await;
    // While the early transaction is open, the page ends before it: nothing after it shows.
    let (seen, after_open) = log_page(&app, &cursor).await;
    assert!(seen.is_empty(), "the page passed an open transaction: {seen:?}");
    cursor = after_open;

    txn.commit().await.expect("commit");
    let (seen, _) = log_page(&app, &cursor).await;
    assert_eq!(seen, [early, late], "paging from the last cursor must give both, in commit order");
}

#[tokio::test]
async fn on_postgresql_a_long_transaction_in_another_database_does_not_hold_pushes_back() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn().await;
    if !app.on_postgres() {
        return;
    }
    let rep = app.user(Role::SalesRep).await;
    let lead = mql(&app, "prompt@example.com").await;
    let mut client = WsClient::signed_in(&app, Protocol::Current, &rep).await;
    client.subscribe("1", SAL_CREATED, json!({ "after": first_cursor(&app).await })).await;
    // The suite's own database is another database on the same server than the app's: a
    // transaction there takes an id and stays open while the SAL is accepted.
    let url = std::env::var("BATON_TEST_DATABASE_URL").expect("PostgreSQL URL");
    let elsewhere = sea_orm::Database::connect(url).await.expect("connect");
    let txn = elsewhere.begin().await.expect("begin");
    txn.execute_unprepared("SELECT pg_current_xact_id()").await.expect("take an id");

    let asked = Instant::now();
    accept_for(&app, &lead, &rep).await;
    let data = client.next_data(PUSH_DEADLINE).await;
    let latency = asked.elapsed();
    txn.rollback().await.expect("rollback");
    assert_eq!(data["salCreated"]["lead"]["id"], lead.as_str());
    assert!(latency < PROMISED_LATENCY, "another database's open transaction held the push back for {latency:?}");
}

#[tokio::test]
async fn on_postgresql_a_rep_on_one_instance_receives_sals_accepted_through_another_even_when_its_listener_dies() {
    use sea_orm::ConnectionTrait;
    let a = TestApp::spawn().await;
    if !a.on_postgres() {
        return;
    }
    let b = a.second_instance().await;
    let rep = a.user(Role::SalesRep).await;
    let first = mql(&a, "first@example.com").await;
    let mut client = WsClient::signed_in(&b, Protocol::Current, &rep).await;
    client.subscribe("1", SAL_CREATED, json!({ "after": first_cursor(&a).await })).await;

    let asked = Instant::now();
    accept_for(&a, &first, &rep).await;
    assert_eq!(client.next_data(PUSH_DEADLINE).await["salCreated"]["lead"]["id"], first.as_str());
    eprintln!("cross-instance push latency (mutation start on A to push from B): {:?}", asked.elapsed());

    // Kill every LISTEN connection on the database (both instances' listeners).
    let killed = a
        .state
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
        ))
        .await
        .expect("terminate listeners");
    assert!(!killed.is_empty(), "no listener connection found");

    let mut accepted = Vec::new();
    for n in 0..3 {
        let lead = mql(&a, &format!("after-kill-{n}@example.com")).await;
        accept_for(&a, &lead, &rep).await;
        accepted.push(lead);
    }
    for lead in &accepted {
        assert_eq!(client.next_data(PATIENCE).await["salCreated"]["lead"]["id"], lead.as_str());
    }
    assert!(client.receive(QUIET).await.is_none());
}

/// Sets the SAL stage's SLA, as an admin would.
async fn set_sal_sla(app: &TestApp, minutes: i32) {
    use entity::stage;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
    let row = stage::Entity::find_by_id(Stage::Sal).one(&app.state.db).await.expect("query").expect("SAL stage");
    let mut row = row.into_active_model();
    row.sla_minutes = Set(Some(minutes));
    row.update(&app.state.db).await.expect("update stage");
}

/// The `SLA_BREACHED` events in the log, as (lead id, owner id).
async fn breaches(app: &TestApp) -> Vec<(uuid::Uuid, Option<uuid::Uuid>)> {
    use entity::{LeadEventKind, lead_event};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    lead_event::Entity::find()
        .filter(lead_event::Column::Kind.eq(LeadEventKind::SlaBreached))
        .order_by_asc(lead_event::Column::Position)
        .all(&app.state.db)
        .await
        .expect("query")
        .into_iter()
        .map(|event| (event.lead_id, event.owner_id))
        .collect()
}

const BREACHES: &str = "subscription {
    leadEvents(filter: { kinds: [SLA_BREACHED] }) { kind fromStage toStage actor { id } owner { id } lead { id } }
}";

#[tokio::test]
async fn a_sal_left_uncontacted_past_its_sla_gets_one_breach_pushed_to_its_owner_and_managers_only() {
    use baton::config::LiveConfig;
    let live = LiveConfig { sla_sweep_interval: Duration::from_millis(100), ..LiveConfig::default() };
    let app =
        TestApp::spawn_live(crate::helpers::jwt_config(Some(crate::helpers::TEST_SECRET), None, None), live).await;
    let (rep, other_rep) = (app.user(Role::SalesRep).await, app.user(Role::SalesRep).await);
    let manager = app.user(Role::SalesManager).await;
    let forgotten = app.lead_in_stage("forgotten@example.com", Stage::Sal, Some(&rep)).await;
    let called = app.lead_in_stage("called@example.com", Stage::Sal, Some(&rep)).await;
    app.moved(&rep, "recordTouchpoint", json!({ "leadId": called, "kind": "CALL" })).await;
    let mut clients = Vec::new();
    for user in [&rep, &manager, &other_rep] {
        let mut client = WsClient::signed_in(&app, Protocol::Current, user).await;
        client.subscribe("sla", BREACHES, json!({})).await;
        clients.push(client);
    }
    // Let the subscriptions register before anything can breach.
    tokio::time::sleep(QUIET).await;
    set_sal_sla(&app, 0).await;

    for client in &mut clients[..2] {
        let event = client.next_data(PATIENCE).await["leadEvents"].clone();
        assert_eq!(
            event,
            json!({ "kind": "SLA_BREACHED", "fromStage": "SAL", "toStage": null, "actor": null,
                    "owner": { "id": rep.id.to_string() }, "lead": { "id": forgotten } })
        );
    }
    // Several sweeps later there is still one breach, and none for the contacted SAL.
    for client in &mut clients {
        assert!(client.receive(Duration::from_millis(500)).await.is_none(), "a second breach, or one for another rep");
    }
    assert_eq!(breaches(&app).await, [(forgotten.parse().expect("uuid"), Some(rep.id))]);
}

#[tokio::test]
async fn sweeps_racing_on_several_instances_record_each_breach_once() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let mut leads = Vec::new();
    for n in 0..5 {
        leads.push(app.lead_in_stage(&format!("late-{n}@example.com"), Stage::Sal, Some(&rep)).await);
    }
    set_sal_sla(&app, 0).await;
    // Two instances' sweeps at once (each its own connection and transaction), twice over.
    let other = if app.on_postgres() { Some(app.second_instance().await) } else { None };
    let other_writer = other.as_ref().map_or_else(|| app.state.writer.clone(), |other| other.state.writer.clone());
    let now = baton::domain::time::now();
    let mut appended = 0;
    for _ in 0..2 {
        let (a, b) = tokio::join!(
            baton::service::sla::sweep(&app.state.writer, now),
            baton::service::sla::sweep(&other_writer, now)
        );
        appended += a.expect("sweep") + b.expect("sweep");
    }
    let recorded = breaches(&app).await;
    assert!(appended <= 5, "{appended} appended");
    assert_eq!(recorded.len(), 5, "{recorded:?}");
    let mut breached: Vec<String> = recorded.iter().map(|(lead, _)| lead.to_string()).collect();
    breached.sort();
    leads.sort();
    assert_eq!(breached, leads);
}
