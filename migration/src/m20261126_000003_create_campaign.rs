use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Campaign {
    Table,
    Id,
    Name,
    Channel,
    SpendAmount,
    CurrencyCode,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Campaign::Table)
                    .col(pk_uuid(Campaign::Id))
                    .col(string(Campaign::Name))
                    .col(string_len(Campaign::Channel, 16))
                    .col(big_integer(Campaign::SpendAmount))
                    .col(string(Campaign::CurrencyCode))
                    .col(timestamp_with_time_zone(Campaign::CreatedAt))
                    .take(),
            )
            .await?;
        manager.create_index(index("idx_campaign_channel", Campaign::Table, [Campaign::Channel])).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Campaign::Table).take()).await
    }
}
