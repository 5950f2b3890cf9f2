//! Users: adding them, and finding them for tokens.

use std::{
    collections::HashSet,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use entity::{Role, Team, user};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::{task::JoinHandle, time::MissedTickBehavior};
use uuid::Uuid;

use crate::{
    domain::{email::Email, text, time},
    error::{AppError, AppResult},
};

/// The team a role belongs to unless told otherwise.
pub fn default_team(role: Role) -> Team {
    match role {
        Role::Marketing => Team::Marketing,
        Role::SalesRep | Role::SalesManager => Team::Sales,
        Role::Admin | Role::Viewer => Team::RevOps,
    }
}

/// Adds an active user. An email already in use is `DUPLICATE`.
pub async fn add(
    db: &DatabaseConnection,
    email: &str,
    name: &str,
    role: Role,
    team: Option<Team>,
) -> AppResult<user::Model> {
    let email = Email::parse(email).map_err(|e| AppError::bad_input("email", e.to_string()))?;
    let name = text::required("name", name, text::MAX_LINE)?;
    let user = user::Model {
        id: Uuid::now_v7(),
        email: email.into_inner(),
        name,
        role,
        team: team.unwrap_or_else(|| default_team(role)),
        active: true,
        created_at: time::now(),
    };
    user::Entity::insert(user::ActiveModel::from(user.clone()))
        .exec_without_returning(db)
        .await
        .map_err(AppError::from_db("a user with this email"))?;
    Ok(user)
}

/// The user with this email, if any.
pub async fn find_by_email(db: &DatabaseConnection, email: &str) -> AppResult<Option<user::Model>> {
    let email = Email::parse(email).map_err(|e| AppError::bad_input("email", e.to_string()))?;
    Ok(user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?)
}

/// Activates or deactivates a user; a deactivated user's tokens stop working at once.
pub async fn set_active(db: &DatabaseConnection, user_id: Uuid, active: bool) -> AppResult<()> {
    let update = user::ActiveModel { id: Set(user_id), active: Set(active), ..Default::default() };
    user::Entity::update(update).exec(db).await.map_err(|e| match e {
        sea_orm::DbErr::RecordNotUpdated => AppError::NotFound("user"),
        other => other.into(),
    })?;
    Ok(())
}

/// The ids of deactivated users, refreshed periodically by one task per instance, so open
/// connections of a user deactivated meanwhile are closed without a query per connection.
pub struct Deactivated {
    ids: Arc<RwLock<HashSet<Uuid>>>,
    refresher: JoinHandle<()>,
}

impl Deactivated {
    /// Reads the deactivated users every `interval`, until dropped.
    pub fn watch(db: DatabaseConnection, interval: Duration) -> Self {
        let ids = Arc::new(RwLock::new(HashSet::new()));
        let shared = Arc::clone(&ids);
        let refresher = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let inactive = user::Entity::find()
                    .select_only()
                    .column(user::Column::Id)
                    .filter(user::Column::Active.eq(false))
                    .into_tuple::<Uuid>()
                    .all(&db)
                    .await;
                match inactive {
                    Ok(inactive) => {
                        *shared.write().unwrap_or_else(PoisonError::into_inner) = inactive.into_iter().collect()
                    }
                    Err(error) => tracing::warn!(%error, "reading deactivated users failed; retrying at the next tick"),
                }
            }
        });
        Self { ids, refresher }
    }

    /// Whether the user was deactivated, as of the last refresh.
    pub fn contains(&self, user_id: Uuid) -> bool {
        self.ids.read().unwrap_or_else(PoisonError::into_inner).contains(&user_id)
    }
}

impl Drop for Deactivated {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}
