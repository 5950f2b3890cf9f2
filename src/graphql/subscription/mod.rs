//! Subscription resolvers (over WebSocket), one file per domain, merged into one root.

mod event;

use async_graphql::MergedSubscription;

/// The root of all live streams.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(event::EventSubscription);
