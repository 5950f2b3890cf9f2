//! How a subscription runs. The socket asks the schema once what a subscription wants (its
//! [`Feed`]: from which cursor, which events), follows the log itself, and has every wanted
//! event rendered by the schema, once per distinct query and audience (see [`super::render`]).
//! The resolvers therefore answer in one of two [`Mode`]s and never hold a stream themselves.

use std::sync::{Arc, OnceLock};

use async_graphql::{Request, ServerError};
use entity::lead_event;
use futures::StreamExt;

use crate::{
    domain::access::Viewer,
    error::AppError,
    events::{LogCursor, LoggedEvent},
    graphql::BatonSchema,
};

/// Whether an event is one the subscription wants, for this viewer; decided from the row alone.
pub type Wanted = Arc<dyn Fn(&Viewer, &lead_event::Model) -> bool + Send + Sync>;

/// What one subscription follows.
#[derive(Clone)]
pub struct Feed {
    /// Replay starts after this cursor; `None` follows from now on.
    pub after: Option<LogCursor>,
    pub wanted: Wanted,
}

/// Context data telling the subscription resolvers what is asked of them.
#[derive(Clone)]
pub enum Mode {
    /// Describe the feed into the slot, and yield nothing.
    Plan(Arc<OnceLock<Feed>>),
    /// Yield this one event, already known to be wanted.
    Render(Arc<LoggedEvent>),
}

/// Validates a subscription request for `viewer` and returns what it follows, or the errors
/// a client should see (syntax, validation, arguments such as a malformed cursor).
pub async fn plan(schema: &BatonSchema, request: Request, viewer: &Viewer) -> Result<Feed, Vec<ServerError>> {
    let slot = Arc::new(OnceLock::new());
    let request = request.data(viewer.clone()).data(Mode::Plan(Arc::clone(&slot)));
    let errors: Vec<ServerError> =
        schema.execute_stream(request).flat_map(|response| futures::stream::iter(response.errors)).collect().await;
    if !errors.is_empty() {
        return Err(errors);
    }
    slot.get().cloned().ok_or_else(|| vec![server_error(AppError::bad_input("query", "is not a subscription"))])
}

/// An [`AppError`] as a GraphQL error with its code.
pub fn server_error(error: AppError) -> ServerError {
    let error = async_graphql::ErrorExtensions::extend(&error);
    ServerError {
        message: error.message,
        source: None,
        locations: Vec::new(),
        path: Vec::new(),
        extensions: error.extensions,
    }
}
