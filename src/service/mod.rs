//! Use cases. Each command runs in one transaction and appends its `lead_event` rows there;
//! each query applies the viewer's visibility in SQL.

pub mod account;
pub mod event;
pub mod handoff;
pub mod idempotency;
pub mod kpi;
pub mod lead;
pub mod page;
pub mod sla;
pub mod stage;
pub mod touchpoint;
pub mod user;
