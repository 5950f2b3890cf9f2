use async_graphql::{Context, ID, Object, Result};

use crate::{
    graphql::{
        context::{ContextExt, parse_id},
        cursor,
        types::account::{Account, AccountConnection, AccountFilter},
    },
    service::{self, page::PageRequest},
};

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// An account by id; null when it does not exist.
    async fn account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> Result<Option<Account>> {
        let state = ctx.state()?;
        ctx.viewer()?;
        Ok(service::account::find(&state.db, parse_id("id", &id)?).await?.map(Account))
    }

    /// Accounts sorted by name.
    #[graphql(complexity = "crate::graphql::cost::page_cost(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last account already seen.")] after: Option<String>,
        #[graphql(desc = "Conditions every account must meet.")] filter: Option<AccountFilter>,
    ) -> Result<AccountConnection> {
        let state = ctx.state()?;
        ctx.viewer()?;
        let filter = filter.unwrap_or_default().to_service()?;
        let page = PageRequest::new(first, cursor::decode_optional(cursor::ACCOUNT, after.as_deref())?)?;
        let accounts = service::account::list(&state.db, &filter, &page).await?;
        ctx.loaders()?.prefetch_for_accounts(ctx, &accounts.items).await?;
        let items = accounts
            .items
            .into_iter()
            .map(|account| (cursor::Lazy::new(cursor::ACCOUNT, (account.name.clone(), account.id)), Account(account)));
        Ok(AccountConnection::new(items, accounts.has_next_page))
    }
}
