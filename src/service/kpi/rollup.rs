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
        kpi_facts::{Dims, Facts, Flow, KpiLead},
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
    pub channel: &'static str,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub kind: &'static str,
    pub from_stage: &'static str,
    pub to_stage: &'static str,
    pub tag: String,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationKey {
    pub grain: &'static str,
    pub metric: &'static str,
    pub day: NaiveDate,
    pub channel: &'static str,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub stage: &'static str,
    pub bucket: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CurrentKey {
    pub grain: &'static str,
    pub stage: &'static str,
    pub channel: &'static str,
    pub campaign_id: Uuid,
    pub owner_id: Uuid,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortKey {
    pub day: NaiveDate,
    pub channel: &'static str,
    pub campaign_id: Uuid,
    pub stage: &'static str,
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

/// A stage's stored name ("" for none). Rollup keys hold names by reference: a rebuild
/// makes millions of keys, and comparing or copying owned strings was much of its work.
pub fn stage_text(stage: Option<Stage>) -> &'static str {
    static NAMES: LazyLock<Vec<(Stage, &'static str)>> = LazyLock::new(|| names(Stage::iter()));
    stage.map_or("", |stage| name_of(&NAMES, stage))
}

/// A channel's stored name.
pub fn channel_text(channel: Channel) -> &'static str {
    static NAMES: LazyLock<Vec<(Channel, &'static str)>> = LazyLock::new(|| names(Channel::iter()));
    name_of(&NAMES, channel)
}

/// Each value with its stored name, kept for the life of the process (a few dozen bytes).
fn names<E: ActiveEnum<Value = String> + Copy>(values: impl Iterator<Item = E>) -> Vec<(E, &'static str)> {
    values.map(|value| (value, &*value.to_value().leak())).collect()
}

fn name_of<E: PartialEq>(names: &[(E, &'static str)], value: E) -> &'static str {
    names.iter().find(|(known, _)| *known == value).map_or("", |(_, name)| name)
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
                    channel,
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
                    channel,
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
    pub fn add_lead(&mut self, lead: &KpiLead, sign: i64) {
        let stage = stage_text(Some(lead.stage));
        let channel = channel_text(lead.channel);
        let currency = lead.currency_code.clone().filter(|_| lead.deal_value_amount.is_some()).unwrap_or_default();
        let amount = if currency.is_empty() { 0 } else { lead.deal_value_amount.unwrap_or(0) };
        let campaign_id = lead.campaign_id.unwrap_or_default();
        for (grain, campaign_id, owner_id) in
            [(DETAIL, campaign_id, lead.owner_id.unwrap_or_default()), (ALL, Uuid::nil(), Uuid::nil())]
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
        self.flow.keys().any(|k| k.grain == DAY && k.day < today)
            || self.duration.keys().any(|k| k.grain == DAY && k.day < today)
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
                    channel: k.channel.to_owned(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    kind: k.kind.to_owned(),
                    from_stage: k.from_stage.to_owned(),
                    to_stage: k.to_stage.to_owned(),
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
                    channel: k.channel.to_owned(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    metric: k.metric.to_owned(),
                    stage: k.stage.to_owned(),
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
                    stage: k.stage.to_owned(),
                    channel: k.channel.to_owned(),
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
                    channel: k.channel.to_owned(),
                    campaign_id: k.campaign_id,
                    stage: k.stage.to_owned(),
                    reached: *reached,
                    current: *current,
                })
                .collect(),
            account_value: self
                .account_value
                .iter()
                .map(|((account_id, currency), (deals, amount))| kpi_account_value::Model {
                    account_id: *account_id,
                    currency: currency.clone(),
                    deals: *deals,
                    amount: *amount,
                })
                .collect(),
            customer: self
                .customer
                .iter()
                .map(|(account_id, first)| kpi_customer::Model {
                    account_id: *account_id,
                    first_won_at: first.at,
                    channel: first.channel.clone(),
                    campaign_id: first.campaign_id,
                    owner_id: first.owner_id,
                    currency: first.currency.clone(),
                })
                .collect(),
            customer_cohort: self
                .customer_cohort
                .iter()
                .map(|(k, sums)| kpi_customer_cohort::Model {
                    grain: k.grain.to_owned(),
                    day: k.day,
                    channel: k.channel.clone(),
                    campaign_id: k.campaign_id,
                    owner_id: k.owner_id,
                    currency: k.currency.clone(),
                    accounts: sums.accounts,
                    deals: sums.deals,
                    amount: sums.amount,
                })
                .collect(),
        }
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
    /// hundreds of thousands of rows, and upserting them row by row costs minutes.
    pub async fn write_to_empty(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let rows = self.rows();
        let mut inserts = Inserts::new(db.get_database_backend());
        inserts.insert(db, &rows.flow).await?;
        inserts.insert(db, &rows.duration).await?;
        inserts.insert(db, &rows.current).await?;
        inserts.insert(db, &rows.cohort).await?;
        inserts.insert(db, &rows.account_value).await?;
        inserts.insert(db, &rows.customer).await?;
        inserts.insert(db, &rows.customer_cohort).await
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
