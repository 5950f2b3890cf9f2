//! The handoff mutations: a lead walked through every transition of the funnel, and every
//! way a move is refused — each refusal leaving the lead and its history untouched.

use entity::{Role, Stage};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, sample_input, time};

/// The handoff mutations that move a lead between stages.
const MOVES: [&str; 7] =
    ["qualifyLead", "acceptLead", "returnToMarketing", "disqualifyLead", "convertToSql", "closeWon", "closeLost"];

/// An event without its times, to compare whole histories (times are checked by [`assert_times`]).
fn summary(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        fields.remove("occurredAt");
        fields.remove("timeInPreviousStageSeconds");
    }
    event
}

/// A stage change as [`summary`] shows it.
fn stage_changed(from: &str, to: &str, actor: Option<&TestUser>, owner: Option<&TestUser>) -> Value {
    json!({
        "kind": "STAGE_CHANGED",
        "fromStage": from,
        "toStage": to,
        "actor": actor.map(|user| json!({ "id": user.id.to_string() })),
        "owner": owner.map(|user| json!({ "id": user.id.to_string() })),
        "reason": null,
        "note": null,
        "amount": null,
    })
}

fn created(actor: &TestUser) -> Value {
    json!({
        "kind": "CREATED",
        "fromStage": null,
        "toStage": "LEAD",
        "actor": { "id": actor.id.to_string() },
        "owner": null,
        "reason": null,
        "note": null,
        "amount": null,
    })
}

/// Checks that every stage change says how long the lead spent in the stage it left:
/// the time between the event that put it there and this one.
fn assert_times(events: &[Value]) {
    let mut entered = None;
    for event in events {
        let at = time(&event["occurredAt"]);
        match event["kind"].as_str() {
            Some("CREATED") => {
                assert_eq!(event["timeInPreviousStageSeconds"], Value::Null, "{event}");
                entered = Some(at);
            }
            Some("STAGE_CHANGED") => {
                let entered = entered.replace(at).expect("a stage change after the creation");
                assert!(at >= entered, "{event}");
                assert_eq!(event["timeInPreviousStageSeconds"], (at - entered).num_seconds(), "{event}");
            }
            _ => assert_eq!(event["timeInPreviousStageSeconds"], Value::Null, "{event}"),
        }
    }
}

/// Checks what every successful move returns: the stage, version, and a stage-entered
/// time equal to the event's that recorded the move.
fn assert_moved(lead: &Value, stage: &str, version: i64, previous: &Value) {
    assert_eq!(lead["stage"], stage, "{lead}");
    assert_eq!(lead["version"], version, "{lead}");
    assert_eq!(lead["stageEnteredAt"], lead["updatedAt"], "{lead}");
    assert!(time(&lead["stageEnteredAt"]) >= time(&previous["stageEnteredAt"]), "{previous} then {lead}");
}

fn id_of(user: &TestUser) -> Value {
    json!({ "id": user.id.to_string() })
}

#[tokio::test]
async fn a_lead_walks_from_lead_to_won_and_its_history_shows_every_move() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let id = app.create_lead(&marketer, "ada@example.com", json!({})).await;
    let new = app.snapshot(&id).await;

    let mql = app.moved(&marketer, "qualifyLead", json!({ "leadId": id, "expectedVersion": 1 })).await;
    assert_moved(&mql, "MQL", 2, &new);
    assert_eq!(mql["owner"], Value::Null);

    let sal = app.moved(&rep, "acceptLead", json!({ "leadId": id, "expectedVersion": 2 })).await;
    assert_moved(&sal, "SAL", 3, &mql);
    assert_eq!(sal["owner"], id_of(&rep));
    assert_eq!(sal["dealValue"], Value::Null);

    let mut convert = sample_input("convertToSql", &id);
    convert["expectedVersion"] = json!(3);
    let sql = app.moved(&rep, "convertToSql", convert).await;
    assert_moved(&sql, "SQL", 4, &sal);
    assert_eq!(sql["owner"], id_of(&rep));
    assert_eq!(sql["dealValue"], json!({ "amount": "12000.50", "currencyCode": "USD" }));
    assert_eq!(
        sql["qualification"],
        json!({
            "budget": "Approved for Q3",
            "authority": "VP Sales signs",
            "need": "Pipeline visibility",
            "timeline": "This quarter",
        })
    );

    let input = json!({ "leadId": id, "amount": { "amount": "11500", "currencyCode": "USD" }, "expectedVersion": 4 });
    let won = app.moved(&rep, "closeWon", input).await;
    assert_moved(&won, "WON", 5, &sql);
    assert_eq!(won["owner"], id_of(&rep));
    assert_eq!(won["dealValue"], json!({ "amount": "11500.00", "currencyCode": "USD" }));
    assert_eq!(won["reason"], Value::Null);
    assert_eq!(won["recycleCount"], 0);

    let events = app.history(&id).await;
    let mut converted = stage_changed("SAL", "SQL", Some(&rep), Some(&rep));
    converted["amount"] = json!({ "amount": "12000.50", "currencyCode": "USD" });
    let mut closed = stage_changed("SQL", "WON", Some(&rep), Some(&rep));
    closed["amount"] = json!({ "amount": "11500.00", "currencyCode": "USD" });
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        [
            created(&marketer),
            stage_changed("LEAD", "MQL", Some(&marketer), None),
            stage_changed("MQL", "SAL", Some(&rep), Some(&rep)),
            converted,
            closed,
        ]
    );
    for (event, lead) in events.iter().skip(1).zip([&mql, &sal, &sql, &won]) {
        assert_eq!(event["occurredAt"], lead["stageEnteredAt"], "{event}");
    }
    assert_times(&events);

    // WON is final.
    let admin = app.observer().await;
    for name in MOVES {
        let error = app.refused(admin, name, sample_input(name, &id), "INVALID_TRANSITION").await;
        assert_eq!(error["extensions"]["from"], "WON", "{name}");
    }
}

#[tokio::test]
async fn a_lost_deal_goes_back_to_marketing_recycled_and_is_qualified_again_later() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    let id = app.lead_in_stage("bob@example.com", Stage::Sql, Some(&rep)).await;

    let input = json!({ "leadId": id, "reasonCode": "LOST_TO_COMPETITOR", "note": "Went with the incumbent" });
    let lost = app.moved(&rep, "closeLost", input).await;
    assert_eq!(lost["stage"], "LOST");
    assert_eq!(lost["version"], 5);
    assert_eq!(lost["owner"], id_of(&rep));
    assert_eq!(lost["reason"], json!({ "code": "LOST_TO_COMPETITOR" }));
    assert_eq!(lost["reasonNote"], "Went with the incumbent");
    assert_eq!(lost["dealValue"], json!({ "amount": "12000.50", "currencyCode": "USD" }));

    let input = json!({ "leadId": id, "reasonCode": "BAD_TIMING", "note": "Ask again next year" });
    let returned = app.moved(&rep, "returnToMarketing", input).await;
    assert_moved(&returned, "LEAD", 6, &lost);
    assert_eq!(returned["owner"], Value::Null);
    assert_eq!(returned["recycleCount"], 1);
    assert_eq!(returned["reason"], json!({ "code": "BAD_TIMING" }));
    assert_eq!(returned["reasonNote"], "Ask again next year");
    assert_eq!(returned["dealValue"], Value::Null, "a lead back in marketing has no deal");
    assert_eq!(returned["qualification"], Value::Null, "a lead back in marketing has no qualification");

    // The rep no longer sees it: it is marketing's again.
    let error = app.refused(&rep, "qualifyLead", json!({ "leadId": id }), "NOT_FOUND").await;
    assert_eq!(error["path"], json!(["qualifyLead"]));

    let requalified = app.moved(&marketer, "qualifyLead", json!({ "leadId": id })).await;
    assert_moved(&requalified, "MQL", 7, &returned);
    assert_eq!(requalified["recycleCount"], 1);
    let accepted = app.moved(&other_rep, "acceptLead", json!({ "leadId": id })).await;
    assert_moved(&accepted, "SAL", 8, &requalified);
    assert_eq!(accepted["owner"], id_of(&other_rep));

    let events = app.history(&id).await;
    let summaries: Vec<Value> = events.iter().skip(4).map(summary).collect();
    let mut lost_event = stage_changed("SQL", "LOST", Some(&rep), Some(&rep));
    lost_event["reason"] = json!({ "code": "LOST_TO_COMPETITOR" });
    lost_event["note"] = json!("Went with the incumbent");
    let mut returned_event = stage_changed("LOST", "LEAD", Some(&rep), None);
    returned_event["reason"] = json!({ "code": "BAD_TIMING" });
    returned_event["note"] = json!("Ask again next year");
    assert_eq!(
        summaries,
        [
            lost_event,
            returned_event,
            stage_changed("LEAD", "MQL", Some(&marketer), None),
            stage_changed("MQL", "SAL", Some(&other_rep), Some(&other_rep)),
        ]
    );
    assert_eq!(events.len(), 8, "version 8 is the eighth event");
    assert_times(&events);
}

#[tokio::test]
async fn mqls_sals_and_sqls_go_back_to_marketing_with_their_reason() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let cases = [
        (Stage::Mql, "MQL", &manager, "NO_BUDGET", 3),
        (Stage::Sal, "SAL", &rep, "NO_RESPONSE", 4),
        (Stage::Sql, "SQL", &manager, "BAD_TIMING", 5),
        (Stage::Sql, "SQL", &admin, "NOT_A_FIT", 5),
    ];
    for (index, (stage, key, user, reason, version)) in cases.into_iter().enumerate() {
        let id = app.lead_in_stage(&format!("returned-{index}@example.com"), stage, Some(&rep)).await;
        let before = app.snapshot(&id).await;
        let input = json!({ "leadId": id, "reasonCode": reason, "note": format!("from {key}") });
        let lead = app.moved(user, "returnToMarketing", input).await;
        assert_moved(&lead, "LEAD", version, &before);
        assert_eq!(lead["owner"], Value::Null, "{key}");
        assert_eq!(lead["recycleCount"], 1, "{key}");
        assert_eq!(lead["reason"], json!({ "code": reason }), "{key}");
        assert_eq!(lead["reasonNote"], format!("from {key}"), "{key}");
        let events = app.history(&id).await;
        let mut expected = stage_changed(key, "LEAD", Some(user), None);
        expected["reason"] = json!({ "code": reason });
        expected["note"] = json!(format!("from {key}"));
        assert_eq!(events.last().map(summary), Some(expected), "{key}");
        assert_eq!(events.len() as i64, version, "{key}");
        assert_times(&events);
    }
}

#[tokio::test]
async fn leads_mqls_and_sals_can_be_disqualified_with_a_reason_and_stay_disqualified() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let cases = [
        (Stage::Lead, "LEAD", &marketer, None, 2),
        (Stage::Mql, "MQL", &marketer, None, 3),
        (Stage::Mql, "MQL", &manager, None, 3),
        (Stage::Sal, "SAL", &rep, Some(&rep), 4),
        (Stage::Sal, "SAL", &manager, Some(&rep), 4),
    ];
    for (index, (stage, key, user, owner, version)) in cases.into_iter().enumerate() {
        let id = app.lead_in_stage(&format!("unfit-{index}@example.com"), stage, Some(&rep)).await;
        let before = app.snapshot(&id).await;
        let input = json!({ "leadId": id, "reasonCode": "NOT_A_FIT", "note": "Student project" });
        let lead = app.moved(user, "disqualifyLead", input).await;
        assert_moved(&lead, "DISQUALIFIED", version, &before);
        assert_eq!(lead["reason"], json!({ "code": "NOT_A_FIT" }), "{key}");
        assert_eq!(lead["reasonNote"], "Student project", "{key}");
        assert_eq!(lead["owner"], owner.map_or(Value::Null, id_of), "{key}");
        assert_eq!(lead["recycleCount"], 0, "{key}");
        let events = app.history(&id).await;
        let mut expected = stage_changed(key, "DISQUALIFIED", Some(user), owner);
        expected["reason"] = json!({ "code": "NOT_A_FIT" });
        expected["note"] = json!("Student project");
        assert_eq!(events.last().map(summary), Some(expected), "{key}");
        assert_times(&events);
        let admin = app.observer().await;
        for name in MOVES {
            let error = app.refused(admin, name, sample_input(name, &id), "INVALID_TRANSITION").await;
            assert_eq!(error["extensions"]["from"], "DISQUALIFIED", "{name}");
        }
    }
}

#[tokio::test]
async fn every_move_from_a_stage_outside_the_table_is_an_invalid_transition_naming_both_stages() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let legal: [(&str, &[&str]); 7] = [
        ("qualifyLead", &["LEAD"]),
        ("acceptLead", &["MQL"]),
        ("returnToMarketing", &["MQL", "SAL", "SQL", "LOST"]),
        ("disqualifyLead", &["LEAD", "MQL", "SAL"]),
        ("convertToSql", &["SAL"]),
        ("closeWon", &["SQL"]),
        ("closeLost", &["SQL"]),
    ];
    let targets = ["MQL", "SAL", "LEAD", "DISQUALIFIED", "SQL", "WON", "LOST"];
    let stages = [
        (Stage::Lead, "LEAD"),
        (Stage::Mql, "MQL"),
        (Stage::Sal, "SAL"),
        (Stage::Sql, "SQL"),
        (Stage::Won, "WON"),
        (Stage::Lost, "LOST"),
        (Stage::Disqualified, "DISQUALIFIED"),
    ];
    let mut refused = 0;
    for (stage, key) in stages {
        let id = app.lead_in_stage(&format!("{key}@example.com").to_lowercase(), stage, Some(&rep)).await;
        for ((name, sources), to) in legal.iter().zip(targets) {
            if sources.contains(&key) {
                continue;
            }
            let mut input = sample_input(name, &id);
            if *name == "acceptLead" {
                input["ownerId"] = json!(rep.id.to_string());
            }
            let error = app.refused(&admin, name, input, "INVALID_TRANSITION").await;
            assert_eq!(error["extensions"]["from"], key, "{name} from {key}: {error}");
            assert_eq!(error["extensions"]["to"], to, "{name} from {key}: {error}");
            refused += 1;
        }
    }
    assert_eq!(refused, 7 * 7 - 12, "the design's table has 12 moves");
}

#[tokio::test]
async fn an_unknown_lead_is_not_found_for_every_handoff_mutation() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let unknown = Uuid::now_v7().to_string();
    for name in MOVES {
        app.refused(&admin, name, sample_input(name, &unknown), "NOT_FOUND").await;
    }
    let input = json!({ "leadId": unknown, "ownerId": rep.id.to_string() });
    app.refused(&admin, "assignLead", input, "NOT_FOUND").await;
    app.refused(&admin, "recordTouchpoint", json!({ "leadId": unknown, "kind": "WEBINAR" }), "NOT_FOUND").await;
    for name in MOVES {
        let error = app.refused(&admin, name, sample_input(name, "not-a-uuid"), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "leadId", "{name}");
    }
}

#[tokio::test]
async fn a_rep_moving_a_lead_they_may_not_see_gets_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.user(Role::SalesRep).await;
    let bob = app.user(Role::SalesRep).await;
    let nurtured = app.lead_in_stage("nurtured@example.com", Stage::Lead, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&alice)).await;
    let sql = app.lead_in_stage("sql@example.com", Stage::Sql, Some(&alice)).await;
    let lost = app.lead_in_stage("lost@example.com", Stage::Lost, Some(&alice)).await;
    let cases = [
        ("qualifyLead", &nurtured),
        ("disqualifyLead", &nurtured),
        ("returnToMarketing", &sal),
        ("disqualifyLead", &sal),
        ("convertToSql", &sal),
        ("acceptLead", &sal),
        ("closeWon", &sql),
        ("closeLost", &sql),
        ("returnToMarketing", &sql),
        ("returnToMarketing", &lost),
    ];
    for (name, id) in cases {
        let error = app.refused(&bob, name, sample_input(name, id), "NOT_FOUND").await;
        assert_eq!(error["message"], "lead not found", "{name}");
    }
    app.refused(&bob, "recordTouchpoint", json!({ "leadId": sal, "kind": "CALL" }), "NOT_FOUND").await;
}

#[tokio::test]
async fn each_role_is_forbidden_the_moves_the_design_does_not_give_it() {
    let app = TestApp::spawn().await;
    let marketer = app.user(Role::Marketing).await;
    let manager = app.user(Role::SalesManager).await;
    let viewer = app.user(Role::Viewer).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    let lead = app.lead_in_stage("lead@example.com", Stage::Lead, None).await;
    let mql = app.lead_in_stage("mql@example.com", Stage::Mql, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let sql = app.lead_in_stage("sql@example.com", Stage::Sql, Some(&rep)).await;
    let lost = app.lead_in_stage("lost@example.com", Stage::Lost, Some(&rep)).await;
    let assign = json!({ "leadId": sal, "ownerId": other_rep.id.to_string() });
    let accept_for_other = json!({ "leadId": mql, "ownerId": other_rep.id.to_string() });
    let cases = [
        // A viewer changes nothing.
        (&viewer, "qualifyLead", sample_input("qualifyLead", &lead)),
        (&viewer, "acceptLead", sample_input("acceptLead", &mql)),
        (&viewer, "returnToMarketing", sample_input("returnToMarketing", &sal)),
        (&viewer, "disqualifyLead", sample_input("disqualifyLead", &lead)),
        (&viewer, "convertToSql", sample_input("convertToSql", &sal)),
        (&viewer, "closeWon", sample_input("closeWon", &sql)),
        (&viewer, "closeLost", sample_input("closeLost", &sql)),
        (&viewer, "assignLead", assign.clone()),
        // Marketing hands over, and stops at the handoff.
        (&marketer, "acceptLead", sample_input("acceptLead", &mql)),
        (&marketer, "returnToMarketing", sample_input("returnToMarketing", &mql)),
        (&marketer, "returnToMarketing", sample_input("returnToMarketing", &lost)),
        (&marketer, "disqualifyLead", sample_input("disqualifyLead", &sal)),
        (&marketer, "convertToSql", sample_input("convertToSql", &sal)),
        (&marketer, "closeWon", sample_input("closeWon", &sql)),
        (&marketer, "closeLost", sample_input("closeLost", &sql)),
        (&marketer, "assignLead", assign.clone()),
        // Sales does not qualify, nor disqualify what marketing still nurtures.
        (&manager, "qualifyLead", sample_input("qualifyLead", &lead)),
        (&manager, "disqualifyLead", sample_input("disqualifyLead", &lead)),
        // A rep works their own leads only, and accepts for themself.
        (&rep, "returnToMarketing", sample_input("returnToMarketing", &mql)),
        (&rep, "disqualifyLead", sample_input("disqualifyLead", &mql)),
        (&rep, "acceptLead", accept_for_other),
        (&rep, "assignLead", assign),
    ];
    for (user, name, input) in cases {
        app.refused(user, name, input, "FORBIDDEN").await;
    }
}

#[tokio::test]
async fn bad_input_is_bad_user_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let inactive_rep = app.user(Role::SalesRep).await;
    baton::service::user::set_active(&app.state.db, inactive_rep.id, false).await.expect("deactivate");
    let mql = app.lead_in_stage("mql@example.com", Stage::Mql, None).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let sql = app.lead_in_stage("sql@example.com", Stage::Sql, Some(&rep)).await;
    let with = |name: &str, id: &str, changes: Value| {
        let mut input = sample_input(name, id);
        if let (Some(input), Some(changes)) = (input.as_object_mut(), changes.as_object()) {
            input.extend(changes.clone());
        }
        input
    };
    let money = |amount: &str, currency: &str| json!({ "amount": amount, "currencyCode": currency });
    let cases = [
        ("reasonCode", "returnToMarketing", with("returnToMarketing", &sal, json!({ "reasonCode": "" }))),
        ("reasonCode", "returnToMarketing", with("returnToMarketing", &sal, json!({ "reasonCode": "   " }))),
        ("reasonCode", "returnToMarketing", with("returnToMarketing", &sal, json!({ "reasonCode": "BANANA" }))),
        ("reasonCode", "returnToMarketing", with("returnToMarketing", &sal, json!({ "reasonCode": "bad_timing" }))),
        ("reasonCode", "disqualifyLead", with("disqualifyLead", &mql, json!({ "reasonCode": "NOPE" }))),
        ("reasonCode", "closeLost", with("closeLost", &sql, json!({ "reasonCode": "" }))),
        ("note", "closeLost", with("closeLost", &sql, json!({ "note": "n".repeat(2001) }))),
        ("note", "disqualifyLead", with("disqualifyLead", &sal, json!({ "note": "bell\u{7}" }))),
        ("budget", "convertToSql", with("convertToSql", &sal, json!({ "budget": null }))),
        ("authority", "convertToSql", with("convertToSql", &sal, json!({ "authority": null }))),
        ("need", "convertToSql", with("convertToSql", &sal, json!({ "need": "  " }))),
        ("timeline", "convertToSql", with("convertToSql", &sal, json!({ "timeline": null }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("-1", "USD") }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("10.001", "USD") }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("10.5", "JPY") }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("10", "usd") }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("10", "DOLLARS") }))),
        ("dealValue", "convertToSql", with("convertToSql", &sal, json!({ "dealValue": money("10", "") }))),
        ("amount", "closeWon", with("closeWon", &sql, json!({ "amount": money("-0.01", "EUR") }))),
        ("amount", "closeWon", with("closeWon", &sql, json!({ "amount": money("0.0001", "KWD") }))),
        ("amount", "closeWon", with("closeWon", &sql, json!({ "amount": money("100", "EU") }))),
        ("ownerId", "acceptLead", with("acceptLead", &mql, json!({ "ownerId": marketer.id.to_string() }))),
        ("ownerId", "acceptLead", with("acceptLead", &mql, json!({ "ownerId": manager.id.to_string() }))),
        ("ownerId", "acceptLead", with("acceptLead", &mql, json!({ "ownerId": inactive_rep.id.to_string() }))),
        ("ownerId", "acceptLead", with("acceptLead", &mql, json!({ "ownerId": Uuid::now_v7().to_string() }))),
        ("ownerId", "acceptLead", with("acceptLead", &mql, json!({ "ownerId": "rep-7" }))),
        ("idempotencyKey", "acceptLead", with("acceptLead", &mql, json!({ "idempotencyKey": "" }))),
        ("idempotencyKey", "acceptLead", with("acceptLead", &mql, json!({ "idempotencyKey": "k".repeat(201) }))),
    ];
    for (field, name, input) in cases {
        let error = app.refused(&manager, name, input.clone(), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], field, "{name} {input}: {error}");
    }
}

#[tokio::test]
async fn a_required_field_left_out_or_unreadable_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let manager = app.user(Role::SalesManager).await;
    let rep = app.user(Role::SalesRep).await;
    let sal = app.lead_in_stage("sal@example.com", Stage::Sal, Some(&rep)).await;
    let sql = app.lead_in_stage("sql@example.com", Stage::Sql, Some(&rep)).await;
    let mut unreadable = sample_input("convertToSql", &sal);
    unreadable["dealValue"]["amount"] = json!("twelve");
    let cases = [
        ("reasonCode", "returnToMarketing", json!({ "leadId": sal })),
        ("reasonCode", "disqualifyLead", json!({ "leadId": sal })),
        ("reasonCode", "closeLost", json!({ "leadId": sql })),
        (
            "dealValue",
            "convertToSql",
            json!({ "leadId": sal, "budget": "b", "authority": "a", "need": "n", "timeline": "t" }),
        ),
        ("amount", "closeWon", json!({ "leadId": sql })),
        ("Decimal", "convertToSql", unreadable),
    ];
    for (field, name, input) in cases {
        let error = app.refused(&manager, name, input, "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap_or_default().contains(field), "{error}");
    }
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_the_current_one_moves_the_lead() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    let cases = [
        ("qualifyLead", Stage::Lead),
        ("acceptLead", Stage::Mql),
        ("returnToMarketing", Stage::Sal),
        ("disqualifyLead", Stage::Mql),
        ("convertToSql", Stage::Sal),
        ("closeWon", Stage::Sql),
        ("closeLost", Stage::Sql),
        ("assignLead", Stage::Sal),
    ];
    for (name, stage) in cases {
        let id = app.lead_in_stage(&format!("{name}@example.com").to_lowercase(), stage, Some(&rep)).await;
        let version = app.snapshot(&id).await["version"].as_i64().expect("version");
        let mut input = sample_input(name, &id);
        if matches!(name, "acceptLead" | "assignLead") {
            input["ownerId"] = json!(other_rep.id.to_string());
        }
        for stale in [version - 1, version + 1, 0] {
            input["expectedVersion"] = json!(stale);
            let error = app.refused(&admin, name, input.clone(), "CONFLICT").await;
            assert!(error["message"].as_str().unwrap_or_default().contains("version"), "{name}: {error}");
        }
        input["expectedVersion"] = json!(version);
        let lead = app.moved(&admin, name, input).await;
        assert_eq!(lead["version"], version + 1, "{name}");
    }
}
