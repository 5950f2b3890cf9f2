//! Synthetic data: [`seed`] fills a database with a year of funnel history at any scale,
//! for benchmarks; [`load_demo`] adds a small fixed cast of users, accounts and leads in
//! every stage to try the API with.
//!
//! Both draw lead histories from one generator (`history`) that obeys the rules the
//! mutations enforce: only legal moves, one `lead_event` per change, and a lead row that
//! agrees with its log (stage, owner, version, score, timestamps). KPIs computed over
//! seeded data therefore behave as they will in production.
//!
//! `seed` writes the way the live system would have: leads in order of creation, and
//! touchpoints and events in global time order, so `lead_event.position` follows time.
//! A lead's row is written with its final state when it is created, and its later events
//! follow in later transactions; a lead is consistent with its log once the run is over.
//! If a run fails half-way, seed a fresh database. It writes through connections of its
//! own with bulk-load settings (see `bulk`); the caller's pool is only read from.

mod bulk;
mod demo;
mod factory;
mod generator;
mod history;
mod indexes;
mod names;
mod pipe;
mod positions;

#[cfg(test)]
mod checks;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use demo::load_demo;
pub use generator::seed;

/// What `seed` generates.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    /// How many leads to create.
    pub leads: u64,
    /// Seeds the random choices (stages, timings, names), so two runs with the same seed
    /// have the same shape. Ids, e-mails and domains still differ per run, so a database
    /// can be seeded more than once.
    pub rng_seed: u64,
    /// Histories span the 365 days before this instant and end before it.
    pub now: DateTime<Utc>,
}

/// What `seed` wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub users: u64,
    pub accounts: u64,
    pub campaigns: u64,
    pub leads: u64,
    pub touchpoints: u64,
    /// `lead_event` rows, creations included.
    pub events: u64,
    pub elapsed: Duration,
    /// Of `elapsed`, the time spent computing the KPI rollups.
    pub rollups: Duration,
}
