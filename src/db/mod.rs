//! Connecting to SQLite or PostgreSQL with the settings Baton relies on.

pub mod bulk_insert;
pub mod rows;
mod writer;

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::{
        postgres::{PgConnectOptions, PgSslMode},
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

pub use self::writer::{BatchSums, WriteTransaction, Writer};
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

/// How long a pooled PostgreSQL connection may sit idle before it is pinged on checkout.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Opens the pool. SQLite runs in WAL mode so readers never wait for the writer. On
/// PostgreSQL every connection carries a `statement_timeout`, so a stuck statement fails
/// instead of holding its connection (and, with enough of them, the whole pool), runs
/// without JIT compilation (see [`connect_options`]), and a loopback server is spoken to
/// without TLS (see [`plain_on_loopback`]).
pub async fn connect(config: &DatabaseConfig) -> Result<(DatabaseConnection, StatementCounter), DbErr> {
    let mut db = Database::connect(connect_options(config, &[])).await?;
    let counter = StatementCounter::default();
    counter.count_on(&mut db);
    Ok((db, counter))
}

/// The connection the event log's tailer reads on. It reads after every commit, and on
/// PostgreSQL its statement (whose watermark consults the server's activity view) took
/// longer to plan than to run: 0.3 ms of the server's CPU per commit, as each cursor got a
/// plan of its own. So it gets a connection of its own that plans its statements once
/// (the one plan is the same index scan), which also keeps events flowing while requests
/// hold every pooled connection. Two connections: the tailer's `LISTEN` holds one. On
/// SQLite it shares `db`'s pool, uncounted.
pub async fn connect_log_reader(config: &DatabaseConfig, db: &DatabaseConnection) -> Result<DatabaseConnection, DbErr> {
    if is_sqlite(&config.url) {
        return Ok(uncounted(db));
    }
    let mut options = connect_options(config, &[("plan_cache_mode", "force_generic_plan")]);
    options.max_connections(2);
    Database::connect(options).await
}

/// The pool's options, with `settings` for every PostgreSQL session besides Baton's own.
fn connect_options(config: &DatabaseConfig, settings: &[(&str, &str)]) -> ConnectOptions {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections.unwrap_or_else(|| default_max_connections(&config.url)))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts({
            let mut settings: Vec<(String, String)> =
                settings.iter().map(|&(name, value)| (name.to_owned(), value.to_owned())).collect();
            settings.push(("statement_timeout".to_owned(), config.statement_timeout.as_millis().to_string()));
            // PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost`,
            // on every execution. Baton's statements read a few rows by index, but a generic
            // plan over a large table can be estimated at millions: at 10 M leads the event
            // log's tailer spent 20 ms compiling each 0.2 ms read, which every push waited on.
            settings.push(("jit".to_owned(), "off".to_owned()));
            move |options| plain_on_loopback(options.options(settings.iter().map(|(n, v)| (n.as_str(), v.as_str()))))
        })
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    if is_sqlite(&config.url) {
        // A ping on every checkout is a round trip to the connection's thread that tests
        // nothing the statement would not (a point read cost two of them instead of one).
        options.test_before_acquire(false);
    } else {
        // Only a connection idle long enough for a proxy, a firewall or a restarted server
        // to have dropped it is pinged first; on every checkout, a ping is a second round
        // trip for each statement outside a transaction.
        options.test_before_acquire_if_idle_for(IDLE_BEFORE_PING);
    }
    options
}

/// Whether `url` names an SQLite database (anything else is PostgreSQL).
fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// PostgreSQL's backends wait on the network and on each other's locks, so a pool keeps
/// several per core busy. An SQLite connection is a thread of this process working on
/// cached pages: more of them than cores only add hand-offs between threads (a point read
/// cost 0.110 ms of CPU with 16 connections on two cores and 0.098 ms with 2; writes have
/// connections of their own, see `Writer`).
fn default_max_connections(url: &str) -> u32 {
    if is_sqlite(url) {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        u32::try_from(cores).unwrap_or(u32::MAX).max(2)
    } else {
        16
    }
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
}
