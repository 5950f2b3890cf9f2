//! Database faults: a database that hangs, connections killed under load, and a database
//! that stops taking connections. Requests fail fast with typed errors, no move is half
//! applied, and the server recovers on its own. (SQLite has no server to fail: all but the
//! first test need PostgreSQL and skip on SQLite.)

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use baton::{config::LimitsConfig, startup::ServerOptions};
use entity::Role;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, test_limits};

const LEADS: usize = 40;

/// Ends every connection to the app's database except `admin`'s own; returns how many.
async fn kill_connections(admin: &DatabaseConnection) -> usize {
    let killed = admin
        .query_all_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await;
    killed.map(|rows| rows.len()).unwrap_or_default()
}

/// Asserts an error a client may see while the database fails: typed, and without SQL.
fn assert_typed_without_sql(error: &Value) {
    let code = error["extensions"]["code"].as_str().unwrap_or_default();
    assert!(["INTERNAL", "CONFLICT", "INVALID_TRANSITION"].contains(&code), "untyped or unexpected: {error}");
    let message = error["message"].as_str().unwrap_or_default().to_lowercase();
    for needle in ["select", "insert", "update ", "sqlx", "postgres", "terminat", "connection", "pool"] {
        assert!(!message.contains(needle), "{needle:?} leaked in {error}");
    }
}

async fn wait_until_ready(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        let ready = app.client.get(app.url("/readyz")).send().await.map(|r| r.status().as_u16());
        if ready.ok() == Some(200) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz not ready within {within:?}");
}

fn qualify(lead: &str) -> Value {
    json!({ "leadId": lead, "idempotencyKey": format!("qualify-{lead}") })
}

fn accept(lead: &str, owner: &TestUser) -> Value {
    json!({ "leadId": lead, "ownerId": owner.id.to_string(), "idempotencyKey": format!("accept-{lead}") })
}

#[tokio::test]
async fn a_hanging_database_fails_requests_fast_with_a_typed_error() {
    let limits = LimitsConfig { execution_timeout: Duration::from_secs(1), ..test_limits() };
    let app = TestApp::spawn_serving(ServerOptions { graphiql: true, introspection: true }, limits).await;
    let marketer = app.user(Role::Marketing).await;
    let create = "mutation($name: String!) { createAccount(input: { name: $name }) { id } }";
    // Another client holds the account table: writes to it wait (SQLite for its 5 s busy
    // timeout, PostgreSQL until the lock is released).
    let blocker = sea_orm::Database::connect(app.database_url()).await.expect("connect");
    let held = blocker.begin().await.expect("begin");
    let lock = if app.on_postgres() {
        "LOCK TABLE account IN ACCESS EXCLUSIVE MODE"
    } else {
        "DELETE FROM account WHERE name = 'no such account'"
    };
    held.execute_unprepared(lock).await.expect("lock");

    let started = Instant::now();
    let (status, body) = app.post(&marketer.token, create, json!({ "name": "Waits" })).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "TIMEOUT", "{body}");
    assert!(took < Duration::from_secs(3), "the request hung for {took:?}");
    eprintln!("hanging database: typed error after {took:?}");
    // Reads still work meanwhile, and writes again once the lock is gone.
    app.data(&marketer, "{ me { email } }", json!({})).await;
    held.rollback().await.expect("release");
    let data = app.data(&marketer, create, json!({ "name": "Goes through" })).await;
    assert!(data["createAccount"]["id"].is_string(), "{data}");
}

#[tokio::test]
async fn killed_connections_during_moves_leave_every_move_whole() {
    let Some(app) = TestApp::spawn_on_postgres().await.map(Arc::new) else { return };
    let admin = app.user(Role::Admin).await;
    let reps = [app.user(Role::SalesRep).await, app.user(Role::SalesRep).await, app.user(Role::SalesRep).await];
    let mut leads = Vec::new();
    for i in 0..LEADS {
        leads.push(app.create_lead(&admin, &format!("fault-{i}@example.com"), json!({})).await);
    }
    let killer = sea_orm::Database::connect(app.database_url()).await.expect("admin connection");

    // Moves spread over two seconds while every server connection is killed every 100 ms.
    let moves: Vec<_> = leads
        .iter()
        .enumerate()
        .map(|(i, lead)| {
            let (app, admin, owner, lead) =
                (Arc::clone(&app), admin.clone(), reps[i % reps.len()].clone(), lead.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50 * i as u64)).await;
                let qualified = app.act(&admin, "qualifyLead", qualify(&lead)).await;
                let accepted = app.act(&admin, "acceptLead", accept(&lead, &owner)).await;
                (qualified, accepted)
            })
        })
        .collect();
    let mut kills = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        kills += kill_connections(&killer).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut outcomes = Vec::new();
    for task in moves {
        outcomes.push(task.await.expect("move task"));
    }
    assert!(kills > 0, "no server connection was killed");
    let failed: Vec<&Value> = outcomes.iter().flat_map(|(q, a)| [q, a]).filter_map(|r| r.as_ref().err()).collect();
    failed.iter().for_each(|error| assert_typed_without_sql(error));
    eprintln!("{kills} connections killed; {} of {} moves refused during the faults", failed.len(), 2 * LEADS);

    let recovered = wait_until_ready(&app, Duration::from_secs(10)).await;
    eprintln!("ready again {recovered:?} after the last kill");

    // Retries with the same keys finish every move exactly once.
    for (i, lead) in leads.iter().enumerate() {
        let owner = &reps[i % reps.len()];
        let qualified = app.moved(&admin, "qualifyLead", qualify(lead)).await;
        let accepted = app.moved(&admin, "acceptLead", accept(lead, owner)).await;
        // An acknowledged move is replayed exactly as first answered.
        let (first_qualify, first_accept) = &outcomes[i];
        if let Ok(first) = first_qualify {
            assert_eq!(first, &qualified, "{lead}: the retry replays the acknowledged qualify");
        }
        if let Ok(first) = first_accept {
            assert_eq!(first, &accepted, "{lead}: the retry replays the acknowledged accept");
        }
        assert_eq!(accepted["stage"], "SAL");
        assert_eq!(accepted["owner"]["id"], owner.id.to_string());
    }
    for lead in &leads {
        let snapshot = app.snapshot(lead).await;
        let events: Vec<&Value> = snapshot["events"]["edges"].as_array().expect("events").iter().collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["node"]["kind"].as_str().unwrap_or_default()).collect();
        assert_eq!(kinds, ["CREATED", "STAGE_CHANGED", "STAGE_CHANGED"], "{lead}: exactly one event per move");
        assert_eq!(snapshot["stage"], "SAL", "{lead}");
        assert_eq!(snapshot["version"], 3, "{lead}: the version counts the lead's changes");
    }
    let history = app.history(&leads[0]).await;
    assert_eq!(history[1]["toStage"], "MQL");
    assert_eq!(history[2]["toStage"], "SAL");
}

#[tokio::test]
async fn a_database_that_refuses_connections_fails_requests_fast_and_readyz_recovers() {
    let Some(app) = TestApp::spawn_on_postgres().await else { return };
    let viewer = app.user(Role::Viewer).await;
    let name = app.database_url().rsplit('/').next().unwrap_or_default().to_owned();
    let server_url = std::env::var("BATON_TEST_DATABASE_URL").expect("PostgreSQL URL");
    let admin = sea_orm::Database::connect(&server_url).await.expect("admin connection");
    let allow = |allowed: bool| format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allowed}");

    admin.execute_unprepared(&allow(false)).await.expect("close the database");
    let database = sea_orm::Database::connect(app.database_url()).await;
    assert!(database.is_err(), "the database still takes connections");
    let killer = sea_orm::Database::connect(&server_url).await.expect("admin connection");
    killer
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("kill");

    let started = Instant::now();
    let ready = app.client.get(app.url("/readyz")).send().await.expect("readyz");
    let readyz_took = started.elapsed();
    assert_eq!(ready.status().as_u16(), 503);
    assert!(readyz_took < Duration::from_secs(4), "readyz took {readyz_took:?}");

    let started = Instant::now();
    let (status, body) = app.post(&viewer.token, "{ me { email } }", json!({})).await;
    let request_took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_typed_without_sql(&body["errors"][0]);
    assert!(request_took < Duration::from_secs(7), "the request hung for {request_took:?}");
    eprintln!("database gone: /readyz 503 in {readyz_took:?}, a request failed in {request_took:?}");

    admin.execute_unprepared(&allow(true)).await.expect("reopen the database");
    let recovered = wait_until_ready(&app, Duration::from_secs(10)).await;
    eprintln!("database back: ready again in {recovered:?}");
    let data = app.data(&viewer, "{ me { email } }", json!({})).await;
    assert_eq!(data["me"]["email"], viewer.email.as_str());
}

#[tokio::test]
async fn every_postgres_connection_carries_the_statement_timeout_and_no_jit() {
    let Some(app) = TestApp::spawn_on_postgres().await else { return };
    // The test apps run with a 10 s statement timeout (BATON_DATABASE_STATEMENT_TIMEOUT).
    for (setting, expected) in [("statement_timeout", "10s"), ("jit", "off")] {
        let shown = app
            .state
            .db
            .query_one_raw(Statement::from_string(sea_orm::DatabaseBackend::Postgres, format!("SHOW {setting}")))
            .await
            .expect("show")
            .expect("row");
        assert_eq!(shown.try_get::<String>("", setting).expect("value"), expected, "{setting}");
    }
}

#[tokio::test]
async fn connections_killed_between_reads_are_replaced_within_a_second() {
    let Some(app) = TestApp::spawn_on_postgres().await.map(Arc::new) else { return };
    let admin = app.user(Role::Admin).await;
    let lead = app.create_lead(&admin, "pooled@example.com", json!({})).await;
    let read = "query($id: ID!) { lead(id: $id) { email account { name } owner { email } } }";
    // Concurrent reads open several pooled connections, all of which are then killed.
    let warm: Vec<_> = (0..16)
        .map(|_| {
            let (app, admin, lead) = (Arc::clone(&app), admin.clone(), lead.clone());
            tokio::spawn(async move { app.data(&admin, read, json!({ "id": lead })).await })
        })
        .collect();
    for task in warm {
        task.await.expect("warm-up read");
    }
    let killer = sea_orm::Database::connect(app.database_url()).await.expect("admin connection");
    let killed = kill_connections(&killer).await;
    assert!(killed > 1, "only {killed} connection(s) to kill");

    // A pool that never tested a connection it took back would hand the dead ones out
    // again and again; each must be found and replaced, the reads soon succeeding in a row.
    let started = Instant::now();
    let (mut failed, mut in_a_row) = (0, 0);
    while in_a_row < 100 {
        assert!(started.elapsed() < Duration::from_secs(1), "{failed} reads failed; not recovered within 1 s");
        let (status, body) = app.post(&admin.token, read, json!({ "id": lead })).await;
        if status == 200 && body.get("errors").is_none() {
            in_a_row += 1;
        } else {
            assert_typed_without_sql(&body["errors"][0]);
            failed += 1;
            in_a_row = 0;
        }
    }
    eprintln!("{killed} connections killed: {failed} reads failed, recovered in {:?}", started.elapsed());
}
