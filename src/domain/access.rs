//! Who may see and do what (design section 4). Visibility mistakes leak pipeline data,
//! so every read path asks these functions rather than checking roles itself.

use entity::{Role, Stage, Team, TouchpointKind};
use uuid::Uuid;

use super::funnel::Move;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// Whether the viewer's role makes this move at all, whatever the lead.
    pub fn may_attempt(&self, mv: Move) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Marketing => matches!(mv, Move::Qualify | Move::Disqualify),
            Role::SalesManager | Role::SalesRep => mv != Move::Qualify,
            Role::Viewer => false,
        }
    }

    /// Whether the viewer may make `mv` on a lead in `from` owned by `owner`. Accepting is
    /// open to any rep; who ends up owning the lead is checked separately.
    pub fn may_move(&self, mv: Move, from: Stage, owner: Option<Uuid>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Marketing => match mv {
                Move::Qualify => true,
                Move::Disqualify => matches!(from, Stage::Lead | Stage::Mql),
                _ => false,
            },
            Role::SalesManager => match mv {
                Move::Qualify => false,
                Move::Disqualify => from != Stage::Lead,
                _ => true,
            },
            Role::SalesRep => match mv {
                Move::Qualify => false,
                Move::Accept => true,
                Move::Disqualify if from == Stage::Lead => false,
                _ => owner == Some(self.id),
            },
            Role::Viewer => false,
        }
    }

    /// Whether the viewer may record a touchpoint of `kind` on a lead owned by `owner`:
    /// marketing records what leads do, sales records its own contacts.
    pub fn may_record_touchpoint(&self, kind: TouchpointKind, owner: Option<Uuid>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Marketing => !kind.is_sales_contact(),
            Role::SalesManager => kind.is_sales_contact(),
            Role::SalesRep => kind.is_sales_contact() && owner == Some(self.id),
            Role::Viewer => false,
        }
    }

    /// Reassigning leads between reps is a manager's (or admin's) call.
    pub fn may_assign(&self) -> bool {
        matches!(self.role, Role::Admin | Role::SalesManager)
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
    fn marketing_qualifies_and_disqualifies_only_before_sales_has_the_lead() {
        let marketer = viewer(Role::Marketing);
        assert!(marketer.may_move(Move::Qualify, Stage::Lead, None));
        assert!(marketer.may_move(Move::Disqualify, Stage::Lead, None));
        assert!(marketer.may_move(Move::Disqualify, Stage::Mql, None));
        assert!(!marketer.may_move(Move::Disqualify, Stage::Sal, Some(Uuid::now_v7())));
        for mv in [Move::Accept, Move::ReturnToMarketing, Move::ConvertToSql, Move::CloseWon, Move::CloseLost] {
            assert!(!marketer.may_attempt(mv), "{mv:?}");
        }
    }

    #[test]
    fn a_rep_works_only_their_own_leads() {
        let rep = viewer(Role::SalesRep);
        let other = Some(Uuid::now_v7());
        assert!(rep.may_move(Move::Accept, Stage::Mql, None));
        for (mv, from) in [
            (Move::ReturnToMarketing, Stage::Sal),
            (Move::Disqualify, Stage::Sal),
            (Move::ConvertToSql, Stage::Sal),
            (Move::CloseWon, Stage::Sql),
            (Move::CloseLost, Stage::Sql),
            (Move::ReturnToMarketing, Stage::Lost),
        ] {
            assert!(rep.may_move(mv, from, Some(rep.id)), "{mv:?}");
            assert!(!rep.may_move(mv, from, other), "{mv:?}");
        }
        assert!(!rep.may_move(Move::ReturnToMarketing, Stage::Mql, None));
        assert!(!rep.may_move(Move::Disqualify, Stage::Mql, None));
        assert!(!rep.may_attempt(Move::Qualify));
        assert!(!rep.may_assign());
    }

    #[test]
    fn managers_work_every_sales_lead_and_viewers_nothing() {
        let manager = viewer(Role::SalesManager);
        let other = Some(Uuid::now_v7());
        assert!(manager.may_move(Move::ReturnToMarketing, Stage::Sal, other));
        assert!(manager.may_move(Move::Disqualify, Stage::Mql, None));
        assert!(!manager.may_move(Move::Disqualify, Stage::Lead, None));
        assert!(!manager.may_attempt(Move::Qualify));
        assert!(manager.may_assign());
        let watcher = viewer(Role::Viewer);
        assert!(super::super::funnel::MOVES.iter().all(|&mv| !watcher.may_attempt(mv)));
        assert!(!watcher.may_assign());
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
