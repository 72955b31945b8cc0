//! Percentiles, with one definition for the reports, the benchmarks and the simulator:
//! nearest rank, so every figure is a value that was measured; and the time range every
//! report takes (`?from=&to=&store=&limit=`), shared by analytics and the delivery service's
//! performance report.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Validator};
use crate::id::parse_day;

/// The nearest-rank percentile of sorted values: the smallest value with at least a fraction
/// `p` (0 to 1) of them at or below it. `p = 1.0` is the maximum; `None` without values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((n as f64 * p).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// `?from=&to=&store=&limit=` of every report.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    #[param(schema_with = crate::rules::day)]
    pub from: Option<String>,
    #[param(schema_with = crate::rules::day)]
    pub to: Option<String>,
    #[param(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// A validated report range: placed in `[from, to)`, optionally at one store.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub store: Option<String>,
    pub limit: i64,
}

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// The longest range a report covers.
pub const MAX_RANGE_DAYS: i64 = 92;

impl ReportQuery {
    /// Defaults: the last 24 hours, every store, top 10.
    pub fn range(&self, now: i64) -> Result<Range, CoreError> {
        let mut v = Validator::new();
        let to = match &self.to {
            Some(t) => v.check("to", parse_day(t, true).map(|t| t + 1)),
            None => Some(now),
        };
        let from = match &self.from {
            Some(f) => v.check("from", parse_day(f, false)),
            None => to.map(|t| t - DAY_MS),
        };
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                v.add("from", "must be before to");
            } else if t - f > MAX_RANGE_DAYS * DAY_MS {
                v.add("to", format!("a report covers at most {MAX_RANGE_DAYS} days"));
            }
        }
        let store = match &self.store {
            Some(s) => v.check("store", crate::rules::parse_code(s)),
            None => None,
        };
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            v.add("limit", "must be from 1 to 100");
        }
        v.finish()?;
        match (from, to) {
            (Some(from), Some(to)) => Ok(Range { from, to, store, limit }),
            _ => Err(CoreError::validation("from", "is not a valid range")),
        }
    }
}

fn minutes(ms: Option<i64>) -> Option<f64> {
    ms.map(|ms| (ms as f64 / 6_000.0).round() / 10.0)
}

/// p50 and p90 in minutes (to a tenth); none without data.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct P50P90 {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// `{"p50", "p90"}` in minutes (to a tenth) of durations in milliseconds, sorting them.
pub fn p50_p90_minutes(v: &mut [i64]) -> P50P90 {
    v.sort_unstable();
    P50P90 {
        p50: minutes(percentile(v, 0.5)),
        p90: minutes(percentile(v, 0.9)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 0.5), Some(5));
        assert_eq!(percentile(&v, 0.9), Some(9));
        assert_eq!(percentile(&[7], 0.9), Some(7));
        assert_eq!(percentile::<i64>(&[], 0.5), None);
    }

    #[test]
    fn the_ends_are_the_smallest_and_the_largest() {
        let v = [1.5, 2.0, 9.25];
        assert_eq!(percentile(&v, 0.0), Some(1.5));
        assert_eq!(percentile(&v, 1.0), Some(9.25));
        assert_eq!(percentile(&v, 0.99), Some(9.25));
    }
}
