use sea_orm_migration::prelude::*;

use crate::m20261126_000004_create_stage::Stage;
use crate::{now, seed_error};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// key, name, position, team, SLA minutes, win probability percent.
type StageRow = (&'static str, &'static str, i32, &'static str, Option<i32>, i32);

/// The funnel of DESIGN.md section 1. Keys and teams are the `entity` enums' strings;
/// admins may edit everything but the key later.
const STAGES: [StageRow; 7] = [
    ("LEAD", "Lead", 1, "MARKETING", None, 2),
    ("MQL", "Marketing qualified", 2, "SALES", Some(24 * 60), 5),
    ("SAL", "Sales accepted", 3, "SALES", Some(60), 15),
    ("SQL", "Sales qualified", 4, "SALES", Some(30 * 24 * 60), 35),
    ("WON", "Won", 5, "SALES", None, 100),
    ("LOST", "Lost", 6, "SALES", None, 0),
    ("DISQUALIFIED", "Disqualified", 7, "REV_OPS", None, 0),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = now();
        let mut insert = Query::insert();
        insert.into_table(Stage::Table).columns([
            Stage::Key,
            Stage::Name,
            Stage::Position,
            Stage::Team,
            Stage::SlaMinutes,
            Stage::WinProbabilityPercent,
            Stage::UpdatedAt,
        ]);
        for (key, name, position, team, sla_minutes, win_probability) in STAGES {
            insert
                .values([
                    key.into(),
                    name.into(),
                    position.into(),
                    team.into(),
                    sla_minutes.into(),
                    win_probability.into(),
                    now.clone(),
                ])
                .map_err(seed_error)?;
        }
        manager.execute(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let keys = STAGES.map(|stage| stage.0);
        manager
            .execute(Query::delete().from_table(Stage::Table).and_where(Expr::col(Stage::Key).is_in(keys)).take())
            .await
    }
}
