//! Creating and importing leads, reading them by id, filtering and paging the list.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{Channel, Role, Stage, lead};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, node_strings, nodes, time};

const CREATE: &str = "mutation($input: CreateLeadInput!) {
    createLead(input: $input) {
        id email firstName lastName title stage version score channel recycleCount
        createdAt updatedAt stageEnteredAt firstContactAt dealValue { amount }
        owner { id } account { id name } campaign { id name }
        events(first: 10) { edges { node { kind fromStage toStage actor { id } owner { id } occurredAt } } }
    }
}";
const CREATE_ID: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
const IMPORT: &str = "mutation($input: ImportLeadsInput!) {
    importLeads(input: $input) {
        createdCount failedCount
        created { id email stage version }
        errors { index code field message }
    }
}";
const LEAD: &str = "query($id: ID!) { lead(id: $id) { id email firstName stage version createdAt } }";
const FILTERED: &str = "query($filter: LeadFilter) { leads(first: 100, filter: $filter) { edges { node { email } } } }";
const EVERY_LEAD: &str = "query($first: Int, $after: String) {
    leads(first: $first, after: $after) {
        edges { cursor node { id email } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";
const EVERY_EVENT: &str = "query($first: Int, $after: String, $filter: LeadEventFilter) {
    leadEvents(first: $first, after: $after, filter: $filter) {
        edges { cursor node { kind lead { email } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";
const ORDERED: &str = "query($first: Int, $after: String, $orderBy: LeadOrder) {
    leads(first: $first, after: $after, orderBy: $orderBy) {
        edges { cursor node { id createdAt updatedAt score stageEnteredAt } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

/// Every lead's email (sorted) and every event, as the marketer sees them.
async fn stored(app: &TestApp, user: &TestUser) -> (Vec<String>, Vec<Value>) {
    let mut leads = node_strings(
        &app.data(user, "{ leads(first: 100) { edges { node { email } } } }", json!({})).await["leads"],
        "email",
    );
    leads.sort();
    let events =
        app.data(user, "{ leadEvents(first: 100) { edges { node { kind lead { email } } } } }", json!({})).await;
    (leads, nodes(&events["leadEvents"]))
}

/// The emails of the leads matching `filter`, sorted.
async fn matching(app: &TestApp, user: &TestUser, filter: Value) -> Vec<String> {
    let data = app.data(user, FILTERED, json!({ "filter": filter })).await;
    let mut emails = node_strings(&data["leads"], "email");
    emails.sort();
    emails
}

#[tokio::test]
async fn a_new_lead_is_in_stage_lead_at_version_1_with_its_created_event() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let account = app.create_account(&marketer, "Analytical Engines", "engines.example").await;
    let input = json!({
        "email": "  Ada.Lovelace@Example.COM ",
        "firstName": " Ada ",
        "lastName": "Lovelace",
        "title": "Countess",
        "accountId": account,
        "channel": "WEBINAR",
    });
    let before = baton::domain::time::now();
    let data = app.data(&marketer, CREATE, json!({ "input": input })).await;
    let after = baton::domain::time::now();

    let lead = &data["createLead"];
    assert!(Uuid::parse_str(lead["id"].as_str().unwrap_or_default()).is_ok(), "{lead}");
    assert_eq!(lead["email"], "ada.lovelace@example.com");
    assert_eq!(lead["firstName"], "Ada");
    assert_eq!(lead["lastName"], "Lovelace");
    assert_eq!(lead["title"], "Countess");
    assert_eq!(lead["stage"], "LEAD");
    assert_eq!(lead["version"], 1);
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["recycleCount"], 0);
    assert_eq!(lead["channel"], "WEBINAR");
    assert_eq!(lead["owner"], Value::Null);
    assert_eq!(lead["account"], json!({ "id": account, "name": "Analytical Engines" }));
    assert_eq!(lead["campaign"], Value::Null);
    assert_eq!(lead["dealValue"], Value::Null);
    assert_eq!(lead["firstContactAt"], Value::Null);
    let created_at = time(&lead["createdAt"]);
    assert!(before <= created_at && created_at <= after, "{created_at} not in [{before}, {after}]");
    assert_eq!(lead["updatedAt"], lead["createdAt"]);
    assert_eq!(lead["stageEnteredAt"], lead["createdAt"]);
    assert_eq!(
        lead["events"]["edges"],
        json!([{ "node": {
            "kind": "CREATED",
            "fromStage": null,
            "toStage": "LEAD",
            "actor": { "id": marketer.id.to_string() },
            "owner": null,
            "occurredAt": lead["createdAt"],
        } }])
    );

    // Reading it back gives the same lead.
    let read = app.data(&marketer, LEAD, json!({ "id": lead["id"] })).await;
    assert_eq!(
        read["lead"],
        json!({
            "id": lead["id"],
            "email": "ada.lovelace@example.com",
            "firstName": "Ada",
            "stage": "LEAD",
            "version": 1,
            "createdAt": lead["createdAt"],
        })
    );
}

#[tokio::test]
async fn a_lead_can_name_its_campaign() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let campaign = app.campaign("Spring webinar", Channel::Webinar).await;
    let input = json!({ "email": "grace@example.com", "channel": "WEBINAR", "campaignId": campaign });
    let data = app.data(&marketer, CREATE, json!({ "input": input })).await;
    assert_eq!(data["createLead"]["campaign"], json!({ "id": campaign, "name": "Spring webinar" }));
}

#[tokio::test]
async fn an_email_already_in_use_is_duplicate_whatever_its_case() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    app.create_lead(&marketer, "ada@example.com", json!({})).await;
    for email in ["ada@example.com", "ADA@Example.com", "  Ada@EXAMPLE.COM  "] {
        let input = json!({ "email": email, "channel": "EMAIL" });
        let error = app.error(&marketer, CREATE_ID, json!({ "input": input })).await;
        assert_eq!(error["extensions"]["code"], "DUPLICATE", "{email}: {error}");
    }
    let (leads, events) = stored(&app, &marketer).await;
    assert_eq!(leads, ["ada@example.com"]);
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn invalid_lead_input_is_bad_user_input_naming_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let cases = [
        ("email", json!({ "email": "not-an-email" })),
        ("email", json!({ "email": "" })),
        ("email", json!({ "email": "   " })),
        ("email", json!({ "email": "ada@example" })),
        ("email", json!({ "email": "@example.com" })),
        ("email", json!({ "email": "ada lovelace@example.com" })),
        ("email", json!({ "email": format!("{}@example.com", "a".repeat(250)) })),
        ("email", json!({ "email": "ada\u{0}@example.com" })),
        ("firstName", json!({ "firstName": "a".repeat(201) })),
        ("lastName", json!({ "lastName": "é".repeat(201) })),
        ("title", json!({ "title": "t".repeat(201) })),
        ("firstName", json!({ "firstName": "Ada\u{0}" })),
        ("lastName", json!({ "lastName": "Love\u{0}lace" })),
        ("accountId", json!({ "accountId": Uuid::now_v7().to_string() })),
        ("campaignId", json!({ "campaignId": Uuid::now_v7().to_string() })),
        ("accountId", json!({ "accountId": "acme" })),
        ("campaignId", json!({ "campaignId": "42" })),
    ];
    for (field, overrides) in cases {
        let mut input = json!({ "email": "ada@example.com", "channel": "EMAIL" });
        if let (Some(input), Some(overrides)) = (input.as_object_mut(), overrides.as_object()) {
            input.extend(overrides.clone());
        }
        app.assert_bad_input(&marketer, CREATE_ID, json!({ "input": input }), field).await;
    }
    let (leads, events) = stored(&app, &marketer).await;
    assert!(leads.is_empty(), "{leads:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn names_of_200_characters_are_accepted_and_blank_ones_are_stored_as_absent() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let long = "é".repeat(200);
    let input = json!({ "email": "long@example.com", "channel": "EMAIL", "firstName": long, "lastName": "   " });
    let data = app.data(&marketer, CREATE, json!({ "input": input })).await;
    assert_eq!(data["createLead"]["firstName"], long.as_str());
    assert_eq!(data["createLead"]["lastName"], Value::Null);
}

#[tokio::test]
async fn an_unknown_lead_is_null_and_a_malformed_id_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let data = app.data(&viewer, LEAD, json!({ "id": Uuid::now_v7().to_string() })).await;
    assert_eq!(data["lead"], Value::Null);
    app.assert_bad_input(&viewer, LEAD, json!({ "id": "not-a-uuid" }), "id").await;
}

#[tokio::test]
async fn an_import_keeps_the_valid_rows_in_order_and_reports_each_refused_one() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let account = app.create_account(&marketer, "Acme", "acme.example").await;
    app.create_lead(&marketer, "taken@example.com", json!({})).await;
    let rows = json!([
        { "email": "first@example.com", "channel": "EMAIL" },
        { "email": "not an email", "channel": "EMAIL" },
        { "email": "TAKEN@example.com", "channel": "EMAIL" },
        { "email": "second@example.com", "channel": "EVENT", "firstName": "Second" },
        { "email": "First@Example.com", "channel": "EMAIL" },
        { "email": "bad-account-id@example.com", "channel": "EMAIL", "accountId": "acme" },
        { "email": "unknown-account@example.com", "channel": "EMAIL", "accountId": Uuid::now_v7().to_string() },
        { "email": "third@example.com", "channel": "REFERRAL", "accountId": account },
        { "email": "nul@example.com", "channel": "EMAIL", "firstName": "a\u{0}b" },
    ]);
    let data = app.data(&marketer, IMPORT, json!({ "input": { "leads": rows } })).await;
    let result = &data["importLeads"];

    assert_eq!(result["createdCount"], 3);
    assert_eq!(result["failedCount"], 6);
    assert_eq!(node_emails(&result["created"]), ["first@example.com", "second@example.com", "third@example.com"]);
    for lead in result["created"].as_array().into_iter().flatten() {
        assert_eq!(lead["stage"], "LEAD");
        assert_eq!(lead["version"], 1);
    }
    let errors: Vec<(i64, &str, Option<&str>)> = result["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            assert!(!e["message"].as_str().unwrap_or_default().is_empty(), "{e}");
            (e["index"].as_i64().unwrap_or(-1), e["code"].as_str().unwrap_or_default(), e["field"].as_str())
        })
        .collect();
    assert_eq!(
        errors,
        [
            (1, "BAD_USER_INPUT", Some("email")),
            (2, "DUPLICATE", Some("email")),
            (4, "DUPLICATE", Some("email")),
            (5, "BAD_USER_INPUT", Some("accountId")),
            (6, "BAD_USER_INPUT", Some("accountId")),
            (8, "BAD_USER_INPUT", Some("firstName")),
        ]
    );

    let (leads, events) = stored(&app, &marketer).await;
    assert_eq!(leads, ["first@example.com", "second@example.com", "taken@example.com", "third@example.com"]);
    let mut created: Vec<&str> = events
        .iter()
        .inspect(|event| assert_eq!(event["kind"], "CREATED", "{event}"))
        .filter_map(|event| event["lead"]["email"].as_str())
        .collect();
    created.sort_unstable();
    assert_eq!(created, leads);
}

fn node_emails(list: &Value) -> Vec<&str> {
    list.as_array().into_iter().flatten().filter_map(|lead| lead["email"].as_str()).collect()
}

fn import_rows(count: usize, prefix: &str) -> Vec<Value> {
    (0..count).map(|i| json!({ "email": format!("{prefix}-{i:04}@example.com"), "channel": "PAID_SEARCH" })).collect()
}

#[tokio::test]
async fn an_import_of_more_than_1000_rows_is_refused_whole() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rows = import_rows(1001, "row");
    app.assert_bad_input(&marketer, IMPORT, json!({ "input": { "leads": rows } }), "leads").await;
    let (leads, events) = stored(&app, &marketer).await;
    assert!(leads.is_empty(), "{leads:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn an_import_of_more_than_1000_rows_is_refused_even_when_some_ids_are_malformed() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let mut rows = import_rows(1000, "row");
    rows.push(json!({ "email": "extra@example.com", "channel": "EMAIL", "accountId": "not-an-id" }));
    app.assert_bad_input(&marketer, IMPORT, json!({ "input": { "leads": rows } }), "leads").await;
    let (leads, _) = stored(&app, &marketer).await;
    assert!(leads.is_empty(), "{} leads were created", leads.len());
}

#[tokio::test]
async fn an_import_of_250_rows_creates_every_lead_with_its_created_event() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rows = import_rows(250, "bulk");
    let query = "mutation($input: ImportLeadsInput!) {
        importLeads(input: $input) { createdCount failedCount errors { index } created { email } }
    }";
    let data = app.data(&marketer, query, json!({ "input": { "leads": rows } })).await;
    let result = &data["importLeads"];
    assert_eq!(result["createdCount"], 250);
    assert_eq!(result["failedCount"], 0);
    assert_eq!(result["errors"], json!([]));
    let expected: Vec<String> = (0..250).map(|i| format!("bulk-{i:04}@example.com")).collect();
    assert_eq!(node_emails(&result["created"]), expected);

    let leads = app.walk(&marketer, EVERY_LEAD, json!({}), &["leads"], 100).await;
    let mut emails: Vec<&str> = leads.iter().filter_map(|lead| lead["email"].as_str()).collect();
    emails.sort_unstable();
    assert_eq!(emails, expected);
    let events =
        app.walk(&marketer, EVERY_EVENT, json!({ "filter": { "kinds": ["CREATED"] } }), &["leadEvents"], 100).await;
    let mut created: Vec<&str> = events.iter().filter_map(|event| event["lead"]["email"].as_str()).collect();
    created.sort_unstable();
    assert_eq!(created, expected);
}

/// On PostgreSQL an import runs beside the writers' turns: a batch of moves held open does
/// not hold it up, and it does not hold up the batch. (SQLite admits one writer at a time:
/// there it takes its turn.)
#[tokio::test]
async fn an_import_on_postgres_does_not_wait_for_a_batch_of_moves() {
    let Some(app) = TestApp::spawn_on_postgres().await else { return };
    let marketer = app.user(Role::Marketing).await;
    let batch = app.state.writer.begin().await.expect("a batch holds the turn");
    let import = app.data(&marketer, IMPORT, json!({ "input": { "leads": import_rows(10, "beside") } }));
    let data = tokio::time::timeout(std::time::Duration::from_secs(5), import).await.expect("the import went ahead");
    assert_eq!(data["importLeads"]["createdCount"], 10, "{data}");
    batch.commit().await.expect("the batch commits after it");
    let leads = app.walk(&marketer, EVERY_LEAD, json!({}), &["leads"], 100).await;
    assert_eq!(leads.len(), 10);
}

#[tokio::test]
async fn leads_can_be_filtered_by_stage() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    app.create_lead(&marketer, "lead@example.com", json!({})).await;
    let mql = app.create_lead(&marketer, "mql@example.com", json!({})).await;
    let sal = app.create_lead(&marketer, "sal@example.com", json!({})).await;
    let won = app.create_lead(&marketer, "won@example.com", json!({})).await;
    app.put_in_stage(&mql, Stage::Mql, None).await;
    app.put_in_stage(&sal, Stage::Sal, Some(rep.id)).await;
    app.put_in_stage(&won, Stage::Won, Some(rep.id)).await;

    assert_eq!(matching(&app, &marketer, json!({ "stages": ["LEAD"] })).await, ["lead@example.com"]);
    assert_eq!(
        matching(&app, &marketer, json!({ "stages": ["MQL", "SAL"] })).await,
        ["mql@example.com", "sal@example.com"]
    );
    assert_eq!(matching(&app, &marketer, json!({ "stages": ["WON", "LOST"] })).await, ["won@example.com"]);
    assert!(matching(&app, &marketer, json!({ "stages": ["DISQUALIFIED"] })).await.is_empty());
    assert_eq!(matching(&app, &marketer, json!({})).await.len(), 4);
}

#[tokio::test]
async fn leads_can_be_filtered_by_owner() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let alice = app.user(Role::SalesRep).await;
    let bob = app.user(Role::SalesRep).await;
    for (email, stage, owner) in [
        ("alice-sal@example.com", Stage::Sal, Some(alice.id)),
        ("alice-sql@example.com", Stage::Sql, Some(alice.id)),
        ("bob-sal@example.com", Stage::Sal, Some(bob.id)),
        ("queued@example.com", Stage::Mql, None),
    ] {
        let id = app.create_lead(&marketer, email, json!({})).await;
        app.put_in_stage(&id, stage, owner).await;
    }
    assert_eq!(
        matching(&app, &marketer, json!({ "ownerId": alice.id.to_string() })).await,
        ["alice-sal@example.com", "alice-sql@example.com"]
    );
    assert_eq!(matching(&app, &marketer, json!({ "ownerId": bob.id.to_string() })).await, ["bob-sal@example.com"]);
    assert!(matching(&app, &marketer, json!({ "ownerId": Uuid::now_v7().to_string() })).await.is_empty());
    app.assert_bad_input(&marketer, FILTERED, json!({ "filter": { "ownerId": "alice" } }), "ownerId").await;
}

#[tokio::test]
async fn leads_can_be_filtered_by_account() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let acme = app.create_account(&marketer, "Acme", "acme.example").await;
    let globex = app.create_account(&marketer, "Globex", "globex.example").await;
    app.create_lead(&marketer, "one@acme.example", json!({ "accountId": acme })).await;
    app.create_lead(&marketer, "two@acme.example", json!({ "accountId": acme })).await;
    app.create_lead(&marketer, "hank@globex.example", json!({ "accountId": globex })).await;
    app.create_lead(&marketer, "freelancer@example.com", json!({})).await;
    assert_eq!(matching(&app, &marketer, json!({ "accountId": acme })).await, ["one@acme.example", "two@acme.example"]);
    assert_eq!(matching(&app, &marketer, json!({ "accountId": globex })).await, ["hank@globex.example"]);
    assert!(matching(&app, &marketer, json!({ "accountId": Uuid::now_v7().to_string() })).await.is_empty());
    app.assert_bad_input(&marketer, FILTERED, json!({ "filter": { "accountId": "acme" } }), "accountId").await;
}

#[tokio::test]
async fn leads_can_be_filtered_by_channel() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    for (email, channel) in
        [("webinar@example.com", "WEBINAR"), ("email@example.com", "EMAIL"), ("event@example.com", "EVENT")]
    {
        app.create_lead(&marketer, email, json!({ "channel": channel })).await;
    }
    assert_eq!(
        matching(&app, &marketer, json!({ "channels": ["EMAIL", "EVENT"] })).await,
        ["email@example.com", "event@example.com"]
    );
    assert_eq!(matching(&app, &marketer, json!({ "channels": ["WEBINAR"] })).await, ["webinar@example.com"]);
    assert!(matching(&app, &marketer, json!({ "channels": ["PARTNER"] })).await.is_empty());
}

#[tokio::test]
async fn leads_can_be_filtered_by_campaign() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let spring = app.campaign("Spring webinar", Channel::Webinar).await;
    let autumn = app.campaign("Autumn webinar", Channel::Webinar).await;
    app.create_lead(&marketer, "spring-1@example.com", json!({ "campaignId": spring })).await;
    app.create_lead(&marketer, "spring-2@example.com", json!({ "campaignId": spring })).await;
    app.create_lead(&marketer, "autumn@example.com", json!({ "campaignId": autumn })).await;
    app.create_lead(&marketer, "organic@example.com", json!({})).await;
    assert_eq!(
        matching(&app, &marketer, json!({ "campaignId": spring })).await,
        ["spring-1@example.com", "spring-2@example.com"]
    );
    assert_eq!(matching(&app, &marketer, json!({ "campaignId": autumn })).await, ["autumn@example.com"]);
    app.assert_bad_input(&marketer, FILTERED, json!({ "filter": { "campaignId": "spring" } }), "campaignId").await;
}

#[tokio::test]
async fn leads_can_be_filtered_by_a_half_open_creation_period() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let email = format!("lead-{i}@example.com");
        let id = app.create_lead(&marketer, &email, json!({})).await;
        let data = app.data(&marketer, LEAD, json!({ "id": id })).await;
        created.push((email, data["lead"]["createdAt"].clone()));
    }
    let (from, to) = (&created[1].1, &created[3].1);
    let within = |lower: Option<&Value>, upper: Option<&Value>| -> Vec<String> {
        let mut emails: Vec<String> = created
            .iter()
            .filter(|(_, at)| lower.is_none_or(|from| time(at) >= time(from)))
            .filter(|(_, at)| upper.is_none_or(|to| time(at) < time(to)))
            .map(|(email, _)| email.clone())
            .collect();
        emails.sort();
        emails
    };

    let both = matching(&app, &marketer, json!({ "createdFrom": from, "createdTo": to })).await;
    assert_eq!(both, within(Some(from), Some(to)));
    assert!(both.contains(&created[1].0), "the start is included: {both:?}");
    assert!(!both.contains(&created[3].0), "the end is excluded: {both:?}");
    assert!(!both.contains(&created[0].0) && !both.contains(&created[4].0), "{both:?}");

    let since = matching(&app, &marketer, json!({ "createdFrom": from })).await;
    assert_eq!(since, within(Some(from), None));
    assert!(since.contains(&created[4].0) && !since.contains(&created[0].0), "{since:?}");

    let until = matching(&app, &marketer, json!({ "createdTo": to })).await;
    assert_eq!(until, within(None, Some(to)));
    assert!(until.contains(&created[0].0) && !until.contains(&created[3].0), "{until:?}");

    assert!(matching(&app, &marketer, json!({ "createdFrom": to, "createdTo": to })).await.is_empty());
}

#[tokio::test]
async fn lead_search_matches_names_email_and_company_case_insensitively_and_literally() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let initech = app.create_account(&marketer, "Initech Systems", "initech.example").await;
    let leads = [
        ("grace@navy.example", json!({ "firstName": "Grace", "lastName": "Brewster" })),
        ("alan@bletchley.example", json!({ "firstName": "Alan", "lastName": "Turing" })),
        ("peter@office.example", json!({ "firstName": "Peter", "accountId": initech })),
        ("claims@insurance.example", json!({ "lastName": "100% Legit" })),
        ("snake@python.example", json!({ "firstName": "snake_case" })),
        ("escape@shell.example", json!({ "lastName": "back\\slash" })),
        ("plain@example.com", json!({ "firstName": "Plain", "lastName": "Person" })),
    ];
    for (email, extra) in &leads {
        app.create_lead(&marketer, email, extra.clone()).await;
    }
    for (search, expected) in [
        ("grace", vec!["grace@navy.example"]),
        ("TURING", vec!["alan@bletchley.example"]),
        ("Bletchley.EXAMPLE", vec!["alan@bletchley.example"]),
        ("initech", vec!["peter@office.example"]),
        ("  grace  ", vec!["grace@navy.example"]),
        ("%", vec!["claims@insurance.example"]),
        ("0% l", vec!["claims@insurance.example"]),
        ("_", vec!["snake@python.example"]),
        ("e_c", vec!["snake@python.example"]),
        ("\\", vec!["escape@shell.example"]),
        ("nobody", vec![]),
    ] {
        assert_eq!(matching(&app, &marketer, json!({ "search": search })).await, expected, "search {search:?}");
    }
    // A blank search is no condition.
    assert_eq!(matching(&app, &marketer, json!({ "search": "  " })).await.len(), leads.len());
    app.assert_bad_input(&marketer, FILTERED, json!({ "filter": { "search": "a\u{0}" } }), "search").await;
}

#[tokio::test]
async fn lead_search_is_case_insensitive_beyond_ascii() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    app.create_lead(&marketer, "emile@example.com", json!({ "firstName": "Émile", "lastName": "Zoë" })).await;
    app.create_lead(&marketer, "other@example.com", json!({ "firstName": "Emil" })).await;
    assert_eq!(matching(&app, &marketer, json!({ "search": "émile" })).await, ["emile@example.com"]);
    assert_eq!(matching(&app, &marketer, json!({ "search": "ÉMILE" })).await, ["emile@example.com"]);
    assert_eq!(matching(&app, &marketer, json!({ "search": "ZOË" })).await, ["emile@example.com"]);
}

/// Sets the sortable columns of a lead directly, so orderings have ties and differ.
async fn set_sort_values(app: &TestApp, id: &str, score: i32, updated_at: DateTime<Utc>, entered_at: DateTime<Utc>) {
    let db = &app.state.db;
    let id = Uuid::parse_str(id).expect("uuid");
    let lead = lead::Entity::find_by_id(id).one(db).await.expect("query").expect("lead");
    let mut row = lead.into_active_model();
    row.score = Set(score);
    row.updated_at = Set(updated_at);
    row.stage_entered_at = Set(entered_at);
    row.update(db).await.expect("update lead");
}

/// 25 leads: ten created one by one, fifteen in one import (so they share a creation time),
/// with scores and times that tie in groups.
async fn twenty_five_leads(app: &TestApp, marketer: &TestUser) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(app.create_lead(marketer, &format!("single-{i:02}@example.com"), json!({})).await);
    }
    let data = app.data(marketer, IMPORT, json!({ "input": { "leads": import_rows(15, "imported") } })).await;
    ids.extend(
        data["importLeads"]["created"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["id"].as_str())
            .map(str::to_owned),
    );
    assert_eq!(ids.len(), 25);
    let base = baton::domain::time::now();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        let score = ((i * 7) % 4) as i32 * 10;
        let updated_at = base + TimeDelta::seconds((i * 5) % 6);
        let entered_at = base - TimeDelta::minutes((i * 3) % 5);
        set_sort_values(app, id, score, updated_at, entered_at).await;
    }
    let query = "{ leads(first: 100) { edges { node { id createdAt updatedAt score stageEnteredAt } } } }";
    nodes(&app.data(marketer, query, json!({})).await["leads"])
}

/// The ids of `leads` sorted by `field` (ties by id), in `direction`.
fn sorted_ids(leads: &[Value], field: &str, direction: &str) -> Vec<String> {
    let key = |lead: &Value| -> (i64, String) {
        let value = match field {
            "SCORE" => lead["score"].as_i64().unwrap_or_default(),
            "CREATED_AT" => time(&lead["createdAt"]).timestamp_micros(),
            "UPDATED_AT" => time(&lead["updatedAt"]).timestamp_micros(),
            _ => time(&lead["stageEnteredAt"]).timestamp_micros(),
        };
        (value, lead["id"].as_str().unwrap_or_default().to_owned())
    };
    let mut keyed: Vec<(i64, String)> = leads.iter().map(key).collect();
    keyed.sort();
    if direction == "DESC" {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn ids(leads: &[Value]) -> Vec<String> {
    leads.iter().map(|lead| lead["id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn paging_visits_every_lead_once_in_order_for_every_ordering() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let leads = twenty_five_leads(&app, &marketer).await;
    assert_eq!(leads.len(), 25);
    for field in ["CREATED_AT", "UPDATED_AT", "SCORE", "STAGE_ENTERED_AT"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "orderBy": { "field": field, "direction": direction } });
            let walked = app.walk(&marketer, ORDERED, order, &["leads"], 7).await;
            assert_eq!(ids(&walked), sorted_ids(&leads, field, direction), "{field} {direction}");
        }
    }
    // Without an order, newest first; without a direction, descending.
    let walked = app.walk(&marketer, ORDERED, json!({}), &["leads"], 7).await;
    assert_eq!(ids(&walked), sorted_ids(&leads, "CREATED_AT", "DESC"));
    let walked = app.walk(&marketer, ORDERED, json!({ "orderBy": { "field": "SCORE" } }), &["leads"], 7).await;
    assert_eq!(ids(&walked), sorted_ids(&leads, "SCORE", "DESC"));
}

#[tokio::test]
async fn a_page_that_ends_the_list_says_so_and_the_page_after_it_is_empty() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    for i in 0..5 {
        app.create_lead(&marketer, &format!("lead-{i}@example.com"), json!({})).await;
    }
    let first = app.data(&marketer, ORDERED, json!({ "first": 5 })).await;
    assert_eq!(first["leads"]["edges"].as_array().map(Vec::len), Some(5));
    assert_eq!(first["leads"]["pageInfo"]["hasNextPage"], false);
    let end = first["leads"]["pageInfo"]["endCursor"].clone();
    let next = app.data(&marketer, ORDERED, json!({ "first": 5, "after": end })).await;
    assert_eq!(next["leads"]["edges"], json!([]));
    assert_eq!(
        next["leads"]["pageInfo"],
        json!({ "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null })
    );
    let four = app.data(&marketer, ORDERED, json!({ "first": 4 })).await;
    assert_eq!(four["leads"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn page_sizes_beyond_100_or_below_0_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    for first in [101, -1, 1000] {
        app.assert_bad_input(&viewer, ORDERED, json!({ "first": first }), "first").await;
    }
    app.data(&viewer, ORDERED, json!({ "first": 100 })).await;
}

#[tokio::test]
async fn cursors_that_are_garbage_or_from_another_list_or_ordering_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    app.create_account(&marketer, "Acme", "acme.example").await;
    for i in 0..3 {
        app.create_lead(&marketer, &format!("lead-{i}@example.com"), json!({})).await;
    }
    let page = app.data(&marketer, ORDERED, json!({ "first": 1 })).await;
    let newest_first = page["leads"]["pageInfo"]["endCursor"].clone();
    let event = app.data(&marketer, "{ leadEvents(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let event_cursor = event["leadEvents"]["pageInfo"]["endCursor"].clone();
    let account = app.data(&marketer, "{ accounts(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let account_cursor = account["accounts"]["pageInfo"]["endCursor"].clone();
    assert!(newest_first.is_string() && event_cursor.is_string() && account_cursor.is_string());

    // The cursor works where it came from.
    app.data(&marketer, ORDERED, json!({ "first": 1, "after": newest_first })).await;
    let refused = [
        json!({ "after": "garbage" }),
        json!({ "after": "" }),
        json!({ "after": "eyJub3QiOiJhIGN1cnNvciJ9" }),
        json!({ "after": newest_first, "orderBy": { "field": "SCORE" } }),
        json!({ "after": newest_first, "orderBy": { "field": "CREATED_AT", "direction": "ASC" } }),
        json!({ "after": newest_first, "orderBy": { "field": "UPDATED_AT", "direction": "DESC" } }),
        json!({ "after": event_cursor }),
        json!({ "after": account_cursor }),
    ];
    for variables in refused {
        app.assert_bad_input(&marketer, ORDERED, variables, "after").await;
    }
}
