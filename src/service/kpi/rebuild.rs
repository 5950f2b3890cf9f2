//! Recomputing every rollup from the event log and the lead table, in one transaction.
//! The rollups it writes are exactly what the incremental path produces, because both
//! derive them from the same facts of the same events.

use std::{collections::HashMap, time::Instant};

use chrono::{DateTime, Utc};
use entity::{
    LeadEventKind, Stage, kpi_account_value, kpi_cohort, kpi_current, kpi_customer, kpi_customer_cohort, kpi_duration,
    kpi_flow, lead,
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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
    let mut deltas = Deltas::default();
    // Per lead: its owner after its latest event, and the stages it has entered by a move.
    let mut owners: HashMap<Uuid, Option<Uuid>> = HashMap::new();
    let mut reached: HashMap<Uuid, u8> = HashMap::new();
    // Per lead: its won deal (WON is final, so a lead is won at most once).
    let mut wins: HashMap<Uuid, Win> = HashMap::new();
    let mut after = i64::MIN;
    loop {
        let events = source::page(&txn, after, PAGE).await?;
        let Some(last) = events.last() else { break };
        after = last.position;
        report.events += events.len() as u64;
        for sourced in events {
            let event = sourced.event;
            let previous = owners.insert(event.lead_id, event.owner_id).flatten();
            let event_facts = facts(&event, previous);
            deltas.add_facts(&event_facts);
            if let Some((dims, flow)) = event_facts.won() {
                let win =
                    Win { position: sourced.position, at: event.occurred_at, dims: dims.clone(), flow: flow.clone() };
                wins.insert(event.lead_id, win);
            }
            if let (LeadEventKind::StageChanged, Some(to)) = (event.kind, event.to_stage)
                && to != Stage::Lead
            {
                *reached.entry(event.lead_id).or_default() |= bit(to);
            }
        }
    }
    drop(owners);
    // Won deals of leads with an account, to count in the log's order once all are known.
    let mut account_wins: Vec<(Uuid, Win)> = Vec::new();
    let mut after = Uuid::nil();
    loop {
        let leads = lead::Entity::find()
            .filter(lead::Column::Id.gt(after))
            .order_by_asc(lead::Column::Id)
            .limit(PAGE)
            .all(&txn)
            .await?;
        let Some(last) = leads.last() else { break };
        after = last.id;
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

fn bit(stage: Stage) -> u8 {
    1 << STAGES.iter().position(|s| *s == stage).unwrap_or(0)
}
