//! Fan-out of the log to the subscribers of one instance.
//!
//! The tailer publishes each event once, as an `Arc`, on a bounded broadcast channel; every
//! subscriber follows it through a [`Follower`], which first replays the log from its
//! cursor and then reads the channel. A follower that falls more than the channel's
//! capacity behind is not skipped ahead: it reads what it missed from the database, page by
//! page, and rejoins the channel. Memory stays bounded by the channel and one page.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};

use super::log::{self, LogCursor, LoggedEvent};
use crate::error::AppResult;

/// Events kept for subscribers that are briefly behind; beyond that they catch up from the log.
pub const CHANNEL_CAPACITY: usize = 1024;
/// Events read from the database at a time, when replaying or catching up.
pub const PAGE: u64 = 200;

/// One instance's fan-out point.
pub struct Hub {
    sender: broadcast::Sender<Arc<LoggedEvent>>,
    /// The last event published.
    head: Mutex<LogCursor>,
    /// How often a follower fell behind the channel and caught up from the log.
    catch_ups: Arc<AtomicU64>,
}

impl Hub {
    pub fn new(head: LogCursor) -> Self {
        Self { sender: broadcast::Sender::new(CHANNEL_CAPACITY), head: Mutex::new(head), catch_ups: Arc::default() }
    }

    /// The cursor of the last event published.
    pub fn head(&self) -> LogCursor {
        *self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How often a follower fell more than the channel's capacity behind and was caught up
    /// from the log instead of being buffered for.
    pub fn catch_ups(&self) -> u64 {
        self.catch_ups.load(Ordering::Relaxed)
    }

    /// Publishes the next event of the log. Called by the tailer only, in log order.
    pub(super) fn publish(&self, event: Arc<LoggedEvent>) {
        *self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = event.cursor();
        // No receiver is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }

    /// Follows the log after `after` (replaying what the database holds beyond it), or from
    /// now on when `after` is `None`. Subscribes before reading anything, so the replay and
    /// the live events overlap rather than leave a gap; the overlap is dropped by cursor.
    pub fn follow(&self, db: DatabaseConnection, after: Option<LogCursor>) -> Follower {
        let receiver = self.sender.subscribe();
        let (last, catching_up) = match after {
            Some(cursor) => (cursor, true),
            None => (self.head(), false),
        };
        Follower { db, receiver, last, catching_up, pending: VecDeque::new(), catch_ups: Arc::clone(&self.catch_ups) }
    }
}

/// One subscriber's way through the log: every event after its cursor, once, in order.
pub struct Follower {
    db: DatabaseConnection,
    receiver: broadcast::Receiver<Arc<LoggedEvent>>,
    /// The last event handed out (or the starting point).
    last: LogCursor,
    /// Reading the database until it has nothing more, rather than the channel.
    catching_up: bool,
    pending: VecDeque<Arc<LoggedEvent>>,
    catch_ups: Arc<AtomicU64>,
}

impl Follower {
    /// The next event of the log; `None` when the instance is shutting down.
    pub async fn next(&mut self) -> Option<AppResult<Arc<LoggedEvent>>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.cursor();
                return Some(Ok(event));
            }
            if self.catching_up {
                let page = match log::read_after(&self.db, self.last, PAGE).await {
                    Ok(page) => page,
                    Err(error) => return Some(Err(error.into())),
                };
                self.catching_up = page.len() as u64 == PAGE;
                self.pending.extend(page.into_iter().map(Arc::new));
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) if event.cursor() > self.last => {
                    self.last = event.cursor();
                    return Some(Ok(event));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a subscriber fell behind; catching up from the log");
                    self.catch_ups.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("baton_subscriber_catch_ups_total").increment(1);
                    self.catching_up = true;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
