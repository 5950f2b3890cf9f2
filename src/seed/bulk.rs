//! Where and how `seed` writes: connections of its own, set up for a bulk load, and the
//! transactions that chunks are written in.

use std::{future::Future, future::poll_fn, pin::Pin, task::Poll};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, Statement, TransactionTrait,
};

use crate::db::bulk_insert as writer;

/// Chunks per transaction. Every commit writes each page it changed to the log once, and
/// the random-access indexes (e-mail, account, update time) change a page per row, so
/// fewer, larger commits write far less.
const CHUNKS_PER_TRANSACTION: u32 = 5;

/// Connections owned by one `seed` run, closed when it ends, so nothing set here
/// outlives the load or changes the application's pool.
pub(super) struct Bulk {
    conn: DatabaseConnection,
    /// Writers working side by side (one per connection).
    lanes: usize,
    /// SQLite: checkpoint the log after each commit (see [`Bulk::write`]).
    checkpoints: bool,
    open: Vec<Option<DatabaseTransaction>>,
    uncommitted: u32,
}

impl Bulk {
    /// - SQLite: one writer, with the pool's options (WAL, foreign keys, busy timeout)
    ///   and more that only pay off when writing millions of rows: a page cache of up
    ///   to 1 GiB, so index pages stay in memory between chunks; checkpoints left to
    ///   `write`, at the one moment they let the log start over; and no waiting for the
    ///   disk until [`Bulk::finish`] (a seed that fails is redone on a fresh database
    ///   anyway).
    /// - PostgreSQL: one writer per core, up to four: a single backend process is busy
    ///   with index and foreign-key work for every row while the others sit idle.
    pub async fn open(db: &DatabaseConnection, leads: u64) -> Result<Self, DbErr> {
        let (conn, lanes, checkpoints) = match db.get_database_backend() {
            DbBackend::Sqlite => {
                use sea_orm::sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous};
                // About a kibibyte of cache per lead, from 64 MiB to 1 GiB (negative:
                // `cache_size` in KiB).
                let cache_kib = leads.clamp(64 * 1024, 1024 * 1024);
                let options = (*db.get_sqlite_connection_pool().connect_options())
                    .clone()
                    .pragma("cache_size", format!("-{cache_kib}"))
                    .pragma("wal_autocheckpoint", "0")
                    .synchronous(SqliteSynchronous::Off)
                    // The generator's references are consistent by construction (the seed
                    // tests check them); checking each row's keys again costs a third of the time.
                    .foreign_keys(false);
                let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await.map_err(conn_err)?;
                (sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool), 1, true)
            }
            DbBackend::Postgres => {
                use sea_orm::sqlx::postgres::PgPoolOptions;
                let lanes = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
                let options = (*db.get_postgres_connection_pool().connect_options()).clone();
                let pool = PgPoolOptions::new()
                    .max_connections(u32::try_from(lanes).unwrap_or(2))
                    // As on SQLite, skip per-row foreign-key triggers, which the generator's
                    // consistent references make redundant (`replica` mode, as restores use).
                    // It needs superuser rights; without them the checks simply stay on.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sea_orm::sqlx::Executor;
                            let _ = conn.execute("SET session_replication_role = replica").await;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(conn_err)?;
                (sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool), lanes, false)
            }
            other => return Err(DbErr::Custom(format!("seed: unsupported database backend {other:?}"))),
        };
        Ok(Self { conn, lanes, checkpoints, open: (0..lanes).map(|_| None).collect(), uncommitted: 0 })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Writes one chunk, each lane in its own transaction, all lanes at once; commits
    /// every few chunks.
    ///
    /// On SQLite each commit is followed by a checkpoint that copies the log into the
    /// database file before the next transaction begins: a transaction that begins on a
    /// fully copied log writes it again from its start, over file blocks already in the
    /// page cache. Checkpointing beside the next transaction instead never caught up with
    /// it, and the log grew to 1.6 GB of fresh blocks the kernel had to allocate and zero
    /// (a seed of 1 M leads took 66 s that way, 56 s this way).
    pub async fn write(&mut self, lanes: Vec<Vec<Statement>>) -> Result<(), DbErr> {
        let mut txns = Vec::with_capacity(self.lanes);
        for open in &mut self.open {
            txns.push(match open.take() {
                Some(txn) => txn,
                None => self.conn.begin().await?,
            });
        }
        let work: Vec<Work<'_>> =
            txns.iter().zip(lanes).map(|(txn, statements)| Box::pin(writer::execute(txn, statements)) as _).collect();
        for result in join_all(work).await {
            result?;
        }
        self.uncommitted += 1;
        if self.uncommitted < CHUNKS_PER_TRANSACTION {
            for (open, txn) in self.open.iter_mut().zip(txns) {
                *open = Some(txn);
            }
            return Ok(());
        }
        self.uncommitted = 0;
        for txn in txns {
            txn.commit().await?;
        }
        if self.checkpoints {
            self.conn.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await?;
        }
        Ok(())
    }

    /// Commits what is open and closes the connections; on SQLite, folds the log into
    /// the database file first, while nobody waits on it, rather than in the middle of
    /// the next request's commit, and waits for the disk to hold all of it.
    pub async fn finish(mut self) -> Result<(), DbErr> {
        for txn in self.open.iter_mut().filter_map(Option::take) {
            txn.commit().await?;
        }
        if self.checkpoints {
            // One call, so both run on the same connection of the pool.
            self.conn.execute_unprepared("PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        self.conn.close().await
    }
}

/// A database write running beside others.
type Work<'a> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + 'a>>;

fn conn_err(err: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(err.into()))
}

/// Runs futures concurrently on the current task until all are done, and returns their
/// outputs in order. (The crate keeps to std here rather than pull in `futures`.)
async fn join_all<F: Future + ?Sized>(mut futures: Vec<Pin<Box<F>>>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *output = Some(value);
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
