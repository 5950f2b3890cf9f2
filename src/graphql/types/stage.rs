//! Stage settings and reason codes in the API.

use async_graphql::Object;
use chrono::{DateTime, Utc};
use entity::{reason, stage};

use super::enums::{Stage, Team};

pub struct StageDefinition(pub stage::Model);

/// A funnel stage's settings. Keys and transitions are fixed; these attributes are data.
#[Object]
impl StageDefinition {
    /// The stage this row describes.
    async fn key(&self) -> Stage {
        self.0.key.into()
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Position in the funnel, from 1.
    async fn position(&self) -> i32 {
        self.0.position
    }

    /// The team that owns leads in this stage.
    async fn team(&self) -> Team {
        self.0.team.into()
    }

    /// How many minutes a lead may wait in this stage before its SLA is breached; null when there is no SLA.
    async fn sla_minutes(&self) -> Option<i32> {
        self.0.sla_minutes
    }

    /// Chance that a lead in this stage is eventually won, from 0 to 1 (used for weighted pipeline).
    async fn win_probability(&self) -> f64 {
        f64::from(self.0.win_probability_percent) / 100.0
    }

    /// When the settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct Reason(pub reason::Model);

/// A reason code for returns, disqualifications and losses.
#[Object]
impl Reason {
    /// Stable code, e.g. BAD_TIMING.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Short human label.
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// What the reason means.
    async fn description(&self) -> &str {
        &self.0.description
    }
}
