//! KPI rollup: how many leads are in each stage now, with the sum of their deal values.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_current")]
pub struct Model {
    /// `DETAIL` (per campaign and owner) or `ALL`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: Uuid,
    /// Currency of the deal values; '' for leads without one.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub n: i64,
    /// Sum of the leads' deal values, in minor units of `currency`.
    pub amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
