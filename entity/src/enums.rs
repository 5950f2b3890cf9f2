//! Value types stored as short strings. The string values are the wire names of the
//! GraphQL enums too, so a row reads the same in SQL and in the API.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A funnel stage. Every lead is in exactly one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Lead,
    Mql,
    Sal,
    Sql,
    Won,
    Lost,
    Disqualified,
}

/// What a user may do; see the roles table in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    Marketing,
    SalesRep,
    SalesManager,
    Viewer,
}

/// The team a user belongs to and a stage is owned by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Team {
    Marketing,
    Sales,
    RevOps,
}

/// Where a lead or a touchpoint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    OrganicSearch,
    PaidSearch,
    OrganicSocial,
    PaidSocial,
    Email,
    Event,
    Webinar,
    Referral,
    Partner,
    Outbound,
    Direct,
    Other,
}

/// What a lead did, or what sales did to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TouchpointKind {
    FormSubmission,
    ContentDownload,
    Webinar,
    EmailClick,
    PageView,
    EventVisit,
    Call,
    Meeting,
    EmailSent,
}

impl TouchpointKind {
    /// Sales contact kinds: the first one while a lead is a SAL ends speed-to-lead.
    pub fn is_sales_contact(self) -> bool {
        matches!(self, Self::Call | Self::Meeting | Self::EmailSent)
    }
}

/// What happened to a lead, as recorded in its `lead_event` row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeadEventKind {
    Created,
    StageChanged,
    Assigned,
    Touchpoint,
    SlaBreached,
}

/// How a KPI value is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KpiUnit {
    Ratio,
    Minutes,
    Money,
    Count,
}

/// Whether a KPI improves as it rises or as it falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KpiDirection {
    HigherIsBetter,
    LowerIsBetter,
}
