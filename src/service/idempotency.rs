//! Idempotency keys: a retried mutation replays its first response instead of acting twice.

use chrono::{DateTime, Utc};
use entity::{idempotency_key, lead};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    domain::time,
    error::{AppError, AppResult},
};

/// How long keys are kept; retries within this window are recognised.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(48);

/// Longest key accepted.
const MAX_KEY_CHARS: usize = 200;

/// A client's idempotency key, with the fingerprint of the request it came with.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub user_id: Uuid,
    pub key: String,
    pub fingerprint: String,
}

impl IdempotencyKey {
    /// The key of a request from `user_id` to `mutation` with `input`, if the client sent one.
    pub fn new(user_id: Uuid, key: Option<&str>, mutation: &str, input: &impl Serialize) -> AppResult<Option<Self>> {
        let Some(key) = key else { return Ok(None) };
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
            return Err(AppError::bad_input(
                "idempotencyKey",
                format!("must be 1 to {MAX_KEY_CHARS} printable characters"),
            ));
        }
        let canonical = serde_json::to_string(&(mutation, input)).unwrap_or_default();
        let fingerprint = format!("{:x}", Sha256::digest(canonical.as_bytes()));
        Ok(Some(Self { user_id, key: key.to_owned(), fingerprint }))
    }

    /// The response stored under this key: the lead as first returned, or
    /// `IDEMPOTENCY_KEY_REUSED` when the key came with a different request.
    pub async fn replay(&self, db: &DatabaseConnection) -> AppResult<Option<lead::Model>> {
        let Some(stored) = idempotency_key::Entity::find_by_id((self.user_id, self.key.clone())).one(db).await? else {
            return Ok(None);
        };
        if stored.fingerprint != self.fingerprint {
            return Err(AppError::IdempotencyKeyReused);
        }
        let lead = serde_json::from_value(stored.response).map_err(AppError::internal)?;
        Ok(Some(lead))
    }

    /// Stores the response, in the transaction that made the change. A concurrent retry
    /// that committed first makes this insert fail, which rolls the duplicate change back.
    pub async fn store(&self, txn: &impl ConnectionTrait, response: &lead::Model) -> AppResult<()> {
        let row = idempotency_key::Model {
            user_id: self.user_id,
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            response: serde_json::to_value(response).map_err(AppError::internal)?,
            created_at: time::now(),
        };
        idempotency_key::Entity::insert(idempotency_key::ActiveModel::from(row))
            .exec_without_returning(txn)
            .await
            .map_err(AppError::from_db("this idempotency key"))?;
        Ok(())
    }
}

/// Deletes keys older than [`RETENTION`]; returns how many.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<u64> {
    let result = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(now - RETENTION))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
