//! Who owns an accepted lead: routing when a manager names nobody, and reassignment.

use baton::config::HandoffConfig;
use entity::{Role, Stage};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, sample_input};

/// The detail of the lead's latest acceptance, as a client reads it.
async fn acceptance_detail(app: &TestApp, lead_id: &str) -> Value {
    let query = "query($id: ID!) { lead(id: $id) { events(first: 100, order: NEWEST_FIRST) { edges { node { toStage detail } } } } }";
    let data = app.data(app.observer().await, query, json!({ "id": lead_id })).await;
    let events = data["lead"]["events"]["edges"].as_array().cloned().unwrap_or_default();
    let acceptance = events.iter().find(|edge| edge["node"]["toStage"] == "SAL").expect("an acceptance event");
    acceptance["node"]["detail"].clone()
}

/// Active reps in the order round robin visits them: by id.
async fn reps(app: &TestApp, count: usize) -> Vec<TestUser> {
    let mut reps = Vec::new();
    for _ in 0..count {
        reps.push(app.user(Role::SalesRep).await);
    }
    reps.sort_by_key(|rep| rep.id);
    reps
}

fn owner(lead: &Value) -> &str {
    lead["owner"]["id"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_manager_accepting_without_naming_a_rep_routes_round_robin_among_active_reps() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let first = app.user(Role::SalesRep).await;
    let inactive = app.user(Role::SalesRep).await;
    baton::service::user::set_active(&app.state.db, inactive.id, false).await.expect("deactivate");
    let mut reps = vec![first];
    reps.extend(self::reps(&app, 2).await);
    reps.sort_by_key(|rep| rep.id);

    for turn in 0..5 {
        let id = app.lead_in_stage(&format!("routed-{turn}@example.com"), Stage::Mql, None).await;
        let lead = app.moved(&manager, "acceptLead", json!({ "leadId": id })).await;
        let chosen = &reps[turn % 3];
        assert_eq!(lead["stage"], "SAL");
        assert_eq!(owner(&lead), chosen.id.to_string(), "turn {turn}");
        assert_eq!(
            acceptance_detail(&app, &id).await,
            json!({ "routing": {
                "strategy": "ROUND_ROBIN",
                "repId": chosen.id,
                "openSals": turn / 3,
                "capacity": 25,
                "skippedAtCapacity": [],
            } }),
            "turn {turn}"
        );
        let events = app.history(&id).await;
        let last = events.last().expect("events");
        assert_eq!(last["actor"]["id"], manager.id.to_string(), "the manager made the move");
        assert_eq!(last["owner"]["id"], chosen.id.to_string());
    }
}

#[tokio::test]
async fn routing_passes_over_reps_at_capacity_and_says_so() {
    let app = TestApp::spawn_with_handoff(HandoffConfig { max_open_sals_per_rep: 1, ..HandoffConfig::default() }).await;
    let manager = app.user(Role::SalesManager).await;
    let reps = reps(&app, 2).await;
    let [busy, free] = [&reps[0], &reps[1]];
    app.lead_in_stage("taken@example.com", Stage::Sal, Some(busy)).await;

    let second = app.lead_in_stage("second@example.com", Stage::Mql, None).await;
    let lead = app.moved(&manager, "acceptLead", json!({ "leadId": second })).await;
    assert_eq!(owner(&lead), free.id.to_string());
    assert_eq!(
        acceptance_detail(&app, &second).await["routing"],
        json!({
            "strategy": "ROUND_ROBIN",
            "repId": free.id,
            "openSals": 0,
            "capacity": 1,
            "skippedAtCapacity": [busy.id],
        })
    );

    // Everyone is full: routing refuses rather than overload a rep, and nothing changes.
    let third = app.lead_in_stage("third@example.com", Stage::Mql, None).await;
    let error = app.refused(&manager, "acceptLead", json!({ "leadId": third }), "CONFLICT").await;
    assert!(error["message"].as_str().unwrap_or_default().contains("name an owner"), "{error}");

    // Naming a rep is the manager's call, capacity or not.
    let lead = app.moved(&manager, "acceptLead", json!({ "leadId": third, "ownerId": busy.id.to_string() })).await;
    assert_eq!(owner(&lead), busy.id.to_string());
    assert_eq!(acceptance_detail(&app, &third).await, Value::Null, "nothing was routed");

    // A SAL that leaves frees its rep's slot.
    app.moved(free, "returnToMarketing", sample_input("returnToMarketing", &second)).await;
    let fourth = app.lead_in_stage("fourth@example.com", Stage::Mql, None).await;
    let lead = app.moved(&manager, "acceptLead", json!({ "leadId": fourth })).await;
    assert_eq!(owner(&lead), free.id.to_string());
}

#[tokio::test]
async fn managers_and_admins_may_name_any_active_rep_and_reps_only_themselves() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    for (index, user) in [&manager, &admin, &rep].into_iter().enumerate() {
        let id = app.lead_in_stage(&format!("named-{index}@example.com"), Stage::Mql, None).await;
        let lead = app.moved(user, "acceptLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })).await;
        assert_eq!(owner(&lead), rep.id.to_string());
        assert_eq!(acceptance_detail(&app, &id).await, Value::Null);
    }
    // An admin naming nobody is routed like a manager.
    let id = app.lead_in_stage("routed@example.com", Stage::Mql, None).await;
    let lead = app.moved(&admin, "acceptLead", json!({ "leadId": id })).await;
    assert_eq!(owner(&lead), rep.id.to_string());
    assert_eq!(acceptance_detail(&app, &id).await["routing"]["repId"], json!(rep.id));
}

#[tokio::test]
async fn an_owner_who_is_not_an_active_rep_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let marketer = app.user(Role::Marketing).await;
    let other_manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let gone = app.user(Role::SalesRep).await;
    baton::service::user::set_active(&app.state.db, gone.id, false).await.expect("deactivate");
    let mql = app.lead_in_stage("mql@example.com", Stage::Mql, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let candidates = [marketer.id, other_manager.id, manager.id, gone.id, Uuid::now_v7()];
    for candidate in candidates {
        for (name, id) in [("acceptLead", &mql), ("assignLead", &sal)] {
            let input = json!({ "leadId": id, "ownerId": candidate.to_string() });
            let error = app.refused(&manager, name, input, "BAD_USER_INPUT").await;
            assert_eq!(error["extensions"]["field"], "ownerId", "{name}: {error}");
        }
    }
}

#[tokio::test]
async fn a_manager_reassigns_a_sal_and_the_previous_rep_no_longer_sees_it() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let admin = app.user(Role::Admin).await;
    let alice = app.user(Role::SalesRep).await;
    let bob = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("moved@example.com", Stage::Sal, Some(&alice)).await;

    let input = json!({ "leadId": id, "ownerId": bob.id.to_string(), "expectedVersion": 3 });
    let lead = app.moved(&manager, "assignLead", input).await;
    assert_eq!(lead["stage"], "SAL");
    assert_eq!(lead["version"], 4);
    assert_eq!(owner(&lead), bob.id.to_string());
    let events = app.history(&id).await;
    assert_eq!(events.len(), 4);
    let assigned = &events[3];
    assert_eq!(assigned["kind"], "ASSIGNED");
    assert_eq!(assigned["fromStage"], Value::Null);
    assert_eq!(assigned["toStage"], Value::Null);
    assert_eq!(assigned["actor"]["id"], manager.id.to_string());
    assert_eq!(assigned["owner"]["id"], bob.id.to_string());
    assert_eq!(assigned["timeInPreviousStageSeconds"], Value::Null);
    assert_eq!(lead["stageEnteredAt"], app.snapshot(&id).await["stageEnteredAt"], "still the same SAL");

    let read = "query($id: ID!) { lead(id: $id) { id } }";
    assert_eq!(app.data(&alice, read, json!({ "id": id })).await["lead"], Value::Null);
    assert_eq!(app.data(&bob, read, json!({ "id": id })).await["lead"]["id"], id);
    app.refused(&alice, "convertToSql", sample_input("convertToSql", &id), "NOT_FOUND").await;
    let sql = app.moved(&bob, "convertToSql", sample_input("convertToSql", &id)).await;
    assert_eq!(sql["stage"], "SQL");

    // A SQL can be reassigned too, here by an admin.
    let lead = app.moved(&admin, "assignLead", json!({ "leadId": id, "ownerId": alice.id.to_string() })).await;
    assert_eq!(owner(&lead), alice.id.to_string());
    assert_eq!(lead["version"], 6);
}

#[tokio::test]
async fn reassigning_a_lead_to_its_owner_changes_nothing() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("same@example.com", Stage::Sal, Some(&rep)).await;
    let before = app.snapshot(&id).await;
    let lead = app.moved(&manager, "assignLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })).await;
    assert_eq!(lead["version"], 3);
    assert_eq!(app.snapshot(&id).await, before);
}

#[tokio::test]
async fn only_managers_and_admins_reassign_and_only_leads_that_sales_works() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let marketer = app.user(Role::Marketing).await;
    let viewer = app.user(Role::Viewer).await;
    let alice = app.user(Role::SalesRep).await;
    let bob = app.user(Role::SalesRep).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&alice)).await;
    let to_bob = json!({ "leadId": sal, "ownerId": bob.id.to_string() });
    app.refused(&alice, "assignLead", to_bob.clone(), "FORBIDDEN").await;
    app.refused(&marketer, "assignLead", to_bob.clone(), "FORBIDDEN").await;
    app.refused(&viewer, "assignLead", to_bob, "FORBIDDEN").await;
    let to_alice = json!({ "leadId": sal, "ownerId": alice.id.to_string() });
    app.refused(&bob, "assignLead", to_alice, "NOT_FOUND").await;

    for (index, stage) in
        [Stage::Lead, Stage::Mql, Stage::Won, Stage::Lost, Stage::Disqualified].into_iter().enumerate()
    {
        let id = app.lead_in_stage(&format!("not-sales-{index}@example.com"), stage, Some(&alice)).await;
        let input = json!({ "leadId": id, "ownerId": bob.id.to_string() });
        let error = app.refused(&manager, "assignLead", input, "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "leadId", "{stage:?}");
    }
}
