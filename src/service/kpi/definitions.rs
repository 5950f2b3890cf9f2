//! KPI definitions and their targets.

use entity::{Role, kpi_definition};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel, QueryOrder};

use crate::{
    domain::{access::Viewer, text, time},
    error::{AppError, AppResult},
};

/// Every KPI definition, in display order.
pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<kpi_definition::Model>> {
    Ok(kpi_definition::Entity::find().order_by_asc(kpi_definition::Column::Position).all(db).await?)
}

/// Sets (or, with none, clears) a KPI's target. Admins only; the target must be a finite,
/// non-negative number in the KPI's unit.
#[tracing::instrument(skip(db, viewer))]
pub async fn set_target(
    db: &DatabaseConnection,
    viewer: &Viewer,
    key: &str,
    target: Option<f64>,
) -> AppResult<kpi_definition::Model> {
    if viewer.role != Role::Admin {
        return Err(AppError::Forbidden("set KPI targets".into()));
    }
    let key = text::required("key", key, 64)?;
    if let Some(target) = target
        && (!target.is_finite() || target < 0.0)
    {
        return Err(AppError::bad_input("target", "must be a finite number, zero or more"));
    }
    let definition = kpi_definition::Entity::find_by_id(key).one(db).await?.ok_or(AppError::NotFound("KPI"))?;
    let mut row = definition.into_active_model();
    row.target = Set(target);
    row.updated_at = Set(time::now());
    Ok(row.update(db).await?)
}
