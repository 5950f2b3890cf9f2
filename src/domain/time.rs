//! Time as Baton stores it.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current time, truncated to microseconds so it survives a round trip through
/// PostgreSQL (microsecond precision) unchanged and compares equal on every backend.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Truncates a time to whole microseconds.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}
