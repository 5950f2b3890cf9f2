use sea_orm_migration::prelude::*;

use crate::m20261126_000009_create_kpi_definition::KpiDefinition;
use crate::{now, seed_error};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One KPI definition as seeded.
pub(crate) struct Kpi {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub direction: &'static str,
    pub owners: &'static str,
    pub target: Option<f64>,
}

pub(crate) const HIGHER: &str = "HIGHER_IS_BETTER";
pub(crate) const LOWER: &str = "LOWER_IS_BETTER";

/// The KPIs of DESIGN.md section 6, in display order; descriptions restate its definitions.
/// Money KPIs have no target until RevOps sets one.
const KPIS: [Kpi; 12] = [
    Kpi {
        key: "lead_to_mql_rate",
        name: "Lead to MQL rate",
        description: "Moves from LEAD to MQL divided by all moves out of LEAD in the period.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "MARKETING",
        target: Some(0.25),
    },
    Kpi {
        key: "mql_to_sal_rate",
        name: "MQL to SAL rate",
        description: "Moves from MQL to SAL divided by all moves out of MQL in the period.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: Some(0.7),
    },
    Kpi {
        key: "sal_to_sql_rate",
        name: "SAL to SQL rate",
        description: "Moves from SAL to SQL divided by all moves out of SAL in the period.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "SALES",
        target: Some(0.5),
    },
    Kpi {
        key: "win_rate",
        name: "Win rate",
        description: "Moves from SQL to WON divided by all moves out of SQL in the period.",
        unit: "RATIO",
        direction: HIGHER,
        owners: "SALES",
        target: Some(0.25),
    },
    Kpi {
        key: "sal_rejection_rate",
        name: "SAL rejection rate",
        description: "Moves from MQL or SAL to LEAD or DISQUALIFIED divided by all moves out of MQL and SAL in the period.",
        unit: "RATIO",
        direction: LOWER,
        owners: "MARKETING,SALES",
        target: Some(0.2),
    },
    Kpi {
        key: "mql_acceptance_minutes_median",
        name: "MQL acceptance time (median)",
        description: "Median, over moves from MQL to SAL in the period, of minutes between the lead entering MQL and the move.",
        unit: "MINUTES",
        direction: LOWER,
        owners: "SALES",
        target: Some(240.0),
    },
    Kpi {
        key: "speed_to_lead_minutes_median",
        name: "Speed to lead (median)",
        description: "Median minutes from a lead entering SAL to its first sales call, meeting or email, over first contacts in the period.",
        unit: "MINUTES",
        direction: LOWER,
        owners: "SALES",
        target: Some(30.0),
    },
    Kpi {
        key: "speed_to_lead_minutes_p90",
        name: "Speed to lead (90th percentile)",
        description: "90th percentile of minutes from a lead entering SAL to its first sales call, meeting or email, over first contacts in the period.",
        unit: "MINUTES",
        direction: LOWER,
        owners: "SALES",
        target: Some(120.0),
    },
    Kpi {
        key: "won_revenue",
        name: "Won revenue",
        description: "Sum of the amounts of moves from SQL to WON in the period.",
        unit: "MONEY",
        direction: HIGHER,
        owners: "SALES",
        target: None,
    },
    Kpi {
        key: "average_deal_size",
        name: "Average deal size",
        description: "Won revenue divided by the number of moves from SQL to WON in the period.",
        unit: "MONEY",
        direction: HIGHER,
        owners: "SALES",
        target: None,
    },
    Kpi {
        key: "open_pipeline",
        name: "Open pipeline",
        description: "Sum of the deal values of leads in SQL now.",
        unit: "MONEY",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: None,
    },
    Kpi {
        key: "weighted_pipeline",
        name: "Weighted pipeline",
        description: "Sum of the deal values of leads in SQL now, weighted by the SQL stage's win probability.",
        unit: "MONEY",
        direction: HIGHER,
        owners: "MARKETING,SALES",
        target: None,
    },
];

/// Relative distance from the target still counted as "at risk".
const TOLERANCE: f64 = 0.1;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        insert(manager, &KPIS, 1).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        delete(manager, &KPIS).await
    }
}

/// Seeds `kpis`, numbering their display positions from `first_position`.
pub(crate) async fn insert(manager: &SchemaManager<'_>, kpis: &[Kpi], first_position: i32) -> Result<(), DbErr> {
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
    for (position, kpi) in (first_position..).zip(kpis) {
        insert
            .values([
                kpi.key.into(),
                kpi.name.into(),
                kpi.description.into(),
                kpi.unit.into(),
                kpi.direction.into(),
                kpi.owners.into(),
                kpi.target.into(),
                TOLERANCE.into(),
                position.into(),
                now.clone(),
            ])
            .map_err(seed_error)?;
    }
    manager.execute(insert).await
}

/// Removes the definitions of `kpis`.
pub(crate) async fn delete(manager: &SchemaManager<'_>, kpis: &[Kpi]) -> Result<(), DbErr> {
    let keys: Vec<&str> = kpis.iter().map(|kpi| kpi.key).collect();
    manager
        .execute(
            Query::delete()
                .from_table(KpiDefinition::Table)
                .and_where(Expr::col(KpiDefinition::Key).is_in(keys))
                .take(),
        )
        .await
}
