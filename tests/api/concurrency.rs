//! Moves racing each other on a real database and a multi-threaded runtime: exactly one
//! wins, the others are told why, and the log holds exactly the winners' events.

use std::{collections::HashMap, sync::Arc, time::Duration};

use baton::config::HandoffConfig;
use entity::{Role, Stage};
use sea_orm::DatabaseBackend;
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

/// On SQLite a move can wait, written but not committed, in a batch of writes while another
/// rep's request for the same lead arrives: that rep asked while the lead was still an MQL
/// for everyone else, and learns it moved on, though the move's time is before the request.
/// (PostgreSQL's writers do not batch: the test has nothing to hold there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rep_refused_by_a_move_still_waiting_for_its_commit_learns_the_lead_moved_on() {
    let app = Arc::new(TestApp::spawn().await);
    if app.state.db.get_database_backend() != DatabaseBackend::Sqlite {
        return;
    }
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
