//! Reading and creating accounts (companies).

use std::collections::HashMap;

use entity::{account, kpi_account_value};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use uuid::Uuid;

use super::page::{Page, PageRequest, like_pattern};
use crate::{
    db::rows,
    domain::{access::Viewer, text, time},
    error::{AppError, AppResult},
};

/// Which accounts to list.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    /// Matches name or domain, case-insensitively.
    pub search: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<Uuid>,
}

/// An account as a client submits it, before validation.
#[derive(Clone, Debug, Default)]
pub struct AccountDraft {
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
}

pub async fn find(db: &DatabaseConnection, account_id: Uuid) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(account_id).one(db).await?)
}

/// Accounts by name, then id. Every role may read accounts; their leads stay filtered.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    filter: &AccountFilter,
    page: &PageRequest<(String, Uuid)>,
) -> AppResult<Page<account::Model>> {
    let mut condition = Condition::all();
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = LikeExpr::new(like_pattern(search)).escape('\\');
        condition = condition.add(
            Condition::any()
                .add(Expr::col((account::Entity, account::Column::SearchName)).like(pattern.clone()))
                .add(Expr::col((account::Entity, account::Column::Domain)).like(pattern)),
        );
    }
    if let Some(industry) = &filter.industry {
        condition = condition.add(account::Column::Industry.eq(industry.as_str()));
    }
    if let Some(owner_id) = filter.owner_id {
        condition = condition.add(account::Column::OwnerId.eq(owner_id));
    }
    if let Some((name, id)) = &page.after {
        condition = condition.add(
            Condition::any()
                .add(account::Column::Name.gt(name.as_str()))
                .add(Condition::all().add(account::Column::Name.eq(name.as_str())).add(account::Column::Id.gt(*id))),
        );
    }
    let select = account::Entity::find()
        .filter(condition)
        .order_by_asc(account::Column::Name)
        .order_by_asc(account::Column::Id)
        .limit(page.first + 1);
    let rows = rows::all(select, db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// What an account's leads have been won for, all time: the account's lifetime value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifetimeValue {
    /// Moves from SQL to WON of the account's leads.
    pub won_deals: i64,
    /// The won amounts summed per currency, in minor units, in currency-code order.
    pub amounts: Vec<(i64, String)>,
}

/// The lifetime value of each of `account_ids` that has won a deal, read from the rollup
/// that every move to WON adds to (accounts that never won are left out of the map).
pub async fn lifetime_values(
    db: &DatabaseConnection,
    account_ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, LifetimeValue>> {
    let rows = kpi_account_value::Entity::find()
        .filter(kpi_account_value::Column::AccountId.is_in(account_ids))
        .order_by_asc(kpi_account_value::Column::AccountId)
        .order_by_asc(kpi_account_value::Column::Currency)
        .all(db)
        .await?;
    let mut values: HashMap<Uuid, LifetimeValue> = HashMap::new();
    for row in rows {
        let value = values.entry(row.account_id).or_default();
        value.won_deals += row.deals;
        value.amounts.push((row.amount, row.currency));
    }
    Ok(values)
}

/// Creates an account. A domain already in use is `DUPLICATE`.
#[tracing::instrument(skip_all, fields(name = %draft.name))]
pub async fn create(db: &DatabaseConnection, viewer: &Viewer, draft: &AccountDraft) -> AppResult<account::Model> {
    if !viewer.can_create_leads() {
        return Err(AppError::Forbidden("create accounts".into()));
    }
    let name = text::required("name", &draft.name, text::MAX_LINE)?;
    let domain = text::optional("domain", draft.domain.as_deref(), 253)?.map(|d| parse_domain(&d)).transpose()?;
    let industry = text::optional("industry", draft.industry.as_deref(), text::MAX_LINE)?;
    if draft.employees.is_some_and(|n| n < 0) {
        return Err(AppError::bad_input("employees", "must not be negative"));
    }
    let now = time::now();
    let account = account::Model {
        id: Uuid::now_v7(),
        search_name: text::search_key([Some(name.as_str())]),
        name,
        domain,
        industry,
        employees: draft.employees,
        owner_id: None,
        created_at: now,
        updated_at: now,
    };
    account::Entity::insert(account::ActiveModel::from(account.clone()))
        .exec_without_returning(db)
        .await
        .map_err(AppError::from_db("an account with this domain"))?;
    Ok(account)
}

/// Lower-cases a web domain and strips a scheme or path pasted along with it.
fn parse_domain(input: &str) -> AppResult<String> {
    let lowered = input.to_lowercase();
    let without_scheme = lowered.trim_start_matches("https://").trim_start_matches("http://");
    let host = without_scheme.split('/').next().unwrap_or_default().trim_start_matches("www.");
    let valid = host.contains('.')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if valid {
        Ok(host.to_owned())
    } else {
        Err(AppError::bad_input("domain", "must be a web domain such as example.com"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised() {
        assert_eq!(parse_domain("https://www.Acme.com/about").ok(), Some("acme.com".to_owned()));
        assert!(parse_domain("acme").is_err());
        assert!(parse_domain("acme .com").is_err());
    }
}
