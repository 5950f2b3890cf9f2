//! Touchpoints in the API.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::touchpoint;

use super::{
    enums::{Channel, TouchpointKind},
    user::User,
};
use crate::graphql::context::ContextExt;

pub struct Touchpoint(pub touchpoint::Model);

/// Something a lead did, or a sales contact with it.
#[Object]
impl Touchpoint {
    /// Unique id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What happened.
    async fn kind(&self) -> TouchpointKind {
        self.0.kind.into()
    }

    /// Through which channel, when known.
    async fn channel(&self) -> Option<Channel> {
        self.0.channel.map(Into::into)
    }

    /// The user who recorded it; null for automated tracking.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor_id) = self.0.actor_id else { return Ok(None) };
        Ok(ctx.loaders()?.users.load_one(actor_id).await?.map(User))
    }

    /// Score points it added to the lead.
    async fn points(&self) -> i32 {
        self.0.points
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}
