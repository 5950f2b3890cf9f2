//! The GraphQL API: a data-free schema builder, resolvers per domain, and output types
//! kept apart from the entities.

pub mod context;
pub mod cost;
pub mod cursor;
pub mod field_errors;
pub mod loaders;
pub mod metrics;
pub mod mutation;
pub mod query;
pub mod schema;
pub mod subscription;
pub mod types;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
pub use schema::{BatonSchema, SchemaOptions, build_schema, build_schema_with_state};

/// The operation of `document` that `name` selects, when exactly one matches (async-graphql
/// refuses the rest itself).
pub fn selected_operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(&operation.node)
}
