use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_user::User;
use crate::m20261126_000002_create_account::Account;
use crate::m20261126_000003_create_campaign::Campaign;
use crate::m20261126_000005_create_reason::Reason;
use crate::{foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Lead {
    Table,
    Id,
    Email,
    FirstName,
    LastName,
    Title,
    SearchText,
    AccountId,
    Channel,
    CampaignId,
    Score,
    Stage,
    OwnerId,
    Version,
    StageEnteredAt,
    FirstContactAt,
    DealValueAmount,
    CurrencyCode,
    Budget,
    Authority,
    Need,
    Timeline,
    ReasonCode,
    ReasonNote,
    RecycleCount,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Lead::Table)
                    .col(pk_uuid(Lead::Id))
                    .col(string_uniq(Lead::Email))
                    .col(string_null(Lead::FirstName))
                    .col(string_null(Lead::LastName))
                    .col(string_null(Lead::Title))
                    .col(string(Lead::SearchText))
                    .col(uuid_null(Lead::AccountId))
                    .col(string_len(Lead::Channel, 16))
                    .col(uuid_null(Lead::CampaignId))
                    .col(integer(Lead::Score))
                    .col(string_len(Lead::Stage, 16))
                    .col(uuid_null(Lead::OwnerId))
                    .col(integer(Lead::Version))
                    .col(timestamp_with_time_zone(Lead::StageEnteredAt))
                    .col(timestamp_with_time_zone_null(Lead::FirstContactAt))
                    .col(big_integer_null(Lead::DealValueAmount))
                    .col(string_null(Lead::CurrencyCode))
                    .col(string_null(Lead::Budget))
                    .col(string_null(Lead::Authority))
                    .col(string_null(Lead::Need))
                    .col(string_null(Lead::Timeline))
                    .col(string_null(Lead::ReasonCode))
                    .col(string_null(Lead::ReasonNote))
                    .col(integer(Lead::RecycleCount))
                    .col(timestamp_with_time_zone(Lead::CreatedAt))
                    .col(timestamp_with_time_zone(Lead::UpdatedAt))
                    // SQLite cannot add foreign keys later, so they are all declared here.
                    .foreign_key(&mut foreign_key(Lead::Table, Lead::AccountId, Account::Table, Account::Id))
                    .foreign_key(&mut foreign_key(Lead::Table, Lead::OwnerId, User::Table, User::Id))
                    .foreign_key(&mut foreign_key(Lead::Table, Lead::CampaignId, Campaign::Table, Campaign::Id))
                    .foreign_key(&mut foreign_key(Lead::Table, Lead::ReasonCode, Reason::Table, Reason::Code))
                    .take(),
            )
            .await?;
        // Keyset pagination orders by `<col>, id`, so each sortable column gets `(col, id)`.
        for stmt in [
            index("idx_lead_created_at_id", Lead::Table, [Lead::CreatedAt, Lead::Id]),
            index("idx_lead_updated_at_id", Lead::Table, [Lead::UpdatedAt, Lead::Id]),
            index("idx_lead_score_id", Lead::Table, [Lead::Score, Lead::Id]),
            index("idx_lead_stage_entered_at_id", Lead::Table, [Lead::StageEnteredAt, Lead::Id]),
            // Funnel counts per stage and the SLA sweep (oldest first within a stage).
            index("idx_lead_stage_created_at", Lead::Table, [Lead::Stage, Lead::CreatedAt]),
            // A rep's own leads by stage.
            index("idx_lead_owner_id_stage", Lead::Table, [Lead::OwnerId, Lead::Stage]),
            index("idx_lead_account_id", Lead::Table, [Lead::AccountId]),
            index("idx_lead_campaign_id", Lead::Table, [Lead::CampaignId]),
            index("idx_lead_channel", Lead::Table, [Lead::Channel]),
        ] {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Lead::Table).take()).await
    }
}
