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
///
/// ```
/// assert!(agenttier::USER_AGENT.starts_with("agenttier-rust/"));
/// ```
pub const USER_AGENT: &str = concat!("agenttier-rust/", env!("CARGO_PKG_VERSION"));

/// Environment variable holding the Router URL, read by [`Client::from_env`].
///
/// ```
/// assert_eq!(agenttier::ENV_API_URL, "AGENTTIER_API_URL");
/// if std::env::var_os(agenttier::ENV_API_URL).is_none() {
///     eprintln!("set {} to the Router's URL", agenttier::ENV_API_URL);
/// }
/// ```
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
///
/// ```
/// # fn main() -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::{Client, RetryPolicy};
///
/// let client = Client::builder("http://localhost:8080")
///     .application("ci-bot/1.4")
///     .connect_timeout(Duration::from_secs(3))
///     .retry(RetryPolicy::default().max_retries(5))
///     .build()?; // sends no request
/// # Ok(()) }
/// ```
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
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let client = agenttier::Client::builder("http://localhost:8080")
    ///     .connect_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Timeout of each HTTP attempt (default 30 s). Exec uses its command timeout + 10 s,
    /// agent streams use their own; override per call with [`Client::with_timeout`].
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let client = agenttier::Client::builder("http://localhost:8080")
    ///     .timeout(Duration::from_secs(20))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Names your application in the user agent: `myapp/1.2 agenttier-rust/<version>`.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// let client = Client::builder("http://localhost:8080").application("ci-bot/1.4").build()?;
    /// // A product that cannot be sent in a header makes the build fail.
    /// assert!(Client::builder("http://localhost:8080").application("ci\nbot").build().is_err());
    /// # Ok(()) }
    /// ```
    pub fn application(mut self, product: impl Into<String>) -> Self {
        self.application = Some(product.into());
        self
    }

    /// Trusts an extra root CA (PEM), e.g. a cluster-internal CA.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pem = std::fs::read("/etc/agenttier/ca.pem")?;
    /// let client = agenttier::Client::builder("https://agenttier.internal")
    ///     .add_root_certificate_pem(&pem)?
    ///     .build()?;
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// // A development Router with a self-signed certificate.
    /// let client = agenttier::Client::builder("https://localhost:8443")
    ///     .danger_accept_invalid_certs(true)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.accept_invalid_certs = yes;
        self
    }

    /// Uses your own `reqwest::Client` (proxies, TLS, pools). Build it with
    /// [`redirect_policy`] so credentials never follow a redirect to another origin. This
    /// builder's connect timeout, root certificates and `danger_accept_invalid_certs` then do
    /// not apply: set them on your client.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let http = reqwest::Client::builder()
    ///     .redirect(agenttier::redirect_policy())
    ///     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
    ///     .build()?;
    /// let client = agenttier::Client::builder("https://agenttier.example.com")
    ///     .http_client(http)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::{Client, RetryPolicy};
    /// let client = Client::builder("http://localhost:8080").retry(RetryPolicy::none()).build()?;
    /// # Ok(()) }
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The credentials to send. Without this, [`Client::from_env`] detects them and
    /// [`ClientBuilder::build`] sends none.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::{Client, auth::ApiKey};
    /// let client = Client::builder("https://agenttier.example.com")
    ///     .auth(ApiKey::new("atk_live_123")?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn auth(mut self, provider: impl AuthProvider + 'static) -> Self {
        self.auth = Some(Arc::new(provider));
        self
    }

    /// Like [`ClientBuilder::auth`], for a provider already behind an `Arc`.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// use agenttier::auth::{DetectEnv, detect_with};
    ///
    /// // One provider (and its token cache) for two Routers.
    /// let auth = detect_with(&DetectEnv::isolated().var("AGENTTIER_TOKEN", "eyJhbGciOi..."))?;
    /// let east = Client::builder("https://east.agenttier.example.com")
    ///     .auth_shared(auth.clone())
    ///     .build()?;
    /// let west = Client::builder("https://west.agenttier.example.com")
    ///     .auth_shared(auth)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn auth_shared(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.auth = Some(provider);
        self
    }

    /// Builds the client. Fails on a URL that is not `http(s)://host[:port][/prefix]` (a
    /// query or fragment included) and on an [`ClientBuilder::application`] that is not a valid
    /// header value.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// let client = Client::builder("http://localhost:8080").build()?;
    /// assert!(Client::builder("localhost:8080").build().is_err()); // no scheme
    /// assert!(Client::builder("http://localhost:8080/?x=1").build().is_err()); // a query
    /// # Ok(()) }
    /// ```
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
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let http = reqwest::Client::builder().redirect(agenttier::redirect_policy()).build()?;
/// let client = agenttier::Client::builder("http://localhost:8080").http_client(http).build()?;
/// # Ok(()) }
/// ```
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
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// assert_eq!(client.base_url(), "http://localhost:8080");
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```no_run
    /// // AGENTTIER_API_URL=https://agenttier.example.com AGENTTIER_API_KEY=atk_...
    /// let client = agenttier::Client::from_env()?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
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
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// // `?` maps the generated client's error into agenttier::Error.
    /// let list = client.raw().list_sandboxes(Some("team-a"), None).await?.into_inner();
    /// println!("{} sandboxes", list.sandboxes.unwrap_or_default().len());
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &raw::Client {
        &self.raw
    }

    /// The Router's root URL, without a trailing slash (and without a trailing `/api/v1`: the
    /// SDK's routes are written from the root).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080/api/v1/").build()?;
    /// assert_eq!(client.base_url(), "http://localhost:8080");
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// let sb = client.with_deadline(deadline).get_sandbox("demo").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> Client {
        let mut c = self.clone();
        c.call.deadline = Some(deadline);
        c
    }

    /// A client whose calls retry POST and PATCH too (you accept the risk of duplicates).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// // `ls` is harmless to run twice, so its POST may be retried.
    /// let sb = client.with_unsafe_retries().sandbox("demo")?;
    /// let out = sb.exec("ls /workspace").await?;
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// client.healthz().await?;
    /// # Ok(()) }
    /// ```
    pub async fn healthz(&self) -> Result<()> {
        self.probe("healthz", "/healthz").await
    }

    /// `GET /readyz`: Ok when the Router can reach the Kubernetes API (503 otherwise).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(e) = client.readyz().await {
    ///     eprintln!("Router not ready: {e}");
    /// }
    /// # Ok(()) }
    /// ```
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
