//! At most one `SLA_BREACHED` event per lead per stay in a stage (named by the time the lead
//! entered it), whichever instance notices the breach first: a partial unique index, which
//! SQLite and PostgreSQL both support with the same statement.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_lead_event_sla_breach ON lead_event (lead_id, from_stage_entered_at) \
                 WHERE kind = 'SLA_BREACHED'",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS uq_lead_event_sla_breach").await.map(|_| ())
    }
}
