//! Connecting to SQLite or PostgreSQL with the settings Baton relies on.

pub mod bulk_insert;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::DatabaseConfig;

/// Counts SQL statements sent on one connection pool (for metrics and N+1 checks).
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens the pool. SQLite runs in WAL mode so readers never wait for the writer. On
/// PostgreSQL every connection carries a `statement_timeout`, so a stuck statement fails
/// instead of holding its connection (and, with enough of them, the whole pool).
pub async fn connect(config: &DatabaseConfig) -> Result<(DatabaseConnection, StatementCounter), DbErr> {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts({
            let statement_timeout = config.statement_timeout.as_millis().to_string();
            move |options| options.options([("statement_timeout", statement_timeout.as_str())])
        })
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    let mut db = Database::connect(options).await?;
    let counter = StatementCounter::default();
    counter.count_on(&mut db);
    Ok((db, counter))
}

impl StatementCounter {
    /// Counts (and times) the statements sent on `db` too.
    fn count_on(&self, db: &mut DatabaseConnection) {
        let statements = self.0.clone();
        db.set_metric_callback(move |info| {
            statements.fetch_add(1, Ordering::Relaxed);
            metrics::histogram!("baton_db_statement_seconds", "failed" => if info.failed { "true" } else { "false" })
                .record(info.elapsed.as_secs_f64());
        });
    }
}

/// The pool write transactions run on. SQLite admits one writer at a time, and a writer
/// that finds the lock taken sleeps and polls for it (up to 100 ms a try): under
/// concurrent writes most of the time went to sleeping. On SQLite, writes therefore get a
/// pool of one connection of their own, which concurrent writers of this process wait for
/// in order and are handed the moment it is free (other processes still meet the lock,
/// and its busy timeout). PostgreSQL locks rows, not the database: writes share `db`.
pub async fn writer(db: &DatabaseConnection, counter: &StatementCounter) -> Result<DatabaseConnection, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(db.clone());
    }
    let pool = db.get_sqlite_connection_pool();
    let options = (*pool.connect_options()).clone();
    let single = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with(options)
        .await
        .map_err(|error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(error.into())))?;
    let mut writer = SqlxSqliteConnector::from_sqlx_sqlite_pool(single);
    counter.count_on(&mut writer);
    Ok(writer)
}

/// Starts a transaction that writes. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later can fail
/// with "database is locked" when another writer got in between, which no retry of the
/// statement can fix. PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Opens the pool and brings the schema up to date: what every command starts with.
pub async fn connect_migrated(config: &DatabaseConfig) -> Result<(DatabaseConnection, StatementCounter), DbErr> {
    let (db, statements) = connect(config).await?;
    migrate(&db).await?;
    Ok((db, statements))
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// Publishes pool gauges; called when metrics are scraped.
pub fn record_pool_metrics(db: &DatabaseConnection) {
    let (size, idle) = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    metrics::gauge!("baton_db_pool_connections").set(f64::from(size));
    metrics::gauge!("baton_db_pool_idle_connections").set(idle as f64);
}

/// The same pool without the statement counter: background reads (the log tailer, the SLA
/// sweep) are no request's statements, and counting them would blur the N+1 checks.
pub fn uncounted(db: &DatabaseConnection) -> DatabaseConnection {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(db.get_postgres_connection_pool().clone())
        }
        sea_orm::DatabaseBackend::Sqlite => {
            sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(db.get_sqlite_connection_pool().clone())
        }
        _ => db.clone(),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Statement;

    use super::*;

    #[tokio::test]
    async fn sqlite_writes_get_one_connection_of_their_own_whose_statements_still_count() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = DatabaseConfig {
            url: format!("sqlite://{}/writer.db?mode=rwc", dir.path().display()),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        };
        let (db, statements) = connect(&config).await.expect("connect");
        let writer = writer(&db, &statements).await.expect("writer pool");
        assert_eq!(writer.get_sqlite_connection_pool().options().get_max_connections(), 1);
        let before = statements.get();
        writer.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, "SELECT 1")).await.expect("query");
        assert_eq!(statements.get(), before + 1);
    }
}
