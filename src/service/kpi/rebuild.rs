//! Recomputing every rollup from the event log and the lead table, in one transaction.
//! The rollups it writes are exactly what the incremental path produces, because both
//! derive them from the same facts of the same events.

use std::{collections::HashMap, time::Instant};

use chrono::{DateTime, Utc};
use entity::{
    LeadEventKind, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow,
};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;

use super::{
    rollup::{Customers, Deltas},
    source,
};
use crate::{
    db,
    domain::{
        funnel::STAGES,
        kpi_facts::{Dims, Flow, facts},
    },
};

/// A won deal as the log holds it, until the lead table says which account it is for.
struct Win {
    position: i64,
    at: DateTime<Utc>,
    dims: Dims,
    flow: Flow,
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
    kpi_flow::Entity::delete_many().exec(&txn).await?;
    kpi_duration::Entity::delete_many().exec(&txn).await?;
    kpi_current::Entity::delete_many().exec(&txn).await?;
    kpi_cohort::Entity::delete_many().exec(&txn).await?;
    kpi_account_value::Entity::delete_many().exec(&txn).await?;
    kpi_customer::Entity::delete_many().exec(&txn).await?;
    kpi_customer_cohort::Entity::delete_many().exec(&txn).await?;
    let mut report = RebuildReport::default();
    let mut log = LogFold::default();
    // The database reads the next page on its connection thread while this one is folded:
    // the two halves of the work run on two cores instead of taking turns.
    let mut events = source::page(&txn, i64::MIN, PAGE).await?;
    while let Some(last) = events.last().map(|sourced| sourced.position) {
        let (next, ()) = tokio::join!(source::page(&txn, last, PAGE), async { log.add(events) });
        events = next?;
    }
    report.events = log.events;
    let LogFold { mut deltas, reached, mut wins, .. } = log;
    // Won deals of leads with an account, to count in the log's order once all are known.
    let mut account_wins: Vec<(Uuid, Win)> = Vec::new();
    let mut leads = source::lead_page(&txn, Uuid::nil(), PAGE).await?;
    while let Some(last) = leads.last().map(|lead| lead.id) {
        let fold = async {
            report.leads += leads.len() as u64;
            for lead in &leads {
                deltas.add_lead(lead, 1);
                deltas.add_reached(lead, Stage::Lead);
                let stages = reached.get(&lead.id).copied().unwrap_or(0);
                for stage in STAGES.into_iter().filter(|s| stages & bit(*s) != 0) {
                    deltas.add_reached(lead, stage);
                }
                if let (Some(account), Some(win)) = (lead.account_id, wins.remove(&lead.id)) {
                    account_wins.push((account, win));
                }
            }
        };
        let (next, ()) = tokio::join!(source::lead_page(&txn, last, PAGE), fold);
        leads = next?;
    }
    // An account's first win is its first in the log, as `kpi::append` counts it.
    account_wins.sort_unstable_by_key(|(_, win)| win.position);
    let mut customers = Customers::default();
    for (account, win) in &account_wins {
        deltas.add_win(&mut customers, *account, win.at, &win.dims, &win.flow);
    }
    deltas.write_to_empty(&txn).await?;
    super::cache::invalidate(&txn).await?;
    txn.commit().await?;
    report.elapsed = started.elapsed();
    Ok(report)
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
    fn add(&mut self, page: Vec<source::SourcedEvent>) {
        self.events += page.len() as u64;
        for sourced in page {
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

fn bit(stage: Stage) -> u8 {
    1 << STAGES.iter().position(|s| *s == stage).unwrap_or(0)
}
