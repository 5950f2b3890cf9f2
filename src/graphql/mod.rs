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

pub use schema::{BatonSchema, SchemaOptions, build_schema, build_schema_with_state};
