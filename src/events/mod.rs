//! The event log as a live stream: one tailer per instance reads `lead_event` in commit
//! order and fans each event out to this instance's subscribers.
//!
//! - [`log`] reads the log after a cursor, on SQLite and PostgreSQL;
//! - [`tailer`] is the one reader, woken in-process, by `LISTEN/NOTIFY` and periodically;
//! - [`hub`] hands events to subscribers, who catch up from the log when they fall behind;
//! - [`audience`] decides from the row alone whom an event concerns.

pub mod audience;
pub mod hub;
pub mod log;
pub mod tailer;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;

use crate::domain::access::LeadScope;

pub use self::{
    hub::{Follower, Hub},
    log::{LogCursor, LoggedEvent},
};

/// This instance's view of the live log; cheap to clone.
#[derive(Clone)]
pub struct Events {
    hub: Arc<Hub>,
    wake: Arc<Notify>,
}

impl Events {
    /// Starts the tailer at the current end of the log, reading on `log_reader` (see
    /// [`crate::db::connect_log_reader`]). It runs until every clone of the returned handle
    /// is gone.
    pub async fn start(log_reader: DatabaseConnection) -> Result<Self, DbErr> {
        let hub = Arc::new(Hub::new(log::head(&log_reader).await?));
        let wake = Arc::new(Notify::new());
        tailer::spawn(log_reader, &hub, Arc::clone(&wake));
        Ok(Self { hub, wake })
    }

    /// Tells the tailer that a transaction appending events has committed. Call it after
    /// every such commit; without it the events still arrive, up to a second later.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Follows the log after `after`, or from now on, for a viewer of `scope`.
    pub fn follow(&self, db: DatabaseConnection, after: Option<LogCursor>, scope: LeadScope) -> Follower {
        self.hub.follow(db, after, scope)
    }

    /// How often a subscriber of this instance fell too far behind and caught up from the log.
    pub fn catch_ups(&self) -> u64 {
        self.hub.catch_ups()
    }

    /// The cursor of the last event published to subscribers.
    pub fn head(&self) -> LogCursor {
        self.hub.head()
    }
}
