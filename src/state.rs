//! The state every request shares, built once in `startup`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    auth::Authenticator,
    config::WsConfig,
    db::{StatementCounter, Writer},
    domain::scoring::ScoringRules,
    events::Events,
    graphql::subscription::render::Renderer,
    service::{kpi::cache::RollupCache, sla::Sweeper, user::Deactivated},
};

/// Shared by all requests; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool (SQLite or PostgreSQL).
    pub db: DatabaseConnection,
    /// Begins write transactions on `db`; on SQLite, writers take turns (see `db::Writer`).
    pub writer: Writer,
    /// Counts statements sent on `db`, to keep N+1 queries visible.
    pub statements: StatementCounter,
    /// Verifies bearer tokens and resolves them to users.
    pub auth: Arc<Authenticator>,
    /// Points per touchpoint and the automatic MQL threshold.
    pub scoring: Arc<ScoringRules>,
    /// Open SALs a rep may hold before routing passes them over.
    pub max_open_sals_per_rep: u64,
    /// The live event log: this instance's tailer and its subscribers' hub. Services call
    /// `events.committed()` after each commit that appends events.
    pub events: Events,
    /// Timers and limits of WebSocket connections.
    pub ws: WsConfig,
    /// This instance's periodic SLA sweep; it stops when the last clone of the state goes.
    pub sla_sweeper: Arc<Sweeper>,
    /// Pushed events rendered once per query and audience, shared by their subscribers.
    pub renderer: Arc<Renderer>,
    /// KPI counts of closed days, reused while the rollups' generation stays the same.
    pub kpi_cache: Arc<RollupCache>,
    /// Users deactivated since they connected: their sockets are closed.
    pub deactivated: Arc<Deactivated>,
    /// Cancelled when the instance shuts down: live connections close with "going away".
    pub shutdown: CancellationToken,
    /// The open WebSocket connections, so shutdown can wait for their goodbyes.
    pub connections: TaskTracker,
}
