//! Reading a lead's touchpoints.

use entity::touchpoint;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::page::{Page, PageRequest};
use crate::error::AppResult;

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
