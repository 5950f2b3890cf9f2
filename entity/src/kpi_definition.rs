//! The one definition of each KPI both teams read, with its target.

use sea_orm::entity::prelude::*;

use crate::enums::{KpiDirection, KpiUnit};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_definition")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub name: String,
    pub description: String,
    pub unit: KpiUnit,
    pub direction: KpiDirection,
    /// Owning teams, comma separated (`MARKETING,SALES`).
    pub owners: String,
    /// Target in the KPI's unit (a ratio, minutes, or currency units); none when unset.
    pub target: Option<f64>,
    /// Relative distance from the target still counted as "at risk" rather than "off track".
    pub tolerance: f64,
    pub position: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
