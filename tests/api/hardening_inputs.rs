//! Input validation at the edge: every bad value of every mutation input and filter is
//! `BAD_USER_INPUT` naming its field; random inputs never get `INTERNAL` or a 500; the
//! fuzz target's committed findings stay fixed.

use entity::Role;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

const CREATE_ACCOUNT: &str = "mutation($input: CreateAccountInput!) { createAccount(input: $input) { id } }";
const CREATE_LEAD: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
const IMPORT: &str = "mutation($input: ImportLeadsInput!) { importLeads(input: $input) { createdCount } }";
const TOUCHPOINT: &str = "mutation($input: RecordTouchpointInput!) { recordTouchpoint(input: $input) { id } }";
const LEADS: &str = "query($first: Int, $after: String, $filter: LeadFilter) {
    leads(first: $first, after: $after, filter: $filter) { edges { node { id } } } }";
const ACCOUNTS: &str = "query($first: Int, $filter: AccountFilter) {
    accounts(first: $first, filter: $filter) { edges { node { id } } } }";

fn mutation(name: &str) -> String {
    let mut chars = name.chars();
    let input: String = chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect();
    format!("mutation($input: {input}Input!) {{ {name}(input: $input) {{ id }} }}")
}

/// `base` with `key` set to `value`.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut input = base.clone();
    input[key] = value;
    input
}

async fn lead_in_sal(app: &TestApp, admin: &TestUser, rep: &TestUser) -> String {
    let lead = app.create_lead(admin, &format!("sal-{}@example.com", uuid::Uuid::now_v7().simple()), json!({})).await;
    app.moved(admin, "qualifyLead", json!({ "leadId": lead })).await;
    app.moved(admin, "acceptLead", json!({ "leadId": lead, "ownerId": rep.id.to_string() })).await;
    lead
}

#[tokio::test]
async fn every_bad_mutation_input_names_its_field() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let lead = lead_in_sal(&app, &admin, &rep).await;
    let huge = "x".repeat(100_000);
    let account = json!({ "name": "Acme" });
    let new_lead = json!({ "email": "ok@example.com", "channel": "EMAIL" });
    let touch = json!({ "leadId": lead, "kind": "CALL" });
    let convert = json!({ "leadId": lead, "dealValue": { "amount": "100", "currencyCode": "USD" } });
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("account name empty", CREATE_ACCOUNT.into(), with(&account, "name", json!("  ")), "name"),
        ("account name NUL", CREATE_ACCOUNT.into(), with(&account, "name", json!("Ac\u{0}me")), "name"),
        ("account name huge", CREATE_ACCOUNT.into(), with(&account, "name", json!(huge)), "name"),
        ("account domain odd", CREATE_ACCOUNT.into(), with(&account, "domain", json!("not a domain")), "domain"),
        ("account industry NUL", CREATE_ACCOUNT.into(), with(&account, "industry", json!("\u{0}")), "industry"),
        ("account employees < 0", CREATE_ACCOUNT.into(), with(&account, "employees", json!(-1)), "employees"),
        (
            "account employees > Int",
            CREATE_ACCOUNT.into(),
            with(&account, "employees", json!(1_u64 << 40)),
            "employees",
        ),
        ("lead email", CREATE_LEAD.into(), with(&new_lead, "email", json!("no-at-sign")), "email"),
        ("lead email NUL", CREATE_LEAD.into(), with(&new_lead, "email", json!("a\u{0}@b.example")), "email"),
        ("lead email huge", CREATE_LEAD.into(), with(&new_lead, "email", json!(format!("{huge}@b.example"))), "email"),
        ("lead first name", CREATE_LEAD.into(), with(&new_lead, "firstName", json!(huge)), "firstName"),
        ("lead last name NUL", CREATE_LEAD.into(), with(&new_lead, "lastName", json!("\u{0}")), "lastName"),
        ("lead title", CREATE_LEAD.into(), with(&new_lead, "title", json!("a\u{7}b")), "title"),
        ("lead channel", CREATE_LEAD.into(), with(&new_lead, "channel", json!("CARRIER_PIGEON")), "channel"),
        ("lead account id", CREATE_LEAD.into(), with(&new_lead, "accountId", json!("not-a-uuid")), "accountId"),
        ("lead campaign id", CREATE_LEAD.into(), with(&new_lead, "campaignId", json!("\u{0}")), "campaignId"),
        (
            "import too many rows",
            IMPORT.into(),
            json!({ "leads": (0..1001).map(|i| json!({ "email": format!("r{i}@example.com"), "channel": "EMAIL" })).collect::<Vec<_>>() }),
            "leads",
        ),
        ("touchpoint lead id", TOUCHPOINT.into(), with(&touch, "leadId", json!("nope")), "leadId"),
        ("touchpoint kind", TOUCHPOINT.into(), with(&touch, "kind", json!("SMOKE_SIGNAL")), "kind"),
        ("touchpoint time", TOUCHPOINT.into(), with(&touch, "occurredAt", json!("yesterday")), "occurredAt"),
        ("touchpoint campaign", TOUCHPOINT.into(), with(&touch, "campaignId", json!("x")), "campaignId"),
        ("qualify lead id", mutation("qualifyLead"), json!({ "leadId": "\u{0}" }), "leadId"),
        (
            "qualify key huge",
            mutation("qualifyLead"),
            json!({ "leadId": lead, "idempotencyKey": huge }),
            "idempotencyKey",
        ),
        (
            "qualify key NUL",
            mutation("qualifyLead"),
            json!({ "leadId": lead, "idempotencyKey": "a\u{0}" }),
            "idempotencyKey",
        ),
        ("accept owner id", mutation("acceptLead"), json!({ "leadId": lead, "ownerId": "x" }), "ownerId"),
        (
            "return reason",
            mutation("returnToMarketing"),
            json!({ "leadId": lead, "reasonCode": "BECAUSE" }),
            "reasonCode",
        ),
        (
            "return note huge",
            mutation("returnToMarketing"),
            json!({ "leadId": lead, "reasonCode": "BAD_TIMING", "note": huge }),
            "note",
        ),
        (
            "disqualify note NUL",
            mutation("disqualifyLead"),
            json!({ "leadId": lead, "reasonCode": "NOT_A_FIT", "note": "\u{0}" }),
            "note",
        ),
        (
            "convert amount",
            mutation("convertToSql"),
            with(&convert, "dealValue", json!({ "amount": "lots", "currencyCode": "USD" })),
            "dealValue",
        ),
        (
            "convert negative",
            mutation("convertToSql"),
            with(&convert, "dealValue", json!({ "amount": "-5", "currencyCode": "USD" })),
            "dealValue",
        ),
        (
            "convert huge",
            mutation("convertToSql"),
            with(&convert, "dealValue", json!({ "amount": "1e30", "currencyCode": "USD" })),
            "dealValue",
        ),
        (
            "convert currency",
            mutation("convertToSql"),
            with(&convert, "dealValue", json!({ "amount": "5", "currencyCode": "usd\u{0}" })),
            "dealValue",
        ),
        ("convert budget", mutation("convertToSql"), with(&convert, "budget", json!(huge)), "budget"),
        (
            "close won amount",
            mutation("closeWon"),
            json!({ "leadId": lead, "amount": { "amount": "0.001", "currencyCode": "USD" } }),
            "amount",
        ),
        ("close lost reason", mutation("closeLost"), json!({ "leadId": lead, "reasonCode": "\u{0}" }), "reasonCode"),
        ("assign owner", mutation("assignLead"), json!({ "leadId": lead, "ownerId": "0" }), "ownerId"),
    ];
    let mut wrong = Vec::new();
    for (case, query, input, field) in cases {
        let (_, body) = app.post(&admin.token, &query, json!({ "input": input })).await;
        let error = &body["errors"][0]["extensions"];
        if !names(error, field) {
            wrong.push(format!(
                "{case}: expected {field}, got {}",
                body.to_string().chars().take(400).collect::<String>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing was half-created along the way, and the lead is untouched.
    let snapshot = app.snapshot(&lead).await;
    assert_eq!(snapshot["stage"], "SAL");
    assert_eq!(snapshot["version"], 3);
}

#[tokio::test]
async fn every_bad_filter_or_page_size_names_its_field() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let huge = "x".repeat(100_000);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("leads first -1", LEADS, json!({ "first": -1 }), "first"),
        ("leads first 101", LEADS, json!({ "first": 101 }), "first"),
        ("leads first beyond Int", LEADS, json!({ "first": 1_u64 << 40 }), "first"),
        ("leads first float", LEADS, json!({ "first": 2.5 }), "first"),
        ("leads after", LEADS, json!({ "after": "not a cursor" }), "after"),
        ("leads search NUL", LEADS, json!({ "filter": { "search": "\u{0}" } }), "search"),
        ("leads search huge", LEADS, json!({ "filter": { "search": huge } }), "search"),
        ("leads owner", LEADS, json!({ "filter": { "ownerId": "' OR 1=1" } }), "ownerId"),
        ("leads stage", LEADS, json!({ "filter": { "stages": ["LIMBO"] } }), "stages"),
        ("leads created from", LEADS, json!({ "filter": { "createdFrom": "2024-13-45" } }), "createdFrom"),
        ("accounts first", ACCOUNTS, json!({ "first": 1000 }), "first"),
        ("accounts search NUL", ACCOUNTS, json!({ "filter": { "search": "a\u{0}" } }), "search"),
        ("accounts owner", ACCOUNTS, json!({ "filter": { "ownerId": "x" } }), "ownerId"),
    ];
    let mut wrong = Vec::new();
    for (case, query, variables, field) in cases {
        let (_, body) = app.post(&viewer.token, query, variables).await;
        let error = &body["errors"][0]["extensions"];
        if !names(error, field) {
            wrong.push(format!(
                "{case}: expected {field}, got {}",
                body.to_string().chars().take(400).collect::<String>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Whether `error` is BAD_USER_INPUT naming `field` (or a part of it, as `dealValue.amount`).
fn names(error: &Value, field: &str) -> bool {
    let named = error["field"].as_str().unwrap_or_default();
    error["code"] == "BAD_USER_INPUT" && (named == field || named.starts_with(&format!("{field}.")))
}

/// Text a client might send: ordinary, unicode, control characters and NUL, or huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .@_-]{0,40}",
        "\\PC{0,40}",
        any::<String>(),
        ("[a-z]{1,8}", 1000..20_000_usize).prop_map(|(s, n)| s.repeat(n / s.len().max(1))),
        Just("\u{0}".to_owned()),
        Just("a@b.example\u{0}".to_owned()),
    ]
}

/// A number a client might send, within JSON's range or beyond GraphQL's `Int`.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        (-5..200_i32).prop_map(|n| json!(n)),
    ]
}

/// A value of any JSON kind, for fields that expect one kind.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![text().prop_map(Value::String), number(), Just(Value::Null), Just(json!(true)), Just(json!([]))]
}

/// One random operation: a mutation input or a filter, some fields random.
fn operation() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        (text(), value(), value(), number())
            .prop_map(|(name, domain, industry, employees)| (
                CREATE_ACCOUNT,
                json!({ "input": { "name": name, "domain": domain, "industry": industry, "employees": employees } })
            )),
        (text(), value(), value(), value()).prop_map(|(email, first, title, channel)| (
            CREATE_LEAD,
            json!({ "input": { "email": email, "firstName": first, "title": title, "channel": channel } })
        )),
        (text(), value(), value()).prop_map(|(lead, kind, at)| (
            TOUCHPOINT,
            json!({ "input": { "leadId": lead, "kind": kind, "occurredAt": at } })
        )),
        (value(), value(), text()).prop_map(|(amount, currency, key)| (
            "mutation($input: ConvertToSqlInput!) { convertToSql(input: $input) { id } }",
            json!({ "input": { "leadId": uuid::Uuid::now_v7().to_string(), "dealValue": { "amount": amount, "currencyCode": currency }, "idempotencyKey": key } })
        )),
        (text(), value(), number()).prop_map(|(reason, note, version)| (
            "mutation($input: ReturnToMarketingInput!) { returnToMarketing(input: $input) { id } }",
            json!({ "input": { "leadId": uuid::Uuid::now_v7().to_string(), "reasonCode": reason, "note": note, "expectedVersion": version } })
        )),
        (number(), value(), text()).prop_map(|(first, after, search)| (
            LEADS,
            json!({ "first": first, "after": after, "filter": { "search": search } })
        )),
    ]
}

const CODES: [&str; 10] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "INVALID_TRANSITION",
    "CONFLICT",
    "DUPLICATE",
    "IDEMPOTENCY_KEY_REUSED",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
];

#[test]
fn random_inputs_get_data_or_a_typed_error_and_never_internal() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (app, admin) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let admin = app.user(Role::Admin).await;
        (app, admin)
    });
    let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |((query, variables) in operation())| {
        let (status, body) = runtime.block_on(async {
            let response = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(&admin.token)
                .header("accept", "application/json")
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON body"))
        });
        prop_assert_eq!(status, 200, "{}", body);
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        prop_assert!(!body["data"].is_null() || !errors.is_empty(), "{}", body);
        for error in errors {
            let code = error["extensions"]["code"].as_str().unwrap_or_default();
            prop_assert!(CODES.contains(&code), "{} for {}", error, variables);
            if code == "BAD_USER_INPUT" {
                prop_assert!(error["extensions"]["field"].is_string(), "no field: {} for {}", error, variables);
            }
        }
    });
    // The server still serves.
    runtime.block_on(async {
        let data = app.data(&admin, "{ me { email } }", json!({})).await;
        assert_eq!(data["me"]["email"], admin.email.as_str());
    });
}

#[tokio::test]
async fn the_fuzz_targets_findings_stay_fixed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = baton::http::probe::Probe::start(dir.path()).await.expect("probe");
    let corpus = format!("{}/fuzz/regressions/graphql_request", env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for entry in std::fs::read_dir(&corpus).expect("regressions") {
        let path = entry.expect("entry").path();
        let input = std::fs::read(&path).expect("read");
        if let Err(finding) = probe.send(&baton::http::probe::Probe::body_for(&input)).await {
            panic!("{}: {finding}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed >= 10, "only {replayed} regressions in {corpus}");
}
