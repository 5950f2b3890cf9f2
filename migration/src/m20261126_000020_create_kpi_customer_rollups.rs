//! Lifetime value: what every account's won deals add up to, which accounts are customers
//! since when and through which lead, and a rollup of new customer accounts by the day of
//! their first win; then the KPIs read from them (average lifetime value, LTV:CAC and new
//! customer accounts), shown after the eighteen before them.
//!
//! Like the other rollups, these are kept in the transaction of every move to WON and
//! rebuilt by `baton kpi rebuild`. Leads without an account are in none of them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    index,
    m20261126_000013_seed_kpi_definition::{self as seed_kpi_definition, HIGHER, Kpi},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KpiAccountValue {
    Table,
    AccountId,
    Currency,
    Deals,
    Amount,
}

#[derive(DeriveIden)]
enum KpiCustomer {
    Table,
    AccountId,
    FirstWonAt,
    Channel,
    CampaignId,
    OwnerId,
    Currency,
}

#[derive(DeriveIden)]
enum KpiCustomerCohort {
    Table,
    Grain,
    Day,
    Channel,
    CampaignId,
    OwnerId,
    Currency,
    Accounts,
    Deals,
    Amount,
}

const KPIS: [Kpi; 3] = [
    Kpi {
        key: "new_customer_accounts",
        name: "New customer accounts",
        description: "Accounts whose first won deal (first move from SQL to WON of any of their leads) falls in the period, attributed to that lead's channel, campaign and owner. Leads without an account are not counted.",
        unit: "COUNT",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: None,
    },
    Kpi {
        key: "average_lifetime_value",
        name: "Average lifetime value",
        description: "Over the accounts whose first won deal falls in the period: the sum of the amounts of all their won deals to date, in the period or after it, divided by the number of those accounts. Filters and groups apply to the lead of the account's first win (its channel, campaign and owner). Null when no account became a customer; per currency when the amounts are in several.",
        unit: "MONEY",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: None,
    },
    Kpi {
        key: "ltv_to_cac_ratio",
        name: "LTV to CAC ratio",
        description: "Average lifetime value divided by customer acquisition cost in the same scope, computed from their exact (unrounded) amounts. Null when either is null, when the acquisition cost is zero, or when the two are not in one and the same currency.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "MARKETING",
        target: Some(3.0),
    },
];

/// After the eighteen KPIs of the earlier seeds.
const FIRST_POSITION: i32 = 19;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KpiAccountValue::Table)
                    .col(uuid(KpiAccountValue::AccountId))
                    .col(string_len(KpiAccountValue::Currency, 3))
                    .col(big_integer(KpiAccountValue::Deals))
                    .col(big_integer(KpiAccountValue::Amount))
                    .primary_key(Index::create().col(KpiAccountValue::AccountId).col(KpiAccountValue::Currency))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KpiCustomer::Table)
                    .col(uuid(KpiCustomer::AccountId).primary_key())
                    .col(timestamp_with_time_zone(KpiCustomer::FirstWonAt))
                    .col(string_len(KpiCustomer::Channel, 16))
                    .col(uuid(KpiCustomer::CampaignId))
                    .col(uuid(KpiCustomer::OwnerId))
                    .col(string_len(KpiCustomer::Currency, 3))
                    .take(),
            )
            .await?;
        // A read of a partial first or last day finds the accounts that first won in it.
        manager
            .create_index(index("idx_kpi_customer_first_won_at", KpiCustomer::Table, [KpiCustomer::FirstWonAt]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KpiCustomerCohort::Table)
                    .col(string_len(KpiCustomerCohort::Grain, 8))
                    .col(date(KpiCustomerCohort::Day))
                    .col(string_len(KpiCustomerCohort::Channel, 16))
                    .col(uuid(KpiCustomerCohort::CampaignId))
                    .col(uuid(KpiCustomerCohort::OwnerId))
                    .col(string_len(KpiCustomerCohort::Currency, 3))
                    .col(big_integer(KpiCustomerCohort::Accounts))
                    .col(big_integer(KpiCustomerCohort::Deals))
                    .col(big_integer(KpiCustomerCohort::Amount))
                    .primary_key(
                        Index::create()
                            .col(KpiCustomerCohort::Grain)
                            .col(KpiCustomerCohort::Day)
                            .col(KpiCustomerCohort::Channel)
                            .col(KpiCustomerCohort::CampaignId)
                            .col(KpiCustomerCohort::OwnerId)
                            .col(KpiCustomerCohort::Currency),
                    )
                    .take(),
            )
            .await?;
        seed_kpi_definition::insert(manager, &KPIS, FIRST_POSITION).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        seed_kpi_definition::delete(manager, &KPIS).await?;
        for table in
            [KpiCustomerCohort::Table.into_iden(), KpiCustomer::Table.into_iden(), KpiAccountValue::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
