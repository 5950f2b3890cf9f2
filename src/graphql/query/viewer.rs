use async_graphql::{Context, Object, Result};

use crate::{
    error::AppError,
    graphql::{context::ContextExt, types::user::User},
};

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let viewer = ctx.viewer()?;
        let loaded = ctx.loaders()?.users.load_one(viewer.id).await?;
        Ok(User(loaded.ok_or(AppError::NotFound("user"))?))
    }
}
