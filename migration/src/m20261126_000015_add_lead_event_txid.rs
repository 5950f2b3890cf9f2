//! Gives each `lead_event` row the id of the transaction that wrote it (PostgreSQL only).
//!
//! On PostgreSQL, identity values are taken when a row is inserted, not when its
//! transaction commits: a transaction holding position 7 may commit after the one holding
//! position 8, so a reader of `position > last` could pass 7 by for ever. With the writer's
//! transaction id beside the position, readers take only rows whose transaction is older
//! than the oldest one still running (`pg_snapshot_xmin`): all of those have finished, so
//! `(txid, position)` order is final below that watermark and nothing is ever skipped.
//!
//! The same migration adds a statement trigger that sends `NOTIFY baton_events` from the
//! writing transaction, so every instance's tailer is woken when it commits, whichever code
//! wrote the rows.
//!
//! On SQLite writers are serialized (`BEGIN IMMEDIATE`), so `position` order already is
//! commit order and this migration does nothing. The column stays out of the entity: inserts
//! must leave it to its default.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE lead_event ADD COLUMN txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)",
    "CREATE INDEX idx_lead_event_txid_position ON lead_event (txid, position)",
    "CREATE FUNCTION baton_notify_lead_event() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         PERFORM pg_notify('baton_events', '');
         RETURN NULL;
     END $$",
    "CREATE TRIGGER lead_event_notify AFTER INSERT ON lead_event
     FOR EACH STATEMENT EXECUTE FUNCTION baton_notify_lead_event()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS lead_event_notify ON lead_event",
    "DROP FUNCTION IF EXISTS baton_notify_lead_event()",
    "DROP INDEX IF EXISTS idx_lead_event_txid_position",
    "ALTER TABLE lead_event DROP COLUMN IF EXISTS txid",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
