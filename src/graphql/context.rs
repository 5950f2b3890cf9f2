//! Small accessors so resolvers read state, viewer and loaders without unwraps.

use async_graphql::{Context, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::loaders::Loaders;
use crate::{
    domain::{access::Viewer, time},
    error::{AppError, AppResult},
    state::AppState,
};

/// The context data the server attaches was missing: a wiring bug, reported as INTERNAL.
#[derive(Debug, thiserror::Error)]
#[error("request context lacks {0}")]
struct MissingContext(&'static str);

/// When the HTTP request reached the server.
#[derive(Clone, Copy, Debug)]
pub struct ReceivedAt(pub DateTime<Utc>);

pub trait ContextExt {
    fn state(&self) -> AppResult<&AppState>;
    fn viewer(&self) -> AppResult<&Viewer>;
    fn loaders(&self) -> AppResult<&Loaders>;
    /// When the request reached the server (now, for requests that did not come over HTTP).
    fn received_at(&self) -> DateTime<Utc>;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> AppResult<&AppState> {
        self.data::<AppState>().map_err(|_| AppError::internal(MissingContext("state")))
    }

    fn viewer(&self) -> AppResult<&Viewer> {
        self.data::<Viewer>().map_err(|_| AppError::Unauthenticated("send a token as `Authorization: Bearer <jwt>`"))
    }

    fn loaders(&self) -> AppResult<&Loaders> {
        self.data::<Loaders>().map_err(|_| AppError::internal(MissingContext("loaders")))
    }

    fn received_at(&self) -> DateTime<Utc> {
        self.data::<ReceivedAt>().map_or_else(|_| time::now(), |received| received.0)
    }
}

/// Parses a client-supplied ID; a malformed one is `BAD_USER_INPUT` naming the field.
pub fn parse_id(field: &str, id: &ID) -> AppResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(field, "is not a valid id"))
}

/// Parses an optional client-supplied ID.
pub fn parse_optional_id(field: &str, id: Option<&ID>) -> AppResult<Option<Uuid>> {
    id.map(|id| parse_id(field, id)).transpose()
}
