use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_user::User;
use crate::{foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Account {
    Table,
    Id,
    Name,
    SearchName,
    Domain,
    Industry,
    Employees,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Account::Table)
                    .col(pk_uuid(Account::Id))
                    .col(string(Account::Name))
                    .col(string(Account::SearchName))
                    // Both backends allow many NULLs under a unique constraint.
                    .col(string_null(Account::Domain).unique_key())
                    .col(string_null(Account::Industry))
                    .col(integer_null(Account::Employees))
                    .col(uuid_null(Account::OwnerId))
                    .col(timestamp_with_time_zone(Account::CreatedAt))
                    .col(timestamp_with_time_zone(Account::UpdatedAt))
                    .foreign_key(&mut foreign_key(Account::Table, Account::OwnerId, User::Table, User::Id))
                    .take(),
            )
            .await?;
        for stmt in [
            index("idx_account_name", Account::Table, [Account::Name]),
            index("idx_account_owner_id", Account::Table, [Account::OwnerId]),
            index("idx_account_created_at_id", Account::Table, [Account::CreatedAt, Account::Id]),
        ] {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Account::Table).take()).await
    }
}
