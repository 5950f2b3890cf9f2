//! Which subscribers an event concerns, decided from the event row alone (it carries the
//! lead's owner and, for moves, its stage after the event), so pushing an event never
//! queries the database per subscriber.

use entity::{LeadEventKind, Stage, lead_event};

use crate::{
    domain::access::{LeadScope, Viewer},
    service::event::EventFilter,
};

/// Whether `viewer` may receive `event`. Readers of every lead receive every event; a rep
/// receives the events of leads they own after the event, and the moves that put a lead in
/// the MQL queue. Events that do not say the lead's stage (touchpoints, assignments) reach
/// a rep only on their own leads: a touchpoint on a queued MQL is not pushed to reps.
pub fn visible_to(viewer: &Viewer, event: &lead_event::Model) -> bool {
    match viewer.lead_scope() {
        LeadScope::All => true,
        LeadScope::QueueAndOwnedBy(rep) => event.owner_id == Some(rep) || reaches_every_rep(event),
    }
}

/// Whether `event` put a lead in the MQL queue, which every rep may see.
pub fn reaches_every_rep(event: &lead_event::Model) -> bool {
    matches!(event.kind, LeadEventKind::Created | LeadEventKind::StageChanged) && event.to_stage == Some(Stage::Mql)
}

/// Whether `event` made a lead a SAL.
pub fn is_new_sal(event: &lead_event::Model) -> bool {
    event.kind == LeadEventKind::StageChanged && event.to_stage == Some(Stage::Sal)
}

/// Whether `event` meets every condition of `filter`.
pub fn matches(filter: &EventFilter, event: &lead_event::Model) -> bool {
    filter.lead_id.is_none_or(|lead| event.lead_id == lead)
        && filter.kinds.as_ref().is_none_or(|kinds| kinds.contains(&event.kind))
        && filter.to_stages.as_ref().is_none_or(|stages| event.to_stage.is_some_and(|s| stages.contains(&s)))
        && filter.actor_id.is_none_or(|actor| event.actor_id == Some(actor))
        && filter.occurred_from.is_none_or(|from| event.occurred_at >= from)
        && filter.occurred_to.is_none_or(|to| event.occurred_at < to)
}

#[cfg(test)]
mod tests {
    use entity::{Channel, Role, Team};
    use uuid::Uuid;

    use super::*;

    fn viewer(role: Role) -> Viewer {
        Viewer { id: Uuid::now_v7(), email: "v@example.com".into(), name: "V".into(), role, team: Team::Sales }
    }

    fn event(kind: LeadEventKind, to_stage: Option<Stage>, owner_id: Option<Uuid>) -> lead_event::Model {
        lead_event::Model {
            position: 1,
            id: Uuid::now_v7(),
            lead_id: Uuid::now_v7(),
            kind,
            from_stage: None,
            to_stage,
            from_stage_entered_at: None,
            actor_id: None,
            owner_id,
            channel: Channel::Webinar,
            campaign_id: None,
            reason_code: None,
            note: None,
            amount: None,
            currency_code: None,
            detail: None,
            occurred_at: crate::domain::time::now(),
        }
    }

    #[test]
    fn a_rep_receives_events_of_their_own_leads_and_of_the_mql_queue_only() {
        let rep = viewer(Role::SalesRep);
        let other = Some(Uuid::now_v7());
        assert!(visible_to(&rep, &event(LeadEventKind::StageChanged, Some(Stage::Sal), Some(rep.id))));
        assert!(visible_to(&rep, &event(LeadEventKind::Touchpoint, None, Some(rep.id))));
        assert!(visible_to(&rep, &event(LeadEventKind::StageChanged, Some(Stage::Mql), None)));
        assert!(!visible_to(&rep, &event(LeadEventKind::StageChanged, Some(Stage::Sal), other)));
        assert!(!visible_to(&rep, &event(LeadEventKind::Assigned, None, other)));
        assert!(!visible_to(&rep, &event(LeadEventKind::Created, Some(Stage::Lead), None)));
    }

    #[test]
    fn every_other_role_receives_every_event() {
        for role in [Role::Admin, Role::Marketing, Role::SalesManager, Role::Viewer] {
            let someone = viewer(role);
            assert!(visible_to(&someone, &event(LeadEventKind::StageChanged, Some(Stage::Sal), Some(Uuid::now_v7()))));
        }
    }

    #[test]
    fn filters_need_every_condition() {
        let sal = event(LeadEventKind::StageChanged, Some(Stage::Sal), None);
        assert!(matches(&EventFilter::default(), &sal));
        let to_sal = EventFilter { to_stages: Some(vec![Stage::Sal]), ..Default::default() };
        assert!(matches(&to_sal, &sal));
        let created = EventFilter { kinds: Some(vec![LeadEventKind::Created]), ..to_sal.clone() };
        assert!(!matches(&created, &sal));
        assert!(!matches(&to_sal, &event(LeadEventKind::Touchpoint, None, None)));
        assert!(is_new_sal(&sal));
        assert!(!is_new_sal(&event(LeadEventKind::Created, Some(Stage::Sal), None)));
    }
}
