//! The SLA sweep's SALs, read straight from an index of their own: SALs still waiting for a
//! first contact, by when they entered SAL. Without it every sweep (every 30 s on every
//! instance) read every SAL through the stage index and sorted the overdue ones (55 to
//! 60 ms at a million leads with 65,000 SALs, on SQLite on the server's own core; 45 ms
//! with it, most of which is the SALs whose breach is already recorded).
//!
//! The predicate is literal, and the sweep names the stage literally too: neither planner
//! uses a partial index for a bound parameter (SQLite plans without looking at bindings).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_lead_sal_awaiting_contact ON lead (stage, stage_entered_at) \
                 WHERE stage = 'SAL' AND first_contact_at IS NULL",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_lead_sal_awaiting_contact")
            .await
            .map(|_| ())
    }
}
