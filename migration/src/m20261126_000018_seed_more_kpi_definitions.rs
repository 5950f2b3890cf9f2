//! KPIs beyond the twelve of DESIGN.md section 6: whole-funnel conversion, recycling, SLA
//! compliance and acquisition cost. Shown after the first twelve.

use sea_orm_migration::prelude::*;

use crate::m20261126_000013_seed_kpi_definition::{self as seed_kpi_definition, HIGHER, Kpi, LOWER};

#[derive(DeriveMigrationName)]
pub struct Migration;

const KPIS: [Kpi; 6] = [
    Kpi {
        key: "lead_to_customer_rate",
        name: "Lead to customer rate",
        description: "Period view: moves to WON divided by leads created in the period. Cohort view: share of the leads created in the period that are or were won.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: Some(0.03),
    },
    Kpi {
        key: "recycle_rate",
        name: "Recycle rate",
        description: "Returns to marketing (moves to LEAD) divided by all moves out of MQL, SAL, SQL and LOST in the period.",
        unit: "RATIO",
        direction: LOWER,
        owners: "MARKETING,SALES",
        target: Some(0.15),
    },
    Kpi {
        key: "sla_compliance_rate",
        name: "SLA compliance",
        description: "Share of the first sales contacts recorded in the period that came within the SAL stage's SLA in force at the time.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "SALES",
        target: Some(0.9),
    },
    Kpi {
        key: "sla_breaches",
        name: "SLA breaches",
        description: "SALs that waited longer than the SAL stage's SLA without a first contact, counted when the breach was recorded in the period.",
        unit: "COUNT",
        direction: LOWER,
        owners: "SALES",
        target: None,
    },
    Kpi {
        key: "new_customers",
        name: "New customers",
        description: "Moves from SQL to WON in the period.",
        unit: "COUNT",
        direction: HIGHER,
        owners: "SALES",
        target: None,
    },
    Kpi {
        key: "customer_acquisition_cost",
        name: "Customer acquisition cost",
        description: "Total spend of the campaigns in scope (by channel and campaign filter) divided by the moves to WON in the period of leads in that scope; null when the currencies differ.",
        unit: "MONEY",
        direction: LOWER,
        owners: "MARKETING",
        target: None,
    },
];

/// After the twelve KPIs of section 6.
const FIRST_POSITION: i32 = 13;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        seed_kpi_definition::insert(manager, &KPIS, FIRST_POSITION).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        seed_kpi_definition::delete(manager, &KPIS).await
    }
}
