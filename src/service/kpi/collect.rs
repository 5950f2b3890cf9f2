//! Reading rollup rows and partial days into tallies: the whole answer and each group.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    Channel, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow, lead, lead_event,
};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{
    cache::Segment,
    read::{GroupBy, GroupKey, KpiRequest},
    rollup::{ALL, DETAIL, channel_text},
    source,
};
use crate::{
    domain::{
        kpi::bucket,
        kpi_facts::{DurationMetric, FlowKind, facts},
        kpi_tally::{FlowSig, Tally},
    },
    error::{AppError, AppResult},
};

/// Collects what the request counts.
pub(super) struct Collector<'a> {
    pub request: &'a KpiRequest,
    pub owners: Option<BTreeSet<Uuid>>,
    pub total: Tally,
    /// Time-bound numbers per group.
    pub groups: BTreeMap<GroupKey, Tally>,
    /// Current-stage numbers per group without its time bucket.
    pub now: BTreeMap<GroupKey, Tally>,
}

impl<'a> Collector<'a> {
    /// Nothing counted yet, for `request` and the owners it allows (none: every owner).
    pub fn new(request: &'a KpiRequest, owners: Option<BTreeSet<Uuid>>) -> Self {
        Self { request, owners, total: Tally::default(), groups: BTreeMap::new(), now: BTreeMap::new() }
    }

    fn key(&self, day: Option<NaiveDate>, channel: Channel, owner: Uuid) -> GroupKey {
        GroupKey {
            channel: self.request.by(GroupBy::Channel).then_some(channel),
            owner: self.request.by(GroupBy::Owner).then_some(owner),
            start: day.and_then(|day| self.request.bucket_start(day)),
        }
    }

    fn tallies(&mut self, key: GroupKey, timeless: bool) -> [&mut Tally; 2] {
        let groups = if timeless { &mut self.now } else { &mut self.groups };
        [&mut self.total, groups.entry(key).or_default()]
    }

    fn add_flow(&mut self, key: GroupKey, sig: FlowSig, n: i64, amount: i64) {
        for tally in self.tallies(key, false) {
            let entry = tally.flows.entry(sig.clone()).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
    }

    fn add_duration(&mut self, key: GroupKey, metric: DurationMetric, stage: Stage, bucket: i32, n: u64) {
        for tally in self.tallies(key, false) {
            tally.durations.entry((metric, stage)).or_default().add(bucket, n);
        }
    }

    fn add_current(&mut self, key: GroupKey, stage: Stage, currency: String, n: i64, amount: i64) {
        for tally in self.tallies(key, true) {
            let entry = tally.current.entry((stage, currency.clone())).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
    }

    fn add_cohort(&mut self, key: GroupKey, stage: Stage, reached: i64, current: i64) {
        for tally in self.tallies(key, false) {
            let entry = tally.cohort.entry(stage).or_default();
            entry.0 += reached;
            entry.1 += current;
        }
    }

    fn add_customers(&mut self, key: GroupKey, currency: &str, accounts: i64, deals: i64, amount: i64) {
        for tally in self.tallies(key, false) {
            let entry = tally.customers.entry(currency.to_owned()).or_default();
            entry.0 += accounts;
            entry.1 += deals;
            entry.2 += amount;
        }
    }

    /// Adds what was counted for some days on their own.
    pub fn merge(&mut self, segment: &Segment) {
        self.total.merge(&segment.total);
        for (key, tally) in &segment.groups {
            self.groups.entry(key.clone()).or_default().merge(tally);
        }
    }

    fn owner_allowed(&self, owner: Option<Uuid>) -> bool {
        self.owners.as_ref().is_none_or(|owners| owner.is_some_and(|o| owners.contains(&o)))
    }

    fn channel_allowed(&self, channel: Channel) -> bool {
        self.request.filter.channels.as_ref().is_none_or(|c| c.contains(&channel))
    }

    fn campaign_allowed(&self, campaign: Option<Uuid>) -> bool {
        self.request.filter.campaign_ids.as_ref().is_none_or(|c| campaign.is_some_and(|id| c.contains(&id)))
    }

    /// Whether rollup rows must be read at the detail grain (per campaign and owner).
    pub fn detailed(&self) -> bool {
        self.owners.is_some() || self.request.filter.campaign_ids.is_some() || self.request.by(GroupBy::Owner)
    }
}

fn rollup_condition<C: ColumnTrait>(
    collector: &Collector<'_>,
    grain: &str,
    columns: [C; 5],
    from: NaiveDate,
    to: NaiveDate,
) -> Condition {
    let [grain_col, day, channel, campaign, owner] = columns;
    let filter = &collector.request.filter;
    let mut condition = Condition::all().add(grain_col.eq(grain)).add(day.gte(from)).add(day.lt(to));
    if let Some(channels) = &filter.channels {
        condition = condition.add(channel.is_in(channels.iter().map(|c| channel_text(*c))));
    }
    if let Some(campaigns) = &filter.campaign_ids {
        condition = condition.add(campaign.is_in(campaigns.iter().copied()));
    }
    if let Some(owners) = &collector.owners {
        condition = condition.add(owner.is_in(owners.iter().copied()));
    }
    condition
}

type FlowRow = (NaiveDate, String, Uuid, String, String, String, String, String, i64, i64);

pub(super) async fn read_flows(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    grain: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<()> {
    use kpi_flow::Column as C;
    let condition =
        rollup_condition(collector, grain, [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId], from, to);
    if !collector.detailed() {
        // One row per day: (channel, kind, from, to, tag, currency, n, amount) for each key.
        type Packed = (String, String, String, String, String, String, i64, i64);
        let days: Vec<(NaiveDate, String)> = kpi_flow::Entity::find()
            .select_only()
            .column(C::Day)
            .column_as(
                packed(db, &["channel", "kind", "from_stage", "to_stage", "tag", "currency", "n", "amount"]),
                "rows",
            )
            .filter(condition)
            .group_by(C::Grain)
            .group_by(C::Day)
            .into_tuple()
            .all(db)
            .await?;
        for (day, rows) in days {
            for (channel, kind, from_stage, to_stage, tag, currency, n, amount) in unpack::<Packed>(&rows)? {
                let (Some(channel), Some(kind)) = (parse::<Channel>(&channel), FlowKind::from_key(&kind)) else {
                    continue;
                };
                let sig = FlowSig { kind, from: parse(&from_stage), to: parse(&to_stage), tag, currency };
                let key = collector.key(Some(day), channel, Uuid::nil());
                collector.add_flow(key, sig, n, amount);
            }
        }
        return Ok(());
    }
    let owner = owner_column(collector, C::OwnerId);
    let rows: Vec<FlowRow> = kpi_flow::Entity::find()
        .select_only()
        .columns([C::Day, C::Channel])
        .column_as(owner.clone(), "owner")
        .columns([C::Kind, C::FromStage, C::ToStage, C::Tag, C::Currency])
        .column_as(Expr::cust("CAST(SUM(\"n\") AS BIGINT)"), "n")
        .column_as(Expr::cust("CAST(SUM(\"amount\") AS BIGINT)"), "amount")
        .filter(condition)
        .group_by(C::Day)
        .group_by(C::Channel)
        .group_by(owner)
        .group_by(C::Kind)
        .group_by(C::FromStage)
        .group_by(C::ToStage)
        .group_by(C::Tag)
        .group_by(C::Currency)
        .into_tuple()
        .all(db)
        .await?;
    for (day, channel, owner, kind, from_stage, to_stage, tag, currency, n, amount) in rows {
        let (Some(channel), Some(kind)) = (parse::<Channel>(&channel), FlowKind::from_key(&kind)) else { continue };
        let sig = FlowSig { kind, from: parse(&from_stage), to: parse(&to_stage), tag, currency };
        let key = collector.key(Some(day), channel, owner);
        collector.add_flow(key, sig, n, amount);
    }
    Ok(())
}

pub(super) async fn read_durations(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    grain: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<()> {
    use kpi_duration::Column as C;
    let metrics = collector.request.durations.iter().map(|m| m.key());
    let condition =
        rollup_condition(collector, grain, [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId], from, to)
            .add(C::Metric.is_in(metrics));
    if !collector.detailed() {
        // One row per metric and day: (channel, stage, bucket, n) for each bucket.
        let days: Vec<(String, NaiveDate, String)> = kpi_duration::Entity::find()
            .select_only()
            .columns([C::Metric, C::Day])
            .column_as(packed(db, &["channel", "stage", "bucket", "n"]), "rows")
            .filter(condition)
            .group_by(C::Grain)
            .group_by(C::Metric)
            .group_by(C::Day)
            .into_tuple()
            .all(db)
            .await?;
        for (metric, day, rows) in days {
            let Some(metric) = DurationMetric::from_key(&metric) else { continue };
            for (channel, stage, bucket, n) in unpack::<(String, String, i32, i64)>(&rows)? {
                let (Some(channel), Some(stage)) = (parse::<Channel>(&channel), parse::<Stage>(&stage)) else {
                    continue;
                };
                let key = collector.key(Some(day), channel, Uuid::nil());
                collector.add_duration(key, metric, stage, bucket, u64::try_from(n).unwrap_or(0));
            }
        }
        return Ok(());
    }
    let owner = owner_column(collector, C::OwnerId);
    let rows: Vec<(NaiveDate, String, Uuid, String, String, i32, i64)> = kpi_duration::Entity::find()
        .select_only()
        .columns([C::Day, C::Channel])
        .column_as(owner.clone(), "owner")
        .columns([C::Metric, C::Stage, C::Bucket])
        .column_as(Expr::cust("CAST(SUM(\"n\") AS BIGINT)"), "n")
        .filter(condition)
        .group_by(C::Day)
        .group_by(C::Channel)
        .group_by(owner)
        .group_by(C::Metric)
        .group_by(C::Stage)
        .group_by(C::Bucket)
        .into_tuple()
        .all(db)
        .await?;
    for (day, channel, owner, metric, stage, bucket, n) in rows {
        let (Some(channel), Some(metric), Some(stage)) =
            (parse::<Channel>(&channel), DurationMetric::from_key(&metric), parse::<Stage>(&stage))
        else {
            continue;
        };
        let key = collector.key(Some(day), channel, owner);
        collector.add_duration(key, metric, stage, bucket, u64::try_from(n).unwrap_or(0));
    }
    Ok(())
}

/// A partial day, from the log itself through the same facts the rollups are made of.
pub(super) async fn read_events(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<()> {
    for sourced in source::between(db, from, to).await? {
        let facts = facts(&sourced.event, sourced.previous_owner);
        let Some(dims) = &facts.dims else { continue };
        if !collector.channel_allowed(dims.channel)
            || !collector.campaign_allowed(dims.campaign_id)
            || !collector.owner_allowed(dims.owner_id)
        {
            continue;
        }
        let key = collector.key(Some(dims.day), dims.channel, dims.owner_id.unwrap_or_default());
        for flow in &facts.flows {
            let sig = FlowSig {
                kind: flow.kind,
                from: flow.from,
                to: flow.to,
                tag: flow.tag.clone().unwrap_or_default(),
                currency: flow.currency.clone().unwrap_or_default(),
            };
            collector.add_flow(key.clone(), sig, 1, flow.amount);
        }
        for duration in facts.durations.iter().filter(|d| collector.request.durations.contains(&d.metric)) {
            collector.add_duration(key.clone(), duration.metric, duration.stage, bucket(duration.micros), 1);
        }
    }
    Ok(())
}

/// New customer accounts of whole days, from their cohort rollup.
pub(super) async fn read_customers(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    grain: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<()> {
    use kpi_customer_cohort::Column as C;
    let condition =
        rollup_condition(collector, grain, [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId], from, to);
    let owner = owner_column(collector, C::OwnerId);
    let rows: Vec<(NaiveDate, String, Uuid, String, i64, i64, i64)> = kpi_customer_cohort::Entity::find()
        .select_only()
        .columns([C::Day, C::Channel])
        .column_as(owner.clone(), "owner")
        .column(C::Currency)
        .column_as(Expr::cust("CAST(SUM(\"accounts\") AS BIGINT)"), "accounts")
        .column_as(Expr::cust("CAST(SUM(\"deals\") AS BIGINT)"), "deals")
        .column_as(Expr::cust("CAST(SUM(\"amount\") AS BIGINT)"), "amount")
        .filter(condition)
        .group_by(C::Day)
        .group_by(C::Channel)
        .group_by(owner)
        .group_by(C::Currency)
        .into_tuple()
        .all(db)
        .await?;
    for (day, channel, owner, currency, accounts, deals, amount) in rows {
        let Some(channel) = parse::<Channel>(&channel) else { continue };
        let key = collector.key(Some(day), channel, owner);
        collector.add_customers(key, &currency, accounts, deals, amount);
    }
    Ok(())
}

/// New customer accounts of a partial day: the accounts whose first win falls in it, with
/// their lifetime value, as the cohort rollup would have counted them.
pub(super) async fn read_new_customers(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<()> {
    let customers: Vec<kpi_customer::Model> = kpi_customer::Entity::find()
        .filter(kpi_customer::Column::FirstWonAt.gte(from))
        .filter(kpi_customer::Column::FirstWonAt.lt(to))
        .all(db)
        .await?;
    let customers: Vec<(kpi_customer::Model, Channel)> = customers
        .into_iter()
        .filter_map(|c| parse::<Channel>(&c.channel).map(|channel| (c, channel)))
        .filter(|(c, channel)| {
            collector.channel_allowed(*channel)
                && collector.campaign_allowed(Some(c.campaign_id).filter(|id| !id.is_nil()))
                && collector.owner_allowed(Some(c.owner_id).filter(|id| !id.is_nil()))
        })
        .collect();
    for chunk in customers.chunks(500) {
        let values = kpi_account_value::Entity::find()
            .filter(kpi_account_value::Column::AccountId.is_in(chunk.iter().map(|(c, _)| c.account_id)))
            .all(db)
            .await?;
        let mut by_account: BTreeMap<Uuid, Vec<kpi_account_value::Model>> = BTreeMap::new();
        for value in values {
            by_account.entry(value.account_id).or_default().push(value);
        }
        for (customer, channel) in chunk {
            let key = collector.key(Some(customer.first_won_at.date_naive()), *channel, customer.owner_id);
            collector.add_customers(key.clone(), &customer.currency, 1, 0, 0);
            for value in by_account.remove(&customer.account_id).into_iter().flatten() {
                collector.add_customers(key.clone(), &value.currency, 0, value.deals, value.amount);
            }
        }
    }
    Ok(())
}

pub(super) async fn read_current(db: &DatabaseConnection, collector: &mut Collector<'_>) -> AppResult<()> {
    use kpi_current::Column as C;
    let grain = if collector.detailed() { DETAIL } else { ALL };
    let filter = &collector.request.filter;
    let mut condition = Condition::all().add(C::Grain.eq(grain));
    if let Some(channels) = &filter.channels {
        condition = condition.add(C::Channel.is_in(channels.iter().map(|c| channel_text(*c))));
    }
    if let Some(campaigns) = &filter.campaign_ids {
        condition = condition.add(C::CampaignId.is_in(campaigns.iter().copied()));
    }
    if let Some(owners) = &collector.owners {
        condition = condition.add(C::OwnerId.is_in(owners.iter().copied()));
    }
    let owner = owner_column(collector, C::OwnerId);
    let rows: Vec<(String, String, Uuid, String, i64, i64)> = kpi_current::Entity::find()
        .select_only()
        .columns([C::Stage, C::Channel])
        .column_as(owner.clone(), "owner")
        .column(C::Currency)
        .column_as(Expr::cust("CAST(SUM(\"n\") AS BIGINT)"), "n")
        .column_as(Expr::cust("CAST(SUM(\"amount\") AS BIGINT)"), "amount")
        .filter(condition)
        .group_by(C::Stage)
        .group_by(C::Channel)
        .group_by(owner)
        .group_by(C::Currency)
        .into_tuple()
        .all(db)
        .await?;
    for (stage, channel, owner, currency, n, amount) in rows {
        let (Some(stage), Some(channel)) = (parse::<Stage>(&stage), parse::<Channel>(&channel)) else { continue };
        let key = collector.key(None, channel, owner);
        collector.add_current(key, stage, currency, n, amount);
    }
    Ok(())
}

pub(super) async fn read_cohort(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<()> {
    use kpi_cohort::Column as C;
    let filter = &collector.request.filter;
    let mut condition = Condition::all().add(C::Day.gte(from)).add(C::Day.lt(to));
    if let Some(channels) = &filter.channels {
        condition = condition.add(C::Channel.is_in(channels.iter().map(|c| channel_text(*c))));
    }
    if let Some(campaigns) = &filter.campaign_ids {
        condition = condition.add(C::CampaignId.is_in(campaigns.iter().copied()));
    }
    let rows: Vec<(NaiveDate, String, String, i64, i64)> = kpi_cohort::Entity::find()
        .select_only()
        .columns([C::Day, C::Channel, C::Stage])
        .column_as(Expr::cust("CAST(SUM(\"reached\") AS BIGINT)"), "reached")
        .column_as(Expr::cust("CAST(SUM(\"current\") AS BIGINT)"), "current")
        .filter(condition)
        .group_by(C::Day)
        .group_by(C::Channel)
        .group_by(C::Stage)
        .into_tuple()
        .all(db)
        .await?;
    for (day, channel, stage, reached, current) in rows {
        let (Some(channel), Some(stage)) = (parse::<Channel>(&channel), parse::<Stage>(&stage)) else { continue };
        let key = collector.key(Some(day), channel, Uuid::nil());
        collector.add_cohort(key, stage, reached, current);
    }
    Ok(())
}

/// A lead's id, creation time, channel, campaign and stage now.
type CreatedLead = (Uuid, DateTime<Utc>, Channel, Option<Uuid>, Stage);

/// Leads created in a partial day, followed to where they are now, from the lead table and
/// the log.
pub(super) async fn read_created(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<()> {
    let leads: Vec<CreatedLead> = lead::Entity::find()
        .select_only()
        .columns([
            lead::Column::Id,
            lead::Column::CreatedAt,
            lead::Column::Channel,
            lead::Column::CampaignId,
            lead::Column::Stage,
        ])
        .filter(lead::Column::CreatedAt.gte(from))
        .filter(lead::Column::CreatedAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    let leads: Vec<_> =
        leads.into_iter().filter(|l| collector.channel_allowed(l.2) && collector.campaign_allowed(l.3)).collect();
    let mut reached: BTreeMap<Uuid, BTreeSet<Stage>> = BTreeMap::new();
    for ids in leads.chunks(500) {
        let rows: Vec<(Uuid, Option<Stage>)> = lead_event::Entity::find()
            .select_only()
            .columns([lead_event::Column::LeadId, lead_event::Column::ToStage])
            .distinct()
            .filter(lead_event::Column::LeadId.is_in(ids.iter().map(|l| l.0)))
            .filter(lead_event::Column::Kind.eq(entity::LeadEventKind::StageChanged))
            .into_tuple()
            .all(db)
            .await?;
        for (lead_id, stage) in rows {
            reached.entry(lead_id).or_default().extend(stage.filter(|s| *s != Stage::Lead));
        }
    }
    for (id, created_at, channel, _, stage) in leads {
        let key = collector.key(Some(created_at.date_naive()), channel, Uuid::nil());
        collector.add_cohort(key.clone(), Stage::Lead, 1, 0);
        collector.add_cohort(key.clone(), stage, 0, 1);
        for reached_stage in reached.get(&id).into_iter().flatten() {
            collector.add_cohort(key.clone(), *reached_stage, 1, 0);
        }
    }
    Ok(())
}

/// The rows of one group as a JSON array of arrays of `columns`, aggregated in the
/// database.
///
/// Rows of the day and month grains are one per key already (campaign and owner are nil),
/// so they need no summing; but a year of them is tens of thousands of rows, and the SQLite
/// driver hands each row from its connection thread to the caller separately, which cost
/// more than everything else in a KPI request. Grouped by a prefix of the primary key, the
/// database packs them without sorting, and one row per day (and metric) crosses over.
fn packed(db: &DatabaseConnection, columns: &[&str]) -> Expr {
    let columns = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    Expr::cust(match db.get_database_backend() {
        DatabaseBackend::Postgres => format!("CAST(json_agg(json_build_array({columns})) AS TEXT)"),
        _ => format!("json_group_array(json_array({columns}))"),
    })
}

/// The rows [`packed`] into one JSON text.
fn unpack<T: serde::de::DeserializeOwned>(rows: &str) -> AppResult<Vec<T>> {
    serde_json::from_str(rows).map_err(AppError::internal)
}

/// The owner column when grouping by owner; otherwise the nil id, so rows of every owner
/// sum into one.
fn owner_column(collector: &Collector<'_>, column: impl sea_orm::sea_query::IntoColumnRef) -> Expr {
    if collector.request.by(GroupBy::Owner) { Expr::col(column) } else { Expr::val(Uuid::nil()) }
}

/// A stored enum value, or none for '' and anything unknown.
fn parse<T: ActiveEnum<Value = String>>(text: &str) -> Option<T> {
    (!text.is_empty()).then(|| T::try_from_value(&text.to_owned()).ok()).flatten()
}
