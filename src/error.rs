//! One error type for every request path, each variant with a stable `extensions.code`.
//! Internal causes are logged where the error leaves the server and never sent.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts any
//! `Display` type into an error by its text alone, which would silently drop the code.
//! Without it, `?` in a resolver goes through [`From<AppError>`] below and keeps it.

use std::sync::Arc;

use async_graphql::ErrorExtensions;
use entity::Stage;

use crate::domain::funnel::stage_key;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// An error a client can act on, or an internal one it can only report.
#[derive(Clone, Debug)]
pub enum AppError {
    Unauthenticated(&'static str),
    Forbidden(String),
    NotFound(&'static str),
    BadUserInput { field: String, message: String },
    InvalidTransition { from: Stage, to: Stage },
    Conflict(String),
    Duplicate(&'static str),
    IdempotencyKeyReused,
    QueryTooComplex(String),
    RateLimited { retry_after_secs: u64 },
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput { field: field.into(), message: message.into() }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Arc::new(error))
    }

    /// What went wrong, for the client. Internal errors say no more than that.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(reason) => format!("authentication required: {reason}"),
            Self::Forbidden(action) => format!("you are not allowed to {action}"),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadUserInput { field, message } => format!("invalid {field}: {message}"),
            Self::InvalidTransition { from, to } => {
                format!("a lead cannot move from {} to {}", stage_key(*from), stage_key(*to))
            }
            Self::Conflict(message) => message.clone(),
            Self::Duplicate(what) => format!("{what} already exists"),
            Self::IdempotencyKeyReused => "this idempotency key was already used with a different request".to_owned(),
            Self::QueryTooComplex(reason) => format!("query too complex: {reason}"),
            Self::RateLimited { retry_after_secs } => format!("too many requests; retry in {retry_after_secs} s"),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::Conflict(_) => "CONFLICT",
            Self::Duplicate(_) => "DUPLICATE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Maps a database error, turning a unique-constraint violation into `DUPLICATE` of `what`.
    pub fn from_db(what: &'static str) -> impl FnOnce(DbErr) -> Self {
        move |error| match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Duplicate(what),
            _ => Self::from(error),
        }
    }
}

impl From<DbErr> for AppError {
    /// A statement PostgreSQL failed to break a deadlock or keep transactions serializable
    /// is no fault of the request: it collided with a concurrent write, and retrying it
    /// succeeds. Any other database error is internal.
    fn from(error: DbErr) -> Self {
        if matches!(sqlstate(&error).as_deref(), Some("40P01" | "40001")) {
            return Self::Conflict("the write collided with a concurrent one; try again".into());
        }
        Self::internal(error)
    }
}

/// The SQLSTATE code of a database's error.
fn sqlstate(error: &DbErr) -> Option<String> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            error.as_database_error().and_then(|error| error.code()).map(|code| code.into_owned())
        }
        _ => None,
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let Self::Internal(source) = self {
            tracing::error!(error = %source, "internal error");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            match self {
                Self::BadUserInput { field, .. } => extensions.set("field", field.as_str()),
                Self::InvalidTransition { from, to } => {
                    extensions.set("from", stage_key(*from));
                    extensions.set("to", stage_key(*to));
                }
                Self::RateLimited { retry_after_secs } => extensions.set("retryAfter", *retry_after_secs),
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.extend()
    }
}

pub type AppResult<T> = Result<T, AppError>;
