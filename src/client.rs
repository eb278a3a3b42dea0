//! [`Client`] and [`ClientBuilder`]: one connection pool, credentials, timeouts and retries.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use progenitor_client::ClientInfo;
use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;

use crate::auth::{AuthProvider, DetectEnv, NoAuth};
use crate::connect::{Connection, Endpoint, Mode, TunnelOptions};
#[cfg(feature = "kubeconfig")]
use crate::connect::{DiscoverOptions, InClusterOptions};
use crate::operations::{Operation, op};
use crate::pipeline::body::DEFAULT_MAX_RESPONSE_BODY;
use crate::pipeline::options::CallOptions;
use crate::pipeline::retry::RetryPolicy;
use crate::pipeline::{Buffered, Call, Defaults, Pipeline, RawInner};
use crate::raw;
use crate::{Error, Result};

/// A boxed future borrowing the client: the facade boxes the pipeline's future once per call,
/// so its own futures stay small.
pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

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
/// for sb in client.list_sandboxes().await? {
///     println!("{} {}", sb.name, sb.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    raw: Arc<raw::Client>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("connection", &self.connection())
            .field("auth", &self.pipeline().auth)
            .field("options", self.options())
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
    /// A Kubernetes connection instead of `url` ([`crate::connect`]).
    connection: Option<Mode>,
    connect_timeout: Duration,
    timeout: Duration,
    attempt_timeout: Duration,
    max_body: usize,
    application: Option<String>,
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    root_certificates: Vec<reqwest::Certificate>,
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    accept_invalid_certs: bool,
    http_client: Option<reqwest::Client>,
    retry: RetryPolicy,
    auth: Option<Arc<dyn AuthProvider>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("connection", &self.connection)
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

    /// The default time of a whole call: every attempt, backoff and `Retry-After` wait, and
    /// reading a buffered answer (default 60 s). Exec waits for its command (+ 10 s) and agent
    /// streams for their own limits unless a call sets a timeout; override per call with
    /// [`Client::with_timeout`].
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

    /// The default time of one attempt, within [`ClientBuilder::timeout`] (default 30 s).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// // Give up on a hung attempt after 5 s and retry, within 60 s in all.
    /// let client = agenttier::Client::builder("http://localhost:8080")
    ///     .attempt_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// The largest response body read into memory, in bytes (default 32 MiB,
    /// [`DEFAULT_MAX_RESPONSE_BODY`](crate::DEFAULT_MAX_RESPONSE_BODY)). A larger answer fails
    /// with [`Error::BodyTooLarge`] as soon as it passes the limit (at once when its
    /// `Content-Length` says so), whatever the server sends. Event streams (agent configure and
    /// invoke) hold at most this much for one event; file downloads to disk have their own limit.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080")
    ///     .max_response_body(8 << 20)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
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
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
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
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.accept_invalid_certs = yes;
        self
    }

    /// Uses your own `reqwest::Client` (proxies, TLS, pools). Build it with
    /// [`redirect_policy`] so credentials never follow a redirect to another origin: with
    /// credentials set, [`ClientBuilder::build`] refuses a client that keeps reqwest's default
    /// policy or a `Policy::limited` one ([`Error::InvalidInput`], field `http_client`), since
    /// those follow any redirect and reqwest does not strip `X-API-Key` there. This
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
    /// query or fragment included, or a user name or password), on an
    /// [`ClientBuilder::application`] that is not a valid header value, and on a supplied
    /// [`ClientBuilder::http_client`] that would carry credentials to another origin. Logs a
    /// warning (tracing) when credentials are set for a plain `http://` URL whose host is not
    /// this machine.
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
        let endpoint = self.connection.map(Endpoint::new).transpose()?;
        let agent = match &self.application {
            Some(app) => format!("{app} {USER_AGENT}"),
            None => USER_AGENT.to_owned(),
        };
        let user_agent = HeaderValue::from_str(&agent)
            .map_err(|_| Error::invalid("application", "not a valid header value"))?;
        if let Some(auth) = &self.auth {
            // Before anything else about credentials: some may go only to certain Routers.
            auth.check_destination(match endpoint {
                Some(_) => crate::auth::Destination::ThroughCluster,
                None => crate::auth::Destination::Url(&base_url),
            })?;
            warn_if_plain_http(&base_url);
        }
        let (http, user_agent) = match self.http_client {
            Some(c) => {
                if self.auth.is_some() && follows_redirects_anywhere(&c) {
                    return Err(Error::invalid(
                        "http_client",
                        "this reqwest::Client follows redirects to other origins, where it would \
                         carry the X-API-Key header: build it with \
                         .redirect(agenttier::redirect_policy()) (or reqwest::redirect::Policy::none())",
                    ));
                }
                (c, Some(user_agent))
            }
            None => {
                let b = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .redirect(redirect_policy())
                    .user_agent(agent.clone());
                #[cfg(any(feature = "rustls", feature = "native-tls"))]
                let b = {
                    let mut b = b.danger_accept_invalid_certs(self.accept_invalid_certs);
                    for cert in self.root_certificates {
                        b = b.add_root_certificate(cert);
                    }
                    b
                };
                let http = b
                    .build()
                    .map_err(|e| Error::invalid("client", e.to_string()))?;
                (http, None)
            }
        };
        let defaults = Defaults {
            timeout: crate::wire::positive("timeout", self.timeout)?,
            attempt_timeout: crate::wire::positive("attempt_timeout", self.attempt_timeout)?,
            retry: self.retry,
            max_body: self.max_body,
        };
        let mut pipeline = Pipeline::new(
            &base_url,
            http.clone(),
            self.auth.unwrap_or_else(|| Arc::new(NoAuth)),
            defaults,
            user_agent,
        )?;
        pipeline.endpoint = endpoint;
        let inner = RawInner {
            pipeline: Arc::new(pipeline),
            options: CallOptions::default(),
        };
        Ok(Client {
            raw: Arc::new(raw::Client::new_with_client(&base_url, http, inner)),
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

/// Whether a supplied client keeps reqwest's default redirect policy or a plain limit: both
/// follow a redirect to any origin, and reqwest strips only `Authorization` and cookies there,
/// not `X-API-Key`. reqwest shows a policy in the client's `Debug` only when it is not the
/// default; a custom policy (such as [`redirect_policy`]) or `Policy::none()` passes.
fn follows_redirects_anywhere(client: &reqwest::Client) -> bool {
    let shown = format!("{client:?}");
    match shown.find("redirect_policy: ") {
        None => true,
        Some(i) => shown[i..].starts_with("redirect_policy: \"Policy(Limit("),
    }
}

/// Warns (tracing) when credentials are about to go over plain `http://` to a host that is
/// not this machine: anyone on the way can read them.
fn warn_if_plain_http(base_url: &str) {
    let Ok(url) = Url::parse(base_url) else {
        return;
    };
    if url.scheme() != "http" {
        return;
    }
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    };
    if !loopback {
        tracing::warn!(
            url = %crate::error::shown_url(&url),
            "credentials will be sent over plain http to a host that is not this machine: use https://"
        );
    }
}

/// `raw` as `scheme://host:port/path` for messages: a refused URL may carry a password
/// (`user:pass@`) or a token in its query or fragment, and none of that may be shown. Works on
/// text that does not parse as a URL too.
fn shown_for_message(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(url) = Url::parse(raw)
        && let Some(host) = url.host_str()
    {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        return format!("{}://{host}{port}{}", url.scheme(), url.path());
    }
    let (scheme, rest) = match raw.find("://") {
        Some(i) => (&raw[..i + 3], &raw[i + 3..]),
        None => ("", raw),
    };
    // Not a URL: keep what stands after the last `@` (a user and password stand before it)
    // and before the first `?` or `#` (a query or fragment). When the `@` comes after the
    // `?` or `#`, which part is the password cannot be told: nothing is shown.
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest.rfind('@') {
        None => format!("{scheme}{}", &rest[..end]),
        Some(at) if at < end => format!("{scheme}{}", &rest[at + 1..end]),
        Some(_) => format!("{scheme}[not shown]"),
    }
}

fn normalize_url(raw: &str) -> Result<String> {
    // Messages show scheme://host:port/path only: never a user, password, query or fragment.
    let shown = shown_for_message(raw);
    let trimmed = raw.trim();
    if !trimmed.contains("://") {
        return Err(Error::invalid(
            "url",
            format!(
                "{shown:?} has no scheme: write http://{shown} (or https:// when the Router serves TLS)"
            ),
        ));
    }
    let url = Url::parse(trimmed).map_err(|e| Error::invalid("url", format!("{shown:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid(
            "url",
            format!("{shown:?} is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "url",
            "the URL carries a user name or password: pass credentials with \
             ClientBuilder::auth, never in the URL (it would be shown and sent as Basic auth)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "url",
            format!("{shown:?} must not have a query or fragment (not shown here)"),
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
            connection: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(30),
            max_body: DEFAULT_MAX_RESPONSE_BODY,
            application: None,
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            root_certificates: Vec::new(),
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            accept_invalid_certs: false,
            http_client: None,
            retry: RetryPolicy::default(),
            auth: None,
        }
    }

    /// A client for the Router the environment names, with detected credentials:
    /// `AGENTTIER_API_KEY`, then `AGENTTIER_TOKEN` (or `AGENTTIER_BEARER_TOKEN`), then the
    /// in-cluster service-account token, then kubeconfig, else none. Empty variables count as
    /// unset.
    ///
    /// The Router is `AGENTTIER_API_URL` when set (it always wins); else the mode named by
    /// `AGENTTIER_CONNECTION` (`in-cluster`, `tunnel` or `discover`, with the namespace in
    /// `AGENTTIER_NAMESPACE` and the other defaults of [`crate::connect`]); else, inside a pod
    /// (`KUBERNETES_SERVICE_HOST` set and a service-account token), [`Client::in_cluster`].
    /// Otherwise it fails with [`Error::InvalidInput`]. No process is started and nothing is
    /// sent until the first call; [`Client::connection`] says what was chosen.
    ///
    /// ```no_run
    /// // AGENTTIER_API_URL=https://agenttier.example.com AGENTTIER_API_KEY=atk_...
    /// let client = agenttier::Client::from_env()?;
    /// println!("{}", client.connection());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn from_env() -> Result<Client> {
        Client::from_env_with(&DetectEnv::from_process())
    }

    /// [`Client::from_env`] with the variables, service-account token path and home directory
    /// of `env` (the token's directory also holds the pod's `namespace` and `ca.crt`).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// use agenttier::auth::DetectEnv;
    ///
    /// let env = DetectEnv::isolated().var("AGENTTIER_CONNECTION", "tunnel");
    /// let client = Client::from_env_with(&env)?; // starts nothing yet
    /// assert_eq!(client.connection().mode(), "tunnel");
    ///
    /// let env = env.var("AGENTTIER_API_URL", "http://localhost:8080"); // the URL wins
    /// assert_eq!(Client::from_env_with(&env)?.base_url(), "http://localhost:8080");
    /// assert!(Client::from_env_with(&DetectEnv::isolated()).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_env_with(env: &DetectEnv) -> Result<Client> {
        let builder = match env.get(ENV_API_URL) {
            Some(url) => Client::builder(url),
            None => Client::connecting(crate::connect::from_env(env)?),
        };
        builder.auth_shared(crate::auth::detect_with(env)?).build()
    }

    fn connecting(mode: Mode) -> ClientBuilder {
        let mut builder = Client::builder(crate::connect::NOT_CONNECTED);
        builder.connection = Some(mode);
        builder
    }

    /// Starts building a client for a Router in the same cluster: the Router Service is found
    /// through the cluster API, else by its DNS name (see [`InClusterOptions`]).
    ///
    /// ```no_run
    /// # async fn demo() -> agenttier::Result<()> {
    /// use agenttier::{Client, auth::ServiceAccountToken};
    /// use agenttier::connect::InClusterOptions;
    ///
    /// let client = Client::in_cluster(InClusterOptions::new())
    ///     .auth(ServiceAccountToken::new())
    ///     .build()?;
    /// client.healthz().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "kubeconfig")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
    pub fn in_cluster(options: InClusterOptions) -> ClientBuilder {
        Client::connecting(Mode::InCluster(options))
    }

    /// Starts building a client that reaches the Router through `kubectl port-forward`,
    /// started on the first call, restarted when it exits, stopped with the last clone of the
    /// client (see [`TunnelOptions`]).
    ///
    /// ```no_run
    /// # async fn demo() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// use agenttier::connect::TunnelOptions;
    ///
    /// let client = Client::tunnel(TunnelOptions::new()).build()?;
    /// client.healthz().await?;
    /// # Ok(()) }
    /// ```
    pub fn tunnel(options: TunnelOptions) -> ClientBuilder {
        Client::connecting(Mode::Tunnel(options))
    }

    /// Starts building a client for the Router's public URL, read from its Ingress or
    /// HTTPRoute with kubeconfig credentials (see [`DiscoverOptions`]). The kubeconfig is read
    /// by [`ClientBuilder::build`].
    ///
    /// ```no_run
    /// # async fn demo() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// use agenttier::connect::DiscoverOptions;
    ///
    /// let client = Client::discover(DiscoverOptions::new()).build()?;
    /// client.healthz().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "kubeconfig")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
    pub fn discover(options: DiscoverOptions) -> ClientBuilder {
        Client::connecting(Mode::Discover(options))
    }

    /// How this client reaches its Router: the mode, and the URL in use when known (a
    /// Kubernetes connection finds it on the first call or [`Client::connect`]). Never holds a
    /// credential.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// assert_eq!(client.connection().to_string(), "http://localhost:8080");
    /// # Ok(()) }
    /// ```
    pub fn connection(&self) -> Connection {
        match &self.pipeline().endpoint {
            Some(endpoint) => endpoint.connection(),
            None => Connection::url_only(self.base_url()),
        }
    }

    /// Finds the Router now (starts the tunnel, asks the cluster), rather than on the first
    /// call, and says where it is. Sends no request to the Router except the in-cluster mode's
    /// `GET /healthz` probe. Nothing to do for a client built with a URL.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] saying what was tried; [`Error::Credentials`] when the cluster's
    /// credentials cannot be obtained.
    ///
    /// ```no_run
    /// # async fn demo() -> agenttier::Result<()> {
    /// use agenttier::Client;
    /// use agenttier::connect::TunnelOptions;
    ///
    /// let client = Client::tunnel(TunnelOptions::new()).build()?;
    /// let connection = client.connect().await?;
    /// println!("Router at {}", connection.url().unwrap_or("?"));
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self) -> Result<Connection> {
        let pipeline = self.pipeline();
        if let Some(endpoint) = &pipeline.endpoint {
            endpoint.resolve(&pipeline.http).await?;
        }
        Ok(self.connection())
    }

    /// The generated client, sharing this client's pool, credentials, pipeline and call
    /// options: a raw call honours [`Client::with_timeout`], retry policies, extra headers,
    /// request ids and cancellation exactly as a facade call does.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// // `?` maps the generated client's error into agenttier::Error.
    /// let quick = client.with_timeout(Duration::from_secs(2));
    /// let list = quick.raw().list_sandboxes(Some("team-a"), None).await?.into_inner();
    /// println!("{} sandboxes", list.sandboxes.unwrap_or_default().len());
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &raw::Client {
        &self.raw
    }

    /// The Router's root URL, without a trailing slash (and without a trailing `/api/v1`: the
    /// SDK's routes are written from the root). With a Kubernetes connection, the URL the
    /// Router was first reached at, and [`crate::connect::NOT_CONNECTED`] before that
    /// ([`Client::connection`] has the URL in use now).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080/api/v1/").build()?;
    /// assert_eq!(client.base_url(), "http://localhost:8080");
    /// # Ok(()) }
    /// ```
    pub fn base_url(&self) -> &str {
        match &self.pipeline().endpoint {
            Some(endpoint) => endpoint.base_url(),
            None => self.pipeline().base_url(),
        }
    }

    pub(crate) fn pipeline(&self) -> &Pipeline {
        &self.raw.inner().pipeline
    }

    /// The call options this client value applies (set through [`Client::with_options`]).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let quick = client.with_timeout(Duration::from_secs(2));
    /// # let _ = quick.options();
    /// # Ok(()) }
    /// ```
    pub fn options(&self) -> &CallOptions {
        &self.raw.inner().options
    }

    /// A copy of this client whose calls (facade and raw, from any task) use `options`, each
    /// field set there replacing this client's value.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::CallOptions;
    /// let traced = client.with_options(CallOptions::new().request_id("nightly-eval-17"));
    /// let sb = traced.get_sandbox("demo").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(&self, options: CallOptions) -> Client {
        let inner = self.raw.inner();
        let pipeline = inner.pipeline.clone();
        let inner = RawInner {
            pipeline: pipeline.clone(),
            options: inner.options.merged(&options),
        };
        Client {
            raw: Arc::new(raw::Client::new_with_client(
                pipeline.base_url(),
                pipeline.http.clone(),
                inner,
            )),
        }
    }

    /// A client whose calls each take at most `timeout` in all (attempts, waits, reading the
    /// answer). See [`CallOptions::timeout`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client.with_timeout(Duration::from_secs(2)).get_sandbox("demo").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        self.with_options(CallOptions::new().timeout(timeout))
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
        self.with_options(CallOptions::new().deadline(deadline))
    }

    /// A client whose calls use `policy` instead of the client's retry policy.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::RetryPolicy;
    /// let once = client.with_retry(RetryPolicy::none());
    /// let sb = once.get_sandbox("demo").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_retry(&self, policy: RetryPolicy) -> Client {
        self.with_options(CallOptions::new().retry(policy))
    }

    /// A client whose calls retry POST and PATCH after ambiguous failures too (you accept the
    /// risk of duplicates).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// // `ls` is harmless to run twice, so its POST may be retried.
    /// let sb = client.with_unsafe_retries().sandbox("demo")?;
    /// let out = sb.exec("ls /workspace").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_unsafe_retries(&self) -> Client {
        let policy = self
            .options()
            .retry
            .clone()
            .unwrap_or_else(|| self.pipeline().defaults.retry.clone())
            .retry_non_idempotent(true);
        self.with_retry(policy)
    }

    /// A request for `op`, with its path parameters in order.
    pub(crate) fn call(&self, op: &'static Operation, args: &[&str]) -> Result<Call> {
        Call::new(self.pipeline(), op, args)
    }

    /// Sends `call` and decodes its JSON answer.
    pub(crate) fn json<T: DeserializeOwned + Send + 'static>(&self, call: Call) -> Boxed<'_, T> {
        Box::pin(self.pipeline().json(call, self.options()))
    }

    /// Sends `call`, reads and drops the answer.
    pub(crate) fn empty(&self, call: Call) -> Boxed<'_, ()> {
        Box::pin(self.pipeline().empty(call, self.options()))
    }

    /// Sends `call` and reads its whole answer (within the limit).
    pub(crate) fn buffered(&self, call: Call) -> Boxed<'_, Buffered> {
        Box::pin(self.pipeline().buffered(call, self.options()))
    }

    /// Sends `call`; the success answer comes back with its body unread.
    pub(crate) fn stream(&self, call: Call) -> Boxed<'_, reqwest::Response> {
        Box::pin(self.pipeline().send(call, self.options()))
    }

    /// `GET /healthz`: the Router's answer (`ok`) when its process is alive.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// assert_eq!(client.healthz().await?, "ok");
    /// # Ok(()) }
    /// ```
    pub async fn healthz(&self) -> Result<String> {
        self.text(&op::HEALTHZ).await
    }

    /// `GET /readyz`: the Router's answer (`ok`) when it can reach the Kubernetes API; a 503
    /// ([`Error::Unavailable`]) carrying `not ready: <why>` otherwise.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// if let Err(e) = client.readyz().await {
    ///     eprintln!("Router not ready: {e}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn readyz(&self) -> Result<String> {
        self.text(&op::READYZ).await
    }

    async fn text(&self, op: &'static Operation) -> Result<String> {
        let answer = self
            .buffered(self.call(op, &[])?.accept("text/plain"))
            .await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }
}
