//! KPI rollups: counts and sums kept up to date in the same transaction as every
//! `lead_event` append, so a KPI read costs the same whatever the size of the log.
//!
//! Every key column is NOT NULL (absent values are stored as '' or the nil UUID), so
//! `INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` finds the one row to
//! add to on both SQLite and PostgreSQL (NULLs never conflict in a unique key).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KpiFlow {
    Table,
    Grain,
    Day,
    Channel,
    CampaignId,
    OwnerId,
    Kind,
    FromStage,
    ToStage,
    Tag,
    Currency,
    N,
    Amount,
}

#[derive(DeriveIden)]
enum KpiDuration {
    Table,
    Grain,
    Day,
    Channel,
    CampaignId,
    OwnerId,
    Metric,
    Stage,
    Bucket,
    N,
}

#[derive(DeriveIden)]
enum KpiCurrent {
    Table,
    Grain,
    Stage,
    Channel,
    CampaignId,
    OwnerId,
    Currency,
    N,
    Amount,
}

#[derive(DeriveIden)]
enum KpiCohort {
    Table,
    Day,
    Channel,
    CampaignId,
    Stage,
    Reached,
    Current,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KpiFlow::Table)
                    .col(string_len(KpiFlow::Grain, 8))
                    .col(date(KpiFlow::Day))
                    .col(string_len(KpiFlow::Channel, 16))
                    .col(uuid(KpiFlow::CampaignId))
                    .col(uuid(KpiFlow::OwnerId))
                    .col(string_len(KpiFlow::Kind, 16))
                    .col(string_len(KpiFlow::FromStage, 16))
                    .col(string_len(KpiFlow::ToStage, 16))
                    .col(string_len(KpiFlow::Tag, 64))
                    .col(string_len(KpiFlow::Currency, 3))
                    .col(big_integer(KpiFlow::N))
                    .col(big_integer(KpiFlow::Amount))
                    .primary_key(
                        Index::create()
                            .col(KpiFlow::Grain)
                            .col(KpiFlow::Day)
                            .col(KpiFlow::Channel)
                            .col(KpiFlow::CampaignId)
                            .col(KpiFlow::OwnerId)
                            .col(KpiFlow::Kind)
                            .col(KpiFlow::FromStage)
                            .col(KpiFlow::ToStage)
                            .col(KpiFlow::Tag)
                            .col(KpiFlow::Currency),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KpiDuration::Table)
                    .col(string_len(KpiDuration::Grain, 8))
                    .col(date(KpiDuration::Day))
                    .col(string_len(KpiDuration::Channel, 16))
                    .col(uuid(KpiDuration::CampaignId))
                    .col(uuid(KpiDuration::OwnerId))
                    .col(string_len(KpiDuration::Metric, 16))
                    .col(string_len(KpiDuration::Stage, 16))
                    .col(integer(KpiDuration::Bucket))
                    .col(big_integer(KpiDuration::N))
                    .primary_key(
                        // Metric before day: a read asks for one or two metrics over a
                        // range of days, and scans only their rows.
                        Index::create()
                            .col(KpiDuration::Grain)
                            .col(KpiDuration::Metric)
                            .col(KpiDuration::Day)
                            .col(KpiDuration::Channel)
                            .col(KpiDuration::CampaignId)
                            .col(KpiDuration::OwnerId)
                            .col(KpiDuration::Stage)
                            .col(KpiDuration::Bucket),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KpiCurrent::Table)
                    .col(string_len(KpiCurrent::Grain, 8))
                    .col(string_len(KpiCurrent::Stage, 16))
                    .col(string_len(KpiCurrent::Channel, 16))
                    .col(uuid(KpiCurrent::CampaignId))
                    .col(uuid(KpiCurrent::OwnerId))
                    .col(string_len(KpiCurrent::Currency, 3))
                    .col(big_integer(KpiCurrent::N))
                    .col(big_integer(KpiCurrent::Amount))
                    .primary_key(
                        Index::create()
                            .col(KpiCurrent::Grain)
                            .col(KpiCurrent::Stage)
                            .col(KpiCurrent::Channel)
                            .col(KpiCurrent::CampaignId)
                            .col(KpiCurrent::OwnerId)
                            .col(KpiCurrent::Currency),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KpiCohort::Table)
                    .col(date(KpiCohort::Day))
                    .col(string_len(KpiCohort::Channel, 16))
                    .col(uuid(KpiCohort::CampaignId))
                    .col(string_len(KpiCohort::Stage, 16))
                    .col(big_integer(KpiCohort::Reached))
                    .col(big_integer(KpiCohort::Current))
                    .primary_key(
                        Index::create()
                            .col(KpiCohort::Day)
                            .col(KpiCohort::Channel)
                            .col(KpiCohort::CampaignId)
                            .col(KpiCohort::Stage),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            KpiCohort::Table.into_iden(),
            KpiCurrent::Table.into_iden(),
            KpiDuration::Table.into_iden(),
            KpiFlow::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
