//! Accounts and campaigns in the API.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::{account, campaign};

use super::{
    connection::connection,
    enums::Channel,
    lead::{LeadConnection, LeadFilter, LeadOrder, decode_lead_cursor, read_lead_page},
    money::Money,
    user::User,
};
use crate::{
    error::AppResult,
    graphql::context::{ContextExt, parse_optional_id},
    service::{self, page::PageRequest},
};

pub struct Account(pub account::Model);

/// A company that leads work for.
#[Object]
impl Account {
    /// Unique id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Company name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Web domain, lower-cased; unique across accounts.
    async fn domain(&self) -> Option<&str> {
        self.0.domain.as_deref()
    }

    /// Industry.
    async fn industry(&self) -> Option<&str> {
        self.0.industry.as_deref()
    }

    /// Number of employees.
    async fn employees(&self) -> Option<i32> {
        self.0.employees
    }

    /// The account executive responsible for the company.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(owner_id) = self.0.owner_id else { return Ok(None) };
        Ok(ctx.loaders()?.users.load_one(owner_id).await?.map(User))
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the account last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Lifetime value: the amounts the account's leads were won for (`closeWon`), all time,
    /// summed per currency, in currency-code order; empty until the account's first win.
    /// Like the KPIs it counts every lead of the account, also those the viewer may not see.
    /// Leads without an account count towards no account.
    async fn lifetime_value(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        let value = ctx.loaders()?.lifetime_values.load_one(self.0.id).await?.unwrap_or_default();
        Ok(value.amounts.iter().filter_map(|(amount, code)| Money::from_minor(Some(*amount), Some(code))).collect())
    }

    /// Deals won with the account's leads (moves from SQL to WON), all time.
    async fn won_deals(&self, ctx: &Context<'_>) -> Result<i32> {
        let value = ctx.loaders()?.lifetime_values.load_one(self.0.id).await?.unwrap_or_default();
        Ok(i32::try_from(value.won_deals).unwrap_or(i32::MAX))
    }

    /// The account's leads that the viewer may see.
    #[graphql(complexity = "crate::graphql::cost::page_cost(first, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last lead already seen.")] after: Option<String>,
        #[graphql(desc = "Further conditions; the account condition always applies.")] filter: Option<LeadFilter>,
        #[graphql(desc = "Sort order (default: newest first).")] order_by: Option<LeadOrder>,
    ) -> Result<LeadConnection> {
        let mut filter = filter.unwrap_or_default().to_service()?;
        filter.account_id = Some(self.0.id);
        let order = LeadOrder::to_service(order_by);
        let page = PageRequest::new(first, decode_lead_cursor(after.as_deref())?)?;
        read_lead_page(ctx, &filter, order, &page).await
    }
}

pub struct Campaign(pub campaign::Model);

/// A marketing campaign.
#[Object]
impl Campaign {
    /// Unique id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Campaign name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The channel the campaign runs in.
    async fn channel(&self) -> Channel {
        self.0.channel.into()
    }

    /// Total spend so far.
    async fn spend(&self) -> Money {
        Money {
            amount: super::money::Decimal(crate::domain::money::to_major_units(
                self.0.spend_amount,
                &self.0.currency_code,
            )),
            currency_code: self.0.currency_code.clone(),
        }
    }

    /// When the campaign was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

connection!(AccountConnection, AccountEdge, Account, "A page of accounts.", "An account in a page, with its cursor.");

/// Which accounts to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct AccountFilter {
    /// Text found in the name or domain (case-insensitive).
    pub search: Option<String>,
    /// Accounts in this industry.
    pub industry: Option<String>,
    /// Accounts owned by this user.
    pub owner_id: Option<ID>,
}

impl AccountFilter {
    pub fn to_service(&self) -> AppResult<service::account::AccountFilter> {
        Ok(service::account::AccountFilter {
            search: crate::domain::text::optional("search", self.search.as_deref(), crate::domain::text::MAX_LINE)?,
            industry: crate::domain::text::optional(
                "industry",
                self.industry.as_deref(),
                crate::domain::text::MAX_LINE,
            )?,
            owner_id: parse_optional_id("ownerId", self.owner_id.as_ref())?,
        })
    }
}
