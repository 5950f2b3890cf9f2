use async_graphql::{Context, InputObject, Object, Result};

use crate::{
    graphql::{context::ContextExt, types::account::Account},
    service::{self, account::AccountDraft},
};

/// A new account.
#[derive(InputObject)]
pub struct CreateAccountInput {
    /// Company name.
    pub name: String,
    /// Web domain, e.g. example.com; unique across accounts.
    pub domain: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Number of employees.
    pub employees: Option<i32>,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates an account (MARKETING, ADMIN). A domain already in use is DUPLICATE.
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account to create.")] input: CreateAccountInput,
    ) -> Result<Account> {
        let state = ctx.state()?;
        let draft = AccountDraft {
            name: input.name,
            domain: input.domain,
            industry: input.industry,
            employees: input.employees,
        };
        Ok(Account(service::account::create(&state.db, ctx.viewer()?, &draft).await?))
    }
}
