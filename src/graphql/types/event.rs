//! Lead events in the API.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::{
    connection::connection,
    enums::{LeadEventKind, Stage, convert_all},
    lead::Lead,
    money::Money,
    stage::Reason,
    user::User,
};
use crate::{
    error::AppResult,
    events::{LogCursor, LoggedEvent},
    graphql::{
        context::{ContextExt, parse_optional_id},
        cursor,
    },
    service::{event::EventFilter, page::Page},
};

/// A lead event as the API shows it; shared, so a pushed event is decoded once for every subscriber.
pub struct LeadEvent(pub Arc<LoggedEvent>);

/// One entry of a lead's append-only history.
#[Object]
impl LeadEvent {
    /// Unique id.
    async fn id(&self) -> ID {
        ID(self.0.event.id.to_string())
    }

    /// Opaque position in the log; pass it as `after` to continue from here.
    async fn cursor(&self) -> String {
        event_cursor(&self.0)
    }

    /// What happened.
    async fn kind(&self) -> LeadEventKind {
        self.0.event.kind.into()
    }

    /// The lead it happened to; null if the viewer may no longer see it.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        let viewer = ctx.viewer()?;
        let lead = ctx.loaders()?.leads.load_one(self.0.event.lead_id).await?;
        Ok(lead.filter(|lead| viewer.can_see_lead(lead.stage, lead.owner_id)).map(Lead))
    }

    /// The stage the lead left, for stage changes.
    async fn from_stage(&self) -> Option<Stage> {
        self.0.event.from_stage.map(Into::into)
    }

    /// The stage the lead entered, for creation and stage changes.
    async fn to_stage(&self) -> Option<Stage> {
        self.0.event.to_stage.map(Into::into)
    }

    /// Seconds the lead had spent in `fromStage` when it left.
    async fn time_in_previous_stage_seconds(&self) -> Option<i64> {
        let entered = self.0.event.from_stage_entered_at?;
        Some((self.0.event.occurred_at - entered).num_seconds())
    }

    /// Who did it; null when the system did (automatic qualification, SLA checks).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor_id) = self.0.event.actor_id else { return Ok(None) };
        Ok(ctx.loaders()?.users.load_one(actor_id).await?.map(User))
    }

    /// The lead's owner after the event.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(owner_id) = self.0.event.owner_id else { return Ok(None) };
        Ok(ctx.loaders()?.users.load_one(owner_id).await?.map(User))
    }

    /// Why, for returns, disqualifications and losses.
    async fn reason(&self, ctx: &Context<'_>) -> Result<Option<Reason>> {
        let Some(code) = &self.0.event.reason_code else { return Ok(None) };
        Ok(ctx.loaders()?.reasons.load_one(code.clone()).await?.map(Reason))
    }

    /// Free text given with the reason.
    async fn note(&self) -> Option<&str> {
        self.0.event.note.as_deref()
    }

    /// Money the event moved: the deal value on becoming a SQL, the final amount when won.
    async fn amount(&self) -> Option<Money> {
        Money::from_minor(self.0.event.amount, self.0.event.currency_code.as_deref())
    }

    /// Kind-specific details: why routing chose the owner of a routed acceptance, the kind,
    /// points and new score of a touchpoint, the threshold of an automatic qualification, the
    /// SLA of a breach.
    async fn detail(&self) -> Option<async_graphql::Json<&serde_json::Value>> {
        self.0.event.detail.as_ref().map(async_graphql::Json)
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event.occurred_at
    }
}

/// The opaque cursor of an event: its place in the log, `(txid, position)`.
pub fn event_cursor(event: &LoggedEvent) -> String {
    cursor::encode(cursor::EVENT, &place_in_log(event))
}

fn lazy_event_cursor(event: &LoggedEvent) -> cursor::Lazy {
    cursor::Lazy::new(cursor::EVENT, place_in_log(event))
}

fn place_in_log(event: &LoggedEvent) -> (i64, i64) {
    let LogCursor { txid, position } = event.cursor();
    (txid, position)
}

/// Decodes an event cursor given as `after`.
pub fn decode_event_cursor(after: Option<&str>) -> AppResult<Option<LogCursor>> {
    let cursor = cursor::decode_optional::<(i64, i64)>(cursor::EVENT, after)?;
    Ok(cursor.map(|(txid, position)| LogCursor { txid, position }))
}

/// Builds an event connection from a page.
pub fn event_connection(page: Page<LoggedEvent>) -> LeadEventConnection {
    let items = page.items.into_iter().map(|event| (lazy_event_cursor(&event), LeadEvent(Arc::new(event))));
    LeadEventConnection::new(items, page.has_next_page)
}

connection!(
    LeadEventConnection,
    LeadEventEdge,
    LeadEvent,
    "A page of lead events.",
    "A lead event in a page, with its cursor."
);

/// Which events to list or receive. Every condition given must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct LeadEventFilter {
    /// Events of this lead.
    pub lead_id: Option<ID>,
    /// Events of any of these kinds.
    pub kinds: Option<Vec<LeadEventKind>>,
    /// Events that moved a lead into any of these stages.
    pub to_stages: Option<Vec<Stage>>,
    /// Events made by this user.
    pub actor_id: Option<ID>,
    /// Events at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub occurred_to: Option<DateTime<Utc>>,
}

impl LeadEventFilter {
    pub fn to_service(&self) -> AppResult<EventFilter> {
        Ok(EventFilter {
            lead_id: parse_optional_id("leadId", self.lead_id.as_ref())?,
            kinds: convert_all(self.kinds.as_ref()),
            to_stages: convert_all(self.to_stages.as_ref()),
            actor_id: parse_optional_id("actorId", self.actor_id.as_ref())?,
            occurred_from: self.occurred_from,
            occurred_to: self.occurred_to,
        })
    }
}
