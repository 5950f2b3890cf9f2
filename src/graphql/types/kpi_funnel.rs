//! The funnel in the API: each stage's numbers, rejections by reason, and split answers.

use std::sync::Arc;

use async_graphql::{Object, SimpleObject};

use super::{
    enums::Stage,
    kpi::{KpiGroup, KpiView, Period},
};
use crate::{
    domain::kpi_tally::{self, StageNumbers, Tally, View},
    service::kpi::read::Report,
};

/// One stage of the funnel.
#[derive(SimpleObject, Clone, Debug)]
pub struct FunnelStage {
    /// The stage.
    pub stage: Stage,
    /// Leads in the stage now (the period does not apply; in the cohort view, leads of the cohort).
    pub current: i64,
    /// Moves into the stage in the period (for LEAD: creations plus returns); in the cohort
    /// view, leads of the cohort that ever reached it.
    pub entered: i64,
    /// Moves out of the stage in the period (period view only).
    pub exited: Option<i64>,
    /// Moves from this stage to the next ÷ all moves out of it (cohort view: leads that
    /// reached the next stage ÷ leads that reached this one); null with nothing to divide by
    /// and for stages without a next one.
    pub conversion_to_next: Option<f64>,
    /// 1 − `conversionToNext`: the share that did not go on to the next stage.
    pub drop_off: Option<f64>,
    /// Median minutes spent in the stage, over moves out of it in the period (within 4.9%).
    pub time_in_stage_minutes_median: Option<f64>,
    /// 90th percentile of minutes spent in the stage, over moves out of it (within 4.9%).
    pub time_in_stage_minutes_p90: Option<f64>,
}

impl From<StageNumbers> for FunnelStage {
    fn from(n: StageNumbers) -> Self {
        Self {
            stage: n.stage.into(),
            current: n.current,
            entered: n.entered,
            exited: n.exited,
            conversion_to_next: n.conversion_to_next,
            drop_off: n.drop_off,
            time_in_stage_minutes_median: n.time_in_stage_median_minutes,
            time_in_stage_minutes_p90: n.time_in_stage_p90_minutes,
        }
    }
}

/// Rejections (moves from MQL or SAL back to LEAD or to DISQUALIFIED) with one reason.
#[derive(SimpleObject, Clone, Debug)]
pub struct RejectionReason {
    /// The reason code.
    pub reason_code: String,
    /// How many rejections gave it.
    pub count: i64,
    /// Those rejections ÷ all moves out of MQL and SAL.
    pub rate: Option<f64>,
}

fn stages(tally: &Tally, view: View) -> Vec<FunnelStage> {
    kpi_tally::funnel(tally, view).into_iter().map(Into::into).collect()
}

/// The funnel for a period and filter.
pub struct Funnel(pub Arc<Report>);

#[Object]
impl Funnel {
    /// The view the numbers were computed in.
    async fn view(&self) -> KpiView {
        self.0.request.view.into()
    }

    /// The period the numbers cover.
    async fn period(&self) -> Period {
        Period { from: self.0.request.from, to: self.0.request.to }
    }

    /// One entry per stage, in funnel order.
    async fn stages(&self) -> Vec<FunnelStage> {
        stages(&self.0.total, self.0.request.view)
    }

    /// SAL rejections by reason, most frequent first (period view only).
    async fn rejections_by_reason(&self) -> Vec<RejectionReason> {
        if self.0.request.view == View::Cohort {
            return Vec::new();
        }
        let exits = self.0.total.handoff_exits();
        let mut reasons: Vec<RejectionReason> = self
            .0
            .total
            .rejections_by_reason()
            .into_iter()
            .map(|(reason_code, count)| RejectionReason {
                reason_code,
                count,
                rate: crate::domain::kpi::ratio(count, exits),
            })
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason_code.cmp(&b.reason_code)));
        reasons
    }

    /// The funnel per group, when `groupBy` was given.
    async fn groups(&self) -> Vec<FunnelGroup> {
        self.0
            .groups
            .iter()
            .map(|(key, tally)| FunnelGroup {
                group: KpiGroup(key.clone()),
                stages: stages(tally, self.0.request.view),
            })
            .collect()
    }
}

/// The funnel of one group.
#[derive(SimpleObject)]
pub struct FunnelGroup {
    /// Which group this is.
    pub group: KpiGroup,
    /// One entry per stage, in funnel order.
    pub stages: Vec<FunnelStage>,
}
