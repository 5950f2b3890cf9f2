//! KPI maths: status against a target, and quantiles from fixed log-scale histograms.
//!
//! Durations are kept in buckets whose bounds grow by a factor of 1.1: bucket 0 holds
//! exactly zero, bucket b ≥ 1 holds [1.1^(b-1), 1.1^b) microseconds. A quantile is read as
//! the geometric midpoint of the bucket holding the rank asked for, so it is off from the
//! exact value by at most a factor of sqrt(1.1): a relative error of at most 4.9%.

use entity::KpiDirection;

/// Ratio between consecutive bucket bounds.
const GROWTH: f64 = 1.1;

/// The largest relative error of a quantile read from the histograms: sqrt(1.1) - 1.
pub const QUANTILE_RELATIVE_ERROR: f64 = 0.048_808_848_170_151_63;

/// Where a KPI stands against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KpiStatus {
    OnTrack,
    AtRisk,
    OffTrack,
}

/// ON_TRACK when the value meets the target; AT_RISK when it misses it by at most
/// `tolerance` (relative to the target); OFF_TRACK beyond. No value or no target: no status.
pub fn status(value: Option<f64>, target: Option<f64>, tolerance: f64, direction: KpiDirection) -> Option<KpiStatus> {
    let (value, target) = (value?, target?);
    let slack = target.abs() * tolerance;
    let (meets, near) = match direction {
        KpiDirection::HigherIsBetter => (value >= target, value >= target - slack),
        KpiDirection::LowerIsBetter => (value <= target, value <= target + slack),
    };
    Some(if meets {
        KpiStatus::OnTrack
    } else if near {
        KpiStatus::AtRisk
    } else {
        KpiStatus::OffTrack
    })
}

/// The histogram bucket of a duration in microseconds (negative durations count as zero).
pub fn bucket(micros: i64) -> i32 {
    if micros <= 0 {
        return 0;
    }
    // The float estimate can land one off at a bound; correct it against exact powers.
    let mut b = ((micros as f64).ln() / GROWTH.ln()).floor() as i32 + 1;
    while b > 1 && (micros as f64) < GROWTH.powi(b - 1) {
        b -= 1;
    }
    while (micros as f64) >= GROWTH.powi(b) {
        b += 1;
    }
    b.max(1)
}

/// The value a bucket stands for, in microseconds: its geometric midpoint.
pub fn bucket_value(bucket: i32) -> f64 {
    if bucket <= 0 { 0.0 } else { GROWTH.powf(f64::from(bucket) - 0.5) }
}

/// The rank (1-based) of the q-quantile among `n` values, by the nearest-rank definition:
/// the smallest value with at least q·n values at or below it.
pub fn rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n.max(1))
}

/// The q-quantile of a histogram given as (bucket, count) pairs in any order, in
/// microseconds; none for an empty histogram.
pub fn quantile(histogram: &[(i32, u64)], q: f64) -> Option<f64> {
    let mut sorted: Vec<(i32, u64)> = histogram.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let wanted = rank(q, total);
    let mut seen = 0;
    for (bucket, n) in sorted {
        seen += n;
        if seen >= wanted {
            return Some(bucket_value(bucket));
        }
    }
    None
}

/// Counts per bucket, kept dense: buckets are small numbers (a century is bucket 380), and
/// adding up a year of rollup rows is most of what reading a quantile costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram(Vec<u64>);

impl Histogram {
    /// Counts `n` more values in `bucket` (negative buckets count as bucket 0).
    pub fn add(&mut self, bucket: i32, n: u64) {
        let index = usize::try_from(bucket).unwrap_or(0);
        if index >= self.0.len() {
            self.0.resize(index + 1, 0);
        }
        self.0[index] += n;
    }

    pub fn merge(&mut self, other: &Self) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine += theirs;
        }
    }

    /// (bucket, count) of every bucket holding something, in bucket order.
    pub fn counts(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.0.iter().enumerate().filter(|(_, n)| **n > 0).map(|(b, n)| (i32::try_from(b).unwrap_or(i32::MAX), *n))
    }
}

/// A ratio, or none when there is nothing to divide by.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use KpiDirection::{HigherIsBetter, LowerIsBetter};

    #[test]
    fn a_value_meeting_the_target_is_on_track() {
        assert_eq!(status(Some(0.3), Some(0.25), 0.1, HigherIsBetter), Some(KpiStatus::OnTrack));
        assert_eq!(status(Some(0.25), Some(0.25), 0.1, HigherIsBetter), Some(KpiStatus::OnTrack));
        assert_eq!(status(Some(20.0), Some(30.0), 0.1, LowerIsBetter), Some(KpiStatus::OnTrack));
        assert_eq!(status(Some(30.0), Some(30.0), 0.1, LowerIsBetter), Some(KpiStatus::OnTrack));
    }

    #[test]
    fn a_value_within_the_tolerance_is_at_risk() {
        assert_eq!(status(Some(0.9), Some(1.0), 0.1, HigherIsBetter), Some(KpiStatus::AtRisk));
        assert_eq!(status(Some(0.95), Some(1.0), 0.1, HigherIsBetter), Some(KpiStatus::AtRisk));
        assert_eq!(status(Some(33.0), Some(30.0), 0.1, LowerIsBetter), Some(KpiStatus::AtRisk));
    }

    #[test]
    fn a_value_beyond_the_tolerance_is_off_track() {
        assert_eq!(status(Some(0.89), Some(1.0), 0.1, HigherIsBetter), Some(KpiStatus::OffTrack));
        assert_eq!(status(Some(33.5), Some(30.0), 0.1, LowerIsBetter), Some(KpiStatus::OffTrack));
        assert_eq!(status(Some(0.0), Some(0.2), 0.0, HigherIsBetter), Some(KpiStatus::OffTrack));
    }

    #[test]
    fn no_value_or_no_target_means_no_status() {
        assert_eq!(status(None, Some(1.0), 0.1, HigherIsBetter), None);
        assert_eq!(status(Some(1.0), None, 0.1, LowerIsBetter), None);
    }

    #[test]
    fn buckets_hold_their_bounds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(-5), 0);
        assert_eq!(bucket(1), 1);
        for micros in [1_i64, 2, 7, 10, 11, 999, 1_000_000, 60_000_000, 86_400_000_000, 31_536_000_000_000] {
            let b = bucket(micros);
            assert!(GROWTH.powi(b - 1) <= micros as f64 && (micros as f64) < GROWTH.powi(b), "{micros} in {b}");
            let error = (bucket_value(b) - micros as f64).abs() / micros as f64;
            assert!(error <= QUANTILE_RELATIVE_ERROR + 1e-12, "{micros}: {error}");
        }
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        assert_eq!(rank(0.5, 10), 5);
        assert_eq!(rank(0.5, 11), 6);
        assert_eq!(rank(0.9, 10), 9);
        assert_eq!(rank(0.9, 1), 1);
        let histogram = [(bucket(100), 3), (bucket(0), 1), (bucket(1_000_000), 1)];
        assert_eq!(quantile(&histogram, 0.5), Some(bucket_value(bucket(100))));
        assert_eq!(quantile(&histogram, 0.9), Some(bucket_value(bucket(1_000_000))));
        assert_eq!(quantile(&histogram, 0.1), Some(0.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn histograms_add_and_merge_by_bucket() {
        let mut a = Histogram::default();
        a.add(3, 2);
        a.add(0, 1);
        let mut b = Histogram::default();
        b.add(7, 4);
        b.add(3, 1);
        a.merge(&b);
        assert_eq!(a.counts().collect::<Vec<_>>(), [(0, 1), (3, 3), (7, 4)]);
        assert_eq!(Histogram::default().counts().count(), 0);
    }

    #[test]
    fn a_ratio_of_nothing_is_none() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }
}
