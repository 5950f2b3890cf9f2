//! Turning summed rollup rows into KPI values and funnel stages. Pure: the service reads
//! rows into a [`Tally`], this module does the arithmetic.

use std::collections::{BTreeMap, HashMap};

use entity::Stage;
use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive};

use super::{
    funnel::STAGES,
    kpi::{Histogram, quantile, ratio},
    kpi_facts::{DurationMetric, FlowKind, WITHIN_SLA},
    money::to_major_units,
};

/// The identity of summed flow rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowSig {
    pub kind: FlowKind,
    pub from: Option<Stage>,
    pub to: Option<Stage>,
    pub tag: String,
    pub currency: String,
}

/// Everything counted for one group (or for the whole answer).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// (count, amount in minor units) per flow.
    pub flows: HashMap<FlowSig, (i64, i64)>,
    /// Histogram (bucket → count) per metric and stage.
    pub durations: HashMap<(DurationMetric, Stage), Histogram>,
    /// Leads in each stage now: (count, deal value sum) per stage and currency.
    pub current: HashMap<(Stage, String), (i64, i64)>,
    /// Cohort view: (leads that reached the stage, leads in it now).
    pub cohort: HashMap<Stage, (i64, i64)>,
    /// New customer accounts (first win in the period) per currency: (accounts counted in
    /// the currency of their first win, their won deals to date, their won amounts to date).
    pub customers: HashMap<String, (i64, i64, i64)>,
}

/// Whether the numbers follow moves in the period or the leads created in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Period,
    Cohort,
}

/// What a KPI needs besides the tally.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The SQL stage's win probability, in percent.
    pub sql_win_probability_percent: i32,
    /// Spend of the campaigns in scope, per currency, in minor units.
    pub spend: BTreeMap<String, i64>,
}

/// A KPI's value: a number, and for money KPIs the exact amounts per currency.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KpiValue {
    pub value: Option<f64>,
    /// (minor units, currency) per currency, for money KPIs.
    pub amounts: Vec<(i64, String)>,
}

impl KpiValue {
    fn number(value: Option<f64>) -> Self {
        Self { value, amounts: Vec::new() }
    }

    /// A money value: its number is the amount in currency units when there is exactly one
    /// currency, zero when there is no money at all, and null when currencies are mixed.
    fn money(amounts: BTreeMap<String, i64>) -> Self {
        let amounts: Vec<(i64, String)> = amounts.into_iter().map(|(code, amount)| (amount, code)).collect();
        let value = match amounts.as_slice() {
            [] => Some(0.0),
            [(amount, code)] => to_major_units(*amount, code).to_f64(),
            _ => None,
        };
        Self { value, amounts }
    }

    /// A money value divided by a count, rounded half to even to the currency's minor unit;
    /// null when there is nothing to divide by.
    fn money_per(amounts: BTreeMap<String, i64>, count: i64) -> Self {
        if count == 0 {
            return Self::number(None);
        }
        let per: BTreeMap<String, i64> =
            amounts.into_iter().map(|(code, amount)| (code, divide_rounded(amount, count))).collect();
        if per.is_empty() { Self::number(None) } else { Self::money(per) }
    }
}

/// The currency and amount of money in exactly one currency.
fn only_currency(amounts: &BTreeMap<String, i64>) -> Option<(String, i64)> {
    let mut all = amounts.iter();
    match (all.next(), all.next()) {
        (Some((currency, amount)), None) => Some((currency.clone(), *amount)),
        _ => None,
    }
}

fn divide_rounded(amount: i64, by: i64) -> i64 {
    (Decimal::from(amount) / Decimal::from(by))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .unwrap_or(i64::MAX)
}

const MICROS_PER_MINUTE: f64 = 60_000_000.0;

impl Tally {
    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Self) {
        for (sig, (n, amount)) in &other.flows {
            let entry = self.flows.entry(sig.clone()).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
        for (key, histogram) in &other.durations {
            self.durations.entry(*key).or_default().merge(histogram);
        }
        for (key, (n, amount)) in &other.current {
            let entry = self.current.entry(key.clone()).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
        for (stage, (reached, current)) in &other.cohort {
            let entry = self.cohort.entry(*stage).or_default();
            entry.0 += reached;
            entry.1 += current;
        }
        for (currency, (accounts, deals, amount)) in &other.customers {
            let entry = self.customers.entry(currency.clone()).or_default();
            entry.0 += accounts;
            entry.1 += deals;
            entry.2 += amount;
        }
    }

    /// Accounts whose first win falls in the period.
    pub fn new_customer_accounts(&self) -> i64 {
        self.customers.values().map(|(accounts, _, _)| accounts).sum()
    }

    /// What the new customer accounts have won to date, per currency.
    fn lifetime_values(&self) -> BTreeMap<String, i64> {
        self.customers.iter().map(|(currency, (_, _, amount))| (currency.clone(), *amount)).collect()
    }

    /// Average lifetime value ÷ customer acquisition cost, from the exact (unrounded) sums:
    /// (lifetime values ÷ new accounts) ÷ (spend ÷ moves to WON). None unless both are in one
    /// and the same currency and every division has something to divide by.
    fn ltv_to_cac(&self, won: i64, spend: &BTreeMap<String, i64>) -> Option<f64> {
        let (ltv_currency, ltv) = only_currency(&self.lifetime_values())?;
        let (spend_currency, spend) = only_currency(spend)?;
        let accounts = self.new_customer_accounts();
        if ltv_currency != spend_currency || accounts == 0 || won == 0 || spend == 0 {
            return None;
        }
        Some((ltv as f64 / accounts as f64) / (spend as f64 / won as f64))
    }

    fn flows(&self, kind: FlowKind) -> impl Iterator<Item = (&FlowSig, &(i64, i64))> {
        self.flows.iter().filter(move |(sig, _)| sig.kind == kind)
    }

    /// Moves whose origin and destination satisfy the predicates.
    pub fn moves(&self, from: impl Fn(Stage) -> bool, to: impl Fn(Stage) -> bool) -> i64 {
        self.flows(FlowKind::Moved)
            .filter(|(sig, _)| sig.from.is_some_and(&from) && sig.to.is_some_and(&to))
            .map(|(_, (n, _))| n)
            .sum()
    }

    fn moves_between(&self, from: Stage, to: Stage) -> i64 {
        self.moves(|s| s == from, |s| s == to)
    }

    fn moves_out(&self, from: &[Stage]) -> i64 {
        self.moves(|s| from.contains(&s), |_| true)
    }

    fn count(&self, kind: FlowKind) -> i64 {
        self.flows(kind).map(|(_, (n, _))| n).sum()
    }

    /// Money of the moves between two stages, per currency.
    fn move_amounts(&self, from: Stage, to: Stage) -> BTreeMap<String, i64> {
        let mut amounts = BTreeMap::new();
        for (sig, (_, amount)) in self.flows(FlowKind::Moved) {
            if sig.from == Some(from) && sig.to == Some(to) && !sig.currency.is_empty() {
                *amounts.entry(sig.currency.clone()).or_default() += amount;
            }
        }
        amounts
    }

    /// A quantile of a duration histogram, in minutes.
    pub fn minutes(&self, metric: DurationMetric, stage: Stage, q: f64) -> Option<f64> {
        let histogram: Vec<(i32, u64)> = self.durations.get(&(metric, stage))?.counts().collect();
        quantile(&histogram, q).map(|micros| micros / MICROS_PER_MINUTE)
    }

    /// Leads that entered `stage` in the period (for LEAD: creations plus returns), or in the
    /// cohort view, leads of the cohort that ever reached it.
    pub fn entered(&self, stage: Stage, view: View) -> i64 {
        match view {
            View::Period => {
                let created = if stage == Stage::Lead { self.count(FlowKind::Created) } else { 0 };
                created + self.moves(|_| true, |to| to == stage)
            }
            View::Cohort => self.cohort.get(&stage).map_or(0, |c| c.0),
        }
    }

    /// Leads in `stage` now.
    pub fn current(&self, stage: Stage, view: View) -> i64 {
        match view {
            View::Period => self.current.iter().filter(|((s, _), _)| *s == stage).map(|(_, (n, _))| n).sum(),
            View::Cohort => self.cohort.get(&stage).map_or(0, |c| c.1),
        }
    }

    /// Conversion from `stage` to the next stage of the funnel.
    pub fn conversion(&self, stage: Stage, view: View) -> Option<f64> {
        let next = next_stage(stage)?;
        match view {
            View::Period => ratio(self.moves_between(stage, next), self.moves_out(&[stage])),
            View::Cohort => ratio(self.entered(next, view), self.entered(stage, view)),
        }
    }

    /// Rejections (moves from MQL or SAL to LEAD or DISQUALIFIED) per reason code.
    pub fn rejections_by_reason(&self) -> BTreeMap<String, i64> {
        let mut reasons = BTreeMap::new();
        for (sig, (n, _)) in self.flows(FlowKind::Moved) {
            if sig.from.is_some_and(is_handoff) && sig.to.is_some_and(is_rejection) {
                *reasons.entry(sig.tag.clone()).or_default() += n;
            }
        }
        reasons
    }

    /// Moves out of MQL and SAL: what rejection rates divide by.
    pub fn handoff_exits(&self) -> i64 {
        self.moves_out(&[Stage::Mql, Stage::Sal])
    }

    /// The value of the KPI `key` (none for a key this version does not compute).
    pub fn kpi(&self, key: &str, view: View, context: &Context) -> Option<KpiValue> {
        use Stage::{Disqualified, Lead, Lost, Mql, Sal, Sql, Won};
        let number = |value| Some(KpiValue::number(value));
        if view == View::Cohort {
            return match key {
                "lead_to_mql_rate" => number(self.conversion(Lead, view)),
                "mql_to_sal_rate" => number(self.conversion(Mql, view)),
                "sal_to_sql_rate" => number(self.conversion(Sal, view)),
                "win_rate" => number(self.conversion(Sql, view)),
                "lead_to_customer_rate" => number(ratio(self.entered(Won, view), self.entered(Lead, view))),
                _ => None,
            };
        }
        let won = || self.moves_between(Sql, Won);
        match key {
            "lead_to_mql_rate" => number(self.conversion(Lead, view)),
            "mql_to_sal_rate" => number(self.conversion(Mql, view)),
            "sal_to_sql_rate" => number(self.conversion(Sal, view)),
            "win_rate" => number(self.conversion(Sql, view)),
            "sal_rejection_rate" => {
                number(ratio(self.moves(is_handoff, |to| to == Lead || to == Disqualified), self.handoff_exits()))
            }
            "mql_acceptance_minutes_median" => number(self.minutes(DurationMetric::MqlAcceptance, Mql, 0.5)),
            "speed_to_lead_minutes_median" => number(self.minutes(DurationMetric::SpeedToLead, Sal, 0.5)),
            "speed_to_lead_minutes_p90" => number(self.minutes(DurationMetric::SpeedToLead, Sal, 0.9)),
            "won_revenue" => Some(KpiValue::money(self.move_amounts(Sql, Won))),
            "average_deal_size" => Some(KpiValue::money_per(self.move_amounts(Sql, Won), won())),
            "open_pipeline" => Some(KpiValue::money(self.pipeline(100))),
            "weighted_pipeline" => Some(KpiValue::money(self.pipeline(context.sql_win_probability_percent))),
            "lead_to_customer_rate" => {
                number(ratio(self.moves(|_| true, |to| to == Won), self.count(FlowKind::Created)))
            }
            "recycle_rate" => {
                let sources = [Mql, Sal, Sql, Lost];
                number(ratio(self.moves(|s| sources.contains(&s), |to| to == Lead), self.moves_out(&sources)))
            }
            "sla_compliance_rate" => {
                let within: i64 =
                    self.flows(FlowKind::Contacted).filter(|(sig, _)| sig.tag == WITHIN_SLA).map(|(_, (n, _))| n).sum();
                number(ratio(within, self.count(FlowKind::Contacted)))
            }
            "sla_breaches" => number(Some(self.count(FlowKind::SlaBreached) as f64)),
            "new_customers" => number(Some(won() as f64)),
            "customer_acquisition_cost" => Some(KpiValue::money_per(context.spend.clone(), won())),
            "new_customer_accounts" => number(Some(self.new_customer_accounts() as f64)),
            "average_lifetime_value" => Some(KpiValue::money_per(self.lifetime_values(), self.new_customer_accounts())),
            "ltv_to_cac_ratio" => number(self.ltv_to_cac(won(), &context.spend)),
            _ => None,
        }
    }

    /// Deal values of leads in SQL now, per currency, times `percent` / 100 (rounded half
    /// to even to the minor unit).
    fn pipeline(&self, percent: i32) -> BTreeMap<String, i64> {
        let mut amounts = BTreeMap::new();
        for ((stage, currency), (_, amount)) in &self.current {
            if *stage == Stage::Sql && !currency.is_empty() {
                *amounts.entry(currency.clone()).or_default() += amount;
            }
        }
        for amount in amounts.values_mut() {
            *amount = divide_rounded(*amount * i64::from(percent), 100);
        }
        amounts
    }
}

/// The funnel's next stage after `stage`, for the stages that have one.
pub fn next_stage(stage: Stage) -> Option<Stage> {
    match stage {
        Stage::Lead => Some(Stage::Mql),
        Stage::Mql => Some(Stage::Sal),
        Stage::Sal => Some(Stage::Sql),
        Stage::Sql => Some(Stage::Won),
        Stage::Won | Stage::Lost | Stage::Disqualified => None,
    }
}

fn is_handoff(stage: Stage) -> bool {
    matches!(stage, Stage::Mql | Stage::Sal)
}

fn is_rejection(stage: Stage) -> bool {
    matches!(stage, Stage::Lead | Stage::Disqualified)
}

/// One funnel stage's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct StageNumbers {
    pub stage: Stage,
    pub current: i64,
    pub entered: i64,
    /// Moves out of the stage (period view only).
    pub exited: Option<i64>,
    pub conversion_to_next: Option<f64>,
    /// Share of the leads leaving the stage that did not go on to the next one.
    pub drop_off: Option<f64>,
    pub time_in_stage_median_minutes: Option<f64>,
    pub time_in_stage_p90_minutes: Option<f64>,
}

/// The funnel, one entry per stage in order.
pub fn funnel(tally: &Tally, view: View) -> Vec<StageNumbers> {
    STAGES
        .iter()
        .map(|&stage| {
            let conversion = tally.conversion(stage, view);
            let period = view == View::Period;
            StageNumbers {
                stage,
                current: tally.current(stage, view),
                entered: tally.entered(stage, view),
                exited: period.then(|| tally.moves_out(&[stage])),
                conversion_to_next: conversion,
                drop_off: conversion.map(|c| 1.0 - c),
                time_in_stage_median_minutes: period
                    .then(|| tally.minutes(DurationMetric::TimeInStage, stage, 0.5))
                    .flatten(),
                time_in_stage_p90_minutes: period
                    .then(|| tally.minutes(DurationMetric::TimeInStage, stage, 0.9))
                    .flatten(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> BTreeMap<String, i64> {
        BTreeMap::from([("USD".to_owned(), amount)])
    }

    /// Two new customer accounts worth 150000 and 50000 cents, five moves to WON.
    fn two_new_customers() -> Tally {
        let mut tally = Tally::default();
        tally.customers.insert("USD".to_owned(), (2, 4, 200_000));
        let won = FlowSig {
            kind: FlowKind::Moved,
            from: Some(Stage::Sql),
            to: Some(Stage::Won),
            tag: String::new(),
            currency: "USD".to_owned(),
        };
        tally.flows.insert(won, (5, 245_000));
        tally
    }

    #[test]
    fn average_lifetime_value_divides_by_new_customer_accounts() {
        let tally = two_new_customers();
        let context = Context { spend: usd(200_000), ..Context::default() };
        let kpi = |key| tally.kpi(key, View::Period, &context).unwrap_or_default();
        assert_eq!(kpi("new_customer_accounts").value, Some(2.0));
        assert_eq!(kpi("average_lifetime_value").amounts, vec![(100_000, "USD".to_owned())]);
        assert_eq!(kpi("customer_acquisition_cost").amounts, vec![(40_000, "USD".to_owned())]);
        assert_eq!(kpi("ltv_to_cac_ratio").value, Some(2.5));
    }

    #[test]
    fn ltv_to_cac_needs_one_currency_and_something_to_divide_by() {
        let tally = two_new_customers();
        let ratio = |spend| tally.kpi("ltv_to_cac_ratio", View::Period, &Context { spend, ..Context::default() });
        assert_eq!(ratio(BTreeMap::new()).and_then(|k| k.value), None);
        assert_eq!(ratio(usd(0)).and_then(|k| k.value), None);
        assert_eq!(ratio(BTreeMap::from([("EUR".to_owned(), 1000)])).and_then(|k| k.value), None);
        let mut both = usd(1000);
        both.insert("EUR".to_owned(), 1000);
        assert_eq!(ratio(both).and_then(|k| k.value), None);
        let none =
            Tally::default().kpi("ltv_to_cac_ratio", View::Period, &Context { spend: usd(1000), ..Context::default() });
        assert_eq!(none.and_then(|k| k.value), None);
    }

    #[test]
    fn lifetime_value_kpis_have_no_cohort_view() {
        let tally = two_new_customers();
        for key in ["new_customer_accounts", "average_lifetime_value", "ltv_to_cac_ratio"] {
            assert!(tally.kpi(key, View::Cohort, &Context::default()).is_none(), "{key}");
        }
    }
}
