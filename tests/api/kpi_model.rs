//! Random histories through the real mutations, then every KPI and funnel number checked
//! against a brute-force recomputation straight from the `lead_event` rows (and the lead
//! table for "now" numbers): counts and rates equal, quantiles within the histogram's
//! bound; every account's lifetime value against its leads' wins in the log. And `kpi rebuild`
//! must reproduce the incrementally kept rollups row for row.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    Channel, LeadEventKind, Role, Stage, campaign, kpi_account_value, kpi_cohort, kpi_current, kpi_customer,
    kpi_customer_cohort, kpi_duration, kpi_flow, lead, lead_event,
};
use proptest::{prelude::*, test_runner::TestRunner};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, TestUser, sample_input},
    kpi::{age, campaign_with_spend, funnel, kpis, period},
};

/// Every rollup row with something in it, in a stable order.
pub async fn rollup_rows(app: &TestApp) -> Vec<String> {
    let db = &app.state.db;
    let mut rows: Vec<String> = Vec::new();
    let flows = kpi_flow::Entity::find().all(db).await.expect("flows");
    rows.extend(flows.into_iter().filter(|r| (r.n, r.amount) != (0, 0)).map(|r| format!("{r:?}")));
    let durations = kpi_duration::Entity::find().all(db).await.expect("durations");
    rows.extend(durations.into_iter().filter(|r| r.n != 0).map(|r| format!("{r:?}")));
    let current = kpi_current::Entity::find().all(db).await.expect("current");
    rows.extend(current.into_iter().filter(|r| (r.n, r.amount) != (0, 0)).map(|r| format!("{r:?}")));
    let cohort = kpi_cohort::Entity::find().all(db).await.expect("cohort");
    rows.extend(cohort.into_iter().filter(|r| (r.reached, r.current) != (0, 0)).map(|r| format!("{r:?}")));
    let values = kpi_account_value::Entity::find().all(db).await.expect("account values");
    rows.extend(values.into_iter().map(|r| format!("{r:?}")));
    let customers = kpi_customer::Entity::find().all(db).await.expect("customers");
    rows.extend(customers.into_iter().map(|r| format!("{r:?}")));
    let customer_cohort = kpi_customer_cohort::Entity::find().all(db).await.expect("customer cohort");
    rows.extend(customer_cohort.into_iter().map(|r| format!("{r:?}")));
    rows.sort();
    rows
}

/// Rebuilds the rollups with the function `baton kpi rebuild` runs and checks that they
/// come out exactly as the incremental path left them.
pub async fn assert_rebuild_matches(app: &TestApp) {
    let incremental = rollup_rows(app).await;
    assert!(!incremental.is_empty(), "the rollups are empty");
    baton::service::kpi::rebuild::rebuild(&app.state.db).await.expect("rebuild");
    let rebuilt = rollup_rows(app).await;
    let missing: Vec<_> = incremental.iter().filter(|r| !rebuilt.contains(r)).collect();
    let extra: Vec<_> = rebuilt.iter().filter(|r| !incremental.contains(r)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "only incremental: {missing:#?}\nonly rebuilt: {extra:#?}");
}

/// The KPIs recomputed from the log by brute force, for one filter.
struct Brute {
    /// (event, owner it is attributed to) in log order, in the period and filter.
    events: Vec<(lead_event::Model, Option<Uuid>)>,
    /// Leads in the filter, as they are now.
    leads: Vec<lead::Model>,
    /// Accounts whose first win (the first move to WON of any of their leads, in log order)
    /// is in the period and filter, and what all their wins add up to, in cents.
    new_accounts: i64,
    lifetime_cents: i64,
    /// Spend of the campaigns in the filter, in cents.
    spend_cents: i64,
}

/// The first win of an account: when, and the won lead's campaign and owner.
type FirstWin = (DateTime<Utc>, Option<Uuid>, Option<Uuid>);

impl Brute {
    async fn load(
        app: &TestApp,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        campaign: Option<Uuid>,
        owner: Option<Uuid>,
    ) -> Self {
        let all = lead_event::Entity::find()
            .order_by_asc(lead_event::Column::Position)
            .all(&app.state.db)
            .await
            .expect("events");
        let all_leads =
            lead::Entity::find().filter(lead::Column::Id.is_not_null()).all(&app.state.db).await.expect("leads");
        let account_of: HashMap<Uuid, Uuid> = all_leads.iter().filter_map(|l| Some((l.id, l.account_id?))).collect();
        let mut first_wins: HashMap<Uuid, FirstWin> = HashMap::new();
        let mut lifetime: HashMap<Uuid, i64> = HashMap::new();
        let mut owners: HashMap<Uuid, Option<Uuid>> = HashMap::new();
        let mut events = Vec::new();
        for event in all {
            let previous = owners.insert(event.lead_id, event.owner_id).flatten();
            let attributed = if event.kind == LeadEventKind::StageChanged && event.owner_id.is_none() {
                previous
            } else {
                event.owner_id
            };
            let won = event.from_stage == Some(Stage::Sql) && event.to_stage == Some(Stage::Won);
            if let (true, Some(account)) = (won, account_of.get(&event.lead_id)) {
                first_wins.entry(*account).or_insert((event.occurred_at, event.campaign_id, attributed));
                *lifetime.entry(*account).or_default() += event.amount.unwrap_or(0);
            }
            let in_filter =
                campaign.is_none_or(|c| event.campaign_id == Some(c)) && owner.is_none_or(|o| attributed == Some(o));
            if in_filter && event.occurred_at >= from && event.occurred_at < to {
                events.push((event, attributed));
            }
        }
        let new: Vec<Uuid> = first_wins
            .iter()
            .filter(|(_, (at, first_campaign, first_owner))| {
                *at >= from
                    && *at < to
                    && campaign.is_none_or(|c| *first_campaign == Some(c))
                    && owner.is_none_or(|o| *first_owner == Some(o))
            })
            .map(|(account, _)| *account)
            .collect();
        let spend_cents = campaign::Entity::find()
            .all(&app.state.db)
            .await
            .expect("campaigns")
            .iter()
            .filter(|c| campaign.is_none_or(|id| c.id == id))
            .map(|c| c.spend_amount)
            .sum();
        let leads = all_leads
            .into_iter()
            .filter(|l| {
                campaign.is_none_or(|c| l.campaign_id == Some(c)) && owner.is_none_or(|o| l.owner_id == Some(o))
            })
            .collect();
        Self {
            events,
            leads,
            new_accounts: new.len() as i64,
            lifetime_cents: new.iter().map(|account| lifetime[account]).sum(),
            spend_cents,
        }
    }

    fn moves(&self, from: &[Stage], to: &[Stage]) -> i64 {
        self.events
            .iter()
            .filter(|(e, _)| e.kind == LeadEventKind::StageChanged)
            .filter(|(e, _)| {
                e.from_stage.is_some_and(|s| from.contains(&s)) && e.to_stage.is_some_and(|s| to.contains(&s))
            })
            .count() as i64
    }

    fn rate(&self, from: &[Stage], to: &[Stage]) -> Value {
        let whole = self.moves(from, &ALL);
        if whole == 0 { Value::Null } else { json!(self.moves(from, to) as f64 / whole as f64) }
    }

    fn created(&self) -> i64 {
        self.events.iter().filter(|(e, _)| e.kind == LeadEventKind::Created).count() as i64
    }

    /// Exact nearest-rank quantile, in minutes.
    fn quantile(mut micros: Vec<i64>, q: f64) -> Option<f64> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_unstable();
        let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
        Some(micros[rank - 1].max(0) as f64 / 60_000_000.0)
    }

    fn acceptance(&self) -> Vec<i64> {
        self.events
            .iter()
            .filter(|(e, _)| e.from_stage == Some(Stage::Mql) && e.to_stage == Some(Stage::Sal))
            .filter_map(|(e, _)| (e.occurred_at - e.from_stage_entered_at?).num_microseconds())
            .collect()
    }

    fn contacts(&self) -> Vec<(i64, bool)> {
        self.events
            .iter()
            .filter(|(e, _)| e.kind == LeadEventKind::Touchpoint)
            .filter_map(|(e, _)| {
                let detail = e.detail.as_ref()?;
                (detail["firstContact"] == true).then_some(())?;
                let time = |key: &str| detail[key].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                let micros = (time("contactAt")? - time("salEnteredAt")?).num_microseconds()?;
                let within = detail["slaMinutes"].as_i64().is_none_or(|m| micros <= m * 60_000_000);
                Some((micros, within))
            })
            .collect()
    }

    fn won_cents(&self) -> i64 {
        self.events
            .iter()
            .filter(|(e, _)| e.from_stage == Some(Stage::Sql) && e.to_stage == Some(Stage::Won))
            .filter_map(|(e, _)| e.amount)
            .sum()
    }

    fn check_kpis(&self, kpis: &HashMap<String, Value>, context: &str) {
        use Stage::{Disqualified, Lead, Lost, Mql, Sal, Sql, Won};
        let value = |key: &str| kpis.get(key).map_or(Value::Null, |k| k["value"].clone());
        assert_same(&value("lead_to_mql_rate"), &self.rate(&[Lead], &[Mql]), "lead_to_mql_rate {context}");
        assert_same(&value("mql_to_sal_rate"), &self.rate(&[Mql], &[Sal]), "mql_to_sal_rate {context}");
        assert_same(&value("sal_to_sql_rate"), &self.rate(&[Sal], &[Sql]), "sal_to_sql_rate {context}");
        assert_same(&value("win_rate"), &self.rate(&[Sql], &[Won]), "win_rate {context}");
        assert_same(
            &value("sal_rejection_rate"),
            &self.rate(&[Mql, Sal], &[Lead, Disqualified]),
            "rejection {context}",
        );
        assert_same(&value("recycle_rate"), &self.rate(&[Mql, Sal, Sql, Lost], &[Lead]), "recycle {context}");
        let won = self.moves(&[Sql], &[Won]);
        assert_same(&value("new_customers"), &json!(won as f64), "new_customers {context}");
        let to_customer = if self.created() == 0 {
            Value::Null
        } else {
            json!(self.moves(&ALL, &[Won]) as f64 / self.created() as f64)
        };
        assert_same(&value("lead_to_customer_rate"), &to_customer, "lead_to_customer_rate {context}");
        let cents = |key: &str| value(key).as_f64().map(|v| (v * 100.0).round() as i64);
        assert_eq!(cents("won_revenue"), Some(self.won_cents()), "won_revenue {context}");
        let contacts = self.contacts();
        let within = contacts.iter().filter(|(_, w)| *w).count();
        let compliance = if contacts.is_empty() { Value::Null } else { json!(within as f64 / contacts.len() as f64) };
        assert_same(&value("sla_compliance_rate"), &compliance, "sla_compliance_rate {context}");
        let speeds: Vec<i64> = contacts.iter().map(|(m, _)| *m).collect();
        for (key, exact) in [
            ("mql_acceptance_minutes_median", Self::quantile(self.acceptance(), 0.5)),
            ("speed_to_lead_minutes_median", Self::quantile(speeds.clone(), 0.5)),
            ("speed_to_lead_minutes_p90", Self::quantile(speeds, 0.9)),
        ] {
            match (value(key).as_f64(), exact) {
                (None, None) => {}
                (Some(got), Some(exact)) => {
                    assert!((got - exact).abs() <= exact * 0.049 + 1e-12, "{key} {context}: {got} vs exact {exact}");
                }
                (got, exact) => panic!("{key} {context}: {got:?} vs exact {exact:?}"),
            }
        }
        let pipeline: i64 = self.leads.iter().filter(|l| l.stage == Sql).filter_map(|l| l.deal_value_amount).sum();
        assert_eq!(cents("open_pipeline"), Some(pipeline), "open_pipeline {context}");
        self.check_lifetime_value(kpis, won, context);
    }

    fn check_lifetime_value(&self, kpis: &HashMap<String, Value>, won: i64, context: &str) {
        let accounts = self.new_accounts;
        assert_eq!(kpis["new_customer_accounts"]["value"], json!(accounts as f64), "new accounts {context}");
        let average = kpis["average_lifetime_value"]["money"]["amount"].clone();
        let expected = if accounts == 0 {
            Value::Null
        } else {
            let cents = divide_half_even(self.lifetime_cents, accounts);
            json!(format!("{}.{:02}", cents / 100, cents % 100))
        };
        assert_eq!(average, expected, "average_lifetime_value {context}");
        let ratio = if accounts == 0 || won == 0 || self.spend_cents == 0 {
            Value::Null
        } else {
            json!((self.lifetime_cents as f64 / accounts as f64) / (self.spend_cents as f64 / won as f64))
        };
        assert_same(&kpis["ltv_to_cac_ratio"]["value"], &ratio, &format!("ltv_to_cac_ratio {context}"));
    }

    fn check_funnel(&self, stages: &HashMap<String, Value>, context: &str) {
        for stage in ALL {
            let key = stage_key(stage);
            let entered = self.moves(&ALL, &[stage]) + if stage == Stage::Lead { self.created() } else { 0 };
            let current = self.leads.iter().filter(|l| l.stage == stage).count() as i64;
            assert_eq!(stages[key]["entered"], json!(entered), "{key} entered {context}");
            assert_eq!(stages[key]["current"], json!(current), "{key} current {context}");
            assert_eq!(stages[key]["exited"], json!(self.moves(&[stage], &ALL)), "{key} exited {context}");
        }
    }
}

/// Equal, up to the last bit a float may lose on its way through JSON.
#[track_caller]
fn assert_same(got: &Value, expected: &Value, what: &str) {
    let close = match (got.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= b.abs() * 1e-12,
        _ => got == expected,
    };
    assert!(close, "{what}: got {got}, expected {expected}");
}

/// `a ÷ b` for positive numbers, rounded half to even.
fn divide_half_even(a: i64, b: i64) -> i64 {
    let (quotient, remainder) = (a / b, a % b);
    match (2 * remainder).cmp(&b) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + quotient % 2,
    }
}

const ALL: [Stage; 7] = [Stage::Lead, Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won, Stage::Lost, Stage::Disqualified];

fn stage_key(stage: Stage) -> &'static str {
    ["LEAD", "MQL", "SAL", "SQL", "WON", "LOST", "DISQUALIFIED"][ALL.iter().position(|s| *s == stage).unwrap_or(0)]
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Create,
    Qualify(usize),
    Accept(usize, usize),
    Return(usize, usize),
    Disqualify(usize, usize),
    Convert(usize, u32),
    Won(usize, u32),
    /// Every move on the way to WON the lead's stage allows, for this rep and amount; so
    /// that accounts win more than once.
    Close(usize, usize, u32),
    Lost(usize),
    Assign(usize, usize),
    /// A call by the owner this many minutes after the lead entered its stage.
    Contact(usize, i64),
    /// The lead has waited this many minutes in its stage.
    Age(usize, i64),
}

fn step() -> impl Strategy<Value = Step> {
    let lead = 0..6usize;
    prop_oneof![
        1 => Just(Step::Create),
        3 => lead.clone().prop_map(Step::Qualify),
        3 => (lead.clone(), 0..2usize).prop_map(|(l, r)| Step::Accept(l, r)),
        1 => (lead.clone(), 0..3usize).prop_map(|(l, r)| Step::Return(l, r)),
        1 => (lead.clone(), 0..3usize).prop_map(|(l, r)| Step::Disqualify(l, r)),
        2 => (lead.clone(), 1..500_000u32).prop_map(|(l, a)| Step::Convert(l, a)),
        2 => (lead.clone(), 1..500_000u32).prop_map(|(l, a)| Step::Won(l, a)),
        6 => (lead.clone(), 0..2usize, 1..500_000u32).prop_map(|(l, r, a)| Step::Close(l, r, a)),
        1 => lead.clone().prop_map(Step::Lost),
        1 => (lead.clone(), 0..2usize).prop_map(|(l, r)| Step::Assign(l, r)),
        2 => (lead.clone(), 0..200i64).prop_map(|(l, m)| Step::Contact(l, m)),
        2 => (lead, 1..20_000i64).prop_map(|(l, m)| Step::Age(l, m)),
    ]
}

const REASONS: [&str; 3] = ["BAD_TIMING", "NOT_A_FIT", "NO_BUDGET"];

/// Plays the steps on leads of the campaign; leads belong in turn to the first account, the
/// second, and none.
async fn play(
    app: &TestApp,
    admin: &TestUser,
    reps: &[TestUser; 2],
    campaign: &str,
    accounts: &[String; 2],
    steps: Vec<Step>,
) -> Vec<String> {
    let case = Uuid::now_v7().simple();
    let mut leads = Vec::new();
    let create = |n: usize| format!("model-{case}-{n}@example.com");
    let input = |n: usize| json!({ "campaignId": campaign, "channel": "EVENT", "accountId": accounts.get(n % 3) });
    for n in 0..6 {
        leads.push(app.create_lead(admin, &create(n), input(n)).await);
    }
    for step in steps {
        let pick = |i: usize| leads[i % leads.len()].clone();
        let money =
            |cents: u32| json!({ "amount": format!("{}.{:02}", cents / 100, cents % 100), "currencyCode": "USD" });
        // Refusals (a move the lead's stage does not allow) are part of random histories.
        let _ = match step {
            Step::Create => {
                let n = leads.len();
                leads.push(app.create_lead(admin, &create(n), input(n)).await);
                Ok(Value::Null)
            }
            Step::Qualify(l) => app.act(admin, "qualifyLead", json!({ "leadId": pick(l) })).await,
            Step::Accept(l, r) => {
                app.act(admin, "acceptLead", json!({ "leadId": pick(l), "ownerId": reps[r].id.to_string() })).await
            }
            Step::Return(l, r) => {
                app.act(admin, "returnToMarketing", json!({ "leadId": pick(l), "reasonCode": REASONS[r] })).await
            }
            Step::Disqualify(l, r) => {
                app.act(admin, "disqualifyLead", json!({ "leadId": pick(l), "reasonCode": REASONS[r] })).await
            }
            Step::Convert(l, cents) => {
                let mut input = sample_input("convertToSql", &pick(l));
                input["dealValue"] = money(cents);
                app.act(admin, "convertToSql", input).await
            }
            Step::Won(l, cents) => {
                app.act(admin, "closeWon", json!({ "leadId": pick(l), "amount": money(cents) })).await
            }
            Step::Close(l, r, cents) => {
                let id = pick(l);
                let _ = app.act(admin, "qualifyLead", json!({ "leadId": id })).await;
                let _ = app.act(admin, "acceptLead", json!({ "leadId": id, "ownerId": reps[r].id.to_string() })).await;
                let _ = app.act(admin, "convertToSql", sample_input("convertToSql", &id)).await;
                app.act(admin, "closeWon", json!({ "leadId": id, "amount": money(cents) })).await
            }
            Step::Lost(l) => app.act(admin, "closeLost", sample_input("closeLost", &pick(l))).await,
            Step::Assign(l, r) => {
                app.act(admin, "assignLead", json!({ "leadId": pick(l), "ownerId": reps[r].id.to_string() })).await
            }
            Step::Contact(l, minutes) => {
                let id = Uuid::parse_str(&pick(l)).expect("uuid");
                let lead = lead::Entity::find_by_id(id).one(&app.state.db).await.expect("lead").expect("lead exists");
                let rep = reps.iter().find(|r| Some(r.id) == lead.owner_id).unwrap_or(&reps[0]);
                let at = (lead.stage_entered_at + Duration::minutes(minutes)).min(baton::domain::time::now());
                app.act(
                    rep,
                    "recordTouchpoint",
                    json!({ "leadId": pick(l), "kind": "CALL", "occurredAt": at.to_rfc3339() }),
                )
                .await
            }
            Step::Age(l, minutes) => {
                age(app, &pick(l), baton::domain::time::now() - Duration::minutes(minutes)).await;
                Ok(Value::Null)
            }
        };
    }
    leads
}

async fn check(app: &TestApp, viewer: &TestUser, campaign: Uuid, rep: Uuid) {
    let now = baton::domain::time::now();
    let today = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let periods = [
        (today - Duration::days(2), today + Duration::days(2)),
        (now - Duration::hours(5), now + Duration::minutes(5)),
    ];
    for (from, to) in periods {
        for (campaign_filter, owner_filter) in [(None, None), (Some(campaign), None), (Some(campaign), Some(rep))] {
            let mut filter = json!({});
            if let Some(c) = campaign_filter {
                filter["campaignIds"] = json!([c.to_string()]);
            }
            if let Some(o) = owner_filter {
                filter["ownerIds"] = json!([o.to_string()]);
            }
            let vars = json!({ "period": period(from, to), "filter": filter });
            let context = format!("in {from}..{to} with {filter}");
            let brute = Brute::load(app, from, to, campaign_filter, owner_filter).await;
            brute.check_kpis(&kpis(app, viewer, vars.clone()).await, &context);
            brute.check_funnel(&funnel(app, viewer, vars).await.1, &context);
        }
    }
}

/// Every account's lifetime value and won deals, against the moves to WON of its leads in
/// the log.
async fn check_accounts(app: &TestApp, viewer: &TestUser, accounts: &[String; 2]) {
    let leads = lead::Entity::find().all(&app.state.db).await.expect("leads");
    let wins = lead_event::Entity::find()
        .filter(lead_event::Column::FromStage.eq(Stage::Sql))
        .filter(lead_event::Column::ToStage.eq(Stage::Won))
        .all(&app.state.db)
        .await
        .expect("wins");
    let query = "query($id: ID!) { account(id: $id) { lifetimeValue { amount currencyCode } wonDeals } }";
    for account in accounts {
        let id = Uuid::parse_str(account).expect("uuid");
        let mine: Vec<Uuid> = leads.iter().filter(|l| l.account_id == Some(id)).map(|l| l.id).collect();
        let won: Vec<i64> = wins.iter().filter(|w| mine.contains(&w.lead_id)).filter_map(|w| w.amount).collect();
        let cents: i64 = won.iter().sum();
        let value = if won.is_empty() {
            json!([])
        } else {
            json!([{ "amount": format!("{}.{:02}", cents / 100, cents % 100), "currencyCode": "USD" }])
        };
        let data = app.data(viewer, query, json!({ "id": account })).await;
        assert_eq!(data["account"]["lifetimeValue"], value, "lifetime value of {account}");
        assert_eq!(data["account"]["wonDeals"], json!(won.len()), "won deals of {account}");
    }
}

/// One app for every case (a fresh PostgreSQL database per case costs a second); each case
/// brings its own campaign, reps and leads, and the unfiltered checks cover them all.
#[test]
fn random_histories_give_the_kpis_a_brute_force_count_of_the_log_gives() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = runtime.block_on(TestApp::spawn());
    let (admin, viewer) = runtime.block_on(async { (app.user(Role::Admin).await, app.user(Role::Viewer).await) });
    let config =
        ProptestConfig { cases: 16, max_shrink_iters: 32, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(step(), 1..30), |steps| {
        runtime.block_on(async {
            let reps = [app.user(Role::SalesRep).await, app.user(Role::SalesRep).await];
            let campaign = campaign_with_spend(&app, Channel::Event, 1_000_000).await;
            let case = Uuid::now_v7().simple();
            let accounts = [
                app.create_account(&admin, "Model account", &format!("one-{case}.example")).await,
                app.create_account(&admin, "Model account", &format!("two-{case}.example")).await,
            ];
            play(&app, &admin, &reps, &campaign, &accounts, steps).await;
            check(&app, &viewer, Uuid::parse_str(&campaign).expect("uuid"), reps[0].id).await;
            check_accounts(&app, &viewer, &accounts).await;
            assert_rebuild_matches(&app).await;
        });
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
