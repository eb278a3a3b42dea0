//! Per-call options: values carried with each request, the same for facade and raw calls.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use super::retry::RetryPolicy;

/// Options for the calls of one [`Client`](crate::Client) value: timeouts, retries, extra
/// headers, a request id and cancellation.
///
/// Every field is optional; a field left unset falls back to what the operation needs (exec
/// waits for its command) and then to the client's defaults. Apply them with
/// [`Client::with_options`](crate::Client::with_options) or the shorthands
/// ([`Client::with_timeout`](crate::Client::with_timeout), ...): the result is a cheap copy
/// of the client whose every call, through the facade or [`Client::raw`](crate::Client::raw),
/// uses them, also from another task.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::{CallOptions, CancellationToken, RetryPolicy};
///
/// let stop = CancellationToken::new();
/// let careful = client.with_options(
///     CallOptions::new()
///         .timeout(Duration::from_secs(5))
///         .retry(RetryPolicy::none())
///         .request_id("job-42-step-3")
///         .cancel_on(stop.clone()),
/// );
/// let sb = careful.get_sandbox("demo").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) headers: HeaderMap,
    pub(crate) request_id: Option<String>,
    pub(crate) cancel: Option<CancellationToken>,
}

impl CallOptions {
    /// No option set: everything falls back to the client's defaults.
    ///
    /// ```
    /// let opts = agenttier::CallOptions::new();
    /// # let _ = opts;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole call's time: every attempt, every backoff and `Retry-After` wait, and reading
    /// the answer (for streams: until the answer starts). A wait that would end past it is not
    /// started; the last error is returned instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = agenttier::CallOptions::new().timeout(Duration::from_secs(2));
    /// # let _ = opts;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The time of one attempt (within [`CallOptions::timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// // Give up on a hung attempt after 3 s and try again, within 20 s in all.
    /// let opts = agenttier::CallOptions::new()
    ///     .attempt_timeout(Duration::from_secs(3))
    ///     .timeout(Duration::from_secs(20));
    /// # let _ = opts;
    /// ```
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = Some(d);
        self
    }

    /// An absolute deadline for the whole call (the earlier of this and
    /// [`CallOptions::timeout`] wins).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let opts = agenttier::CallOptions::new().deadline(Instant::now() + Duration::from_secs(10));
    /// # let _ = opts;
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The retry policy (instead of the client's).
    ///
    /// ```
    /// use agenttier::{CallOptions, RetryPolicy};
    /// let once = CallOptions::new().retry(RetryPolicy::none());
    /// # let _ = once;
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// An extra header sent with every request of the call (a later value for the same name
    /// replaces an earlier one). Credentials set by the client win over these.
    ///
    /// ```
    /// use agenttier::CallOptions;
    /// use agenttier::http::{HeaderName, HeaderValue};
    /// let opts = CallOptions::new().header(
    ///     HeaderName::from_static("traceparent"),
    ///     HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    /// );
    /// # let _ = opts;
    /// ```
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The `X-Request-Id` to send; the Router echoes it and logs under it. Checked when the
    /// call is made (visible ASCII only), before anything is sent.
    ///
    /// ```
    /// let opts = agenttier::CallOptions::new().request_id("job-42-step-3");
    /// # let _ = opts;
    /// ```
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Cancels the call when `token` is cancelled: an attempt in flight is dropped, a wait
    /// ends, and the call returns [`Error::Cancelled`](crate::Error::Cancelled).
    ///
    /// ```
    /// let token = agenttier::CancellationToken::new();
    /// let opts = agenttier::CallOptions::new().cancel_on(token.clone());
    /// token.cancel();
    /// # let _ = opts;
    /// ```
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// These options with every field set in `other` taking its value.
    pub(crate) fn merged(&self, other: &CallOptions) -> CallOptions {
        let mut headers = self.headers.clone();
        for (name, value) in &other.headers {
            headers.insert(name.clone(), value.clone());
        }
        CallOptions {
            timeout: other.timeout.or(self.timeout),
            attempt_timeout: other.attempt_timeout.or(self.attempt_timeout),
            deadline: match (self.deadline, other.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => b.or(a),
            },
            retry: other.retry.clone().or_else(|| self.retry.clone()),
            headers,
            request_id: other.request_id.clone().or_else(|| self.request_id.clone()),
            cancel: other.cancel.clone().or_else(|| self.cancel.clone()),
        }
    }
}
