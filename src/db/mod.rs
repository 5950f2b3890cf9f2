//! Connecting to SQLite or PostgreSQL with the settings Baton relies on.

pub mod bulk_insert;

use std::{
    net::IpAddr,
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    ExecResult, QueryResult, RuntimeErr, SqliteTransactionMode, SqlxSqliteConnector, Statement, TransactionOptions,
    TransactionTrait,
    prelude::async_trait::async_trait,
    sqlx::{
        postgres::{PgConnectOptions, PgSslMode},
        sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    },
};
use tokio::sync::OwnedMutexGuard;

use crate::config::DatabaseConfig;

/// Counts SQL statements sent on one connection pool (for metrics and N+1 checks).
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

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

/// Opens the pool. SQLite runs in WAL mode so readers never wait for the writer. On
/// PostgreSQL every connection carries a `statement_timeout`, so a stuck statement fails
/// instead of holding its connection (and, with enough of them, the whole pool), and a
/// loopback server is spoken to without TLS (see [`plain_on_loopback`]).
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
            move |options| plain_on_loopback(options.options([("statement_timeout", statement_timeout.as_str())]))
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

/// TLS to a server on this machine protects nothing and costs twice: encryption at both
/// ends of every statement, and a message longer than one TLS record (16 KiB, an import's
/// insert) leaves in pieces whose last waits for the server's delayed ACK, 40 ms, because
/// the driver leaves Nagle's algorithm on. `prefer`, the default mode, allows a plain
/// connection, so on loopback Baton takes one; a URL that requires TLS still gets it.
fn plain_on_loopback(options: PgConnectOptions) -> PgConnectOptions {
    let host = options.get_host().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback && matches!(options.get_ssl_mode(), PgSslMode::Prefer) {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

/// Begins this process's write transactions. SQLite admits one writer at a time, and a
/// writer that finds the lock taken sleeps and polls for it (up to 100 ms a try): under
/// concurrent writes most of the time went to sleeping. On SQLite, writers therefore take
/// turns in the process, in order, before `BEGIN IMMEDIATE`, and each finds the lock free
/// (another process, or the periodic SLA sweep, still meets it with the busy timeout).
/// They write through two connections of their own, whose statement caches hold only the
/// writes' statements (on the shared pool, reads evicted them and writes recompiled their
/// SQL); two, because the driver returns a connection to its pool from a spawned task,
/// and with one connection every writer waited for that task, which under a burst of
/// work (10,000 sockets subscribing) came after the acquire timeout. PostgreSQL locks
/// rows, not the database: its writers share the pool and do not queue.
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    turns: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Writer {
    /// The writer for `db`'s database; its statements count in `counter`.
    pub async fn connect(db: &DatabaseConnection, counter: &StatementCounter) -> Result<Self, DbErr> {
        if db.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(Self { db: db.clone(), turns: None });
        }
        let pool = db.get_sqlite_connection_pool();
        let own = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(2)
            .acquire_timeout(pool.options().get_acquire_timeout())
            .connect_with((*pool.connect_options()).clone())
            .await
            .map_err(|error| DbErr::Conn(RuntimeErr::SqlxError(error.into())))?;
        let mut writes = SqlxSqliteConnector::from_sqlx_sqlite_pool(own);
        counter.count_on(&mut writes);
        Ok(Self { db: writes, turns: Some(Arc::default()) })
    }

    /// Waits for this process's turn to write (SQLite), then begins the transaction.
    pub async fn begin(&self) -> Result<WriteTransaction, DbErr> {
        let turn = match &self.turns {
            Some(turns) => Some(turns.clone().lock_owned().await),
            None => None,
        };
        Ok(WriteTransaction { txn: begin_write(&self.db).await?, _turn: turn })
    }
}

/// A write transaction, holding the process's turn to write until it ends.
pub struct WriteTransaction {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(statement).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(statement).await
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(statement).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
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
    use super::*;

    #[test]
    fn loopback_postgres_goes_without_tls_unless_the_url_requires_it() {
        let mode = |url: &str| plain_on_loopback(url.parse().expect("a PostgreSQL URL")).get_ssl_mode();
        assert!(matches!(mode("postgres://baton@127.0.0.1/baton"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://baton@localhost:5433/baton?sslmode=prefer"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://baton@[::1]/baton"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://baton@127.0.0.1/baton?sslmode=require"), PgSslMode::Require));
        assert!(matches!(mode("postgres://baton@db.example.com/baton"), PgSslMode::Prefer));
        assert!(matches!(mode("postgres://baton@10.0.0.7/baton"), PgSslMode::Prefer));
    }

    #[tokio::test]
    async fn sqlite_writers_take_turns_and_a_turn_lasts_as_long_as_its_transaction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = DatabaseConfig {
            url: format!("sqlite://{}/writer.db?mode=rwc", dir.path().display()),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        };
        let (db, statements) = connect(&config).await.expect("connect");
        let writer = Writer::connect(&db, &statements).await.expect("writer");
        let turns = writer.turns.clone().expect("SQLite writers take turns");
        let transaction = writer.begin().await.expect("begin");
        assert!(turns.try_lock().is_err(), "an open write transaction holds the turn");
        transaction.commit().await.expect("commit");
        assert!(turns.try_lock().is_ok(), "its commit ends it");
        drop(writer.begin().await.expect("begin again"));
        assert!(turns.try_lock().is_ok(), "and so does abandoning one");
        let before = statements.get();
        let transaction = writer.begin().await.expect("begin");
        transaction.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, "SELECT 1")).await.expect("query");
        transaction.commit().await.expect("commit");
        assert!(statements.get() > before, "the writer's statements count with the pool's");
    }
}
