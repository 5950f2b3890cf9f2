use async_graphql::{Context, Object, Result};

use crate::{
    graphql::{context::ContextExt, types::stage::StageDefinition},
    service,
};

#[derive(Default)]
pub struct StageQuery;

#[Object]
impl StageQuery {
    /// Every funnel stage's settings, in funnel order.
    async fn stages(&self, ctx: &Context<'_>) -> Result<Vec<StageDefinition>> {
        let state = ctx.state()?;
        ctx.viewer()?;
        Ok(service::stage::list(&state.db).await?.into_iter().map(StageDefinition).collect())
    }
}
