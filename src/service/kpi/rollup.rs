//! Rollup deltas: what a set of facts and lead changes adds to the rollup tables, merged by
//! key and written as upserts that add to what is there.
//!
//! Keys are kept sorted (BTreeMap) and the tables are always written in the same order, so
//! two transactions touching the same rows lock them in the same order and cannot
//! deadlock; `ON CONFLICT DO UPDATE SET n = n + excluded.n` makes concurrent increments of
//! one row add up on PostgreSQL (the second waits for the first and adds to its result).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use entity::{Channel, Stage, kpi_cohort, kpi_current, kpi_duration, kpi_flow, lead};
use sea_orm::{
    ActiveEnum,
    ActiveValue::Set,
    ConnectionTrait, DbErr, EntityTrait, IdenStatic,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::domain::{
    kpi::bucket,
    kpi_facts::{Dims, Facts},
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

/// Additions to every rollup table, merged by key.
#[derive(Clone, Debug, Default)]
pub struct Deltas {
    pub flow: BTreeMap<FlowKey, (i64, i64)>,
    pub duration: BTreeMap<DurationKey, i64>,
    pub current: BTreeMap<CurrentKey, (i64, i64)>,
    pub cohort: BTreeMap<CohortKey, (i64, i64)>,
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
    [
        (DETAIL, dims.day, dims.campaign_id.unwrap_or_default(), dims.owner_id.unwrap_or_default()),
        (DAY, dims.day, Uuid::nil(), Uuid::nil()),
        (MONTH, first_of_month(dims.day), Uuid::nil(), Uuid::nil()),
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
