//! A rep sees the MQL queue and their own leads; another rep's lead is NOT_FOUND by every path.

use entity::{Role, Stage};
use serde_json::json;

use crate::helpers::TestApp;

const LEAD: &str = "query($id: ID!) { lead(id: $id) { id stage owner { id } } }";
const LEADS: &str = "{ leads(first: 100) { edges { node { email } } } }";

fn emails(data: &serde_json::Value, path: &[&str]) -> Vec<String> {
    let mut value = data;
    for key in path {
        value = &value[*key];
    }
    let mut emails: Vec<String> = value["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["email"].as_str().map(str::to_owned))
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn a_rep_cannot_reach_another_reps_lead_by_any_path() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let alice = app.user(Role::SalesRep).await;
    let bob = app.user(Role::SalesRep).await;
    let account = app.create_account(&marketer, "Acme", "acme.example").await;
    let queued = app.create_lead(&marketer, "queued@acme.example", json!({ "accountId": account })).await;
    let alices = app.create_lead(&marketer, "alice-lead@acme.example", json!({ "accountId": account })).await;
    let bobs = app.create_lead(&marketer, "bob-lead@acme.example", json!({ "accountId": account })).await;
    let nurtured = app.create_lead(&marketer, "nurtured@acme.example", json!({ "accountId": account })).await;
    app.put_in_stage(&queued, Stage::Mql, None).await;
    app.put_in_stage(&alices, Stage::Sal, Some(alice.id)).await;
    app.put_in_stage(&bobs, Stage::Sal, Some(bob.id)).await;

    // By id.
    let data = app.data(&alice, LEAD, json!({ "id": alices })).await;
    assert_eq!(data["lead"]["stage"], "SAL");
    assert!(app.data(&alice, LEAD, json!({ "id": queued })).await["lead"].is_object());
    assert!(app.data(&alice, LEAD, json!({ "id": bobs })).await["lead"].is_null());
    assert!(app.data(&alice, LEAD, json!({ "id": nurtured })).await["lead"].is_null());

    // Through the list.
    assert_eq!(
        emails(&app.data(&alice, LEADS, json!({})).await, &["leads"]),
        ["alice-lead@acme.example", "queued@acme.example"]
    );

    // Through the list filtered by stage: the queue, their own, or both; never another rep's.
    let by_stages =
        "query($stages: [Stage!]) { leads(first: 100, filter: { stages: $stages }) { edges { node { email } } } }";
    for (stages, expected) in [
        (json!(["SAL"]), vec!["alice-lead@acme.example"]),
        (json!(["MQL"]), vec!["queued@acme.example"]),
        (json!(["MQL", "SAL"]), vec!["alice-lead@acme.example", "queued@acme.example"]),
        (json!(["LEAD", "SQL"]), vec![]),
    ] {
        let data = app.data(&alice, by_stages, json!({ "stages": stages })).await;
        assert_eq!(emails(&data, &["leads"]), expected, "stages {stages}");
    }

    // Through the account.
    let query = "query($id: ID!) { account(id: $id) { leads(first: 100) { edges { node { email } } } } }";
    let data = app.data(&alice, query, json!({ "id": account })).await;
    assert_eq!(emails(&data, &["account", "leads"]), ["alice-lead@acme.example", "queued@acme.example"]);

    // Through the event log.
    let query = "query($id: ID!) { leadEvents(first: 100, filter: { leadId: $id }) { edges { node { kind } } } }";
    let data = app.data(&alice, query, json!({ "id": bobs })).await;
    assert_eq!(data["leadEvents"]["edges"], json!([]));
    let data = app.data(&alice, "{ leadEvents(first: 100) { edges { node { lead { email } } } } }", json!({})).await;
    let seen: Vec<&str> = data["leadEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["lead"]["email"].as_str())
        .collect();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|email| ["alice-lead@acme.example", "queued@acme.example"].contains(email)), "{seen:?}");
}

#[tokio::test]
async fn managers_marketers_viewers_and_admins_see_every_lead() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let owned = app.create_lead(&marketer, "owned@example.com", json!({})).await;
    app.create_lead(&marketer, "fresh@example.com", json!({})).await;
    app.put_in_stage(&owned, Stage::Sql, Some(rep.id)).await;
    for role in [Role::Admin, Role::Marketing, Role::SalesManager, Role::Viewer] {
        let user = app.user(role).await;
        let data = app.data(&user, LEADS, json!({})).await;
        assert_eq!(emails(&data, &["leads"]), ["fresh@example.com", "owned@example.com"], "{role:?}");
    }
}

#[tokio::test]
async fn only_marketing_and_admins_create_leads_and_accounts() {
    let app = TestApp::spawn().await;
    let create_lead = "mutation { createLead(input: { email: \"x@example.com\", channel: EMAIL }) { id } }";
    let create_account = "mutation { createAccount(input: { name: \"X\" }) { id } }";
    for role in [Role::SalesRep, Role::SalesManager, Role::Viewer] {
        let user = app.user(role).await;
        assert_eq!(app.error_code(&user, create_lead, json!({})).await, "FORBIDDEN", "{role:?}");
        assert_eq!(app.error_code(&user, create_account, json!({})).await, "FORBIDDEN", "{role:?}");
    }
    let admin = app.user(Role::Admin).await;
    app.data(&admin, create_lead, json!({})).await;
    app.data(&admin, create_account, json!({})).await;
}
