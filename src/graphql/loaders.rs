//! Batch loaders, created per request, so a page of leads loads all their owners,
//! accounts and campaigns in one statement each instead of one per lead.

use std::{collections::HashMap, time::Duration};

use async_graphql::{
    Context,
    dataloader::{DataLoader, HashMapCache, Loader},
};
use entity::{account, campaign, lead, lead_event, reason, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    db::rows::{self, DecodeByPosition},
    error::{AppError, AppResult},
    events::LoggedEvent,
    service::{self, account::LifetimeValue},
};

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<ByIdLoader<user::Entity>, HashMapCache>,
    pub accounts: DataLoader<ByIdLoader<account::Entity>, HashMapCache>,
    pub campaigns: DataLoader<ByIdLoader<campaign::Entity>, HashMapCache>,
    pub leads: DataLoader<ByIdLoader<lead::Entity>, HashMapCache>,
    pub reasons: DataLoader<ReasonLoader, HashMapCache>,
    pub lifetime_values: DataLoader<LifetimeValueLoader, HashMapCache>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        // No delay, and a per-request cache: list resolvers prefetch what their selection
        // needs (see `prefetch_*`), so node resolvers are served from the cache. Waiting for
        // keys instead would add latency and still split long lists, which async-graphql
        // resolves in several polls.
        fn loader<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
            inner: T,
        ) -> DataLoader<T, HashMapCache> {
            DataLoader::with_cache(inner, tokio::spawn, HashMapCache::default()).delay(Duration::ZERO)
        }
        Self {
            users: loader(ByIdLoader::new(db)),
            accounts: loader(ByIdLoader::new(db)),
            campaigns: loader(ByIdLoader::new(db)),
            leads: loader(ByIdLoader::new(db)),
            reasons: loader(ReasonLoader(db.clone())),
            lifetime_values: loader(LifetimeValueLoader(db.clone())),
        }
    }
}

impl Loaders {
    /// Forgets everything loaded so far, so later loads read fresh rows.
    pub fn clear(&self) {
        self.users.clear::<Uuid>();
        self.accounts.clear::<Uuid>();
        self.campaigns.clear::<Uuid>();
        self.leads.clear::<Uuid>();
        self.reasons.clear::<String>();
        self.lifetime_values.clear::<Uuid>();
    }

    /// Keeps an account and a user read along with something else, so resolving them
    /// costs no statement of its own.
    pub async fn feed(&self, account: Option<account::Model>, user: Option<user::Model>) {
        if let Some(account) = account {
            self.accounts.feed_one(account.id, account).await;
        }
        if let Some(user) = user {
            self.users.feed_one(user.id, user).await;
        }
    }

    /// Loads, in one statement, the lifetime values a page of accounts' selection
    /// (`edges { node { … } }`) asks for.
    pub async fn prefetch_for_accounts(&self, ctx: &Context<'_>, accounts: &[account::Model]) -> AppResult<()> {
        let node = ctx.look_ahead().field("edges").field("node");
        if node.field("lifetimeValue").exists() || node.field("wonDeals").exists() {
            self.lifetime_values.load_many(accounts.iter().map(|a| a.id)).await?;
        }
        Ok(())
    }

    /// Loads, one statement per relation, what the current connection field's selection
    /// (`edges { node { … } }`) asks of a page of leads, but for their accounts, which
    /// `read_lead_page` reads with the page.
    pub async fn prefetch_for_leads(&self, ctx: &Context<'_>, leads: &[lead::Model]) -> AppResult<()> {
        let node = ctx.look_ahead().field("edges").field("node");
        if node.field("owner").exists() {
            self.users.load_many(leads.iter().filter_map(|l| l.owner_id)).await?;
        }
        if node.field("campaign").exists() {
            self.campaigns.load_many(leads.iter().filter_map(|l| l.campaign_id)).await?;
        }
        if node.field("reason").exists() {
            self.reasons.load_many(leads.iter().filter_map(|l| l.reason_code.clone())).await?;
        }
        Ok(())
    }

    /// The same for a page of events.
    pub async fn prefetch_for_events(&self, ctx: &Context<'_>, events: &[LoggedEvent]) -> AppResult<()> {
        let events: Vec<&lead_event::Model> = events.iter().map(|e| &e.event).collect();
        let node = ctx.look_ahead().field("edges").field("node");
        let mut users: Vec<Uuid> = Vec::new();
        if node.field("actor").exists() {
            users.extend(events.iter().filter_map(|e| e.actor_id));
        }
        if node.field("owner").exists() {
            users.extend(events.iter().filter_map(|e| e.owner_id));
        }
        if !users.is_empty() {
            self.users.load_many(users).await?;
        }
        if node.field("lead").exists() {
            self.leads.load_many(events.iter().map(|e| e.lead_id)).await?;
        }
        if node.field("reason").exists() {
            self.reasons.load_many(events.iter().filter_map(|e| e.reason_code.clone())).await?;
        }
        Ok(())
    }
}

/// Loads rows of any table whose primary key is a UUID `id`.
pub struct ByIdLoader<E> {
    db: DatabaseConnection,
    entity: std::marker::PhantomData<E>,
}

impl<E> ByIdLoader<E> {
    fn new(db: &DatabaseConnection) -> Self {
        Self { db: db.clone(), entity: std::marker::PhantomData }
    }
}

/// Tables keyed by a UUID, with a way to read the key off a row.
pub trait UuidKeyed: EntityTrait {
    fn id_column() -> Self::Column;
    fn id_of(model: &Self::Model) -> Uuid;
}

macro_rules! uuid_keyed {
    ($($table:ident),*) => {$(
        impl UuidKeyed for $table::Entity {
            fn id_column() -> Self::Column {
                $table::Column::Id
            }
            fn id_of(model: &Self::Model) -> Uuid {
                model.id
            }
        }
    )*};
}
uuid_keyed!(user, account, campaign, lead);

impl<E> Loader<Uuid> for ByIdLoader<E>
where
    E: UuidKeyed + Send + Sync + 'static,
    E::Model: DecodeByPosition + Send + Sync + Clone + 'static,
{
    type Value = E::Model;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = rows::all(E::find().filter(E::id_column().is_in(keys.iter().copied())), &self.db).await?;
        Ok(rows.into_iter().map(|row| (E::id_of(&row), row)).collect())
    }
}

/// Loads accounts' lifetime values (none for an account that never won).
pub struct LifetimeValueLoader(DatabaseConnection);

impl Loader<Uuid> for LifetimeValueLoader {
    type Value = LifetimeValue;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        service::account::lifetime_values(&self.0, keys.iter().copied()).await
    }
}

/// Loads reason codes with their labels.
pub struct ReasonLoader(DatabaseConnection);

impl Loader<String> for ReasonLoader {
    type Value = reason::Model;
    type Error = AppError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let rows = reason::Entity::find().filter(reason::Column::Code.is_in(keys.iter().cloned())).all(&self.0).await?;
        Ok(rows.into_iter().map(|row| (row.code.clone(), row)).collect())
    }
}
