//! Query resolvers, one file per domain, merged into one root.

mod account;
mod event;
mod kpi;
mod lead;
mod stage;
mod viewer;

use async_graphql::MergedObject;

/// The root of all reads.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    viewer::ViewerQuery,
    lead::LeadQuery,
    account::AccountQuery,
    stage::StageQuery,
    event::EventQuery,
    kpi::KpiQuery,
);
