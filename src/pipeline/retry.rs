//! The one retry engine: a classifier that says what a failure allows ([`Hint`]), a policy
//! that bounds attempts and waits ([`RetryPolicy`]), and [`run`], which every retrying caller
//! uses (HTTP attempts, the duplicate-free create, bulk batches).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{self, Error};
use crate::operations::{Operation, RetryClass};

/// When and how often a request is tried again.
///
/// On by default: up to 3 retries, waiting a random time up to 250 ms, 500 ms, 1 s ... (capped
/// at 8 s), or what `Retry-After` says. What is retried depends on what the failure proves:
///
/// - nothing reached the Router (no connection): any operation;
/// - the rate limiter's 429 (it answers before the handler): any operation, after
///   `Retry-After`;
/// - a gateway's 502/503/504, a 408, a connection cut after sending, a body cut short: the
///   operations that are safe to repeat (`x-retry: safe` in the spec: GET, PUT, DELETE, stop,
///   resume, port forward, share grant), or every operation with
///   [`RetryPolicy::retry_non_idempotent`];
/// - anything else (4xx, 500, timeouts, TLS failures): never.
///
/// The call's deadline ([`CallOptions::timeout`](crate::CallOptions::timeout)) bounds attempts
/// and waits together: a wait that would end past it is not started.
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
    /// Retry unsafe operations (POST, PATCH) after gateway errors and cut connections too,
    /// accepting the risk of doing something twice.
    pub retry_non_idempotent: bool,
    /// How long a create whose outcome is unknown (the answer was lost) is read back, by name,
    /// before it is sent again. The Router's reads can briefly lag its writes; the default
    /// is 5 s. With no retries at all it is read back once.
    pub read_back_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            retry_non_idempotent: false,
            read_back_window: Duration::from_secs(5),
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

    /// Retries unsafe operations after ambiguous failures too.
    ///
    /// ```
    /// let policy = agenttier::RetryPolicy::default().retry_non_idempotent(true);
    /// assert!(policy.retry_non_idempotent);
    /// ```
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    /// Sets how long a create with an unknown outcome is read back before it is sent again.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = agenttier::RetryPolicy::default().read_back_window(Duration::from_secs(10));
    /// assert_eq!(policy.read_back_window, Duration::from_secs(10));
    /// ```
    pub fn read_back_window(mut self, d: Duration) -> Self {
        self.read_back_window = d;
        self
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

/// What a failure allows, as far as trying again goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// The request never reached the Router: any operation may be sent again.
    NotSent,
    /// Refused before the handler ran (the rate limiter's 429, the invoke concurrency cap):
    /// any operation may be sent again, after the server's `Retry-After`.
    Throttled(Option<Duration>),
    /// Transient, but the request may have been carried out: only safe operations repeat.
    MayHaveApplied(Option<Duration>),
    /// Trying again will not help.
    Never,
}

/// A failure the engine can judge.
pub(crate) trait Judge {
    fn hint(&self) -> Hint;
}

/// What a status allows (the body is not needed: the Router's throttling answers are 429s).
pub(crate) fn status_hint(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> Hint {
    let after = error::retry_after_header(headers);
    match status.as_u16() {
        // The rate limiter and the invoke concurrency cap answer before the handler acts.
        429 => Hint::Throttled(after),
        408 | 502..=504 => Hint::MayHaveApplied(after),
        _ => Hint::Never,
    }
}

/// What a transport failure allows.
pub(crate) fn transport_hint(e: &reqwest::Error) -> Hint {
    if error::is_tls_failure(e) {
        Hint::Never
    } else if e.is_connect() {
        Hint::NotSent
    } else if e.is_timeout() {
        Hint::Never
    } else if e.is_request() || e.is_body() || e.is_decode() {
        Hint::MayHaveApplied(None)
    } else {
        Hint::Never
    }
}

impl Judge for Error {
    /// What an error of a whole call allows a caller that repeats calls (the duplicate-free
    /// create, bulk batches): the same rules as for one HTTP attempt.
    fn hint(&self) -> crate::pipeline::retry::Hint {
        match self {
            Error::Unavailable {
                source: Some(e), ..
            } => transport_hint(e),
            Error::Unavailable { api: Some(api), .. } => Hint::MayHaveApplied(api.retry_after),
            Error::Unavailable { .. } => Hint::MayHaveApplied(None),
            Error::RateLimited(api) => Hint::Throttled(api.retry_after),
            Error::ConcurrencyExceeded { error, .. } => Hint::Throttled(error.retry_after),
            Error::Api(api) if api.status == 408 => Hint::MayHaveApplied(api.retry_after),
            _ => Hint::Never,
        }
    }
}

impl Error {
    /// True when the request may have been carried out although the call failed: the
    /// connection broke after sending, a gateway answered 502/503/504, or time ran out.
    pub(crate) fn outcome_unknown(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::Cancelled { .. })
            || matches!(self.hint(), Hint::MayHaveApplied(_))
    }
}

/// What one retrying call is allowed.
pub(crate) struct Budget<'a> {
    pub op: &'static Operation,
    pub policy: &'a RetryPolicy,
    pub deadline: Option<Instant>,
    pub cancel: Option<&'a CancellationToken>,
}

/// Why [`run`] stopped without a success.
pub(crate) enum Stop<E> {
    /// The last attempt's failure, with the number of attempts made.
    Failed(E, u32),
    /// The cancellation token fired.
    Cancelled(u32),
}

/// Whether `hint` allows another attempt of `op`, and after how long (`None`: no retry).
fn wait_for(hint: Hint, op: &Operation, policy: &RetryPolicy, attempt: u32) -> Option<Duration> {
    let (asked, allowed) = match hint {
        Hint::NotSent => (None, true),
        Hint::Throttled(after) => (after, true),
        Hint::MayHaveApplied(after) => (
            after,
            op.retry == RetryClass::Safe || policy.retry_non_idempotent,
        ),
        Hint::Never => (None, false),
    };
    if !allowed || attempt >= policy.max_retries {
        return None;
    }
    match asked {
        Some(after) if after > policy.max_retry_after => None,
        Some(after) => Some(after),
        None => Some(policy.backoff(attempt)),
    }
}

/// Runs `attempt` (given the attempt number, from 0) until it succeeds or the failure, the
/// policy, the deadline or the cancellation token says stop. A success comes with the number
/// of attempts it took.
pub(crate) async fn run<T, E, F, Fut>(budget: &Budget<'_>, attempt: F) -> Result<(T, u32), Stop<E>>
where
    E: Judge,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run_after(budget, None, attempt).await
}

/// [`run`], when the first attempt was already made and failed with `first` (the pipeline's
/// fast path makes it inline, and comes here only on a failure).
pub(crate) async fn run_after<T, E, F, Fut>(
    budget: &Budget<'_>,
    first: Option<E>,
    mut attempt: F,
) -> Result<(T, u32), Stop<E>>
where
    E: Judge,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0u32;
    let mut first = first;
    loop {
        let outcome = if let Some(failed) = first.take() {
            Err(failed)
        } else {
            match budget.cancel {
                None => attempt(n).await,
                Some(token) => tokio::select! {
                    biased;
                    _ = token.cancelled() => return Err(Stop::Cancelled(n + 1)),
                    outcome = attempt(n) => outcome,
                },
            }
        };
        let err = match outcome {
            Ok(v) => return Ok((v, n + 1)),
            Err(e) => e,
        };
        let Some(wait) = wait_for(err.hint(), budget.op, budget.policy, n) else {
            return Err(Stop::Failed(err, n + 1));
        };
        if budget.deadline.is_some_and(|d| Instant::now() + wait >= d) {
            return Err(Stop::Failed(err, n + 1));
        }
        tracing::debug!(
            operation = budget.op.name,
            attempt = n,
            wait_ms = wait.as_millis() as u64,
            "retrying"
        );
        match budget.cancel {
            None => tokio::time::sleep(wait).await,
            Some(token) => tokio::select! {
                biased;
                _ = token.cancelled() => return Err(Stop::Cancelled(n + 1)),
                _ = tokio::time::sleep(wait) => {}
            },
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::op;

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
        let two = Some(Duration::from_secs(2));
        assert_eq!(wait_for(Hint::Throttled(two), &op::GET_SANDBOX, &p, 0), two);
        let forever = Some(Duration::from_secs(9_223_372_037));
        assert_eq!(
            wait_for(Hint::Throttled(forever), &op::GET_SANDBOX, &p, 0),
            None
        );
    }

    #[test]
    fn unsafe_operations_repeat_only_when_nothing_was_applied() {
        let p = RetryPolicy::default();
        let create = &op::CREATE_SANDBOX;
        assert!(wait_for(Hint::NotSent, create, &p, 0).is_some());
        assert!(wait_for(Hint::Throttled(None), create, &p, 0).is_some());
        assert!(wait_for(Hint::MayHaveApplied(None), create, &p, 0).is_none());
        assert!(wait_for(Hint::MayHaveApplied(None), &op::GET_SANDBOX, &p, 0).is_some());
        let bold = RetryPolicy::default().retry_non_idempotent(true);
        assert!(wait_for(Hint::MayHaveApplied(None), create, &bold, 0).is_some());
        assert!(wait_for(Hint::Never, &op::GET_SANDBOX, &bold, 0).is_none());
        assert!(wait_for(Hint::NotSent, create, &p, 3).is_none());
    }
}
