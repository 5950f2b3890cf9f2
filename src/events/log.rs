//! Reading the `lead_event` log in commit order, after a cursor, on either backend.
//!
//! SQLite serializes writers, so `position` order is commit order. On PostgreSQL rows are
//! read in `(txid, position)` order and only below a watermark, where that order is final:
//! the oldest transaction that was running when the statement's snapshot was taken and may
//! have written to this database. A transaction that took an earlier position but commits
//! later holds the watermark back until it has finished; transactions of other databases on
//! the same server (known from `pg_stat_activity`) cannot write here, so they do not.

use entity::lead_event;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, FromQueryResult, QueryResult, Statement, sea_query::Value};
use serde::{Deserialize, Serialize};

/// A place in the log: the writing transaction (0 on SQLite) and the row's position.
/// Ordered as the log is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogCursor {
    pub txid: i64,
    pub position: i64,
}

/// A row of the log with its place in it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub txid: i64,
    pub event: lead_event::Model,
}

impl LoggedEvent {
    pub fn cursor(&self) -> LogCursor {
        LogCursor { txid: self.txid, position: self.event.position }
    }
}

impl FromQueryResult for LoggedEvent {
    fn from_query_result(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
        Ok(Self { txid: row.try_get(prefix, "txid")?, event: lead_event::Model::from_query_result(row, prefix)? })
    }
}

/// The transactions whose rows may be read on PostgreSQL: those older than every transaction
/// running at the snapshot that is not known to belong to another database, and older than
/// the snapshot's `xmax` (later ones are invisible anyway). An xid seen running but gone from
/// `pg_stat_activity` by the time it is read counts as this database's: that only waits a poll
/// longer, while the opposite mistake would skip its rows for ever. `backend_xid` is a 32-bit
/// `xid`; it is compared with the low 32 bits of the snapshot's 64-bit ids.
const PG_SETTLED: &str = "txid < (SELECT LEAST(\
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint, \
        (SELECT MIN(running::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS running \
         WHERE running::text::bigint % 4294967296 NOT IN (\
             SELECT backend_xid::text::bigint FROM pg_stat_activity \
             WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()))))";

/// A condition keeping the rows whose place in the log is final: all of them on SQLite.
pub fn settled(backend: DatabaseBackend) -> Option<&'static str> {
    (backend == DatabaseBackend::Postgres).then_some(PG_SETTLED)
}

/// The expression giving a row's transaction on this backend, as a selected column.
pub fn txid_column(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "txid",
        _ => "0",
    }
}

/// Up to `limit` events after `after`, in log order.
pub async fn read_after(db: &impl ConnectionTrait, after: LogCursor, limit: u64) -> Result<Vec<LoggedEvent>, DbErr> {
    let backend = db.get_database_backend();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = match backend {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT * FROM lead_event WHERE (txid, position) > ($1, $2) AND {PG_SETTLED} \
                 ORDER BY txid, position LIMIT $3"
            ),
            [Value::from(after.txid), Value::from(after.position), Value::from(limit)],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT 0 AS txid, * FROM lead_event WHERE position > ? ORDER BY position LIMIT ?",
            [Value::from(after.position), Value::from(limit)],
        ),
    };
    LoggedEvent::find_by_statement(statement).all(db).await
}

/// The cursor of the last event that may be read now (the default cursor when the log is empty).
pub async fn head(db: &impl ConnectionTrait) -> Result<LogCursor, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => format!(
            "SELECT txid, position FROM lead_event WHERE {PG_SETTLED} ORDER BY txid DESC, position DESC LIMIT 1"
        ),
        _ => "SELECT 0 AS txid, position FROM lead_event ORDER BY position DESC LIMIT 1".to_owned(),
    };
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await?;
    match row {
        Some(row) => Ok(LogCursor { txid: row.try_get("", "txid")?, position: row.try_get("", "position")? }),
        None => Ok(LogCursor::default()),
    }
}

/// Whether committed events after `after` are held back by an older transaction still
/// running (PostgreSQL; never on SQLite). The tailer polls until they may be read.
pub async fn held_back(db: &impl ConnectionTrait, after: LogCursor) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(false);
    }
    // Rows are settled in txid order, so some row after the cursor is held back exactly when
    // the last one is. Asked of the last row alone, this walks the index from its end and
    // stops at once; asked as "any unsettled row", the planner scanned the whole log.
    let statement = Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT NOT ({PG_SETTLED}) AS held FROM lead_event WHERE (txid, position) > ($1, $2) \
             ORDER BY txid DESC, position DESC LIMIT 1"
        ),
        [Value::from(after.txid), Value::from(after.position)],
    );
    match db.query_one_raw(statement).await? {
        Some(row) => row.try_get("", "held"),
        None => Ok(false),
    }
}
