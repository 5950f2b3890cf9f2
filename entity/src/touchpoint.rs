//! Something a lead did, or a sales contact with it.

use sea_orm::entity::prelude::*;

use crate::enums::{Channel, TouchpointKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "touchpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Uuid,
    pub kind: TouchpointKind,
    pub channel: Option<Channel>,
    pub campaign_id: Option<Uuid>,
    /// Who recorded it; none for automated tracking.
    pub actor_id: Option<Uuid>,
    /// Score points this touchpoint added.
    pub points: i32,
    pub occurred_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
