//! The funnel: its stages in order and the fixed table of moves between them.

use entity::Stage;

use crate::error::{AppError, AppResult};

/// Every stage, in funnel order.
pub const STAGES: [Stage; 7] =
    [Stage::Lead, Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won, Stage::Lost, Stage::Disqualified];

/// The stage's key as it appears in the API and the database.
pub fn stage_key(stage: Stage) -> &'static str {
    match stage {
        Stage::Lead => "LEAD",
        Stage::Mql => "MQL",
        Stage::Sal => "SAL",
        Stage::Sql => "SQL",
        Stage::Won => "WON",
        Stage::Lost => "LOST",
        Stage::Disqualified => "DISQUALIFIED",
    }
}

/// A stage move, one per handoff mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Move {
    /// `qualifyLead`: LEAD → MQL.
    Qualify,
    /// `acceptLead`: MQL → SAL.
    Accept,
    /// `returnToMarketing`: MQL, SAL, SQL, LOST → LEAD.
    ReturnToMarketing,
    /// `disqualifyLead`: LEAD, MQL, SAL → DISQUALIFIED.
    Disqualify,
    /// `convertToSql`: SAL → SQL.
    ConvertToSql,
    /// `closeWon`: SQL → WON.
    CloseWon,
    /// `closeLost`: SQL → LOST.
    CloseLost,
}

/// Every move.
pub const MOVES: [Move; 7] = [
    Move::Qualify,
    Move::Accept,
    Move::ReturnToMarketing,
    Move::Disqualify,
    Move::ConvertToSql,
    Move::CloseWon,
    Move::CloseLost,
];

impl Move {
    /// The stage the move leads to.
    pub fn target(self) -> Stage {
        match self {
            Self::Qualify => Stage::Mql,
            Self::Accept => Stage::Sal,
            Self::ReturnToMarketing => Stage::Lead,
            Self::Disqualify => Stage::Disqualified,
            Self::ConvertToSql => Stage::Sql,
            Self::CloseWon => Stage::Won,
            Self::CloseLost => Stage::Lost,
        }
    }

    /// The stages the move may start from. Anything else is an invalid transition.
    pub fn sources(self) -> &'static [Stage] {
        match self {
            Self::Qualify => &[Stage::Lead],
            Self::Accept => &[Stage::Mql],
            Self::ReturnToMarketing => &[Stage::Mql, Stage::Sal, Stage::Sql, Stage::Lost],
            Self::Disqualify => &[Stage::Lead, Stage::Mql, Stage::Sal],
            Self::ConvertToSql => &[Stage::Sal],
            Self::CloseWon => &[Stage::Sql],
            Self::CloseLost => &[Stage::Sql],
        }
    }

    /// Whether the move needs a reason code.
    pub fn needs_reason(self) -> bool {
        matches!(self, Self::ReturnToMarketing | Self::Disqualify | Self::CloseLost)
    }

    /// The mutation that makes the move.
    pub fn mutation(self) -> &'static str {
        match self {
            Self::Qualify => "qualifyLead",
            Self::Accept => "acceptLead",
            Self::ReturnToMarketing => "returnToMarketing",
            Self::Disqualify => "disqualifyLead",
            Self::ConvertToSql => "convertToSql",
            Self::CloseWon => "closeWon",
            Self::CloseLost => "closeLost",
        }
    }

    /// Checks that the move may start from `from`.
    pub fn check_from(self, from: Stage) -> AppResult<Stage> {
        if self.sources().contains(&from) {
            Ok(self.target())
        } else {
            Err(AppError::InvalidTransition { from, to: self.target() })
        }
    }
}

/// The unique move from one stage to another, if the table has one.
pub fn move_between(from: Stage, to: Stage) -> Option<Move> {
    MOVES.into_iter().find(|m| m.target() == to && m.sources().contains(&from))
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    /// The transition table of the design, written out pair by pair.
    const LEGAL: [(Stage, Stage); 12] = [
        (Stage::Lead, Stage::Mql),
        (Stage::Mql, Stage::Sal),
        (Stage::Mql, Stage::Lead),
        (Stage::Sal, Stage::Lead),
        (Stage::Sql, Stage::Lead),
        (Stage::Lost, Stage::Lead),
        (Stage::Lead, Stage::Disqualified),
        (Stage::Mql, Stage::Disqualified),
        (Stage::Sal, Stage::Disqualified),
        (Stage::Sal, Stage::Sql),
        (Stage::Sql, Stage::Won),
        (Stage::Sql, Stage::Lost),
    ];

    #[test]
    fn exactly_the_designed_moves_are_legal() {
        for from in STAGES {
            for to in STAGES {
                let designed = LEGAL.contains(&(from, to));
                assert_eq!(move_between(from, to).is_some(), designed, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn a_move_from_the_wrong_stage_names_both_stages() {
        for mv in MOVES {
            for from in STAGES {
                match mv.check_from(from) {
                    Ok(to) => assert!(mv.sources().contains(&from) && to == mv.target()),
                    Err(AppError::InvalidTransition { from: f, to }) => {
                        assert_eq!((f, to), (from, mv.target()));
                        assert!(!mv.sources().contains(&from));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn won_and_disqualified_are_final() {
        for mv in MOVES {
            assert!(mv.check_from(Stage::Won).is_err(), "{mv:?}");
            assert!(mv.check_from(Stage::Disqualified).is_err(), "{mv:?}");
        }
    }

    #[test]
    fn stage_keys_are_the_stored_values() {
        for stage in STAGES {
            assert_eq!(stage_key(stage), stage.to_value());
        }
    }
}
