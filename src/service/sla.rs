//! SLA breaches: a SAL that waits longer than the SAL stage's `sla_minutes` without a first
//! sales contact gets one `SLA_BREACHED` event, pushed to its owner and to managers.
//!
//! Every instance sweeps periodically; the log holds the breach at most once per stay in
//! SAL whichever instance sees it first, because a partial unique index allows one
//! `SLA_BREACHED` row per `(lead_id, from_stage_entered_at)` and the insert does nothing on
//! a conflict. The overdue leads are read locked (`FOR UPDATE` on PostgreSQL; SQLite's
//! immediate transaction excludes other writers), so a first contact recorded meanwhile
//! either commits first and the lead is no longer overdue, or waits for the sweep. The
//! sweep is one of the instance's writers and takes its turn among them (see
//! [`crate::db::Writer`]): it never waits on, or deadlocks with, a batch of this
//! instance's moves holding leads it wants.
//!
//! The lead keeps the breach's time in `sla_breached_at`, which takes it out of the
//! sweep's index: a sweep reads only the SALs whose breach is still to come, however many
//! breached SALs wait for a contact.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{LeadEventKind, Stage, lead, lead_event, stage};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    db::Writer,
    domain::time,
    events::Events,
    service::{
        event,
        kpi::{self, LeadChange, OnDuplicate},
    },
};

/// Overdue SALs handled per transaction; a larger backlog takes several sweeps.
const BATCH: u64 = 500;

/// Appends the `SLA_BREACHED` event of every SAL overdue at `now` that has none yet for its
/// current stay in SAL. Returns how many events this call appended.
#[tracing::instrument(skip_all)]
pub async fn sweep(writer: &Writer, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = writer.begin().await?;
    let Some(minutes) = stage::Entity::find_by_id(Stage::Sal).one(&*txn).await?.and_then(|s| s.sla_minutes) else {
        // Committed, not dropped: a writer dropped unfinished ends its batch early.
        txn.commit().await?;
        return Ok(0);
    };
    let deadline = now - TimeDelta::minutes(i64::from(minutes));
    let overdue = overdue(deadline).lock_exclusive().all(&*txn).await?;
    if overdue.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    // Another instance that swept the same leads first leaves nothing to insert, and nothing
    // to count.
    let changes: Vec<LeadChange<'_>> = overdue
        .iter()
        .map(|lead| LeadChange { before: Some(lead), after: lead, events: vec![breached(lead, minutes, now)] })
        .collect();
    let appended = kpi::append(&txn, &changes, OnDuplicate::Skip).await?;
    // The breach's time on the lead too, which takes it out of the sweep's index.
    lead::Entity::update_many()
        .col_expr(lead::Column::SlaBreachedAt, Expr::val(now))
        .filter(lead::Column::Id.is_in(overdue.iter().map(|lead| lead.id)))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    if appended > 0 {
        tracing::info!(appended, "SAL SLA breaches recorded");
        metrics::counter!("baton_sla_breaches_total").increment(appended);
    }
    Ok(appended)
}

/// The first SALs (up to a batch) waiting for a first contact since `deadline` or before,
/// whose breach is not recorded yet.
fn overdue(deadline: DateTime<Utc>) -> sea_orm::Select<lead::Entity> {
    // The stage as a literal, which the partial index of waiting SALs matches (a bound
    // parameter does not).
    lead::Entity::find()
        .filter(Expr::cust("\"lead\".\"stage\" = 'SAL'"))
        .filter(lead::Column::FirstContactAt.is_null())
        .filter(lead::Column::SlaBreachedAt.is_null())
        .filter(lead::Column::StageEnteredAt.lte(deadline))
        .order_by_asc(lead::Column::StageEnteredAt)
        .limit(BATCH)
}

/// The `SLA_BREACHED` event of `lead`'s current stay in SAL: by the system, for its owner.
/// `from_stage_entered_at` names the stay, so a lead back in SAL later may breach again.
fn breached(lead: &lead::Model, sla_minutes: i32, now: DateTime<Utc>) -> lead_event::ActiveModel {
    let due_at = lead.stage_entered_at + TimeDelta::minutes(i64::from(sla_minutes));
    let detail = serde_json::json!({ "stage": Stage::Sal, "slaMinutes": sla_minutes, "dueAt": due_at });
    let mut event = event::changed(lead, LeadEventKind::SlaBreached, None, Some(detail), now);
    event.from_stage = sea_orm::ActiveValue::Set(Some(Stage::Sal));
    event.from_stage_entered_at = sea_orm::ActiveValue::Set(Some(lead.stage_entered_at));
    event
}

/// This instance's periodic sweep, stopped when dropped.
pub struct Sweeper(JoinHandle<()>);

impl Sweeper {
    /// Sweeps every `interval`, waking the tailer after each sweep that appended events.
    /// The first sweep comes one interval after start, not at once: a SAL that fell overdue
    /// while no instance ran is recorded then, and instances restarted together do not all
    /// sweep at the same moment.
    pub fn spawn(writer: Writer, events: Events, interval: Duration) -> Self {
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match sweep(&writer, time::now()).await {
                    Ok(0) => {}
                    Ok(_) => events.committed(),
                    Err(error) => tracing::warn!(%error, "the SLA sweep failed; retrying at the next tick"),
                }
            }
        }))
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};

    use super::*;

    #[tokio::test]
    async fn the_sweep_reads_waiting_sals_from_their_own_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::config::DatabaseConfig {
            url: format!("sqlite://{}/sla.db?mode=rwc", dir.path().display()),
            max_connections: Some(2),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        };
        let (db, _) = crate::db::connect_migrated(&config).await.expect("database");
        let query = overdue(time::now()).build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", query.sql),
            query.values.map(|values| values.0).unwrap_or_default(),
        );
        let plan: Vec<String> = db
            .query_all_raw(explain)
            .await
            .expect("plan")
            .iter()
            .map(|row| row.try_get::<String>("", "detail").expect("detail"))
            .collect();
        assert!(plan[0].contains("idx_lead_sal_breach_due"), "{plan:#?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:#?}");
    }
}
