//! KPIs: the one append path that keeps the rollups in step with the event log, reading
//! KPIs and the funnel from the rollups, rebuilding them, and editing targets.

pub mod cache;
mod collect;
pub mod definitions;
pub mod read;
pub mod rebuild;
pub mod rollup;
mod source;

use std::collections::{BTreeSet, HashMap, HashSet};

use entity::{LeadEventKind, Stage, account, kpi_customer, lead, lead_event};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TryIntoModel,
    prelude::async_trait::async_trait,
    sea_query::{LockType, OnConflict},
};
use uuid::Uuid;

use self::rollup::{Customers, Deltas, FirstWin};
use crate::{
    db::WriteTransaction,
    domain::kpi_facts::{KpiEvent, KpiLead, facts},
};

/// A change to one lead: the lead before (none when it is new) and after, and the events
/// that record it, in order.
pub struct LeadChange<'a> {
    pub before: Option<&'a lead::Model>,
    pub after: &'a lead::Model,
    pub events: Vec<lead_event::ActiveModel>,
}

/// What to do with an event that conflicts with one already in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Fail the transaction (every ordinary change).
    Fail,
    /// Leave it out, and out of the KPIs (an SLA breach another instance recorded first).
    Skip,
}

/// A transaction that takes a change's rollups: writes them at once, or, as one of a batch
/// of writers, writes the account and customer rows and leaves the sums to the batch.
#[async_trait]
pub trait RollupSink: ConnectionTrait {
    async fn add_rollups(&self, deltas: Deltas) -> Result<(), DbErr>;
}

#[async_trait]
impl RollupSink for DatabaseTransaction {
    async fn add_rollups(&self, deltas: Deltas) -> Result<(), DbErr> {
        deltas.write(self).await
    }
}

#[async_trait]
impl RollupSink for WriteTransaction {
    async fn add_rollups(&self, mut deltas: Deltas) -> Result<(), DbErr> {
        if !self.batched() {
            return deltas.write(self).await;
        }
        let sums = deltas.take_sums();
        deltas.write(self).await?;
        self.add_sums(Box::new(sums));
        Ok(())
    }
}

/// Appends the changes' events to `lead_event` and adds what they change to the KPI
/// rollups, in the caller's transaction. Every path that appends events goes through here,
/// so the rollups always agree with the log. Returns how many events were appended.
pub async fn append(db: &impl RollupSink, changes: &[LeadChange<'_>], on_duplicate: OnDuplicate) -> Result<u64, DbErr> {
    let events: Vec<lead_event::ActiveModel> = changes.iter().flat_map(|c| c.events.iter().cloned()).collect();
    if events.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = events.iter().filter_map(|e| e.id.try_as_ref().copied()).collect();
    let mut customers = locked_customers(db, changes).await?;
    let inserted: HashSet<Uuid> = match on_duplicate {
        OnDuplicate::Fail => {
            lead_event::Entity::insert_many(events).exec_without_returning(db).await?;
            ids.iter().copied().collect()
        }
        OnDuplicate::Skip => {
            lead_event::Entity::insert_many(events)
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .exec_without_returning(db)
                .await?;
            lead_event::Entity::find()
                .select_only()
                .column(lead_event::Column::Id)
                .filter(lead_event::Column::Id.is_in(ids.iter().copied()))
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        }
    };
    let mut reached = reached_before(db, changes, &ids).await?;
    let mut deltas = Deltas::default();
    for change in changes {
        let after = KpiLead::from(change.after);
        let mut owner = change.before.and_then(|lead| lead.owner_id);
        let lead_reached = reached.entry(change.after.id).or_default();
        for event in &change.events {
            if !event.id.try_as_ref().is_some_and(|id| inserted.contains(id)) {
                continue;
            }
            let event = kpi_event(event)?;
            let event_facts = facts(&event, owner);
            deltas.add_facts(&event_facts);
            if let (Some(account), Some((dims, flow))) = (change.after.account_id, event_facts.won()) {
                deltas.add_win(&mut customers, account, event.occurred_at, dims, flow);
            }
            owner = event.owner_id;
            match (event.kind, event.to_stage) {
                (LeadEventKind::Created, _) => deltas.add_reached(&after, Stage::Lead),
                (LeadEventKind::StageChanged, Some(to)) if to != Stage::Lead && lead_reached.insert(to) => {
                    deltas.add_reached(&after, to);
                }
                _ => {}
            }
        }
        if let Some(before) = change.before {
            deltas.add_lead(&KpiLead::from(before), -1);
        }
        deltas.add_lead(&after, 1);
    }
    if deltas.changes_days_before(crate::domain::time::now().date_naive()) {
        cache::invalidate(db).await?;
    }
    db.add_rollups(deltas).await?;
    Ok(inserted.len() as u64)
}

/// Locks the accounts whose leads these changes win, before their events are appended,
/// and reads which of them are customers already. The lock (`FOR NO KEY UPDATE` on
/// PostgreSQL, which still lets leads be created for the account; SQLite's immediate
/// transaction holds the write lock already) appends the wins of one account one after
/// another, so the account's first win in the log is the one its rollups count as first,
/// just as the rebuild reads them.
async fn locked_customers(db: &impl ConnectionTrait, changes: &[LeadChange<'_>]) -> Result<Customers, DbErr> {
    let mut accounts = BTreeSet::new();
    for change in changes {
        let Some(account) = change.after.account_id else { continue };
        let into_won = change.events.iter().filter(|e| e.to_stage.try_as_ref() == Some(&Some(Stage::Won)));
        for event in into_won {
            if facts(&kpi_event(event)?, None).won().is_some() {
                accounts.insert(account);
            }
        }
    }
    if accounts.is_empty() {
        return Ok(Customers::default());
    }
    account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::Id.is_in(accounts.iter().copied()))
        .order_by_asc(account::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    let known = kpi_customer::Entity::find()
        .filter(kpi_customer::Column::AccountId.is_in(accounts.iter().copied()))
        .all(db)
        .await?;
    Ok(Customers(known.into_iter().map(|row| (row.account_id, FirstWin::from(row))).collect()))
}

/// The stages each changed lead had already entered by a move before these events. Only a
/// lead that went back to marketing can enter a stage again (every other move leads
/// forward), so only those leads' logs are read.
async fn reached_before(
    db: &impl ConnectionTrait,
    changes: &[LeadChange<'_>],
    new_ids: &[Uuid],
) -> Result<HashMap<Uuid, HashSet<Stage>>, DbErr> {
    let moving: Vec<Uuid> = changes
        .iter()
        .filter(|c| {
            c.before.is_some_and(|lead| lead.recycle_count > 0)
                && c.events.iter().any(|e| e.kind.try_as_ref() == Some(&LeadEventKind::StageChanged))
        })
        .map(|c| c.after.id)
        .collect();
    let mut reached: HashMap<Uuid, HashSet<Stage>> = HashMap::new();
    if moving.is_empty() {
        return Ok(reached);
    }
    let rows: Vec<(Uuid, Option<Stage>)> = lead_event::Entity::find()
        .select_only()
        .column(lead_event::Column::LeadId)
        .column(lead_event::Column::ToStage)
        .distinct()
        .filter(lead_event::Column::LeadId.is_in(moving))
        .filter(lead_event::Column::Kind.eq(LeadEventKind::StageChanged))
        .filter(lead_event::Column::Id.is_not_in(new_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    for (lead_id, stage) in rows {
        reached.entry(lead_id).or_default().extend(stage);
    }
    Ok(reached)
}

/// The KPI view of an event about to be appended.
fn kpi_event(event: &lead_event::ActiveModel) -> Result<KpiEvent, DbErr> {
    let mut event = event.clone();
    event.position = Set(0);
    Ok(KpiEvent::from(event.try_into_model()?))
}

impl From<&lead::Model> for KpiLead {
    fn from(lead: &lead::Model) -> Self {
        Self {
            id: lead.id,
            stage: lead.stage,
            channel: lead.channel,
            campaign_id: lead.campaign_id,
            owner_id: lead.owner_id,
            account_id: lead.account_id,
            deal_value_amount: lead.deal_value_amount,
            currency_code: lead.currency_code.clone(),
            created_at: lead.created_at,
        }
    }
}

impl From<lead_event::Model> for KpiEvent {
    fn from(e: lead_event::Model) -> Self {
        Self {
            lead_id: e.lead_id,
            kind: e.kind,
            from_stage: e.from_stage,
            to_stage: e.to_stage,
            from_stage_entered_at: e.from_stage_entered_at,
            owner_id: e.owner_id,
            channel: e.channel,
            campaign_id: e.campaign_id,
            reason_code: e.reason_code,
            amount: e.amount,
            currency_code: e.currency_code,
            detail: e.detail,
            occurred_at: e.occurred_at,
        }
    }
}
