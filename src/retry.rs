//! Bounded retries with exponential backoff and full jitter.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;

/// When and how often a request is tried again.
///
/// On by default: up to 3 retries of connection failures and 408/429/502/503/504, waiting a
/// random time up to 250 ms, 500 ms, 1 s ... (capped at 8 s), or what `Retry-After` says.
/// GET, PUT and DELETE are retried; POST and PATCH only where the Router makes them safe
/// (stop, resume, port forward, share grant) or when [`RetryPolicy::retry_non_idempotent`] is
/// set. A caller's deadline ([`crate::Client::with_deadline`]) bounds attempts and waits together.
///
/// ```
/// use std::time::Duration;
/// use agenttier::RetryPolicy;
///
/// let patient = RetryPolicy::default().max_retries(5).max_backoff(Duration::from_secs(20));
/// let never = RetryPolicy::none();
/// assert_eq!(never.max_retries, 0);
/// # let _ = patient;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Extra attempts after the first (3: four tries at most).
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles per retry.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is returned instead
    /// (the Router can ask for 292 years when a bulk batch exceeds its burst).
    pub max_retry_after: Duration,
    /// Retry POST and PATCH everywhere, accepting the risk of doing something twice.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            retry_non_idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    ///
    /// ```
    /// let policy = agenttier::RetryPolicy::none();
    /// assert_eq!(policy.max_retries, 0);
    /// ```
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries.
    ///
    /// ```
    /// let policy = agenttier::RetryPolicy::default().max_retries(5);
    /// assert_eq!(policy.max_retries, 5); // six tries at most
    /// ```
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first backoff ceiling.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = agenttier::RetryPolicy::default().initial_backoff(Duration::from_millis(100));
    /// assert_eq!(policy.initial_backoff, Duration::from_millis(100));
    /// ```
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the largest backoff ceiling.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = agenttier::RetryPolicy::default().max_backoff(Duration::from_secs(20));
    /// assert_eq!(policy.max_backoff, Duration::from_secs(20));
    /// ```
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets the longest `Retry-After` that is waited for.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Wait out a `Retry-After` of up to five minutes; return the error beyond that.
    /// let policy = agenttier::RetryPolicy::default().max_retry_after(Duration::from_secs(300));
    /// assert_eq!(policy.max_retry_after, Duration::from_secs(300));
    /// ```
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Retries POST and PATCH too.
    ///
    /// ```
    /// let policy = agenttier::RetryPolicy::default().retry_non_idempotent(true);
    /// assert!(policy.retry_non_idempotent);
    /// ```
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    pub(crate) fn retries_status(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
    }

    /// The wait before retry number `attempt` (0-based), or `None` when the server asked for
    /// longer than [`RetryPolicy::max_retry_after`].
    pub(crate) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(after) = retry_after {
            return (after <= self.max_retry_after).then_some(after);
        }
        Some(self.backoff(attempt))
    }

    /// Full jitter: uniform in `[0, min(max_backoff, initial * 2^attempt)]`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_ceiling_doubles_and_caps() {
        let p = RetryPolicy::default();
        for attempt in 0..10 {
            let ceiling = Duration::from_millis(250 * (1 << attempt)).min(Duration::from_secs(8));
            for _ in 0..50 {
                assert!(p.backoff(attempt) <= ceiling);
            }
        }
    }

    #[test]
    fn retry_after_longer_than_the_limit_is_not_waited_for() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.wait(0, Some(Duration::from_secs(9_223_372_037))), None);
    }
}
