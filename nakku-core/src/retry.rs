//! The one backoff of every retry loop (the outbox relay, event consumers, saga steps,
//! notification sends): exponential, capped, with jitter, so retries of many failed items
//! do not arrive together.

use std::time::Duration;

use rand::Rng;

/// The wait before retry number `attempt` (1 for the first retry): a random time between
/// half and all of `base * 2^(attempt-1)`, at most `cap`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = exp.min(cap).as_millis().max(1) as u64;
    let jittered = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
    Duration::from_millis(jittered)
}

/// [`backoff`] in milliseconds, for retries that wait in a table (a `send_after` or
/// `next_attempt_at` column) and count their attempts there.
pub fn backoff_ms(attempt: i64, base: Duration, cap: Duration) -> i64 {
    let attempt = u32::try_from(attempt.max(1)).unwrap_or(u32::MAX);
    i64::try_from(backoff(attempt, base, cap).as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b1 = backoff(1, Duration::from_millis(100), Duration::from_secs(10));
        assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
        let b5 = backoff(5, Duration::from_millis(100), Duration::from_secs(10));
        assert!(b5 >= Duration::from_millis(800) && b5 <= Duration::from_millis(1600));
        let b30 = backoff(30, Duration::from_millis(100), Duration::from_secs(10));
        assert!(b30 <= Duration::from_secs(10));
    }

    #[test]
    fn stored_retries_wait_within_the_same_bounds() {
        for _ in 0..100 {
            let ms = backoff_ms(3, Duration::from_secs(1), Duration::from_secs(60));
            assert!((2_000..=4_000).contains(&ms), "{ms}");
        }
        let capped = backoff_ms(i64::MAX, Duration::from_secs(1), Duration::from_secs(60));
        assert!((30_000..=60_000).contains(&capped), "{capped}");
        let first = backoff_ms(0, Duration::from_millis(200), Duration::from_secs(10));
        assert!((100..=200).contains(&first), "{first}");
    }
}
