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
    graphql::{BatonSchema, field_errors, loaders::Loaders},
};

/// Bytes of rendered payloads kept for subscribers still on their way to an event.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// How long a rendered payload is kept after it was last asked for.
const CACHE_IDLE: Duration = Duration::from_secs(60);

/// A subscription's query as the client sent it; subscribers sharing one share renders.
/// Variables that only the root field's arguments use (`after`, `filter`) choose events but
/// do not shape them, so they are left out: clients resuming from different cursors still
/// share renders.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LiveQuery {
    pub query: String,
    pub operation_name: Option<String>,
    /// The shaping variables as JSON text, so equal variables compare equal.
    variables: String,
}

impl LiveQuery {
    pub fn new(request: &Request) -> Self {
        let shaping = shaping::variables(&request.query, request.operation_name.as_deref(), &request.variables);
        Self {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&shaping).unwrap_or_default(),
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
        let mut response = schema
            .execute_stream(request)
            .next()
            .await
            .unwrap_or_else(|| Response::from_errors(vec![server_error(AppError::internal(NothingRendered))]));
        field_errors::mend(&mut response, &query.query, query.operation_name.as_deref());
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

/// Which variables shape a rendered event.
mod shaping {
    use std::collections::{HashMap, HashSet};

    use async_graphql::{
        Name, Positioned, Variables,
        parser::{
            parse_query,
            types::{Directive, DocumentOperations, FragmentDefinition, Selection, SelectionSet},
        },
    };
    use async_graphql_value::Value;

    /// The variables used anywhere but in the root fields' own arguments; all of them when
    /// the document cannot be read (planning then refuses it anyway).
    pub fn variables(query: &str, operation_name: Option<&str>, variables: &Variables) -> Variables {
        let Ok(document) = parse_query(query) else { return variables.clone() };
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
                Some(operation) => operation,
                None => return variables.clone(),
            },
            (DocumentOperations::Multiple(_), None) => return variables.clone(),
        };
        let mut used = Used { fragments: &document.fragments, names: HashSet::new(), visited: HashSet::new() };
        used.directives(&operation.node.directives);
        for selection in &operation.node.selection_set.node.items {
            match &selection.node {
                // The root field's arguments are left out on purpose; all else counts.
                Selection::Field(field) => {
                    used.directives(&field.node.directives);
                    used.selection_set(&field.node.selection_set.node);
                }
                other => used.selection(other),
            }
        }
        let mut shaping = Variables::default();
        for (name, value) in variables.iter() {
            if used.names.contains(name.as_str()) {
                shaping.insert(name.clone(), value.clone());
            }
        }
        shaping
    }

    struct Used<'a> {
        fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
        names: HashSet<String>,
        visited: HashSet<&'a str>,
    }

    impl<'a> Used<'a> {
        fn selection_set(&mut self, set: &'a SelectionSet) {
            for selection in &set.items {
                self.selection(&selection.node);
            }
        }

        fn selection(&mut self, selection: &'a Selection) {
            match selection {
                Selection::Field(field) => {
                    for (_, value) in &field.node.arguments {
                        self.value(&value.node);
                    }
                    self.directives(&field.node.directives);
                    self.selection_set(&field.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.node.directives);
                    let name = spread.node.fragment_name.node.as_str();
                    if self.visited.insert(name)
                        && let Some(fragment) = self.fragments.get(name)
                    {
                        self.directives(&fragment.node.directives);
                        self.selection_set(&fragment.node.selection_set.node);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(&fragment.node.directives);
                    self.selection_set(&fragment.node.selection_set.node);
                }
            }
        }

        fn directives(&mut self, directives: &'a [Positioned<Directive>]) {
            for directive in directives {
                for (_, value) in &directive.node.arguments {
                    self.value(&value.node);
                }
            }
        }

        fn value(&mut self, value: &Value) {
            match value {
                Value::Variable(name) => {
                    self.names.insert(name.to_string());
                }
                Value::List(items) => items.iter().for_each(|item| self.value(item)),
                Value::Object(fields) => fields.values().for_each(|field| self.value(field)),
                _ => {}
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        use super::*;

        fn shaping(query: &str, variables: serde_json::Value) -> serde_json::Value {
            serde_json::to_value(super::variables(query, None, &Variables::from_json(variables))).expect("json")
        }

        #[test]
        fn variables_of_the_root_fields_arguments_do_not_shape_an_event() {
            let query = "subscription($after: String, $n: Int) { leadEvents(after: $after) { lead { events(first: $n) { pageInfo { hasNextPage } } } } }";
            assert_eq!(shaping(query, json!({ "after": "abc", "n": 3 })), json!({ "n": 3 }));
        }

        #[test]
        fn variables_used_in_fragments_and_directives_shape_it() {
            let query = "subscription($after: String, $x: Boolean!) { salCreated(after: $after) { ...F } } \
                         fragment F on LeadEvent { id @include(if: $x) cursor }";
            assert_eq!(shaping(query, json!({ "after": "abc", "x": true })), json!({ "x": true }));
        }

        #[test]
        fn a_variable_used_both_ways_is_kept() {
            let query = "subscription($after: String) { salCreated(after: $after) { lead { events(after: $after) { pageInfo { hasNextPage } } } } }";
            assert_eq!(shaping(query, json!({ "after": "abc" })), json!({ "after": "abc" }));
        }
    }
}

/// The schema yielded nothing for an event it was asked to render: a wiring bug.
#[derive(Debug, thiserror::Error)]
#[error("a subscription rendered no result for its event")]
struct NothingRendered;
