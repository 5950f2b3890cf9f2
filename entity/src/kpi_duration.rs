//! KPI rollup: histograms of durations (time in stage, MQL acceptance, speed to lead) in
//! fixed log-scale buckets, per day or month and dimension.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_duration")]
pub struct Model {
    /// `DETAIL`, `DAY` or `MONTH`, as in `kpi_flow`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: Uuid,
    /// `TIME_IN_STAGE`, `MQL_ACCEPTANCE` or `SPEED_TO_LEAD`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric: String,
    /// The stage the duration was spent in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage: String,
    /// 0 for no time at all; b ≥ 1 for durations in [1.1^(b-1), 1.1^b) microseconds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i32,
    pub n: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
