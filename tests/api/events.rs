//! The lead event log: order, paging, filters, a lead's own history, and each event's fields.

use entity::{Role, Stage};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, nodes, time};

const EVENTS: &str = "query($first: Int, $after: String, $filter: LeadEventFilter, $order: EventOrder) {
    leadEvents(first: $first, after: $after, filter: $filter, order: $order) {
        edges { cursor node { id cursor kind fromStage toStage occurredAt lead { email } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";
const LEAD_EVENTS: &str = "query($id: ID!, $first: Int, $after: String, $order: EventOrder) {
    lead(id: $id) {
        events(first: $first, after: $after, order: $order) {
            edges { cursor node { id cursor kind fromStage toStage lead { email } } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        }
    }
}";

/// A small log with known order, made by two marketers and a rep's acceptance.
struct Log {
    app: TestApp,
    first_marketer: TestUser,
    second_marketer: TestUser,
    rep: TestUser,
    /// Lead ids by name.
    ada: String,
    bob: String,
    cy: String,
}

/// Appends, in this order:
/// 1 CREATED ada, 2 CREATED bob, 3 ada LEAD→MQL, 4 CREATED cy, 5 bob LEAD→MQL,
/// 6 ada MQL→SAL, 7 cy LEAD→DISQUALIFIED, 8 ada SAL→SQL.
async fn log() -> Log {
    let app = TestApp::spawn().await;
    let first_marketer = app.user(Role::Marketing).await;
    let second_marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let ada = app.create_lead(&first_marketer, "ada@example.com", json!({})).await;
    let bob = app.create_lead(&second_marketer, "bob@example.com", json!({})).await;
    app.put_in_stage(&ada, Stage::Mql, None).await;
    let cy = app.create_lead(&first_marketer, "cy@example.com", json!({})).await;
    app.put_in_stage(&bob, Stage::Mql, None).await;
    app.put_in_stage(&ada, Stage::Sal, Some(rep.id)).await;
    app.put_in_stage(&cy, Stage::Disqualified, None).await;
    app.put_in_stage(&ada, Stage::Sql, Some(rep.id)).await;
    let log = Log { app, first_marketer, second_marketer, rep, ada, bob, cy };
    log.settled().await;
    log
}

/// The log as written, oldest first: (lead, kind, from, to).
const WRITTEN: [(&str, &str, Option<&str>, &str); 8] = [
    ("ada", "CREATED", None, "LEAD"),
    ("bob", "CREATED", None, "LEAD"),
    ("ada", "STAGE_CHANGED", Some("LEAD"), "MQL"),
    ("cy", "CREATED", None, "LEAD"),
    ("bob", "STAGE_CHANGED", Some("LEAD"), "MQL"),
    ("ada", "STAGE_CHANGED", Some("MQL"), "SAL"),
    ("cy", "STAGE_CHANGED", Some("LEAD"), "DISQUALIFIED"),
    ("ada", "STAGE_CHANGED", Some("SAL"), "SQL"),
];

/// The entries of [`WRITTEN`] at these 1-based positions.
fn written(positions: &[usize]) -> Vec<(String, String, Option<String>, String)> {
    positions
        .iter()
        .map(|p| {
            let (lead, kind, from, to) = WRITTEN[p - 1];
            (lead.to_owned(), kind.to_owned(), from.map(str::to_owned), to.to_owned())
        })
        .collect()
}

/// Events as (lead, kind, from, to), the lead named by its email's local part.
fn summary(events: &[Value]) -> Vec<(String, String, Option<String>, String)> {
    events
        .iter()
        .map(|event| {
            let email = event["lead"]["email"].as_str().unwrap_or_default();
            (
                email.split('@').next().unwrap_or_default().to_owned(),
                event["kind"].as_str().unwrap_or_default().to_owned(),
                event["fromStage"].as_str().map(str::to_owned),
                event["toStage"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

impl Log {
    /// Waits until all eight events can be read. On PostgreSQL the log is read below the
    /// oldest transaction running in this database, and a transaction of another test's
    /// database that ended a moment before the check can pass for one of ours: the events
    /// after it show a poll later, as they do to any client.
    async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.events(json!({})).await.len() < WRITTEN.len() {
            assert!(tokio::time::Instant::now() < deadline, "the log did not settle within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn events(&self, variables: Value) -> Vec<Value> {
        let mut variables = variables;
        variables["first"] = json!(100);
        nodes(&self.app.data(&self.first_marketer, EVENTS, variables).await["leadEvents"])
    }

    async fn filtered(&self, filter: Value) -> Vec<(String, String, Option<String>, String)> {
        summary(&self.events(json!({ "filter": filter, "order": "OLDEST_FIRST" })).await)
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|event| event["id"].as_str()).collect()
}

#[tokio::test]
async fn the_log_is_newest_first_by_default_and_oldest_first_on_request() {
    let log = log().await;
    let oldest_first = log.events(json!({ "order": "OLDEST_FIRST" })).await;
    assert_eq!(summary(&oldest_first), written(&[1, 2, 3, 4, 5, 6, 7, 8]));
    let default = log.events(json!({})).await;
    assert_eq!(summary(&default), written(&[8, 7, 6, 5, 4, 3, 2, 1]));
    let newest_first = log.events(json!({ "order": "NEWEST_FIRST" })).await;
    assert_eq!(newest_first, default);
}

#[tokio::test]
async fn paging_walks_the_whole_log_in_either_order() {
    let log = log().await;
    let app = &log.app;
    let all = log.events(json!({ "order": "OLDEST_FIRST" })).await;
    for first in [1, 3, 4, 8] {
        let walked =
            app.walk(&log.first_marketer, EVENTS, json!({ "order": "OLDEST_FIRST" }), &["leadEvents"], first).await;
        assert_eq!(ids(&walked), ids(&all), "oldest first, {first} a page");
        let walked = app.walk(&log.first_marketer, EVENTS, json!({}), &["leadEvents"], first).await;
        let mut reversed = ids(&all);
        reversed.reverse();
        assert_eq!(ids(&walked), reversed, "newest first, {first} a page");
    }
}

#[tokio::test]
async fn an_event_cursor_continues_the_log_in_either_direction() {
    let log = log().await;
    let fourth = &log.events(json!({ "order": "OLDEST_FIRST" })).await[3];
    let after = fourth["cursor"].clone();
    let later = log.events(json!({ "order": "OLDEST_FIRST", "after": after })).await;
    assert_eq!(summary(&later), written(&[5, 6, 7, 8]));
    let earlier = log.events(json!({ "order": "NEWEST_FIRST", "after": after })).await;
    assert_eq!(summary(&earlier), written(&[3, 2, 1]));
    // Filters apply after the cursor too.
    let later_creations = log.events(json!({ "after": after, "filter": { "kinds": ["CREATED"] } })).await;
    assert_eq!(summary(&later_creations), written(&[2, 1]));
}

#[tokio::test]
async fn events_can_be_filtered_by_lead_kind_target_stage_and_actor() {
    let log = log().await;
    assert_eq!(log.filtered(json!({ "leadId": log.ada })).await, written(&[1, 3, 6, 8]));
    assert_eq!(log.filtered(json!({ "leadId": log.bob })).await, written(&[2, 5]));
    assert_eq!(log.filtered(json!({ "leadId": log.cy })).await, written(&[4, 7]));
    assert!(log.filtered(json!({ "leadId": Uuid::now_v7().to_string() })).await.is_empty());
    assert_eq!(log.filtered(json!({ "kinds": ["CREATED"] })).await, written(&[1, 2, 4]));
    assert_eq!(log.filtered(json!({ "kinds": ["STAGE_CHANGED"] })).await, written(&[3, 5, 6, 7, 8]));
    assert!(log.filtered(json!({ "kinds": ["ASSIGNED", "SLA_BREACHED"] })).await.is_empty());
    assert_eq!(log.filtered(json!({ "toStages": ["MQL"] })).await, written(&[3, 5]));
    assert_eq!(log.filtered(json!({ "toStages": ["SAL", "DISQUALIFIED"] })).await, written(&[6, 7]));
    assert_eq!(log.filtered(json!({ "toStages": ["LEAD"] })).await, written(&[1, 2, 4]));
    let first_marketer = log.first_marketer.id.to_string();
    assert_eq!(log.filtered(json!({ "actorId": first_marketer })).await, written(&[1, 4]));
    assert_eq!(log.filtered(json!({ "actorId": log.second_marketer.id.to_string() })).await, written(&[2]));
    assert!(log.filtered(json!({ "actorId": log.rep.id.to_string() })).await.is_empty());
    // Every condition must hold.
    let all_of = json!({ "leadId": log.ada, "kinds": ["STAGE_CHANGED"], "toStages": ["SAL", "SQL", "MQL"] });
    assert_eq!(log.filtered(all_of).await, written(&[3, 6, 8]));
    assert!(log.filtered(json!({ "leadId": log.bob, "actorId": first_marketer })).await.is_empty());

    let marketer = &log.first_marketer;
    for (filter, field) in [(json!({ "leadId": "ada" }), "leadId"), (json!({ "actorId": "someone" }), "actorId")] {
        log.app.assert_bad_input(marketer, EVENTS, json!({ "filter": filter }), field).await;
    }
}

#[tokio::test]
async fn events_can_be_filtered_by_a_half_open_period() {
    let log = log().await;
    let all = log.events(json!({ "order": "OLDEST_FIRST" })).await;
    let (from, to) = (all[2]["occurredAt"].clone(), all[6]["occurredAt"].clone());
    let expected = |lower: Option<&Value>, upper: Option<&Value>| -> Vec<&str> {
        all.iter()
            .filter(|e| lower.is_none_or(|from| time(&e["occurredAt"]) >= time(from)))
            .filter(|e| upper.is_none_or(|to| time(&e["occurredAt"]) < time(to)))
            .filter_map(|e| e["id"].as_str())
            .collect()
    };
    let order = "OLDEST_FIRST";

    let both = log.events(json!({ "order": order, "filter": { "occurredFrom": from, "occurredTo": to } })).await;
    assert_eq!(ids(&both), expected(Some(&from), Some(&to)));
    assert!(ids(&both).contains(&all[2]["id"].as_str().unwrap_or_default()), "the start is included");
    assert!(!ids(&both).contains(&all[6]["id"].as_str().unwrap_or_default()), "the end is excluded");

    let since = log.events(json!({ "order": order, "filter": { "occurredFrom": from } })).await;
    assert_eq!(ids(&since), expected(Some(&from), None));
    let until = log.events(json!({ "order": order, "filter": { "occurredTo": to } })).await;
    assert_eq!(ids(&until), expected(None, Some(&to)));
    assert!(log.events(json!({ "filter": { "occurredFrom": to, "occurredTo": to } })).await.is_empty());
}

#[tokio::test]
async fn a_leads_history_is_oldest_first_and_pages() {
    let log = log().await;
    let app = &log.app;
    let data = app.data(&log.first_marketer, LEAD_EVENTS, json!({ "id": log.ada })).await;
    let history = nodes(&data["lead"]["events"]);
    assert_eq!(summary(&history), written(&[1, 3, 6, 8]));
    let data = app.data(&log.first_marketer, LEAD_EVENTS, json!({ "id": log.ada, "order": "NEWEST_FIRST" })).await;
    assert_eq!(summary(&nodes(&data["lead"]["events"])), written(&[8, 6, 3, 1]));

    let walked = app.walk(&log.first_marketer, LEAD_EVENTS, json!({ "id": log.ada }), &["lead", "events"], 3).await;
    assert_eq!(ids(&walked), ids(&history));
    let variables = json!({ "id": log.ada, "order": "NEWEST_FIRST" });
    let walked = app.walk(&log.first_marketer, LEAD_EVENTS, variables, &["lead", "events"], 1).await;
    assert_eq!(summary(&walked), written(&[8, 6, 3, 1]));
}

#[tokio::test]
async fn each_event_tells_what_happened_who_did_it_who_owns_the_lead_and_when() {
    let log = log().await;
    let query = "query($id: ID!) {
        lead(id: $id) {
            createdAt stageEnteredAt
            events(first: 10) {
                edges { cursor node {
                    id cursor kind fromStage toStage timeInPreviousStageSeconds occurredAt note
                    actor { id email } owner { id } reason { code } amount { amount } lead { id email }
                } }
            }
        }
    }";
    let data = log.app.data(&log.first_marketer, query, json!({ "id": log.ada })).await;
    let lead = &data["lead"];
    let edges = lead["events"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 4, "{data}");
    for edge in &edges {
        let event = &edge["node"];
        assert_eq!(event["cursor"], edge["cursor"], "{event}");
        assert!(Uuid::parse_str(event["id"].as_str().unwrap_or_default()).is_ok(), "{event}");
        assert_eq!(event["lead"], json!({ "id": log.ada, "email": "ada@example.com" }));
        assert_eq!(event["reason"], Value::Null);
        assert_eq!(event["note"], Value::Null);
        assert_eq!(event["amount"], Value::Null);
    }
    let cursors: Vec<&Value> = edges.iter().map(|edge| &edge["cursor"]).collect();
    assert!(cursors.windows(2).all(|pair| pair[0] != pair[1]), "{cursors:?}");

    let created = &edges[0]["node"];
    assert_eq!(created["kind"], "CREATED");
    assert_eq!(created["fromStage"], Value::Null);
    assert_eq!(created["toStage"], "LEAD");
    assert_eq!(created["timeInPreviousStageSeconds"], Value::Null);
    assert_eq!(
        created["actor"],
        json!({ "id": log.first_marketer.id.to_string(), "email": log.first_marketer.email.as_str() })
    );
    assert_eq!(created["owner"], Value::Null);
    assert_eq!(created["occurredAt"], lead["createdAt"]);

    // The fixture moves leads as the system would: no actor.
    let accepted = &edges[2]["node"];
    assert_eq!(accepted["kind"], "STAGE_CHANGED");
    assert_eq!(accepted["fromStage"], "MQL");
    assert_eq!(accepted["toStage"], "SAL");
    assert_eq!(accepted["actor"], Value::Null);
    assert_eq!(accepted["owner"], json!({ "id": log.rep.id.to_string() }));
    assert!(accepted["timeInPreviousStageSeconds"].as_i64().is_some_and(|s| s >= 0), "{accepted}");

    let latest = &edges[3]["node"];
    assert_eq!(latest["toStage"], "SQL");
    assert_eq!(latest["occurredAt"], lead["stageEnteredAt"]);
}

#[tokio::test]
async fn event_page_sizes_and_cursors_are_checked() {
    let log = log().await;
    let marketer = &log.first_marketer;
    let leads = log.app.data(marketer, "{ leads(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let lead_cursor = leads["leads"]["pageInfo"]["endCursor"].clone();
    for (variables, field) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "after": "garbage" }), "after"),
        (json!({ "after": lead_cursor }), "after"),
    ] {
        log.app.assert_bad_input(marketer, EVENTS, variables.clone(), field).await;
        let mut variables = variables;
        variables["id"] = json!(log.ada);
        log.app.assert_bad_input(marketer, LEAD_EVENTS, variables, field).await;
    }
    // Twenty by default.
    for i in 0..20 {
        log.app.create_lead(marketer, &format!("more-{i}@example.com"), json!({})).await;
    }
    let data = log.app.data(marketer, "{ leadEvents { edges { cursor } pageInfo { hasNextPage } } }", json!({})).await;
    assert_eq!(data["leadEvents"]["edges"].as_array().map(Vec::len), Some(20));
    assert_eq!(data["leadEvents"]["pageInfo"]["hasNextPage"], true);
}
