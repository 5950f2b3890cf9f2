//! Building secondary indexes after a bulk load instead of during it. Inserting millions
//! of rows into twenty B-trees one key at a time costs most of a seed; building each index
//! once from sorted data at the end costs far less. Only done on an empty database, where
//! no reader depends on the indexes in the meantime.

use futures::{StreamExt, TryStreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};

/// Tables the bulk load fills with millions of rows.
const BULK_TABLES: [&str; 3] = ["lead", "lead_event", "touchpoint"];

/// Secondary indexes dropped for the load, with the statements that recreate them.
pub(super) struct DeferredIndexes {
    recreate: Vec<String>,
    /// Whether the lead table was empty, and so the whole log is what the load writes.
    empty: bool,
}

#[derive(FromQueryResult)]
struct IndexRow {
    name: String,
    definition: String,
}

impl DeferredIndexes {
    /// Drops the bulk tables' secondary indexes if the lead table is empty; otherwise
    /// (seeding beside existing data) keeps them and defers nothing. Indexes that enforce
    /// a constraint (primary keys, UNIQUE columns) always stay.
    pub async fn drop_if_empty(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let backend = db.get_database_backend();
        let empty = db.query_one_raw(Statement::from_string(backend, "SELECT 1 FROM lead LIMIT 1")).await?.is_none();
        if !empty {
            return Ok(Self { recreate: Vec::new(), empty });
        }
        let tables = BULK_TABLES.map(|t| format!("'{t}'")).join(", ");
        let sql = match backend {
            DbBackend::Sqlite => format!(
                "SELECT name, sql AS definition FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({tables})"
            ),
            DbBackend::Postgres => format!(
                "SELECT indexname AS name, indexdef AS definition FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename IN ({tables}) \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            ),
            _ => return Ok(Self { recreate: Vec::new(), empty }),
        };
        let rows = IndexRow::find_by_statement(Statement::from_string(backend, sql)).all(db).await?;
        for row in &rows {
            db.execute_unprepared(&format!("DROP INDEX \"{}\"", row.name)).await?;
        }
        Ok(Self { recreate: rows.into_iter().map(|row| row.definition).collect(), empty })
    }

    /// Whether the database held no leads when the load began.
    pub fn database_was_empty(&self) -> bool {
        self.empty
    }

    /// Recreates what was dropped.
    pub async fn restore(self, db: &DatabaseConnection) -> Result<(), DbErr> {
        if self.recreate.is_empty() {
            return Ok(());
        }
        if db.get_database_backend() == DbBackend::Sqlite {
            // SQLite sorts an index's keys with helper threads when allowed to, one per
            // core here, for these statements only; one call keeps them on one connection.
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let builds = self.recreate.join(";\n");
            return db
                .execute_unprepared(&format!("PRAGMA threads = {threads};\n{builds};\nPRAGMA threads = 0"))
                .await
                .map(drop);
        }
        // PostgreSQL builds each index on one backend: a build per core at a time, each
        // with room to sort its keys in memory (the default 64 MB spills the event log's
        // indexes to disk). `SET LOCAL` lasts for the build's own implicit transaction.
        let lanes = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        futures::stream::iter(self.recreate.iter().map(|statement| async move {
            db.execute_unprepared(&format!("SET LOCAL maintenance_work_mem = '256MB'; {statement}")).await
        }))
        .buffer_unordered(lanes)
        .try_for_each(|_| async { Ok(()) })
        .await
    }
}
