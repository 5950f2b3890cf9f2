//! Lead scoring: points per marketing touchpoint, and the score that makes a lead an MQL.

use std::collections::HashMap;

use entity::TouchpointKind;

/// How touchpoints score and when a lead qualifies automatically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoringRules {
    points: HashMap<TouchpointKind, i32>,
    /// A LEAD whose score reaches this becomes an MQL.
    pub mql_threshold: i32,
}

/// Why a scoring table could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    #[error("expected KIND=POINTS, found {0:?}")]
    Malformed(String),
    #[error("unknown touchpoint kind {0:?}")]
    UnknownKind(String),
}

impl Default for ScoringRules {
    fn default() -> Self {
        let points = [
            (TouchpointKind::FormSubmission, 15),
            (TouchpointKind::ContentDownload, 10),
            (TouchpointKind::Webinar, 20),
            (TouchpointKind::EmailClick, 3),
            (TouchpointKind::PageView, 1),
            (TouchpointKind::EventVisit, 15),
        ];
        Self { points: points.into_iter().collect(), mql_threshold: 50 }
    }
}

impl ScoringRules {
    /// Points a touchpoint of `kind` adds. Sales contacts score nothing: they follow
    /// qualification rather than signal it.
    pub fn points(&self, kind: TouchpointKind) -> i32 {
        if kind.is_sales_contact() { 0 } else { self.points.get(&kind).copied().unwrap_or(0) }
    }

    /// Overrides points from `FORM_SUBMISSION=15,PAGE_VIEW=1`-style text.
    pub fn with_points(mut self, table: &str) -> Result<Self, ScoringError> {
        for entry in table.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kind, points) = entry.split_once('=').ok_or_else(|| ScoringError::Malformed(entry.to_owned()))?;
            let points: i32 = points.trim().parse().map_err(|_| ScoringError::Malformed(entry.to_owned()))?;
            let kind = parse_kind(kind.trim()).ok_or_else(|| ScoringError::UnknownKind(kind.trim().to_owned()))?;
            self.points.insert(kind, points);
        }
        Ok(self)
    }

    /// Whether going from `before` to `after` crosses the MQL threshold.
    pub fn crosses_threshold(&self, before: i32, after: i32) -> bool {
        before < self.mql_threshold && after >= self.mql_threshold
    }
}

fn parse_kind(text: &str) -> Option<TouchpointKind> {
    use sea_orm::{ActiveEnum, Iterable};
    TouchpointKind::iter().find(|kind| kind.to_value().eq_ignore_ascii_case(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_contacts_score_nothing_and_marketing_touchpoints_do() {
        let rules = ScoringRules::default();
        assert_eq!(rules.points(TouchpointKind::Call), 0);
        assert_eq!(rules.points(TouchpointKind::Webinar), 20);
    }

    #[test]
    fn points_can_be_overridden() {
        let rules = ScoringRules::default().with_points("webinar=40, PAGE_VIEW=2").unwrap_or_default();
        assert_eq!(rules.points(TouchpointKind::Webinar), 40);
        assert_eq!(rules.points(TouchpointKind::PageView), 2);
        assert!(ScoringRules::default().with_points("WEBINAR").is_err());
        assert!(ScoringRules::default().with_points("PODCAST=3").is_err());
    }

    #[test]
    fn the_threshold_is_crossed_once() {
        let rules = ScoringRules::default();
        assert!(rules.crosses_threshold(45, 50));
        assert!(!rules.crosses_threshold(50, 60));
        assert!(!rules.crosses_threshold(10, 49));
    }
}
