//! The one error type of the crate, and the one place where HTTP failures become it.
//!
//! Every Router response that is not a success goes through [`classify`], whichever path sent
//! the request (a generated operation or a streamed one), so the status and the request id are
//! never lost, whatever the body looks like.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::types::SandboxSummary;

/// Result alias used throughout the crate.
///
/// ```
/// use agenttier::{Result, ShareLevel};
///
/// fn level(s: &str) -> Result<ShareLevel> {
///     s.parse()
/// }
/// assert!(level("viewer").is_ok());
/// assert!(level("owner").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

use crate::pipeline::body::MAX_ERROR_BODY;

/// One governance rule that a request broke (`{"code","message"}` on the wire).
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::Error;
/// match client.create_sandbox("demo").template("gpu-large").await {
///     Ok(sb) => println!("created {}", sb.id()),
///     Err(Error::PolicyViolation { violations, .. }) => {
///         for v in violations {
///             eprintln!("{}: {}", v.code, v.message);
///         }
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Violation {
    /// Machine code, for example `cpu_limit_exceeded` or `template_not_allowed`.
    #[serde(default)]
    pub code: String,
    /// Human explanation.
    #[serde(default)]
    pub message: String,
}

/// What the Router said when a request failed: status, request id, codes and the body.
///
/// Every HTTP variant of [`Error`] carries one.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// if let Err(err) = client.get_sandbox("demo").await {
///     if let Some(api) = err.api() {
///         let id = api.request_id().unwrap_or("none");
///         eprintln!("HTTP {}: {} (request id {id})", api.status(), api.message());
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) operation: &'static str,
    pub(crate) status: u16,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: String,
    /// What the caller can do about it, when the SDK can tell.
    pub(crate) hint: Option<String>,
    /// The URL called (without credentials or query), when known.
    pub(crate) url: Option<String>,
}

impl ApiError {
    /// The operation that failed (the snake_case operation id, e.g. `get_sandbox`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     if let Some(api) = err.api() {
    ///         assert_eq!(api.operation(), "get_sandbox");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn operation(&self) -> &'static str {
        self.operation
    }
    /// HTTP status code.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// if let Err(err) = sb.stop().await {
    ///     match err.api().map(|api| api.status()) {
    ///         Some(409) => println!("{} is not running", sb.id()),
    ///         _ => return Err(err),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The body's `error` field, whenever it is non-empty. Next to a `message` it is a machine
    /// code (e.g. `rate_limited`, `policy_violation`, `invalid_token`); on its own, as in most
    /// handler errors, it is human text, which [`ApiError::message`] then repeats.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.list_sandboxes().await {
    ///     if err.api().and_then(|api| api.code()) == Some("invalid_token") {
    ///         eprintln!("the token was refused; log in again");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    /// The human message: the body's `message`, else its `error`, else the body text, else
    /// the reason phrase.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     if let Some(api) = err.api() {
    ///         eprintln!("the Router said: {}", api.message());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The `X-Request-Id` the Router returned, if any (the mux's own 404s carry none).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     if let Some(id) = err.api().and_then(|api| api.request_id()) {
    ///         eprintln!("quote request id {id} when reporting this");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// How long the Router asked the caller to wait (`Retry-After` header or `retryAfter`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.list_sandboxes().await {
    ///     if let Some(wait) = err.api().and_then(|api| api.retry_after()) {
    ///         tokio::time::sleep(wait).await;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// The response `Content-Type`, if any.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     if let Some(api) = err.api() {
    ///         if api.content_type().is_some_and(|ct| ct.starts_with("text/html")) {
    ///             eprintln!("a proxy answered, not the Router");
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
    /// The raw body as text (lossy UTF-8, at most 16 KiB).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     if let Some(api) = err.api() {
    ///         eprintln!("{}", api.body());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("request_id", &self.request_id)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered HTTP {}: {}",
            self.operation,
            self.status,
            Printable(&self.message)
        )?;
        if let Some(code) = &self.code
            && code != &self.message
        {
            write!(f, " [{code}]")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {})", Printable(id))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// Text from a server, shown with its control characters escaped (a body must not move the
/// cursor or forge log lines).
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl ApiError {
    /// What the caller can do about the failure, when the SDK can tell (also at the end of
    /// the error's `Display`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// if let Err(e) = sb.exec("ls").await {
    ///     if let Some(hint) = e.api().and_then(|api| api.hint()) {
    ///         eprintln!("hint: {hint}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// Every way a call can fail. Variants say what the caller can do: retry
/// ([`Error::is_retryable`]), fix the input, re-authenticate, or give up.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use agenttier::Error;
/// match sb.exec("make test").await {
///     Ok(out) => println!("exit {}", out.exit_code),
///     Err(Error::NotFound(_)) => eprintln!("no sandbox {}", sb.id()),
///     Err(Error::Authentication(_)) => eprintln!("log in again"),
///     Err(e) if e.is_retryable() => eprintln!("try again later: {e}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: the credentials are missing, unknown, expired or malformed. Re-authenticate.
    #[error("authentication failed: {0}")]
    Authentication(Box<ApiError>),
    /// 403: admin required, a scoped key not allowed here, or sharing denied.
    #[error("not authorized: {0}")]
    Authorization(Box<ApiError>),
    /// 403 `policy_violation`: governance refused the request; `violations` says why (and so
    /// does the Display, one reason each).
    #[error("policy violation: {error}{}", list_violations(violations))]
    PolicyViolation {
        /// The response.
        error: Box<ApiError>,
        /// The rules broken.
        violations: Vec<Violation>,
    },
    /// 404: the object does not exist (or, on most sandbox routes, is not yours).
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// The name is taken: the Router reports Kubernetes' AlreadyExists as a 500
    /// (`failed to create sandbox: ... already exists`). Pick another name, or use the
    /// existing object.
    #[error("already exists: {0}")]
    AlreadyExists(Box<ApiError>),
    /// 404 for a name that exists in several namespaces: the Router cannot tell which one is
    /// meant, and no REST route takes a namespace, so none of them can be reached over REST.
    /// Rename one copy, or use the terminal, whose route does take a namespace.
    #[error("ambiguous sandbox name: {0}")]
    AmbiguousName(Box<ApiError>),
    /// 409: the object is in the wrong state (e.g. `cannot stop sandbox in phase Stopped`).
    /// Its Display says which state it needs and how to wait for it.
    #[error("conflict: {0}")]
    Conflict(Box<ApiError>),
    /// The Router's mux answered `404 page not found` (text/plain, no request id) or an empty
    /// 405: this Router has no such route, because it is older than this SDK or because the
    /// client's base URL carries a path that does not belong there. Not a missing sandbox.
    #[error(
        "this Router does not serve `{operation}` (the mux answered 404 page not found): the Router is older than this SDK, or the client's base URL has a wrong path{}",
        error.url.as_ref().map(|u| format!(" (the call went to {u})")).unwrap_or_default()
    )]
    UnsupportedRoute {
        /// The operation that has no route on this Router.
        operation: &'static str,
        /// The response.
        error: Box<ApiError>,
    },
    /// 409 `quota_would_exceed` on bulk create: nothing was created.
    #[error("quota would be exceeded in namespace {namespace}: {error}")]
    QuotaWouldExceed {
        /// The response.
        error: Box<ApiError>,
        /// The namespace whose quota is short.
        namespace: String,
        /// The rules broken.
        violations: Vec<Violation>,
    },
    /// 429 `rate_limited`: wait [`Error::retry_after`] and try again.
    #[error("rate limited: {0}")]
    RateLimited(Box<ApiError>),
    /// 429 `concurrency_exceeded` on invoke: the sandbox runs its maximum of invokes.
    #[error("invoke concurrency exceeded ({inflight} of {limit} in flight): {error}")]
    ConcurrencyExceeded {
        /// The response.
        error: Box<ApiError>,
        /// The sandbox's cap.
        limit: u32,
        /// Invokes in flight on the replica that answered.
        inflight: u32,
    },
    /// 413: the body or file is larger than the Router accepts.
    #[error("payload too large: {0}")]
    PayloadTooLarge(Box<ApiError>),
    /// 424: the sandbox has no entrypoint; call `configure` first.
    #[error("failed dependency: {0}")]
    FailedDependency(Box<ApiError>),
    /// Any other HTTP error (400, 500, an unexpected 3xx, ...).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The Router could not be reached (connection failure) or a gateway answered 502/503/504.
    #[error("Router unavailable during {operation}: {message}")]
    Unavailable {
        /// The operation.
        operation: &'static str,
        /// What happened.
        message: String,
        /// The gateway's response, for 502/503/504.
        api: Option<Box<ApiError>>,
        /// The transport error, for connection failures.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The request (or the caller's overall deadline) timed out.
    #[error("{operation} timed out{}", after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// The timeout that expired, when known.
        after: Option<Duration>,
        /// The transport error, if the HTTP client reported it.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The call was cancelled through its [`CallOptions::cancel_on`](crate::CallOptions::cancel_on)
    /// token. An attempt in flight was dropped: the Router may or may not have acted on it.
    #[error("{operation} was cancelled")]
    Cancelled {
        /// The operation.
        operation: &'static str,
    },
    /// A response body passed the client's size limit
    /// ([`ClientBuilder::max_response_body`](crate::ClientBuilder::max_response_body)); reading
    /// stopped there.
    #[error("the {operation} response is larger than the {limit} byte limit{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    BodyTooLarge {
        /// The operation.
        operation: &'static str,
        /// The limit, in bytes.
        limit: usize,
        /// HTTP status, when known.
        status: Option<u16>,
        /// `X-Request-Id`, when known.
        request_id: Option<String>,
    },
    /// The TLS connection to the Router failed (an untrusted or mismatched certificate, or a
    /// server that does not speak TLS). Not retried: trying again will not help.
    #[error("TLS connection to {url} failed during {operation}: {message}")]
    Tls {
        /// The operation.
        operation: &'static str,
        /// The URL tried (without credentials or query).
        url: String,
        /// What failed, with a hint.
        message: String,
        /// The transport error.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The input was refused before any request was sent.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A success response whose body could not be read as the documented type.
    #[error("could not decode the {operation} response{}: {message}; body starts {snippet:?}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Decode {
        /// The operation.
        operation: &'static str,
        /// HTTP status, when known.
        status: Option<u16>,
        /// `X-Request-Id`, when known.
        request_id: Option<String>,
        /// The decoder's complaint.
        message: String,
        /// The first bytes of the body (withheld when it may carry a secret).
        snippet: String,
        /// The whole body, kept (redacted in `Display` and `Debug`) when the answer may carry
        /// a secret the Router shows only once (a minted API key, a share-link token, a
        /// webhook's signing secret), so the caller can still recover it: see
        /// [`Error::undecoded_secret`].
        secret_body: Option<crate::SecretString>,
    },
    /// A waiter's deadline passed before the sandbox reached the wanted state.
    #[error("sandbox {sandbox_id} did not become {target} within {waited:?} (last phase: {})", last.as_ref().map(|s| if s.status.is_empty() { "\"\"" } else { s.status.as_str() }).unwrap_or("none seen"))]
    WaitTimeout {
        /// The sandbox.
        sandbox_id: String,
        /// What the waiter waited for (`Running`, `Stopped`, `deleted`).
        target: &'static str,
        /// How long it waited.
        waited: Duration,
        /// The last summary seen, if any poll succeeded.
        last: Option<Box<SandboxSummary>>,
    },
    /// The sandbox entered the `Error` phase while a waiter watched it.
    #[error("sandbox {sandbox_id} entered Error: {message}")]
    SandboxFailed {
        /// The sandbox.
        sandbox_id: String,
        /// The server's `message`.
        message: String,
        /// The summary that showed the error.
        last: Box<SandboxSummary>,
    },
    /// Credentials could not be obtained (an unreadable token file, a failing exec plugin, ...).
    #[error("credentials: {message}")]
    Credentials {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An agent stream reported failure: a configure `error` event, a stream that ended
    /// without its final event, or a non-zero install exit code.
    #[error("agent {operation} failed{}: {message}", phase.as_ref().map(|p| format!(" during {p}")).unwrap_or_default())]
    Agent {
        /// `configure` or `invoke`.
        operation: &'static str,
        /// The stage that failed (`files`, `install`), when the Router said.
        phase: Option<String>,
        /// What happened.
        message: String,
    },
    /// A split upload could not be joined in the sandbox (its parts were removed).
    #[error("upload to {path} failed: {message}")]
    UploadFailed {
        /// The remote path.
        path: String,
        /// What the join reported.
        message: String,
    },
    /// A command exited with a non-zero code where success was required
    /// ([`ExecOutput::check`](crate::ExecOutput::check), [`Sandbox::exec_checked`](crate::Sandbox::exec_checked)).
    #[error("the command exited with code {exit_code}{}", stderr_excerpt(stderr))]
    CommandFailed {
        /// The exit code.
        exit_code: i32,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// The Router could not be found or reached through a Kubernetes connection
    /// ([`crate::connect`]): kubectl missing, a tunnel that did not come up, no Router Service,
    /// Ingress or HTTPRoute found. `tried` names every Service, URL or command tried, in order.
    #[error("cannot connect to the Router ({kind}): {message}{}", if tried.is_empty() { String::new() } else { format!("; tried: {}", tried.join("; ")) })]
    Connection {
        /// What failed.
        kind: crate::connect::ConnectErrorKind,
        /// What happened, with a hint.
        message: String,
        /// Everything tried, in order.
        tried: Vec<String>,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A terminal session ended or failed (feature `terminal`): the connection closed, the
    /// shell exited, or the Router sent an `error` frame. Open a new session to go on.
    #[error("terminal session: {message}")]
    TerminalClosed {
        /// What happened.
        message: String,
    },
    /// A method of the blocking client (module `agenttier::blocking`, feature `blocking`) was
    /// called on a thread that drives a Tokio runtime (inside `#[tokio::main]`, a task,
    /// `spawn_blocking` or a `Runtime::enter` guard), where parking the thread could stall or
    /// deadlock that runtime. Nothing was sent. Use the async [`Client`](crate::Client) there,
    /// or call the blocking client from a plain `std::thread`.
    #[error(
        "{operation}: the blocking client cannot be called inside a Tokio runtime; use the async Client there, or a plain std::thread"
    )]
    BlockingInRuntime {
        /// The blocking method that was called, as `Type::method` (`"Sandbox::exec"`).
        operation: &'static str,
    },
    /// Reading or writing a local file failed.
    #[error("local file{}: {source}", if path.as_os_str().is_empty() { String::new() } else { format!(" {}", path.display()) })]
    Io {
        /// The local path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The Router's response, for every HTTP error.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(err) = client.get_sandbox("demo").await {
    ///     match err.api() {
    ///         Some(api) => eprintln!("HTTP {}: {}", api.status(), api.message()),
    ///         None => eprintln!("no answer from the Router: {err}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Authentication(e)
            | Error::Authorization(e)
            | Error::NotFound(e)
            | Error::Conflict(e)
            | Error::AmbiguousName(e)
            | Error::AlreadyExists(e)
            | Error::RateLimited(e)
            | Error::PayloadTooLarge(e)
            | Error::FailedDependency(e)
            | Error::Api(e) => Some(e),
            Error::PolicyViolation { error, .. }
            | Error::UnsupportedRoute { error, .. }
            | Error::QuotaWouldExceed { error, .. }
            | Error::ConcurrencyExceeded { error, .. } => Some(error),
            Error::Unavailable { api, .. } => api.as_deref(),
            _ => None,
        }
    }

    /// The Router's response, mutable (for the pipeline's finishing touches).
    pub(crate) fn api_mut(&mut self) -> Option<&mut ApiError> {
        match self {
            Error::Authentication(e)
            | Error::Authorization(e)
            | Error::NotFound(e)
            | Error::Conflict(e)
            | Error::AmbiguousName(e)
            | Error::AlreadyExists(e)
            | Error::RateLimited(e)
            | Error::PayloadTooLarge(e)
            | Error::FailedDependency(e)
            | Error::Api(e) => Some(e),
            Error::PolicyViolation { error, .. }
            | Error::UnsupportedRoute { error, .. }
            | Error::QuotaWouldExceed { error, .. }
            | Error::ConcurrencyExceeded { error, .. } => Some(error),
            Error::Unavailable { api, .. } => api.as_deref_mut(),
            _ => None,
        }
    }

    /// HTTP status, when the Router (or a gateway) answered.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// match sb.resume().await {
    ///     Err(e) if e.status() == Some(409) => println!("{} is not stopped", sb.id()),
    ///     other => drop(other?),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode { status, .. } | Error::BodyTooLarge { status, .. } => *status,
            _ => self.api().map(|e| e.status),
        }
    }

    /// `X-Request-Id` of the failed response, when there was one.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(e) = client.get_sandbox("demo").await {
    ///     eprintln!("{e} (request id {})", e.request_id().unwrap_or("none"));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Decode { request_id, .. } | Error::BodyTooLarge { request_id, .. } => {
                request_id.as_deref()
            }
            _ => self.api().and_then(|e| e.request_id()),
        }
    }

    /// The whole body of a success answer that could not be decoded and may carry a secret
    /// the Router shows only once (a minted API key, a share-link token, a webhook's signing
    /// secret). The Router has already created the key, link or webhook: this is the only
    /// copy of its secret, so the caller can still store it (or revoke what was created).
    /// Never shown by `Display` or `Debug`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::user::ApiKeyRequest;
    /// match client.api_keys().create(ApiKeyRequest::user("ci")).await {
    ///     Ok(_minted) => {}
    ///     Err(e) => {
    ///         if let Some(body) = e.undecoded_secret() {
    ///             // Parse it yourself, e.g. with serde_json::Value, and store the key.
    ///             let _answer = body.expose();
    ///         }
    ///         return Err(e);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn undecoded_secret(&self) -> Option<&crate::SecretString> {
        match self {
            Error::Decode { secret_body, .. } => secret_body.as_ref(),
            _ => None,
        }
    }

    /// How long the Router asked the caller to wait before trying again.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// if let Err(e) = client.list_sandboxes().await {
    ///     tokio::time::sleep(e.retry_after().unwrap_or(Duration::from_secs(1))).await;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// True when the same call may succeed if tried again later: transport failures,
    /// timeouts, 408, 429 and 502/503/504.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agenttier::{Client, Error};
    ///
    /// let timeout = Error::Timeout {
    ///     operation: "get_sandbox",
    ///     after: Some(Duration::from_secs(30)),
    ///     source: None,
    /// };
    /// assert!(timeout.is_retryable());
    /// // Bad input stays bad, however often it is sent.
    /// let bad_url = Client::builder("localhost:8080").build().unwrap_err();
    /// assert!(!bad_url.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable { .. }
            | Error::Timeout { .. }
            | Error::RateLimited(_)
            | Error::ConcurrencyExceeded { .. } => true,
            Error::Api(e) => e.status == 408,
            _ => false,
        }
    }

    /// True for 404s that mean the object is missing (not the mux's unknown-route 404).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = match client.get_sandbox("demo").await {
    ///     Ok(sb) => sb,
    ///     Err(e) if e.is_not_found() => client.create_sandbox("demo").template("general-coding").await?,
    ///     Err(e) => return Err(e),
    /// };
    /// # Ok(()) }
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Maps a transport failure (no complete HTTP answer) for `operation`.
    pub(crate) fn from_reqwest(operation: &'static str, err: reqwest::Error) -> Self {
        let url = err.url().cloned();
        match url {
            Some(url) => Error::from_transport(operation, &url, err),
            None => Error::from_transport(
                operation,
                &reqwest::Url::parse("http://unknown.invalid/").expect("a valid URL"),
                err,
            ),
        }
    }

    /// Maps a transport failure of a request to `url`: the one place such failures are
    /// classified. Messages name the URL tried (never its credentials or query).
    pub(crate) fn from_transport(
        operation: &'static str,
        url: &reqwest::Url,
        err: reqwest::Error,
    ) -> Self {
        let shown = shown_url(url);
        if is_tls_failure(&err) {
            let cause = transport_message(&err);
            let hint = if cause.contains("InvalidContentType")
                || cause.contains("corrupt message")
                || cause.contains("wrong version number")
            {
                "; the server answered in plain HTTP: use an http:// URL"
            } else if cause.contains("certificate") || cause.contains("Certificate") {
                "; trust its CA with ClientBuilder::add_root_certificate_pem"
            } else {
                ""
            };
            return Error::Tls {
                operation,
                url: shown,
                message: format!("{cause}{hint}"),
                source: Some(err),
            };
        }
        if err.is_timeout() {
            Error::Timeout {
                operation,
                after: None,
                source: Some(err),
            }
        } else if err.is_builder() {
            Error::InvalidInput {
                field: "request",
                message: err.to_string(),
            }
        } else if err.is_connect() {
            Error::Unavailable {
                operation,
                message: format!("cannot connect to {shown}: {}", transport_message(&err)),
                api: None,
                source: Some(err),
            }
        } else {
            // A connection closed while sending or while reading the answer (a body cut
            // short): the Router may have acted.
            Error::Unavailable {
                operation,
                message: format!(
                    "the connection to {shown} failed mid-request: {}",
                    transport_message(&err)
                ),
                api: None,
                source: Some(err),
            }
        }
    }

    pub(crate) fn decode(
        operation: &'static str,
        status: Option<u16>,
        request_id: Option<String>,
        message: impl fmt::Display,
        body: &[u8],
    ) -> Self {
        let secret = holds_secret(operation, body);
        Error::Decode {
            operation,
            status,
            request_id,
            message: message.to_string(),
            snippet: if secret {
                "[redacted: the answer carries a secret shown only once; see Error::undecoded_secret]"
                    .to_owned()
            } else {
                snippet(body, 200)
            },
            secret_body: secret
                .then(|| crate::SecretString::new(String::from_utf8_lossy(body).into_owned())),
        }
    }
}

/// The operations whose success answer carries a secret the Router shows only once (a minted
/// API key, a share-link token, a webhook's signing secret: the spec's `Secret` schema).
const MINTING_OPERATIONS: [&str; 3] = [
    crate::operations::op::CREATE_API_KEY.name,
    crate::operations::op::CREATE_SHARE_LINK.name,
    crate::operations::op::CREATE_WEBHOOK.name,
];

/// Whether a body that failed to decode may hold a secret, so that no part of it is shown: any
/// answer of a minting operation, and any body with a field named like one (a raw call's
/// operation is not known).
fn holds_secret(operation: &str, body: &[u8]) -> bool {
    if MINTING_OPERATIONS.contains(&operation) {
        return true;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    ["\"key\"", "\"token\"", "\"secret\"", "password"]
        .iter()
        .any(|field| text.contains(field))
}

/// `: code: reason; code: reason` for a policy violation's Display.
fn list_violations(violations: &[Violation]) -> String {
    let mut out = String::new();
    for (i, v) in violations.iter().enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        match (v.code.is_empty(), v.message.is_empty()) {
            (false, false) => out.push_str(&format!("{} ({})", v.message, v.code)),
            (true, false) => out.push_str(&v.message),
            (false, true) => out.push_str(&v.code),
            (true, true) => out.push_str("(no reason given)"),
        }
    }
    out
}

/// The last lines of a failed command's stderr, for its Display (at most 500 characters).
fn stderr_excerpt(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        return String::new();
    }
    let start = trimmed.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
    let cut = if start > 0 { "…" } else { "" };
    format!(": {cut}{}", Printable(&trimmed[start..]))
}

impl From<std::io::Error> for Error {
    /// A local I/O error, without a path (use [`Error::Io`]'s `path` when you have one).
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            path: PathBuf::new(),
            source,
        }
    }
}

/// `scheme://host[:port]/path` of a URL: no user, password or query.
pub(crate) fn shown_url(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path()
    )
}

/// Whether a connection failed in TLS. rustls reports certificate and protocol failures as
/// I/O errors of kind `InvalidData`, wrapped in the connector's errors; `io::Error::source`
/// skips the error it wraps, so the wrapped one is looked at too. native-tls (OpenSSL) errors
/// are known by their text.
pub(crate) fn is_tls_failure(err: &reqwest::Error) -> bool {
    if !err.is_connect() {
        return false;
    }
    fn tls_like(e: &(dyn std::error::Error + 'static), depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            if let Some(inner) = io.get_ref()
                && tls_like(inner, depth + 1)
            {
                return true;
            }
        }
        let text = e.to_string();
        if [
            "certificate",
            "tls",
            "TLS",
            "InvalidContentType",
            "HandshakeFailure",
            // OpenSSL (native-tls): "SSL routines:ssl3_get_record:wrong version number", ...
            "SSL routines",
            "SSL_",
            "handshake",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            return true;
        }
        e.source().is_some_and(|s| tls_like(s, depth + 1))
    }
    std::error::Error::source(err).is_some_and(|s| tls_like(s, 0))
}

fn transport_message(err: &reqwest::Error) -> String {
    // reqwest's Display names only the outer layer; the cause (refused, reset) is in the chain.
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The first `max` bytes of a body as text, for error messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The fields the Router puts in error bodies (the spec's `Error` schema and the descriptions of its 4XX/5XX answers).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub violations: Option<Vec<Violation>>,
    #[serde(default)]
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub inflight: Option<u32>,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl ErrorBody {
    /// Reads an error body leniently: proper JSON first; then the JSON-looking text/plain the
    /// Router's auth middleware writes without escaping (`"message":"alg "HS256" ..."`).
    pub(crate) fn parse_lenient(body: &[u8]) -> Option<ErrorBody> {
        if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
            return Some(parsed);
        }
        let text = std::str::from_utf8(body).ok()?.trim();
        if !(text.starts_with('{') && text.ends_with('}')) {
            return None;
        }
        let error = field_until(text, "\"error\":\"", "\"");
        // The unescaped message runs to the closing `"}` of the object.
        let message = text
            .find("\"message\":\"")
            .map(|i| &text[i + "\"message\":\"".len()..])
            .and_then(|rest| rest.strip_suffix("\"}").or(Some(rest)))
            .map(str::to_owned);
        if error.is_none() && message.is_none() {
            return None;
        }
        Some(ErrorBody {
            error,
            message,
            ..ErrorBody::default()
        })
    }
}

fn field_until(text: &str, start: &str, end: &str) -> Option<String> {
    let i = text.find(start)? + start.len();
    let rest = &text[i..];
    let j = rest.find(end)?;
    Some(rest[..j].to_owned())
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `Retry-After` as whole seconds (the Router never sends an HTTP date).
pub(crate) fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, "retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The request id of a response. `HeaderMap` lookups ignore case, so `X-Request-Id` (what Go
/// sends) and `X-Request-ID` both match.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    header_str(headers, "x-request-id")
}

/// Turns a non-success response into an [`Error`]. The only place that decides which variant
/// an HTTP failure becomes.
pub(crate) fn classify(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let body = &body[..body.len().min(MAX_ERROR_BODY)];
    let text = String::from_utf8_lossy(body).into_owned();
    let content_type = header_str(headers, "content-type");
    let parsed = ErrorBody::parse_lenient(body).unwrap_or_default();
    let nonempty = |s: &Option<String>| {
        s.as_ref()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let error = nonempty(&parsed.error);
    let human = nonempty(&parsed.message);
    let message = human
        .clone()
        .or_else(|| error.clone())
        .or_else(|| Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_else(|| "request failed".to_owned());
    // The `error` field is a machine code (`rate_limited`, `invalid_api_key`) or, in most
    // handler errors, the human sentence itself: only the former is a code.
    let code = error.filter(|e| {
        e.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    let retry_after = retry_after_header(headers).or(parsed.retry_after.map(Duration::from_secs));
    let hint = hint_for(operation, status.as_u16(), &message);
    let api = Box::new(ApiError {
        operation,
        status: status.as_u16(),
        code: code.clone(),
        message,
        request_id: request_id(headers),
        retry_after,
        content_type: content_type.clone(),
        body: text.clone(),
        hint,
        url: None,
    });
    let code = code.as_deref().unwrap_or("");
    match status.as_u16() {
        401 => Error::Authentication(api),
        403 if code == "policy_violation" => Error::PolicyViolation {
            error: api,
            violations: parsed.violations.unwrap_or_default(),
        },
        403 => Error::Authorization(api),
        404 if is_mux_not_found(content_type.as_deref(), &text, headers) => {
            Error::UnsupportedRoute {
                operation,
                error: api,
            }
        }
        404 if api.message.contains("exists in multiple namespaces") => Error::AmbiguousName(api),
        404 => Error::NotFound(api),
        // The mux's answer outside /api/v1 (a base URL with a path of its own lands there).
        405 if text.trim().is_empty() && request_id(headers).is_none() => Error::UnsupportedRoute {
            operation,
            error: api,
        },
        409 if code == "quota_would_exceed" => Error::QuotaWouldExceed {
            error: api,
            namespace: parsed.namespace.unwrap_or_default(),
            violations: parsed.violations.unwrap_or_default(),
        },
        409 => Error::Conflict(api),
        413 => Error::PayloadTooLarge(api),
        424 => Error::FailedDependency(api),
        429 if code == "concurrency_exceeded" => Error::ConcurrencyExceeded {
            error: api,
            limit: parsed.limit.unwrap_or(0),
            inflight: parsed.inflight.unwrap_or(0),
        },
        429 => Error::RateLimited(api),
        // Kubernetes' AlreadyExists comes back as a 500 (openapi.yaml, `info.description`).
        500 if api.message.contains("already exists") => Error::AlreadyExists(api),
        502..=504 => Error::Unavailable {
            operation,
            message: format!("HTTP {}: {}", api.status, api.message),
            api: Some(api),
            source: None,
        },
        _ => Error::Api(api),
    }
}

/// What a caller can do about a failure, from the Router's own wording (openapi.yaml's
/// descriptions of each 4XX).
fn hint_for(operation: &str, status: u16, message: &str) -> Option<String> {
    let waiting = "wait for it with sandbox.wait_until_running() (after resume() if it is Stopped)";
    let hint = match status {
        409 if message.starts_with("cannot stop sandbox in phase") => {
            "stop works only on a Running sandbox: wait with sandbox.wait_until_running(), or \
             leave it if it is already Stopped"
                .to_owned()
        }
        409 if message.starts_with("cannot resume sandbox in phase") => {
            "resume works only on a Stopped (or failed) sandbox: stop it and wait with \
             sandbox.stop().await?.wait(), or leave it if it is already Running"
                .to_owned()
        }
        409 if message.contains("not running")
            || message.contains("must be Running")
            || message.contains("wait for Running") =>
        {
            format!("the sandbox must be Running: {waiting}")
        }
        404 if message.contains("exists in multiple namespaces") => {
            "the name exists in several namespaces and no REST route takes a namespace, so the \
             Router cannot reach any of them: rename one copy, or use the terminal, whose route \
             takes a namespace"
                .to_owned()
        }
        424 => {
            "configure the agent first: sandbox.agent().configure().entrypoint([...])".to_owned()
        }
        500 if message.contains("already exists") && operation.starts_with("create") => {
            "the name is taken: pick another, or use create_or_get()".to_owned()
        }
        _ => return None,
    };
    Some(hint)
}

/// gorilla/mux's answer for a path (or method) it has no route for: plain text, no request id.
fn is_mux_not_found(content_type: Option<&str>, text: &str, headers: &HeaderMap) -> bool {
    content_type.is_some_and(|ct| ct.starts_with("text/plain"))
        && text.trim() == "404 page not found"
        && request_id(headers).is_none()
}
