//! The one reader of the log per instance: it reads each new event once, in commit order,
//! and publishes it to the [`Hub`].
//!
//! It is woken in-process after every committed write of this instance, by PostgreSQL
//! `NOTIFY baton_events` for writes of any instance, and at least every
//! [`CATCH_UP_INTERVAL`] whatever happens, so a lost notification or a dropped listener
//! connection only delays an event, never loses it. It stops when the hub is dropped.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use sea_orm::{DatabaseBackend, DatabaseConnection, sqlx::postgres::PgListener};
use tokio::{sync::Notify, task::JoinHandle, time::MissedTickBehavior};

use super::{
    hub::{Hub, PAGE},
    log,
};

/// The PostgreSQL notification channel the `lead_event` trigger sends on.
pub const CHANNEL: &str = "baton_events";
/// The longest an event waits when every wake-up was missed.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_secs(1);
/// Pause before reconnecting a failed listener.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Polling bounds while committed events wait behind an older running transaction.
const HELD_BACK_FIRST_POLL: Duration = Duration::from_millis(5);
const HELD_BACK_MAX_POLL: Duration = Duration::from_millis(50);

/// Starts the tailer (and, on PostgreSQL, its listener) for `hub`.
pub fn spawn(db: DatabaseConnection, hub: &Arc<Hub>, wake: Arc<Notify>) {
    tokio::spawn(run(db, Arc::downgrade(hub), wake));
}

async fn run(db: DatabaseConnection, hub: Weak<Hub>, wake: Arc<Notify>) {
    let _listener = (db.get_database_backend() == DatabaseBackend::Postgres)
        .then(|| AbortOnDrop(tokio::spawn(listen(db.clone(), Arc::clone(&wake)))));
    let mut catch_up = tokio::time::interval(CATCH_UP_INTERVAL);
    catch_up.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut poll = HELD_BACK_FIRST_POLL;
    let mut held_back = false;
    loop {
        tokio::select! {
            () = wake.notified() => {}
            _ = catch_up.tick() => {}
            () = tokio::time::sleep(poll), if held_back => {}
        }
        let Some(hub) = hub.upgrade() else { return };
        held_back = match drain(&db, &hub).await {
            Ok(held_back) => held_back,
            Err(error) => {
                tracing::warn!(%error, "reading the event log failed; retrying");
                false
            }
        };
        poll = if held_back { (poll * 2).min(HELD_BACK_MAX_POLL) } else { HELD_BACK_FIRST_POLL };
    }
}

/// Publishes every event that may be read now; tells whether later ones are held back.
async fn drain(db: &DatabaseConnection, hub: &Hub) -> Result<bool, sea_orm::DbErr> {
    loop {
        let page = log::read_after(db, hub.head(), PAGE).await?;
        let full = page.len() as u64 == PAGE;
        for event in page {
            metrics::counter!("baton_events_published_total").increment(1);
            hub.publish(Arc::new(event));
        }
        if !full {
            return log::held_back(db, hub.head()).await;
        }
    }
}

/// Wakes the tailer on every `NOTIFY baton_events`, reconnecting when the connection drops
/// (and waking the tailer then, since notifications sent meanwhile are lost).
async fn listen(db: DatabaseConnection, wake: Arc<Notify>) {
    let pool = db.get_postgres_connection_pool();
    loop {
        match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => loop {
                    wake.notify_one();
                    match listener.try_recv().await {
                        Ok(Some(_)) => {}
                        Ok(None) => tracing::warn!("event listener connection lost; reconnecting"),
                        Err(error) => {
                            tracing::warn!(%error, "event listener failed");
                            break;
                        }
                    }
                },
                Err(error) => tracing::warn!(%error, "cannot LISTEN for events"),
            },
            Err(error) => tracing::warn!(%error, "cannot connect the event listener"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Stops a task when its owner goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
