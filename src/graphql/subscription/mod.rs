//! Subscription resolvers (over WebSocket), one file per domain, merged into one root, and
//! how the socket runs them: [`feed`] plans what a subscription follows, [`render`] turns a
//! wanted event into its payload once for every subscriber asking the same.

mod event;
pub mod feed;
pub mod render;

use async_graphql::MergedSubscription;

/// The root of all live streams.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(event::EventSubscription);
