//! An account's leads (newest first) read straight from one index: `(account_id)` widened
//! with the list's order. With the account alone, PostgreSQL's generic plan for the
//! prepared statement walked every lead newest first and filtered by account (a second per
//! request at a million leads).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX idx_lead_account_id_created_at ON lead (account_id, created_at, id)")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_lead_account_id").await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX idx_lead_account_id ON lead (account_id)").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_lead_account_id_created_at").await.map(|_| ())
    }
}
