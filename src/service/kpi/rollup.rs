//! Rollup deltas: what a set of facts and lead changes adds to the rollup tables, merged by
//! key and written as upserts that add to what is there.
//!
//! Keys are kept sorted (BTreeMap), their fields in the order of the table's primary key,
//! so rows reach each table in its key order (appends to its B-tree, not scattered
//! inserts), and the tables are always written in the same order, so two transactions
//! touching the same rows lock them in the same order and cannot deadlock; `ON CONFLICT DO UPDATE SET n = n + excluded.n` makes concurrent increments of
//! one row add up on PostgreSQL (the second waits for the first and adds to its result).

use std::{
    any::Any,
    collections::{BTreeMap, HashMap},
    sync::LazyLock,
};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::{
    Channel, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow,
};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, QueryTrait,
    prelude::async_trait::async_trait,
    sea_query::{Alias, CommonTableExpression, Expr, InsertStatement, OnConflict, Query, WithClause, WithQuery},
};
use uuid::Uuid;

use crate::{
    db::{BatchSums, bulk_insert::Inserts},
    domain::{
        kpi::bucket,
        kpi_facts::{Dims, DurationMetric, Facts, Flow, FlowKind, KpiLead},
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

/// A name held in a rollup key: a grain, stage, channel, flow kind or duration metric, or
/// "" for none. A rebuild compares keys tens of millions of times, and comparing their text
/// was a quarter of its work; a name is its rank among all such names, which orders as
/// their text does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(u8);

/// Every name a key may hold, in text order: a name's rank is its place here.
static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = ["", DETAIL, DAY, MONTH, ALL]
        .into_iter()
        .chain(Stage::iter().map(|stage| stage_text(Some(stage))))
        .chain(Channel::iter().map(channel_text))
        .chain(FlowKind::ALL.map(FlowKind::key))
        .chain(DurationMetric::ALL.map(DurationMetric::key))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
});

impl Name {
    /// "": no stage.
    const NONE: Self = Self(0);

    /// The name of `text`, one of [`NAMES`] by construction of the callers' tables.
    fn of(text: &str) -> Self {
        let rank = NAMES.binary_search(&text).unwrap_or_else(|_| panic!("{text:?} is not a rollup key name"));
        Self(u8::try_from(rank).expect("fewer than 256 rollup key names"))
    }

    pub fn as_str(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }
}

/// The grains' names.
struct Grains {
    detail: Name,
    day: Name,
    month: Name,
    all: Name,
}

static GRAINS: LazyLock<Grains> = LazyLock::new(|| Grains {
    detail: Name::of(DETAIL),
    day: Name::of(DAY),
    month: Name::of(MONTH),
    all: Name::of(ALL),
});

/// A campaign or owner id in a rollup key, as the number its bytes spell: it orders as
/// the id does, and compares in an instruction rather than a call comparing 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u128);

impl From<Uuid> for Id {
    fn from(id: Uuid) -> Self {
        Self(id.as_u128())
    }
}

impl From<Id> for Uuid {
    fn from(id: Id) -> Self {
        Uuid::from_u128(id.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub grain: Name,
    pub day: NaiveDate,
    pub channel: Name,
    pub campaign_id: Id,
    pub owner_id: Id,
    pub kind: Name,
    pub from_stage: Name,
    pub to_stage: Name,
    pub tag: String,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationKey {
    pub grain: Name,
    pub metric: Name,
    pub day: NaiveDate,
    pub channel: Name,
    pub campaign_id: Id,
    pub owner_id: Id,
    pub stage: Name,
    pub bucket: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CurrentKey {
    pub grain: Name,
    pub stage: Name,
    pub channel: Name,
    pub campaign_id: Id,
    pub owner_id: Id,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortKey {
    pub day: NaiveDate,
    pub channel: Name,
    pub campaign_id: Id,
    pub stage: Name,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomerCohortKey {
    pub grain: Name,
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

/// A stage's stored name ("" for none).
pub fn stage_text(stage: Option<Stage>) -> &'static str {
    static NAMES: LazyLock<Vec<(Stage, &'static str)>> = LazyLock::new(|| names(Stage::iter()));
    stage.and_then(|stage| name_of(&NAMES, stage)).unwrap_or("")
}

/// A channel's stored name.
pub fn channel_text(channel: Channel) -> &'static str {
    static NAMES: LazyLock<Vec<(Channel, &'static str)>> = LazyLock::new(|| names(Channel::iter()));
    name_of(&NAMES, channel).unwrap_or("")
}

/// Each value with its stored name, kept for the life of the process (a few dozen bytes).
fn names<E: ActiveEnum<Value = String> + Copy>(values: impl Iterator<Item = E>) -> Vec<(E, &'static str)> {
    values.map(|value| (value, &*value.to_value().leak())).collect()
}

fn name_of<E: PartialEq, N: Copy>(names: &[(E, N)], value: E) -> Option<N> {
    names.iter().find(|(known, _)| *known == value).map(|(_, name)| *name)
}

/// A stage's name in a key.
fn stage_name(stage: Option<Stage>) -> Name {
    static NAMES: LazyLock<Vec<(Stage, Name)>> =
        LazyLock::new(|| Stage::iter().map(|stage| (stage, Name::of(stage_text(Some(stage))))).collect());
    stage.and_then(|stage| name_of(&NAMES, stage)).unwrap_or(Name::NONE)
}

/// A channel's name in a key.
fn channel_name(channel: Channel) -> Name {
    static NAMES: LazyLock<Vec<(Channel, Name)>> =
        LazyLock::new(|| Channel::iter().map(|channel| (channel, Name::of(channel_text(channel)))).collect());
    name_of(&NAMES, channel).unwrap_or(Name::NONE)
}

fn kind_name(kind: FlowKind) -> Name {
    static NAMES: LazyLock<Vec<(FlowKind, Name)>> =
        LazyLock::new(|| FlowKind::ALL.into_iter().map(|kind| (kind, Name::of(kind.key()))).collect());
    name_of(&NAMES, kind).unwrap_or(Name::NONE)
}

fn metric_name(metric: DurationMetric) -> Name {
    static NAMES: LazyLock<Vec<(DurationMetric, Name)>> =
        LazyLock::new(|| DurationMetric::ALL.into_iter().map(|metric| (metric, Name::of(metric.key()))).collect());
    name_of(&NAMES, metric).unwrap_or(Name::NONE)
}

pub fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The (grain, day, campaign, owner) combinations a fact is counted under.
fn grains(dims: &Dims) -> [(Name, NaiveDate, Id, Id); 3] {
    grains_of(dims.day, dims.campaign_id.unwrap_or_default(), dims.owner_id.unwrap_or_default())
}

fn grains_of(day: NaiveDate, campaign_id: Uuid, owner_id: Uuid) -> [(Name, NaiveDate, Id, Id); 3] {
    let (grains, none) = (&*GRAINS, Id::default());
    [
        (grains.detail, day, campaign_id.into(), owner_id.into()),
        (grains.day, day, none, none),
        (grains.month, first_of_month(day), none, none),
    ]
}

impl Deltas {
    /// Counts an event's facts.
    pub fn add_facts(&mut self, facts: &Facts) {
        let Some(dims) = &facts.dims else { return };
        let channel = channel_name(dims.channel);
        for (grain, day, campaign_id, owner_id) in grains(dims) {
            for flow in &facts.flows {
                let key = FlowKey {
                    grain,
                    day,
                    channel,
                    campaign_id,
                    owner_id,
                    kind: kind_name(flow.kind),
                    from_stage: stage_name(flow.from),
                    to_stage: stage_name(flow.to),
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
                    channel,
                    campaign_id,
                    owner_id,
                    metric: metric_name(duration.metric),
                    stage: stage_name(Some(duration.stage)),
                    bucket: bucket(duration.micros),
                };
                *self.duration.entry(key).or_default() += 1;
            }
        }
    }

    /// Counts `lead` as it is (`sign` 1) or takes it away as it was (`sign` -1) in the
    /// snapshot of leads per stage and in its cohort's current stage.
    pub fn add_lead(&mut self, lead: &KpiLead, sign: i64) {
        let stage = stage_name(Some(lead.stage));
        let channel = channel_name(lead.channel);
        let currency = lead.currency_code.clone().filter(|_| lead.deal_value_amount.is_some()).unwrap_or_default();
        let amount = if currency.is_empty() { 0 } else { lead.deal_value_amount.unwrap_or(0) };
        let (campaign_id, owner_id) = (lead.campaign_id.unwrap_or_default(), lead.owner_id.unwrap_or_default());
        for (grain, campaign_id, owner_id) in
            [(GRAINS.detail, campaign_id.into(), owner_id.into()), (GRAINS.all, Id::default(), Id::default())]
        {
            let key = CurrentKey { grain, stage, channel, campaign_id, owner_id, currency: currency.clone() };
            let entry = self.current.entry(key).or_default();
            entry.0 += sign;
            entry.1 += sign * amount;
        }
        self.cohort.entry(cohort_key(lead, lead.stage)).or_default().1 += sign;
    }

    /// Counts `lead` as having reached `stage` for the first time.
    pub fn add_reached(&mut self, lead: &KpiLead, stage: Stage) {
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
                    channel: channel_text(dims.channel).to_owned(),
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
                campaign_id: campaign_id.into(),
                owner_id: owner_id.into(),
                currency: currency.clone(),
            };
            let sums = self.customer_cohort.entry(key).or_default();
            sums.accounts += i64::from(new);
            sums.deals += 1;
            sums.amount += flow.amount;
        }
    }

    /// Moves out the sums of flows, durations, current stages and cohorts, which nothing in
    /// a write reads back, leaving the account and customer rows, which the next win of
    /// the same account must find written.
    pub fn take_sums(&mut self) -> Deltas {
        Deltas {
            flow: std::mem::take(&mut self.flow),
            duration: std::mem::take(&mut self.duration),
            current: std::mem::take(&mut self.current),
            cohort: std::mem::take(&mut self.cohort),
            ..Deltas::default()
        }
    }

    /// Whether the deltas change the flows or durations of a day before `today` (the day
    /// grain names every day a delta touches).
    pub fn changes_days_before(&self, today: NaiveDate) -> bool {
        let day = GRAINS.day;
        self.flow.keys().any(|k| k.grain == day && k.day < today)
            || self.duration.keys().any(|k| k.grain == day && k.day < today)
    }

    /// The rows the deltas add up to, table by table, each in key order. Zero deltas are
    /// left out.
    pub fn rows(&self) -> Rows {
        Rows {
            flow: self.flow_rows().collect(),
            duration: self.duration_rows().collect(),
            current: self.current_rows().collect(),
            cohort: self.cohort_rows().collect(),
            account_value: self.account_value_rows().collect(),
            customer: self.customer_rows().collect(),
            customer_cohort: self.customer_cohort_rows().collect(),
        }
    }

    fn flow_rows(&self) -> impl Iterator<Item = kpi_flow::Model> + '_ {
        self.flow.iter().filter(|(_, d)| **d != (0, 0)).map(|(k, (n, amount))| kpi_flow::Model {
            grain: k.grain.as_str().to_owned(),
            day: k.day,
            channel: k.channel.as_str().to_owned(),
            campaign_id: k.campaign_id.into(),
            owner_id: k.owner_id.into(),
            kind: k.kind.as_str().to_owned(),
            from_stage: k.from_stage.as_str().to_owned(),
            to_stage: k.to_stage.as_str().to_owned(),
            tag: k.tag.clone(),
            currency: k.currency.clone(),
            n: *n,
            amount: *amount,
        })
    }

    fn duration_rows(&self) -> impl Iterator<Item = kpi_duration::Model> + '_ {
        self.duration.iter().filter(|(_, n)| **n != 0).map(|(k, n)| kpi_duration::Model {
            grain: k.grain.as_str().to_owned(),
            day: k.day,
            channel: k.channel.as_str().to_owned(),
            campaign_id: k.campaign_id.into(),
            owner_id: k.owner_id.into(),
            metric: k.metric.as_str().to_owned(),
            stage: k.stage.as_str().to_owned(),
            bucket: k.bucket,
            n: *n,
        })
    }

    fn current_rows(&self) -> impl Iterator<Item = kpi_current::Model> + '_ {
        self.current.iter().filter(|(_, d)| **d != (0, 0)).map(|(k, (n, amount))| kpi_current::Model {
            grain: k.grain.as_str().to_owned(),
            stage: k.stage.as_str().to_owned(),
            channel: k.channel.as_str().to_owned(),
            campaign_id: k.campaign_id.into(),
            owner_id: k.owner_id.into(),
            currency: k.currency.clone(),
            n: *n,
            amount: *amount,
        })
    }

    fn cohort_rows(&self) -> impl Iterator<Item = kpi_cohort::Model> + '_ {
        self.cohort.iter().filter(|(_, d)| **d != (0, 0)).map(|(k, (reached, current))| kpi_cohort::Model {
            day: k.day,
            channel: k.channel.as_str().to_owned(),
            campaign_id: k.campaign_id.into(),
            stage: k.stage.as_str().to_owned(),
            reached: *reached,
            current: *current,
        })
    }

    fn account_value_rows(&self) -> impl Iterator<Item = kpi_account_value::Model> + '_ {
        self.account_value.iter().map(|((account_id, currency), (deals, amount))| kpi_account_value::Model {
            account_id: *account_id,
            currency: currency.clone(),
            deals: *deals,
            amount: *amount,
        })
    }

    fn customer_rows(&self) -> impl Iterator<Item = kpi_customer::Model> + '_ {
        self.customer.iter().map(|(account_id, first)| kpi_customer::Model {
            account_id: *account_id,
            first_won_at: first.at,
            channel: first.channel.clone(),
            campaign_id: first.campaign_id,
            owner_id: first.owner_id,
            currency: first.currency.clone(),
        })
    }

    fn customer_cohort_rows(&self) -> impl Iterator<Item = kpi_customer_cohort::Model> + '_ {
        self.customer_cohort.iter().map(|(k, sums)| kpi_customer_cohort::Model {
            grain: k.grain.as_str().to_owned(),
            day: k.day,
            channel: k.channel.clone(),
            campaign_id: k.campaign_id,
            owner_id: k.owner_id,
            currency: k.currency.clone(),
            accounts: sums.accounts,
            deals: sums.deals,
            amount: sums.amount,
        })
    }

    /// Adds the deltas to the rollup tables, table by table in a fixed order, each in key
    /// order.
    pub async fn write(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let rows = self.rows();
        let mut statements = Vec::new();
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
            statements.extend(upserts::<kpi_flow::Entity, _, _>(rows.flow, key, [C::N, C::Amount]));
        }
        {
            use kpi_duration::Column as C;
            let key = [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId, C::Metric, C::Stage, C::Bucket];
            statements.extend(upserts::<kpi_duration::Entity, _, _>(rows.duration, key, [C::N]));
        }
        {
            use kpi_current::Column as C;
            let key = [C::Grain, C::Stage, C::Channel, C::CampaignId, C::OwnerId, C::Currency];
            statements.extend(upserts::<kpi_current::Entity, _, _>(rows.current, key, [C::N, C::Amount]));
        }
        {
            use kpi_cohort::Column as C;
            let key = [C::Day, C::Channel, C::CampaignId, C::Stage];
            statements.extend(upserts::<kpi_cohort::Entity, _, _>(rows.cohort, key, [C::Reached, C::Current]));
        }
        {
            use kpi_account_value::Column as C;
            let (key, sums) = ([C::AccountId, C::Currency], [C::Deals, C::Amount]);
            statements.extend(upserts::<kpi_account_value::Entity, _, _>(rows.account_value, key, sums));
        }
        // Plain inserts: an account becomes a customer once (its wins are appended one at a
        // time, see `kpi::append`), so a second row for it would be a bug worth failing on.
        for chunk in rows.customer.chunks(CHUNK) {
            let rows = chunk.iter().cloned().map(IntoActiveModel::into_active_model);
            statements.push((kpi_customer::Entity::insert_many(rows).into_query(), chunk.len()));
        }
        {
            use kpi_customer_cohort::Column as C;
            let key = [C::Grain, C::Day, C::Channel, C::CampaignId, C::OwnerId, C::Currency];
            let sums = [C::Accounts, C::Deals, C::Amount];
            statements.extend(upserts::<kpi_customer_cohort::Entity, _, _>(rows.customer_cohort, key, sums));
        }
        if db.get_database_backend() != DbBackend::Postgres {
            for (statement, _) in statements {
                db.execute(&statement).await?;
            }
            return Ok(());
        }
        for together in at_once(statements) {
            db.execute(&together).await?;
        }
        Ok(())
    }

    /// Writes the deltas into emptied rollup tables as plain bulk inserts: a rebuild writes
    /// millions of rows, and upserting them row by row costs minutes. Each statement's rows
    /// are made while the database inserts the ones before.
    pub async fn write_to_empty(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut inserts = Inserts::new(db.get_database_backend());
        inserts.insert_all(db, self.flow_rows()).await?;
        inserts.insert_all(db, self.duration_rows()).await?;
        inserts.insert_all(db, self.current_rows()).await?;
        inserts.insert_all(db, self.cohort_rows()).await?;
        inserts.insert_all(db, self.account_value_rows()).await?;
        inserts.insert_all(db, self.customer_rows()).await?;
        inserts.insert_all(db, self.customer_cohort_rows()).await
    }
}

/// Rollup rows, one vector per table.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub flow: Vec<kpi_flow::Model>,
    pub duration: Vec<kpi_duration::Model>,
    pub current: Vec<kpi_current::Model>,
    pub cohort: Vec<kpi_cohort::Model>,
    pub account_value: Vec<kpi_account_value::Model>,
    pub customer: Vec<kpi_customer::Model>,
    pub customer_cohort: Vec<kpi_customer_cohort::Model>,
}

/// The statements adding `rows` to what the table holds, each with its number of rows:
/// `INSERT … ON CONFLICT (key) DO UPDATE SET c = table.c + excluded.c` for each summed
/// column, in chunks.
fn upserts<E, M, C>(
    rows: Vec<M>,
    key: impl IntoIterator<Item = C> + Clone,
    sums: impl IntoIterator<Item = C> + Clone,
) -> Vec<(InsertStatement, usize)>
where
    E: EntityTrait<Model = M> + Default,
    M: sea_orm::ModelTrait<Entity = E> + sea_orm::IntoActiveModel<E::ActiveModel> + Clone,
    C: IdenStatic + Copy + sea_orm::sea_query::IntoIden + 'static,
{
    rows.chunks(CHUNK)
        .map(|chunk| {
            let upsert = E::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
                .on_conflict(adding::<E, _>(key.clone(), sums.clone()))
                .into_query();
            (upsert, chunk.len())
        })
        .collect()
}

/// Joins the rollup statements, up to [`CHUNK`] rows at a time, into statements of
/// PostgreSQL's data-modifying `WITH … SELECT 1`. The rollups' rows are the hottest in the
/// database (every move adds to today's), and each is locked from its upsert to the
/// commit: one round trip instead of four or five shortens that. PostgreSQL runs such a
/// statement's parts last to first (as observed; the order is not documented), so they are
/// listed in reverse to keep the tables' fixed locking order.
fn at_once(statements: Vec<(InsertStatement, usize)>) -> Vec<WithQuery> {
    let mut groups: Vec<Vec<InsertStatement>> = Vec::new();
    let mut rows_in_last = usize::MAX;
    for (statement, rows) in statements {
        match groups.last_mut() {
            Some(group) if rows_in_last + rows <= CHUNK => {
                group.push(statement);
                rows_in_last += rows;
            }
            _ => {
                groups.push(vec![statement]);
                rows_in_last = rows;
            }
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let mut with = WithClause::new();
            for (n, statement) in group.into_iter().enumerate().rev() {
                with.cte(
                    CommonTableExpression::new()
                        .query(statement)
                        .table_name(Alias::new(format!("rollup_{n}")))
                        .to_owned(),
                );
            }
            Query::select().expr(Expr::val(1)).to_owned().with(with)
        })
        .collect()
}

fn cohort_key(lead: &KpiLead, stage: Stage) -> CohortKey {
    CohortKey {
        day: lead.created_at.date_naive(),
        channel: channel_name(lead.channel),
        campaign_id: lead.campaign_id.unwrap_or_default().into(),
        stage: stage_name(Some(stage)),
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

/// The rollups' sums add up across a batch of writers (see [`crate::db::Writer`]).
#[async_trait]
impl BatchSums for Deltas {
    fn absorb(&mut self, other: Box<dyn BatchSums>) {
        let Ok(other) = other.into_any().downcast::<Deltas>() else { unreachable!("a batch adds up one kind of sums") };
        let Deltas { flow, duration, current, cohort, account_value, customer, customer_cohort } = *other;
        for (key, (n, amount)) in flow {
            let entry = self.flow.entry(key).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
        for (key, n) in duration {
            *self.duration.entry(key).or_default() += n;
        }
        for (key, (n, amount)) in current {
            let entry = self.current.entry(key).or_default();
            entry.0 += n;
            entry.1 += amount;
        }
        for (key, (reached, now)) in cohort {
            let entry = self.cohort.entry(key).or_default();
            entry.0 += reached;
            entry.1 += now;
        }
        for (key, (deals, amount)) in account_value {
            let entry = self.account_value.entry(key).or_default();
            entry.0 += deals;
            entry.1 += amount;
        }
        // An account's first win is written once: the first writer's stands.
        for (account, first) in customer {
            self.customer.entry(account).or_insert(first);
        }
        for (key, sums) in customer_cohort {
            let entry = self.customer_cohort.entry(key).or_default();
            entry.accounts += sums.accounts;
            entry.deals += sums.deals;
            entry.amount += sums.amount;
        }
    }

    async fn write(self: Box<Self>, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        Deltas::write(&self, txn).await
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_order_as_their_text_and_bytes_do() {
        let names: Vec<&str> = NAMES.clone();
        for a in &names {
            for b in &names {
                assert_eq!(Name::of(a).cmp(&Name::of(b)), a.cmp(b), "{a:?} against {b:?}");
            }
            assert_eq!(Name::of(a).as_str(), *a);
        }
        let stages = Stage::iter().map(|stage| stage_name(Some(stage)).as_str());
        assert!(stages.eq(Stage::iter().map(|stage| stage_text(Some(stage)))));
        assert_eq!(stage_name(None), Name::of(""));
        let ids = [Uuid::nil(), Uuid::from_u128(1), Uuid::from_u128(1 << 64), Uuid::max(), Uuid::now_v7()];
        for a in ids {
            for b in ids {
                assert_eq!(Id::from(a).cmp(&Id::from(b)), a.cmp(&b));
            }
            assert_eq!(Uuid::from(Id::from(a)), a);
        }
    }
}
