//! Live lead events: every subscriber follows the one log this instance tails, from its
//! cursor when it gives one, and receives only the events it may see.

use async_graphql::{Context, Result, Subscription};
use entity::lead_event;
use futures::{Stream, stream};

use crate::{
    domain::access::Viewer,
    error::AppError,
    events::audience,
    graphql::{
        context::ContextExt,
        loaders::Loaders,
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
    async fn sal_created<'ctx>(
        &self,
        ctx: &Context<'ctx>,
        #[graphql(desc = "Cursor of the last event already received; replay starts after it.")] after: Option<String>,
    ) -> Result<impl Stream<Item = Result<LeadEvent>> + use<'ctx>> {
        live(ctx, after.as_deref(), |viewer, event| audience::is_new_sal(event) && audience::visible_to(viewer, event))
    }

    /// Every lead event the viewer may see, optionally filtered. With `after`, first replays
    /// every such event after that cursor, in log order, then continues live.
    async fn lead_events<'ctx>(
        &self,
        ctx: &Context<'ctx>,
        #[graphql(desc = "Cursor of the last event already received; replay starts after it.")] after: Option<String>,
        #[graphql(desc = "Conditions every event must meet.")] filter: Option<LeadEventFilter>,
    ) -> Result<impl Stream<Item = Result<LeadEvent>> + use<'ctx>> {
        let filter = filter.unwrap_or_default().to_service()?;
        live(ctx, after.as_deref(), move |viewer, event| {
            audience::visible_to(viewer, event) && audience::matches(&filter, event)
        })
    }
}

/// The events of the log after `after` (or from now) that `wanted` accepts for the viewer.
/// The check runs on every event as it is pushed, from the row alone.
fn live<'ctx, F>(
    ctx: &Context<'ctx>,
    after: Option<&str>,
    wanted: F,
) -> Result<impl Stream<Item = Result<LeadEvent>> + use<'ctx, F>>
where
    F: Fn(&Viewer, &lead_event::Model) -> bool + Send + Sync + 'static,
{
    let state = ctx.state()?;
    let viewer = ctx.viewer()?.clone();
    let loaders: &'ctx Loaders = ctx.data::<Loaders>().map_err(|_| AppError::internal(MissingLoaders))?;
    let follower = state.events.follow(state.db.clone(), decode_event_cursor(after)?);
    Ok(stream::unfold(Some((follower, viewer, wanted)), move |subscriber| async move {
        let (mut follower, viewer, wanted) = subscriber?;
        loop {
            match follower.next().await? {
                Ok(event) if wanted(&viewer, &event.event) => {
                    // A socket lives for hours: what its last event loaded must not be
                    // served stale to the next one, nor pile up.
                    loaders.clear();
                    return Some((Ok(LeadEvent(event)), Some((follower, viewer, wanted))));
                }
                Ok(_) => {}
                // The stream ends after reporting the failure; the client resumes from its cursor.
                Err(error) => return Some((Err(error.into()), None)),
            }
        }
    }))
}

/// The connection was set up without loaders: a wiring bug.
#[derive(Debug, thiserror::Error)]
#[error("subscription context lacks loaders")]
struct MissingLoaders;
