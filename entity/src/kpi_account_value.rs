//! KPI rollup: an account's lifetime value, the won deals of its leads (moves from SQL to
//! WON, all time) and their amounts, per currency. Leads without an account are in no row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_account_value")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    /// Currency of `amount`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    /// Won deals in this currency.
    pub deals: i64,
    /// Sum of the won amounts, in minor units of `currency`.
    pub amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
