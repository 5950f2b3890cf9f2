//! Moves racing each other on a real database and a multi-threaded runtime: exactly one
//! wins, the others are told why, and the log holds exactly the winners' events.

use std::{collections::HashMap, sync::Arc, time::Duration};

use baton::config::HandoffConfig;
use entity::{Role, Stage};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

/// The error codes of the failed results, counted.
fn refusals(results: &[Result<Value, Value>]) -> HashMap<String, usize> {
    let mut codes = HashMap::new();
    for error in results.iter().filter_map(|result| result.as_ref().err()) {
        let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {error}"));
        *codes.entry(code.to_owned()).or_default() += 1;
    }
    codes
}

fn winners(results: &[Result<Value, Value>]) -> Vec<&Value> {
    results.iter().filter_map(|result| result.as_ref().ok()).collect()
}

/// Events of a lead as (kind, toStage).
async fn log(app: &TestApp, lead_id: &str) -> Vec<(String, Option<String>)> {
    app.history(lead_id)
        .await
        .iter()
        .map(|event| {
            (event["kind"].as_str().unwrap_or_default().to_owned(), event["toStage"].as_str().map(str::to_owned))
        })
        .collect()
}

fn created_and(rest: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    [("CREATED", Some("LEAD"))]
        .iter()
        .chain(rest)
        .map(|(kind, to)| ((*kind).to_owned(), to.map(str::to_owned)))
        .collect()
}

async fn users(app: &TestApp, role: Role, count: usize) -> Vec<TestUser> {
    let mut users = Vec::with_capacity(count);
    for _ in 0..count {
        users.push(app.user(role).await);
    }
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_reps_accepting_one_mql_at_once_make_exactly_one_sal() {
    let app = Arc::new(TestApp::spawn().await);
    let reps = users(&app, Role::SalesRep, 50).await;
    let id = app.lead_in_stage("contested@example.com", Stage::Mql, None).await;

    let requests = reps.iter().map(|rep| (rep.clone(), "acceptLead", json!({ "leadId": id }))).collect();
    let results = app.all_at_once(requests).await;

    let winners = winners(&results);
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0];
    assert_eq!(winner["stage"], "SAL");
    assert_eq!(winner["version"], 3);
    // A rep whose request reached the server while the lead was still an MQL learns it moved
    // on; one whose request arrived after the winner committed asked about another rep's SAL,
    // which a rep is told is NOT_FOUND (design section 4).
    let codes = refusals(&results);
    assert!(
        codes.keys().all(|code| ["INVALID_TRANSITION", "CONFLICT", "NOT_FOUND"].contains(&code.as_str())),
        "{codes:?}"
    );
    assert_eq!(codes.values().sum::<usize>(), 49);

    let lead = app.snapshot(&id).await;
    assert_eq!(lead["stage"], "SAL");
    assert_eq!(lead["version"], 3);
    assert_eq!(lead["owner"], winner["owner"]);
    assert_eq!(log(&app, &id).await, created_and(&[("STAGE_CHANGED", Some("MQL")), ("STAGE_CHANGED", Some("SAL"))]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_reps_accepting_one_mql_at_the_same_instant_the_loser_learns_it_moved_on() {
    let app = Arc::new(TestApp::spawn().await);
    let reps = users(&app, Role::SalesRep, 2).await;
    let id = app.lead_in_stage("raced@example.com", Stage::Mql, None).await;

    let requests = reps.iter().map(|rep| (rep.clone(), "acceptLead", json!({ "leadId": id }))).collect();
    let results = app.all_at_once(requests).await;

    assert_eq!(winners(&results).len(), 1, "{results:?}");
    let codes = refusals(&results);
    assert!(codes.keys().all(|code| ["INVALID_TRANSITION", "CONFLICT"].contains(&code.as_str())), "{codes:?}");
    assert_eq!(log(&app, &id).await, created_and(&[("STAGE_CHANGED", Some("MQL")), ("STAGE_CHANGED", Some("SAL"))]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_managers_and_admins_accepting_one_mql_for_fifty_reps_at_once_make_exactly_one_sal() {
    let app = Arc::new(TestApp::spawn().await);
    let reps = users(&app, Role::SalesRep, 50).await;
    let mut deciders = users(&app, Role::SalesManager, 25).await;
    deciders.extend(users(&app, Role::Admin, 25).await);
    let id = app.lead_in_stage("contested@example.com", Stage::Mql, None).await;

    let requests = deciders
        .iter()
        .zip(&reps)
        .map(|(decider, rep)| {
            (
                decider.clone(),
                "acceptLead",
                json!({ "leadId": id, "ownerId": rep.id.to_string(), "expectedVersion": 2 }),
            )
        })
        .collect();
    let results = app.all_at_once(requests).await;

    let winners = winners(&results);
    assert_eq!(winners.len(), 1, "{results:?}");
    // Everyone here may see the lead, so every loser learns it moved on or changed.
    let codes = refusals(&results);
    assert!(codes.keys().all(|code| code == "INVALID_TRANSITION" || code == "CONFLICT"), "{codes:?}");
    let lead = app.snapshot(&id).await;
    assert_eq!((lead["stage"].clone(), lead["version"].clone()), (json!("SAL"), json!(3)));
    assert_eq!(lead["owner"], winners[0]["owner"]);
    assert_eq!(log(&app, &id).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_touchpoints_all_count_and_cross_the_threshold_once() {
    let app = Arc::new(TestApp::spawn().await);
    let marketer = app.user(Role::Marketing).await;
    let id = app.create_lead(&marketer, "busy@example.com", json!({})).await;

    // Ten form submissions of 15 points each: 150 in all, crossing 50 exactly once.
    let requests = (0..10)
        .map(|_| (marketer.clone(), "recordTouchpoint", json!({ "leadId": id, "kind": "FORM_SUBMISSION" })))
        .collect();
    let results = app.all_at_once(requests).await;
    assert!(results.iter().all(Result::is_ok), "no touchpoint is lost to a race: {:?}", refusals(&results));

    let lead = app.snapshot(&id).await;
    assert_eq!(lead["score"], 150);
    assert_eq!(lead["stage"], "MQL");
    assert_eq!(lead["version"], 12);
    let mut expected = vec![("TOUCHPOINT", None); 10];
    expected.insert(4, ("STAGE_CHANGED", Some("MQL")));
    assert_eq!(log(&app, &id).await, created_and(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_without_an_expected_version_is_not_refused_because_a_touchpoint_landed_first() {
    let app = Arc::new(TestApp::spawn().await);
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("racing@example.com", Stage::Mql, None).await;

    let mut requests: Vec<(TestUser, &'static str, Value)> =
        (0..10).map(|_| (admin.clone(), "recordTouchpoint", json!({ "leadId": id, "kind": "PAGE_VIEW" }))).collect();
    requests.insert(5, (rep.clone(), "acceptLead", json!({ "leadId": id })));
    let results = app.all_at_once(requests).await;
    assert!(results.iter().all(Result::is_ok), "{:?}", refusals(&results));

    let lead = app.snapshot(&id).await;
    assert_eq!(
        (lead["stage"].clone(), lead["score"].clone(), lead["version"].clone()),
        (json!("SAL"), json!(10), json!(13))
    );
    assert_eq!(lead["owner"]["id"], rep.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managers_routing_many_mqls_at_once_never_put_a_rep_over_capacity() {
    let app = Arc::new(
        TestApp::spawn_with_handoff(HandoffConfig { max_open_sals_per_rep: 2, ..HandoffConfig::default() }).await,
    );
    let managers = users(&app, Role::SalesManager, 8).await;
    let reps = users(&app, Role::SalesRep, 3).await;
    let mut leads = Vec::new();
    for index in 0..8 {
        leads.push(app.lead_in_stage(&format!("queued-{index}@example.com"), Stage::Mql, None).await);
    }

    let requests =
        managers.iter().zip(&leads).map(|(m, id)| (m.clone(), "acceptLead", json!({ "leadId": id }))).collect();
    let results = app.all_at_once(requests).await;

    assert_eq!(winners(&results).len(), 6, "three reps with room for two each: {results:?}");
    assert_eq!(refusals(&results), HashMap::from([("CONFLICT".to_owned(), 2)]));
    let mut load: HashMap<String, usize> = HashMap::new();
    for lead in winners(&results) {
        *load.entry(lead["owner"]["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    let expected: HashMap<String, usize> = reps.iter().map(|rep| (rep.id.to_string(), 2)).collect();
    assert_eq!(load, expected);
}

/// A move can wait, written but not committed, in a batch of writes while another rep's
/// request for the same lead arrives: that rep asked while the lead was still an MQL for
/// everyone else, and learns it moved on, though the move's time is before the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rep_refused_by_a_move_still_waiting_for_its_commit_learns_the_lead_moved_on() {
    let app = Arc::new(TestApp::spawn().await);
    let reps = users(&app, Role::SalesRep, 2).await;
    let id = app.lead_in_stage("waiting@example.com", Stage::Mql, None).await;
    let writer = app.state.writer.clone();
    let queued = |n: usize| {
        let writer = writer.clone();
        async move {
            while writer.queued() != n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let accept = |rep: &TestUser| {
        let (app, rep, input) = (Arc::clone(&app), rep.clone(), json!({ "leadId": id }));
        tokio::spawn(async move { app.act(&rep, "acceptLead", input).await })
    };

    // A batch is open; the first rep's acceptance queues behind it, and a writer that will
    // hold the turn after it.
    let opening = writer.begin().await.expect("begin");
    let first = accept(&reps[0]);
    queued(1).await;
    let (held, hold) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn({
        let writer = writer.clone();
        async move {
            let txn = writer.begin().await.expect("begin");
            held.send(()).expect("test waiting");
            released.await.expect("released");
            txn.commit().await
        }
    });
    queued(2).await;
    let opened = tokio::spawn(opening.commit());
    // The acceptance is written and waits for the batch's commit; the holder has the turn.
    hold.await.expect("holder has the turn");
    assert!(!first.is_finished(), "the acceptance waits for its commit");
    // Only now does the second rep ask.
    let second = accept(&reps[1]);
    queued(1).await;
    release.send(()).expect("holder waiting");

    let won = first.await.expect("first task").expect("the first rep accepts");
    assert_eq!(won["stage"], "SAL");
    let refused = second.await.expect("second task").expect_err("the second rep is refused");
    assert_eq!(refused["extensions"]["code"], "INVALID_TRANSITION", "{refused}");
    holder.await.expect("holder task").expect("holder commit");
    opened.await.expect("opening task").expect("opening commit");
    assert_eq!(log(&app, &id).await, created_and(&[("STAGE_CHANGED", Some("MQL")), ("STAGE_CHANGED", Some("SAL"))]));
}

/// A batch of writes holds every lead its writers moved until it commits, so another client
/// (a bare transaction here, standing for another instance) holding one lead and wanting
/// one of the batch's closes a cycle. PostgreSQL breaks it by failing the statement of the
/// writer that waited first: its client is told `CONFLICT`, the rest of the batch commits,
/// and the move goes through when retried. (SQLite's writers exclude each other: no cycle
/// can form.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_caught_in_a_deadlock_with_another_client_is_a_conflict_and_loses_nothing() {
    let Some(app) = TestApp::spawn_on_postgres().await.map(Arc::new) else { return };
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let first = app.lead_in_stage("first@example.com", Stage::Mql, None).await;
    let second = app.lead_in_stage("second@example.com", Stage::Mql, None).await;
    let accept = |lead: &str| {
        let (app, manager, input) = (Arc::clone(&app), manager.clone(), json!({ "leadId": lead, "ownerId": rep.id }));
        tokio::spawn(async move { app.act(&manager, "acceptLead", input).await })
    };
    let other = sea_orm::Database::connect(app.database_url()).await.expect("connect");
    let lock = |lead: &str| format!("SELECT id FROM lead WHERE id = '{lead}' FOR UPDATE");
    let waiting_for_locks = || async {
        let row = other
            .query_one_raw(sea_orm::Statement::from_string(
                other.get_database_backend(),
                "SELECT count(*) AS n FROM pg_locks WHERE NOT granted",
            ))
            .await
            .expect("pg_locks")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    };
    let holds_first = other.begin().await.expect("begin");
    holds_first.execute_unprepared(&lock(&first)).await.expect("lock the first lead");
    let holds_second = other.begin().await.expect("begin");
    holds_second.execute_unprepared(&lock(&second)).await.expect("lock the second lead");

    // The first acceptance begins the batch and waits for the first lead; the second queues.
    let accepted_first = accept(&first);
    while waiting_for_locks().await < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let accepted_second = accept(&second);
    while app.state.writer.queued() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first lead is let go: the batch moves it and, in the second writer's savepoint,
    // waits for the second lead, which the other client holds while it asks for the first.
    holds_first.commit().await.expect("release the first lead");
    while app.state.writer.queued() > 0 || waiting_for_locks().await < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    holds_second.execute_unprepared(&lock(&first)).await.expect("the other client gets the first lead in the end");
    holds_second.rollback().await.expect("release the second lead");

    let won = accepted_first.await.expect("first task").expect("the first acceptance commits");
    assert_eq!(won["stage"], "SAL");
    let refused = accepted_second.await.expect("second task").expect_err("the deadlocked acceptance fails");
    assert_eq!(refused["extensions"]["code"], "CONFLICT", "{refused}");
    assert_eq!(app.snapshot(&second).await["stage"], "MQL", "nothing of the failed move is left");
    let retried = accept(&second).await.expect("retry task").expect("the retry goes through");
    assert_eq!(retried["stage"], "SAL");
    for lead in [&first, &second] {
        assert_eq!(
            log(&app, lead).await,
            created_and(&[("STAGE_CHANGED", Some("MQL")), ("STAGE_CHANGED", Some("SAL"))])
        );
    }
}
