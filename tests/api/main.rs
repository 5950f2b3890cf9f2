//! Integration tests: each spawns Baton on a fresh database (SQLite by default, PostgreSQL
//! when `BATON_TEST_DATABASE_URL` is set) and talks to it over real HTTP.

mod accounts;
mod auth;
mod concurrency;
mod events;
mod fan_out;
mod faults;
mod funnel_model;
mod handoff;
mod hardening;
mod hardening_config;
mod hardening_inputs;
mod helpers;
mod http;
mod idempotency;
mod kpi;
mod kpi_model;
mod leads;
mod n_plus_one;
mod routing;
mod row_decoding;
mod schema_file;
mod shutdown;
mod subscriptions;
mod touchpoints;
mod visibility;
mod ws;
mod ws_protocol;
