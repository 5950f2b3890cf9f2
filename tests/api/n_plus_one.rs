//! A page of leads costs a fixed number of SQL statements however many leads it holds:
//! owners and accounts are loaded in one batch each, not once per lead (on PostgreSQL the
//! accounts join the page's statement).

use entity::{Role, Stage, lead};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser};

const PAGE: &str = "query($first: Int) {
    leads(first: $first) { edges { node { id email account { name } owner { name } } } }
}";
const ACCOUNT_PAGE: &str = "query($id: ID!, $first: Int) {
    account(id: $id) { name leads(first: $first) { edges { node { id owner { name } } } } }
}";

/// Statements one request costs, and its data.
async fn cost(app: &TestApp, user: &TestUser, query: &str, variables: Value) -> (u64, Value) {
    let before = app.statements();
    let data = app.data(user, query, variables).await;
    (app.statements() - before, data)
}

/// `count` leads spread over `accounts` and owned in turn by `owners` (every fourth unowned).
async fn leads(app: &TestApp, marketer: &TestUser, accounts: &[String], owners: &[Uuid], count: usize) -> Vec<Uuid> {
    let rows: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "email": format!("lead-{i:03}@example.com"),
                "channel": "EVENT",
                "accountId": accounts[i % accounts.len()],
            })
        })
        .collect();
    let query = "mutation($input: ImportLeadsInput!) { importLeads(input: $input) { createdCount created { id } } }";
    let data = app.data(marketer, query, json!({ "input": { "leads": rows } })).await;
    assert_eq!(data["importLeads"]["createdCount"], count);
    let ids: Vec<Uuid> = data["importLeads"]["created"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|lead| lead["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()))
        .collect();
    for (n, owner) in owners.iter().enumerate() {
        let owned = ids.iter().enumerate().filter(|(i, _)| i % 4 != 3 && i % owners.len() == n).map(|(_, id)| *id);
        lead::Entity::update_many()
            .col_expr(lead::Column::OwnerId, Expr::value(*owner))
            .col_expr(lead::Column::Stage, Expr::value(Stage::Sal))
            .filter(lead::Column::Id.is_in(owned))
            .exec(&app.state.db)
            .await
            .expect("assign owners");
    }
    ids
}

async fn accounts(app: &TestApp, marketer: &TestUser, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(app.create_account(marketer, &format!("Account {i}"), &format!("account-{i}.example")).await);
    }
    ids
}

async fn reps(app: &TestApp, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(app.user(Role::SalesRep).await.id);
    }
    ids
}

/// Ten accounts, five reps, a hundred leads; and a manager, who sees them all.
async fn hundred_leads() -> (TestApp, TestUser) {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let accounts = accounts(&app, &marketer, 10).await;
    let owners = reps(&app, 5).await;
    leads(&app, &marketer, &accounts, &owners, 100).await;
    let manager = app.user(Role::SalesManager).await;
    (app, manager)
}

/// Checks a page of `first` leads and returns what it cost.
async fn page_cost(app: &TestApp, manager: &TestUser, first: usize) -> u64 {
    let (statements, data) = cost(app, manager, PAGE, json!({ "first": first })).await;
    let edges = data["leads"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), first);
    for edge in &edges {
        // lead-NNN belongs to "Account {NNN mod 10}".
        let email = edge["node"]["email"].as_str().unwrap_or_default();
        let number: usize = email.trim_start_matches("lead-").trim_end_matches("@example.com").parse().expect("n");
        assert_eq!(edge["node"]["account"]["name"], format!("Account {}", number % 10), "{email}");
    }
    let owned = edges.iter().filter(|e| e["node"]["owner"]["name"].is_string()).count();
    assert!(owned * 2 > first, "most leads have an owner: {owned} of {first}");
    statements
}

/// The statements a page with accounts and owners costs at most: the page, its accounts
/// (joined into the page on PostgreSQL), its owners, and the token's user unless it was
/// read within the last second.
fn page_statements(app: &TestApp) -> u64 {
    if app.state.db.get_database_backend() == sea_orm::DbBackend::Postgres { 3 } else { 4 }
}

#[tokio::test]
async fn a_page_of_up_to_30_leads_with_accounts_and_owners_costs_the_same_few_statements() {
    let (app, manager) = hundred_leads().await;
    let most = page_statements(&app);
    for first in [10, 20, 30] {
        let statements = page_cost(&app, &manager, first).await;
        assert!((most - 1..=most).contains(&statements), "a page of {first}: {statements} statements");
    }
}

#[tokio::test]
async fn a_page_of_100_leads_costs_no_more_statements_than_a_page_of_20() {
    let (app, manager) = hundred_leads().await;
    let most = page_statements(&app);
    let small = page_cost(&app, &manager, 20).await;
    let large = page_cost(&app, &manager, 100).await;
    assert!(small <= most, "statements for 20 leads: {small}");
    assert!(large <= most, "statements for 100 leads: {large}");
}

#[tokio::test]
async fn a_page_with_accounts_reads_null_for_leads_without_one_and_pages_on() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let accounts = accounts(&app, &marketer, 2).await;
    let rows: Vec<Value> = (0..9)
        .map(|i| match i % 3 {
            2 => json!({ "email": format!("lead-{i}@example.com"), "channel": "EVENT" }),
            n => json!({ "email": format!("lead-{i}@example.com"), "channel": "EVENT", "accountId": accounts[n] }),
        })
        .collect();
    let import = "mutation($input: ImportLeadsInput!) { importLeads(input: $input) { createdCount } }";
    app.data(&marketer, import, json!({ "input": { "leads": rows } })).await;
    let query =
        "query($after: String) { leads(first: 4, after: $after, orderBy: { field: CREATED_AT, direction: ASC }) {
        edges { cursor node { email account { name } } } pageInfo { hasNextPage endCursor } } }";

    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let data = app.data(&marketer, query, json!({ "after": after })).await;
        let connection = &data["leads"];
        for edge in connection["edges"].as_array().into_iter().flatten() {
            seen.push((edge["node"]["email"].clone(), edge["node"]["account"].clone()));
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    // Leads imported together may share a creation time; every one is seen once whatever their order.
    seen.sort_by_key(|(email, _)| email.as_str().map(str::to_owned));
    let expected: Vec<(Value, Value)> = (0..9)
        .map(|i| {
            let account = match i % 3 {
                2 => Value::Null,
                n => json!({ "name": format!("Account {n}") }),
            };
            (json!(format!("lead-{i}@example.com")), account)
        })
        .collect();
    assert_eq!(seen, expected);
}

async fn account_page_cost(first: usize) -> u64 {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let accounts = accounts(&app, &marketer, 2).await;
    let owners = reps(&app, 6).await;
    leads(&app, &marketer, &accounts, &owners, 2 * first + 10).await;
    let manager = app.user(Role::SalesManager).await;
    let (statements, data) = cost(&app, &manager, ACCOUNT_PAGE, json!({ "id": accounts[0], "first": first })).await;
    let edges = data["account"]["leads"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), first);
    let owned = edges.iter().filter(|e| e["node"]["owner"]["name"].is_string()).count();
    assert!(owned * 2 > first, "most leads have an owner: {owned} of {first}");
    statements
}

#[tokio::test]
async fn an_accounts_page_of_20_leads_with_owners_costs_at_most_four_statements() {
    // The token's user, the account, its leads, their owners.
    let statements = account_page_cost(20).await;
    assert!(statements <= 4, "{statements} statements");
}

#[tokio::test]
async fn an_accounts_page_of_50_leads_with_owners_costs_at_most_four_statements() {
    let statements = account_page_cost(50).await;
    assert!(statements <= 4, "{statements} statements");
}

#[tokio::test]
async fn a_lead_with_its_account_and_owner_is_read_in_one_statement() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let accounts = accounts(&app, &marketer, 1).await;
    let owners = reps(&app, 1).await;
    let ids = leads(&app, &marketer, &accounts, &owners, 1).await;
    let manager = app.user(Role::SalesManager).await;
    let query = "query($id: ID!) { lead(id: $id) { email account { name } owner { id } } }";
    let variables = json!({ "id": ids[0] });
    // The first request also reads the token's user, which is then trusted for a second.
    app.data(&manager, query, variables.clone()).await;
    let (statements, data) = cost(&app, &manager, query, variables.clone()).await;
    assert_eq!(data["lead"]["account"]["name"], "Account 0");
    assert_eq!(data["lead"]["owner"]["id"], owners[0].to_string());
    assert!(statements <= 1, "{statements} statements");

    // Read this way, a lead stays as hidden as it is read any other way.
    let other_rep = app.user(Role::SalesRep).await;
    assert_eq!(app.data(&other_rep, query, variables).await["lead"], Value::Null);
}
