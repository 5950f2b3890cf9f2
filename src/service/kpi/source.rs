//! Reading the event log for KPIs: each event with the owner the lead had before it, the
//! one piece of context [`facts`](crate::domain::kpi_facts::facts) needs beyond the row.

use chrono::{DateTime, Utc};
use entity::{Channel, LeadEventKind, Stage, lead_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement, prelude::Json, sea_query::Expr,
};
use uuid::Uuid;

use crate::domain::kpi_facts::{KpiEvent, KpiLead};

/// The owner before each return to marketing (the only kind of move that clears it), from
/// the lead's previous event; the index on (lead_id, position) makes it one seek.
const PREVIOUS_OWNER: &str = "CASE WHEN \"lead_event\".\"owner_id\" IS NULL AND \"lead_event\".\"kind\" = 'STAGE_CHANGED' \
     THEN (SELECT p.\"owner_id\" FROM \"lead_event\" p WHERE p.\"lead_id\" = \"lead_event\".\"lead_id\" \
     AND p.\"position\" < \"lead_event\".\"position\" ORDER BY p.\"position\" DESC LIMIT 1) END";

#[derive(Debug, FromQueryResult)]
struct EventRow {
    position: i64,
    lead_id: Uuid,
    kind: LeadEventKind,
    from_stage: Option<Stage>,
    to_stage: Option<Stage>,
    from_stage_entered_at: Option<DateTime<Utc>>,
    owner_id: Option<Uuid>,
    channel: Channel,
    campaign_id: Option<Uuid>,
    reason_code: Option<String>,
    amount: Option<i64>,
    currency_code: Option<String>,
    detail: Option<Json>,
    occurred_at: DateTime<Utc>,
    previous_owner_id: Option<Uuid>,
}

/// An event as the KPIs read it, with its position and the lead's owner before it.
pub struct SourcedEvent {
    pub position: i64,
    pub event: KpiEvent,
    pub previous_owner: Option<Uuid>,
}

impl From<EventRow> for SourcedEvent {
    fn from(row: EventRow) -> Self {
        Self {
            position: row.position,
            previous_owner: row.previous_owner_id,
            event: KpiEvent {
                lead_id: row.lead_id,
                kind: row.kind,
                from_stage: row.from_stage,
                to_stage: row.to_stage,
                from_stage_entered_at: row.from_stage_entered_at,
                owner_id: row.owner_id,
                channel: row.channel,
                campaign_id: row.campaign_id,
                reason_code: row.reason_code,
                amount: row.amount,
                currency_code: row.currency_code,
                detail: row.detail,
                occurred_at: row.occurred_at,
            },
        }
    }
}

fn select() -> sea_orm::Select<lead_event::Entity> {
    lead_event::Entity::find().select_only().columns([
        lead_event::Column::Position,
        lead_event::Column::LeadId,
        lead_event::Column::Kind,
        lead_event::Column::FromStage,
        lead_event::Column::ToStage,
        lead_event::Column::FromStageEnteredAt,
        lead_event::Column::OwnerId,
        lead_event::Column::Channel,
        lead_event::Column::CampaignId,
        lead_event::Column::ReasonCode,
        lead_event::Column::Amount,
        lead_event::Column::CurrencyCode,
        lead_event::Column::Detail,
        lead_event::Column::OccurredAt,
    ])
}

/// Events that occurred in [from, to), in log order, with the owner before each.
pub async fn between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SourcedEvent>, DbErr> {
    let rows = select()
        .column_as(Expr::cust(PREVIOUS_OWNER), "previous_owner_id")
        .filter(lead_event::Column::OccurredAt.gte(from))
        .filter(lead_event::Column::OccurredAt.lt(to))
        .order_by_asc(lead_event::Column::Position)
        .into_model::<EventRow>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(SourcedEvent::from).collect())
}

/// Up to `limit` events after position `after`, in log order, without the previous owner
/// (the rebuild follows each lead's owner itself as it reads the whole log in order).
pub async fn page(db: &impl ConnectionTrait, after: i64, limit: u64) -> Result<Vec<SourcedEvent>, DbErr> {
    let fields = "lead_id, kind, from_stage, to_stage, from_stage_entered_at, owner_id, channel, campaign_id, \
                  reason_code, amount, currency_code, detail, occurred_at";
    let events: Vec<(i64, KpiEvent)> = packed_page(db, "lead_event", "position", fields, after, limit).await?;
    Ok(events.into_iter().map(|(position, event)| SourcedEvent { position, event, previous_owner: None }).collect())
}

/// Up to `limit` leads after `after`, by id, as the KPIs see them.
pub async fn lead_page(db: &impl ConnectionTrait, after: Uuid, limit: u64) -> Result<Vec<KpiLead>, DbErr> {
    let fields = "id, stage, channel, campaign_id, owner_id, account_id, deal_value_amount, currency_code, created_at";
    let leads: Vec<(Uuid, KpiLead)> = packed_page(db, "lead", "id", fields, after, limit).await?;
    Ok(leads.into_iter().map(|(_, lead)| lead).collect())
}

/// Up to `limit` rows of `table` after `after` in `key` order, as `(key, fields)` pairs.
/// The database packs the page into one JSON array of `[key, [fields…]]`: the SQLite
/// driver copies every column of every row into an allocation of its own and hands rows
/// over from its connection thread one at a time, which made reading the log and the leads
/// most of a rebuild. `fields` are plain column names; ids (16-byte blobs in SQLite, which
/// JSON cannot hold) travel as hex, and JSON columns as JSON.
async fn packed_page<K, T>(
    db: &impl ConnectionTrait,
    table: &str,
    key: &str,
    fields: &str,
    after: K,
    limit: u64,
) -> Result<Vec<(K, T)>, DbErr>
where
    K: Into<sea_orm::Value> + serde::de::DeserializeOwned + Ord + Copy,
    T: serde::de::DeserializeOwned,
{
    let backend = db.get_database_backend();
    let sql = if backend == DatabaseBackend::Sqlite {
        let field = |name: &str| match name {
            "id" | "lead_id" | "owner_id" | "campaign_id" | "account_id" => format!("nullif(hex({name}), '')"),
            "detail" => "json(detail)".to_owned(),
            _ => name.to_owned(),
        };
        let fields: Vec<String> = fields.split(',').map(|name| field(name.trim())).collect();
        format!(
            "SELECT json_group_array(json_array({}, json_array({}))) AS page \
             FROM (SELECT * FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?)",
            field(key),
            fields.join(", ")
        )
    } else {
        format!(
            "SELECT CAST(json_agg(json_build_array({key}, json_build_array({fields}))) AS TEXT) AS page \
             FROM (SELECT * FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2) AS page_rows"
        )
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = Statement::from_sql_and_values(backend, sql, [after.into(), limit.into()]);
    let Some(row) = db.query_one_raw(statement).await? else { return Ok(Vec::new()) };
    let Some(page) = row.try_get::<Option<String>>("", "page")? else { return Ok(Vec::new()) };
    let mut rows: Vec<(K, T)> =
        serde_json::from_str(&page).map_err(|error| DbErr::Custom(format!("unreadable {table} page: {error}")))?;
    // An aggregate need not keep its input's order.
    rows.sort_unstable_by_key(|(key, _)| *key);
    Ok(rows)
}
