//! The handoff: moving leads through the funnel. Every move is one transaction that
//! compare-and-sets the lead on the version it was decided on and appends its event, so
//! concurrent moves cannot both win and no move exists without its event.

use chrono::{DateTime, Utc};
use entity::{LeadEventKind, Role, Stage, lead, lead_event, reason, setting, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    event,
    idempotency::IdempotencyKey,
    kpi::{self, LeadChange, OnDuplicate},
};
use crate::{
    db::WriteTransaction,
    domain::{
        access::Viewer,
        funnel::Move,
        money::Money,
        routing::{self, Candidate, RoutingDecision},
        text, time,
    },
    error::{AppError, AppResult},
    state::AppState,
};

/// A reason code with optional free text.
#[derive(Clone, Debug, Serialize)]
pub struct ReasonInput {
    pub code: String,
    pub note: Option<String>,
}

/// The answers a SAL needs to become a SQL.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bant {
    pub budget: Option<String>,
    pub authority: Option<String>,
    pub need: Option<String>,
    pub timeline: Option<String>,
}

/// What a move carries beyond the lead id.
#[derive(Clone, Debug, Serialize)]
pub enum MoveDetails {
    Qualify,
    Accept { owner_id: Option<Uuid> },
    ReturnToMarketing(ReasonInput),
    Disqualify(ReasonInput),
    ConvertToSql { deal_value: MoneyInput, bant: Bant },
    CloseWon { amount: MoneyInput },
    CloseLost(ReasonInput),
}

/// Money as sent, parsed only once the move is known to be allowed.
#[derive(Clone, Debug, Serialize)]
pub struct MoneyInput {
    pub amount: rust_decimal::Decimal,
    pub currency_code: String,
}

impl MoveDetails {
    pub fn kind(&self) -> Move {
        match self {
            Self::Qualify => Move::Qualify,
            Self::Accept { .. } => Move::Accept,
            Self::ReturnToMarketing(_) => Move::ReturnToMarketing,
            Self::Disqualify(_) => Move::Disqualify,
            Self::ConvertToSql { .. } => Move::ConvertToSql,
            Self::CloseWon { .. } => Move::CloseWon,
            Self::CloseLost(_) => Move::CloseLost,
        }
    }
}

/// A stage move as a client asks for it.
#[derive(Clone, Debug, Serialize)]
pub struct MoveCommand {
    pub lead_id: Uuid,
    pub expected_version: Option<i32>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    pub details: MoveDetails,
    /// When the request reached the server: what the viewer could see then decides
    /// whether a lead that has since left their sight is reported as moved on or hidden.
    #[serde(skip)]
    pub asked_at: DateTime<Utc>,
}

/// Makes a stage move, or replays it when its idempotency key was seen before.
#[tracing::instrument(skip_all, fields(lead_id = %command.lead_id, r#move = command.details.kind().mutation()))]
pub async fn move_lead(state: &AppState, viewer: &Viewer, command: &MoveCommand) -> AppResult<lead::Model> {
    let mv = command.details.kind();
    let key = IdempotencyKey::new(viewer.id, command.idempotency_key.as_deref(), mv.mutation(), command)?;
    idempotent(state, key.as_ref(), apply_move(state, viewer, command, key.as_ref())).await
}

/// Runs `attempt` unless `key` already has a stored response; if `attempt` fails while a
/// concurrent retry with the same key succeeded, answers with that retry's response (once
/// the batch of writes holding it has committed, so that it can be read).
async fn idempotent(
    state: &AppState,
    key: Option<&IdempotencyKey>,
    attempt: impl Future<Output = AppResult<lead::Model>>,
) -> AppResult<lead::Model> {
    let Some(key) = key else { return attempt.await };
    if let Some(replayed) = key.replay(&state.db).await? {
        return Ok(replayed);
    }
    match attempt.await {
        Ok(lead) => Ok(lead),
        Err(error) => {
            state.writer.flush().await?;
            match key.replay(&state.db).await? {
                Some(replayed) => Ok(replayed),
                None => Err(error),
            }
        }
    }
}

/// Decides and writes the move in one write transaction. The lead is read inside it, locked
/// (`FOR UPDATE` on PostgreSQL; SQLite's immediate transaction already holds the write lock),
/// so the decision is made on the row the write replaces: a concurrent change makes this
/// request wait and then decide on the new state, instead of failing for having looked early.
async fn apply_move(
    state: &AppState,
    viewer: &Viewer,
    command: &MoveCommand,
    key: Option<&IdempotencyKey>,
) -> AppResult<lead::Model> {
    let mv = command.details.kind();
    let asked_at = command.asked_at;
    let txn = state.writer.begin().await?;
    let before = locked_lead(&txn, command.lead_id).await?;
    if !viewer.can_see_lead(before.stage, before.owner_id) {
        // A lead that changed stage after the viewer asked (another rep accepted the MQL
        // first) was visible to them: they learn it moved on. So was one whose change has
        // not even committed (it waits in this batch of writes): the change's time is taken
        // before its commit. Anything else stays hidden.
        let moved_on = before.stage_entered_at >= asked_at || !committed(&state.db, &before).await?;
        return Err(if moved_on {
            AppError::InvalidTransition { from: before.stage, to: mv.target() }
        } else {
            AppError::NotFound("lead")
        });
    }
    if !viewer.may_attempt(mv) {
        return Err(AppError::Forbidden(format!("{} leads", verb(mv))));
    }
    let plan = Plan::validate(&txn, &command.details).await?;
    check_expected_version(command.expected_version, &before)?;
    mv.check_from(before.stage)?;
    if !viewer.may_move(mv, before.stage, before.owner_id) {
        return Err(AppError::Forbidden(format!("{} this lead", verb(mv))));
    }
    let now = time::now();
    let mut after = before.clone();
    after.stage = mv.target();
    after.stage_entered_at = now;
    // A breach belongs to the stay in SAL that ran late, which this move ends.
    after.sla_breached_at = None;
    after.updated_at = now;
    after.version = before.version + 1;
    let mut detail = None;
    let mut amount = None;
    match &plan {
        Plan::Qualify => {}
        Plan::Accept { owner_id } => {
            let (owner, routed) = accepting_owner(&txn, state.max_open_sals_per_rep, viewer, *owner_id).await?;
            after.owner_id = Some(owner);
            after.first_contact_at = None;
            detail = routed.map(|decision| serde_json::json!({ "routing": decision }));
        }
        Plan::Reason(reason) if mv == Move::ReturnToMarketing => {
            // Back in marketing's hands the lead is no opportunity: no rep, no deal, no
            // qualification. The events keep what it was.
            after.owner_id = None;
            after.first_contact_at = None;
            after.deal_value_amount = None;
            after.currency_code = None;
            after.budget = None;
            after.authority = None;
            after.need = None;
            after.timeline = None;
            after.recycle_count = before.recycle_count + 1;
            after.reason_code = Some(reason.code.clone());
            after.reason_note = reason.note.clone();
        }
        Plan::Reason(reason) => {
            after.reason_code = Some(reason.code.clone());
            after.reason_note = reason.note.clone();
        }
        Plan::ConvertToSql { deal_value, bant } => {
            after.deal_value_amount = Some(deal_value.minor_units);
            after.currency_code = Some(deal_value.currency_code.clone());
            after.budget = bant.budget.clone();
            after.authority = bant.authority.clone();
            after.need = bant.need.clone();
            after.timeline = bant.timeline.clone();
            amount = Some(deal_value.clone());
        }
        Plan::CloseWon { amount: won } => {
            after.deal_value_amount = Some(won.minor_units);
            after.currency_code = Some(won.currency_code.clone());
            amount = Some(won.clone());
        }
    }
    compare_and_set(&txn, &before, &after).await?;
    if let (Plan::Accept { .. }, Some(owner)) = (&plan, after.owner_id) {
        remember_routed_rep(&txn, owner, detail.is_some()).await?;
    }
    let event = event::stage_changed(&before, &after, Some(viewer.id), amount.as_ref(), detail);
    commit_change(state, txn, &before, &after, vec![event], key).await?;
    Ok(after)
}

/// Whether `lead`, as this transaction reads it, is what other connections read: not a
/// change still waiting for its commit.
async fn committed(db: &DatabaseConnection, lead: &lead::Model) -> AppResult<bool> {
    let version: Option<i32> =
        lead::Entity::find_by_id(lead.id).select_only().column(lead::Column::Version).into_tuple().one(db).await?;
    Ok(version == Some(lead.version))
}

/// What a move needs, checked and parsed.
enum Plan {
    Qualify,
    Accept { owner_id: Option<Uuid> },
    Reason(ReasonInput),
    ConvertToSql { deal_value: Money, bant: Bant },
    CloseWon { amount: Money },
}

impl Plan {
    async fn validate(db: &impl ConnectionTrait, details: &MoveDetails) -> AppResult<Self> {
        Ok(match details {
            MoveDetails::Qualify => Self::Qualify,
            MoveDetails::Accept { owner_id } => Self::Accept { owner_id: *owner_id },
            MoveDetails::ReturnToMarketing(reason)
            | MoveDetails::Disqualify(reason)
            | MoveDetails::CloseLost(reason) => Self::Reason(checked_reason(db, reason).await?),
            MoveDetails::ConvertToSql { deal_value, bant } => Self::ConvertToSql {
                deal_value: parse_money("dealValue", deal_value)?,
                bant: Bant {
                    budget: Some(required_answer("budget", bant.budget.as_deref())?),
                    authority: Some(required_answer("authority", bant.authority.as_deref())?),
                    need: Some(required_answer("need", bant.need.as_deref())?),
                    timeline: Some(required_answer("timeline", bant.timeline.as_deref())?),
                },
            },
            MoveDetails::CloseWon { amount } => Self::CloseWon { amount: parse_money("amount", amount)? },
        })
    }
}

fn required_answer(field: &str, value: Option<&str>) -> AppResult<String> {
    text::optional(field, value, text::MAX_NOTE)?
        .ok_or_else(|| AppError::bad_input(field, "is required to qualify a lead"))
}

fn parse_money(field: &str, money: &MoneyInput) -> AppResult<Money> {
    Money::parse(money.amount, &money.currency_code).map_err(|e| AppError::bad_input(field, e.to_string()))
}

/// A known, active reason code and a bounded note.
async fn checked_reason(db: &impl ConnectionTrait, reason: &ReasonInput) -> AppResult<ReasonInput> {
    let code = text::required("reasonCode", &reason.code, 64)?;
    let known = reason::Entity::find_by_id(code.clone()).one(db).await?.is_some_and(|r| r.active);
    if !known {
        return Err(AppError::bad_input("reasonCode", format!("{code} is not a known reason code")));
    }
    Ok(ReasonInput { code, note: text::optional("note", reason.note.as_deref(), text::MAX_NOTE)? })
}

/// The lead, read and locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL;
/// SQLite's immediate transaction already excludes other writers). The move is decided on
/// this row, so concurrent requests see each other's effects instead of failing late.
pub(super) async fn locked_lead(txn: &DatabaseTransaction, lead_id: Uuid) -> AppResult<lead::Model> {
    lead::Entity::find_by_id(lead_id).lock_exclusive().one(txn).await?.ok_or(AppError::NotFound("lead"))
}

/// [`locked_lead`], if the viewer may see it as it is now.
pub(super) async fn locked_visible_lead(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    lead_id: Uuid,
) -> AppResult<lead::Model> {
    Some(locked_lead(txn, lead_id).await?)
        .filter(|lead| viewer.can_see_lead(lead.stage, lead.owner_id))
        .ok_or(AppError::NotFound("lead"))
}

pub(super) fn check_expected_version(expected: Option<i32>, lead: &lead::Model) -> AppResult<()> {
    match expected {
        Some(expected) if expected != lead.version => Err(AppError::Conflict(format!(
            "the lead is at version {}, not {expected}; reload it and try again",
            lead.version
        ))),
        _ => Ok(()),
    }
}

/// Writes `after` only if the lead is still at `before`'s version. When another change got
/// there first, says what the client must know: the lead moved on (`INVALID_TRANSITION`
/// when the move no longer applies, `CONFLICT` otherwise).
pub(super) async fn compare_and_set(
    txn: &DatabaseTransaction,
    before: &lead::Model,
    after: &lead::Model,
) -> AppResult<()> {
    // `into_active_model` marks every column unchanged, which `set` would skip: write them all.
    let result = lead::Entity::update_many()
        .set(after.clone().into_active_model().reset_all())
        .filter(lead::Column::Id.eq(before.id))
        .filter(lead::Column::Stage.eq(before.stage))
        .filter(lead::Column::Version.eq(before.version))
        .exec(txn)
        .await?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    let current = lead::Entity::find_by_id(before.id).one(txn).await?.ok_or(AppError::NotFound("lead"))?;
    if current.stage != before.stage && before.stage != after.stage {
        return Err(AppError::InvalidTransition { from: current.stage, to: after.stage });
    }
    Err(AppError::Conflict("the lead changed while this request ran; reload it and try again".into()))
}

/// Ends a change of a lead: stores the response under the idempotency key, appends the
/// events (and their KPI rollups, last, as every move adds to the same rollup rows and holds
/// them locked from there to the commit), commits, and wakes the log tailer.
pub(super) async fn commit_change(
    state: &AppState,
    txn: WriteTransaction,
    before: &lead::Model,
    after: &lead::Model,
    events: Vec<lead_event::ActiveModel>,
    key: Option<&IdempotencyKey>,
) -> AppResult<()> {
    if let Some(key) = key {
        key.store(&txn, after).await?;
    }
    kpi::append(&txn, &[LeadChange { before: Some(before), after, events }], OnDuplicate::Fail).await?;
    txn.commit().await?;
    state.events.committed();
    Ok(())
}

/// Who will own an accepted lead, and the routing decision when routing chose.
async fn accepting_owner(
    txn: &DatabaseTransaction,
    capacity: u64,
    viewer: &Viewer,
    requested: Option<Uuid>,
) -> AppResult<(Uuid, Option<RoutingDecision>)> {
    match (viewer.role, requested) {
        (Role::SalesRep, None) => Ok((viewer.id, None)),
        (Role::SalesRep, Some(owner)) if owner == viewer.id => Ok((viewer.id, None)),
        (Role::SalesRep, Some(_)) => Err(AppError::Forbidden("accept leads for another rep".into())),
        (_, Some(owner)) => {
            ensure_active_rep(txn, owner, "ownerId").await?;
            Ok((owner, None))
        }
        (_, None) => {
            let decision = route(txn, capacity).await?;
            Ok((decision.rep_id, Some(decision)))
        }
    }
}

/// Refuses anyone but an active sales rep as a lead's owner.
pub(super) async fn ensure_active_rep(db: &impl ConnectionTrait, user_id: Uuid, field: &str) -> AppResult<()> {
    let user = user::Entity::find_by_id(user_id).one(db).await?;
    match user {
        Some(user) if user.active && user.role == Role::SalesRep => Ok(()),
        _ => Err(AppError::bad_input(field, "is not an active sales rep")),
    }
}

const ROUTING_CURSOR: &str = "routing_last_rep";

/// Round robin over active reps, skipping those at capacity. Routing decisions take turns:
/// the cursor row stays locked until the transaction ends, so two concurrent decisions
/// cannot both count the same free slot (SQLite's write lock already serializes them).
async fn route(db: &DatabaseTransaction, capacity: u64) -> AppResult<RoutingDecision> {
    let cursor = setting::ActiveModel {
        key: Set(ROUTING_CURSOR.to_owned()),
        value: Set(String::new()),
        updated_at: Set(time::now()),
    };
    setting::Entity::insert(cursor)
        .on_conflict(sea_orm::sea_query::OnConflict::column(setting::Column::Key).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    let previous = setting::Entity::find_by_id(ROUTING_CURSOR)
        .lock_exclusive()
        .one(db)
        .await?
        .and_then(|row| Uuid::parse_str(&row.value).ok());
    let reps: Vec<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(Role::SalesRep))
        .filter(user::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut reps = reps;
    reps.sort_unstable();
    let loads: Vec<(Uuid, i64)> = lead::Entity::find()
        .select_only()
        .column(lead::Column::OwnerId)
        .column_as(lead::Column::Id.count(), "open_sals")
        .filter(lead::Column::Stage.eq(Stage::Sal))
        .filter(lead::Column::OwnerId.is_in(reps.iter().copied()))
        .group_by(lead::Column::OwnerId)
        .into_tuple()
        .all(db)
        .await?;
    let candidates: Vec<Candidate> = reps
        .iter()
        .map(|&rep_id| Candidate {
            rep_id,
            open_sals: loads.iter().find(|(id, _)| *id == rep_id).map_or(0, |(_, n)| *n as u64),
        })
        .collect();
    routing::next_rep(&candidates, previous, capacity)
        .ok_or_else(|| AppError::Conflict("no active sales rep has room for another SAL; name an owner".into()))
}

/// Moves the round-robin cursor to the rep routing just chose.
async fn remember_routed_rep(txn: &DatabaseTransaction, rep: Uuid, routed: bool) -> AppResult<()> {
    if !routed {
        return Ok(());
    }
    let row = setting::ActiveModel {
        key: Set(ROUTING_CURSOR.to_owned()),
        value: Set(rep.to_string()),
        updated_at: Set(time::now()),
    };
    setting::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(setting::Column::Key)
                .update_columns([setting::Column::Value, setting::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

fn verb(mv: Move) -> &'static str {
    match mv {
        Move::Qualify => "qualify",
        Move::Accept => "accept",
        Move::ReturnToMarketing => "return",
        Move::Disqualify => "disqualify",
        Move::ConvertToSql => "convert",
        Move::CloseWon | Move::CloseLost => "close",
    }
}

/// Gives a SAL or SQL to another rep (managers and admins).
#[tracing::instrument(skip(state, viewer))]
pub async fn assign(
    state: &AppState,
    viewer: &Viewer,
    lead_id: Uuid,
    owner_id: Uuid,
    expected_version: Option<i32>,
    idempotency_key: Option<&str>,
) -> AppResult<lead::Model> {
    #[derive(Serialize)]
    struct Input {
        lead_id: Uuid,
        owner_id: Uuid,
        expected_version: Option<i32>,
    }
    let input = Input { lead_id, owner_id, expected_version };
    let key = IdempotencyKey::new(viewer.id, idempotency_key, "assignLead", &input)?;
    let attempt = async {
        let txn = state.writer.begin().await?;
        let before = locked_visible_lead(&txn, viewer, lead_id).await?;
        if !viewer.may_assign() {
            return Err(AppError::Forbidden("assign leads".into()));
        }
        ensure_active_rep(&txn, owner_id, "ownerId").await?;
        check_expected_version(expected_version, &before)?;
        if !matches!(before.stage, Stage::Sal | Stage::Sql) {
            return Err(AppError::bad_input("leadId", "only SAL and SQL leads have a rep to reassign"));
        }
        if before.owner_id == Some(owner_id) {
            return Ok(before);
        }
        let now = time::now();
        let mut after = before.clone();
        after.owner_id = Some(owner_id);
        after.version = before.version + 1;
        after.updated_at = now;
        compare_and_set(&txn, &before, &after).await?;
        let detail = serde_json::json!({ "previousOwnerId": before.owner_id });
        let event = event::changed(&after, LeadEventKind::Assigned, Some(viewer.id), Some(detail), now);
        commit_change(state, txn, &before, &after, vec![event], key.as_ref()).await?;
        Ok(after)
    };
    idempotent(state, key.as_ref(), attempt).await
}
