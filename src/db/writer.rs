//! This process's write transactions, and their group commit.
//!
//! Writers take turns in the process, in order, and writers that queue up share one
//! transaction: each runs in a savepoint of its own, which its failure rolls back alone,
//! and when it is done it waits for whoever ends the batch, the first writer that finds no
//! one queued behind it, to commit for all. No writer hears of its success before the
//! commit that made its change durable, and a failed commit fails every writer in it; a
//! writer that fails ends the batch, which the next turn commits before beginning anew. A
//! lone writer needs no savepoint: the batch's first writer works in the transaction
//! itself. Sums that every writer adds to (the KPI rollups) are added up across the batch
//! and written once, just before its commit.
//!
//! On SQLite, which admits one writer at a time, a writer that finds the lock taken sleeps
//! and polls for it (up to 100 ms a try): under concurrent writes most of the time went to
//! sleeping, so taking turns first means each finds the lock free (another process, or the
//! periodic SLA sweep, still meets it with the busy timeout). And a commit is most of a
//! small write's cost: every page the transaction touched (the lead's row and indexes, the
//! log's, each KPI rollup's) is written to the WAL again, and the connection that writes
//! next finds the database changed and drops its page cache.
//!
//! PostgreSQL locks rows, but every move adds to the same KPI rollup rows and holds them
//! locked from its rollup write through its commit, so concurrent moves ran one after
//! another all the same, each paying for its own rollup write, commit (with the log's
//! `NOTIFY`, which PostgreSQL serializes across commits too) and wake of the log tailer.
//! Batched, a move costs its own few statements and shares the rest: 32 concurrent
//! `acceptLead` writers moved 734-831 leads a second on their own and 1,116-1,188 batched,
//! on the same two cores. A writer of another instance can now meet a batch holding two
//! leads it wants in the opposite order; PostgreSQL then fails one statement with a
//! deadlock, which reaches its client as `CONFLICT`, to be retried. (This instance's SLA
//! sweep is one of its writers, and takes its turn.) An import, a large write of new
//! leads that a batch would only hold up, runs beside the turns there
//! ([`Writer::begin_alone`]): two imports at once went 15 → 18-19 chunks a second.
//!
//! The SQLite log is copied into the database file by a checkpoint on a reading connection,
//! a few times a second while writes go on, rather than by SQLite in whichever commit
//! finds the log long enough: that writer holds everyone's turn while it waits for the disk.
//! Once the log is long, it copies the last frames in a turn of its own, between batches,
//! so that the next write starts the log over instead of growing it.
//!
//! Writers write through two connections of their own, whose statement caches hold only
//! the writes' statements (on the shared pool, reads evicted them and writes recompiled
//! their SQL); two, because the driver returns a connection to its pool from a spawned
//! task, and with one connection every batch waited for that task, which under a burst of
//! work (10,000 sockets subscribing) came after the acquire timeout.

use std::{
    any::Any,
    ops::Deref,
    sync::{
        Arc, Mutex as StdMutex, PoisonError, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sea_orm::{
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult,
    QueryResult, RuntimeErr, SqlxSqliteConnector, Statement, TransactionTrait, prelude::async_trait::async_trait,
    sqlx::sqlite::SqlitePoolOptions,
};
use tokio::{
    sync::{Mutex, OwnedMutexGuard, oneshot},
    time::MissedTickBehavior,
};

use super::{StatementCounter, begin_write};
use crate::config::DatabaseConfig;

/// Connections of the writers' own (see the module's documentation).
const WRITE_CONNECTIONS: u32 = 2;

/// The most writers one transaction holds: it bounds how long the first of them waits for
/// the commit, and how many one failed commit fails.
const MAX_BATCH: usize = 64;

/// Additions that the writers of a batch add up, to write once before the batch commits
/// instead of once per writer (the KPI rollups: every move adds to the same rows).
#[async_trait]
pub trait BatchSums: Send + Sync + 'static {
    /// Adds `other`, sums of the same kind, to these.
    fn absorb(&mut self, other: Box<dyn BatchSums>);
    /// Writes the sums in the batch's transaction.
    async fn write(self: Box<Self>, txn: &DatabaseTransaction) -> Result<(), DbErr>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// Begins write transactions (see the module's documentation).
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    /// The shared pool, for [`Writer::begin_alone`]: on the writers' own two connections,
    /// two imports at once would leave a batch none.
    shared: DatabaseConnection,
    batches: Arc<Batches>,
}

impl Writer {
    /// The writer for `db`'s database (which `config` opened); its statements count in
    /// `counter`.
    pub async fn connect(
        config: &DatabaseConfig,
        db: &DatabaseConnection,
        counter: &StatementCounter,
    ) -> Result<Self, DbErr> {
        let batches = Arc::<Batches>::default();
        let mut writes = if db.get_database_backend() == DatabaseBackend::Sqlite {
            let pool = db.get_sqlite_connection_pool();
            let own = SqlitePoolOptions::new()
                .max_connections(WRITE_CONNECTIONS)
                .min_connections(WRITE_CONNECTIONS)
                .test_before_acquire(false)
                .acquire_timeout(pool.options().get_acquire_timeout())
                .connect_with((*pool.connect_options()).clone().pragma("wal_autocheckpoint", "0"))
                .await
                .map_err(|error| DbErr::Conn(RuntimeErr::SqlxError(error.into())))?;
            tokio::spawn(checkpoint(Arc::downgrade(&batches), super::uncounted(db)));
            SqlxSqliteConnector::from_sqlx_sqlite_pool(own)
        } else {
            let mut options = super::connect_options(config, &[]);
            // Checked out once per batch, so a ping each time costs little, and a connection
            // the server dropped (a restart, a killed backend) fails the ping, not a write.
            options
                .max_connections(WRITE_CONNECTIONS)
                .min_connections(WRITE_CONNECTIONS)
                .test_before_acquire_if_idle_for(Duration::ZERO);
            Database::connect(options).await?
        };
        counter.count_on(&mut writes);
        Ok(Self { db: writes, shared: db.clone(), batches })
    }

    /// Waits for this process's turn to write, then begins the transaction, or the next
    /// savepoint of the open batch.
    pub async fn begin(&self) -> Result<WriteTransaction, DbErr> {
        let mut turn = self.batches.take_turn().await;
        if turn.batch.failed {
            // Its outcome goes to the writers waiting on it; this writer starts afresh.
            let _ = turn.commit_batch().await;
        }
        let txn = match &turn.batch.txn {
            Some(open) => open.begin().await?,
            None => begin_write(&self.db).await?,
        };
        turn.first = turn.batch.txn.is_none();
        turn.writing = true;
        Ok(WriteTransaction { txn, turn: Some(turn), sums: StdMutex::default() })
    }

    /// Begins a transaction for a large write (an import), which a batch would only
    /// make others wait for: on PostgreSQL it runs beside the turns, on its own, and commits
    /// at once, as nothing it locks is a lead a batch may hold. SQLite admits one writer at
    /// a time, so there it takes its turn like any other.
    pub async fn begin_alone(&self) -> Result<WriteTransaction, DbErr> {
        if self.db.get_database_backend() == DatabaseBackend::Sqlite {
            return self.begin().await;
        }
        Ok(WriteTransaction { txn: begin_write(&self.shared).await?, turn: None, sums: StdMutex::default() })
    }

    /// Writers waiting for their turn.
    pub fn queued(&self) -> usize {
        self.batches.queued.load(Ordering::Acquire)
    }

    /// Commits the open batch, if any, once the writers before this call are done: after
    /// it, what they wrote is visible to every connection (or failed).
    pub async fn flush(&self) -> Result<(), DbErr> {
        self.batches.flush().await
    }
}

/// A write transaction, holding the process's turn to write until it ends.
pub struct WriteTransaction {
    // Declared before `turn`, so a dropped transaction rolls back before the turn passes on.
    txn: DatabaseTransaction,
    turn: Option<Turn>,
    /// This writer's sums, for the batch once the writer's work is done (dropped with it if not).
    sums: StdMutex<Option<Box<dyn BatchSums>>>,
}

impl WriteTransaction {
    /// Whether this transaction belongs to a batch of writers (all but PostgreSQL's
    /// [`Writer::begin_alone`]): the batch's commit writes the sums given to
    /// [`Self::add_sums`]. Otherwise the caller writes its sums itself.
    pub fn batched(&self) -> bool {
        self.turn.is_some()
    }

    /// Adds sums to write at the batch's commit, if this writer's work commits with it.
    pub fn add_sums(&self, sums: Box<dyn BatchSums>) {
        add_to(&mut self.sums.lock().unwrap_or_else(PoisonError::into_inner), sums);
    }

    /// Returns once the batch holding this transaction committed. Until then, the writers
    /// after it in the batch read what it changed, uncommitted, and other connections do not.
    pub async fn commit(self) -> Result<(), DbErr> {
        let Self { txn, turn, sums } = self;
        let Some(mut turn) = turn else { return txn.commit().await };
        if turn.first {
            turn.batch.txn = Some(txn);
        } else {
            txn.commit().await?;
        }
        turn.writing = false;
        turn.batch.writers += 1;
        if let Some(sums) = sums.into_inner().unwrap_or_else(PoisonError::into_inner) {
            add_to(&mut turn.batch.sums, sums);
        }
        if turn.batches.queued.load(Ordering::Acquire) > 0 && turn.batch.waiting.len() + 1 < MAX_BATCH {
            let (done, committed) = oneshot::channel();
            turn.batch.waiting.push(done);
            drop(turn);
            return match committed.await {
                Ok(result) => result.map_err(DbErr::Custom),
                Err(_) => Err(DbErr::Custom("the batch holding this write ended without committing".into())),
            };
        }
        turn.commit_batch().await
    }
}

/// Adds `sums` to what `total` holds.
fn add_to(total: &mut Option<Box<dyn BatchSums>>, sums: Box<dyn BatchSums>) {
    match total {
        Some(total) => total.absorb(sums),
        None => *total = Some(sums),
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

/// The turns of SQLite writers, and the batch the current turn may add to.
#[derive(Default)]
struct Batches {
    batch: Arc<Mutex<Batch>>,
    /// Writers waiting for a turn: a writer done with its work leaves the commit to them.
    queued: AtomicUsize,
    /// Whether a batch committed since the last checkpoint.
    committed: AtomicBool,
}

/// How often the log is folded into the database file while writes go on.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Frames (pages) in the log past which a checkpoint makes the next write start it over:
/// 16 MiB of 4 KiB pages (steady moves on SQLite wrote about 27 MB of log a second).
const RESTART_LOG_AFTER: i64 = if cfg!(test) { 64 } else { 4096 };

/// Copies the WAL into the database file, on a connection of the reading pool, after
/// writes. SQLite otherwise does it in the commit that finds the log long enough, so that
/// writer, holding everyone's turn, also waits for the file's sync. Ends with the writer.
///
/// A write starts the log over only if, when it begins, every frame has been copied; under
/// steady writes another batch has always committed since the last checkpoint, so the log
/// grew without end (1.6 GB in a minute of moves), every commit wrote to fresh file blocks
/// that the kernel allocated and zeroed, and reads searched an ever longer index. Once the
/// log is long, the checkpoint therefore copies what is left in a turn of its own, between
/// two batches: by then only the frames of the last moments remain.
async fn checkpoint(batches: Weak<Batches>, db: DatabaseConnection) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(batches) = batches.upgrade() else { return };
        if !batches.committed.swap(false, Ordering::AcqRel) {
            continue;
        }
        let result = async {
            if copy_log(&db).await? >= RESTART_LOG_AFTER {
                // Held until the copy is done, so no batch begins before it.
                let mut turn = batches.take_turn().await;
                turn.commit_batch().await?;
                copy_log(&db).await?;
            }
            Ok::<_, DbErr>(())
        };
        if let Err(error) = result.await {
            tracing::warn!(%error, "checkpointing the SQLite log failed");
        }
    }
}

/// Copies the log's frames that no reader still needs into the database file; returns how
/// many frames the log holds.
async fn copy_log(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let statement = Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
    // One row: whether it was blocked, the log's frames, and how many of them are copied.
    let row = db.query_one_raw(statement).await?;
    Ok(row.and_then(|row| row.try_get_by_index::<i64>(1).ok()).unwrap_or_default())
}

/// Writers' work not yet committed.
#[derive(Default)]
struct Batch {
    /// The open transaction, between turns (a batch's first writer holds it during its own).
    txn: Option<DatabaseTransaction>,
    /// Writers whose work `txn` holds, waiting for its commit.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    /// How many writers' work `txn` holds (those waiting, and the one ending the batch).
    writers: usize,
    /// What they added up, to write before the commit.
    sums: Option<Box<dyn BatchSums>>,
    /// Whether a writer failed inside `txn`. An error such as a full disk makes SQLite roll
    /// back the whole transaction, and the next savepoint would then begin one of its own,
    /// committed by its release; so the next turn commits the batch (or fails it) first.
    failed: bool,
}

impl Batch {
    /// Commits the open transaction, if any, and tells its waiting writers how it went.
    async fn commit(&mut self) -> Result<(), DbErr> {
        let Some(txn) = self.txn.take() else { return Ok(()) };
        self.failed = false;
        metrics::histogram!("baton_db_write_batch_writers").record(std::mem::take(&mut self.writers) as f64);
        let result = match self.sums.take() {
            Some(sums) => sums.write(&txn).await,
            None => Ok(()),
        };
        // A failed write of the sums drops the transaction, which rolls it back.
        let result = match result {
            Ok(()) => txn.commit().await,
            Err(error) => Err(error),
        };
        let outcome = result.as_ref().map(|_| ()).map_err(|error| format!("the write's commit failed: {error}"));
        for writer in self.waiting.drain(..) {
            // A writer whose request was abandoned no longer listens; its work is committed all the same.
            let _ = writer.send(outcome.clone());
        }
        result
    }
}

impl Batches {
    async fn take_turn(self: &Arc<Self>) -> Turn {
        let queued = Queued::join(self);
        let batch = self.batch.clone().lock_owned().await;
        queued.served();
        Turn { batch, batches: self.clone(), first: false, writing: false }
    }

    /// Commits the open batch, if any, in a turn of its own.
    async fn flush(self: &Arc<Self>) -> Result<(), DbErr> {
        self.take_turn().await.commit_batch().await
    }

    /// [`Self::flush`] in a task of its own: for when the writer that would have ended the
    /// batch is gone.
    fn flush_later(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let batches = self.clone();
        runtime.spawn(async move {
            if let Err(error) = batches.flush().await {
                tracing::error!(%error, "committing a batch of writes failed");
            }
        });
    }
}

/// The turn to write: whoever holds it may use (or begin) the batch's transaction.
struct Turn {
    batch: OwnedMutexGuard<Batch>,
    batches: Arc<Batches>,
    /// Whether this turn's writer began the batch and works in its transaction itself.
    first: bool,
    /// Whether its writer is at work: a turn dropped then ends in failure.
    writing: bool,
}

impl Turn {
    async fn commit_batch(&mut self) -> Result<(), DbErr> {
        let open = self.batch.txn.is_some();
        let result = self.batch.commit().await;
        if open {
            self.batches.committed.store(true, Ordering::Release);
        }
        result
    }
}

impl Drop for Turn {
    /// A turn that passes on an open batch with no one queued to end it (its writer failed
    /// or was abandoned) leaves the commit to a turn of its own.
    fn drop(&mut self) {
        if self.batch.txn.is_none() {
            return;
        }
        if self.writing {
            self.batch.failed = true;
        }
        if self.batches.queued.load(Ordering::Acquire) == 0 {
            self.batches.flush_later();
        }
    }
}

/// A writer counted as queued for a turn. One abandoned in the queue may have been the
/// writer an open batch was left to, so its leaving flushes the batch.
struct Queued<'a> {
    batches: &'a Arc<Batches>,
    waiting: bool,
}

impl<'a> Queued<'a> {
    fn join(batches: &'a Arc<Batches>) -> Self {
        batches.queued.fetch_add(1, Ordering::AcqRel);
        Self { batches, waiting: true }
    }

    fn served(mut self) {
        self.waiting = false;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.batches.queued.fetch_sub(1, Ordering::AcqRel);
        if self.waiting {
            self.batches.flush_later();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::task::JoinHandle;

    use super::*;
    use crate::db::connect;

    struct Fixture {
        dir: tempfile::TempDir,
        db: DatabaseConnection,
        writer: Writer,
        statements: StatementCounter,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let config = DatabaseConfig {
                url: format!("sqlite://{}/writer.db?mode=rwc", dir.path().display()),
                max_connections: Some(4),
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(5),
            };
            let (db, statements) = connect(&config).await.expect("connect");
            db.execute_unprepared("CREATE TABLE written (n INTEGER PRIMARY KEY)").await.expect("create table");
            let writer = Writer::connect(&config, &db, &statements).await.expect("writer");
            Self { dir, db, writer, statements }
        }

        fn batches(&self) -> Arc<Batches> {
            self.writer.batches.clone()
        }

        /// A writer in a task of its own that writes `n` and then ends as `end` says.
        /// Returns once it is queued.
        async fn spawn_writer(&self, n: i64, end: End) -> JoinHandle<Result<(), DbErr>> {
            let queued = self.batches().queued.load(Ordering::Acquire);
            let writer = self.writer.clone();
            let task = tokio::spawn(async move {
                let txn = writer.begin().await?;
                write(&txn, n).await;
                match end {
                    End::Commit => txn.commit().await,
                    // Dropped without a commit, as a failed request drops it.
                    End::Fail => Ok(()),
                    End::CommitWhenTold(told) => {
                        told.await.expect("told to go on");
                        txn.commit().await
                    }
                }
            });
            self.queued(queued + 1).await;
            task
        }

        /// Waits until `n` writers are queued for a turn.
        async fn queued(&self, n: usize) {
            while self.batches().queued.load(Ordering::Acquire) != n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        /// What another connection sees written.
        async fn visible(&self) -> Vec<i64> {
            let rows = self
                .db
                .query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, "SELECT n FROM written ORDER BY n"))
                .await
                .expect("read");
            rows.iter().map(|row| row.try_get_by_index(0).expect("n")).collect()
        }
    }

    /// How a spawned test writer ends.
    enum End {
        Commit,
        Fail,
        CommitWhenTold(oneshot::Receiver<()>),
    }

    async fn write(txn: &WriteTransaction, n: i64) {
        let insert = Statement::from_string(DatabaseBackend::Sqlite, format!("INSERT INTO written (n) VALUES ({n})"));
        txn.execute_raw(insert).await.expect("insert");
    }

    #[tokio::test]
    async fn sqlite_writers_take_turns_and_a_turn_lasts_as_long_as_its_transaction() {
        let fixture = Fixture::new().await;
        let batches = fixture.batches();
        let transaction = fixture.writer.begin().await.expect("begin");
        assert!(batches.batch.try_lock().is_err(), "an open write transaction holds the turn");
        transaction.commit().await.expect("commit");
        assert!(batches.batch.try_lock().is_ok(), "its commit ends it");
        drop(fixture.writer.begin().await.expect("begin again"));
        assert!(batches.batch.try_lock().is_ok(), "and so does abandoning one");
        let before = fixture.statements.get();
        let transaction = fixture.writer.begin().await.expect("begin");
        write(&transaction, 1).await;
        transaction.commit().await.expect("commit");
        assert!(fixture.statements.get() > before, "the writer's statements count with the pool's");
        assert_eq!(fixture.visible().await, [1], "a lone writer commits at once");
    }

    #[tokio::test]
    async fn a_queued_writer_ends_the_batch_and_no_writer_hears_of_success_before_the_commit() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let (go_on, go) = oneshot::channel::<()>();
        let second = fixture.spawn_writer(2, End::CommitWhenTold(go)).await;
        let first_commit = tokio::spawn(first.commit());
        // The second writer now holds the turn, inside the first one's transaction.
        fixture.queued(0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first_commit.is_finished(), "the first writer waits for the batch's commit");
        assert_eq!(fixture.visible().await, Vec::<i64>::new(), "nothing is committed yet");
        go_on.send(()).expect("second writer waiting");
        second.await.expect("second task").expect("second commit");
        first_commit.await.expect("first task").expect("first commit");
        assert_eq!(fixture.visible().await, [1, 2]);
    }

    #[tokio::test]
    async fn a_failed_writer_in_a_batch_loses_only_its_own_work() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let failing = fixture.spawn_writer(2, End::Fail).await;
        let third = fixture.spawn_writer(3, End::Commit).await;
        first.commit().await.expect("first commit");
        failing.await.expect("failing task").expect("failing writer");
        third.await.expect("third task").expect("third commit");
        assert_eq!(fixture.visible().await, [1, 3]);
    }

    #[tokio::test]
    async fn the_writer_after_a_failed_one_commits_the_batch_before_its_own_work() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let failing = fixture.spawn_writer(2, End::Fail).await;
        let (go_on, go) = oneshot::channel::<()>();
        let third = fixture.spawn_writer(3, End::CommitWhenTold(go)).await;
        tokio::time::timeout(Duration::from_secs(5), first.commit())
            .await
            .expect("the batch is committed when the next writer begins")
            .expect("first commit");
        failing.await.expect("failing task").expect("failing writer");
        assert_eq!(fixture.visible().await, [1], "the third writer works in a transaction of its own");
        go_on.send(()).expect("third writer waiting");
        third.await.expect("third task").expect("third commit");
        assert_eq!(fixture.visible().await, [1, 3]);
    }

    #[tokio::test]
    async fn a_batch_whose_last_writer_failed_is_committed_all_the_same() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let failing = fixture.spawn_writer(2, End::Fail).await;
        first.commit().await.expect("the first writer's work commits without the failed one");
        failing.await.expect("failing task").expect("failing writer");
        assert_eq!(fixture.visible().await, [1]);
        let next = fixture.writer.begin().await.expect("the turn passed on");
        write(&next, 3).await;
        next.commit().await.expect("commit");
        assert_eq!(fixture.visible().await, [1, 3]);
    }

    #[tokio::test]
    async fn a_writer_abandoned_in_the_queue_does_not_strand_the_batch() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let abandoned = fixture.spawn_writer(2, End::Commit).await;
        abandoned.abort();
        assert!(abandoned.await.is_err_and(|error| error.is_cancelled()));
        tokio::time::timeout(Duration::from_secs(5), first.commit())
            .await
            .expect("the commit is not left waiting for a writer that is gone")
            .expect("first commit");
        assert_eq!(fixture.visible().await, [1]);
    }

    /// Sums for the tests: a total, written as a row of `written`, and how many writes it took.
    struct Total {
        n: i64,
        writes: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl BatchSums for Total {
        fn absorb(&mut self, other: Box<dyn BatchSums>) {
            self.n += other.into_any().downcast::<Total>().expect("a total").n;
        }

        async fn write(self: Box<Self>, txn: &DatabaseTransaction) -> Result<(), DbErr> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            txn.execute_unprepared(&format!("INSERT INTO written (n) VALUES ({})", self.n)).await.map(drop)
        }

        fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
            self
        }
    }

    #[tokio::test]
    async fn a_batch_writes_its_writers_sums_once_and_without_a_failed_writers() {
        let fixture = Fixture::new().await;
        let writes = Arc::new(AtomicUsize::new(0));
        let total = |n| Box::new(Total { n, writes: writes.clone() });
        let first = fixture.writer.begin().await.expect("begin");
        assert!(first.batched());
        first.add_sums(total(1));
        first.add_sums(total(2));
        let (writer, sums) = (fixture.writer.clone(), total(4));
        let second = tokio::spawn(async move {
            let txn = writer.begin().await.expect("begin");
            txn.add_sums(sums);
            txn.commit().await
        });
        fixture.queued(1).await;
        let (writer, sums) = (fixture.writer.clone(), total(100));
        let failing = tokio::spawn(async move {
            let txn = writer.begin().await.expect("begin");
            txn.add_sums(sums);
        });
        fixture.queued(2).await;
        first.commit().await.expect("first commit");
        second.await.expect("second task").expect("second commit");
        failing.await.expect("failing task");
        assert_eq!(fixture.visible().await, [7], "1 + 2 + 4, without the failed writer's 100");
        assert_eq!(writes.load(Ordering::Relaxed), 1, "written once for the batch");
    }

    #[tokio::test]
    async fn the_log_is_copied_into_the_database_file_after_writes() {
        let fixture = Fixture::new().await;
        let file = fixture.dir.path().join("writer.db");
        let size = || std::fs::metadata(&file).expect("database file").len();
        let before = size();
        let txn = fixture.writer.begin().await.expect("begin");
        let blob =
            Statement::from_string(DatabaseBackend::Sqlite, "CREATE TABLE blob AS SELECT randomblob(1000000) AS b");
        txn.execute_raw(blob).await.expect("write a megabyte");
        txn.commit().await.expect("commit");
        // Commits only append to the log; the database file grows when a checkpoint copies them.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while size() < before + 1_000_000 {
            assert!(tokio::time::Instant::now() < deadline, "no checkpoint within 5 s of a commit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn under_steady_writes_the_log_starts_over_instead_of_growing() {
        let fixture = Fixture::new().await;
        let create = "CREATE TABLE page (k INTEGER PRIMARY KEY, b BLOB)";
        fixture.db.execute_unprepared(create).await.expect("create table");
        let log = fixture.dir.path().join("writer.db-wal");
        let until = tokio::time::Instant::now() + Duration::from_millis(1500);
        // Four writers that never pause, so a batch has always just committed when the
        // periodic checkpoint looks: each rewrites one of eight pages of a few KiB.
        let writers: Vec<_> = (0..4)
            .map(|lane: i64| {
                let writer = fixture.writer.clone();
                tokio::spawn(async move {
                    let mut writes = 0i64;
                    while tokio::time::Instant::now() < until {
                        let txn = writer.begin().await.expect("begin");
                        let sql = format!(
                            "INSERT OR REPLACE INTO page (k, b) VALUES ({}, randomblob(3000))",
                            (lane * 2 + writes) % 8
                        );
                        txn.execute_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await.expect("write");
                        txn.commit().await.expect("commit");
                        writes += 1;
                    }
                    writes
                })
            })
            .collect();
        let mut writes = 0;
        for writer in writers {
            writes += writer.await.expect("writer task");
        }
        // A log never started over holds a frame or more per write; one that starts over
        // once it passes the threshold holds about what a checkpoint's interval writes.
        let frames = std::fs::metadata(&log).expect("log file").len() / 4096;
        assert!(writes > 1000, "only {writes} writes in 1.5 s");
        assert!(frames < writes as u64 / 2, "{writes} writes left a log of {frames} frames");
    }

    #[tokio::test]
    async fn flush_commits_what_queued_writers_left_open() {
        let fixture = Fixture::new().await;
        let first = fixture.writer.begin().await.expect("begin");
        write(&first, 1).await;
        let writer = fixture.writer.clone();
        let flushed = tokio::spawn(async move { writer.flush().await });
        fixture.queued(1).await;
        let first_commit = tokio::spawn(first.commit());
        flushed.await.expect("flush task").expect("flush");
        assert_eq!(fixture.visible().await, [1], "after a flush every connection sees the batch");
        first_commit.await.expect("first task").expect("first commit");
    }
}
