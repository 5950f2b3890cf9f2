//! Touchpoints: recording them (scoring, automatic qualification, first contact) and reading them.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{Channel, LeadEventKind, Stage, TouchpointKind, campaign, lead, stage, touchpoint};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    event,
    handoff::{commit_change, compare_and_set, locked_visible_lead},
    page::{Page, PageRequest},
};
use crate::{
    domain::{access::Viewer, kpi_facts::FirstContact, time},
    error::{AppError, AppResult},
    state::AppState,
};

/// A lead's touchpoints, newest first. The caller has already checked the lead is visible.
pub async fn list_for_lead(
    db: &DatabaseConnection,
    lead_id: Uuid,
    page: &PageRequest<Uuid>,
) -> AppResult<Page<touchpoint::Model>> {
    let mut query = touchpoint::Entity::find().filter(touchpoint::Column::LeadId.eq(lead_id));
    if let Some(after) = page.after {
        query = query.filter(touchpoint::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(touchpoint::Column::Id).limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// A touchpoint as a client reports it.
#[derive(Clone, Debug)]
pub struct TouchpointDraft {
    pub lead_id: Uuid,
    pub kind: TouchpointKind,
    pub occurred_at: Option<DateTime<Utc>>,
    pub channel: Option<Channel>,
    pub campaign_id: Option<Uuid>,
}

/// How far in the future a reported touchpoint may lie (clock skew), at most.
const FUTURE_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Records a touchpoint: adds its points to the lead's score, appends a `TOUCHPOINT` event,
/// and in the same transaction
/// - qualifies a LEAD whose score crosses the MQL threshold (a `STAGE_CHANGED` event by the system);
/// - marks a SAL's first sales contact when its owner calls, meets or emails it.
///
/// The lead is read locked inside the write transaction, so touchpoints arriving together
/// all count, one after the other, and exactly one of them crosses the threshold.
#[tracing::instrument(skip_all, fields(lead_id = %draft.lead_id))]
pub async fn record(state: &AppState, viewer: &Viewer, draft: &TouchpointDraft) -> AppResult<lead::Model> {
    let txn = state.writer.begin().await?;
    let before = locked_visible_lead(&txn, viewer, draft.lead_id).await?;
    if !viewer.may_record_touchpoint(draft.kind, before.owner_id) {
        return Err(AppError::Forbidden("record this kind of touchpoint on this lead".into()));
    }
    // Taken once the lead is locked, so its events' times follow the order they are written in.
    let now = time::now();
    let occurred_at = draft.occurred_at.map(time::truncate).unwrap_or(now);
    if occurred_at > now + FUTURE_TOLERANCE {
        return Err(AppError::bad_input("occurredAt", "must not be in the future"));
    }
    if let Some(campaign_id) = draft.campaign_id
        && campaign::Entity::find_by_id(campaign_id).one(&txn).await?.is_none()
    {
        return Err(AppError::bad_input("campaignId", "no campaign has this id"));
    }
    let points = state.scoring.points(draft.kind);
    let touchpoint = touchpoint::Model {
        id: Uuid::now_v7(),
        lead_id: before.id,
        kind: draft.kind,
        channel: draft.channel,
        campaign_id: draft.campaign_id,
        actor_id: Some(viewer.id),
        points,
        occurred_at,
        created_at: now,
    };
    let mut after = before.clone();
    after.score = before.score.saturating_add(points);
    after.version = before.version + 1;
    after.updated_at = now;
    let first_contact = draft.kind.is_sales_contact()
        && before.stage == Stage::Sal
        && before.owner_id == Some(viewer.id)
        && before.first_contact_at.is_none()
        && occurred_at >= before.stage_entered_at;
    let mut detail = serde_json::json!({
        "touchpointId": touchpoint.id,
        "kind": draft.kind,
        "points": points,
        "score": after.score,
        "firstContact": first_contact,
    });
    if first_contact {
        after.first_contact_at = Some(occurred_at);
        // What speed-to-lead and SLA compliance need, kept with the event so the KPIs can
        // be recomputed from the log alone.
        let sla_minutes = stage::Entity::find_by_id(Stage::Sal).one(&txn).await?.and_then(|s| s.sla_minutes);
        let contact = FirstContact { contact_at: occurred_at, sal_entered_at: before.stage_entered_at, sla_minutes };
        if let (Some(detail), Ok(serde_json::Value::Object(extra))) =
            (detail.as_object_mut(), serde_json::to_value(contact))
        {
            detail.extend(extra);
        }
    }
    let mut events = vec![event::changed(&after, LeadEventKind::Touchpoint, Some(viewer.id), Some(detail), now)];
    let qualifies = before.stage == Stage::Lead && state.scoring.crosses_threshold(before.score, after.score);
    let before_move = after.clone();
    if qualifies {
        after.stage = Stage::Mql;
        after.stage_entered_at = now;
        after.version += 1;
        let detail =
            serde_json::json!({ "automatic": true, "score": after.score, "threshold": state.scoring.mql_threshold });
        events.push(event::stage_changed(&before_move, &after, None, None, Some(detail)));
    }
    compare_and_set(&txn, &before, &after).await?;
    touchpoint::Entity::insert(touchpoint::ActiveModel::from(touchpoint)).exec_without_returning(&txn).await?;
    commit_change(state, txn, &before, &after, events, None).await?;
    Ok(after)
}
