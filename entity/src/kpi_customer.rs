//! Accounts that are customers: when each first won a deal and through which lead. A later
//! win of the account counts in the new-customer cohort this row names. Written once, at
//! the account's first win.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_customer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    /// When the first of the account's leads moved from SQL to WON.
    pub first_won_at: DateTimeUtc,
    /// The channel of the lead that first won.
    pub channel: String,
    /// Its campaign; the nil UUID when none.
    pub campaign_id: Uuid,
    /// Its owner when it was won; the nil UUID when none.
    pub owner_id: Uuid,
    /// The currency of the first won amount, where the account is counted.
    pub currency: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
