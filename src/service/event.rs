//! Reading the `lead_event` log, and building the rows commands append to it.

use chrono::{DateTime, Utc};
use entity::{LeadEventKind, Stage, lead, lead_event};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    lead::scope_condition,
    page::{Page, PageRequest},
};
use crate::{
    domain::{access::Viewer, money::Money},
    error::AppResult,
    events::log::{self, LogCursor, LoggedEvent, txid_column},
};

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub lead_id: Option<Uuid>,
    pub kinds: Option<Vec<LeadEventKind>>,
    pub to_stages: Option<Vec<Stage>>,
    pub actor_id: Option<Uuid>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
}

/// Log order or its reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOrder {
    OldestFirst,
    NewestFirst,
}

/// Events of the leads the viewer may see, in log order (or reversed), after a cursor.
///
/// Across leads, pages follow the log as the tailer reads it (`events::log`): in commit
/// order, and on PostgreSQL only below the watermark, so a client paging through the log
/// never passes an event whose transaction commits late. One lead's events commit in
/// position order (every change locks the lead's row), so its history is read by position,
/// and a change shows in it as soon as it has committed.
#[tracing::instrument(skip_all, fields(lead_id = ?filter.lead_id))]
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: &EventFilter,
    order: EventOrder,
    page: &PageRequest<LogCursor>,
) -> AppResult<Page<LoggedEvent>> {
    let mut condition = Condition::all();
    if let Some(scope) = scope_condition(viewer) {
        let visible_leads = Query::select().column(lead::Column::Id).from(lead::Entity).cond_where(scope).to_owned();
        condition = condition.add(lead_event::Column::LeadId.in_subquery(visible_leads));
    }
    if let Some(lead_id) = filter.lead_id {
        condition = condition.add(lead_event::Column::LeadId.eq(lead_id));
    }
    if let Some(kinds) = &filter.kinds {
        condition = condition.add(lead_event::Column::Kind.is_in(kinds.iter().copied()));
    }
    if let Some(stages) = &filter.to_stages {
        condition = condition.add(lead_event::Column::ToStage.is_in(stages.iter().copied()));
    }
    if let Some(actor_id) = filter.actor_id {
        condition = condition.add(lead_event::Column::ActorId.eq(actor_id));
    }
    if let Some(from) = filter.occurred_from {
        condition = condition.add(lead_event::Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.occurred_to {
        condition = condition.add(lead_event::Column::OccurredAt.lt(to));
    }
    let backend = db.get_database_backend();
    let settled = if filter.lead_id.is_none() { log::settled(backend) } else { None };
    // The transaction id orders the log only where rows are read below the watermark.
    let by_txid = settled.is_some();
    let mut query = lead_event::Entity::find();
    if let Some(settled) = settled {
        condition = condition.add(Expr::cust(settled));
    }
    if let Some(after) = page.after {
        let (txid, position) = (Expr::cust(txid_column(backend)), Expr::col(lead_event::Column::Position));
        let place = if by_txid { Expr::tuple([txid, position]) } else { Expr::tuple([position]) };
        let cursor = if by_txid {
            Expr::tuple([Expr::val(after.txid), Expr::val(after.position)])
        } else {
            Expr::tuple([Expr::val(after.position)])
        };
        query = query.filter(match order {
            EventOrder::OldestFirst => place.gt(cursor),
            EventOrder::NewestFirst => place.lt(cursor),
        });
    }
    let direction = match order {
        EventOrder::OldestFirst => Order::Asc,
        EventOrder::NewestFirst => Order::Desc,
    };
    if by_txid {
        query = query.order_by(Expr::cust(txid_column(backend)), direction.clone());
    }
    let rows = query
        .order_by(lead_event::Column::Position, direction)
        .filter(condition)
        .column_as(Expr::cust(txid_column(backend)), "txid")
        .limit(page.first + 1)
        .into_model::<LoggedEvent>()
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The `STAGE_CHANGED` event of a move from `before` to `after`.
pub fn stage_changed(
    before: &lead::Model,
    after: &lead::Model,
    actor: Option<Uuid>,
    amount: Option<&Money>,
    detail: Option<serde_json::Value>,
) -> lead_event::ActiveModel {
    let mut event = changed(after, LeadEventKind::StageChanged, actor, detail, after.updated_at);
    event.from_stage = Set(Some(before.stage));
    event.to_stage = Set(Some(after.stage));
    event.from_stage_entered_at = Set(Some(before.stage_entered_at));
    if matches!(after.stage, Stage::Lead | Stage::Disqualified | Stage::Lost) {
        event.reason_code = Set(after.reason_code.clone());
        event.note = Set(after.reason_note.clone());
    }
    if let Some(amount) = amount {
        event.amount = Set(Some(amount.minor_units));
        event.currency_code = Set(Some(amount.currency_code.clone()));
    }
    event
}

/// An event about `lead` (as it is after the change) that moves no stage.
pub fn changed(
    lead: &lead::Model,
    kind: LeadEventKind,
    actor: Option<Uuid>,
    detail: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> lead_event::ActiveModel {
    lead_event::ActiveModel {
        position: NotSet,
        id: Set(Uuid::now_v7()),
        lead_id: Set(lead.id),
        kind: Set(kind),
        from_stage: Set(None),
        to_stage: Set(None),
        from_stage_entered_at: Set(None),
        actor_id: Set(actor),
        owner_id: Set(lead.owner_id),
        channel: Set(lead.channel),
        campaign_id: Set(lead.campaign_id),
        reason_code: Set(None),
        note: Set(None),
        amount: Set(None),
        currency_code: Set(None),
        detail: Set(detail),
        occurred_at: Set(at),
    }
}

/// The `CREATED` event of a new lead.
pub fn created(lead: &lead::Model, actor: Option<Uuid>) -> lead_event::ActiveModel {
    let mut event = changed(lead, LeadEventKind::Created, actor, None, lead.created_at);
    event.to_stage = Set(Some(lead.stage));
    event
}
