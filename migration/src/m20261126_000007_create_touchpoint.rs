use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_user::User;
use crate::m20261126_000003_create_campaign::Campaign;
use crate::m20261126_000006_create_lead::Lead;
use crate::{foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Touchpoint {
    Table,
    Id,
    LeadId,
    Kind,
    Channel,
    CampaignId,
    ActorId,
    Points,
    OccurredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Touchpoint::Table)
                    .col(pk_uuid(Touchpoint::Id))
                    .col(uuid(Touchpoint::LeadId))
                    .col(string_len(Touchpoint::Kind, 24))
                    .col(string_len_null(Touchpoint::Channel, 16))
                    .col(uuid_null(Touchpoint::CampaignId))
                    .col(uuid_null(Touchpoint::ActorId))
                    .col(integer(Touchpoint::Points))
                    .col(timestamp_with_time_zone(Touchpoint::OccurredAt))
                    .col(timestamp_with_time_zone(Touchpoint::CreatedAt))
                    .foreign_key(&mut foreign_key(Touchpoint::Table, Touchpoint::LeadId, Lead::Table, Lead::Id))
                    .foreign_key(&mut foreign_key(
                        Touchpoint::Table,
                        Touchpoint::CampaignId,
                        Campaign::Table,
                        Campaign::Id,
                    ))
                    .foreign_key(&mut foreign_key(Touchpoint::Table, Touchpoint::ActorId, User::Table, User::Id))
                    .take(),
            )
            .await?;
        // A lead's timeline, and its first sales contact (speed-to-lead).
        manager
            .create_index(index(
                "idx_touchpoint_lead_id_occurred_at",
                Touchpoint::Table,
                [Touchpoint::LeadId, Touchpoint::OccurredAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Touchpoint::Table).take()).await
    }
}
