//! Baton: a GraphQL backend for the marketing-to-sales handoff.
//!
//! `domain` holds the rules, `service` the use cases over the database, `graphql` the API,
//! `http` the endpoints, and `startup` wires them together.

pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod telemetry;
