//! Recomputing every rollup from the event log and the lead table, in one transaction.
//! The rollups it writes are exactly what the incremental path produces, because both
//! derive them from the same facts of the same events.

use std::{collections::HashMap, time::Instant};

use chrono::{DateTime, Utc};
use entity::{
    LeadEventKind, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow, lead, lead_event,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait, QuerySelect};
use uuid::Uuid;

use super::{
    rollup::{Customers, Deltas},
    source,
};
use crate::{
    db,
    domain::{
        funnel::STAGES,
        kpi_facts::{Dims, Flow, KpiEvent, KpiLead, facts},
    },
};

/// A won deal as the log holds it, until the lead table says which account it is for.
struct Win {
    position: i64,
    at: DateTime<Utc>,
    dims: Dims,
    flow: Flow,
}

/// The tables a rebuild replaces.
pub fn rollup_tables() -> [&'static str; 7] {
    [
        kpi_flow::Entity.table_name(),
        kpi_duration::Entity.table_name(),
        kpi_current::Entity.table_name(),
        kpi_cohort::Entity.table_name(),
        kpi_account_value::Entity.table_name(),
        kpi_customer::Entity.table_name(),
        kpi_customer_cohort::Entity.table_name(),
    ]
}

/// Events or leads read per query.
const PAGE: u64 = 20_000;

/// What a rebuild did.
#[derive(Clone, Debug, Default)]
pub struct RebuildReport {
    pub events: u64,
    pub leads: u64,
    pub elapsed: std::time::Duration,
}

/// Replaces every rollup row with one recomputed from `lead_event`, `lead` and nothing else.
#[tracing::instrument(skip_all)]
pub async fn rebuild(db: &DatabaseConnection) -> Result<RebuildReport, DbErr> {
    let started = Instant::now();
    let txn = db::begin_write(db).await?;
    let folded = fold(&txn).await?;
    replace(&txn, &folded.deltas).await?;
    txn.commit().await?;
    Ok(RebuildReport { elapsed: started.elapsed(), ..folded.report })
}

/// Rollups added up from the log and the lead table as they were at one moment.
pub struct Folded {
    deltas: Deltas,
    report: RebuildReport,
    /// The log's last position then.
    through: Option<i64>,
}

/// Adds up the rollups of everything `db` holds. Only reads: in a read transaction it sees
/// one state of the database, which a bulk load can fold while it builds its indexes and
/// hand to [`rebuild_from`].
pub async fn fold(db: &impl ConnectionTrait) -> Result<Folded, DbErr> {
    let started = Instant::now();
    let mut report = RebuildReport::default();
    let mut log = LogFold::default();
    let mut through = None;
    let mut events = source::page(db, i64::MIN, PAGE).await?;
    while let Some(last) = events.last().map(|sourced| sourced.position) {
        through = Some(last);
        (log, events) = beside(log, move |log| log.add(events), source::page(db, last, PAGE)).await?;
    }
    report.events = log.events;
    let mut leads_fold = log.into_lead_fold();
    let mut leads = source::lead_page(db, Uuid::nil(), PAGE).await?;
    while let Some(last) = leads.last().map(|lead| lead.id) {
        (leads_fold, leads) =
            beside(leads_fold, move |fold| fold.add(leads), source::lead_page(db, last, PAGE)).await?;
    }
    report.leads = leads_fold.leads;
    report.elapsed = started.elapsed();
    Ok(Folded { deltas: leads_fold.finish(), report, through })
}

/// Adds up the rollups of a log and its leads handed over as they are written rather than
/// read back, to the very [`Folded`] that [`fold`] would read from the tables. Only for a
/// database that held nothing else: a bulk load into an empty one knows all of it.
#[derive(Default)]
pub struct WrittenFold {
    log: LogFold,
    /// Folded once the whole log is: a lead's part depends on every event it ever has.
    leads: Vec<KpiLead>,
    through: Option<i64>,
    elapsed: std::time::Duration,
}

impl WrittenFold {
    /// Events as written, in log order (by position) across calls.
    pub fn add_events(&mut self, events: Vec<lead_event::Model>) {
        let started = Instant::now();
        self.through = events.last().map(|event| event.position).or(self.through);
        let sourced = events.into_iter().map(|event| source::SourcedEvent {
            position: event.position,
            event: KpiEvent::from(event),
            previous_owner: None,
        });
        self.log.add(sourced);
        self.elapsed += started.elapsed();
    }

    /// Leads as written, in their final state, in any order.
    pub fn add_leads(&mut self, leads: &[lead::Model]) {
        self.leads.extend(leads.iter().map(KpiLead::from));
    }

    pub fn finish(self) -> Folded {
        let started = Instant::now();
        let Self { log, leads, through, elapsed } = self;
        let events = log.events;
        let mut leads_fold = log.into_lead_fold();
        leads_fold.add(leads);
        let report = RebuildReport { events, leads: leads_fold.leads, elapsed: elapsed + started.elapsed() };
        Folded { deltas: leads_fold.finish(), report, through }
    }
}

/// Replaces every rollup row with `folded`, or, when the log has grown since it was folded,
/// with a fold done afresh in the write transaction.
#[tracing::instrument(skip_all)]
pub async fn rebuild_from(db: &DatabaseConnection, folded: Folded) -> Result<RebuildReport, DbErr> {
    let started = Instant::now();
    let txn = db::begin_write(db).await?;
    let last: Option<i64> = lead_event::Entity::find()
        .select_only()
        .column_as(lead_event::Column::Position.max(), "last")
        .into_tuple()
        .one(&txn)
        .await?
        .flatten();
    let folded = if last == folded.through { folded } else { fold(&txn).await? };
    replace(&txn, &folded.deltas).await?;
    txn.commit().await?;
    Ok(RebuildReport { elapsed: folded.report.elapsed + started.elapsed(), ..folded.report })
}

/// Replaces the rollup tables' rows with `deltas`, in the caller's write transaction.
pub async fn replace(txn: &impl ConnectionTrait, deltas: &Deltas) -> Result<(), DbErr> {
    for table in rollup_tables() {
        txn.execute_unprepared(&format!("DELETE FROM \"{table}\"")).await?;
    }
    deltas.write_to_empty(txn).await?;
    super::cache::invalidate(txn).await
}

/// Runs `fold` on `state` on a blocking thread while `read` runs here: folding one page
/// and reading the next (the database's work and the decoding of its answer) take two
/// cores instead of turns.
async fn beside<S: Send + 'static, R>(
    state: S,
    fold: impl FnOnce(&mut S) + Send + 'static,
    read: impl Future<Output = Result<R, DbErr>>,
) -> Result<(S, R), DbErr> {
    let folding = tokio::task::spawn_blocking(move || {
        let mut state = state;
        fold(&mut state);
        state
    });
    let (read, folded) = tokio::join!(read, folding);
    let state = folded.map_err(|error| DbErr::Custom(format!("the KPI fold stopped: {error}")))?;
    Ok((state, read?))
}

/// What the log adds up to, folded page by page in log order.
#[derive(Default)]
struct LogFold {
    events: u64,
    deltas: Deltas,
    /// Per lead: its owner after its latest event.
    owners: HashMap<Uuid, Option<Uuid>>,
    /// Per lead: the stages it has entered by a move.
    reached: HashMap<Uuid, u8>,
    /// Per lead: its won deal (WON is final, so a lead is won at most once).
    wins: HashMap<Uuid, Win>,
}

impl LogFold {
    fn add(&mut self, page: impl IntoIterator<Item = source::SourcedEvent>) {
        for sourced in page {
            self.events += 1;
            let event = sourced.event;
            let previous = self.owners.insert(event.lead_id, event.owner_id).flatten();
            let event_facts = facts(&event, previous);
            self.deltas.add_facts(&event_facts);
            if let Some((dims, flow)) = event_facts.won() {
                let win =
                    Win { position: sourced.position, at: event.occurred_at, dims: dims.clone(), flow: flow.clone() };
                self.wins.insert(event.lead_id, win);
            }
            if let (LeadEventKind::StageChanged, Some(to)) = (event.kind, event.to_stage)
                && to != Stage::Lead
            {
                *self.reached.entry(event.lead_id).or_default() |= bit(to);
            }
        }
    }
}

impl LogFold {
    /// What is left to fold once the whole log is: the leads.
    fn into_lead_fold(self) -> LeadFold {
        let Self { deltas, reached, wins, .. } = self;
        LeadFold { deltas, reached, wins, account_wins: Vec::new(), leads: 0 }
    }
}

/// What the leads add up to, with what the log said of each, folded page by page.
struct LeadFold {
    deltas: Deltas,
    /// From the log: the stages each lead has entered by a move.
    reached: HashMap<Uuid, u8>,
    /// From the log: each lead's won deal.
    wins: HashMap<Uuid, Win>,
    /// Won deals of leads with an account, to count in the log's order once all are known.
    account_wins: Vec<(Uuid, Win)>,
    leads: u64,
}

impl LeadFold {
    fn add(&mut self, page: Vec<KpiLead>) {
        self.leads += page.len() as u64;
        for lead in &page {
            self.deltas.add_lead(lead, 1);
            self.deltas.add_reached(lead, Stage::Lead);
            let stages = self.reached.get(&lead.id).copied().unwrap_or(0);
            for stage in STAGES.into_iter().filter(|s| stages & bit(*s) != 0) {
                self.deltas.add_reached(lead, stage);
            }
            if let (Some(account), Some(win)) = (lead.account_id, self.wins.remove(&lead.id)) {
                self.account_wins.push((account, win));
            }
        }
    }

    /// The rollups, once every lead is folded.
    fn finish(self) -> Deltas {
        let Self { mut deltas, mut account_wins, .. } = self;
        // An account's first win is its first in the log, as `kpi::append` counts it.
        account_wins.sort_unstable_by_key(|(_, win)| win.position);
        let mut customers = Customers::default();
        for (account, win) in &account_wins {
            deltas.add_win(&mut customers, *account, win.at, &win.dims, &win.flow);
        }
        deltas
    }
}

fn bit(stage: Stage) -> u8 {
    1 << STAGES.iter().position(|s| *s == stage).unwrap_or(0)
}
