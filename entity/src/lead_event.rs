//! The append-only log of everything that happens to a lead: audit trail, KPI source and
//! the stream subscriptions read. Rows are never updated or deleted.

use sea_orm::entity::prelude::*;

use crate::enums::{Channel, LeadEventKind, Stage};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_event")]
pub struct Model {
    /// Position in the log; cursors are built from it.
    #[sea_orm(primary_key)]
    pub position: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub lead_id: Uuid,
    pub kind: LeadEventKind,
    pub from_stage: Option<Stage>,
    pub to_stage: Option<Stage>,
    /// When the lead entered `from_stage`, so time in stage needs no second lookup.
    pub from_stage_entered_at: Option<DateTimeUtc>,
    /// Who did it; none when the system did.
    pub actor_id: Option<Uuid>,
    /// The lead's owner after the event, so visibility is decided from the row alone.
    pub owner_id: Option<Uuid>,
    /// Copied from the lead, so KPIs filter by them without a join.
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    /// Money moved by the event (deal value, won amount), in minor units.
    pub amount: Option<i64>,
    pub currency_code: Option<String>,
    /// Kind-specific details (routing decision, touchpoint, score change), as JSON.
    pub detail: Option<Json>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
