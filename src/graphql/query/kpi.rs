use std::sync::Arc;

use async_graphql::{Context, Object, Result};

use crate::{
    domain::{kpi_facts::DurationMetric, time},
    graphql::{
        context::ContextExt,
        types::{
            kpi::{FunnelFilter, Kpi, KpiGroupBy, KpiPoint, KpiView, PeriodInput},
            kpi_funnel::Funnel,
        },
    },
    service::kpi::{
        definitions,
        read::{self, KpiRequest, Report},
    },
    state::AppState,
};

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// The funnel: per stage, leads in it now, entries, conversion to the next stage,
    /// drop-off and time in stage (every authenticated user).
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Half-open [from, to); the last 30 days when absent.")] period: Option<PeriodInput>,
        #[graphql(desc = "Which leads and events to count.")] filter: Option<FunnelFilter>,
        #[graphql(desc = "PERIOD (moves in the period, the default) or COHORT (leads created in it).")] view: Option<
            KpiView,
        >,
        #[graphql(desc = "Dimensions to split the answer by, into `groups`.")] group_by: Option<Vec<KpiGroupBy>>,
    ) -> Result<Funnel> {
        // Time in stage is read only when asked for: its histograms are most of the rows.
        let look = ctx.look_ahead();
        let wants_time = |stages: async_graphql::Lookahead<'_>| {
            stages.field("timeInStageMinutesMedian").exists() || stages.field("timeInStageMinutesP90").exists()
        };
        let durations = if wants_time(look.field("stages")) || wants_time(look.field("groups").field("stages")) {
            vec![DurationMetric::TimeInStage]
        } else {
            Vec::new()
        };
        let report = report(ctx, period, filter, view, group_by, durations, false).await?;
        Ok(Funnel(Arc::new(report)))
    }

    /// Every KPI with its definition, target and status (every authenticated user). The
    /// cohort view lists only the conversion KPIs it defines.
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Half-open [from, to); the last 30 days when absent.")] period: Option<PeriodInput>,
        #[graphql(desc = "Which leads and events to count.")] filter: Option<FunnelFilter>,
        #[graphql(desc = "PERIOD (moves in the period, the default) or COHORT (leads created in it).")] view: Option<
            KpiView,
        >,
        #[graphql(desc = "Dimensions to split each KPI by, into its `series`.")] group_by: Option<Vec<KpiGroupBy>>,
    ) -> Result<Vec<Kpi>> {
        let state = ctx.state()?;
        let durations = vec![DurationMetric::MqlAcceptance, DurationMetric::SpeedToLead];
        let report = report(ctx, period, filter, view, group_by, durations, true).await?;
        let view = report.request.view;
        let mut kpis = Vec::new();
        for definition in definitions::list(&state.db).await? {
            let Some(value) = report.total.kpi(&definition.key, view, &report.context) else { continue };
            let series = report
                .groups
                .iter()
                .map(|(key, tally)| KpiPoint {
                    group: key.clone(),
                    value: tally.kpi(&definition.key, view, &report.context_of(key)).unwrap_or_default(),
                    definition: definition.clone(),
                })
                .collect();
            kpis.push(Kpi { definition, value, view, series });
        }
        Ok(kpis)
    }
}

async fn report(
    ctx: &Context<'_>,
    period: Option<PeriodInput>,
    filter: Option<FunnelFilter>,
    view: Option<KpiView>,
    group_by: Option<Vec<KpiGroupBy>>,
    durations: Vec<DurationMetric>,
    customers: bool,
) -> Result<Report> {
    let state: &AppState = ctx.state()?;
    ctx.viewer()?;
    let mut request = KpiRequest::new(
        period.map(|p| (p.from, p.to)),
        time::now(),
        view.unwrap_or_default().into(),
        filter.unwrap_or_default().to_service()?,
        group_by.unwrap_or_default().into_iter().map(Into::into).collect(),
    )?;
    request.durations = durations;
    request.customers = customers;
    // Boxed: async-graphql allocates and copies every query field's future, each as large
    // as the largest resolver's, and a report's was four times any other's.
    Ok(Box::pin(read::report(&state.db, &state.kpi_cache, request)).await?)
}
