//! Integration tests: each spawns Baton on a fresh database (SQLite by default, PostgreSQL
//! when `BATON_TEST_DATABASE_URL` is set) and talks to it over real HTTP.

mod auth;
mod helpers;
mod schema_file;
mod visibility;
