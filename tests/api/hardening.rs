//! Abusive requests: each is refused with a typed error, quickly, and the server keeps
//! serving ordinary requests afterwards.

use std::time::{Duration, Instant};

use baton::{config::LimitsConfig, startup::ServerOptions};
use entity::Role;
use reqwest::{RequestBuilder, header};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, test_limits};

/// What a client sees of one response.
struct Seen {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn send(request: RequestBuilder) -> Seen {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Seen { status, retry_after, body }
}

fn post(app: &TestApp, user: &TestUser, body: String) -> RequestBuilder {
    post_as(app, user, "application/json", body)
}

fn post_as(app: &TestApp, user: &TestUser, content_type: &str, body: String) -> RequestBuilder {
    app.client.post(app.url("/graphql")).bearer_auth(&user.token).header(header::CONTENT_TYPE, content_type).body(body)
}

fn query_body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

/// The first error's code of a response with no data.
fn request_error_code(seen: &Seen) -> String {
    assert!(seen.body.get("data").is_none(), "a refused request has no data: {}", seen.body);
    seen.body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {}", seen.body)).to_owned()
}

/// Sends `body` three times and asserts each is refused with `status` and `code`; returns
/// the fastest of the three round trips (robust on a loaded machine, where one try may stall).
async fn refused(app: &TestApp, user: &TestUser, body: &str, status: u16, code: &str) -> Duration {
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let seen = send(post(app, user, body.to_owned())).await;
        fastest = fastest.min(started.elapsed());
        assert_eq!(seen.status, status, "{}", seen.body);
        assert_eq!(request_error_code(&seen), code, "{}", seen.body);
    }
    fastest
}

/// The bound for a refusal: typically a few milliseconds, generous for a loaded debug build.
const QUICK: Duration = Duration::from_millis(200);

async fn still_serves(app: &TestApp, user: &TestUser) {
    let data = app.data(user, "{ me { email } }", json!({})).await;
    assert_eq!(data["me"]["email"], user.email.as_str());
}

/// Fragments that each spread the next one twice: 2^levels fields once expanded.
fn fragment_bomb(levels: usize) -> String {
    let mut document = String::from("query Bomb { me { ...F0 } }\n");
    for level in 0..levels {
        let next = level + 1;
        document.push_str(&format!("fragment F{level} on User {{ ...F{next} ...F{next} }}\n"));
    }
    document.push_str(&format!("fragment F{levels} on User {{ email }}\n"));
    document
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_before_validation() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let took = refused(&app, &user, &query_body(&fragment_bomb(30)), 400, "QUERY_TOO_COMPLEX").await;
    assert!(took < QUICK, "refusing a fragment bomb took {took:?}");
    eprintln!("fragment bomb (2^30 fields) refused in {took:?}");
    // Found by fuzzing: the same bomb ending in a fragment that does not exist.
    let unknown_leaf = fragment_bomb(30).replace("fragment F30 on User", "fragment Other on User");
    let took = refused(&app, &user, &query_body(&unknown_leaf), 400, "BAD_USER_INPUT").await;
    assert!(took < QUICK, "refusing a fragment bomb with an unknown leaf took {took:?}");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(
        metrics.lines().any(|l| l.starts_with("baton_graphql_refused_total{") && l.contains("QUERY_TOO_COMPLEX")),
        "{metrics}"
    );
    // The same shape, small enough, runs.
    let data = app.data(&user, &fragment_bomb(4), json!({})).await;
    assert_eq!(data["me"]["email"], user.email.as_str());
}

#[tokio::test]
async fn fragments_that_spread_each_other_in_a_cycle_are_bad_input() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let cycle = "{ me { ...A } } fragment A on User { email ...B } fragment B on User { role ...A }";
    refused(&app, &user, &query_body(cycle), 400, "BAD_USER_INPUT").await;
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn an_alias_flood_is_refused_quickly() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let aliases: String = (0..3000).map(|i| format!("a{i}: __typename ")).collect();
    let took = refused(&app, &user, &query_body(&format!("{{ me {{ {aliases} }} }}")), 400, "QUERY_TOO_COMPLEX").await;
    assert!(took < QUICK, "refusing 3000 aliases took {took:?}");
    eprintln!("alias flood (3000 aliases) refused in {took:?}");
    // Aliases through a fragment spread count once per spread.
    let fragment =
        format!("fragment T on User {{ {} }}", (0..30).map(|i| format!("t{i}: __typename ")).collect::<String>());
    refused(
        &app,
        &user,
        &query_body(&format!("{{ me {{ ...T }} again: me {{ ...T }} }} {fragment}")),
        400,
        "QUERY_TOO_COMPLEX",
    )
    .await;
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn too_many_root_fields_directives_or_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let roots: String = (0..21).map(|_| "__typename ").collect();
    let directives: String = (0..5).map(|_| "@include(if: true) ").collect();
    let tokens = format!("{{ me {{ email }} lead(id: \"x\", ignored: [{}]) {{ id }} }}", "1 ".repeat(20_000));
    let nested = format!("{{ lead(id: {}\"x\"{}) {{ id }} }}", "[".repeat(100), "]".repeat(100));
    for (case, query) in [
        ("21 root fields", format!("{{ {roots} }}")),
        ("5 directives on a field", format!("{{ me {{ email {directives} }} }}")),
        ("20,000 tokens", tokens),
        ("brackets 100 deep", nested),
        ("16 levels", format!("{{ me {}{} }}", "{ me ".repeat(15), "}".repeat(15))),
    ] {
        let took = refused(&app, &user, &query_body(&query), 400, "QUERY_TOO_COMPLEX").await;
        assert!(took < QUICK, "{case}: {took:?}");
        eprintln!("{case} refused in {took:?}");
    }
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn connection_fields_cost_their_page_size() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let nested = |first: u32| {
        format!(
            "{{ leads(first: {first}) {{ edges {{ node {{ id events(first: {first}) {{ edges {{ node {{ id kind occurredAt }} }} }} }} }} }} }}"
        )
    };
    // 10 x 10 events is cheap; 100 x 100 would read ten thousand events in one request.
    app.data(&user, &nested(10), json!({})).await;
    refused(&app, &user, &query_body(&nested(100)), 400, "QUERY_TOO_COMPLEX").await;
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn a_legacy_json_client_gets_the_refusal_with_200() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let seen = send(post(&app, &user, query_body(&fragment_bomb(30))).header(header::ACCEPT, "application/json")).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn the_standard_introspection_query_fits_the_limits() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let data = app.data(&user, INTROSPECTION, json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_typed_error() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = json!({ "query": "{ me { email } }", "variables": { "padding": padding } }).to_string();
    let started = Instant::now();
    let seen = send(post(&app, &user, body)).await;
    assert_eq!(seen.status, 413, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "BAD_USER_INPUT");
    assert_eq!(seen.body["errors"][0]["extensions"]["field"], "body");
    eprintln!("2 MiB body refused in {:?}", started.elapsed());
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn only_json_media_types_are_accepted_with_any_parameters() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let body = query_body("{ me { email } }");
    for content_type in
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]
    {
        let seen = send(post_as(&app, &user, content_type, body.clone())).await;
        assert_eq!(seen.status, 415, "{content_type}: {}", seen.body);
        assert_eq!(seen.body["errors"][0]["extensions"]["field"], "Content-Type", "{content_type}");
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/graphql-response+json",
        "application/graphql-response+json; charset=utf-8",
    ] {
        let seen = send(post_as(&app, &user, content_type, body.clone())).await;
        assert_eq!(seen.status, 200, "{content_type}: {}", seen.body);
        assert_eq!(seen.body["data"]["me"]["email"], user.email.as_str());
    }
}

#[tokio::test]
async fn batches_are_refused_unless_enabled_and_then_capped() {
    let batch =
        |n: usize| json!((0..n).map(|_| json!({ "query": "{ me { email } }" })).collect::<Vec<_>>()).to_string();
    let app = TestApp::spawn().await;
    let user = app.user(Role::Viewer).await;
    let seen = send(post(&app, &user, batch(2))).await;
    assert_eq!(seen.status, 400, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "BAD_USER_INPUT");

    let limits = LimitsConfig { max_batch: 3, ..test_limits() };
    let app = TestApp::spawn_serving(ServerOptions { graphiql: false, introspection: false }, limits).await;
    let user = app.user(Role::Viewer).await;
    let seen = send(post(&app, &user, batch(3))).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let expected = json!({ "data": { "me": { "email": user.email } } });
    assert_eq!(seen.body, json!([expected, expected, expected]));
    for n in [0, 4, 1000] {
        let seen = send(post(&app, &user, batch(n))).await;
        assert_eq!(seen.status, 400, "{n}: {}", seen.body);
        assert_eq!(request_error_code(&seen), "BAD_USER_INPUT");
    }
    // Each operation of a batch is checked on its own.
    let mixed = json!([{ "query": "{ me { email } }" }, { "query": fragment_bomb(30) }]).to_string();
    let seen = send(post(&app, &user, mixed)).await;
    assert_eq!(seen.body[0], expected);
    assert_eq!(seen.body[1]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{}", seen.body);
}

#[tokio::test]
async fn a_mutation_is_never_run_over_get() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    for (query, operation) in [
        ("mutation { createAccount(input: { name: \"Sneaky\" }) { id } }", None),
        ("query Q { me { email } } mutation M { createAccount(input: { name: \"Sneaky\" }) { id } }", Some("M")),
    ] {
        let mut params = vec![("query", query)];
        params.extend(operation.map(|name| ("operationName", name)));
        let request = app.client.get(app.url("/graphql")).bearer_auth(&marketer.token).query(&params);
        let seen = send(request).await;
        assert_eq!(seen.status, 405, "{}", seen.body);
        assert_eq!(request_error_code(&seen), "BAD_USER_INPUT");
    }
    let data = app.data(&marketer, "{ accounts { edges { node { id } } } }", json!({})).await;
    assert_eq!(data["accounts"]["edges"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_user_over_the_rate_limit_gets_429_with_retry_after() {
    let limits = LimitsConfig { rate_limit_per_minute: 60, rate_limit_burst: 5, ..test_limits() };
    let app = TestApp::spawn_serving(ServerOptions { graphiql: true, introspection: true }, limits).await;
    let (user, other) = (app.user(Role::Viewer).await, app.user(Role::Viewer).await);
    for _ in 0..5 {
        assert_eq!(send(post(&app, &user, query_body("{ me { email } }"))).await.status, 200);
    }
    let started = Instant::now();
    let seen = send(post(&app, &user, query_body("{ me { email } }"))).await;
    assert!(started.elapsed() < QUICK, "{:?}", started.elapsed());
    assert_eq!(seen.status, 429, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "RATE_LIMITED");
    let retry_after = seen.retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(seen.body["errors"][0]["extensions"]["retryAfter"], retry_after);
    // Another user has a bucket of their own, and a new token of the same user shares it.
    still_serves(&app, &other).await;
    let token = app.state.auth.issue(user.id, Duration::from_secs(60)).expect("token");
    let again = TestUser { token, ..user.clone() };
    assert_eq!(send(post(&app, &again, query_body("{ me { email } }"))).await.status, 429);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_limited_per_address() {
    let limits = LimitsConfig { anonymous_rate_limit_per_minute: 3, ..test_limits() };
    let app = TestApp::spawn_serving(ServerOptions { graphiql: true, introspection: true }, limits).await;
    let user = app.user(Role::Viewer).await;
    let guess = |token: &str| {
        app.client.post(app.url("/graphql")).bearer_auth(token).json(&json!({ "query": "{ me { email } }" }))
    };
    for attempt in 0..3 {
        let seen = send(guess(&format!("guess-{attempt}"))).await;
        assert_eq!(seen.status, 401, "{}", seen.body);
    }
    let seen = send(guess("guess-4")).await;
    assert_eq!(seen.status, 429, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "RATE_LIMITED");
    assert!(seen.retry_after.is_some());
    // A valid token is counted against its user, not the address.
    still_serves(&app, &user).await;
}

#[tokio::test]
async fn an_operation_past_the_execution_time_limit_gets_a_typed_error() {
    let limits = LimitsConfig { execution_timeout: Duration::from_millis(1), ..test_limits() };
    let app = TestApp::spawn_serving(ServerOptions { graphiql: true, introspection: true }, limits).await;
    let marketer = app.user(Role::Marketing).await;
    let rows: Vec<Value> =
        (0..1000).map(|i| json!({ "email": format!("slow-{i}@example.com"), "channel": "WEBINAR" })).collect();
    let import = "mutation($input: ImportLeadsInput!) { importLeads(input: $input) { createdCount } }";
    let body = json!({ "query": import, "variables": { "input": { "leads": rows } } }).to_string();
    let seen = send(post(&app, &marketer, body)).await;
    assert_eq!(seen.status, 503, "{}", seen.body);
    assert_eq!(request_error_code(&seen), "INTERNAL");
    assert_eq!(seen.body["errors"][0]["extensions"]["reason"], "TIMEOUT");
    // Whatever part of the abandoned import committed is whole: each lead with its event.
    let leads = entity::lead::Entity::find().count(&app.state.db).await.expect("count leads");
    let created = entity::lead_event::Entity::find()
        .filter(entity::lead_event::Column::Kind.eq(entity::LeadEventKind::Created))
        .count(&app.state.db)
        .await
        .expect("count events");
    assert_eq!(leads, created, "every committed lead has its CREATED event");
    // Still serving: an operation that needs no database finishes within even 1 ms, though
    // on a loaded machine not every time; every answer is typed either way.
    let mut served = false;
    for _ in 0..20 {
        let (status, body) = app.post(&marketer.token, "{ __typename }", json!({})).await;
        if body["data"]["__typename"] == "Query" {
            served = true;
            break;
        }
        assert_eq!((status, &body["errors"][0]["extensions"]["reason"]), (503, &json!("TIMEOUT")), "{body}");
    }
    assert!(served, "no operation finished within the limit after the timeout");
}

/// graphql-js's `getIntrospectionQuery()`, as GraphiQL sends it.
const INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name } } } } } } }
}";
