//! The one request pipeline: credentials, timeouts, retries, tracing and error mapping.
//!
//! Generated operations reach it through progenitor's `ClientHooks` (`pre` and `exec`);
//! handwritten streaming routes (files, archive, SSE) call [`Shared::send`]. Both end in
//! [`Shared::execute`] and in [`crate::error::classify`], so every request behaves the same.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use progenitor_client::{ClientInfo, OperationInfo, ResponseValue};
use reqwest::header::{ACCEPT, HeaderValue, USER_AGENT};
use reqwest::{Method, Request, Response};
use tracing::Instrument;

use crate::auth::AuthProvider;
use crate::error::{self, Error, Result};
use crate::raw;
use crate::retry::RetryPolicy;

/// State shared by every clone of a [`crate::Client`] and by its raw client.
#[derive(Clone)]
pub struct Shared(pub(crate) Arc<SharedInner>);

pub(crate) struct SharedInner {
    pub base_url: String,
    pub http: reqwest::Client,
    pub auth: Arc<dyn AuthProvider>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub user_agent: HeaderValue,
    /// Operations already warned about as deprecated (one warning per operation per client).
    pub deprecations_seen: Mutex<HashSet<&'static str>>,
    /// False when `AGENTTIER_DEPRECATION_WARNINGS=off`.
    pub warn_deprecations: bool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.0.base_url)
            .field("auth", &self.0.auth)
            .field("retry", &self.0.retry)
            .field("timeout", &self.0.timeout)
            .finish()
    }
}

/// Per-call settings that override the client's.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallOptions {
    /// Timeout of each HTTP attempt.
    pub timeout: Option<Duration>,
    /// Overall deadline across attempts and backoff.
    pub deadline: Option<Instant>,
    /// Retry even though the request is not idempotent.
    pub retry_unsafe: bool,
}

/// What one facade call carries down to the hooks, and what the hooks leave for the mapping.
#[derive(Default)]
pub(crate) struct CallCtx {
    options: CallOptions,
    /// The typed error for a failed response or credential lookup, set by the hooks.
    failure: Mutex<Option<Error>>,
    /// Status and request id of the last response, for decode errors.
    last: Mutex<Option<(u16, Option<String>)>>,
}

tokio::task_local! {
    static CALL: Arc<CallCtx>;
}

fn current() -> Option<Arc<CallCtx>> {
    CALL.try_with(Arc::clone).ok()
}

fn stash_failure(err: Error) {
    if let Some(ctx) = current() {
        *ctx.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
    }
}

/// The POST routes that the Router makes safe to repeat: stop and resume check the phase,
/// a port forward is an upsert, and a share grant updates the same entry.
const SAFE_POSTS: &[&str] = &[
    "stop_sandbox",
    "resume_sandbox",
    "forward_port",
    "share_sandbox",
];

fn idempotent(method: &Method, operation: &str) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || SAFE_POSTS.contains(&operation)
}

impl Shared {
    pub(crate) fn base_url(&self) -> &str {
        &self.0.base_url
    }

    /// Adds credentials, user agent, `Accept` and the attempt timeout.
    pub(crate) async fn prepare(&self, req: &mut Request) -> Result<()> {
        if let Some(cred) = self.0.auth.credential().await? {
            let (name, value) = cred.header()?;
            req.headers_mut().insert(name, value);
        }
        let headers = req.headers_mut();
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.0.user_agent.clone());
        headers
            .entry(ACCEPT)
            .or_insert_with(|| HeaderValue::from_static("application/json"));
        // progenitor sends `api-version: <info.version>` on every request; the Router ignores it.
        Ok(())
    }

    /// Sends `req`, retrying as the policy allows, inside one tracing span. Returns the final
    /// response whatever its status, or the last transport error.
    pub(crate) async fn execute(
        &self,
        mut req: Request,
        operation: &'static str,
    ) -> reqwest::Result<Response> {
        let options = current().map(|c| c.options.clone()).unwrap_or_default();
        let policy = &self.0.retry;
        let may_retry = idempotent(req.method(), operation)
            || options.retry_unsafe
            || policy.retry_non_idempotent;
        let per_attempt = options.timeout.unwrap_or(self.0.timeout);
        let span = tracing::debug_span!(
            "agenttier.request",
            operation,
            method = %req.method(),
            path = %req.url().path(),
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            attempts = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        async move {
            let mut attempt: u32 = 0;
            loop {
                // Bodies are `Bytes` (cheap to clone); streamed bodies cannot be cloned and are
                // never sent twice.
                let next = if attempt < policy.max_retries { req.try_clone() } else { None };
                let timeout = match options.deadline {
                    Some(d) => per_attempt.min(d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))),
                    None => per_attempt,
                };
                *req.timeout_mut() = Some(req.timeout().copied().unwrap_or(timeout).min(timeout));
                let result = self.0.http.execute(req).await;
                let wait = match &result {
                    Ok(resp) if may_retry && policy.retries_status(resp.status()) => {
                        Some(policy.wait(attempt, error::retry_after_header(resp.headers())))
                    }
                    Ok(_) => None,
                    // Never sent: safe to repeat whatever the method.
                    Err(e) if e.is_connect() => Some(policy.wait(attempt, None)),
                    // Sent, then the connection failed: only idempotent requests repeat.
                    Err(e) if (e.is_request() || e.is_body()) && !e.is_timeout() && may_retry => {
                        Some(policy.wait(attempt, None))
                    }
                    Err(_) => None,
                };
                let retry = match (wait, next) {
                    (Some(Some(wait)), Some(next)) if options
                        .deadline
                        .is_none_or(|d| Instant::now() + wait < d) =>
                    {
                        Some((wait, next))
                    }
                    _ => None,
                };
                match retry {
                    Some((wait, next)) => {
                        tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, outcome = %describe(&result), "retrying");
                        drop(result);
                        tokio::time::sleep(wait).await;
                        req = next;
                        attempt += 1;
                    }
                    None => {
                        let span = tracing::Span::current();
                        span.record("attempts", attempt + 1);
                        span.record("duration_ms", started.elapsed().as_millis() as u64);
                        match &result {
                            Ok(resp) => {
                                span.record("status", resp.status().as_u16());
                                if let Some(id) = error::request_id(resp.headers()) {
                                    span.record("request_id", id.as_str());
                                }
                                tracing::debug!("response");
                                self.warn_if_deprecated(operation, resp);
                            }
                            Err(e) => tracing::debug!(error = %e, "transport failure"),
                        }
                        return result;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Warns once per operation when the Router marks a route deprecated (`Deprecation: true`,
    /// with `Sunset` and a `successor-version` link when it sends them). The Router sends none
    /// today (router-api.md §1.9); this is how a client hears of a route going away.
    fn warn_if_deprecated(&self, operation: &'static str, resp: &Response) {
        let headers = resp.headers();
        let Some(flag) = headers.get("deprecation").and_then(|v| v.to_str().ok()) else {
            return;
        };
        if !self.0.warn_deprecations || flag.trim().eq_ignore_ascii_case("false") {
            return;
        }
        let first = self
            .0
            .deprecations_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(operation);
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
            operation,
            sunset = header("sunset"),
            link = header("link"),
            "the Router marks this operation deprecated (set AGENTTIER_DEPRECATION_WARNINGS=off to silence)"
        );
    }

    /// The handwritten path: prepare, execute, and map a failure. Success responses come back
    /// unread, so their bodies can be streamed.
    pub(crate) async fn send(
        &self,
        operation: &'static str,
        options: CallOptions,
        mut req: Request,
    ) -> Result<Response> {
        let ctx = Arc::new(CallCtx {
            options,
            ..CallCtx::default()
        });
        CALL.scope(ctx, async move {
            self.prepare(&mut req).await?;
            let resp = self
                .execute(req, operation)
                .await
                .map_err(|e| Error::from_reqwest(operation, e))?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            Err(read_failure(operation, resp).await)
        })
        .await
    }

    /// Builds a request to `path` (from the Router's root) on the shared HTTP client.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.0
            .http
            .request(method, format!("{}{}", self.0.base_url, path))
    }
}

fn describe(result: &reqwest::Result<Response>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(e) => e.to_string(),
    }
}

/// Reads a failed response's body (bounded) and classifies it.
pub(crate) async fn read_failure(operation: &'static str, resp: Response) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_bounded(resp, error::MAX_ERROR_BODY).await;
    error::classify(operation, status, &headers, &body)
}

async fn read_bounded(mut resp: Response, max: usize) -> Bytes {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() >= max {
            break;
        }
    }
    Bytes::from(out)
}

/// Runs a generated operation with per-call options and maps its result. The single place
/// where the generated client's errors become [`Error`].
pub(crate) async fn run<T>(
    operation: &'static str,
    options: CallOptions,
    fut: impl Future<
        Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<raw::types::Error>>,
    >,
) -> Result<T> {
    let ctx = Arc::new(CallCtx {
        options,
        ..CallCtx::default()
    });
    match CALL.scope(Arc::clone(&ctx), fut).await {
        Ok(v) => Ok(v.into_inner()),
        Err(e) => Err(map_raw_error(operation, e, Some(&ctx))),
    }
}

/// Maps an error of the generated client. With a call context, the hooks have already
/// classified the response; without one (direct use of [`crate::raw`]), the status, headers
/// and parsed body are classified here, through the same function.
pub(crate) fn map_raw_error(
    operation: &'static str,
    err: progenitor_client::Error<raw::types::Error>,
    ctx: Option<&CallCtx>,
) -> Error {
    if let Some(ctx) = ctx
        && let Some(stashed) = ctx.failure.lock().unwrap_or_else(|p| p.into_inner()).take()
    {
        return stashed;
    }
    let last = ctx.and_then(|c| c.last.lock().unwrap_or_else(|p| p.into_inner()).clone());
    use progenitor_client::Error as P;
    match err {
        P::CommunicationError(e) | P::ResponseBodyError(e) | P::InvalidUpgrade(e) => {
            Error::from_reqwest(operation, e)
        }
        P::ErrorResponse(rv) => {
            let body = serde_json::to_vec(rv.as_ref()).unwrap_or_default();
            error::classify(operation, rv.status(), rv.headers(), &body)
        }
        P::InvalidResponsePayload(bytes, e) => {
            let (status, request_id) = last.map(|(s, r)| (Some(s), r)).unwrap_or((None, None));
            Error::decode(operation, status, request_id, e, &bytes)
        }
        P::UnexpectedResponse(resp) => {
            error::classify(operation, resp.status(), resp.headers(), b"")
        }
        P::InvalidRequest(m) => Error::InvalidInput {
            field: "request",
            message: m,
        },
        P::Custom(m) => Error::Credentials {
            message: m,
            source: None,
        },
    }
}

impl progenitor_client::ClientHooks<Shared> for raw::Client {
    async fn pre<E>(
        &self,
        request: &mut Request,
        _info: &OperationInfo,
    ) -> std::result::Result<(), progenitor_client::Error<E>> {
        match self.inner().prepare(request).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                stash_failure(e);
                Err(progenitor_client::Error::Custom(text))
            }
        }
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let operation = info.operation_id;
        let resp = self.inner().execute(request, operation).await?;
        let status = resp.status();
        let request_id = error::request_id(resp.headers());
        if let Some(ctx) = current() {
            *ctx.last.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((status.as_u16(), request_id));
        }
        if status.is_success() || status.is_informational() {
            return Ok(resp);
        }
        // Classify the real body now (text/plain 401s, HTML 502s, the mux's 404) and give the
        // generated code a body it can always parse, so it never drops the status.
        let headers = resp.headers().clone();
        let body = read_bounded(resp, error::MAX_ERROR_BODY).await;
        let err = error::classify(operation, status, &headers, &body);
        let parsed = error::ErrorBody::parse_lenient(&body).unwrap_or_default();
        let normalized = serde_json::json!({
            "error": parsed.error.unwrap_or_else(|| err.api().map(|a| a.message().to_owned()).unwrap_or_default()),
            "message": parsed.message,
        });
        stash_failure(err);
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers.iter() {
            if name != reqwest::header::CONTENT_LENGTH && name != reqwest::header::CONTENT_TYPE {
                builder = builder.header(name, value);
            }
        }
        let rebuilt = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&normalized).unwrap_or_default())
            .unwrap_or_else(|_| http::Response::new(Vec::new()));
        Ok(Response::from(rebuilt))
    }
}
