//! The handoff mutations: each takes `input` with `leadId`, optional `expectedVersion`
//! (stale → CONFLICT) and optional `idempotencyKey` (a retry replays the first response).

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use crate::{
    domain::time,
    error::AppResult,
    graphql::{
        context::{ContextExt, parse_id, parse_optional_id},
        types::{
            enums::{Channel, TouchpointKind},
            lead::Lead,
            money::MoneyInput,
        },
    },
    service::{
        handoff::{self, Bant, MoneyInput as ServiceMoney, MoveCommand, MoveDetails, ReasonInput},
        touchpoint::{self, TouchpointDraft},
    },
};

/// Hands a LEAD to sales as an MQL.
#[derive(InputObject)]
pub struct QualifyLeadInput {
    /// The lead to qualify.
    pub lead_id: ID,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Accepts an MQL as a SAL.
#[derive(InputObject)]
pub struct AcceptLeadInput {
    /// The MQL to accept.
    pub lead_id: ID,
    /// The rep who will own it. Reps may only name themselves; managers and admins may name
    /// any active rep, or leave it out to route by round robin.
    pub owner_id: Option<ID>,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Sends an MQL, SAL, SQL or LOST lead back to marketing.
#[derive(InputObject)]
pub struct ReturnToMarketingInput {
    /// The lead to return.
    pub lead_id: ID,
    /// Why, as a reason code (e.g. BAD_TIMING).
    pub reason_code: String,
    /// Free text beside the reason.
    pub note: Option<String>,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Marks a LEAD, MQL or SAL as not a fit.
#[derive(InputObject)]
pub struct DisqualifyLeadInput {
    /// The lead to disqualify.
    pub lead_id: ID,
    /// Why, as a reason code (e.g. NOT_A_FIT).
    pub reason_code: String,
    /// Free text beside the reason.
    pub note: Option<String>,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Qualifies a SAL as a real opportunity (SQL).
#[derive(InputObject)]
pub struct ConvertToSqlInput {
    /// The SAL to convert.
    pub lead_id: ID,
    /// Expected deal value.
    pub deal_value: MoneyInput,
    /// Budget: what the buyer can spend (required).
    pub budget: Option<String>,
    /// Authority: who decides (required).
    pub authority: Option<String>,
    /// Need: the problem to solve (required).
    pub need: Option<String>,
    /// Timeline: when they will buy (required).
    pub timeline: Option<String>,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Closes a SQL as won.
#[derive(InputObject)]
pub struct CloseWonInput {
    /// The SQL to close.
    pub lead_id: ID,
    /// The final amount.
    pub amount: MoneyInput,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Closes a SQL as lost.
#[derive(InputObject)]
pub struct CloseLostInput {
    /// The SQL to close.
    pub lead_id: ID,
    /// Why, as a reason code (e.g. LOST_TO_COMPETITOR).
    pub reason_code: String,
    /// Free text beside the reason.
    pub note: Option<String>,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Gives a SAL or SQL to another rep.
#[derive(InputObject)]
pub struct AssignLeadInput {
    /// The lead to reassign.
    pub lead_id: ID,
    /// The active sales rep who will own it.
    pub owner_id: ID,
    /// The version the client last saw; a different current version is CONFLICT.
    pub expected_version: Option<i32>,
    /// Makes retries safe: the same key returns the first response and changes nothing.
    pub idempotency_key: Option<String>,
}

/// Something a lead did, or a sales contact with it.
#[derive(InputObject)]
pub struct RecordTouchpointInput {
    /// The lead it concerns.
    pub lead_id: ID,
    /// What happened.
    pub kind: TouchpointKind,
    /// When it happened (default: now); not in the future.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Through which channel.
    pub channel: Option<Channel>,
    /// The campaign behind it.
    pub campaign_id: Option<ID>,
}

fn money(input: &MoneyInput) -> ServiceMoney {
    ServiceMoney { amount: input.amount.0, currency_code: input.currency_code.clone() }
}

fn command(
    lead_id: &ID,
    expected_version: Option<i32>,
    idempotency_key: Option<String>,
    details: MoveDetails,
) -> AppResult<MoveCommand> {
    let lead_id = parse_id("leadId", lead_id)?;
    Ok(MoveCommand { lead_id, expected_version, idempotency_key, details, asked_at: time::now() })
}

#[derive(Default)]
pub struct HandoffMutation;

impl HandoffMutation {
    async fn run(&self, ctx: &Context<'_>, command: AppResult<MoveCommand>) -> Result<Lead> {
        let command = MoveCommand { asked_at: ctx.received_at(), ..command? };
        // Boxed, like the other writes here: async-graphql allocates and copies every
        // mutation field's future, each as large as the largest resolver's.
        let lead = Box::pin(handoff::move_lead(ctx.state()?, ctx.viewer()?, &command)).await?;
        Ok(Lead(lead))
    }
}

#[Object]
impl HandoffMutation {
    /// LEAD → MQL (MARKETING, ADMIN). Also happens on its own when the score crosses the MQL threshold.
    async fn qualify_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: QualifyLeadInput,
    ) -> Result<Lead> {
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, MoveDetails::Qualify))
            .await
    }

    /// MQL → SAL (SALES_REP for themself, SALES_MANAGER for any rep or by routing, ADMIN).
    async fn accept_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: AcceptLeadInput,
    ) -> Result<Lead> {
        let owner_id = parse_optional_id("ownerId", input.owner_id.as_ref())?;
        let details = MoveDetails::Accept { owner_id };
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// MQL, SAL, SQL or LOST → LEAD, with a reason (owner rep, SALES_MANAGER, ADMIN).
    async fn return_to_marketing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: ReturnToMarketingInput,
    ) -> Result<Lead> {
        let details = MoveDetails::ReturnToMarketing(ReasonInput { code: input.reason_code, note: input.note });
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// LEAD, MQL or SAL → DISQUALIFIED, with a reason (MARKETING before sales has it; owner rep or SALES_MANAGER after; ADMIN).
    async fn disqualify_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: DisqualifyLeadInput,
    ) -> Result<Lead> {
        let details = MoveDetails::Disqualify(ReasonInput { code: input.reason_code, note: input.note });
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// SAL → SQL, with BANT answers and a deal value (owner rep, SALES_MANAGER, ADMIN).
    async fn convert_to_sql(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: ConvertToSqlInput,
    ) -> Result<Lead> {
        let details = MoveDetails::ConvertToSql {
            deal_value: money(&input.deal_value),
            bant: Bant { budget: input.budget, authority: input.authority, need: input.need, timeline: input.timeline },
        };
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// SQL → WON, with the final amount (owner rep, SALES_MANAGER, ADMIN).
    async fn close_won(&self, ctx: &Context<'_>, #[graphql(desc = "The move.")] input: CloseWonInput) -> Result<Lead> {
        let details = MoveDetails::CloseWon { amount: money(&input.amount) };
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// SQL → LOST, with a reason (owner rep, SALES_MANAGER, ADMIN).
    async fn close_lost(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The move.")] input: CloseLostInput,
    ) -> Result<Lead> {
        let details = MoveDetails::CloseLost(ReasonInput { code: input.reason_code, note: input.note });
        self.run(ctx, command(&input.lead_id, input.expected_version, input.idempotency_key, details)).await
    }

    /// Gives a SAL or SQL to another active rep (SALES_MANAGER, ADMIN).
    async fn assign_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reassignment.")] input: AssignLeadInput,
    ) -> Result<Lead> {
        let lead_id = parse_id("leadId", &input.lead_id)?;
        let owner_id = parse_id("ownerId", &input.owner_id)?;
        let key = input.idempotency_key.as_deref();
        let lead =
            Box::pin(handoff::assign(ctx.state()?, ctx.viewer()?, lead_id, owner_id, input.expected_version, key))
                .await?;
        Ok(Lead(lead))
    }

    /// Records a touchpoint: marketing kinds add score points (MARKETING, ADMIN), and a lead crossing the MQL threshold
    /// becomes an MQL; sales kinds (CALL, MEETING, EMAIL_SENT) by the owner mark a SAL's first contact (owner rep,
    /// SALES_MANAGER, ADMIN).
    async fn record_touchpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The touchpoint.")] input: RecordTouchpointInput,
    ) -> Result<Lead> {
        let draft = TouchpointDraft {
            lead_id: parse_id("leadId", &input.lead_id)?,
            kind: input.kind.into(),
            occurred_at: input.occurred_at,
            channel: input.channel.map(Into::into),
            campaign_id: parse_optional_id("campaignId", input.campaign_id.as_ref())?,
        };
        Ok(Lead(Box::pin(touchpoint::record(ctx.state()?, ctx.viewer()?, &draft)).await?))
    }
}
