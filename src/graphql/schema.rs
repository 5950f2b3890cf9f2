//! Builds the schema without any data, so the SDL can be printed and checked anywhere.

use async_graphql::{Schema, SchemaBuilder};

use super::{mutation::MutationRoot, query::QueryRoot, subscription::SubscriptionRoot};
use crate::state::AppState;

pub type BatonSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Switches that differ between development and production.
#[derive(Clone, Copy, Debug)]
pub struct SchemaOptions {
    /// Answer introspection queries and suggest field names in errors.
    pub introspection: bool,
    /// Deepest nesting of selection sets.
    pub max_depth: usize,
    /// Largest complexity (connection fields cost their children once per item of `first`).
    pub max_complexity: usize,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self { introspection: true, max_depth: 15, max_complexity: 20_000 }
    }
}

/// The schema without data: enough to print the SDL.
pub fn build_schema(options: SchemaOptions) -> BatonSchema {
    builder(options).finish()
}

/// The executable schema, with the shared state attached once.
pub fn build_schema_with_state(options: SchemaOptions, state: AppState) -> BatonSchema {
    builder(options).data(state).finish()
}

/// The schema, with limits that bound the cost of any one query. They back up the cheaper
/// check of `graphql::cost`, which runs first and bounds the work these rules do.
fn builder(options: SchemaOptions) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if !options.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// The SDL as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(SchemaOptions::default()).sdl()
}
