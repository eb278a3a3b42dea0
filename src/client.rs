//! [`Client`] and [`ClientBuilder`]: one connection pool, credentials, timeouts and retries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};

use crate::auth::{AuthProvider, NoAuth};
use crate::raw;
use crate::retry::RetryPolicy;
use crate::transport::{self, CallOptions, Shared, SharedInner};
use crate::{Error, Result};

/// The `User-Agent` sent by default: `agenttier-rust/<crate version>`.
pub const USER_AGENT: &str = concat!("agenttier-rust/", env!("CARGO_PKG_VERSION"));

/// Environment variable holding the Router URL, read by [`Client::from_env`].
pub const ENV_API_URL: &str = "AGENTTIER_API_URL";

/// A client for one Router. Cheap to clone (an `Arc`), `Send + Sync`, one connection pool.
///
/// ```no_run
/// # async fn demo() -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::{auth::ApiKey, Client};
///
/// let client = Client::builder("https://agenttier.example.com")
///     .auth(ApiKey::new("atk_...")?)
///     .timeout(Duration::from_secs(20))
///     .build()?;
/// for sb in client.list_sandboxes(Default::default()).await? {
///     println!("{} {}", sb.name, sb.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    raw: Arc<raw::Client>,
    call: CallOptions,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("shared", self.shared())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. See [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    url: String,
    connect_timeout: Duration,
    timeout: Duration,
    application: Option<String>,
    root_certificates: Vec<reqwest::Certificate>,
    accept_invalid_certs: bool,
    http_client: Option<reqwest::Client>,
    retry: RetryPolicy,
    auth: Option<Arc<dyn AuthProvider>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Timeout for establishing a connection (default 10 s). Ignored with
    /// [`ClientBuilder::http_client`], whose own settings apply.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Timeout of each HTTP attempt (default 30 s). Exec uses its command timeout + 10 s,
    /// agent streams use their own; override per call with [`Client::with_timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Names your application in the user agent: `myapp/1.2 agenttier-rust/<version>`.
    pub fn application(mut self, product: impl Into<String>) -> Self {
        self.application = Some(product.into());
        self
    }

    /// Trusts an extra root CA (PEM), e.g. a cluster-internal CA.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self> {
        // reqwest accepts text without any PEM block as "no certificates"; a CA file that
        // holds none is a mistake worth reporting.
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::invalid("root_certificate", e.to_string()))?;
        if certs.is_empty() {
            return Err(Error::invalid(
                "root_certificate",
                "no PEM certificate (-----BEGIN CERTIFICATE-----) found",
            ));
        }
        self.root_certificates.extend(certs);
        Ok(self)
    }

    /// Skips TLS certificate verification. Only for development against self-signed Routers:
    /// anyone on the path can then read your credentials.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.accept_invalid_certs = yes;
        self
    }

    /// Uses your own `reqwest::Client` (proxies, TLS, pools). Build it with
    /// [`redirect_policy`] so credentials never follow a redirect to another origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The credentials to send. Without this, [`Client::from_env`] detects them and
    /// [`ClientBuilder::build`] sends none.
    pub fn auth(mut self, provider: impl AuthProvider + 'static) -> Self {
        self.auth = Some(Arc::new(provider));
        self
    }

    /// Like [`ClientBuilder::auth`], for a provider already behind an `Arc`.
    pub fn auth_shared(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.auth = Some(provider);
        self
    }

    /// Builds the client. Fails on a URL that is not `http(s)://host[:port][/prefix]`.
    pub fn build(self) -> Result<Client> {
        let base_url = normalize_url(&self.url)?;
        let agent = match &self.application {
            Some(app) => format!("{app} {USER_AGENT}"),
            None => USER_AGENT.to_owned(),
        };
        let user_agent = HeaderValue::from_str(&agent)
            .map_err(|_| Error::invalid("application", "not a valid header value"))?;
        let http = match self.http_client {
            Some(c) => c,
            None => {
                let mut b = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .redirect(redirect_policy())
                    .user_agent(agent.clone())
                    .danger_accept_invalid_certs(self.accept_invalid_certs);
                for cert in self.root_certificates {
                    b = b.add_root_certificate(cert);
                }
                b.build()
                    .map_err(|e| Error::invalid("client", e.to_string()))?
            }
        };
        let shared = Shared(Arc::new(SharedInner {
            base_url: base_url.clone(),
            http: http.clone(),
            auth: self.auth.unwrap_or_else(|| Arc::new(NoAuth)),
            retry: self.retry,
            timeout: self.timeout,
            user_agent,
            deprecations_seen: Default::default(),
            warn_deprecations: !std::env::var("AGENTTIER_DEPRECATION_WARNINGS")
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("off")),
        }));
        let raw = raw::Client::new_with_client(&base_url, http, shared);
        Ok(Client {
            raw: Arc::new(raw),
            call: CallOptions::default(),
        })
    }
}

/// The redirect policy the client uses: follow at most 5 redirects within the same origin,
/// and never to another origin, so `X-API-Key` and `Authorization` stay with the Router.
/// Give it to your own `reqwest::ClientBuilder` when you pass one in.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(|u| u.origin());
        if first.is_some_and(|o| o != attempt.url().origin()) {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

fn normalize_url(raw: &str) -> Result<String> {
    let url = Url::parse(raw.trim()).map_err(|e| Error::invalid("url", format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid(
            "url",
            format!("{raw:?} is not an http(s) URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "url",
            format!("{raw:?} must not have a query or fragment"),
        ));
    }
    let mut s = url.as_str().trim_end_matches('/').to_owned();
    // The Python and Go clients double the prefix when given ".../api/v1"; paths here are
    // written from the Router's root, so a trailing /api/v1 is dropped.
    if let Some(stripped) = s.strip_suffix("/api/v1") {
        s = stripped.to_owned();
    }
    Ok(s)
}

impl Client {
    /// Starts building a client for the Router at `url` (e.g. `http://localhost:8080`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            application: None,
            root_certificates: Vec::new(),
            accept_invalid_certs: false,
            http_client: None,
            retry: RetryPolicy::default(),
            auth: None,
        }
    }

    /// A client for `AGENTTIER_API_URL` with detected credentials: `AGENTTIER_API_KEY`, then
    /// `AGENTTIER_TOKEN` (or `AGENTTIER_BEARER_TOKEN`), then the in-cluster service-account
    /// token, then kubeconfig, else none. Empty variables count as unset.
    pub fn from_env() -> Result<Client> {
        let url = std::env::var(ENV_API_URL)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::invalid("url", format!("{ENV_API_URL} is not set")))?;
        Client::builder(url)
            .auth_shared(crate::auth::detect()?)
            .build()
    }

    /// The generated client, sharing this client's pool, credentials, retries and tracing.
    pub fn raw(&self) -> &raw::Client {
        &self.raw
    }

    /// The Router's root URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.shared().base_url()
    }

    pub(crate) fn shared(&self) -> &Shared {
        progenitor_client::ClientInfo::inner(&*self.raw)
    }

    pub(crate) fn options(&self) -> CallOptions {
        self.call.clone()
    }

    /// A client whose calls use `timeout` for each HTTP attempt.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client.with_timeout(Duration::from_secs(2)).get_sandbox("demo").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        let mut c = self.clone();
        c.call.timeout = Some(timeout);
        c
    }

    /// A client whose calls give up at `deadline`, across attempts and backoff.
    pub fn with_deadline(&self, deadline: Instant) -> Client {
        let mut c = self.clone();
        c.call.deadline = Some(deadline);
        c
    }

    /// A client whose calls retry POST and PATCH too (you accept the risk of duplicates).
    pub fn with_unsafe_retries(&self) -> Client {
        let mut c = self.clone();
        c.call.retry_unsafe = true;
        c
    }

    /// Runs a generated operation under this client's call options.
    pub(crate) async fn run<T>(
        &self,
        operation: &'static str,
        fut: impl Future<
            Output = std::result::Result<
                progenitor_client::ResponseValue<T>,
                progenitor_client::Error<raw::types::Error>,
            >,
        >,
    ) -> Result<T> {
        transport::run(operation, self.options(), fut).await
    }

    /// `GET /healthz`: Ok when the Router process is alive.
    pub async fn healthz(&self) -> Result<()> {
        self.probe("healthz", "/healthz").await
    }

    /// `GET /readyz`: Ok when the Router can reach the Kubernetes API (503 otherwise).
    pub async fn readyz(&self) -> Result<()> {
        self.probe("readyz", "/readyz").await
    }

    async fn probe(&self, operation: &'static str, path: &str) -> Result<()> {
        let req = self
            .shared()
            .request(Method::GET, path)
            .build()
            .map_err(|e| Error::from_reqwest(operation, e))?;
        self.shared()
            .send(operation, self.options(), req)
            .await
            .map(drop)
    }
}

impl From<progenitor_client::Error<raw::types::Error>> for Error {
    /// Maps an error of a generated operation called through [`Client::raw`].
    fn from(err: progenitor_client::Error<raw::types::Error>) -> Self {
        transport::map_raw_error("raw", err, None)
    }
}
