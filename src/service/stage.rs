//! The per-stage settings table.

use entity::stage;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

use crate::error::AppResult;

/// Every stage's settings, in funnel order.
pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<stage::Model>> {
    Ok(stage::Entity::find().order_by_asc(stage::Column::Position).all(db).await?)
}
