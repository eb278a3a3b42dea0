//! Fault injection and request recording: what a client's retry and error tests need.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response};

use super::respond::{self, Body};

/// Which requests a fault applies to: a method (or any) and an exact path or a path prefix.
///
/// Paths are compared with the request's path as sent (before percent-decoding and without
/// the query string).
///
/// ```
/// use agenttier_fake_router::{Method, RouteMatch};
/// let exact = RouteMatch::new(Method::POST, "/api/v1/sandboxes");
/// let under = RouteMatch::prefix(Method::GET, "/api/v1/sandboxes/demo/");
/// let all = RouteMatch::any();
/// # let _ = (exact, under, all);
/// ```
#[derive(Clone, Debug)]
pub struct RouteMatch {
    method: Option<Method>,
    path: String,
    prefix: bool,
}

impl RouteMatch {
    /// Requests with this method and exactly this path.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        RouteMatch {
            method: Some(method),
            path: path.into(),
            prefix: false,
        }
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn prefix(method: Method, prefix: impl Into<String>) -> Self {
        RouteMatch {
            method: Some(method),
            path: prefix.into(),
            prefix: true,
        }
    }

    /// Every request, whatever its method and path.
    pub fn any() -> Self {
        RouteMatch {
            method: None,
            path: String::new(),
            prefix: true,
        }
    }

    /// Match any method instead of the one given.
    pub fn any_method(mut self) -> Self {
        self.method = None;
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// What the FakeRouter does instead of (or before) answering a matched request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, body and headers instead of running the handler. The
    /// response also carries `X-Request-Id`. When `body` is non-empty and no `Content-Type`
    /// header is given, it is sent as `application/json`.
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body (sent as is).
        body: String,
        /// Extra headers, e.g. `("Retry-After", "1")`.
        headers: Vec<(String, String)>,
    },
    /// Close the TCP connection without writing any response (the request is not handled).
    Reset,
    /// Handle the request normally (its effects happen, e.g. a file is written or a command
    /// runs to its end), then close the TCP connection without answering: the client cannot
    /// tell whether the Router processed it.
    ///
    /// ```
    /// use agenttier_fake_router::{Fault, Method, RouteMatch};
    /// # async fn demo(router: agenttier_fake_router::FakeRouter) {
    /// // The next exec runs, but its answer is lost.
    /// router.fail_next(1, RouteMatch::prefix(Method::POST, "/api/v1/sandboxes/"), Fault::ResetAfter);
    /// # }
    /// ```
    ResetAfter,
    /// Wait this long, then handle the request normally.
    Delay(Duration),
}

impl Fault {
    /// A [`Fault::Status`] with this status and body and no extra headers.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Fault::Status {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// Add a header to a [`Fault::Status`] (no effect on other variants).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Fault::Status { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// The response a `Status` fault answers with.
    pub(crate) fn response(
        status: u16,
        body: &str,
        headers: &[(String, String)],
    ) -> Response<Body> {
        let mut r = respond::raw(status, "application/json", Bytes::from(body.to_string()));
        if body.is_empty() {
            r.headers_mut().remove(http::header::CONTENT_TYPE);
        }
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

/// One request as the FakeRouter received it (recorded before any fault or handler runs).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: Method,
    /// Path as sent (still percent-encoded), without the query string.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body (as much of it as the FakeRouter read; bodies over the Router's caps are
    /// cut at the cap plus one byte).
    pub body: Bytes,
}

/// A registered fault with its remaining count.
#[derive(Debug)]
struct ArmedFault {
    when: RouteMatch,
    remaining: usize,
    fault: Fault,
}

/// A standing fault rule: each matching request takes one of `faults` with probability `rate`.
#[derive(Debug)]
struct RandomFaults {
    when: RouteMatch,
    rate: f64,
    faults: Vec<Fault>,
    rng: StdRng,
}

/// The request log keeps the most recent requests only (a long-running standalone server
/// would otherwise grow without bound).
const MAX_RECORDED_REQUESTS: usize = 10_000;

/// The test knobs of the HTTP layer: armed faults, the request log and the added latency.
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    inner: Mutex<KnobState>,
}

/// What [`Knobs`] guards.
#[derive(Debug, Default)]
pub(crate) struct KnobState {
    faults: Vec<ArmedFault>,
    random: Option<RandomFaults>,
    requests: VecDeque<RecordedRequest>,
    /// Added before every answer.
    pub latency: Duration,
}

impl Knobs {
    /// Lock the knobs. Never held across `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, KnobState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KnobState {
    /// Apply `fault` to the next `n` requests matching `when`.
    pub(crate) fn arm(&mut self, n: usize, when: RouteMatch, fault: Fault) {
        if n > 0 {
            self.faults.push(ArmedFault {
                when,
                remaining: n,
                fault,
            });
        }
    }

    /// From now on, give each request matching `when` one of `faults` (chosen uniformly) with
    /// probability `rate`, drawn from a generator seeded with `seed` (so a run can be
    /// repeated). Replaces an earlier random rule; armed [`Fault`]s are checked first.
    pub(crate) fn arm_random(
        &mut self,
        rate: f64,
        when: RouteMatch,
        faults: Vec<Fault>,
        seed: u64,
    ) {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.random = (!faults.is_empty() && rate > 0.0).then(|| RandomFaults {
            when,
            rate,
            faults,
            rng: StdRng::seed_from_u64(seed),
        });
    }

    /// Drop every armed fault and the random rule.
    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
        self.random = None;
    }

    /// Append to the request log.
    pub(crate) fn record(&mut self, req: RecordedRequest) {
        if self.requests.len() >= MAX_RECORDED_REQUESTS {
            self.requests.pop_front();
        }
        self.requests.push_back(req);
    }

    /// The request log, oldest first.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.iter().cloned().collect()
    }

    /// Forget the request log.
    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }

    /// Take the first armed fault that matches, decrementing its count.
    pub(crate) fn take_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let Some(idx) = self
            .faults
            .iter()
            .position(|f| f.remaining > 0 && f.when.matches(method, path))
        else {
            return self.random_fault(method, path);
        };
        let armed = &mut self.faults[idx];
        armed.remaining -= 1;
        let fault = armed.fault.clone();
        if armed.remaining == 0 {
            self.faults.remove(idx);
        }
        Some(fault)
    }

    /// The random rule's draw for one request, if the rule matches and the draw says so.
    fn random_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let random = self.random.as_mut()?;
        if !random.when.matches(method, path) || !random.rng.random_bool(random.rate) {
            return None;
        }
        let i = random.rng.random_range(0..random.faults.len());
        Some(random.faults[i].clone())
    }
}
