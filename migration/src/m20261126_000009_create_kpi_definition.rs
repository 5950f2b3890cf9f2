use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum KpiDefinition {
    Table,
    Key,
    Name,
    Description,
    Unit,
    Direction,
    Owners,
    Target,
    Tolerance,
    Position,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KpiDefinition::Table)
                    .col(string(KpiDefinition::Key).primary_key())
                    .col(string(KpiDefinition::Name))
                    .col(string(KpiDefinition::Description))
                    .col(string_len(KpiDefinition::Unit, 16))
                    .col(string_len(KpiDefinition::Direction, 24))
                    .col(string(KpiDefinition::Owners))
                    .col(double_null(KpiDefinition::Target))
                    .col(double(KpiDefinition::Tolerance))
                    .col(integer(KpiDefinition::Position))
                    .col(timestamp_with_time_zone(KpiDefinition::UpdatedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(KpiDefinition::Table).take()).await
    }
}
