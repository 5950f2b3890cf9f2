//! SQLite keeps the KPI rollups in their primary key's B-tree (`WITHOUT ROWID`). As rowid
//! tables each row lived twice, in the table and in the key's index, and every rollup
//! increment a move makes wrote both. PostgreSQL's tables are heaps either way; nothing
//! changes there.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// The rollups keyed by several columns.
const TABLES: [&str; 6] =
    ["kpi_flow", "kpi_duration", "kpi_current", "kpi_cohort", "kpi_account_value", "kpi_customer_cohort"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // Each table is copied, dropped and renamed: all of it or none.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, |sql| format!("{} WITHOUT ROWID", sql.trim_end_matches(" WITHOUT ROWID"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, |sql| sql.trim_end_matches(" WITHOUT ROWID").to_owned()).await
    }
}

/// Recreates each table from its own definition as `edit` changes it, rows included; a
/// table `edit` leaves as it is stays.
async fn recreate(manager: &SchemaManager<'_>, edit: impl Fn(&str) -> String) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let db = manager.get_connection();
    for table in TABLES {
        let query = format!("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
        let row = db.query_one_raw(sea_orm::Statement::from_string(DbBackend::Sqlite, query)).await?;
        let sql: String = row.ok_or_else(|| DbErr::Custom(format!("no table {table}")))?.try_get("", "sql")?;
        let edited = edit(&sql);
        if edited == sql {
            continue;
        }
        let renamed =
            edited.replacen(&format!("CREATE TABLE \"{table}\""), &format!("CREATE TABLE \"{table}_new\""), 1);
        db.execute_unprepared(&renamed).await?;
        db.execute_unprepared(&format!("INSERT INTO \"{table}_new\" SELECT * FROM \"{table}\"")).await?;
        db.execute_unprepared(&format!("DROP TABLE \"{table}\"")).await?;
        db.execute_unprepared(&format!("ALTER TABLE \"{table}_new\" RENAME TO \"{table}\"")).await?;
    }
    Ok(())
}
