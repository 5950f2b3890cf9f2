//! A person in the funnel. Its stage changes only together with a `lead_event` row.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Channel, Stage};

/// Serializable so an idempotent mutation can replay the lead exactly as it first returned it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "lead")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-cased; unique.
    #[sea_orm(unique)]
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    /// Name and email folded to lower case by the application (not SQL's `lower()`, which
    /// SQLite applies to ASCII only), so search ignores case in every script.
    pub search_text: String,
    pub account_id: Option<Uuid>,
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
    pub score: i32,
    pub stage: Stage,
    /// The sales rep who owns the lead; none while marketing owns it.
    pub owner_id: Option<Uuid>,
    /// Bumped by every change; clients send it back as `expectedVersion`.
    pub version: i32,
    pub stage_entered_at: DateTimeUtc,
    /// First call, meeting or email by sales while the lead is a SAL.
    pub first_contact_at: Option<DateTimeUtc>,
    /// When the current stay in SAL ran past the SAL stage's SLA without a first contact;
    /// cleared when the lead changes stage. Kept beside the log's `SLA_BREACHED` event so
    /// the sweep's index holds only SALs whose breach is still to come.
    #[serde(default)]
    pub sla_breached_at: Option<DateTimeUtc>,
    /// Deal value in minor units of `currency_code` (from SQL on; the final amount once won).
    pub deal_value_amount: Option<i64>,
    pub currency_code: Option<String>,
    /// Qualification answers given when the lead became a SQL.
    pub budget: Option<String>,
    pub authority: Option<String>,
    pub need: Option<String>,
    pub timeline: Option<String>,
    /// The reason of the latest return, disqualification or loss.
    pub reason_code: Option<String>,
    pub reason_note: Option<String>,
    /// How many times sales returned the lead to marketing.
    pub recycle_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// What a lead points at, for reading a lead together with its account and owner.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::account::Entity", from = "Column::AccountId", to = "super::account::Column::Id")]
    Account,
    #[sea_orm(belongs_to = "super::user::Entity", from = "Column::OwnerId", to = "super::user::Column::Id")]
    Owner,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
