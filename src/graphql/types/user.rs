//! Users in the API.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::user;

use super::enums::{Role, Team};

pub struct User(pub user::Model);

/// A person who signs in to Baton.
#[Object]
impl User {
    /// Unique id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Email address, lower-cased.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the user may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The team the user belongs to.
    async fn team(&self) -> Team {
        self.0.team.into()
    }

    /// Deactivated users keep their history but cannot sign in.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// When the user was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
