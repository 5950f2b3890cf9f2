use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Reason {
    Table,
    Code,
    Label,
    Description,
    Active,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reason::Table)
                    .col(string(Reason::Code).primary_key())
                    .col(string(Reason::Label))
                    .col(string(Reason::Description))
                    .col(boolean(Reason::Active))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Reason::Table).take()).await
    }
}
