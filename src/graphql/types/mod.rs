//! GraphQL output and input types, converted from entities and into service inputs.

pub mod account;
pub mod connection;
pub mod enums;
pub mod event;
pub mod kpi;
pub mod kpi_funnel;
pub mod lead;
pub mod money;
pub mod stage;
pub mod touchpoint;
pub mod user;
