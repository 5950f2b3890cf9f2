//! Creating accounts, reading one, listing them by name, and an account's leads.

use chrono::{DateTime, Utc};
use entity::{Role, Stage};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, node_strings, time};

const CREATE: &str = "mutation($input: CreateAccountInput!) {
    createAccount(input: $input) { id name domain industry employees owner { id } createdAt updatedAt }
}";
const ACCOUNT: &str = "query($id: ID!) { account(id: $id) { id name domain industry employees createdAt } }";
const ACCOUNTS: &str = "query($first: Int, $after: String, $filter: AccountFilter) {
    accounts(first: $first, after: $after, filter: $filter) {
        edges { cursor node { id name domain } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";
const ACCOUNT_LEADS: &str = "query($id: ID!, $first: Int, $after: String, $filter: LeadFilter) {
    account(id: $id) {
        leads(first: $first, after: $after, filter: $filter) {
            edges { cursor node { id email createdAt account { id } } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
    }
}";

async fn create(app: &TestApp, user: &TestUser, input: Value) -> Value {
    app.data(user, CREATE, json!({ "input": input })).await["createAccount"].clone()
}

/// The names of the accounts matching `search`, in the order served.
async fn found(app: &TestApp, user: &TestUser, search: &str) -> Vec<String> {
    let data = app.data(user, ACCOUNTS, json!({ "first": 100, "filter": { "search": search } })).await;
    node_strings(&data["accounts"], "name")
}

#[tokio::test]
async fn a_new_account_has_a_trimmed_name_and_a_normalised_domain() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let input = json!({
        "name": "  Acme Corp  ",
        "domain": "https://www.Acme.com/x",
        "industry": "Manufacturing",
        "employees": 250,
    });
    let account = create(&app, &marketer, input).await;
    assert!(Uuid::parse_str(account["id"].as_str().unwrap_or_default()).is_ok(), "{account}");
    assert_eq!(account["name"], "Acme Corp");
    assert_eq!(account["domain"], "acme.com");
    assert_eq!(account["industry"], "Manufacturing");
    assert_eq!(account["employees"], 250);
    assert_eq!(account["owner"], Value::Null);
    assert_eq!(account["updatedAt"], account["createdAt"]);

    for (domain, normalised) in [
        ("HTTP://Sub.Example.ORG", "sub.example.org"),
        ("example.net/", "example.net"),
        ("www.initech.example/about/team", "initech.example"),
    ] {
        let account = create(&app, &marketer, json!({ "name": domain, "domain": domain })).await;
        assert_eq!(account["domain"], normalised, "{domain}");
    }
    let bare = create(&app, &marketer, json!({ "name": "No Web Presence" })).await;
    assert_eq!(bare["domain"], Value::Null);
    assert_eq!(bare["industry"], Value::Null);
    assert_eq!(bare["employees"], Value::Null);
}

#[tokio::test]
async fn an_account_is_found_by_id_and_an_unknown_one_is_null() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let created = create(&app, &marketer, json!({ "name": "Globex", "domain": "globex.example" })).await;
    let viewer = app.user(Role::Viewer).await;
    let data = app.data(&viewer, ACCOUNT, json!({ "id": created["id"] })).await;
    assert_eq!(
        data["account"],
        json!({
            "id": created["id"],
            "name": "Globex",
            "domain": "globex.example",
            "industry": null,
            "employees": null,
            "createdAt": created["createdAt"],
        })
    );
    let data = app.data(&viewer, ACCOUNT, json!({ "id": Uuid::now_v7().to_string() })).await;
    assert_eq!(data["account"], Value::Null);
    app.assert_bad_input(&viewer, ACCOUNT, json!({ "id": "globex" }), "id").await;
}

#[tokio::test]
async fn a_domain_already_in_use_is_duplicate_however_it_is_written() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    create(&app, &marketer, json!({ "name": "Acme", "domain": "acme.com" })).await;
    for domain in ["acme.com", "ACME.com", "https://www.acme.com/contact"] {
        let error = app.error(&marketer, CREATE, json!({ "input": { "name": "Acme again", "domain": domain } })).await;
        assert_eq!(error["extensions"]["code"], "DUPLICATE", "{domain}: {error}");
    }
    // Accounts without a domain never collide.
    create(&app, &marketer, json!({ "name": "Unknown One" })).await;
    create(&app, &marketer, json!({ "name": "Unknown Two" })).await;
    let data = app.data(&marketer, ACCOUNTS, json!({ "first": 100 })).await;
    assert_eq!(node_strings(&data["accounts"], "name"), ["Acme", "Unknown One", "Unknown Two"]);
}

#[tokio::test]
async fn invalid_account_input_is_bad_user_input_naming_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let cases = [
        ("name", json!({ "name": "" })),
        ("name", json!({ "name": "   " })),
        ("name", json!({ "name": "n".repeat(201) })),
        ("name", json!({ "name": "Acme\u{0}Corp" })),
        ("domain", json!({ "name": "Acme", "domain": "acme" })),
        ("domain", json!({ "name": "Acme", "domain": "acme .com" })),
        ("domain", json!({ "name": "Acme", "domain": "-acme.com" })),
        ("domain", json!({ "name": "Acme", "domain": "acme.com." })),
        ("domain", json!({ "name": "Acme", "domain": "acme_corp.com" })),
        ("domain", json!({ "name": "Acme", "domain": "https://" })),
        ("industry", json!({ "name": "Acme", "industry": "i".repeat(201) })),
        ("employees", json!({ "name": "Acme", "employees": -1 })),
    ];
    for (field, input) in cases {
        app.assert_bad_input(&marketer, CREATE, json!({ "input": input }), field).await;
    }
    let data = app.data(&marketer, ACCOUNTS, json!({ "first": 100 })).await;
    assert_eq!(data["accounts"]["edges"], json!([]));
}

#[tokio::test]
async fn accounts_are_listed_by_name_and_paged_to_the_end() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    // Created out of order, with two pairs of equal names (ties go by id, i.e. creation).
    let numbers = [7, 3, 12, 1, 19, 5, 5, 16, 10, 2, 14, 8, 20, 11, 4, 17, 9, 13, 6, 18, 15, 13];
    let mut expected = Vec::new();
    for number in numbers {
        let name = format!("Company {number:02}");
        let id = app.create_account(&marketer, &name, &format!("c{}.example", Uuid::now_v7().simple())).await;
        expected.push((name, id));
    }
    expected.sort();
    let viewer = app.user(Role::Viewer).await;
    let walked = app.walk(&viewer, ACCOUNTS, json!({}), &["accounts"], 5).await;
    let served: Vec<(String, String)> = walked
        .iter()
        .map(|a| (a["name"].as_str().unwrap_or_default().to_owned(), a["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(served, expected);
    // A page size that divides the list evenly still ends on a full page.
    assert_eq!(app.walk(&viewer, ACCOUNTS, json!({}), &["accounts"], 11).await.len(), 22);
}

#[tokio::test]
async fn account_paging_checks_its_size_and_cursor() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    app.create_lead(&marketer, "lead@example.com", json!({})).await;
    app.create_account(&marketer, "Acme", "acme.example").await;
    let leads = app.data(&marketer, "{ leads(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let lead_cursor = &leads["leads"]["pageInfo"]["endCursor"];
    for (variables, field) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "after": "garbage" }), "after"),
        (json!({ "after": lead_cursor }), "after"),
        (json!({ "filter": { "ownerId": "someone" } }), "ownerId"),
    ] {
        app.assert_bad_input(&marketer, ACCOUNTS, variables, field).await;
    }
}

#[tokio::test]
async fn accounts_can_be_searched_by_name_and_domain() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    for (name, domain) in [
        ("Acme Corp", "acme.example"),
        ("Globex", "globex.io"),
        ("Initech", "acme-partners.example"),
        ("Under_Score Ltd", "underscore.example"),
        ("100% Organic", "organic.example"),
    ] {
        app.create_account(&marketer, name, domain).await;
    }
    let viewer = app.user(Role::Viewer).await;
    assert_eq!(found(&app, &viewer, "ACME").await, ["Acme Corp", "Initech"]);
    assert_eq!(found(&app, &viewer, "globex.IO").await, ["Globex"]);
    assert_eq!(found(&app, &viewer, "partners").await, ["Initech"]);
    assert_eq!(found(&app, &viewer, "_").await, ["Under_Score Ltd"]);
    assert_eq!(found(&app, &viewer, "%").await, ["100% Organic"]);
    assert_eq!(found(&app, &viewer, "  organic  ").await, ["100% Organic"]);
    assert!(found(&app, &viewer, "hooli").await.is_empty());
    assert_eq!(found(&app, &viewer, "").await.len(), 5);
    app.assert_bad_input(&viewer, ACCOUNTS, json!({ "filter": { "search": "a\u{0}" } }), "search").await;
}

#[tokio::test]
async fn an_accounts_leads_are_paged_newest_first() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let acme = app.create_account(&marketer, "Acme", "acme.example").await;
    let globex = app.create_account(&marketer, "Globex", "globex.example").await;
    let mut expected = Vec::new();
    for i in 0..12 {
        expected
            .push(app.create_lead(&marketer, &format!("lead-{i:02}@acme.example"), json!({ "accountId": acme })).await);
        if i % 4 == 0 {
            app.create_lead(&marketer, &format!("lead-{i:02}@globex.example"), json!({ "accountId": globex })).await;
            app.create_lead(&marketer, &format!("lead-{i:02}@example.com"), json!({})).await;
        }
    }
    let walked = app.walk(&marketer, ACCOUNT_LEADS, json!({ "id": acme }), &["account", "leads"], 5).await;
    let served: Vec<&str> = walked.iter().filter_map(|lead| lead["id"].as_str()).collect();
    let mut newest_first: Vec<(DateTime<Utc>, &str)> =
        walked.iter().filter_map(|lead| Some((time(&lead["createdAt"]), lead["id"].as_str()?))).collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(served, newest_first.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    let mut sorted_served = served.clone();
    sorted_served.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted_served, expected, "exactly the account's leads");
    assert!(walked.iter().all(|lead| lead["account"]["id"] == acme.as_str()), "{walked:?}");

    // Other conditions apply on top of the account; the account condition cannot be widened.
    app.put_in_stage(&expected[0], Stage::Mql, None).await;
    let variables = json!({ "id": acme, "first": 100, "filter": { "stages": ["MQL"], "accountId": globex } });
    let data = app.data(&marketer, ACCOUNT_LEADS, variables).await;
    let ids: Vec<String> = node_strings(&data["account"]["leads"], "id");
    assert_eq!(ids, [expected[0].clone()]);
}

#[tokio::test]
async fn an_industry_filter_with_a_nul_byte_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    app.assert_bad_input(&viewer, ACCOUNTS, json!({ "filter": { "industry": "Soft\u{0}ware" } }), "industry").await;
}
