//! Checks that generated data obeys the rules the mutations enforce, over the whole
//! database, in SQL that runs on SQLite and PostgreSQL alike. Used by the tests; it
//! depends on no other part of the crate so a scratch binary can include it as well.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{lead, lead_event, touchpoint};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder, QuerySelect, Statement, Value};
use uuid::Uuid;

/// What the data looks like, and every rule it breaks.
#[derive(Debug, Default)]
pub struct Findings {
    /// Leads per current stage.
    pub stages: BTreeMap<String, i64>,
    /// Leads that ever entered each stage by a move (LEAD: returned at least once).
    pub reached: BTreeMap<String, i64>,
    /// Stage changes per (from, to).
    pub moves: BTreeMap<(String, String), i64>,
    pub leads: i64,
    pub events: i64,
    pub touchpoints: i64,
    /// Human-readable descriptions of broken rules; empty when all hold.
    pub violations: Vec<String>,
}

/// Every rule as a query counting the rows that break it.
const RULES: &[(&str, &str)] = &[
    (
        "version equals the number of the lead's events, SLA breaches aside",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.version <> \
         (SELECT COUNT(*) FROM lead_event e WHERE e.lead_id = l.id AND e.kind <> 'SLA_BREACHED')",
    ),
    (
        "a lead's first event is its creation",
        "SELECT COUNT(*) AS n FROM lead l WHERE COALESCE((SELECT e.kind FROM lead_event e \
         WHERE e.lead_id = l.id ORDER BY e.position LIMIT 1), '') <> 'CREATED'",
    ),
    (
        "creation events go from nowhere to LEAD, unowned",
        "SELECT COUNT(*) AS n FROM lead_event WHERE kind = 'CREATED' AND \
         (from_stage IS NOT NULL OR to_stage IS NULL OR to_stage <> 'LEAD' OR owner_id IS NOT NULL)",
    ),
    (
        "one creation event per lead",
        "SELECT ABS((SELECT COUNT(*) FROM lead_event WHERE kind = 'CREATED') - (SELECT COUNT(*) FROM lead)) AS n",
    ),
    (
        "stage equals the last event's to_stage",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.stage <> (SELECT e.to_stage FROM lead_event e \
         WHERE e.lead_id = l.id AND e.to_stage IS NOT NULL ORDER BY e.position DESC LIMIT 1)",
    ),
    (
        "owner equals the last event's owner",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.owner_id IS DISTINCT FROM (SELECT e.owner_id \
         FROM lead_event e WHERE e.lead_id = l.id ORDER BY e.position DESC LIMIT 1)",
    ),
    (
        "stage_entered_at equals the time of the last move",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.stage_entered_at <> (SELECT e.occurred_at \
         FROM lead_event e WHERE e.lead_id = l.id AND e.to_stage IS NOT NULL ORDER BY e.position DESC LIMIT 1)",
    ),
    (
        "updated_at equals the time of the last event, SLA breaches aside",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.updated_at <> (SELECT e.occurred_at \
         FROM lead_event e WHERE e.lead_id = l.id AND e.kind <> 'SLA_BREACHED' ORDER BY e.position DESC LIMIT 1)",
    ),
    (
        "created_at equals the time of the creation event",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.created_at <> (SELECT e.occurred_at \
         FROM lead_event e WHERE e.lead_id = l.id ORDER BY e.position LIMIT 1)",
    ),
    (
        "every move starts where the previous one ended",
        "SELECT COUNT(*) AS n FROM (SELECT e.kind, e.from_stage, LAG(e.to_stage) OVER \
         (PARTITION BY e.lead_id ORDER BY e.position) AS prev FROM lead_event e WHERE e.to_stage IS NOT NULL) x \
         WHERE x.kind = 'STAGE_CHANGED' AND (x.prev IS NULL OR x.from_stage IS NULL OR x.from_stage <> x.prev)",
    ),
    (
        "from_stage_entered_at is the time of the previous move",
        "SELECT COUNT(*) AS n FROM (SELECT e.kind, e.from_stage_entered_at AS entered, LAG(e.occurred_at) OVER \
         (PARTITION BY e.lead_id ORDER BY e.position) AS prev FROM lead_event e WHERE e.to_stage IS NOT NULL) x \
         WHERE x.kind = 'STAGE_CHANGED' AND (x.entered IS NULL OR x.entered <> x.prev)",
    ),
    (
        "a lead's events are in time order",
        "SELECT COUNT(*) AS n FROM (SELECT e.occurred_at, LAG(e.occurred_at) OVER \
         (PARTITION BY e.lead_id ORDER BY e.position) AS prev FROM lead_event e) x WHERE x.occurred_at < x.prev",
    ),
    (
        "returns, disqualifications and losses carry a reason",
        "SELECT COUNT(*) AS n FROM lead_event WHERE kind = 'STAGE_CHANGED' \
         AND to_stage IN ('LEAD', 'DISQUALIFIED', 'LOST') AND reason_code IS NULL",
    ),
    (
        "moves to SQL and WON carry an amount with a currency",
        "SELECT COUNT(*) AS n FROM lead_event WHERE kind = 'STAGE_CHANGED' AND to_stage IN ('SQL', 'WON') \
         AND (amount IS NULL OR amount <= 0 OR currency_code IS NULL)",
    ),
    (
        "marketing stages are unowned, sales stages owned",
        "SELECT COUNT(*) AS n FROM lead WHERE (stage IN ('LEAD', 'MQL') AND owner_id IS NOT NULL) \
         OR (stage IN ('SAL', 'SQL', 'WON', 'LOST') AND owner_id IS NULL)",
    ),
    (
        "every lead in SAL or later was accepted into SAL",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.stage IN ('SAL', 'SQL', 'WON', 'LOST') AND NOT EXISTS \
         (SELECT 1 FROM lead_event e WHERE e.lead_id = l.id AND e.kind = 'STAGE_CHANGED' AND e.to_stage = 'SAL')",
    ),
    (
        "recycle_count equals the number of returns to LEAD",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.recycle_count <> (SELECT COUNT(*) FROM lead_event e \
         WHERE e.lead_id = l.id AND e.kind = 'STAGE_CHANGED' AND e.to_stage = 'LEAD')",
    ),
    (
        "one touchpoint event per touchpoint",
        "SELECT ABS((SELECT COUNT(*) FROM lead_event WHERE kind = 'TOUCHPOINT') - (SELECT COUNT(*) FROM touchpoint)) AS n",
    ),
    (
        "every touchpoint has its event at the same time",
        "SELECT COUNT(*) AS n FROM touchpoint t WHERE NOT EXISTS (SELECT 1 FROM lead_event e \
         WHERE e.lead_id = t.lead_id AND e.kind = 'TOUCHPOINT' AND e.occurred_at = t.occurred_at)",
    ),
    (
        "touchpoint events are not moves",
        "SELECT COUNT(*) AS n FROM lead_event WHERE kind = 'TOUCHPOINT' AND (from_stage IS NOT NULL OR to_stage IS NOT NULL OR detail IS NULL)",
    ),
    (
        "score is the sum of touchpoint points",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.score <> \
         (SELECT COALESCE(SUM(t.points), 0) FROM touchpoint t WHERE t.lead_id = l.id)",
    ),
    (
        "first contact is a sales touchpoint, and gone once back in marketing",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.first_contact_at IS NOT NULL AND (l.stage IN ('LEAD', 'MQL') \
         OR NOT EXISTS (SELECT 1 FROM touchpoint t WHERE t.lead_id = l.id AND t.occurred_at = l.first_contact_at \
         AND t.kind IN ('CALL', 'MEETING', 'EMAIL_SENT')))",
    ),
    (
        "a lead's SLA breach is its current SAL stay's SLA_BREACHED event",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.sla_breached_at IS DISTINCT FROM (SELECT e.occurred_at \
         FROM lead_event e WHERE e.lead_id = l.id AND e.kind = 'SLA_BREACHED' AND l.stage = 'SAL' \
         AND e.from_stage_entered_at = l.stage_entered_at)",
    ),
    (
        "events copy the lead's channel and campaign",
        "SELECT COUNT(*) AS n FROM lead_event e JOIN lead l ON l.id = e.lead_id \
         WHERE e.channel <> l.channel OR e.campaign_id IS DISTINCT FROM l.campaign_id",
    ),
    (
        "leads from SQL on carry a deal value; WON carries the won amount",
        "SELECT COUNT(*) AS n FROM lead l WHERE (l.stage IN ('SQL', 'WON', 'LOST') AND \
         (l.deal_value_amount IS NULL OR l.currency_code IS NULL)) OR (l.stage = 'WON' AND l.deal_value_amount <> \
         (SELECT e.amount FROM lead_event e WHERE e.lead_id = l.id AND e.to_stage = 'WON' ORDER BY e.position DESC LIMIT 1))",
    ),
    (
        "the lead's reason is that of its latest return, disqualification or loss",
        "SELECT COUNT(*) AS n FROM lead l WHERE l.reason_code IS DISTINCT FROM (SELECT e.reason_code \
         FROM lead_event e WHERE e.lead_id = l.id AND e.reason_code IS NOT NULL ORDER BY e.position DESC LIMIT 1)",
    ),
    ("e-mails are lower case", "SELECT COUNT(*) AS n FROM lead WHERE email <> LOWER(email)"),
];

/// The moves the transition table allows.
const LEGAL: &[(&str, &str)] = &[
    ("LEAD", "MQL"),
    ("MQL", "SAL"),
    ("MQL", "LEAD"),
    ("SAL", "LEAD"),
    ("SQL", "LEAD"),
    ("LOST", "LEAD"),
    ("LEAD", "DISQUALIFIED"),
    ("MQL", "DISQUALIFIED"),
    ("SAL", "DISQUALIFIED"),
    ("SAL", "SQL"),
    ("SQL", "WON"),
    ("SQL", "LOST"),
];

/// Runs every check; `now`, when given, must be later than every event.
pub async fn check(db: &DatabaseConnection, now: Option<DateTime<Utc>>) -> Result<Findings, DbErr> {
    let backend = db.get_database_backend();
    if backend == sea_orm::DbBackend::Postgres {
        // Fresh tables have no statistics; without them the correlated checks below
        // get nested-loop plans that take minutes at a million leads.
        db.execute_unprepared("ANALYZE").await?;
    }
    let mut findings = Findings::default();
    for (rule, sql) in RULES {
        let broken = count(db, Statement::from_string(backend, *sql)).await?;
        if broken != 0 {
            findings.violations.push(format!("{rule}: {broken} rows"));
        }
    }
    if let Some(now) = now {
        let placeholder = if backend == sea_orm::DbBackend::Postgres { "$1" } else { "?" };
        let sql = format!("SELECT COUNT(*) AS n FROM lead_event WHERE occurred_at >= {placeholder}");
        let late = count(db, Statement::from_sql_and_values(backend, sql, [Value::from(now)])).await?;
        if late != 0 {
            findings.violations.push(format!("events at or after now: {late} rows"));
        }
    }

    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT from_stage, to_stage, COUNT(*) AS n FROM lead_event WHERE kind = 'STAGE_CHANGED' GROUP BY from_stage, to_stage",
        ))
        .await?;
    for row in rows {
        let from: Option<String> = row.try_get("", "from_stage")?;
        let to: Option<String> = row.try_get("", "to_stage")?;
        let n: i64 = row.try_get("", "n")?;
        let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
        if !LEGAL.contains(&(from.as_str(), to.as_str())) {
            findings.violations.push(format!("illegal move {from} -> {to}: {n} events"));
        }
        findings.moves.insert((from, to), n);
    }
    for (sql, map) in [
        ("SELECT stage AS k, COUNT(*) AS n FROM lead GROUP BY stage", &mut findings.stages),
        (
            "SELECT to_stage AS k, COUNT(DISTINCT lead_id) AS n FROM lead_event WHERE kind = 'STAGE_CHANGED' GROUP BY to_stage",
            &mut findings.reached,
        ),
    ] {
        for row in db.query_all_raw(Statement::from_string(backend, sql)).await? {
            map.insert(row.try_get::<Option<String>>("", "k")?.unwrap_or_default(), row.try_get("", "n")?);
        }
    }
    findings.leads = count(db, Statement::from_string(backend, "SELECT COUNT(*) AS n FROM lead")).await?;
    findings.events = count(db, Statement::from_string(backend, "SELECT COUNT(*) AS n FROM lead_event")).await?;
    findings.touchpoints = count(db, Statement::from_string(backend, "SELECT COUNT(*) AS n FROM touchpoint")).await?;

    // Ids are UUID v7 from the row's own time, so they sort by creation.
    let leads = lead::Entity::find().order_by_desc(lead::Column::Id).limit(2_000).all(db).await?;
    let events = lead_event::Entity::find().order_by_desc(lead_event::Column::Position).limit(2_000).all(db).await?;
    let touchpoints = touchpoint::Entity::find().limit(2_000).all(db).await?;
    let stamps = leads
        .iter()
        .map(|l| (l.id, l.created_at))
        .chain(events.iter().map(|e| (e.id, e.occurred_at)))
        .chain(touchpoints.iter().map(|t| (t.id, t.occurred_at)));
    let mut off = 0;
    for (id, time) in stamps {
        if v7_millis(id) != Some(time.timestamp_millis()) || time.timestamp_subsec_nanos() % 1_000 != 0 {
            off += 1;
        }
    }
    if off != 0 {
        findings.violations.push(format!("ids not v7 of their own (whole-microsecond) time: {off} rows"));
    }
    Ok(findings)
}

fn v7_millis(id: Uuid) -> Option<i64> {
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    i64::try_from(secs).ok().map(|s| s * 1_000 + i64::from(nanos / 1_000_000))
}

async fn count(db: &DatabaseConnection, statement: Statement) -> Result<i64, DbErr> {
    match db.query_one_raw(statement).await? {
        Some(row) => row.try_get("", "n"),
        None => Ok(0),
    }
}
