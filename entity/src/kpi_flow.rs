//! KPI rollup: counts and money sums of what happened (creations, moves, first contacts,
//! SLA breaches) per day or month and dimension. Maintained with every `lead_event` append.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_flow")]
pub struct Model {
    /// `DETAIL` (per day, campaign and owner), `DAY` or `MONTH` (all campaigns and owners).
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: String,
    /// The UTC day, or the first day of the month for the `MONTH` grain.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    /// The nil UUID when there is none, or outside the `DETAIL` grain.
    #[sea_orm(primary_key, auto_increment = false)]
    pub campaign_id: Uuid,
    /// The nil UUID when there is none, or outside the `DETAIL` grain.
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: Uuid,
    /// `CREATED`, `MOVED`, `CONTACTED` or `SLA_BREACHED`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// '' when none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_stage: String,
    /// '' when none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_stage: String,
    /// The reason code of a move, or the SLA verdict of a first contact; '' when none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
    /// Currency of `amount`; '' when none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub n: i64,
    /// Sum of the events' amounts, in minor units of `currency`.
    pub amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
