//! Baton's tables as sea-orm entities: one module per table, plain data, no API concerns.

pub mod account;
pub mod campaign;
pub mod enums;
pub mod idempotency_key;
pub mod kpi_account_value;
pub mod kpi_cohort;
pub mod kpi_current;
pub mod kpi_customer;
pub mod kpi_customer_cohort;
pub mod kpi_definition;
pub mod kpi_duration;
pub mod kpi_flow;
pub mod lead;
pub mod lead_event;
pub mod reason;
pub mod setting;
pub mod stage;
pub mod touchpoint;
pub mod user;

pub use enums::{Channel, KpiDirection, KpiUnit, LeadEventKind, Role, Stage, Team, TouchpointKind};
