//! Integration tests: each spawns Baton on a fresh database (SQLite by default, PostgreSQL
//! when `BATON_TEST_DATABASE_URL` is set) and talks to it over real HTTP.

mod accounts;
mod auth;
mod events;
mod helpers;
mod http;
mod leads;
mod n_plus_one;
mod schema_file;
mod visibility;
