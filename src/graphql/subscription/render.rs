//! Rendering pushed events once. Subscribers that ask the same query (text, operation and
//! variables) and see the same leads get byte-for-byte the same payload for an event, so it
//! is resolved and serialized once, with one set of loaders, and shared as `Arc<str>`:
//! pushing an event to ten thousand managers costs one resolution, not ten thousand.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use async_graphql::{Request, Response, Variables};
use entity::Role;
use futures::StreamExt;
use moka::future::Cache;
use sea_orm::DatabaseConnection;

use super::feed::{Mode, server_error};
use crate::{
    domain::access::{LeadScope, Viewer},
    error::AppError,
    events::{LogCursor, LoggedEvent},
    graphql::{BatonSchema, loaders::Loaders},
};

/// Bytes of rendered payloads kept for subscribers still on their way to an event.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// How long a rendered payload is kept after it was last asked for.
const CACHE_IDLE: Duration = Duration::from_secs(60);

/// A subscription's query as the client sent it; subscribers sharing one share renders.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LiveQuery {
    pub query: String,
    pub operation_name: Option<String>,
    /// The variables as JSON text, so equal variables compare equal.
    variables: String,
}

impl LiveQuery {
    pub fn new(request: &Request) -> Self {
        Self {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
        }
    }

    fn request(&self) -> Request {
        let mut request = Request::new(self.query.clone());
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.clone());
        }
        let variables = serde_json::from_str(&self.variables).map(Variables::from_json).unwrap_or_default();
        request.variables(variables)
    }
}

/// Who may see what: viewers in the same audience see exactly the same leads and fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Audience {
    role: Role,
    scope: LeadScope,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RenderKey {
    event: LogCursor,
    query: Arc<LiveQuery>,
    audience: Audience,
}

/// This instance's shared renders of pushed events.
pub struct Renderer {
    db: DatabaseConnection,
    cache: Cache<RenderKey, Arc<str>>,
    renders: AtomicU64,
}

impl Renderer {
    pub fn new(db: DatabaseConnection) -> Self {
        let cache = Cache::builder()
            .max_capacity(CACHE_BYTES)
            .weigher(|_, payload: &Arc<str>| u32::try_from(payload.len()).unwrap_or(u32::MAX))
            .time_to_idle(CACHE_IDLE)
            .build();
        Self { db, cache, renders: AtomicU64::new(0) }
    }

    /// The `payload` of the result message for `event` under `query`, as JSON text. Concurrent
    /// callers with the same key wait for one render. A render that failed for a server-side
    /// reason is returned to its callers but not kept, so the next subscriber tries again.
    pub async fn render(
        &self,
        schema: &BatonSchema,
        query: &Arc<LiveQuery>,
        viewer: &Viewer,
        event: &Arc<LoggedEvent>,
    ) -> Arc<str> {
        let key = RenderKey {
            event: event.cursor(),
            query: Arc::clone(query),
            audience: Audience { role: viewer.role, scope: viewer.lead_scope() },
        };
        let rendered = self.cache.try_get_with(key, async { self.resolve(schema, query, viewer, event).await }).await;
        rendered.unwrap_or_else(|failed| Arc::clone(&failed))
    }

    /// How many times an event was resolved and serialized (not served from a shared render).
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    async fn resolve(
        &self,
        schema: &BatonSchema,
        query: &LiveQuery,
        viewer: &Viewer,
        event: &Arc<LoggedEvent>,
    ) -> Result<Arc<str>, Arc<str>> {
        self.renders.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("baton_subscription_renders_total").increment(1);
        let request =
            query.request().data(viewer.clone()).data(Loaders::new(&self.db)).data(Mode::Render(Arc::clone(event)));
        let response = schema
            .execute_stream(request)
            .next()
            .await
            .unwrap_or_else(|| Response::from_errors(vec![server_error(AppError::internal(NothingRendered))]));
        let failed = response.errors.iter().any(is_internal);
        let payload: Arc<str> = match serde_json::to_string(&response) {
            Ok(json) => json.into(),
            Err(error) => {
                tracing::error!(%error, "cannot serialize a subscription result");
                return Err(
                    r#"{"data":null,"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.into(),
                );
            }
        };
        if failed { Err(payload) } else { Ok(payload) }
    }
}

fn is_internal(error: &async_graphql::ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"))
        .is_some_and(|code| *code == async_graphql::Value::from("INTERNAL"))
}

/// The schema yielded nothing for an event it was asked to render: a wiring bug.
#[derive(Debug, thiserror::Error)]
#[error("a subscription rendered no result for its event")]
struct NothingRendered;
