use async_graphql::{Context, InputObject, Object, Result};

use crate::{
    graphql::{context::ContextExt, types::kpi::KpiDefinition},
    service::kpi::definitions,
};

/// A new target for a KPI.
#[derive(InputObject)]
pub struct SetKpiTargetInput {
    /// The KPI's key, e.g. `mql_to_sal_rate`.
    pub key: String,
    /// The target in the KPI's unit (a ratio, minutes, a count or currency units): finite
    /// and not negative. Null clears it.
    pub target: Option<f64>,
}

#[derive(Default)]
pub struct KpiMutation;

#[Object]
impl KpiMutation {
    /// Sets a KPI's target (ADMIN). An unknown key is NOT_FOUND.
    async fn set_kpi_target(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The KPI and its new target.")] input: SetKpiTargetInput,
    ) -> Result<KpiDefinition> {
        let state = ctx.state()?;
        let definition = definitions::set_target(&state.db, ctx.viewer()?, &input.key, input.target).await?;
        Ok(KpiDefinition(definition))
    }
}
