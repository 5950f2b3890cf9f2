//! Round-robin routing of accepted leads to reps, skipping reps at capacity.

use serde::Serialize;
use uuid::Uuid;

/// A rep routing may choose, with their current load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub rep_id: Uuid,
    pub open_sals: u64,
}

/// Why a rep was chosen; recorded on the acceptance event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingDecision {
    pub strategy: &'static str,
    pub rep_id: Uuid,
    pub open_sals: u64,
    pub capacity: u64,
    /// Reps passed over because they already hold `capacity` open SALs.
    pub skipped_at_capacity: Vec<Uuid>,
}

/// Picks the next rep after `previous` in `candidates`' order (wrapping around) who has
/// fewer than `capacity` open SALs. `None` when every rep is at capacity or there are none.
pub fn next_rep(candidates: &[Candidate], previous: Option<Uuid>, capacity: u64) -> Option<RoutingDecision> {
    let start = previous.and_then(|previous| candidates.iter().position(|c| c.rep_id > previous)).unwrap_or(0);
    let mut skipped = Vec::new();
    for offset in 0..candidates.len() {
        let candidate = candidates[(start + offset) % candidates.len()];
        if candidate.open_sals < capacity {
            return Some(RoutingDecision {
                strategy: "ROUND_ROBIN",
                rep_id: candidate.rep_id,
                open_sals: candidate.open_sals,
                capacity,
                skipped_at_capacity: skipped,
            });
        }
        skipped.push(candidate.rep_id);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reps(loads: &[u64]) -> Vec<Candidate> {
        let mut reps: Vec<Candidate> =
            loads.iter().map(|&open_sals| Candidate { rep_id: Uuid::now_v7(), open_sals }).collect();
        reps.sort_by_key(|c| c.rep_id);
        reps
    }

    #[test]
    fn reps_take_turns_in_order_and_wrap_around() {
        let candidates = reps(&[0, 0, 0]);
        let mut previous = None;
        let mut chosen = Vec::new();
        for _ in 0..4 {
            let decision = next_rep(&candidates, previous, 10).map(|d| d.rep_id);
            chosen.push(decision);
            previous = decision;
        }
        let ids: Vec<Option<Uuid>> = candidates.iter().map(|c| Some(c.rep_id)).collect();
        assert_eq!(chosen, [ids[0], ids[1], ids[2], ids[0]]);
    }

    #[test]
    fn reps_at_capacity_are_skipped_and_named() {
        let candidates = reps(&[5, 5, 1]);
        let decision = next_rep(&candidates, None, 5);
        assert_eq!(decision.as_ref().map(|d| d.rep_id), Some(candidates[2].rep_id));
        assert_eq!(decision.map(|d| d.skipped_at_capacity), Some(vec![candidates[0].rep_id, candidates[1].rep_id]));
    }

    #[test]
    fn nobody_is_chosen_when_everyone_is_full() {
        assert_eq!(next_rep(&reps(&[2, 2]), None, 2), None);
        assert_eq!(next_rep(&[], None, 2), None);
    }

    #[test]
    fn a_departed_previous_rep_still_leads_to_the_next_one() {
        let candidates = reps(&[0, 0]);
        let gone = Uuid::now_v7();
        assert_eq!(next_rep(&candidates, Some(gone), 3).map(|d| d.rep_id), Some(candidates[0].rep_id));
    }
}
