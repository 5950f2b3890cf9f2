//! Rollup deltas: what a set of facts and lead changes adds to the rollup tables, merged by
//! key and written as upserts that add to what is there.
//!
//! Keys are kept sorted (BTreeMap) and the tables are always written in the same order, so
//! two transactions touching the same rows lock them in the same order and cannot
//! deadlock; `ON CONFLICT DO UPDATE SET n = n + excluded.n` makes concurrent increments of
//! one row add up on PostgreSQL (the second waits for the first and adds to its result).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::{
    Channel, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow, lead,
};
use sea_orm::{
    ActiveEnum,
    ActiveValue::Set,
    ConnectionTrait, DbErr, EntityTrait, IdenStatic,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    kpi::bucket,
    kpi_facts::{Dims, Facts, Flow},
};

/// Per day, with campaign and owner.
pub const DETAIL: &str = "DETAIL";
/// Per day, all campaigns and owners together.
pub const DAY: &str = "DAY";
/// Per month (keyed by its first day), all campaigns and owners together.
pub const MONTH: &str = "MONTH";
/// The `kpi_current` grain without campaign and owner.
pub const ALL: &str = "ALL";

/// Rows written per statement (well under SQLite's bound-parameter limit).
const CHUNK: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub grain: &'static str,
    pub day: NaiveDate,
    pub channel: String,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub kind: &'static str,
    pub from_stage: String,
    pub to_stage: String,
    pub tag: String,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationKey {
    pub grain: &'static str,
    pub day: NaiveDate,
    pub channel: String,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub metric: &'static str,
    pub stage: String,
    pub bucket: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CurrentKey {
    pub grain: &'static str,
    pub stage: String,
    pub channel: String,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortKey {
    pub day: NaiveDate,
    pub channel: String,
    pub campaign_id: Uuid,
    pub stage: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomerCohortKey {
    pub grain: &'static str,
    pub day: NaiveDate,
    pub channel: String,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub currency: String,
}

/// Sums of a new-customer cohort row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CustomerSums {
    /// Accounts whose first win it is.
    pub accounts: i64,
    /// Their won deals.
    pub deals: i64,
    /// Their won amounts, in minor units.
    pub amount: i64,
}

/// An account's first win: when, where it is counted (the won lead's channel, campaign and
/// owner, nil when none) and its currency. The account's later wins count there too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstWin {
    pub at: DateTime<Utc>,
    pub channel: String,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub currency: String,
}

impl From<kpi_customer::Model> for FirstWin {
    fn from(row: kpi_customer::Model) -> Self {
        Self {
            at: row.first_won_at,
            channel: row.channel,
            campaign_id: row.campaign_id,
            owner_id: row.owner_id,
            currency: row.currency,
        }
    }
}

/// The first win of every account known to have won, as far as the caller has read them:
/// what tells a new customer account's first win from a customer's later one.
#[derive(Clone, Debug, Default)]
pub struct Customers(pub HashMap<Uuid, FirstWin>);

/// Additions to every rollup table, merged by key.
#[derive(Clone, Debug, Default)]
pub struct Deltas {
    pub flow: BTreeMap<FlowKey, (i64, i64)>,
    pub duration: BTreeMap<DurationKey, i64>,
    pub current: BTreeMap<CurrentKey, (i64, i64)>,
    pub cohort: BTreeMap<CohortKey, (i64, i64)>,
    /// (won deals, amount) per account and currency.
    pub account_value: BTreeMap<(Uuid, String), (i64, i64)>,
    /// Accounts that won for the first time (rows to insert).
    pub customer: BTreeMap<Uuid, FirstWin>,
    pub customer_cohort: BTreeMap<CustomerCohortKey, CustomerSums>,
}

pub fn stage_text(stage: Option<Stage>) -> String {
    stage.map(|s| s.to_value()).unwrap_or_default()
}

pub fn channel_text(channel: Channel) -> String {
    channel.to_value()
}

pub fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The (grain, day, campaign, owner) combinations a fact is counted under.
fn grains(dims: &Dims) -> [(&'static str, NaiveDate, Uuid, Uuid); 3] {
    grains_of(dims.day, dims.campaign_id.unwrap_or_default(), dims.owner_id.unwrap_or_default())
}

fn grains_of(day: NaiveDate, campaign_id: Uuid, owner_id: Uuid) -> [(&'static str, NaiveDate, Uuid, Uuid); 3] {
    [
        (DETAIL, day, campaign_id, owner_id),
        (DAY, day, Uuid::nil(), Uuid::nil()),
        (MONTH, first_of_month(day), Uuid::nil(), Uuid::nil()),
    ]
}

impl Deltas {
    /// Counts an event's facts.
    pub fn add_facts(&mut self, facts: &Facts) {
        let Some(dims) = &facts.dims else { return };
        let channel = channel_text(dims.channel);
        for (grain, day, campaign_id, owner_id) in grains(dims) {
            for flow in &facts.flows {
                let key = FlowKey {
                    grain,
                    day,
                    channel: channel.clone(),
                    campaign_id,
                    owner_id,
                    kind: flow.kind.key(),
                    from_stage: stage_text(flow.from),
                    to_stage: stage_text(flow.to),
                    tag: flow.tag.clone().unwrap_or_default(),
                    currency: flow.currency.clone().unwrap_or_default(),
                };
                let entry = self.flow.entry(key).or_default();
                entry.0 += 1;
                entry.1 += flow.amount;
            }
            for duration in &facts.durations {
                let key = DurationKey {
                    grain,
                    day,
                    channel: channel.clone(),
                    campaign_id,
                    owner_id,
                    metric: duration.metric.key(),
                    stage: stage_text(Some(duration.stage)),
                    bucket: bucket(duration.micros),
                };
                *self.duration.entry(key).or_default() += 1;
            }
        }
    }

    /// Counts `lead` as it is (`sign` 1) or takes it away as it was (`sign` -1) in the
    /// snapshot of leads per stage and in its cohort's current stage.
    pub fn add_lead(&mut self, lead: &lead::Model, sign: i64) {
        let stage = stage_text(Some(lead.stage));
        let channel = channel_text(lead.channel);
        let currency = lead.currency_code.clone().filter(|_| lead.deal_value_amount.is_some()).unwrap_or_default();
        let amount = if currency.is_empty() { 0 } else { lead.deal_value_amount.unwrap_or(0) };
        let campaign_id = lead.campaign_id.unwrap_or_default();
        for (grain, campaign_id, owner_id) in
            [(DETAIL, campaign_id, lead.owner_id.unwrap_or_default()), (ALL, Uuid::nil(), Uuid::nil())]
        {
            let key = CurrentKey {
                grain,
                stage: stage.clone(),
                channel: channel.clone(),
                campaign_id,
                owner_id,
                currency: currency.clone(),
            };
            let entry = self.current.entry(key).or_default();
            entry.0 += sign;
            entry.1 += sign * amount;
        }
        self.cohort.entry(cohort_key(lead, lead.stage)).or_default().1 += sign;
    }

    /// Counts `lead` as having reached `stage` for the first time.
    pub fn add_reached(&mut self, lead: &lead::Model, stage: Stage) {
        self.cohort.entry(cohort_key(lead, stage)).or_default().0 += 1;
    }

    /// Counts a won deal (`flow`, counted under `dims`, at `at`) of a lead of `account`: in
    /// the account's value, and in the new-customer cohort of the account's first win. A
    /// first win also makes the account a customer, in `customers` and in the rows to write.
    pub fn add_win(&mut self, customers: &mut Customers, account: Uuid, at: DateTime<Utc>, dims: &Dims, flow: &Flow) {
        let currency = flow.currency.clone().unwrap_or_default();
        let value = self.account_value.entry((account, currency.clone())).or_default();
        value.0 += 1;
        value.1 += flow.amount;
        let (first, new) = match customers.0.get(&account) {
            Some(first) => (first.clone(), false),
            None => {
                let first = FirstWin {
                    at,
                    channel: channel_text(dims.channel),
                    campaign_id: dims.campaign_id.unwrap_or_default(),
                    owner_id: dims.owner_id.unwrap_or_default(),
                    currency: currency.clone(),
                };
                customers.0.insert(account, first.clone());
                self.customer.insert(account, first.clone());
                (first, true)
            }
        };
        for (grain, day, campaign_id, owner_id) in grains_of(first.at.date_naive(), first.campaign_id, first.owner_id) {
            let key = CustomerCohortKey {
                grain,
                day,
                channel: first.channel.clone(),
                campaign_id,
                owner_id,
                currency: currency.clone(),
            };
            let sums = self.customer_cohort.entry(key).or_default();
            sums.accounts += i64::from(new);
            sums.deals += 1;
            sums.amount += flow.amount;
        }
    }

    /// Adds the deltas to the rollup tables, table by table in a fixed order, each in key
    /// order. Zero deltas are skipped.
    pub async fn write(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let flows: Vec<_> = self
            .flow
            .iter()
            .filter(|(_, d)| **d != (0, 0))
            .map(|(k, (n, amount))| kpi_flow::ActiveModel {
                grain: Set(k.grain.to_owned()),
                day: Set(k.day),
                channel: Set(k.channel.clone()),
                campaign_id: Set(k.campaign_id),
                owner_id: Set(k.owner_id),
                kind: Set(k.kind.to_owned()),
                from_stage: Set(k.from_stage.clone()),
                to_stage: Set(k.to_stage.clone()),
                tag: Set(k.tag.clone()),
                currency: Set(k.currency.clone()),
                n: Set(*n),
                amount: Set(*amount),
            })
            .collect();
        for chunk in flows.chunks(CHUNK) {
            kpi_flow::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_flow::Entity, _>(
                    [
                        kpi_flow::Column::Grain,
                        kpi_flow::Column::Day,
                        kpi_flow::Column::Channel,
                        kpi_flow::Column::CampaignId,
                        kpi_flow::Column::OwnerId,
                        kpi_flow::Column::Kind,
                        kpi_flow::Column::FromStage,
                        kpi_flow::Column::ToStage,
                        kpi_flow::Column::Tag,
                        kpi_flow::Column::Currency,
                    ],
                    [kpi_flow::Column::N, kpi_flow::Column::Amount],
                ))
                .exec_without_returning(db)
                .await?;
        }
        let durations: Vec<_> = self
            .duration
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| kpi_duration::ActiveModel {
                grain: Set(k.grain.to_owned()),
                day: Set(k.day),
                channel: Set(k.channel.clone()),
                campaign_id: Set(k.campaign_id),
                owner_id: Set(k.owner_id),
                metric: Set(k.metric.to_owned()),
                stage: Set(k.stage.clone()),
                bucket: Set(k.bucket),
                n: Set(*n),
            })
            .collect();
        for chunk in durations.chunks(CHUNK) {
            kpi_duration::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_duration::Entity, _>(
                    [
                        kpi_duration::Column::Grain,
                        kpi_duration::Column::Day,
                        kpi_duration::Column::Channel,
                        kpi_duration::Column::CampaignId,
                        kpi_duration::Column::OwnerId,
                        kpi_duration::Column::Metric,
                        kpi_duration::Column::Stage,
                        kpi_duration::Column::Bucket,
                    ],
                    [kpi_duration::Column::N],
                ))
                .exec_without_returning(db)
                .await?;
        }
        let current: Vec<_> = self
            .current
            .iter()
            .filter(|(_, d)| **d != (0, 0))
            .map(|(k, (n, amount))| kpi_current::ActiveModel {
                grain: Set(k.grain.to_owned()),
                stage: Set(k.stage.clone()),
                channel: Set(k.channel.clone()),
                campaign_id: Set(k.campaign_id),
                owner_id: Set(k.owner_id),
                currency: Set(k.currency.clone()),
                n: Set(*n),
                amount: Set(*amount),
            })
            .collect();
        for chunk in current.chunks(CHUNK) {
            kpi_current::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_current::Entity, _>(
                    [
                        kpi_current::Column::Grain,
                        kpi_current::Column::Stage,
                        kpi_current::Column::Channel,
                        kpi_current::Column::CampaignId,
                        kpi_current::Column::OwnerId,
                        kpi_current::Column::Currency,
                    ],
                    [kpi_current::Column::N, kpi_current::Column::Amount],
                ))
                .exec_without_returning(db)
                .await?;
        }
        let cohort: Vec<_> = self
            .cohort
            .iter()
            .filter(|(_, d)| **d != (0, 0))
            .map(|(k, (reached, current))| kpi_cohort::ActiveModel {
                day: Set(k.day),
                channel: Set(k.channel.clone()),
                campaign_id: Set(k.campaign_id),
                stage: Set(k.stage.clone()),
                reached: Set(*reached),
                current: Set(*current),
            })
            .collect();
        for chunk in cohort.chunks(CHUNK) {
            kpi_cohort::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_cohort::Entity, _>(
                    [
                        kpi_cohort::Column::Day,
                        kpi_cohort::Column::Channel,
                        kpi_cohort::Column::CampaignId,
                        kpi_cohort::Column::Stage,
                    ],
                    [kpi_cohort::Column::Reached, kpi_cohort::Column::Current],
                ))
                .exec_without_returning(db)
                .await?;
        }
        self.write_customers(db).await
    }

    /// The lifetime value tables, in the same fixed order.
    async fn write_customers(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let values: Vec<_> = self
            .account_value
            .iter()
            .map(|((account_id, currency), (deals, amount))| kpi_account_value::ActiveModel {
                account_id: Set(*account_id),
                currency: Set(currency.clone()),
                deals: Set(*deals),
                amount: Set(*amount),
            })
            .collect();
        for chunk in values.chunks(CHUNK) {
            kpi_account_value::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_account_value::Entity, _>(
                    [kpi_account_value::Column::AccountId, kpi_account_value::Column::Currency],
                    [kpi_account_value::Column::Deals, kpi_account_value::Column::Amount],
                ))
                .exec_without_returning(db)
                .await?;
        }
        // Plain inserts: an account becomes a customer once (its wins are appended one at a
        // time, see `kpi::append`), so a second row for it would be a bug worth failing on.
        let customers: Vec<_> = self
            .customer
            .iter()
            .map(|(account_id, first)| kpi_customer::ActiveModel {
                account_id: Set(*account_id),
                first_won_at: Set(first.at),
                channel: Set(first.channel.clone()),
                campaign_id: Set(first.campaign_id),
                owner_id: Set(first.owner_id),
                currency: Set(first.currency.clone()),
            })
            .collect();
        for chunk in customers.chunks(CHUNK) {
            kpi_customer::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
        }
        let cohort: Vec<_> = self
            .customer_cohort
            .iter()
            .map(|(k, sums)| kpi_customer_cohort::ActiveModel {
                grain: Set(k.grain.to_owned()),
                day: Set(k.day),
                channel: Set(k.channel.clone()),
                campaign_id: Set(k.campaign_id),
                owner_id: Set(k.owner_id),
                currency: Set(k.currency.clone()),
                accounts: Set(sums.accounts),
                deals: Set(sums.deals),
                amount: Set(sums.amount),
            })
            .collect();
        for chunk in cohort.chunks(CHUNK) {
            kpi_customer_cohort::Entity::insert_many(chunk.to_vec())
                .on_conflict(adding::<kpi_customer_cohort::Entity, _>(
                    [
                        kpi_customer_cohort::Column::Grain,
                        kpi_customer_cohort::Column::Day,
                        kpi_customer_cohort::Column::Channel,
                        kpi_customer_cohort::Column::CampaignId,
                        kpi_customer_cohort::Column::OwnerId,
                        kpi_customer_cohort::Column::Currency,
                    ],
                    [
                        kpi_customer_cohort::Column::Accounts,
                        kpi_customer_cohort::Column::Deals,
                        kpi_customer_cohort::Column::Amount,
                    ],
                ))
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}

fn cohort_key(lead: &lead::Model, stage: Stage) -> CohortKey {
    CohortKey {
        day: lead.created_at.date_naive(),
        channel: channel_text(lead.channel),
        campaign_id: lead.campaign_id.unwrap_or_default(),
        stage: stage_text(Some(stage)),
    }
}

/// `ON CONFLICT (key) DO UPDATE SET c = table.c + excluded.c` for each summed column.
fn adding<E, C>(key: impl IntoIterator<Item = C>, sums: impl IntoIterator<Item = C>) -> OnConflict
where
    E: EntityTrait + Default,
    C: IdenStatic + Copy + sea_orm::sea_query::IntoIden + 'static,
{
    let mut conflict = OnConflict::columns(key);
    for column in sums {
        let name = column.as_str();
        let table = E::default().table_name().to_owned();
        conflict.value(column, Expr::cust(format!("\"{table}\".\"{name}\" + excluded.\"{name}\"")));
    }
    conflict.to_owned()
}
