//! GraphQL enums mirroring the stored enums value for value.

use async_graphql::Enum;

/// A funnel stage. Every lead is in exactly one.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::Stage")]
pub enum Stage {
    /// Known contact, being nurtured by marketing (also where returned leads go).
    Lead,
    /// Marketing qualified: handed to sales, waiting for acceptance.
    Mql,
    /// Sales accepted: a rep owns it and must contact it now.
    Sal,
    /// Sales qualified: a real opportunity.
    Sql,
    /// Closed won.
    Won,
    /// Closed lost, with a reason.
    Lost,
    /// Not a fit, with a reason.
    Disqualified,
}

/// What a user may do.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::Role")]
pub enum Role {
    /// Everything, including users, stage settings and KPI targets.
    Admin,
    /// Creates, scores, qualifies and imports leads; reads all leads and KPIs.
    Marketing,
    /// Accepts MQLs for themself and works the leads they own.
    SalesRep,
    /// Accepts for any rep, assigns, and works every sales lead.
    SalesManager,
    /// Reads leads and KPIs, changes nothing.
    Viewer,
}

/// A team owning users and stages.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::Team")]
pub enum Team {
    /// The marketing team.
    Marketing,
    /// The sales team.
    Sales,
    /// Revenue operations.
    RevOps,
}

/// Where a lead or touchpoint came from.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::Channel")]
pub enum Channel {
    /// Unpaid search results.
    OrganicSearch,
    /// Search ads.
    PaidSearch,
    /// Unpaid social media.
    OrganicSocial,
    /// Social media ads.
    PaidSocial,
    /// Email campaigns.
    Email,
    /// Trade shows and events.
    Event,
    /// Webinars.
    Webinar,
    /// Referred by a customer or contact.
    Referral,
    /// Brought by a partner.
    Partner,
    /// Prospected by sales.
    Outbound,
    /// Came straight to us.
    Direct,
    /// Anything else.
    Other,
}

/// What a lead did, or how sales contacted it.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::TouchpointKind")]
pub enum TouchpointKind {
    /// Submitted a form.
    FormSubmission,
    /// Downloaded content.
    ContentDownload,
    /// Attended a webinar.
    Webinar,
    /// Clicked a marketing email.
    EmailClick,
    /// Viewed a page.
    PageView,
    /// Visited an event booth or session.
    EventVisit,
    /// Sales called the lead.
    Call,
    /// Sales met the lead.
    Meeting,
    /// Sales emailed the lead.
    EmailSent,
}

/// What happened to a lead.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::LeadEventKind")]
pub enum LeadEventKind {
    /// The lead was created.
    Created,
    /// The lead moved from one stage to another.
    StageChanged,
    /// The lead was given to another owner.
    Assigned,
    /// A touchpoint was recorded.
    Touchpoint,
    /// The lead waited in its stage longer than the stage's SLA.
    SlaBreached,
}

/// Sort direction.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Smallest or oldest first.
    Asc,
    /// Largest or newest first.
    #[default]
    Desc,
}

impl From<OrderDirection> for crate::service::lead::SortDirection {
    fn from(direction: OrderDirection) -> Self {
        match direction {
            OrderDirection::Asc => Self::Asc,
            OrderDirection::Desc => Self::Desc,
        }
    }
}

/// Order of an event history.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOrder {
    /// In the order they happened.
    OldestFirst,
    /// Most recent first.
    NewestFirst,
}

impl From<EventOrder> for crate::service::event::EventOrder {
    fn from(order: EventOrder) -> Self {
        match order {
            EventOrder::OldestFirst => Self::OldestFirst,
            EventOrder::NewestFirst => Self::NewestFirst,
        }
    }
}

/// Converts a list of GraphQL enum values into stored values.
pub fn convert_all<A: Copy + Into<B>, B>(values: Option<&Vec<A>>) -> Option<Vec<B>> {
    values.map(|values| values.iter().map(|&v| v.into()).collect())
}
