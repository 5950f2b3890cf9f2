use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Stage {
    Table,
    Key,
    Name,
    Position,
    Team,
    SlaMinutes,
    WinProbabilityPercent,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stage::Table)
                    .col(string_len(Stage::Key, 16).primary_key())
                    .col(string(Stage::Name))
                    .col(integer(Stage::Position))
                    .col(string_len(Stage::Team, 16))
                    .col(integer_null(Stage::SlaMinutes))
                    .col(integer(Stage::WinProbabilityPercent))
                    .col(timestamp_with_time_zone(Stage::UpdatedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Stage::Table).take()).await
    }
}
