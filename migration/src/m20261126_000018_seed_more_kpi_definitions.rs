//! KPIs beyond the twelve of DESIGN.md section 6: whole-funnel conversion, recycling, SLA
//! compliance and acquisition cost. Shown after the first twelve.

use sea_orm_migration::prelude::*;

use crate::m20261126_000009_create_kpi_definition::KpiDefinition;
use crate::{now, seed_error};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// key, name, description, unit, direction, owners, target.
type Kpi = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, Option<f64>);

const KPIS: [Kpi; 6] = [
    (
        "lead_to_customer_rate",
        "Lead to customer rate",
        "Period view: moves to WON divided by leads created in the period. Cohort view: share of the leads created in the period that are or were won.",
        "RATIO",
        "HIGHER_IS_BETTER",
        "MARKETING,SALES",
        Some(0.03),
    ),
    (
        "recycle_rate",
        "Recycle rate",
        "Returns to marketing (moves to LEAD) divided by all moves out of MQL, SAL, SQL and LOST in the period.",
        "RATIO",
        "LOWER_IS_BETTER",
        "MARKETING,SALES",
        Some(0.15),
    ),
    (
        "sla_compliance_rate",
        "SLA compliance",
        "Share of the first sales contacts recorded in the period that came within the SAL stage's SLA in force at the time.",
        "RATIO",
        "HIGHER_IS_BETTER",
        "SALES",
        Some(0.9),
    ),
    (
        "sla_breaches",
        "SLA breaches",
        "SALs that waited longer than the SAL stage's SLA without a first contact, counted when the breach was recorded in the period.",
        "COUNT",
        "LOWER_IS_BETTER",
        "SALES",
        None,
    ),
    (
        "new_customers",
        "New customers",
        "Moves from SQL to WON in the period.",
        "COUNT",
        "HIGHER_IS_BETTER",
        "SALES",
        None,
    ),
    (
        "customer_acquisition_cost",
        "Customer acquisition cost",
        "Total spend of the campaigns in scope (by channel and campaign filter) divided by the moves to WON in the period of leads in that scope; null when the currencies differ.",
        "MONEY",
        "LOWER_IS_BETTER",
        "MARKETING",
        None,
    ),
];

const TOLERANCE: f64 = 0.1;
/// After the twelve KPIs of section 6.
const FIRST_POSITION: i32 = 13;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = now();
        let mut insert = Query::insert();
        insert.into_table(KpiDefinition::Table).columns([
            KpiDefinition::Key,
            KpiDefinition::Name,
            KpiDefinition::Description,
            KpiDefinition::Unit,
            KpiDefinition::Direction,
            KpiDefinition::Owners,
            KpiDefinition::Target,
            KpiDefinition::Tolerance,
            KpiDefinition::Position,
            KpiDefinition::UpdatedAt,
        ]);
        for (position, (key, name, description, unit, direction, owners, target)) in (FIRST_POSITION..).zip(KPIS) {
            insert
                .values([
                    key.into(),
                    name.into(),
                    description.into(),
                    unit.into(),
                    direction.into(),
                    owners.into(),
                    target.into(),
                    TOLERANCE.into(),
                    position.into(),
                    now.clone(),
                ])
                .map_err(seed_error)?;
        }
        manager.execute(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let keys = KPIS.map(|kpi| kpi.0);
        manager
            .execute(
                Query::delete()
                    .from_table(KpiDefinition::Table)
                    .and_where(Expr::col(KpiDefinition::Key).is_in(keys))
                    .take(),
            )
            .await
    }
}
