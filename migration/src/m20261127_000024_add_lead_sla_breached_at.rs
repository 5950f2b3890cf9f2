//! Records a SAL's SLA breach on the lead row too (`sla_breached_at`, cleared whenever the
//! lead changes stage), and leaves breached SALs out of the sweep's index.
//!
//! The sweep asked the log whether each waiting SAL's breach was recorded already; those
//! SALs stayed in the index until someone contacted them, so every sweep, every 30 s on
//! every instance, walked all of them (27,000 at a million leads, 45 ms on SQLite on the
//! server's core) to find none or a few new ones. The new index holds only SALs whose
//! breach is still to come, and existing breaches are copied from the log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Lead {
    Table,
    SlaBreachedAt,
}

const OLD_INDEX: &str = "idx_lead_sal_awaiting_contact";

const CREATE_OLD_INDEX: &str = "CREATE INDEX idx_lead_sal_awaiting_contact ON lead (stage, stage_entered_at) \
                                WHERE stage = 'SAL' AND first_contact_at IS NULL";

const NEW_INDEX: &str = "idx_lead_sal_breach_due";

const CREATE_NEW_INDEX: &str = "CREATE INDEX idx_lead_sal_breach_due ON lead (stage, stage_entered_at) \
                                WHERE stage = 'SAL' AND first_contact_at IS NULL AND sla_breached_at IS NULL";

/// The breach the log holds for each SAL's current stay.
const BACKFILL: &str = "UPDATE lead SET sla_breached_at = (\
                            SELECT MIN(e.occurred_at) FROM lead_event e \
                            WHERE e.lead_id = lead.id AND e.kind = 'SLA_BREACHED' \
                            AND e.from_stage_entered_at = lead.stage_entered_at) \
                        WHERE stage = 'SAL'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Lead::Table)
                    .add_column(ColumnDef::new(Lead::SlaBreachedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(BACKFILL).await?;
        db.execute_unprepared(CREATE_NEW_INDEX).await?;
        drop_index(db, OLD_INDEX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(CREATE_OLD_INDEX).await?;
        drop_index(db, NEW_INDEX).await?;
        manager.alter_table(Table::alter().table(Lead::Table).drop_column(Lead::SlaBreachedAt).to_owned()).await
    }
}

/// Drops an index that must exist. Not `IF EXISTS`: a pooled SQLite connection whose schema
/// predates the index's creation finds nothing to drop without checking, where a plain
/// `DROP INDEX` looks again.
async fn drop_index(db: &SchemaManagerConnection<'_>, name: &str) -> Result<(), DbErr> {
    db.execute_unprepared(&format!("DROP INDEX {name}")).await.map(|_| ())
}
