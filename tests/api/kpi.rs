//! KPIs and the funnel over HTTP: hand-made histories with known answers, in both views,
//! through the rollups (whole days and months) and the log (partial days); targets and
//! their status; input checks; and concurrent moves on the same rollup rows.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use baton::service::kpi::rebuild;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entity::{Role, Stage, lead, lead_event};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, TestUser, sample_input},
    kpi_model::{assert_rebuild_matches, rollup_rows},
};

pub const KPIS: &str = "query($period: PeriodInput, $filter: FunnelFilter, $view: KpiView, $groupBy: [KpiGroupBy!]) {
    kpis(period: $period, filter: $filter, view: $view, groupBy: $groupBy) {
        key unit direction value target tolerance status owners view
        money { amount currencyCode } amounts { amount currencyCode }
        series { group { channel ownerId periodStart } value status }
    } }";

pub const FUNNEL: &str = "query($period: PeriodInput, $filter: FunnelFilter, $view: KpiView, $groupBy: [KpiGroupBy!]) {
    funnel(period: $period, filter: $filter, view: $view, groupBy: $groupBy) {
        view period { from to }
        stages { stage current entered exited conversionToNext dropOff timeInStageMinutesMedian timeInStageMinutesP90 }
        rejectionsByReason { reasonCode count rate }
        groups { group { channel ownerId periodStart } stages { stage current entered conversionToNext } }
    } }";

/// The KPIs by key.
pub async fn kpis(app: &TestApp, user: &TestUser, variables: Value) -> HashMap<String, Value> {
    let data = app.data(user, KPIS, variables).await;
    data["kpis"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| (k["key"].as_str().unwrap_or("").to_owned(), k.clone()))
        .collect()
}

/// The funnel's stages by key.
pub async fn funnel(app: &TestApp, user: &TestUser, variables: Value) -> (Value, HashMap<String, Value>) {
    let data = app.data(user, FUNNEL, variables).await;
    let stages = data["funnel"]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s["stage"].as_str().unwrap_or("").to_owned(), s.clone()))
        .collect();
    (data["funnel"].clone(), stages)
}

pub fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() })
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Sets when a lead entered its current stage, as if it had waited there.
pub async fn age(app: &TestApp, lead_id: &str, entered: DateTime<Utc>) {
    lead::Entity::update_many()
        .col_expr(lead::Column::StageEnteredAt, Expr::value(entered))
        .filter(lead::Column::Id.eq(Uuid::parse_str(lead_id).expect("uuid")))
        .exec(&app.state.db)
        .await
        .expect("age lead");
}

fn assert_close(value: &Value, expected: f64, relative: f64, what: &str) {
    let got = value.as_f64().unwrap_or_else(|| panic!("{what}: no number in {value}"));
    assert!((got - expected).abs() <= expected.abs() * relative + 1e-9, "{what}: {got} is not {expected}");
}

/// Ten MQLs: seven accepted (after 10, 20 … 70 minutes in MQL), two returned with
/// BAD_TIMING, one disqualified as NOT_A_FIT; four SALs contacted 5, 20, 50 and 90 minutes
/// after entering SAL (SLA 60 minutes); two converted at 12000.50 USD; one won at 11500.
async fn known_history(app: &TestApp, admin: &TestUser, rep: &TestUser) -> Vec<String> {
    let now = baton::domain::time::now();
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = app.create_lead(admin, &format!("known-{i}-{}@example.com", Uuid::now_v7().simple()), json!({})).await;
        app.moved(admin, "qualifyLead", json!({ "leadId": id })).await;
        ids.push(id);
    }
    for (i, id) in ids[..7].iter().enumerate() {
        age(app, id, now - Duration::minutes(10 * (i as i64 + 1))).await;
        app.moved(admin, "acceptLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })).await;
    }
    for id in &ids[7..9] {
        app.moved(admin, "returnToMarketing", json!({ "leadId": id, "reasonCode": "BAD_TIMING" })).await;
    }
    app.moved(admin, "disqualifyLead", json!({ "leadId": ids[9], "reasonCode": "NOT_A_FIT" })).await;
    let entered = baton::domain::time::now() - Duration::minutes(100);
    for (id, minutes) in ids[..4].iter().zip([5, 20, 50, 90]) {
        age(app, id, entered).await;
        let contact = entered + Duration::minutes(minutes);
        app.moved(rep, "recordTouchpoint", json!({ "leadId": id, "kind": "CALL", "occurredAt": contact.to_rfc3339() }))
            .await;
    }
    for id in &ids[..2] {
        app.moved(rep, "convertToSql", sample_input("convertToSql", id)).await;
    }
    app.moved(rep, "closeWon", sample_input("closeWon", &ids[0])).await;
    ids
}

fn assert_known_kpis(kpis: &HashMap<String, Value>) {
    let value = |key: &str| kpis.get(key).map_or(Value::Null, |k| k["value"].clone());
    assert_eq!(value("lead_to_mql_rate"), json!(1.0));
    assert_eq!(value("mql_to_sal_rate"), json!(0.7));
    // Three rejections out of twelve moves out of MQL (ten) and SAL (two).
    assert_eq!(value("sal_rejection_rate"), json!(0.25));
    assert_eq!(value("sal_to_sql_rate"), json!(1.0));
    assert_eq!(value("win_rate"), json!(1.0));
    // Two returns out of thirteen moves out of MQL, SAL, SQL and LOST.
    assert_close(&value("recycle_rate"), 2.0 / 13.0, 1e-12, "recycle rate");
    assert_eq!(value("sla_compliance_rate"), json!(0.75));
    assert_eq!(value("new_customers"), json!(1.0));
    assert_eq!(value("lead_to_customer_rate"), json!(0.1));
    assert_close(&value("mql_acceptance_minutes_median"), 40.0, 0.05, "acceptance median");
    assert_close(&value("speed_to_lead_minutes_median"), 20.0, 0.05, "speed median");
    assert_close(&value("speed_to_lead_minutes_p90"), 90.0, 0.05, "speed p90");
    assert_eq!(value("won_revenue"), json!(11500.0));
    assert_eq!(kpis["won_revenue"]["money"], json!({ "amount": "11500.00", "currencyCode": "USD" }));
    assert_eq!(kpis["average_deal_size"]["money"], json!({ "amount": "11500.00", "currencyCode": "USD" }));
    assert_eq!(kpis["open_pipeline"]["money"], json!({ "amount": "12000.50", "currencyCode": "USD" }));
    // 35% of 12000.50, to the cent, half to even: 4200.175 → 4200.18.
    assert_eq!(kpis["weighted_pipeline"]["money"], json!({ "amount": "4200.18", "currencyCode": "USD" }));
    assert_eq!(value("sla_breaches"), json!(0.0));
}

fn assert_known_funnel(funnel: &Value, stages: &HashMap<String, Value>) {
    let numbers = |stage: &str| {
        let s = &stages[stage];
        (s["current"].clone(), s["entered"].clone(), s["conversionToNext"].clone())
    };
    assert_eq!(numbers("LEAD"), (json!(2), json!(12), json!(1.0)));
    assert_eq!(numbers("MQL"), (json!(0), json!(10), json!(0.7)));
    assert_eq!(numbers("SAL"), (json!(5), json!(7), json!(1.0)));
    assert_eq!(numbers("SQL"), (json!(1), json!(2), json!(1.0)));
    assert_eq!(numbers("WON"), (json!(1), json!(1), Value::Null));
    assert_eq!(numbers("DISQUALIFIED"), (json!(1), json!(1), Value::Null));
    assert_close(&stages["MQL"]["dropOff"], 0.3, 1e-9, "MQL drop-off");
    let reasons = funnel["rejectionsByReason"].as_array().cloned().unwrap_or_default();
    let counts: Vec<_> = reasons.iter().map(|r| (r["reasonCode"].clone(), r["count"].clone())).collect();
    assert_eq!(counts, [(json!("BAD_TIMING"), json!(2)), (json!("NOT_A_FIT"), json!(1))]);
    assert_close(&reasons[0]["rate"], 2.0 / 12.0, 1e-12, "BAD_TIMING rate");
    assert_close(&reasons[1]["rate"], 1.0 / 12.0, 1e-12, "NOT_A_FIT rate");
}

#[tokio::test]
async fn a_hand_made_history_gives_exact_kpis_from_rollups_and_from_the_log_alike() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let viewer = app.user(Role::Viewer).await;
    known_history(&app, &admin, &rep).await;
    let now = baton::domain::time::now();
    let today = now.date_naive();
    let month = today.with_day(1).expect("first of month");
    let periods = [
        // Whole days, from the day rollups.
        period(midnight(today - Duration::days(1)), midnight(today + Duration::days(2))),
        // Whole months and days, from the month and day rollups.
        period(midnight(month - Duration::days(70)), midnight(today + Duration::days(40))),
        // Partial days only, from the log.
        period(now - Duration::hours(3), now + Duration::hours(1)),
    ];
    for period in periods {
        let vars = json!({ "period": period });
        assert_known_kpis(&kpis(&app, &viewer, vars.clone()).await);
        let (funnel_data, stages) = funnel(&app, &viewer, vars).await;
        assert_eq!(funnel_data["view"], "PERIOD");
        assert_known_funnel(&funnel_data, &stages);
    }
    assert_rebuild_matches(&app).await;
}

#[tokio::test]
async fn the_cohort_view_follows_the_leads_created_in_the_period() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    known_history(&app, &admin, &rep).await;
    let now = baton::domain::time::now();
    for period in [
        period(midnight(now.date_naive()), midnight(now.date_naive() + Duration::days(1))),
        period(now - Duration::hours(2), now + Duration::minutes(1)),
    ] {
        let vars = json!({ "period": period, "view": "COHORT" });
        let kpis = kpis(&app, &admin, vars.clone()).await;
        let mut keys: Vec<&str> = kpis.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["lead_to_customer_rate", "lead_to_mql_rate", "mql_to_sal_rate", "sal_to_sql_rate", "win_rate"]
        );
        assert_eq!(kpis["lead_to_mql_rate"]["value"], json!(1.0));
        assert_eq!(kpis["mql_to_sal_rate"]["value"], json!(0.7));
        assert_close(&kpis["sal_to_sql_rate"]["value"], 2.0 / 7.0, 1e-9, "SAL to SQL");
        assert_eq!(kpis["win_rate"]["value"], json!(0.5));
        assert_eq!(kpis["lead_to_customer_rate"]["value"], json!(0.1));
        assert_eq!(kpis["win_rate"]["view"], "COHORT");
        let (data, stages) = funnel(&app, &admin, vars).await;
        assert_eq!(data["view"], "COHORT");
        let entered: Vec<_> = ["LEAD", "MQL", "SAL", "SQL", "WON", "LOST", "DISQUALIFIED"]
            .iter()
            .map(|s| (stages[*s]["entered"].clone(), stages[*s]["current"].clone()))
            .collect();
        assert_eq!(
            entered,
            [(10, 2), (10, 0), (7, 5), (2, 1), (1, 1), (0, 0), (1, 1)].map(|(e, c)| (json!(e), json!(c))).to_vec()
        );
    }
    // A cohort created yesterday is empty: ratios with nothing to divide by are null.
    let yesterday = midnight(now.date_naive() - Duration::days(1));
    let empty =
        kpis(&app, &admin, json!({ "period": period(yesterday, yesterday + Duration::days(1)), "view": "COHORT" }))
            .await;
    assert_eq!(empty["win_rate"]["value"], Value::Null);
    assert_eq!(empty["win_rate"]["status"], Value::Null);
}

#[tokio::test]
async fn filters_and_groups_split_the_same_numbers() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let other_rep = app.user(Role::SalesRep).await;
    known_history(&app, &admin, &rep).await;
    let now = baton::domain::time::now();
    let day = period(midnight(now.date_naive()), midnight(now.date_naive() + Duration::days(1)));
    // By the rep: the seven acceptances are theirs; the returns from MQL belong to no rep.
    let mine = kpis(&app, &rep, json!({ "period": day, "filter": { "ownerIds": [rep.id.to_string()] } })).await;
    assert_eq!(mine["mql_to_sal_rate"]["value"], json!(1.0));
    assert_eq!(mine["won_revenue"]["value"], json!(11500.0));
    let theirs = kpis(&app, &rep, json!({ "period": day, "filter": { "ownerIds": [other_rep.id.to_string()] } })).await;
    assert_eq!(theirs["mql_to_sal_rate"]["value"], Value::Null);
    assert_eq!(theirs["won_revenue"]["value"], json!(0.0));
    let sales = kpis(&app, &admin, json!({ "period": day, "filter": { "team": "SALES" } })).await;
    assert_eq!(sales["mql_to_sal_rate"]["value"], json!(1.0));
    let none = kpis(&app, &admin, json!({ "period": day, "filter": { "channels": ["EVENT"] } })).await;
    assert_eq!(none["mql_to_sal_rate"]["value"], Value::Null);

    // Grouped by channel and month: one WEBINAR series, one point per month of the period.
    let from = midnight(now.date_naive().with_day(1).expect("first")) - Duration::days(1);
    let vars = json!({ "period": period(from, now + Duration::hours(1)), "groupBy": ["CHANNEL", "MONTH"] });
    let grouped = kpis(&app, &admin, vars.clone()).await;
    let series = grouped["mql_to_sal_rate"]["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(series.iter().all(|p| p["group"]["channel"] == "WEBINAR"));
    assert_eq!(series[0]["value"], Value::Null);
    assert_eq!(series[1]["value"], json!(0.7));
    let data = app.data(&admin, FUNNEL, vars).await;
    let last = &data["funnel"]["groups"][1];
    assert_eq!(last["stages"][2]["entered"], json!(7));
    assert_eq!(last["stages"][2]["current"], json!(5));

    // Grouped by owner: the rep's group and the unowned group.
    let by_owner = kpis(&app, &admin, json!({ "period": day, "groupBy": ["OWNER"] })).await;
    let points = by_owner["sal_rejection_rate"]["series"].as_array().cloned().unwrap_or_default();
    let rates: HashMap<String, Value> = points
        .iter()
        .map(|p| (p["group"]["ownerId"].as_str().unwrap_or("none").to_owned(), p["value"].clone()))
        .collect();
    assert_eq!(rates[&rep.id.to_string()], json!(0.0));
    assert_eq!(rates["none"], json!(1.0));
}

#[tokio::test]
async fn admins_set_targets_and_the_status_follows_them() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    known_history(&app, &admin, &rep).await;
    let set = "mutation($input: SetKpiTargetInput!) { setKpiTarget(input: $input) { key target tolerance unit direction owners } }";
    for (target, status) in [(0.8, "OFF_TRACK"), (0.75, "AT_RISK"), (0.7, "ON_TRACK"), (0.5, "ON_TRACK")] {
        let data = app.data(&admin, set, json!({ "input": { "key": "mql_to_sal_rate", "target": target } })).await;
        assert_eq!(data["setKpiTarget"]["target"], json!(target));
        assert_eq!(data["setKpiTarget"]["owners"], json!(["MARKETING", "SALES"]));
        let kpis = kpis(&app, &rep, json!({})).await;
        assert_eq!(kpis["mql_to_sal_rate"]["target"], json!(target));
        assert_eq!(kpis["mql_to_sal_rate"]["status"], status, "target {target}");
    }
    let data = app.data(&admin, set, json!({ "input": { "key": "mql_to_sal_rate", "target": null } })).await;
    assert_eq!(data["setKpiTarget"]["target"], Value::Null);
    assert_eq!(kpis(&app, &rep, json!({})).await["mql_to_sal_rate"]["status"], Value::Null);
}

#[tokio::test]
async fn only_admins_set_targets_and_bad_targets_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let set = "mutation($input: SetKpiTargetInput!) { setKpiTarget(input: $input) { key target } }";
    for role in [Role::Marketing, Role::SalesManager, Role::SalesRep, Role::Viewer] {
        let user = app.user(role).await;
        let code = app.error_code(&user, set, json!({ "input": { "key": "win_rate", "target": 0.3 } })).await;
        assert_eq!(code, "FORBIDDEN", "{role:?}");
    }
    let code = app.error_code(&admin, set, json!({ "input": { "key": "no_such_kpi", "target": 0.3 } })).await;
    assert_eq!(code, "NOT_FOUND");
    app.assert_bad_input(&admin, set, json!({ "input": { "key": "win_rate", "target": -0.1 } }), "target").await;
    let kpis = kpis(&app, &admin, json!({})).await;
    assert_eq!(kpis["win_rate"]["target"], json!(0.25), "refused requests change nothing");
}

#[tokio::test]
async fn bad_periods_and_unsupported_views_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let viewer = app.user(Role::Viewer).await;
    let now = baton::domain::time::now();
    for query in [KPIS, FUNNEL] {
        let backwards = json!({ "period": period(now, now - Duration::days(1)) });
        app.assert_bad_input(&viewer, query, backwards, "period.to").await;
        let empty = json!({ "period": period(now, now) });
        app.assert_bad_input(&viewer, query, empty, "period.to").await;
        let too_long = json!({ "period": period(now - Duration::days(6 * 365), now) });
        app.assert_bad_input(&viewer, query, too_long, "period.to").await;
        let cohort_by_owner = json!({ "view": "COHORT", "filter": { "ownerIds": [viewer.id.to_string()] } });
        app.assert_bad_input(&viewer, query, cohort_by_owner, "filter").await;
        let both = json!({ "groupBy": ["WEEK", "MONTH"] });
        app.assert_bad_input(&viewer, query, both, "groupBy").await;
        let bad_id = json!({ "filter": { "campaignIds": ["nope"] } });
        app.assert_bad_input(&viewer, query, bad_id, "filter.campaignIds").await;
    }
}

#[tokio::test]
async fn concurrent_moves_on_the_same_rollup_rows_lose_no_increment() {
    let app = Arc::new(TestApp::spawn().await);
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let mut requests = Vec::new();
    for i in 0..12 {
        let id = app.create_lead(&admin, &format!("race-{i}-{}@example.com", Uuid::now_v7().simple()), json!({})).await;
        app.moved(&admin, "qualifyLead", json!({ "leadId": id })).await;
        requests.push((admin.clone(), "acceptLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })));
    }
    for result in app.all_at_once(requests).await {
        result.expect("every acceptance succeeds");
    }
    let (_, stages) = funnel(&app, &admin, json!({})).await;
    assert_eq!((stages["SAL"]["entered"].clone(), stages["SAL"]["current"].clone()), (json!(12), json!(12)));
    assert_eq!(stages["MQL"]["current"], json!(0));
    let kpis = kpis(&app, &admin, json!({ "filter": { "ownerIds": [rep.id.to_string()] } })).await;
    assert_eq!(kpis["mql_to_sal_rate"]["value"], json!(1.0));
    assert_rebuild_matches(&app).await;
}

/// An app whose own SLA sweep stays out of the way (its first is an hour away), so the
/// breaches a test sees are those of the sweeps it runs itself.
async fn without_own_sweeps() -> TestApp {
    let live = baton::config::LiveConfig {
        sla_sweep_interval: std::time::Duration::from_secs(3600),
        ..baton::config::LiveConfig::default()
    };
    TestApp::spawn_live(crate::helpers::jwt_config(Some(crate::helpers::TEST_SECRET), None, None), live).await
}

#[tokio::test]
async fn imports_and_sla_breaches_count_once_each() {
    // The breaches are appended by the two sweeps below.
    let app = without_own_sweeps().await;
    let marketer = app.user(Role::Marketing).await;
    let rep = app.user(Role::SalesRep).await;
    let now = baton::domain::time::now();
    for n in 0..3 {
        let id = app
            .lead_in_stage(&format!("late-{n}-{}@example.com", Uuid::now_v7().simple()), entity::Stage::Sal, Some(&rep))
            .await;
        age(&app, &id, now - Duration::hours(2)).await;
    }
    // Two sweeps at once append each breach once; the KPIs count what was appended.
    let (a, b) = tokio::join!(
        baton::service::sla::sweep(&app.state.writer, now),
        baton::service::sla::sweep(&app.state.writer, now)
    );
    assert_eq!(a.expect("sweep") + b.expect("sweep"), 3);
    let rows: Vec<Value> =
        (0..4).map(|i| json!({ "email": format!("imported-{i}@example.com"), "channel": "EMAIL" })).collect();
    let import = "mutation($input: ImportLeadsInput!) { importLeads(input: $input) { createdCount } }";
    assert_eq!(
        app.data(&marketer, import, json!({ "input": { "leads": rows } })).await["importLeads"]["createdCount"],
        4
    );

    let kpis = kpis(&app, &marketer, json!({})).await;
    assert_eq!(kpis["sla_breaches"]["value"], json!(3.0));
    let (_, stages) = funnel(&app, &marketer, json!({ "filter": { "channels": ["EMAIL"] } })).await;
    assert_eq!((stages["LEAD"]["entered"].clone(), stages["LEAD"]["current"].clone()), (json!(4), json!(4)));
    let weekly = app
        .data(
            &marketer,
            FUNNEL,
            json!({ "period": period(now - Duration::days(20), now + Duration::hours(1)), "groupBy": ["WEEK"] }),
        )
        .await;
    let groups = weekly["funnel"]["groups"].as_array().cloned().unwrap_or_default();
    assert!((3..=5).contains(&groups.len()), "{groups:?}");
    for group in &groups {
        let start = crate::helpers::time(&group["group"]["periodStart"]);
        assert_eq!(start.weekday(), chrono::Weekday::Mon, "{group}");
    }
    let entered: i64 = groups.iter().map(|g| g["stages"][0]["entered"].as_i64().unwrap_or(0)).sum();
    assert_eq!(entered, 7);
    assert_rebuild_matches(&app).await;
}

#[tokio::test]
async fn a_sal_shows_its_breach_until_it_moves_on_and_breaches_again_in_a_later_stay() {
    let app = without_own_sweeps().await;
    let (manager, rep) = (app.user(Role::SalesManager).await, app.user(Role::SalesRep).await);
    let id = app.lead_in_stage(&format!("late-{}@example.com", Uuid::now_v7().simple()), Stage::Sal, Some(&rep)).await;
    let now = baton::domain::time::now();
    age(&app, &id, now - Duration::hours(2)).await;
    let before = app.snapshot(&id).await;
    assert_eq!(before["slaBreachedAt"], Value::Null);

    let sweep = |at| baton::service::sla::sweep(&app.state.writer, at);
    assert_eq!(sweep(now).await.expect("sweep"), 1);
    let breached = app.snapshot(&id).await;
    assert_eq!(crate::helpers::time(&breached["slaBreachedAt"]), chrono::SubsecRound::trunc_subsecs(now, 6));
    // The breach is no change of the lead's: a client's expected version still holds.
    assert_eq!((&breached["version"], &breached["updatedAt"]), (&before["version"], &before["updatedAt"]));
    assert_eq!(sweep(now + Duration::minutes(1)).await.expect("sweep"), 0, "one breach per stay");

    let input = json!({ "leadId": id, "reasonCode": "BAD_TIMING" });
    assert_eq!(app.moved(&rep, "returnToMarketing", input).await["slaBreachedAt"], Value::Null);
    app.moved(&app.user(Role::Marketing).await, "qualifyLead", json!({ "leadId": id })).await;
    let accepted = app.moved(&manager, "acceptLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })).await;
    assert_eq!(accepted["slaBreachedAt"], Value::Null);
    assert_eq!(sweep(now + Duration::minutes(2)).await.expect("sweep"), 0, "the new stay is not late yet");
    let later = baton::domain::time::now() + Duration::hours(2);
    assert_eq!(sweep(later).await.expect("sweep"), 1, "the new stay breaches on its own");
    assert_eq!(
        crate::helpers::time(&app.snapshot(&id).await["slaBreachedAt"]),
        chrono::SubsecRound::trunc_subsecs(later, 6)
    );
    let kinds: Vec<Value> = app.history(&id).await.iter().map(|event| event["kind"].clone()).collect();
    assert_eq!(kinds.iter().filter(|kind| *kind == "SLA_BREACHED").count(), 2, "{kinds:?}");
    assert_rebuild_matches(&app).await;
}

/// Wins a new lead through the real mutations, owned by `rep`, for `amount` in `currency`;
/// `extra` adds to its creation input (`accountId`, `channel`, `campaignId`).
async fn won_lead(
    app: &TestApp,
    admin: &TestUser,
    rep: &TestUser,
    extra: Value,
    amount: &str,
    currency: &str,
) -> String {
    let id = app.create_lead(admin, &format!("won-{}@example.com", Uuid::now_v7().simple()), extra).await;
    app.moved(admin, "qualifyLead", json!({ "leadId": id })).await;
    app.moved(admin, "acceptLead", json!({ "leadId": id, "ownerId": rep.id.to_string() })).await;
    app.moved(admin, "convertToSql", sample_input("convertToSql", &id)).await;
    let won = json!({ "leadId": id, "amount": { "amount": amount, "currencyCode": currency } });
    app.moved(admin, "closeWon", won).await;
    id
}

/// Moves every event of a lead to `at`, as if its whole history had happened then; the
/// rollups follow with a rebuild.
async fn backdate(app: &TestApp, lead_id: &str, at: DateTime<Utc>) {
    entity::lead_event::Entity::update_many()
        .col_expr(entity::lead_event::Column::OccurredAt, Expr::value(at))
        .filter(entity::lead_event::Column::LeadId.eq(Uuid::parse_str(lead_id).expect("uuid")))
        .exec(&app.state.db)
        .await
        .expect("backdate events");
}

/// A campaign with this much spend, in minor units of USD.
pub async fn campaign_with_spend(app: &TestApp, channel: entity::Channel, spend: i64) -> String {
    let id = app.campaign("Spend", channel).await;
    entity::campaign::Entity::update_many()
        .col_expr(entity::campaign::Column::SpendAmount, Expr::value(spend))
        .filter(entity::campaign::Column::Id.eq(Uuid::parse_str(&id).expect("uuid")))
        .exec(&app.state.db)
        .await
        .expect("set spend");
    id
}

const ACCOUNT_VALUE: &str = "query($id: ID!) { account(id: $id) { lifetimeValue { amount currencyCode } wonDeals } }";

/// An account's lifetime value and won deals.
async fn account_value(app: &TestApp, user: &TestUser, id: &str) -> (Value, Value) {
    let data = app.data(user, ACCOUNT_VALUE, json!({ "id": id })).await;
    (data["account"]["lifetimeValue"].clone(), data["account"]["wonDeals"].clone())
}

fn usd(amount: &str) -> Value {
    json!({ "amount": amount, "currencyCode": "USD" })
}

/// The lifetime value KPIs: (new customer accounts, average lifetime value, customer
/// acquisition cost, LTV:CAC).
fn lifetime_kpis(kpis: &HashMap<String, Value>) -> (Value, Value, Value, Value) {
    (
        kpis["new_customer_accounts"]["value"].clone(),
        kpis["average_lifetime_value"]["money"].clone(),
        kpis["customer_acquisition_cost"]["money"].clone(),
        kpis["ltv_to_cac_ratio"]["value"].clone(),
    )
}

/// Account C first wins 700; then, in the period, A wins 1000 and 500, B wins 300, C wins
/// 400 again and a lead without an account wins 250; after the period B wins 200 more.
/// Campaign spend is 2000 USD. New customer accounts in the period: A and B, worth 1500 and
/// 500 to date, so 1000 on average; five moves to WON make the acquisition cost 400, and
/// LTV:CAC 2.5. C became a customer before the period and is not counted.
#[tokio::test]
async fn lifetime_value_follows_each_new_customer_account_through_its_later_wins() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let (rep_a, rep_b) = (app.user(Role::SalesRep).await, app.user(Role::SalesRep).await);
    let campaign = campaign_with_spend(&app, entity::Channel::Event, 200_000).await;
    let [a, b, c] = [
        app.create_account(&admin, "Alpha", "alpha.example").await,
        app.create_account(&admin, "Beta", "beta.example").await,
        app.create_account(&admin, "Gamma", "gamma.example").await,
    ];
    let event = |account: Option<&str>| json!({ "accountId": account, "channel": "EVENT", "campaignId": campaign });
    let webinar = |account: &str| json!({ "accountId": account, "channel": "WEBINAR" });
    let c1 = won_lead(&app, &admin, &rep_a, webinar(&c), "700", "USD").await;
    let from = baton::domain::time::now();
    let mut in_period = vec![
        won_lead(&app, &admin, &rep_a, event(Some(&a)), "1000", "USD").await,
        won_lead(&app, &admin, &rep_a, webinar(&a), "500", "USD").await,
        won_lead(&app, &admin, &rep_b, webinar(&b), "300", "USD").await,
        won_lead(&app, &admin, &rep_a, event(Some(&c)), "400", "USD").await,
    ];
    in_period.push(won_lead(&app, &admin, &rep_a, event(None), "250", "USD").await);
    let to = baton::domain::time::now();
    won_lead(&app, &admin, &rep_b, event(Some(&b)), "200", "USD").await;

    // Every account's value, all time, whenever its deals were won.
    for (account, value) in [(&a, "1500.00"), (&b, "500.00"), (&c, "1100.00")] {
        assert_eq!(account_value(&app, &admin, account).await, (json!([usd(value)]), json!(2)));
    }
    // Within today, so from the log's partial days.
    let partial = kpis(&app, &rep_a, json!({ "period": period(from, to) })).await;
    assert_eq!(lifetime_kpis(&partial), (json!(2.0), usd("1000.00"), usd("400.00"), json!(2.5)));
    assert_eq!(partial["new_customers"]["value"], json!(5.0));
    assert_eq!(partial["average_lifetime_value"]["value"], json!(1000.0));
    assert_eq!(partial["ltv_to_cac_ratio"]["target"], json!(3.0));
    assert_eq!(partial["ltv_to_cac_ratio"]["status"], "OFF_TRACK");
    assert_eq!(partial["ltv_to_cac_ratio"]["owners"], json!(["MARKETING"]));
    assert_eq!(partial["average_lifetime_value"]["owners"], json!(["MARKETING", "SALES"]));
    // The whole day from the day rollups: A, B and C, 3100 over three; 2000 over seven wins.
    let today = midnight(to.date_naive());
    let day = kpis(&app, &rep_a, json!({ "period": period(today, today + Duration::days(1)) })).await;
    assert_eq!(lifetime_kpis(&day).0, json!(3.0));
    assert_eq!(lifetime_kpis(&day).1, usd("1033.33"));
    assert_eq!(lifetime_kpis(&day).2, usd("285.71"));
    assert_close(&lifetime_kpis(&day).3, (3100.0 / 3.0) / (2000.0 / 7.0), 1e-12, "LTV:CAC of the day");
    assert_rebuild_matches(&app).await;

    // Now spread over days: C's first win forty days ago, the period's wins five days ago,
    // B's last win today; the rollups rebuilt from the log as it now reads.
    let now = baton::domain::time::now();
    backdate(&app, &c1, now - Duration::days(40)).await;
    for id in &in_period {
        backdate(&app, id, now - Duration::days(5)).await;
    }
    baton::service::kpi::rebuild::rebuild(&app.state.db).await.expect("rebuild");
    let last_ten_days = period(today - Duration::days(10), today);
    let whole = kpis(&app, &rep_a, json!({ "period": last_ten_days })).await;
    assert_eq!(lifetime_kpis(&whole), (json!(2.0), usd("1000.00"), usd("400.00"), json!(2.5)));
    // By channel: the first won lead's channel decides, and A's value keeps its WEBINAR deal.
    let events = kpis(&app, &rep_a, json!({ "period": last_ten_days, "filter": { "channels": ["EVENT"] } })).await;
    assert_eq!(lifetime_kpis(&events), (json!(1.0), usd("1500.00"), usd("666.67"), json!(2.25)));
    // By owner: the first won lead's owner; spend is not split by owner.
    let owner = json!({ "ownerIds": [rep_b.id.to_string()] });
    let b_only = kpis(&app, &rep_a, json!({ "period": last_ten_days, "filter": owner })).await;
    assert_eq!(lifetime_kpis(&b_only), (json!(1.0), usd("500.00"), usd("2000.00"), json!(0.25)));
    let team = kpis(&app, &rep_a, json!({ "period": last_ten_days, "filter": { "team": "SALES" } })).await;
    assert_eq!(lifetime_kpis(&team), lifetime_kpis(&whole));
    let by_channel = kpis(&app, &rep_a, json!({ "period": last_ten_days, "groupBy": ["CHANNEL"] })).await;
    let points: Vec<_> = by_channel["average_lifetime_value"]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["group"]["channel"].clone(), p["value"].clone()))
        .collect();
    assert_eq!(points, [(json!("EVENT"), json!(1500.0)), (json!("WEBINAR"), json!(500.0))]);
    let ratios: Vec<_> =
        by_channel["ltv_to_cac_ratio"]["series"].as_array().into_iter().flatten().map(|p| p["value"].clone()).collect();
    // WEBINAR has no campaign spend, so no acquisition cost to divide by.
    assert_eq!(ratios, [json!(2.25), Value::Null]);

    // Sixty days by month, whole months from the month rollups: C is back, in its own month.
    let sixty = json!({ "period": period(today - Duration::days(60), today), "groupBy": ["MONTH"] });
    let months = kpis(&app, &rep_a, sixty).await;
    assert_eq!(lifetime_kpis(&months).0, json!(3.0));
    assert_eq!(lifetime_kpis(&months).1, usd("1033.33"));
    assert_close(&lifetime_kpis(&months).3, (3100.0 / 3.0) / (2000.0 / 6.0), 1e-12, "LTV:CAC of sixty days");
    let month_of = |at: DateTime<Utc>| midnight(at.date_naive().with_day(1).expect("first")).to_rfc3339();
    let series: HashMap<String, (Value, Value)> = months["new_customer_accounts"]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(months["average_lifetime_value"]["series"].as_array().into_iter().flatten())
        .map(|(count, ltv)| {
            let start = crate::helpers::time(&count["group"]["periodStart"]).to_rfc3339();
            (start, (count["value"].clone(), ltv["value"].clone()))
        })
        .collect();
    assert_eq!(series[&month_of(now - Duration::days(40))], (json!(1.0), json!(1100.0)));
    assert_eq!(series[&month_of(now - Duration::days(5))], (json!(2.0), json!(1000.0)));
    assert_rebuild_matches(&app).await;
}

#[tokio::test]
async fn lifetime_value_keeps_currencies_apart_and_leaves_leads_without_an_account_out() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let viewer = app.user(Role::Viewer).await;
    let account = app.create_account(&admin, "Delta", "delta.example").await;
    assert_eq!(account_value(&app, &viewer, &account).await, (json!([]), json!(0)));
    won_lead(&app, &admin, &rep, json!({ "accountId": account }), "100", "USD").await;
    won_lead(&app, &admin, &rep, json!({ "accountId": account }), "90", "EUR").await;
    won_lead(&app, &admin, &rep, json!({}), "50", "USD").await;
    let euros = json!({ "amount": "90.00", "currencyCode": "EUR" });
    assert_eq!(account_value(&app, &viewer, &account).await, (json!([euros, usd("100.00")]), json!(2)));
    let accounts = app
        .data(
            &viewer,
            "{ accounts(first: 10) { edges { node { name lifetimeValue { amount } wonDeals } } } }",
            json!({}),
        )
        .await;
    assert_eq!(accounts["accounts"]["edges"][0]["node"]["wonDeals"], json!(2));

    let kpis = kpis(&app, &viewer, json!({})).await;
    let ltv = &kpis["average_lifetime_value"];
    assert_eq!((ltv["value"].clone(), ltv["money"].clone()), (Value::Null, Value::Null));
    assert_eq!(ltv["amounts"], json!([euros, usd("100.00")]));
    assert_eq!(kpis["new_customer_accounts"]["value"], json!(1.0));
    assert_eq!(kpis["new_customers"]["value"], json!(3.0));
    assert_eq!(kpis["ltv_to_cac_ratio"]["value"], Value::Null);
    assert_eq!(kpis["ltv_to_cac_ratio"]["status"], Value::Null);
    assert_rebuild_matches(&app).await;
}

#[tokio::test]
async fn concurrent_first_wins_of_one_account_make_one_new_customer() {
    let app = Arc::new(TestApp::spawn().await);
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let account = app.create_account(&admin, "Epsilon", "epsilon.example").await;
    let mut requests = Vec::new();
    for i in 0..6 {
        let email = format!("rush-{i}-{}@example.com", Uuid::now_v7().simple());
        let id = app.create_lead(&admin, &email, json!({ "accountId": account })).await;
        for name in ["qualifyLead", "acceptLead", "convertToSql"] {
            let mut input = sample_input(name, &id);
            if name == "acceptLead" {
                input["ownerId"] = json!(rep.id.to_string());
            }
            app.moved(&admin, name, input).await;
        }
        requests.push((admin.clone(), "closeWon", json!({ "leadId": id, "amount": usd("100") })));
    }
    for result in app.all_at_once(requests).await {
        result.expect("every win succeeds");
    }
    assert_eq!(account_value(&app, &admin, &account).await, (json!([usd("600.00")]), json!(6)));
    let kpis = kpis(&app, &admin, json!({})).await;
    assert_eq!(kpis["new_customer_accounts"]["value"], json!(1.0));
    assert_eq!(kpis["average_lifetime_value"]["money"], usd("600.00"));
    assert_rebuild_matches(&app).await;
}

#[tokio::test]
async fn a_fact_recorded_for_a_closed_day_changes_the_kpis_already_read_for_it() {
    let app = TestApp::spawn().await;
    let (manager, rep) = (app.user(Role::SalesManager).await, app.user(Role::SalesRep).await);
    let today = baton::domain::time::now().date_naive();
    let entered = midnight(today - Duration::days(10)) + Duration::hours(1);
    let id = app.lead_in_stage(&format!("late-{}@example.com", Uuid::now_v7().simple()), Stage::Sal, Some(&rep)).await;
    age(&app, &id, entered).await;
    // Closed days only, grouped and not: what is counted for them is kept between requests.
    let closed = period(midnight(today - Duration::days(20)), midnight(today - Duration::days(2)));
    let grouped = json!({ "period": closed, "groupBy": ["MONTH", "CHANNEL"] });
    for variables in [json!({ "period": closed }), grouped.clone()] {
        for _ in 0..2 {
            assert_eq!(kpis(&app, &manager, variables.clone()).await["sla_breaches"]["value"], json!(0.0));
        }
    }

    // A breach recorded as of a day in that period (a sweep that ran then) lands in it.
    let swept = entered + Duration::hours(30);
    assert_eq!(baton::service::sla::sweep(&app.state.writer, swept).await.expect("sweep"), 1);
    assert_eq!(kpis(&app, &manager, json!({ "period": closed })).await["sla_breaches"]["value"], json!(1.0));
    let series = app.data(&manager, KPIS, grouped).await["kpis"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["key"] == "sla_breaches")
        .map(|k| k["series"].clone())
        .unwrap_or_default();
    let breaches: f64 = series.as_array().into_iter().flatten().filter_map(|p| p["value"].as_f64()).sum();
    assert_eq!(breaches, 1.0, "{series}");
    assert_rebuild_matches(&app).await;
}

/// A seed folds the rollups from a snapshot while it builds its indexes, then writes them;
/// a change to the log in between must not be lost.
#[tokio::test]
async fn rollups_folded_from_a_snapshot_are_folded_again_if_the_log_grew_since() {
    let app = TestApp::spawn().await;
    let admin = app.user(Role::Admin).await;
    let rep = app.user(Role::SalesRep).await;
    let fold_now = || async {
        let snapshot = app.state.db.begin().await.expect("begin");
        let folded = rebuild::fold(&snapshot).await.expect("fold");
        snapshot.rollback().await.expect("end the snapshot");
        folded
    };
    let first = app.create_lead(&admin, "snapshot-1@example.com", json!({})).await;
    app.moved(&admin, "qualifyLead", json!({ "leadId": first })).await;
    let incremental = rollup_rows(&app).await;
    rebuild::rebuild_from(&app.state.db, fold_now().await).await.expect("rebuild");
    assert_eq!(rollup_rows(&app).await, incremental, "an unchanged log gives the snapshot's rollups");

    let folded = fold_now().await;
    let second = app.create_lead(&admin, "snapshot-2@example.com", json!({})).await;
    app.moved(&admin, "qualifyLead", json!({ "leadId": second })).await;
    app.moved(&admin, "acceptLead", json!({ "leadId": second, "ownerId": rep.id.to_string() })).await;
    let incremental = rollup_rows(&app).await;
    rebuild::rebuild_from(&app.state.db, folded).await.expect("rebuild");
    assert_eq!(rollup_rows(&app).await, incremental, "the moves after the snapshot still count");
}

/// A seed into an empty database numbers its events itself and adds up their rollups as it
/// writes them, rather than reading the log back: what it adds up must be what a rebuild
/// reads from the log, and the database must number later events after the seeded ones.
#[tokio::test]
async fn a_seed_adds_up_what_a_rebuild_reads_from_its_log_and_the_log_goes_on_after_it() {
    let app = TestApp::spawn().await;
    let now = Utc::now();
    let options = baton::seed::SeedOptions { leads: 1_500, rng_seed: 11, now };
    let report = baton::seed::seed(&app.state.db, &options).await.expect("seed");
    let seeded = rollup_rows(&app).await;
    rebuild::rebuild(&app.state.db).await.expect("rebuild");
    let rebuilt = rollup_rows(&app).await;
    assert!(!seeded.is_empty(), "the seed wrote no rollups");
    let (seeded_only, rebuilt_only): (Vec<_>, Vec<_>) = {
        let (a, b) = (seeded.iter().collect::<HashSet<_>>(), rebuilt.iter().collect::<HashSet<_>>());
        (a.difference(&b).cloned().collect(), b.difference(&a).cloned().collect())
    };
    assert!(seeded_only.is_empty() && rebuilt_only.is_empty(), "seeded: {seeded_only:#?}\nrebuilt: {rebuilt_only:#?}");

    // The log is in time order, numbered without gaps.
    let log: Vec<(i64, DateTime<Utc>)> = lead_event::Entity::find()
        .select_only()
        .columns([lead_event::Column::Position, lead_event::Column::OccurredAt])
        .order_by_asc(lead_event::Column::Position)
        .into_tuple()
        .all(&app.state.db)
        .await
        .expect("log");
    assert_eq!(log.len() as u64, report.events);
    assert!(log.windows(2).all(|pair| pair[1].0 == pair[0].0 + 1 && pair[1].1 >= pair[0].1), "log out of order");

    let admin = app.user(Role::Admin).await;
    let created = app.create_lead(&admin, "after-the-seed@example.com", json!({})).await;
    let position: i64 = lead_event::Entity::find()
        .select_only()
        .column(lead_event::Column::Position)
        .filter(lead_event::Column::LeadId.eq(Uuid::parse_str(&created).expect("lead id")))
        .into_tuple()
        .one(&app.state.db)
        .await
        .expect("read")
        .expect("the new lead's event");
    let last = log.last().map_or(0, |(position, _)| *position);
    assert!(position > last, "a new event got position {position}, the seed's last is {last}");
}
