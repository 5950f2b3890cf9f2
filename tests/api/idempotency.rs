//! Idempotency keys: a retry replays the first response and changes nothing, even when
//! retries race; a key reused for another request is refused; keys belong to one user.

use std::sync::Arc;

use chrono::TimeDelta;
use entity::{Role, Stage};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, sample_input};

fn with_key(mut input: Value, key: &str) -> Value {
    input["idempotencyKey"] = json!(key);
    input
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_response_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("retried@example.com", Stage::Mql, None).await;
    let accept = with_key(json!({ "leadId": id }), "accept-1");

    let first = app.moved(&rep, "acceptLead", accept.clone()).await;
    assert_eq!((first["stage"].clone(), first["version"].clone()), (json!("SAL"), json!(3)));
    let after_first = app.snapshot(&id).await;
    let retry = app.moved(&rep, "acceptLead", accept.clone()).await;
    assert_eq!(retry, first);
    assert_eq!(app.snapshot(&id).await, after_first);

    // Still the first response after the lead moved on.
    app.moved(&rep, "convertToSql", sample_input("convertToSql", &id)).await;
    let moved_on = app.snapshot(&id).await;
    assert_eq!(app.moved(&rep, "acceptLead", accept).await, first);
    assert_eq!(app.snapshot(&id).await, moved_on);
    assert_eq!(app.history(&id).await.len(), 4);
}

#[tokio::test]
async fn every_handoff_mutation_replays_its_first_response() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    let lead = app.lead_in_stage("lead@example.com", Stage::Lead, None).await;
    let mql = app.lead_in_stage("mql@example.com", Stage::Mql, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let sql = app.lead_in_stage("sql@example.com", Stage::Sql, Some(&rep)).await;
    let sql_to_lose = app.lead_in_stage("lose@example.com", Stage::Sql, Some(&rep)).await;
    let sal_to_assign = app.lead_in_stage("assign@example.com", Stage::Sal, Some(&rep)).await;
    let cases: [(&TestUser, &str, Value); 8] = [
        (&marketer, "qualifyLead", sample_input("qualifyLead", &lead)),
        (&manager, "acceptLead", json!({ "leadId": mql, "ownerId": other_rep.id.to_string() })),
        (&rep, "convertToSql", sample_input("convertToSql", &sal)),
        (&rep, "closeWon", sample_input("closeWon", &sql)),
        (&manager, "closeLost", sample_input("closeLost", &sql_to_lose)),
        (&rep, "returnToMarketing", sample_input("returnToMarketing", &sql_to_lose)),
        (&marketer, "disqualifyLead", sample_input("disqualifyLead", &lead)),
        (&manager, "assignLead", json!({ "leadId": sal_to_assign, "ownerId": other_rep.id.to_string() })),
    ];
    for (index, (user, name, input)) in cases.into_iter().enumerate() {
        let input = with_key(input, &format!("key-{index}"));
        let first = app.moved(user, name, input.clone()).await;
        let id = input["leadId"].as_str().unwrap_or_default().to_owned();
        let after = app.snapshot(&id).await;
        assert_eq!(app.moved(user, name, input).await, first, "{name}");
        assert_eq!(app.snapshot(&id).await, after, "{name}");
    }
}

#[tokio::test]
async fn the_same_key_with_another_request_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let first_lead = app.lead_in_stage("first@example.com", Stage::Lead, None).await;
    let second_lead = app.lead_in_stage("second@example.com", Stage::Lead, None).await;
    app.moved(&marketer, "qualifyLead", json!({ "leadId": first_lead, "idempotencyKey": "k" })).await;

    let reuses = [
        ("qualifyLead", json!({ "leadId": second_lead, "idempotencyKey": "k" })),
        ("qualifyLead", json!({ "leadId": first_lead, "idempotencyKey": "k", "expectedVersion": 1 })),
        ("disqualifyLead", json!({ "leadId": first_lead, "idempotencyKey": "k", "reasonCode": "NOT_A_FIT" })),
    ];
    for (name, input) in reuses {
        app.refused(&marketer, name, input, "IDEMPOTENCY_KEY_REUSED").await;
    }
    let second = app.snapshot(&second_lead).await;
    assert_eq!((second["stage"].clone(), second["version"].clone()), (json!("LEAD"), json!(1)));
}

#[tokio::test]
async fn keys_belong_to_the_user_who_sent_them() {
    let app = TestApp::spawn().await;
    let first_marketer = app.user(Role::Marketing).await;
    let second_marketer = app.user(Role::Marketing).await;
    let first_lead = app.lead_in_stage("first@example.com", Stage::Lead, None).await;
    let second_lead = app.lead_in_stage("second@example.com", Stage::Lead, None).await;

    let mine = app.moved(&first_marketer, "qualifyLead", json!({ "leadId": first_lead, "idempotencyKey": "k" })).await;
    let theirs =
        app.moved(&second_marketer, "qualifyLead", json!({ "leadId": second_lead, "idempotencyKey": "k" })).await;
    assert_eq!(theirs["id"], second_lead);
    assert_eq!(theirs["stage"], "MQL");
    // Each user's retry replays their own response.
    let replay =
        app.moved(&second_marketer, "qualifyLead", json!({ "leadId": second_lead, "idempotencyKey": "k" })).await;
    assert_eq!(replay, theirs);
    let replay =
        app.moved(&first_marketer, "qualifyLead", json!({ "leadId": first_lead, "idempotencyKey": "k" })).await;
    assert_eq!(replay, mine);
}

#[tokio::test]
async fn a_refused_request_keeps_nothing_under_its_key() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let id = app.lead_in_stage("stale@example.com", Stage::Lead, None).await;
    let stale = json!({ "leadId": id, "idempotencyKey": "k", "expectedVersion": 7 });
    app.refused(&marketer, "qualifyLead", stale, "CONFLICT").await;
    // Nothing happened under the key, so it may carry the corrected request.
    let lead =
        app.moved(&marketer, "qualifyLead", json!({ "leadId": id, "idempotencyKey": "k", "expectedVersion": 1 })).await;
    assert_eq!(lead["stage"], "MQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_retries_with_one_key_execute_once_and_answer_alike() {
    let app = Arc::new(TestApp::spawn().await);
    let rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("flaky-network@example.com", Stage::Mql, None).await;
    let input = json!({ "leadId": id, "idempotencyKey": "accept-once" });

    let requests = (0..10).map(|_| (rep.clone(), "acceptLead", input.clone())).collect();
    let results = app.all_at_once(requests).await;

    let responses: Vec<&Value> = results.iter().map(|r| r.as_ref().unwrap_or_else(|e| panic!("{e}"))).collect();
    assert!(responses.iter().all(|response| *response == responses[0]), "{responses:?}");
    assert_eq!((responses[0]["stage"].clone(), responses[0]["version"].clone()), (json!("SAL"), json!(3)));
    let lead = app.snapshot(&id).await;
    assert_eq!(lead["version"], 3);
    let events = app.history(&id).await;
    let accepted = events.iter().filter(|event| event["toStage"] == "SAL").count();
    assert_eq!((events.len(), accepted), (3, 1), "one execution");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_requests_sharing_a_key_with_different_input_execute_one_request() {
    let app = Arc::new(TestApp::spawn().await);
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let first = app.lead_in_stage("first@example.com", Stage::Mql, None).await;
    let second = app.lead_in_stage("second@example.com", Stage::Mql, None).await;
    let accept = |id: &str| json!({ "leadId": id, "ownerId": rep.id.to_string(), "idempotencyKey": "shared" });

    let requests =
        (0..10).map(|i| (manager.clone(), "acceptLead", accept(if i % 2 == 0 { &first } else { &second }))).collect();
    let results = app.all_at_once(requests).await;

    let (evens, odds): (Vec<_>, Vec<_>) = results.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let (won, lost) = if evens[0].1.is_ok() { (evens, odds) } else { (odds, evens) };
    let responses: Vec<&Value> = won.iter().map(|(_, r)| r.as_ref().unwrap_or_else(|e| panic!("{e}"))).collect();
    assert!(responses.iter().all(|response| *response == responses[0]), "{results:?}");
    for (_, result) in &lost {
        let error = result.as_ref().err().unwrap_or_else(|| panic!("{results:?}"));
        assert_eq!(error["extensions"]["code"], "IDEMPOTENCY_KEY_REUSED", "{error}");
    }
    let moved = responses[0]["id"].as_str().unwrap_or_default();
    let untouched = if moved == first { &second } else { &first };
    assert_eq!(app.snapshot(moved).await["version"], 3);
    let untouched = app.snapshot(untouched).await;
    assert_eq!((untouched["stage"].clone(), untouched["version"].clone()), (json!("MQL"), json!(2)));
}

#[tokio::test]
async fn keys_are_kept_for_at_least_a_day() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let id = app.lead_in_stage("kept@example.com", Stage::Lead, None).await;
    let input = json!({ "leadId": id, "idempotencyKey": "daily-sync-42" });
    let first = app.moved(&marketer, "qualifyLead", input.clone()).await;

    let sweep =
        |hours| baton::service::idempotency::sweep(&app.state.db, baton::domain::time::now() + TimeDelta::hours(hours));
    assert_eq!(sweep(24).await.expect("sweep"), 0, "a day later the key is still kept");
    assert_eq!(app.moved(&marketer, "qualifyLead", input).await, first);
    assert_eq!(sweep(24 * 30).await.expect("sweep"), 1, "old keys are swept eventually");
}
