use sea_orm_migration::{prelude::*, schema::*};

use crate::foreign_key;
use crate::index;
use crate::m20261126_000001_create_user::User;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    UserId,
    Key,
    Fingerprint,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(uuid(IdempotencyKey::UserId))
                    .col(string_len(IdempotencyKey::Key, 200))
                    .col(string_len(IdempotencyKey::Fingerprint, 64))
                    .col(json(IdempotencyKey::Response))
                    .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                    .primary_key(Index::create().col(IdempotencyKey::UserId).col(IdempotencyKey::Key))
                    .foreign_key(&mut foreign_key(IdempotencyKey::Table, IdempotencyKey::UserId, User::Table, User::Id))
                    .take(),
            )
            .await?;
        // Expired keys are swept by age.
        manager
            .create_index(index("idx_idempotency_key_created_at", IdempotencyKey::Table, [IdempotencyKey::CreatedAt]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKey::Table).take()).await
    }
}
