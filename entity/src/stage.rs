//! Per-stage settings. The keys and transitions are fixed in code; these attributes are data.

use sea_orm::entity::prelude::*;

use crate::enums::{Stage, Team};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: Stage,
    pub name: String,
    pub position: i32,
    pub team: Team,
    /// How long a lead may wait in this stage before its SLA is breached.
    pub sla_minutes: Option<i32>,
    /// Chance, in percent, that a lead in this stage is eventually won.
    pub win_probability_percent: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
