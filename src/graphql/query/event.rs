use async_graphql::{Context, Object, Result};

use crate::{
    graphql::{
        context::ContextExt,
        types::{
            enums::EventOrder,
            event::{LeadEventConnection, LeadEventFilter, decode_event_cursor, event_connection},
        },
    },
    service::{self, page::PageRequest},
};

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The event log, for the leads the viewer may see.
    #[graphql(complexity = "crate::graphql::cost::page_cost(first, child_complexity)")]
    async fn lead_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last event already seen.")] after: Option<String>,
        #[graphql(desc = "Conditions every event must meet.")] filter: Option<LeadEventFilter>,
        #[graphql(desc = "Newest first (default) or oldest first.")] order: Option<EventOrder>,
    ) -> Result<LeadEventConnection> {
        let state = ctx.state()?;
        let filter = filter.unwrap_or_default().to_service()?;
        let page = PageRequest::new(first, decode_event_cursor(after.as_deref())?)?;
        let order = order.unwrap_or(EventOrder::NewestFirst).into();
        let events = service::event::list(&state.db, ctx.viewer()?, &filter, order, &page).await?;
        ctx.loaders()?.prefetch_for_events(ctx, &events.items).await?;
        Ok(event_connection(events))
    }
}
