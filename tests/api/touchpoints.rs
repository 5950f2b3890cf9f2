//! Recording touchpoints: scoring, automatic qualification, and a SAL's first contact.

use baton::config::HandoffConfig;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{Role, Stage, lead_event};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, nodes, time};

const TOUCHPOINTS: &str = "query($id: ID!) {
    lead(id: $id) { touchpoints(first: 100) { edges { node { kind channel points occurredAt actor { id } } } } }
}";

fn touchpoint(lead_id: &str, kind: &str) -> Value {
    json!({ "leadId": lead_id, "kind": kind })
}

fn at(lead_id: &str, kind: &str, occurred_at: DateTime<Utc>) -> Value {
    json!({ "leadId": lead_id, "kind": kind, "occurredAt": occurred_at.to_rfc3339() })
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["kind"].as_str().unwrap_or_default()).collect()
}

#[tokio::test]
async fn a_touchpoint_adds_its_points_to_the_score_and_appends_an_event() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let campaign = app.campaign("Spring webinar", entity::Channel::Webinar).await;
    let id = app.create_lead(&marketer, "ada@example.com", json!({})).await;
    let input = json!({ "leadId": id, "kind": "WEBINAR", "channel": "WEBINAR", "campaignId": campaign });
    let lead = app.moved(&marketer, "recordTouchpoint", input).await;
    assert_eq!(lead["score"], 20);
    assert_eq!(lead["stage"], "LEAD");
    assert_eq!(lead["version"], 2);

    let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, "EMAIL_CLICK")).await;
    assert_eq!(lead["score"], 23);
    assert_eq!(lead["version"], 3);

    let events = app.history(&id).await;
    assert_eq!(kinds(&events), ["CREATED", "TOUCHPOINT", "TOUCHPOINT"]);
    for event in &events[1..] {
        assert_eq!(event["actor"]["id"], marketer.id.to_string(), "{event}");
        assert_eq!((&event["fromStage"], &event["toStage"]), (&Value::Null, &Value::Null), "{event}");
    }
    let touchpoints = nodes(&app.data(&marketer, TOUCHPOINTS, json!({ "id": id })).await["lead"]["touchpoints"]);
    let summary: Vec<_> =
        touchpoints.iter().map(|t| (t["kind"].clone(), t["channel"].clone(), t["points"].clone())).collect();
    assert_eq!(
        summary,
        [(json!("EMAIL_CLICK"), Value::Null, json!(3)), (json!("WEBINAR"), json!("WEBINAR"), json!(20))]
    );
}

#[tokio::test]
async fn a_lead_whose_score_crosses_the_threshold_becomes_an_mql_by_the_system_in_the_same_response() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let id = app.create_lead(&marketer, "ada@example.com", json!({})).await;
    for kind in ["WEBINAR", "WEBINAR", "PAGE_VIEW"] {
        let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, kind)).await;
        assert_eq!(lead["stage"], "LEAD", "{lead}");
    }
    let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, "FORM_SUBMISSION")).await;
    assert_eq!(lead["score"], 56);
    assert_eq!(lead["stage"], "MQL");
    assert_eq!(lead["owner"], Value::Null);
    assert_eq!(lead["version"], 6, "one version for the touchpoint, one for the move");
    assert_eq!(lead["stageEnteredAt"], lead["updatedAt"]);

    let events = app.history(&id).await;
    assert_eq!(kinds(&events), ["CREATED", "TOUCHPOINT", "TOUCHPOINT", "TOUCHPOINT", "TOUCHPOINT", "STAGE_CHANGED"]);
    let qualified = &events[5];
    assert_eq!(qualified["fromStage"], "LEAD");
    assert_eq!(qualified["toStage"], "MQL");
    assert_eq!(qualified["actor"], Value::Null, "the system qualified it");
    assert_eq!(qualified["occurredAt"], lead["stageEnteredAt"]);
    assert_eq!(events[4]["actor"]["id"], marketer.id.to_string(), "the touchpoint is the marketer's");
    let in_lead = time(&qualified["occurredAt"]) - time(&events[0]["occurredAt"]);
    assert_eq!(qualified["timeInPreviousStageSeconds"], in_lead.num_seconds());
    let lead_id = Uuid::parse_str(&id).expect("uuid");
    let detail = lead_event::Entity::find()
        .filter(lead_event::Column::LeadId.eq(lead_id))
        .order_by_desc(lead_event::Column::Position)
        .one(&app.state.db)
        .await
        .expect("query")
        .and_then(|event| event.detail);
    assert_eq!(detail, Some(json!({ "automatic": true, "score": 56, "threshold": 50 })));

    // Past the threshold, more points move nothing.
    let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, "WEBINAR")).await;
    assert_eq!(
        (lead["stage"].clone(), lead["score"].clone(), lead["version"].clone()),
        (json!("MQL"), json!(76), json!(7))
    );
    assert_eq!(app.history(&id).await.len(), 7);
}

#[tokio::test]
async fn only_a_lead_in_stage_lead_qualifies_automatically() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    for (index, stage) in [Stage::Sal, Stage::Disqualified, Stage::Won].into_iter().enumerate() {
        let id = app.lead_in_stage(&format!("busy-{index}@example.com"), stage, Some(&rep)).await;
        let before = app.snapshot(&id).await;
        for _ in 0..3 {
            app.moved(&admin, "recordTouchpoint", touchpoint(&id, "WEBINAR")).await;
        }
        let after = app.snapshot(&id).await;
        assert_eq!(after["score"], 60, "{stage:?}");
        assert_eq!(after["stageEnteredAt"], before["stageEnteredAt"], "{stage:?}");
        assert_eq!(after["version"].as_i64(), before["version"].as_i64().map(|v| v + 3), "{stage:?}");
    }
}

#[tokio::test]
async fn the_threshold_and_the_points_come_from_the_configuration() {
    let handoff = HandoffConfig { mql_threshold: 12, score_points: "PAGE_VIEW=6".into(), ..HandoffConfig::default() };
    let app = TestApp::spawn_with_handoff(handoff).await;
    let marketer = app.user(Role::Marketing).await;
    let id = app.create_lead(&marketer, "ada@example.com", json!({})).await;
    let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, "PAGE_VIEW")).await;
    assert_eq!((lead["score"].clone(), lead["stage"].clone()), (json!(6), json!("LEAD")));
    let lead = app.moved(&marketer, "recordTouchpoint", touchpoint(&id, "PAGE_VIEW")).await;
    assert_eq!((lead["score"].clone(), lead["stage"].clone()), (json!(12), json!("MQL")));
}

#[tokio::test]
async fn the_owners_first_sales_contact_with_a_sal_marks_its_first_contact_once() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let sal = app.snapshot(&id).await;
    let entered = time(&sal["stageEnteredAt"]);

    // A manager's call is recorded but is not the owner's contact.
    let lead = app.moved(&manager, "recordTouchpoint", touchpoint(&id, "CALL")).await;
    assert_eq!(lead["firstContactAt"], Value::Null);
    assert_eq!(lead["version"], 4);
    // Contact from before the lead was a SAL is not speed-to-lead.
    let lead = app.moved(&rep, "recordTouchpoint", at(&id, "EMAIL_SENT", entered - TimeDelta::hours(1))).await;
    assert_eq!(lead["firstContactAt"], Value::Null);

    let lead = app.moved(&rep, "recordTouchpoint", at(&id, "CALL", entered)).await;
    assert_eq!(time(&lead["firstContactAt"]), entered);
    assert_eq!(lead["score"], 0, "sales contacts score nothing");
    assert_eq!(lead["stage"], "SAL");
    assert_eq!(lead["version"], 6);
    let lead = app.moved(&rep, "recordTouchpoint", touchpoint(&id, "MEETING")).await;
    assert_eq!(time(&lead["firstContactAt"]), entered, "only the first contact counts");
    assert_eq!(lead["version"], 7);
    assert_eq!(kinds(&app.history(&id).await)[3..], ["TOUCHPOINT"; 4]);

    // A call without a time happened now.
    let other = app.lead_in_stage("other@example.com", Stage::Sal, Some(&rep)).await;
    let before = baton::domain::time::now();
    let lead = app.moved(&rep, "recordTouchpoint", touchpoint(&other, "CALL")).await;
    let contacted = time(&lead["firstContactAt"]);
    assert!(before <= contacted && contacted <= baton::domain::time::now(), "{contacted}");
}

#[tokio::test]
async fn marketing_records_what_leads_do_and_sales_records_its_own_contacts() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let manager = app.user(Role::SalesManager).await;
    let viewer = app.user(Role::Viewer).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    let nurtured = app.lead_in_stage("lead@example.com", Stage::Lead, None).await;
    let queued = app.lead_in_stage("mql@example.com", Stage::Mql, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let cases = [
        (&viewer, "WEBINAR", &nurtured, "FORBIDDEN"),
        (&viewer, "CALL", &sal, "FORBIDDEN"),
        (&marketer, "CALL", &sal, "FORBIDDEN"),
        (&marketer, "MEETING", &nurtured, "FORBIDDEN"),
        (&manager, "WEBINAR", &nurtured, "FORBIDDEN"),
        (&rep, "WEBINAR", &sal, "FORBIDDEN"),
        (&rep, "CALL", &queued, "FORBIDDEN"),
        (&rep, "CALL", &nurtured, "NOT_FOUND"),
        (&other_rep, "CALL", &sal, "NOT_FOUND"),
    ];
    for (user, kind, id, code) in cases {
        app.refused(user, "recordTouchpoint", touchpoint(id, kind), code).await;
    }
    app.moved(&marketer, "recordTouchpoint", touchpoint(&sal, "CONTENT_DOWNLOAD")).await;
    app.moved(&manager, "recordTouchpoint", touchpoint(&queued, "EMAIL_SENT")).await;
    app.moved(&rep, "recordTouchpoint", touchpoint(&sal, "EMAIL_SENT")).await;
}

#[tokio::test]
async fn a_touchpoint_in_the_future_or_of_an_unknown_campaign_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let id = app.create_lead(&marketer, "ada@example.com", json!({})).await;
    let tomorrow = baton::domain::time::now() + TimeDelta::days(1);
    let in_an_hour = baton::domain::time::now() + TimeDelta::hours(1);
    let cases = [
        ("occurredAt", at(&id, "WEBINAR", tomorrow)),
        ("occurredAt", at(&id, "WEBINAR", in_an_hour)),
        ("campaignId", json!({ "leadId": id, "kind": "WEBINAR", "campaignId": Uuid::now_v7().to_string() })),
        ("campaignId", json!({ "leadId": id, "kind": "WEBINAR", "campaignId": "spring" })),
        ("leadId", json!({ "leadId": "ada", "kind": "WEBINAR" })),
    ];
    for (field, input) in cases {
        let error = app.refused(&marketer, "recordTouchpoint", input.clone(), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], field, "{input}: {error}");
    }
    // The past is fine, and kept as given.
    let last_week = baton::domain::time::now() - TimeDelta::days(7);
    app.moved(&marketer, "recordTouchpoint", at(&id, "WEBINAR", last_week)).await;
    let touchpoints = nodes(&app.data(&marketer, TOUCHPOINTS, json!({ "id": id })).await["lead"]["touchpoints"]);
    assert_eq!(time(&touchpoints[0]["occurredAt"]), last_week);
}
