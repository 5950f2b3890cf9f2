//! Reading and creating leads.

use std::{
    collections::{HashMap, HashSet},
    sync::OnceLock,
};

use chrono::{DateTime, Utc};
use entity::{Channel, Stage, account, campaign, lead, user};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, SelectThreeModel, SelectorTrait, Statement, Value,
    sea_query::{Expr, ExprTrait, LikeExpr, Query},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    event,
    kpi::{self, LeadChange, OnDuplicate},
    page::{Page, PageRequest, like_pattern},
};
use crate::{
    db::{
        Writer,
        rows::{self, ByPosition},
    },
    domain::{
        access::{LeadScope, Viewer},
        email::Email,
        text, time,
    },
    error::{AppError, AppResult},
    events::Events,
};

/// Which leads to list. Every condition present must hold.
#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    pub stages: Option<Vec<Stage>>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub channels: Option<Vec<Channel>>,
    pub campaign_id: Option<Uuid>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Matches name, email or company name, case-insensitively.
    pub search: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadOrderField {
    CreatedAt,
    UpdatedAt,
    Score,
    StageEnteredAt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeadOrder {
    pub field: LeadOrderField,
    pub direction: SortDirection,
}

impl Default for LeadOrder {
    fn default() -> Self {
        Self { field: LeadOrderField::CreatedAt, direction: SortDirection::Desc }
    }
}

/// Where a page of leads ends: the sort value and id of its last lead, and the ordering it
/// belongs to (a cursor from another ordering is refused rather than misread).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadCursor {
    field: LeadOrderField,
    direction: SortDirection,
    value: SortValue,
    id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum SortValue {
    Int(i64),
    Time(DateTime<Utc>),
}

impl LeadCursor {
    pub fn of(lead: &lead::Model, order: LeadOrder) -> Self {
        let value = match order.field {
            LeadOrderField::CreatedAt => SortValue::Time(lead.created_at),
            LeadOrderField::UpdatedAt => SortValue::Time(lead.updated_at),
            LeadOrderField::StageEnteredAt => SortValue::Time(lead.stage_entered_at),
            LeadOrderField::Score => SortValue::Int(i64::from(lead.score)),
        };
        Self { field: order.field, direction: order.direction, value, id: lead.id }
    }
}

/// The visibility condition for the viewer's leads, or none when they see every lead.
pub fn scope_condition(viewer: &Viewer) -> Option<Condition> {
    match viewer.lead_scope() {
        LeadScope::All => None,
        LeadScope::QueueAndOwnedBy(rep) => Some(
            Condition::any()
                .add(Expr::col((lead::Entity, lead::Column::Stage)).eq(Stage::Mql))
                .add(Expr::col((lead::Entity, lead::Column::OwnerId)).eq(rep)),
        ),
    }
}

/// The visibility condition once the stages asked for are known: a rep asking for stages
/// other than MQL sees only their own leads in them, and one asking for MQLs only sees them
/// all. Saying so plainly, rather than through an OR, lets the database use the owner index
/// (a rep's SAL inbox would otherwise scan every recent lead).
fn narrowed_scope(viewer: &Viewer, stages: Option<&[Stage]>) -> Option<Condition> {
    let LeadScope::QueueAndOwnedBy(rep) = viewer.lead_scope() else { return None };
    match stages {
        Some(stages) if !stages.contains(&Stage::Mql) => {
            Some(Condition::all().add(Expr::col((lead::Entity, lead::Column::OwnerId)).eq(rep)))
        }
        Some(stages) if stages.iter().all(|stage| *stage == Stage::Mql) => None,
        _ => scope_condition(viewer),
    }
}

/// A lead by id, if it exists and the viewer may see it.
#[tracing::instrument(skip(db, viewer))]
pub async fn find(db: &DatabaseConnection, viewer: &Viewer, lead_id: Uuid) -> AppResult<Option<lead::Model>> {
    let lead = lead::Entity::find_by_id(lead_id).one(db).await?;
    Ok(lead.filter(|lead| viewer.can_see_lead(lead.stage, lead.owner_id)))
}

/// A lead the viewer may see with its account and owner, in one statement.
pub async fn find_with_parties(
    db: &DatabaseConnection,
    viewer: &Viewer,
    lead_id: Uuid,
) -> AppResult<Option<(lead::Model, Option<account::Model>, Option<user::Model>)>> {
    let backend = db.get_database_backend();
    let statement = Statement::from_sql_and_values(backend, with_parties_sql(backend), [lead_id.into()]);
    let Some(row) = db.query_one_raw(statement).await? else { return Ok(None) };
    let (lead, account, owner) = SelectThreeModel::<
        ByPosition<lead::Model>,
        ByPosition<account::Model>,
        ByPosition<user::Model>,
    >::from_raw_query_result(row)?;
    let (lead, account, owner) = (lead.0, account.map(|a| a.0), owner.map(|o| o.0));
    Ok(viewer.can_see_lead(lead.stage, lead.owner_id).then_some((lead, account, owner)))
}

/// The text of [`find_with_parties`]'s statement, rendered once per backend: building
/// and rendering a join of three tables' columns for every point read took a twentieth of
/// its CPU time. Only the lead's id, its one parameter, changes between reads.
fn with_parties_sql(backend: DbBackend) -> String {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static SQLITE: OnceLock<String> = OnceLock::new();
    static MYSQL: OnceLock<String> = OnceLock::new();
    let rendered = match backend {
        DbBackend::Postgres => &POSTGRES,
        DbBackend::Sqlite => &SQLITE,
        _ => &MYSQL,
    };
    rendered
        .get_or_init(|| {
            lead::Entity::find_by_id(Uuid::nil())
                .find_also_related(account::Entity)
                .find_also_related(user::Entity)
                .build(backend)
                .sql
        })
        .clone()
}

/// One page of the leads the viewer may see.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: &LeadFilter,
    order: LeadOrder,
    page: &PageRequest<LeadCursor>,
) -> AppResult<Page<lead::Model>> {
    let rows = rows::all(page_select(viewer, filter, order, page)?, db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The same page, each lead with its account, joined in the page's one statement.
#[tracing::instrument(skip_all)]
pub async fn list_with_accounts(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: &LeadFilter,
    order: LeadOrder,
    page: &PageRequest<LeadCursor>,
) -> AppResult<Page<(lead::Model, Option<account::Model>)>> {
    let rows = page_select(viewer, filter, order, page)?
        .find_also_related(account::Entity)
        .into_model::<ByPosition<lead::Model>, ByPosition<account::Model>>()
        .all(db)
        .await?;
    let rows = rows.into_iter().map(|(lead, account)| (lead.0, account.map(|a| a.0))).collect();
    Ok(Page::from_overfetch(rows, page.first))
}

/// The statement that reads one page of leads (and one more, to tell whether more follow).
fn page_select(
    viewer: &Viewer,
    filter: &LeadFilter,
    order: LeadOrder,
    page: &PageRequest<LeadCursor>,
) -> AppResult<Select<lead::Entity>> {
    let mut condition = Condition::all();
    if let Some(scope) = narrowed_scope(viewer, filter.stages.as_deref()) {
        condition = condition.add(scope);
    }
    if let Some(stages) = &filter.stages {
        condition = condition.add(lead::Column::Stage.is_in(stages.iter().copied()));
    }
    if let Some(owner_id) = filter.owner_id {
        condition = condition.add(lead::Column::OwnerId.eq(owner_id));
    }
    if let Some(account_id) = filter.account_id {
        condition = condition.add(lead::Column::AccountId.eq(account_id));
    }
    if let Some(channels) = &filter.channels {
        condition = condition.add(lead::Column::Channel.is_in(channels.iter().copied()));
    }
    if let Some(campaign_id) = filter.campaign_id {
        condition = condition.add(lead::Column::CampaignId.eq(campaign_id));
    }
    if let Some(from) = filter.created_from {
        condition = condition.add(lead::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        condition = condition.add(lead::Column::CreatedAt.lt(to));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        condition = condition.add(search_condition(search));
    }
    let column = match order.field {
        LeadOrderField::CreatedAt => lead::Column::CreatedAt,
        LeadOrderField::UpdatedAt => lead::Column::UpdatedAt,
        LeadOrderField::Score => lead::Column::Score,
        LeadOrderField::StageEnteredAt => lead::Column::StageEnteredAt,
    };
    if let Some(after) = &page.after {
        if after.field != order.field || after.direction != order.direction {
            return Err(AppError::bad_input("after", "the cursor belongs to another ordering"));
        }
        let value = match after.value {
            SortValue::Int(score) => Value::from(score),
            SortValue::Time(at) => Value::from(at),
        };
        let descending = order.direction == SortDirection::Desc;
        let (beyond_value, beyond_id) = if descending {
            (column.lt(value.clone()), lead::Column::Id.lt(after.id))
        } else {
            (column.gt(value.clone()), lead::Column::Id.gt(after.id))
        };
        condition = condition
            .add(Condition::any().add(beyond_value).add(Condition::all().add(column.eq(value)).add(beyond_id)));
    }
    let sort = match order.direction {
        SortDirection::Asc => sea_orm::Order::Asc,
        SortDirection::Desc => sea_orm::Order::Desc,
    };
    Ok(lead::Entity::find()
        .filter(condition)
        .order_by(column, sort.clone())
        .order_by(lead::Column::Id, sort)
        .limit(page.first + 1))
}

fn search_condition(search: &str) -> Condition {
    let pattern = || LikeExpr::new(like_pattern(search)).escape('\\');
    let companies = Query::select()
        .column(account::Column::Id)
        .from(account::Entity)
        .and_where(Expr::col((account::Entity, account::Column::SearchName)).like(pattern()))
        .to_owned();
    Condition::any()
        .add(Expr::col((lead::Entity, lead::Column::SearchText)).like(pattern()))
        .add(lead::Column::AccountId.in_subquery(companies))
}

/// A lead as a client submits it, before validation.
#[derive(Clone, Debug, Default)]
pub struct LeadDraft {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub account_id: Option<Uuid>,
    pub channel: Option<Channel>,
    pub campaign_id: Option<Uuid>,
}

/// A validated new lead.
#[derive(Clone, Debug)]
struct NewLead {
    email: Email,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    account_id: Option<Uuid>,
    channel: Channel,
    campaign_id: Option<Uuid>,
}

impl NewLead {
    fn parse(draft: &LeadDraft) -> AppResult<Self> {
        Ok(Self {
            email: Email::parse(&draft.email).map_err(|e| AppError::bad_input("email", e.to_string()))?,
            first_name: text::optional("firstName", draft.first_name.as_deref(), text::MAX_LINE)?,
            last_name: text::optional("lastName", draft.last_name.as_deref(), text::MAX_LINE)?,
            title: text::optional("title", draft.title.as_deref(), text::MAX_LINE)?,
            account_id: draft.account_id,
            channel: draft.channel.ok_or_else(|| AppError::bad_input("channel", "is required"))?,
            campaign_id: draft.campaign_id,
        })
    }

    fn into_model(self, now: DateTime<Utc>) -> lead::Model {
        let search_text =
            text::search_key([self.first_name.as_deref(), self.last_name.as_deref(), Some(self.email.as_str())]);
        lead::Model {
            id: Uuid::now_v7(),
            search_text,
            email: self.email.into_inner(),
            first_name: self.first_name,
            last_name: self.last_name,
            title: self.title,
            account_id: self.account_id,
            channel: self.channel,
            campaign_id: self.campaign_id,
            score: 0,
            stage: Stage::Lead,
            owner_id: None,
            version: 1,
            stage_entered_at: now,
            first_contact_at: None,
            sla_breached_at: None,
            deal_value_amount: None,
            currency_code: None,
            budget: None,
            authority: None,
            need: None,
            timeline: None,
            reason_code: None,
            reason_note: None,
            recycle_count: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Creates a lead in stage LEAD and appends its `CREATED` event, in one transaction.
#[tracing::instrument(skip_all, fields(email = %draft.email))]
pub async fn create(writer: &Writer, events: &Events, viewer: &Viewer, draft: &LeadDraft) -> AppResult<lead::Model> {
    ensure_may_create(viewer)?;
    let new_lead = NewLead::parse(draft)?;
    let txn = writer.begin().await?;
    check_references(&txn, &[&new_lead]).await?;
    let lead = new_lead.into_model(time::now());
    lead::Entity::insert(lead.clone().into_active_model())
        .exec_without_returning(&txn)
        .await
        .map_err(AppError::from_db("a lead with this email"))?;
    let created = LeadChange { before: None, after: &lead, events: vec![event::created(&lead, Some(viewer.id))] };
    kpi::append(&txn, &[created], OnDuplicate::Fail).await?;
    txn.commit().await?;
    events.committed();
    Ok(lead)
}

/// Largest import accepted in one call.
pub const MAX_IMPORT_ROWS: usize = 1000;

/// What happened to one import row that was not created.
#[derive(Clone, Debug)]
pub struct ImportRowError {
    pub index: usize,
    pub error: AppError,
}

/// The outcome of an import: the leads created, in input order, and the rows refused.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub created: Vec<lead::Model>,
    pub errors: Vec<ImportRowError>,
}

/// Creates many leads. Invalid and duplicate rows are reported by index; the valid ones
/// are written in one transaction with their events: all of them or, if it fails, none.
/// (One transaction per hundred rows cost a fifth of the throughput in commits and
/// per-statement work.)
#[tracing::instrument(skip_all, fields(rows = drafts.len()))]
pub async fn import(
    writer: &Writer,
    events: &Events,
    viewer: &Viewer,
    drafts: &[LeadDraft],
) -> AppResult<ImportReport> {
    ensure_may_create(viewer)?;
    if drafts.len() > MAX_IMPORT_ROWS {
        return Err(AppError::bad_input("leads", format!("at most {MAX_IMPORT_ROWS} rows per import")));
    }
    let mut report = ImportReport::default();
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(drafts.len());
    for (index, draft) in drafts.iter().enumerate() {
        match NewLead::parse(draft) {
            Ok(lead) if !seen.insert(lead.email.clone()) => report
                .errors
                .push(ImportRowError { index, error: AppError::Duplicate("an earlier row with this email") }),
            Ok(lead) => valid.push((index, lead)),
            Err(error) => report.errors.push(ImportRowError { index, error }),
        }
    }
    if !valid.is_empty() {
        write_import(writer, events, viewer, &valid, &mut report).await?;
    }
    report.errors.sort_by_key(|e| e.index);
    Ok(report)
}

async fn write_import(
    writer: &Writer,
    events: &Events,
    viewer: &Viewer,
    rows: &[(usize, NewLead)],
    report: &mut ImportReport,
) -> AppResult<()> {
    let txn = writer.begin_alone().await?;
    let existing: HashSet<String> = lead::Entity::find()
        .select_only()
        .column(lead::Column::Email)
        .filter(lead::Column::Email.is_in(rows.iter().map(|(_, l)| l.email.as_str().to_owned())))
        .into_tuple::<String>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let missing = missing_references(&txn, rows.iter().map(|(_, l)| l)).await?;
    let now = time::now();
    let mut leads = Vec::with_capacity(rows.len());
    for (index, new_lead) in rows {
        if existing.contains(new_lead.email.as_str()) {
            report.errors.push(ImportRowError { index: *index, error: AppError::Duplicate("a lead with this email") });
        } else if let Some(error) = missing.get(&new_lead.email) {
            report.errors.push(ImportRowError { index: *index, error: error.clone() });
        } else {
            leads.push(new_lead.clone().into_model(now));
        }
    }
    if !leads.is_empty() {
        lead::Entity::insert_many(leads.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(&txn)
            .await
            .map_err(AppError::from_db("a lead with this email"))?;
        let created: Vec<LeadChange<'_>> = leads
            .iter()
            .map(|lead| LeadChange { before: None, after: lead, events: vec![event::created(lead, Some(viewer.id))] })
            .collect();
        kpi::append(&txn, &created, OnDuplicate::Fail).await?;
    }
    txn.commit().await?;
    events.committed();
    report.created.extend(leads);
    Ok(())
}

fn ensure_may_create(viewer: &Viewer) -> AppResult<()> {
    if viewer.can_create_leads() { Ok(()) } else { Err(AppError::Forbidden("create leads".into())) }
}

/// Fails on the first lead that names an account or campaign that does not exist.
async fn check_references(db: &impl ConnectionTrait, leads: &[&NewLead]) -> AppResult<()> {
    let missing = missing_references(db, leads.iter().copied()).await?;
    match missing.into_values().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// For each lead naming an unknown account or campaign, the error to report, keyed by
/// email (unique within a batch).
async fn missing_references<'a>(
    db: &impl ConnectionTrait,
    leads: impl Iterator<Item = &'a NewLead> + Clone,
) -> AppResult<HashMap<Email, AppError>> {
    let account_ids: HashSet<Uuid> = leads.clone().filter_map(|l| l.account_id).collect();
    let campaign_ids: HashSet<Uuid> = leads.clone().filter_map(|l| l.campaign_id).collect();
    let known_accounts: HashSet<Uuid> = if account_ids.is_empty() {
        HashSet::new()
    } else {
        account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::Id.is_in(account_ids))
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let known_campaigns: HashSet<Uuid> = if campaign_ids.is_empty() {
        HashSet::new()
    } else {
        campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .filter(campaign::Column::Id.is_in(campaign_ids))
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let mut missing = HashMap::new();
    for lead in leads {
        if lead.account_id.is_some_and(|id| !known_accounts.contains(&id)) {
            missing.insert(lead.email.clone(), AppError::bad_input("accountId", "no account has this id"));
        } else if lead.campaign_id.is_some_and(|id| !known_campaigns.contains(&id)) {
            missing.insert(lead.email.clone(), AppError::bad_input("campaignId", "no campaign has this id"));
        }
    }
    Ok(missing)
}
