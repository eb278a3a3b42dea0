//! The one request pipeline. Every call, a facade method or an operation of the generated
//! client ([`crate::raw`]), goes the same way:
//!
//! per-call options (timeout, deadline, retry policy, headers, request id, cancellation)
//! → credentials → one tracing span → send → classify the answer once → the retry engine.
//!
//! The facade builds its requests from the operation table ([`crate::operations`]) and hands
//! them to [`Pipeline::json`], [`Pipeline::send`] and friends; the generated client reaches the
//! same engine through progenitor's `exec` hook ([`raw`]). Options are plain values carried
//! with the call, never ambient state.

pub(crate) mod body;
pub(crate) mod options;
mod raw;
pub(crate) mod retry;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use self::body::{MAX_ERROR_BODY, ReadError};
use self::options::CallOptions;
use self::retry::{Budget, Hint, Judge, RetryPolicy, Stop};
use crate::auth::{AuthProvider, Credential};
use crate::error::{self, Error, Result};
use crate::operations::Operation;

pub(crate) use raw::RawInner;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");

/// The policy of a call that must not be repeated (a streamed body).
static NO_RETRIES: RetryPolicy = RetryPolicy {
    max_retries: 0,
    initial_backoff: Duration::ZERO,
    max_backoff: Duration::ZERO,
    max_retry_after: Duration::ZERO,
    retry_non_idempotent: false,
    read_back_window: Duration::ZERO,
};

/// Client-wide settings every call starts from.
#[derive(Clone, Debug)]
pub(crate) struct Defaults {
    /// The whole call (attempts, waits, reading a buffered answer).
    pub timeout: Duration,
    /// One attempt.
    pub attempt_timeout: Duration,
    pub retry: RetryPolicy,
    /// Largest buffered response body.
    pub max_body: usize,
}

/// State shared by every clone of a [`crate::Client`] and by its raw client.
pub(crate) struct Pipeline {
    /// The Router's root, parsed once: each call's URL is a copy with its path set, so the
    /// scheme and host are not parsed (and the host not IDNA-processed) again on every call.
    base: Url,
    pub http: reqwest::Client,
    pub auth: Arc<dyn AuthProvider>,
    pub defaults: Defaults,
    /// Sent when the reqwest client was supplied by the caller (ours sets it itself).
    pub user_agent: Option<HeaderValue>,
    /// Operations already warned about as deprecated (one warning per operation per client).
    deprecations_seen: Mutex<HashSet<&'static str>>,
    warn_deprecations: bool,
    /// The last credential and the header it is sent as, built once per credential change.
    prepared: RwLock<Option<(Credential, HeaderName, HeaderValue)>>,
    /// Where requests go when the Router is found at run time (a Kubernetes connection):
    /// each attempt is pointed at it; `base` is then only a placeholder.
    pub endpoint: Option<crate::connect::Endpoint>,
    /// Start times seen by this client's waiters, per template (see `crate::schedule`).
    pub starts: Arc<crate::schedule::StartHistory>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("base_url", &self.base_url())
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

/// A request body.
pub(crate) enum Body {
    Empty,
    /// Replayable: sent again as it is on a retry.
    Bytes(Bytes, HeaderValue),
    /// Sent once: a call with a streamed body is never retried.
    Stream(Mutex<Option<reqwest::Body>>, HeaderValue),
}

/// A request the facade built, ready for the pipeline.
pub(crate) struct Call {
    pub op: &'static Operation,
    pub url: Url,
    pub body: Body,
    pub accept: &'static str,
    /// Headers of the generated client's request (raw calls only).
    pub headers: Option<Box<HeaderMap>>,
    /// What this call needs at least (exec waits for its command), unless the caller set a
    /// timeout.
    pub timeout: Option<Duration>,
    /// The method, when it is not the operation's (the preview proxy takes any method).
    pub method: Option<reqwest::Method>,
    /// Every answer goes to the caller's `finish`, not only successes: the terminal's 101
    /// and the preview proxy's upstream answers (the caller tells the Router's own failures
    /// apart and returns them as [`Failure::Read`]).
    pub pass_through: bool,
}

impl Call {
    /// A request for `op` with its path parameters in order. `{path}` (the file routes) takes
    /// an already encoded remote path ([`crate::wire::remote_file_path`]); every other
    /// parameter is one encoded segment.
    pub(crate) fn new(pipeline: &Pipeline, op: &'static Operation, args: &[&str]) -> Result<Call> {
        let prefix = pipeline.base.path().trim_end_matches('/');
        let mut path = String::with_capacity(prefix.len() + op.path.len() + 16);
        path.push_str(prefix);
        let mut rest = op.path;
        let mut args = args.iter();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|i| open + i)
                .unwrap_or(rest.len() - 1);
            path.push_str(&rest[..open]);
            let arg = args.next().ok_or_else(|| {
                Error::invalid("request", format!("{} needs more path parameters", op.name))
            })?;
            if &rest[open..=close] == "{path}" {
                path.push_str(arg);
            } else {
                crate::wire::push_path_segment(&mut path, arg);
            }
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        let mut url = pipeline.base.clone();
        // The segments are encoded already; `set_path` only checks them.
        url.set_path(&path);
        Ok(Call::to_url(op, url))
    }

    /// A request for `op` to a URL built by the caller (routes outside the spec).
    pub(crate) fn to_url(op: &'static Operation, url: Url) -> Call {
        Call {
            op,
            url,
            body: Body::Empty,
            accept: "application/json",
            headers: None,
            timeout: None,
            method: None,
            pass_through: false,
        }
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &str, value: &str) -> Call {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }

    /// Adds a query parameter when there is a value.
    pub(crate) fn query_opt(self, name: &str, value: Option<&str>) -> Call {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Sends `value` as JSON.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Result<Call> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::invalid("body", format!("cannot serialise: {e}")))?;
        self.body = Body::Bytes(
            Bytes::from(bytes),
            HeaderValue::from_static("application/json"),
        );
        Ok(self)
    }

    /// Sends raw bytes.
    pub(crate) fn bytes(mut self, bytes: Bytes, content_type: &'static str) -> Call {
        self.body = Body::Bytes(bytes, HeaderValue::from_static(content_type));
        self
    }

    pub(crate) fn accept(mut self, accept: &'static str) -> Call {
        self.accept = accept;
        self
    }

    pub(crate) fn at_least(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }
}

/// One call's resolved limits.
struct Plan<'a> {
    /// The caller reads the body as a stream: the attempt's time covers only the answer's head.
    head_only: bool,
    /// A call of the generated client: its credentials are already on the request, and its
    /// time limits are reqwest's own (so that a timeout is a `reqwest::Error` it can report).
    raw: bool,
    deadline: Option<Instant>,
    attempt_timeout: Duration,
    policy: &'a RetryPolicy,
    request_id: Option<Box<HeaderValue>>,
    options: &'a CallOptions,
    /// The call's span, when anyone listens.
    span: Option<tracing::Span>,
    /// Whether an attempt carried a credential (for the hint of a 401).
    credential_sent: std::sync::atomic::AtomicBool,
}

/// How one attempt failed, before it becomes an [`Error`] (once, for the last attempt).
pub(crate) enum Failure {
    /// A non-success answer; its body is still unread.
    Status(Response),
    /// No (complete) answer.
    Transport(reqwest::Error),
    /// The attempt's time ran out.
    Timeout(Duration),
    /// The success body passed the limit.
    TooLarge(usize, StatusCode, Option<HeaderValue>),
    /// An error that needs no more work (credentials, bad input).
    Done(Error),
    /// A non-success answer already read by a pass-through caller (see [`Call::pass_through`]).
    Read {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

impl Judge for Failure {
    fn hint(&self) -> Hint {
        match self {
            Failure::Status(resp) => retry::status_hint(resp.status(), resp.headers()),
            Failure::Transport(e) => retry::transport_hint(e),
            Failure::Read {
                status, headers, ..
            } => retry::status_hint(*status, headers),
            Failure::Timeout(_) | Failure::TooLarge(..) | Failure::Done(_) => Hint::Never,
        }
    }
}

/// A buffered success: the body and what the answer said about itself.
pub(crate) struct Buffered {
    pub body: Bytes,
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Buffered {
    /// The answer's `X-Request-Id`.
    pub(crate) fn request_id(&self) -> Option<String> {
        self.headers
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Pipeline {
    pub(crate) fn new(
        base_url: &str,
        http: reqwest::Client,
        auth: Arc<dyn AuthProvider>,
        defaults: Defaults,
        user_agent: Option<HeaderValue>,
    ) -> Result<Pipeline> {
        let base = Url::parse(base_url).map_err(|e| Error::invalid("url", e.to_string()))?;
        Ok(Pipeline {
            base,
            http,
            auth,
            defaults,
            user_agent,
            deprecations_seen: Mutex::default(),
            warn_deprecations: !std::env::var("AGENTTIER_DEPRECATION_WARNINGS")
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("off")),
            prepared: RwLock::new(None),
            endpoint: None,
            starts: Arc::default(),
        })
    }

    /// The Router's root, without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Sends `call` and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: Call,
        options: &CallOptions,
    ) -> Result<T> {
        // The call stays in this frame and is lent to the engine: moving it into another
        // async fn would store it twice (the callee's argument and its local).
        let answer = self.buffered_ref(&call, options).await?;
        serde_json::from_slice(&answer.body).map_err(|e| {
            Error::decode(
                call.op.name,
                Some(answer.status.as_u16()),
                answer.request_id(),
                e,
                &answer.body,
            )
        })
    }

    /// Sends `call`; the answer's body is read (within the client's limit) and dropped.
    pub(crate) async fn empty(&self, call: Call, options: &CallOptions) -> Result<()> {
        self.buffered_ref(&call, options).await.map(drop)
    }

    /// Sends `call` and reads its whole answer (within the client's limit).
    pub(crate) async fn buffered(&self, call: Call, options: &CallOptions) -> Result<Buffered> {
        self.buffered_ref(&call, options).await
    }

    /// [`Pipeline::buffered`] of a call the caller keeps.
    fn buffered_ref<'a>(
        &'a self,
        call: &'a Call,
        options: &'a CallOptions,
    ) -> impl Future<Output = Result<Buffered>> + Send + 'a {
        let max = self.defaults.max_body;
        self.execute(call, options, false, move |mut resp| async move {
            let status = resp.status();
            // Kept whole (no copy) for a decode error's request id.
            let headers = std::mem::take(resp.headers_mut());
            match body::read_limited(resp, max).await {
                Ok(body) => Ok(Buffered {
                    body,
                    status,
                    headers,
                }),
                Err(ReadError::TooLarge { limit }) => Err(Failure::TooLarge(
                    limit,
                    status,
                    headers.get(X_REQUEST_ID).cloned(),
                )),
                Err(ReadError::Transport(e)) => Err(Failure::Transport(e)),
            }
        })
    }

    /// Sends `call` and returns the success answer with its body unread, for streaming. The
    /// call's deadline covers getting the answer, not reading it.
    pub(crate) async fn send(&self, call: Call, options: &CallOptions) -> Result<Response> {
        self.execute(&call, options, true, |resp| async move { Ok(resp) })
            .await
    }

    /// The engine: resolves the call's limits, runs attempts under the retry engine inside one
    /// span, and turns the last failure into an [`Error`].
    ///
    /// The usual call (no tracing subscriber listening, no cancellation token) makes its first
    /// attempt inline and returns on success; only a failure enters the retry engine, in a
    /// future boxed on that cold path. That keeps the call's own future small.
    pub(crate) async fn execute<T, F, Fut>(
        &self,
        call: &Call,
        options: &CallOptions,
        head_only: bool,
        finish: F,
    ) -> Result<T>
    where
        F: Fn(Response) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let mut plan = self.plan(call.timeout, options, call.op)?;
        plan.head_only = head_only;
        let span = call_span(call);
        let outcome = if span.is_disabled() && options.cancel.is_none() {
            match self.attempt(call, &plan, &finish).await {
                Ok(v) => return Ok(v),
                Err(first) => Box::pin(self.attempts(call, &plan, Some(first), finish)).await,
            }
        } else {
            plan.span = (!span.is_disabled()).then(|| span.clone());
            Box::pin(
                self.attempts(call, &plan, None, finish)
                    .instrument(span.clone()),
            )
            .await
        };
        match outcome {
            Ok(v) => Ok(v),
            Err(Stop::Cancelled(_)) => Err(Error::Cancelled {
                operation: call.op.name,
            }),
            Err(Stop::Failed(failure, _)) => {
                // The failure path is boxed: it reads an error body and should not make every
                // call's future larger.
                let err = Box::pin(self.error_of(call.op, &call.url, failure, &plan)).await;
                span.in_scope(|| tracing::debug!(error = %err, "failed"));
                Err(err)
            }
        }
    }

    /// Runs the attempts of one call under the retry engine (inside the call's span), after
    /// the failed `first` one when the fast path made it.
    async fn attempts<T, F, Fut>(
        &self,
        call: &Call,
        plan: &Plan<'_>,
        first: Option<Failure>,
        finish: F,
    ) -> std::result::Result<T, Stop<Failure>>
    where
        F: Fn(Response) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let started = Instant::now();
        let budget = Budget {
            op: call.op,
            // A streamed body is gone once sent: such a call is never repeated.
            policy: if matches!(call.body, Body::Stream(..)) {
                &NO_RETRIES
            } else {
                plan.policy
            },
            deadline: plan.deadline,
            cancel: plan.options.cancel.as_ref(),
        };
        let outcome = retry::run_after(&budget, first, |_| self.attempt(call, plan, &finish)).await;
        if let Some(span) = &plan.span {
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            let n = match &outcome {
                Ok((_, n)) | Err(Stop::Failed(_, n)) | Err(Stop::Cancelled(n)) => *n,
            };
            span.record("attempts", n);
        }
        outcome.map(|(v, _)| v)
    }

    /// Resolves timeouts, deadline, policy and request id once per call.
    fn plan<'a>(
        &'a self,
        needs: Option<Duration>,
        options: &'a CallOptions,
        op: &'static Operation,
    ) -> Result<Plan<'a>> {
        for (field, d) in [
            ("timeout", options.timeout),
            ("attempt_timeout", options.attempt_timeout),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(Error::invalid(field, "must be a positive duration"));
            }
        }
        let timeout = options.timeout.or(needs).unwrap_or(self.defaults.timeout);
        let attempt_timeout = options
            .attempt_timeout
            .or(needs)
            .unwrap_or(self.defaults.attempt_timeout);
        let now = Instant::now();
        // A duration too large to add (years) means no deadline rather than an overflow.
        let mut deadline = now.checked_add(timeout);
        if let Some(at) = options.deadline {
            let at = Instant::from_std(at);
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        let request_id = match &options.request_id {
            None => None,
            Some(id) => Some(Box::new(request_id_header(op, id)?)),
        };
        Ok(Plan {
            head_only: false,
            raw: false,
            deadline,
            attempt_timeout,
            policy: options.retry.as_ref().unwrap_or(&self.defaults.retry),
            request_id,
            options,
            span: None,
            credential_sent: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// One attempt: build, authenticate, send, and judge the head; `finish` reads the body of a
    /// success within the same time limit.
    async fn attempt<T, F, Fut>(
        &self,
        call: &Call,
        plan: &Plan<'_>,
        finish: &F,
    ) -> std::result::Result<T, Failure>
    where
        F: Fn(Response) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let credential = if plan.raw {
            None
        } else {
            self.credential_header().await.map_err(Failure::Done)?
        };
        let mut url = call.url.clone();
        if let Some(endpoint) = &self.endpoint {
            // Boxed: the usual call, without an endpoint, keeps a small future.
            endpoint
                .route(&mut url, &self.http)
                .await
                .map_err(Failure::Done)?;
        }
        // The request is built and handed to reqwest without an await in between, so this
        // future never holds it (reqwest boxes it at once).
        let mut request = self
            .build(call, url, plan, credential)
            .map_err(Failure::Done)?;
        let now = Instant::now();
        // An attempt timeout too large to add (years) is as good as none: 30 years stand in.
        let attempt_end = now
            .checked_add(plan.attempt_timeout)
            .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400));
        let limit = match plan.deadline {
            Some(d) => d.min(attempt_end),
            None => attempt_end,
        };
        if !plan.head_only {
            // reqwest's own timer bounds the answer and the reading of its body (for a raw
            // call, the generated code reads it after the hook returns).
            *request.timeout_mut() = Some(limit.saturating_duration_since(now));
        }
        let pending = self.http.execute(request);
        let sent = async {
            let resp = pending.await.map_err(Failure::Transport)?;
            self.warn_if_deprecated(call.op, &resp);
            if let Some(span) = &plan.span {
                record_answer(span, &resp);
            }
            if resp.status().is_success() || call.pass_through {
                finish(resp).await
            } else {
                Err(Failure::Status(resp))
            }
        };
        if !plan.head_only {
            return sent.await;
        }
        // A stream: the limit covers getting the answer, not reading it. Boxed: the timer
        // would otherwise make every call's future larger.
        match Box::pin(tokio::time::timeout_at(limit, sent)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout(plan.attempt_timeout)),
        }
    }

    /// A fresh `reqwest::Request` for one attempt.
    fn build(
        &self,
        call: &Call,
        url: Url,
        plan: &Plan<'_>,
        credential: Option<(HeaderName, HeaderValue)>,
    ) -> Result<reqwest::Request> {
        let method = call.method.as_ref().unwrap_or(&call.op.method).clone();
        let mut request = reqwest::Request::new(method, url);
        let headers = request.headers_mut();
        if let Some(extra) = &call.headers {
            headers.extend((**extra).clone());
        }
        if !plan.options.headers.is_empty() {
            headers.extend(plan.options.headers.clone());
        }
        // JSON is what every route answers unless it says otherwise: only other kinds are
        // asked for (SSE, bytes, zip, text).
        if !call.accept.is_empty() && call.accept != "application/json" {
            headers.insert(ACCEPT, HeaderValue::from_static(call.accept));
        }
        if let Some(ua) = &self.user_agent {
            headers.insert(USER_AGENT, ua.clone());
        }
        if let Some(id) = &plan.request_id {
            headers.insert(X_REQUEST_ID, (**id).clone());
        }
        match &call.body {
            Body::Empty => {}
            Body::Bytes(bytes, content_type) => {
                headers.insert(CONTENT_TYPE, content_type.clone());
                *request.body_mut() = Some(reqwest::Body::from(bytes.clone()));
            }
            Body::Stream(body, content_type) => {
                let body = body.lock().unwrap_or_else(|p| p.into_inner()).take();
                let Some(body) = body else {
                    // A stream is sent once: there is nothing to send a second time.
                    return Err(Error::invalid(
                        "body",
                        "a streamed body cannot be sent again",
                    ));
                };
                request
                    .headers_mut()
                    .insert(CONTENT_TYPE, content_type.clone());
                *request.body_mut() = Some(body);
            }
        }
        if let Some((name, value)) = credential {
            plan.credential_sent
                .store(true, std::sync::atomic::Ordering::Relaxed);
            request.headers_mut().insert(name, value);
        }
        Ok(request)
    }

    /// The header the current credential is sent as, prepared once per credential change.
    pub(crate) async fn credential_header(&self) -> Result<Option<(HeaderName, HeaderValue)>> {
        let credential = match self.auth.credential_now() {
            Some(now) => now?,
            None => self.auth.credential().await?,
        };
        let Some(credential) = credential else {
            return Ok(None);
        };
        {
            let prepared = self.prepared.read().unwrap_or_else(|p| p.into_inner());
            if let Some((cached, name, value)) = prepared.as_ref()
                && *cached == credential
            {
                return Ok(Some((name.clone(), value.clone())));
            }
        }
        let (name, value) = credential.header()?;
        *self.prepared.write().unwrap_or_else(|p| p.into_inner()) =
            Some((credential, name.clone(), value.clone()));
        Ok(Some((name, value)))
    }

    /// The last failure of a call as an [`Error`]: the one place a failure becomes one.
    async fn error_of(
        &self,
        op: &'static Operation,
        url: &Url,
        failure: Failure,
        plan: &Plan<'_>,
    ) -> Error {
        let deadline = plan.deadline;
        match failure {
            Failure::Status(resp) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                // The error body is read within what is left of the call (and at least a moment).
                let until = deadline
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(5))
                    .max(Instant::now() + Duration::from_millis(200));
                let body = tokio::time::timeout_at(until, body::read_prefix(resp, MAX_ERROR_BODY))
                    .await
                    .unwrap_or_default();
                let mut err = error::classify(op.name, status, &headers, &body);
                self.finish_error(&mut err, url, plan);
                err
            }
            Failure::Read {
                status,
                headers,
                body,
            } => {
                let mut err = error::classify(op.name, status, &headers, &body);
                self.finish_error(&mut err, url, plan);
                err
            }
            Failure::Transport(e) => match Error::from_transport(
                op.name,
                // With an endpoint the request went elsewhere than the call's placeholder URL.
                &match (&self.endpoint, e.url()) {
                    (Some(_), Some(sent)) => sent.clone(),
                    _ => url.clone(),
                },
                e,
            ) {
                Error::Timeout {
                    operation,
                    after: None,
                    source,
                } => Error::Timeout {
                    operation,
                    after: Some(plan.attempt_timeout),
                    source,
                },
                other => other,
            },
            Failure::Timeout(after) => Error::Timeout {
                operation: op.name,
                after: Some(after),
                source: None,
            },
            Failure::TooLarge(limit, status, request_id) => Error::BodyTooLarge {
                operation: op.name,
                limit,
                status: Some(status.as_u16()),
                request_id: request_id.and_then(|v| v.to_str().ok().map(str::to_owned)),
            },
            Failure::Done(e) => e,
        }
    }

    /// What only the pipeline knows, added to an HTTP error: the URL called, a hint for a 401,
    /// and the caller's own credential scrubbed from what the server echoed.
    fn finish_error(&self, err: &mut Error, url: &Url, plan: &Plan<'_>) {
        let sent = plan
            .credential_sent
            .load(std::sync::atomic::Ordering::Relaxed);
        let secret = if sent {
            self.prepared
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|(credential, _, _)| credential.secret().expose().to_owned())
        } else {
            None
        };
        let authentication = matches!(err, Error::Authentication(_));
        let Some(api) = err.api_mut() else {
            return;
        };
        api.url = Some(error::shown_url(url));
        if let Some(secret) = secret.filter(|s| s.len() >= 8) {
            api.message = api.message.replace(&secret, "[redacted]");
            api.body = api.body.replace(&secret, "[redacted]");
        }
        if authentication && api.hint.is_none() {
            api.hint = Some(if sent {
                "the Router refused the credentials: check the API key, or refresh the token"
                    .to_owned()
            } else {
                "no credentials were sent: set AGENTTIER_API_KEY or AGENTTIER_TOKEN and use \
                 Client::from_env(), or pass one with ClientBuilder::auth(ApiKey::new(..))"
                    .to_owned()
            });
        }
    }

    /// Warns once per operation when the Router marks a route deprecated (`Deprecation: true`,
    /// with `Sunset` and a `successor-version` link when it sends them). The Router sends none
    /// today; this is how a client hears of a route going away.
    fn warn_if_deprecated(&self, op: &'static Operation, resp: &Response) {
        let headers = resp.headers();
        let Some(flag) = headers.get(DEPRECATION).and_then(|v| v.to_str().ok()) else {
            return;
        };
        if !self.warn_deprecations || flag.trim().eq_ignore_ascii_case("false") {
            return;
        }
        let first = self
            .deprecations_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(op.name);
        if !first {
            return;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        tracing::warn!(
            operation = op.name,
            sunset = header("sunset"),
            link = header("link"),
            "the Router marks this operation deprecated (set AGENTTIER_DEPRECATION_WARNINGS=off to silence)"
        );
    }
}

/// The one span of a call.
fn call_span(call: &Call) -> tracing::Span {
    tracing::debug_span!(
        "agenttier.request",
        operation = call.op.name,
        method = %call.method.as_ref().unwrap_or(&call.op.method),
        path = %call.url.path(),
        status = tracing::field::Empty,
        request_id = tracing::field::Empty,
        attempts = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    )
}

/// Puts the answer's status and request id on the call's span.
fn record_answer(span: &tracing::Span, resp: &Response) {
    span.record("status", resp.status().as_u16());
    if let Some(id) = resp
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        span.record("request_id", id);
    }
}

/// A caller's request id as a header value: visible ASCII, at most 256 characters.
fn request_id_header(op: &Operation, id: &str) -> Result<HeaderValue> {
    let ok = !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Error::invalid(
            "request_id",
            format!(
                "{id:?} cannot be sent as X-Request-Id for {op} (1-256 visible ASCII characters)"
            ),
        ));
    }
    HeaderValue::from_str(id).map_err(|e| Error::invalid("request_id", e.to_string()))
}
