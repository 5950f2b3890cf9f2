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
    ActiveEnum, ConnectionTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::{
    db::bulk_insert::Inserts,
    domain::{
        kpi::bucket,
        kpi_facts::{Dims, Facts},
    },
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

    /// The rows the deltas add up to, table by table, each in key order. Zero deltas are
    /// left out.
    pub fn rows(&self) -> Rows {
        Rows {
            flow: self
                .flow
                .iter()
                .filter(|(_, d)| **d != (0, 0))
                .map(|(k, (n, amount))| kpi_flow::Model {
                    grain: k.grain.to_owned(),
                    day: k.day,
                    channel: k.channel.clone(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    kind: k.kind.to_owned(),
                    from_stage: k.from_stage.clone(),
                    to_stage: k.to_stage.clone(),
                    tag: k.tag.clone(),
                    currency: k.currency.clone(),
                    n: *n,
                    amount: *amount,
                })
                .collect(),
            duration: self
                .duration
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|(k, n)| kpi_duration::Model {
                    grain: k.grain.to_owned(),
                    day: k.day,
                    channel: k.channel.clone(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    metric: k.metric.to_owned(),
                    stage: k.stage.clone(),
                    bucket: k.bucket,
                    n: *n,
                })
                .collect(),
            current: self
                .current
                .iter()
                .filter(|(_, d)| **d != (0, 0))
                .map(|(k, (n, amount))| kpi_current::Model {
                    grain: k.grain.to_owned(),
                    stage: k.stage.clone(),
                    channel: k.channel.clone(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    currency: k.currency.clone(),
                    n: *n,
                    amount: *amount,
                })
                .collect(),
            cohort: self
                .cohort
                .iter()
                .filter(|(_, d)| **d != (0, 0))
                .map(|(k, (reached, current))| kpi_cohort::Model {
                    day: k.day,
                    channel: k.channel.clone(),
                    campaign_id: k.campaign_id,
                    stage: k.stage.clone(),
                    reached: *reached,
                    current: *current,
                })
                .collect(),
        }
    }

    /// Adds the deltas to the rollup tables, table by table in a fixed order, each in key
    /// order.
    pub async fn write(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let rows = self.rows();
        {
            use kpi_flow::Column as C;
            let key = [
                C::Grain,
                C::Day,
                C::Channel,
                C::CampaignId,
                C::OwnerId,
                C::Kind,
                C::FromStage,
                C::ToStage,
                C::Tag,
                C::Currency,
            ];
            upsert::<kpi_flow::Entity, _, _>(db, rows.flow, key, [C::N, C::Amount]).await?;
        }
        {
            use kpi_duration::Column as C;
            let key = [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId, C::Metric, C::Stage, C::Bucket];
            upsert::<kpi_duration::Entity, _, _>(db, rows.duration, key, [C::N]).await?;
        }
        {
            use kpi_current::Column as C;
            let key = [C::Grain, C::Stage, C::Channel, C::CampaignId, C::OwnerId, C::Currency];
            upsert::<kpi_current::Entity, _, _>(db, rows.current, key, [C::N, C::Amount]).await?;
        }
        {
            use kpi_cohort::Column as C;
            let key = [C::Day, C::Channel, C::CampaignId, C::Stage];
            upsert::<kpi_cohort::Entity, _, _>(db, rows.cohort, key, [C::Reached, C::Current]).await?;
        }
        Ok(())
    }

    /// Writes the deltas into emptied rollup tables as plain bulk inserts: a rebuild writes
    /// hundreds of thousands of rows, and upserting them row by row costs minutes.
    pub async fn write_to_empty(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let rows = self.rows();
        let mut inserts = Inserts::new(db.get_database_backend());
        inserts.insert(db, &rows.flow).await?;
        inserts.insert(db, &rows.duration).await?;
        inserts.insert(db, &rows.current).await?;
        inserts.insert(db, &rows.cohort).await
    }
}

/// Rollup rows, one vector per table.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub flow: Vec<kpi_flow::Model>,
    pub duration: Vec<kpi_duration::Model>,
    pub current: Vec<kpi_current::Model>,
    pub cohort: Vec<kpi_cohort::Model>,
}

/// Adds `rows` to what the table holds: `INSERT … ON CONFLICT (key) DO UPDATE SET c =
/// table.c + excluded.c` for each summed column, in chunks.
async fn upsert<E, M, C>(
    db: &impl ConnectionTrait,
    rows: Vec<M>,
    key: impl IntoIterator<Item = C> + Clone,
    sums: impl IntoIterator<Item = C> + Clone,
) -> Result<(), DbErr>
where
    E: EntityTrait<Model = M> + Default,
    M: sea_orm::ModelTrait<Entity = E> + sea_orm::IntoActiveModel<E::ActiveModel> + Clone,
    C: IdenStatic + Copy + sea_orm::sea_query::IntoIden + 'static,
{
    for chunk in rows.chunks(CHUNK) {
        E::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .on_conflict(adding::<E, _>(key.clone(), sums.clone()))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
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
