//! Batch loaders, created per request, so a page of leads loads all their owners,
//! accounts and campaigns in one statement each instead of one per lead.

use std::{collections::HashMap, time::Duration};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{account, campaign, lead, reason, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::AppError;

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<ByIdLoader<user::Entity>>,
    pub accounts: DataLoader<ByIdLoader<account::Entity>>,
    pub campaigns: DataLoader<ByIdLoader<campaign::Entity>>,
    pub leads: DataLoader<ByIdLoader<lead::Entity>>,
    pub reasons: DataLoader<ReasonLoader>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        // No delay: keys requested while resolving one list are already queued when the
        // batch runs, so waiting would only add latency.
        fn loader<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(inner: T) -> DataLoader<T> {
            DataLoader::new(inner, tokio::spawn).delay(Duration::ZERO)
        }
        Self {
            users: loader(ByIdLoader::new(db)),
            accounts: loader(ByIdLoader::new(db)),
            campaigns: loader(ByIdLoader::new(db)),
            leads: loader(ByIdLoader::new(db)),
            reasons: loader(ReasonLoader(db.clone())),
        }
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
    E::Model: Send + Sync + Clone + 'static,
{
    type Value = E::Model;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = E::find().filter(E::id_column().is_in(keys.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|row| (E::id_of(&row), row)).collect())
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
