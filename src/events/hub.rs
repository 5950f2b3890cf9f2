//! Fan-out of the log to the subscribers of one instance.
//!
//! The tailer publishes each event once, as an `Arc`, on bounded broadcast channels routed
//! by audience: one carries every event (for viewers of every lead), and each rep with a
//! subscriber has one carrying only what that rep may see (their own leads and the MQL
//! queue). A rep's new SAL then wakes that rep's subscribers and the managers', not the
//! thousands of other reps' sockets. Every subscriber follows its channel through a
//! [`Follower`], which first replays the log from its cursor and then reads the channel. A
//! follower that falls more than the channel's capacity behind is not skipped ahead: it
//! reads what it missed from the database, page by page, and rejoins the channel. Memory
//! stays bounded by the channels and one page.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{
    audience,
    log::{self, LogCursor, LoggedEvent},
};
use crate::{domain::access::LeadScope, error::AppResult};

/// Events kept for subscribers that are briefly behind; beyond that they catch up from the log.
pub const CHANNEL_CAPACITY: usize = 1024;
/// The same for one rep's channel, which carries a small share of the log.
const REP_CHANNEL_CAPACITY: usize = 256;
/// Events read from the database at a time, when replaying or catching up.
pub const PAGE: u64 = 200;

type Sender = broadcast::Sender<Arc<LoggedEvent>>;

/// The channels of reps with a subscriber on this instance, by rep.
type RepChannels = Arc<Mutex<HashMap<Uuid, Sender>>>;

/// One instance's fan-out point.
pub struct Hub {
    /// Every event.
    everything: Sender,
    reps: RepChannels,
    /// The last event published.
    head: Mutex<LogCursor>,
    /// How often a follower fell behind the channel and caught up from the log.
    catch_ups: Arc<AtomicU64>,
}

impl Hub {
    pub fn new(head: LogCursor) -> Self {
        Self {
            everything: broadcast::Sender::new(CHANNEL_CAPACITY),
            reps: RepChannels::default(),
            head: Mutex::new(head),
            catch_ups: Arc::default(),
        }
    }

    /// The cursor of the last event published.
    pub fn head(&self) -> LogCursor {
        *lock(&self.head)
    }

    /// How often a follower fell more than the channel's capacity behind and was caught up
    /// from the log instead of being buffered for.
    pub fn catch_ups(&self) -> u64 {
        self.catch_ups.load(Ordering::Relaxed)
    }

    /// Publishes the next event of the log. Called by the tailer only, in log order.
    pub(super) fn publish(&self, event: Arc<LoggedEvent>) {
        *lock(&self.head) = event.cursor();
        {
            // No receiver is not an error: nobody is listening right now.
            let reps = lock(&self.reps);
            if audience::reaches_every_rep(&event.event) {
                for sender in reps.values() {
                    let _ = sender.send(Arc::clone(&event));
                }
            } else if let Some(sender) = event.event.owner_id.and_then(|owner| reps.get(&owner)) {
                let _ = sender.send(Arc::clone(&event));
            }
        }
        let _ = self.everything.send(event);
    }

    /// Follows the log after `after` (replaying what the database holds beyond it), or from
    /// now on when `after` is `None`, live through the channel of `scope`: every event
    /// that scope may see arrives, and (when replaying or catching up) others too. Subscribes
    /// before reading anything, so the replay and the live events overlap rather than leave a
    /// gap; the overlap is dropped by cursor.
    pub fn follow(&self, db: DatabaseConnection, after: Option<LogCursor>, scope: LeadScope) -> Follower {
        let (receiver, rep) = match scope {
            LeadScope::All => (self.everything.subscribe(), None),
            LeadScope::QueueAndOwnedBy(rep) => {
                let mut reps = lock(&self.reps);
                let sender = reps.entry(rep).or_insert_with(|| broadcast::Sender::new(REP_CHANNEL_CAPACITY));
                (sender.subscribe(), Some((rep, Arc::clone(&self.reps))))
            }
        };
        let (last, catching_up) = match after {
            Some(cursor) => (cursor, true),
            None => (self.head(), false),
        };
        Follower {
            db,
            receiver,
            rep,
            last,
            catching_up,
            pending: VecDeque::new(),
            catch_ups: Arc::clone(&self.catch_ups),
        }
    }

    /// How many reps have a channel of their own right now.
    #[cfg(test)]
    fn rep_channels(&self) -> usize {
        lock(&self.reps).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One subscriber's way through the log: every event after its cursor, once, in order.
pub struct Follower {
    db: DatabaseConnection,
    receiver: broadcast::Receiver<Arc<LoggedEvent>>,
    /// The rep whose channel this follower reads, to close it after its last follower.
    rep: Option<(Uuid, RepChannels)>,
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
                // Boxed: the query's future is large, and every idle follower would hold its size.
                let page = match Box::pin(log::read_after(&self.db, self.last, PAGE)).await {
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

impl Drop for Follower {
    /// The last follower of a rep's channel removes it (under the lock that `follow` takes
    /// to subscribe, so a new follower never gets a channel that is being removed).
    fn drop(&mut self) {
        if let Some((rep, channels)) = &self.rep {
            let mut channels = lock(channels);
            if channels.get(rep).is_some_and(|sender| sender.receiver_count() <= 1) {
                channels.remove(rep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use entity::{Channel, LeadEventKind, Stage, lead_event};

    use super::*;

    fn event(position: i64, to_stage: Stage, owner_id: Option<Uuid>) -> Arc<LoggedEvent> {
        Arc::new(LoggedEvent {
            txid: 0,
            event: lead_event::Model {
                position,
                id: Uuid::now_v7(),
                lead_id: Uuid::now_v7(),
                kind: LeadEventKind::StageChanged,
                from_stage: None,
                to_stage: Some(to_stage),
                from_stage_entered_at: None,
                actor_id: None,
                owner_id,
                channel: Channel::Email,
                campaign_id: None,
                reason_code: None,
                note: None,
                amount: None,
                currency_code: None,
                detail: None,
                occurred_at: crate::domain::time::now(),
            },
        })
    }

    async fn received(follower: &mut Follower) -> Vec<i64> {
        let mut positions = Vec::new();
        while !follower.receiver.is_empty() {
            let Some(Ok(event)) = follower.next().await else { break };
            positions.push(event.event.position);
        }
        positions
    }

    #[tokio::test]
    async fn an_event_wakes_only_the_followers_who_may_see_it() {
        let hub = Hub::new(LogCursor::default());
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let db = DatabaseConnection::default();
        let mut manager = hub.follow(db.clone(), None, LeadScope::All);
        let mut ada_follower = hub.follow(db.clone(), None, LeadScope::QueueAndOwnedBy(ada));
        let mut bob_follower = hub.follow(db.clone(), None, LeadScope::QueueAndOwnedBy(bob));

        hub.publish(event(1, Stage::Sal, Some(ada)));
        hub.publish(event(2, Stage::Mql, None));
        hub.publish(event(3, Stage::Sql, Some(bob)));
        hub.publish(event(4, Stage::Sal, None));

        assert_eq!(received(&mut manager).await, [1, 2, 3, 4]);
        assert_eq!(received(&mut ada_follower).await, [1, 2]);
        assert_eq!(received(&mut bob_follower).await, [2, 3]);
    }

    #[tokio::test]
    async fn a_reps_channel_closes_with_its_last_follower() {
        let hub = Hub::new(LogCursor::default());
        let ada = Uuid::now_v7();
        let first = hub.follow(DatabaseConnection::default(), None, LeadScope::QueueAndOwnedBy(ada));
        let second = hub.follow(DatabaseConnection::default(), None, LeadScope::QueueAndOwnedBy(ada));
        assert_eq!(hub.rep_channels(), 1);
        drop(first);
        assert_eq!(hub.rep_channels(), 1);
        drop(second);
        assert_eq!(hub.rep_channels(), 0);
        // A later follower gets a channel again, and its events.
        let mut again = hub.follow(DatabaseConnection::default(), None, LeadScope::QueueAndOwnedBy(ada));
        hub.publish(event(1, Stage::Sal, Some(ada)));
        assert_eq!(received(&mut again).await, [1]);
    }
}
