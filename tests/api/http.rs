//! The HTTP surface: health, metrics, GraphiQL, and GraphQL over HTTP's methods, media
//! types and status codes.

use entity::Role;
use reqwest::{Method, RequestBuilder, Response, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// What a client sees of one response.
struct Seen {
    status: u16,
    content_type: String,
    request_id: Option<String>,
    allow: Option<String>,
    text: String,
}

impl Seen {
    async fn of(response: Response) -> Self {
        let header =
            |name: header::HeaderName| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        let request_id = header(header::HeaderName::from_static("x-request-id"));
        let allow = header(header::ALLOW);
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        Self { status, content_type, request_id, allow, text }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts a GraphQL response with errors and no data, and returns its first error.
    fn request_error(&self) -> Value {
        let body = self.json();
        assert!(body["data"].is_null(), "a request error has no data: {body}");
        assert!(body["errors"][0]["message"].is_string(), "a request error says why: {body}");
        body["errors"][0].clone()
    }

    /// [`Self::request_error`]'s code.
    fn request_error_code(&self) -> String {
        let error = self.request_error();
        error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {error}")).to_owned()
    }
}

async fn send(request: RequestBuilder) -> Seen {
    Seen::of(request.send().await.expect("request")).await
}

/// A POST to /graphql with a token and a raw body.
fn post(app: &TestApp, user: &TestUser, content_type: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
    app.client.post(app.url("/graphql")).bearer_auth(&user.token).header(header::CONTENT_TYPE, content_type).body(body)
}

#[tokio::test]
async fn health_endpoints_answer_without_a_token() {
    let app = TestApp::spawn().await;
    let live = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(live.status, 200, "{}", live.text);
    let ready = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}

/// Sends `query` as a viewer, then reads the metrics page: what each answered.
async fn query_then_metrics(body: serde_json::Value) -> (Seen, Seen) {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let seen = send(app.client.post(app.url("/graphql")).bearer_auth(&viewer.token).json(&body)).await;
    let metrics = send(app.client.get(app.url("/metrics"))).await;
    (seen, metrics)
}

/// The `baton_graphql_requests_total` sample of `operation` in a metrics page.
fn requests_sample<'a>(metrics: &'a str, operation: &str) -> &'a str {
    let label = format!("operation=\"{operation}\"");
    metrics
        .lines()
        .find(|line| line.starts_with("baton_graphql_requests_total{") && line.contains(&label))
        .unwrap_or_else(|| panic!("no {operation} sample in\n{metrics}"))
}

#[tokio::test]
async fn metrics_are_prometheus_text_labelled_by_operation_name() {
    let query = "query DashboardLeads { leads(first: 5) { edges { node { id } } } }";
    let (seen, metrics) = query_then_metrics(json!({ "query": query, "operationName": "DashboardLeads" })).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"), "{}", metrics.content_type);
    assert!(metrics.text.contains("# TYPE baton_graphql_requests_total counter"), "{}", metrics.text);
    let sample = requests_sample(&metrics.text, "DashboardLeads");
    assert!(sample.contains("outcome=\"ok\""), "{sample}");
    let count: f64 = sample.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or_default();
    assert!(count >= 1.0, "{sample}");
}

#[tokio::test]
async fn a_named_operation_is_labelled_by_its_name_without_an_operation_name_field() {
    let query = "query UnlabelledDashboard { leads(first: 5) { edges { node { id } } } }";
    let (seen, metrics) = query_then_metrics(json!({ "query": query })).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    requests_sample(&metrics.text, "UnlabelledDashboard");
}

#[tokio::test]
async fn an_operation_that_answers_with_errors_is_counted_as_an_error() {
    let query = "query MisspeltDashboard { leads(first: 5) { edges { node { nickname } } } }";
    let (seen, metrics) = query_then_metrics(json!({ "query": query })).await;
    assert!(seen.text.contains("nickname"), "{}", seen.text);
    let sample = requests_sample(&metrics.text, "MisspeltDashboard");
    assert!(sample.contains("outcome=\"error\""), "{sample}");
}

#[tokio::test]
async fn a_query_can_be_sent_with_get() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let request = app.client.get(app.url("/graphql")).bearer_auth(&viewer.token).query(&[("query", "{me{email}}")]);
    let seen = send(request).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.json(), json!({ "data": { "me": { "email": viewer.email } } }));

    let variables = json!({ "id": uuid::Uuid::now_v7().to_string() }).to_string();
    let query = "query($id: ID!) { lead(id: $id) { id } }";
    let request = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&viewer.token)
        .query(&[("query", query), ("variables", variables.as_str())]);
    let seen = send(request).await;
    assert_eq!(seen.json(), json!({ "data": { "lead": null } }), "{}", seen.text);

    // Without a token, GET is as unauthenticated as POST.
    let seen = send(app.client.get(app.url("/graphql")).query(&[("query", "{me{email}}")])).await;
    assert_eq!(seen.status, 401, "{}", seen.text);
    assert_eq!(seen.request_error_code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_get_request_selects_its_operation_by_operation_name() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let document = "query Me { me { email } } mutation Create { createAccount(input: { name: \"X\" }) { id } }";
    let request = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&viewer.token)
        .query(&[("query", document), ("operationName", "Me")]);
    let seen = send(request).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.json(), json!({ "data": { "me": { "email": viewer.email } } }));
}

#[tokio::test]
async fn a_mutation_over_get_is_405_allowing_post() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let mutation = "mutation { createAccount(input: { name: \"Sneaky\" }) { id } }";
    let request = app.client.get(app.url("/graphql")).bearer_auth(&marketer.token).query(&[("query", mutation)]);
    let seen = send(request).await;
    assert_eq!(seen.status, 405, "{}", seen.text);
    assert_eq!(seen.allow.as_deref(), Some("POST"));
    seen.request_error();
    let data = app.data(&marketer, "{ accounts { edges { node { id } } } }", json!({})).await;
    assert_eq!(data["accounts"]["edges"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_by_content_type_and_400_by_content() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let query = json!({ "query": "{ me { email } }" }).to_string();

    let seen = send(post(&app, &viewer, "text/plain", query.clone())).await;
    assert_eq!(seen.status, 415, "{}", seen.text);
    assert_eq!(seen.request_error_code(), "BAD_USER_INPUT");
    let seen = send(app.client.post(app.url("/graphql")).bearer_auth(&viewer.token).body(query.clone())).await;
    assert_eq!(seen.status, 415, "no Content-Type: {}", seen.text);

    // Parameters and case do not matter.
    let seen = send(post(&app, &viewer, "Application/JSON; charset=utf-8", query)).await;
    assert_eq!(seen.status, 200, "{}", seen.text);

    for body in ["{ me { email } }", "", "{\"query\": ", "null", "42", "\"{ me { email } }\""] {
        let seen = send(post(&app, &viewer, "application/json", body)).await;
        assert_eq!(seen.status, 400, "{body:?}: {}", seen.text);
        assert_eq!(seen.request_error_code(), "BAD_USER_INPUT", "{body:?}");
    }
}

#[tokio::test]
async fn a_batch_is_400() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let batch = json!([{ "query": "{ me { email } }" }, { "query": "{ me { role } }" }]).to_string();
    let seen = send(post(&app, &viewer, "application/json", batch)).await;
    assert_eq!(seen.status, 400, "{}", seen.text);
    assert_eq!(seen.request_error_code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_request_error_is_400_for_graphql_response_json_and_200_for_json() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    for query in ["{ me { email }", "{ me { noSuchField } }", "query($id: ID) { me { email } }", "{ lead { id } }"] {
        let body = json!({ "query": query }).to_string();
        let modern =
            send(post(&app, &viewer, "application/json", body.clone()).header(header::ACCEPT, GRAPHQL_RESPONSE_JSON))
                .await;
        assert_eq!(modern.status, 400, "{query}: {}", modern.text);
        assert!(modern.content_type.starts_with(GRAPHQL_RESPONSE_JSON), "{}", modern.content_type);
        modern.request_error();

        let legacy =
            send(post(&app, &viewer, "application/json", body).header(header::ACCEPT, "application/json")).await;
        assert_eq!(legacy.status, 200, "{query}: {}", legacy.text);
        assert!(legacy.content_type.starts_with("application/json"), "{}", legacy.content_type);
        legacy.request_error();
    }
}

#[tokio::test]
async fn a_request_error_has_no_data_entry_at_all() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let body = json!({ "query": "{ me { email }" }).to_string();
    let seen = send(post(&app, &viewer, "application/json", body)).await;
    assert_eq!(seen.status, 400, "{}", seen.text);
    let body = seen.json();
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test]
async fn a_failed_nullable_field_is_null_in_the_data() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let body = app.post(&viewer.token, "{ me { email } lead(id: \"not-a-uuid\") { id } }", json!({})).await.1;
    assert_eq!(body["data"], json!({ "me": { "email": viewer.email }, "lead": null }), "{body}");
    // Alone, its null still sits in a `data` object.
    let body = app.post(&viewer.token, "{ found: lead(id: \"not-a-uuid\") { id } }", json!({})).await.1;
    assert_eq!(body["data"], json!({ "found": null }), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["found"]), "{body}");
}

#[tokio::test]
async fn a_failed_non_null_field_nulls_its_parent_up_to_data() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    // `leads` is non-null: its failure takes `data` with it, `me` included.
    let query = "{ me { email } leads(first: 5, after: \"not-a-cursor\") { edges { node { id } } } }";
    let body = app.post(&viewer.token, query, json!({})).await.1;
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["leads"]), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn a_missing_required_variable_is_a_request_error() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let query = "query($id: ID!) { lead(id: $id) { id } }";
    for body in [json!({ "query": query }), json!({ "query": query, "variables": { "id": null } })] {
        for (accept, status) in [(GRAPHQL_RESPONSE_JSON, 400), ("application/json", 200)] {
            let seen =
                send(post(&app, &viewer, "application/json", body.to_string()).header(header::ACCEPT, accept)).await;
            assert_eq!(seen.status, status, "{accept}: {}", seen.text);
            assert!(seen.json().get("data").is_none(), "{accept}: {}", seen.text);
            assert_eq!(seen.request_error_code(), "BAD_USER_INPUT", "{accept}: {}", seen.text);
        }
    }
    // A default stands in for a variable left out.
    let body = json!({ "query": "query($first: Int! = 5) { leads(first: $first) { edges { node { id } } } }" });
    let seen = send(post(&app, &viewer, "application/json", body.to_string())).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert!(seen.json()["data"]["leads"]["edges"].is_array(), "{}", seen.text);
}

#[tokio::test]
async fn a_field_error_is_200_with_partial_data_in_either_media_type() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let body = json!({ "query": "{ me { email } lead(id: \"not-a-uuid\") { id } }" }).to_string();
    for accept in [GRAPHQL_RESPONSE_JSON, "application/json"] {
        let seen = send(post(&app, &viewer, "application/json", body.clone()).header(header::ACCEPT, accept)).await;
        assert_eq!(seen.status, 200, "{accept}: {}", seen.text);
        let body = seen.json();
        assert_eq!(body["data"]["me"], json!({ "email": viewer.email }));
        assert!(body["data"]["lead"].is_null(), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["path"], json!(["lead"]));
    }
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let padding = "x".repeat(1024 * 1024);
    let body = json!({ "query": "{ me { email } }", "variables": { "padding": padding } }).to_string();
    let seen = send(post(&app, &viewer, "application/json", body)).await;
    assert_eq!(seen.status, 413);
    // Just under the limit is fine.
    let padding = "x".repeat(1024 * 1024 - 100);
    let body = json!({ "query": "{ me { email } }", "variables": { "padding": padding } }).to_string();
    let seen = send(post(&app, &viewer, "application/json", body)).await;
    assert_eq!(seen.status, 200, "{}", seen.text.get(..500).unwrap_or(&seen.text));
}

#[tokio::test]
async fn graphiql_is_served_at_the_root() {
    let app = TestApp::spawn().await;
    let seen = send(app.client.get(app.url("/"))).await;
    assert_eq!(seen.status, 200);
    assert!(seen.content_type.starts_with("text/html"), "{}", seen.content_type);
    assert!(seen.text.to_lowercase().contains("graphiql"), "{}", seen.text);
    assert!(seen.text.contains("/graphql"), "{}", seen.text);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_none_is_500_or_leaks_sql() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let json_body = |query: &str, variables: Value| json!({ "query": query, "variables": variables }).to_string();
    let leads = "query($filter: LeadFilter, $after: String) { leads(filter: $filter, after: $after) { edges { node { id } } } }";
    let accounts = "query($filter: AccountFilter) { accounts(filter: $filter) { edges { node { id } } } }";
    let create = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
    let odd_inputs = [
        json_body(leads, json!({ "filter": { "search": "'; DROP TABLE lead; --" } })),
        json_body(leads, json!({ "filter": { "search": "\u{0}" } })),
        json_body(leads, json!({ "filter": { "search": "x".repeat(10_000) } })),
        json_body(leads, json!({ "filter": { "createdFrom": "yesterday" } })),
        json_body(leads, json!({ "filter": { "ownerId": "' OR 1=1 --" } })),
        json_body(leads, json!({ "after": "eyJ9" })),
        json_body(accounts, json!({ "filter": { "search": "\\%_'\"" } })),
        json_body(accounts, json!({ "filter": { "industry": "'; SELECT 1; --" } })),
        json_body(create, json!({ "input": { "email": "a@b.example", "channel": "NOPE" } })),
        json_body(create, json!({ "input": { "email": "a@b.example", "channel": "EMAIL", "title": "\u{0}" } })),
        json_body(create, json!({ "input": { "email": "a@b.example", "channel": "EMAIL" } })),
        json_body(create, json!({ "input": { "email": "A@B.example", "channel": "EMAIL" } })),
        json_body("{ __typename }", json!(null)),
        json_body("{ lead(id: \"00000000-0000-0000-0000-000000000000\") { id } }", json!({})),
    ];
    let mut seen = Vec::new();
    for body in odd_inputs {
        seen.push((body.clone(), send(post(&app, &marketer, "application/json", body)).await));
    }
    for (label, request) in [
        ("healthz", app.client.get(app.url("/healthz"))),
        ("readyz", app.client.get(app.url("/readyz"))),
        ("metrics", app.client.get(app.url("/metrics"))),
        ("graphiql", app.client.get(app.url("/"))),
        ("unknown path", app.client.get(app.url("/no-such-page"))),
        ("no token", app.client.post(app.url("/graphql")).json(&json!({ "query": "{ me { email } }" }))),
        (
            "bad token",
            app.client.post(app.url("/graphql")).bearer_auth("x.y.z").json(&json!({ "query": "{ __typename }" })),
        ),
        ("text/plain", post(&app, &marketer, "text/plain", "{}")),
        ("batch", post(&app, &marketer, "application/json", "[]")),
        ("DELETE", app.client.request(Method::DELETE, app.url("/graphql")).bearer_auth(&marketer.token)),
        ("GET mutation", app.client.get(app.url("/graphql")).query(&[("query", "mutation { __typename }")])),
        ("GET no query", app.client.get(app.url("/graphql")).bearer_auth(&marketer.token)),
        ("too large", post(&app, &marketer, "application/json", "x".repeat(1024 * 1024 + 1))),
    ] {
        seen.push((label.to_owned(), send(request).await));
    }

    let mut ids = std::collections::HashSet::new();
    for (label, response) in &seen {
        assert!(response.status < 500, "{label}: {} {}", response.status, response.text);
        let id = response.request_id.clone().unwrap_or_else(|| panic!("{label}: no x-request-id"));
        assert!(ids.insert(id), "{label}: request ids are unique");
        let text = response.text.to_lowercase();
        for needle in ["select ", "insert ", "sqlx", "sqlite", "postgres", "syntax error at", "constraint", "violates"]
        {
            assert!(!text.contains(needle), "{label}: {needle:?} in {}", response.text);
        }
        if let Ok(body) = serde_json::from_str::<Value>(&response.text) {
            for error in body["errors"].as_array().into_iter().flatten() {
                assert_ne!(error["extensions"]["code"], "INTERNAL", "{label}: {error}");
            }
        }
    }

    // A request id the client sends is kept.
    let request = app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-42");
    assert_eq!(send(request).await.request_id.as_deref(), Some("trace-me-42"));
}
