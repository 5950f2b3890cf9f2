//! KPI rollup for the cohort view: per creation day, how many of the leads created that
//! day have ever reached each stage, and how many are in it now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_cohort")]
pub struct Model {
    /// The UTC day the leads were created.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage: String,
    /// Leads that entered the stage at least once.
    pub reached: i64,
    /// Leads in the stage now.
    pub current: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
