//! Who may see and do what (design section 4). Visibility mistakes leak pipeline data,
//! so every read path asks these functions rather than checking roles itself.

use entity::{Role, Stage, Team};
use uuid::Uuid;

/// The authenticated user a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team: Team,
}

impl From<entity::user::Model> for Viewer {
    fn from(user: entity::user::Model) -> Self {
        Self { id: user.id, email: user.email, name: user.name, role: user.role, team: user.team }
    }
}

/// Which leads a viewer may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadScope {
    /// Every lead.
    All,
    /// The MQL queue plus the leads this rep owns.
    QueueAndOwnedBy(Uuid),
}

impl Viewer {
    pub fn lead_scope(&self) -> LeadScope {
        match self.role {
            Role::SalesRep => LeadScope::QueueAndOwnedBy(self.id),
            Role::Admin | Role::Marketing | Role::SalesManager | Role::Viewer => LeadScope::All,
        }
    }

    /// Whether the viewer may read a lead in `stage` owned by `owner`.
    pub fn can_see_lead(&self, stage: Stage, owner: Option<Uuid>) -> bool {
        match self.lead_scope() {
            LeadScope::All => true,
            LeadScope::QueueAndOwnedBy(rep) => stage == Stage::Mql || owner == Some(rep),
        }
    }

    /// Creating accounts and leads, and importing leads, is marketing's job (and admins').
    pub fn can_create_leads(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Marketing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(role: Role) -> Viewer {
        Viewer {
            id: Uuid::now_v7(),
            email: "someone@example.com".into(),
            name: "Someone".into(),
            role,
            team: Team::Sales,
        }
    }

    #[test]
    fn a_rep_sees_the_mql_queue_and_their_own_leads_only() {
        let rep = viewer(Role::SalesRep);
        let other = Some(Uuid::now_v7());
        assert!(rep.can_see_lead(Stage::Mql, None));
        assert!(rep.can_see_lead(Stage::Mql, other));
        assert!(rep.can_see_lead(Stage::Sal, Some(rep.id)));
        assert!(rep.can_see_lead(Stage::Won, Some(rep.id)));
        assert!(!rep.can_see_lead(Stage::Sal, other));
        assert!(!rep.can_see_lead(Stage::Lead, None));
        assert!(!rep.can_see_lead(Stage::Sql, other));
    }

    #[test]
    fn every_other_role_sees_every_lead() {
        for role in [Role::Admin, Role::Marketing, Role::SalesManager, Role::Viewer] {
            let someone = viewer(role);
            assert!(someone.can_see_lead(Stage::Sal, Some(Uuid::now_v7())), "{role:?}");
            assert!(someone.can_see_lead(Stage::Lead, None), "{role:?}");
        }
    }

    #[test]
    fn only_marketing_and_admins_create_leads() {
        assert!(viewer(Role::Admin).can_create_leads());
        assert!(viewer(Role::Marketing).can_create_leads());
        for role in [Role::SalesRep, Role::SalesManager, Role::Viewer] {
            assert!(!viewer(role).can_create_leads(), "{role:?}");
        }
    }
}
