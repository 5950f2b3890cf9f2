//! Mutation resolvers, one file per domain, merged into one root.

mod account;
mod handoff;
mod kpi;
mod lead;

use async_graphql::MergedObject;

/// The root of all writes.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(account::AccountMutation, lead::LeadMutation, handoff::HandoffMutation, kpi::KpiMutation);
