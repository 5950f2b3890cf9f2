use async_graphql::{Context, ID, Object, Result};

use crate::{
    graphql::{
        context::{ContextExt, parse_id},
        types::lead::{Lead, LeadConnection, LeadFilter, LeadOrder, decode_lead_cursor, read_lead_page},
    },
    service::{self, page::PageRequest},
};

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    /// A lead by id; null when it does not exist or the viewer may not see it.
    async fn lead(&self, ctx: &Context<'_>, #[graphql(desc = "The lead's id.")] id: ID) -> Result<Option<Lead>> {
        let state = ctx.state()?;
        let (viewer, id) = (ctx.viewer()?, parse_id("id", &id)?);
        let selection = ctx.look_ahead();
        if !selection.field("account").exists() && !selection.field("owner").exists() {
            return Ok(service::lead::find(&state.db, viewer, id).await?.map(Lead));
        }
        // Joined rather than loaded after the lead: one statement instead of three.
        let Some((lead, account, owner)) = service::lead::find_with_parties(&state.db, viewer, id).await? else {
            return Ok(None);
        };
        ctx.loaders()?.feed(account, owner).await;
        Ok(Some(Lead(lead)))
    }

    /// The leads the viewer may see, filtered and sorted. Reps see the MQL queue and their own leads.
    #[graphql(complexity = "crate::graphql::cost::page_cost(first, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last lead already seen.")] after: Option<String>,
        #[graphql(desc = "Conditions every lead must meet.")] filter: Option<LeadFilter>,
        #[graphql(desc = "Sort order (default: newest first).")] order_by: Option<LeadOrder>,
    ) -> Result<LeadConnection> {
        let filter = filter.unwrap_or_default().to_service()?;
        let order = LeadOrder::to_service(order_by);
        let page = PageRequest::new(first, decode_lead_cursor(after.as_deref())?)?;
        read_lead_page(ctx, &filter, order, &page).await
    }
}
