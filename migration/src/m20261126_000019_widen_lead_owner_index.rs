//! A rep's inbox (their leads in a stage, newest in it first) read straight from one index:
//! `(owner_id, stage)` widened with the inbox's order, so the database walks the rep's SALs
//! in order and stops after a page instead of sorting all of them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX idx_lead_owner_id_stage_entered ON lead (owner_id, stage, stage_entered_at, id)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_lead_owner_id_stage").await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX idx_lead_owner_id_stage ON lead (owner_id, stage)").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_lead_owner_id_stage_entered").await.map(|_| ())
    }
}
