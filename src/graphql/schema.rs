//! Builds the schema without any data, so the SDL can be printed and checked anywhere.

use async_graphql::{EmptySubscription, Schema};

use super::{mutation::MutationRoot, query::QueryRoot};

pub type BatonSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Switches that differ between development and production.
#[derive(Clone, Copy, Debug)]
pub struct SchemaOptions {
    pub introspection: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self { introspection: true }
    }
}

/// The schema, with limits that bound the cost of any one query.
pub fn build_schema(options: SchemaOptions) -> BatonSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(12)
        .limit_complexity(5_000)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if !options.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(SchemaOptions::default()).sdl()
}
