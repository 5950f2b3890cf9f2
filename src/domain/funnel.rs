//! The funnel's stages in order.

use entity::Stage;

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

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    #[test]
    fn stage_keys_are_the_stored_values() {
        for stage in STAGES {
            assert_eq!(stage_key(stage), stage.to_value());
        }
    }
}
