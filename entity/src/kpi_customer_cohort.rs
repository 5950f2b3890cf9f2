//! KPI rollup of new customer accounts by the day of their first win and the channel,
//! campaign and owner of the lead that first won: how many accounts, and every deal they
//! have won since (all time, later wins included), per currency.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_customer_cohort")]
pub struct Model {
    /// `DETAIL` (per day, campaign and owner), `DAY` or `MONTH` (all campaigns and owners).
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: String,
    /// The UTC day of the accounts' first win, or the first day of its month for `MONTH`.
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
    /// Currency of `amount`; an account is counted in the currency of its first win.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    /// Accounts whose first win this is.
    pub accounts: i64,
    /// Their won deals to date.
    pub deals: i64,
    /// Sum of their won amounts to date, in minor units of `currency`.
    pub amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
