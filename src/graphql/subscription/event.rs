//! Live lead events. Every subscriber follows the one log this instance tails, from its
//! cursor when it gives one, and receives only the events it may see; the socket drives the
//! following (see [`super::feed`]), so these resolvers only say what is wanted.

use std::sync::Arc;

use async_graphql::{Context, Result, Subscription};
use futures::{Stream, StreamExt, stream};

use super::feed::{Feed, Mode, Wanted};
use crate::{
    error::AppError,
    events::audience,
    graphql::{
        context::ContextExt,
        types::event::{LeadEvent, LeadEventFilter, decode_event_cursor},
    },
};

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// New SALs the viewer may see: a rep's own; every SAL for managers, admins, marketing
    /// and viewers. With `after`, first replays every such SAL after that cursor, in log
    /// order, then continues live: a client that reconnects with its last cursor misses none.
    async fn sal_created(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Cursor of the last event already received; replay starts after it.")] after: Option<String>,
    ) -> Result<impl Stream<Item = Result<LeadEvent>> + use<>> {
        feed(
            ctx,
            after.as_deref(),
            Arc::new(|viewer, event| audience::is_new_sal(event) && audience::visible_to(viewer, event)),
        )
    }

    /// Every lead event the viewer may see, optionally filtered. With `after`, first replays
    /// every such event after that cursor, in log order, then continues live.
    async fn lead_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Cursor of the last event already received; replay starts after it.")] after: Option<String>,
        #[graphql(desc = "Conditions every event must meet.")] filter: Option<LeadEventFilter>,
    ) -> Result<impl Stream<Item = Result<LeadEvent>> + use<>> {
        let filter = filter.unwrap_or_default().to_service()?;
        feed(
            ctx,
            after.as_deref(),
            Arc::new(move |viewer, event| audience::visible_to(viewer, event) && audience::matches(&filter, event)),
        )
    }
}

/// Describes the feed (planning) or yields the one event being rendered.
fn feed(
    ctx: &Context<'_>,
    after: Option<&str>,
    wanted: Wanted,
) -> Result<impl Stream<Item = Result<LeadEvent>> + use<>> {
    ctx.viewer()?;
    match ctx.data::<Mode>().map_err(|_| AppError::internal(MissingMode))? {
        Mode::Plan(slot) => {
            let feed = Feed { after: decode_event_cursor(after)?, wanted };
            slot.set(feed).map_err(|_| AppError::bad_input("query", "must subscribe to one field"))?;
            Ok(stream::empty().boxed())
        }
        Mode::Render(event) => Ok(stream::once(futures::future::ready(Ok(LeadEvent(Arc::clone(event))))).boxed()),
    }
}

/// The subscription was run without saying how: only the WebSocket endpoint runs them.
#[derive(Debug, thiserror::Error)]
#[error("subscription run outside the WebSocket endpoint")]
struct MissingMode;
