//! A few GETs against the Kubernetes API with `reqwest` and `serde_json` (no kube-client, no
//! k8s-openapi): where the API server is, how to trust it, and whose bearer token to send.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::ACCEPT;
use serde::de::DeserializeOwned;

use super::excerpt;
use crate::auth::{AuthProvider, Credential, DetectEnv, Kubeconfig, NoAuth, ServiceAccountToken};
use crate::{Error, Result};

/// Largest answer read from the API server (a list of Services or Ingresses).
const MAX_ANSWER: usize = 8 << 20;
/// How much of an error answer goes into a message.
const MESSAGE_IN_ERROR: usize = 300;
/// Most read of a service-account file (CA bundle, namespace).
const MAX_POD_FILE: u64 = 1 << 20;

/// Where the Kubernetes API server is, how to trust it, and the credentials to send it (only
/// it: redirects are not followed). Used by [`InClusterOptions::api`](super::InClusterOptions::api)
/// and [`DiscoverOptions::api`](super::DiscoverOptions::api); they build one from the pod or
/// the kubeconfig unless given one.
///
/// `Debug` shows the server and the credential provider's own redacted `Debug`, never a token.
///
/// ```no_run
/// # fn main() -> agenttier::Result<()> {
/// use agenttier::auth::{BearerToken, Kubeconfig};
/// use agenttier::connect::KubeApi;
///
/// // The cluster of the kubeconfig's current context, with its user's credentials.
/// let api = KubeApi::from_kubeconfig(Kubeconfig::load()?)?;
/// // Or by hand.
/// let pem = std::fs::read("/etc/kubernetes/ca.crt").unwrap();
/// let api = KubeApi::new("https://10.0.0.1:6443")?
///     .add_root_certificate_pem(&pem)?
///     .auth(BearerToken::new("eyJhbGciOi...")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KubeApi {
    server: Url,
    auth: Arc<dyn AuthProvider>,
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    roots: Vec<reqwest::Certificate>,
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    insecure: bool,
    timeout: Duration,
    http: OnceLock<reqwest::Client>,
}

impl fmt::Debug for KubeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("KubeApi");
        s.field("server", &self.server()).field("auth", &self.auth);
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        s.field("root_certificates", &self.roots.len())
            .field("danger_accept_invalid_certs", &self.insecure);
        s.field("timeout", &self.timeout).finish()
    }
}

/// Why a GET failed.
pub(super) enum KubeError {
    /// The server answered with an error status (and the `Status` message, if any).
    Status(u16, String),
    /// No credentials could be obtained: every call would fail the same way.
    Credentials(Error),
    /// Unreachable, cut short, or not the JSON expected.
    Other(String),
}

impl fmt::Display for KubeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeError::Status(status, message) => write!(f, "HTTP {status}: {message}"),
            KubeError::Credentials(e) => write!(f, "{e}"),
            KubeError::Other(message) => f.write_str(message),
        }
    }
}

impl KubeApi {
    /// The API server at `server` (`https://host[:port][/prefix]`; `http://` too, e.g. behind
    /// `kubectl proxy`), sending no credentials until [`KubeApi::auth`] says which.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a URL that is not `http(s)://host…` or has a query, and for
    /// `https://` when the crate has no TLS feature.
    ///
    /// ```
    /// use agenttier::connect::KubeApi;
    /// let api = KubeApi::new("https://10.0.0.1:6443")?;
    /// assert_eq!(api.server(), "https://10.0.0.1:6443");
    /// assert!(KubeApi::new("10.0.0.1:6443").is_err());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn new(server: impl AsRef<str>) -> Result<KubeApi> {
        let raw = server.as_ref().trim();
        let server =
            Url::parse(raw).map_err(|e| Error::invalid("server", format!("{raw:?}: {e}")))?;
        if !matches!(server.scheme(), "http" | "https") || server.host_str().is_none() {
            return Err(Error::invalid(
                "server",
                format!("{raw:?} is not an http(s) URL with a host"),
            ));
        }
        if server.query().is_some() || server.fragment().is_some() {
            return Err(Error::invalid(
                "server",
                format!("{raw:?} must not have a query or fragment"),
            ));
        }
        if cfg!(not(any(feature = "rustls", feature = "native-tls"))) && server.scheme() == "https"
        {
            return Err(Error::invalid(
                "server",
                "https needs the `rustls` or `native-tls` feature of agenttier",
            ));
        }
        Ok(KubeApi {
            server,
            auth: Arc::new(NoAuth),
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            roots: Vec::new(),
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            insecure: false,
            timeout: Duration::from_secs(10),
            http: OnceLock::new(),
        })
    }

    /// The credentials sent to this API server (a bearer token: `X-API-Key` means nothing to
    /// Kubernetes and is refused).
    ///
    /// ```
    /// use agenttier::auth::BearerToken;
    /// let api = agenttier::connect::KubeApi::new("https://10.0.0.1:6443")?
    ///     .auth(BearerToken::new("eyJhbGciOi...")?);
    /// assert!(!format!("{api:?}").contains("eyJ"));
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn auth(self, provider: impl AuthProvider + 'static) -> KubeApi {
        self.auth_shared(Arc::new(provider))
    }

    /// Like [`KubeApi::auth`], for a provider already behind an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use agenttier::auth::ServiceAccountToken;
    /// let api = agenttier::connect::KubeApi::new("https://10.0.0.1:6443")?
    ///     .auth_shared(Arc::new(ServiceAccountToken::new()));
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn auth_shared(mut self, provider: Arc<dyn AuthProvider>) -> KubeApi {
        self.auth = provider;
        self.http = OnceLock::new();
        self
    }

    /// Trusts the CA (PEM) that signed the API server's certificate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `pem` holds no certificate.
    ///
    /// ```no_run
    /// let pem = std::fs::read("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt").unwrap();
    /// let api = agenttier::connect::KubeApi::new("https://10.0.0.1:443")?
    ///     .add_root_certificate_pem(&pem)?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<KubeApi> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::invalid("certificate_authority", e.to_string()))?;
        if certs.is_empty() {
            return Err(Error::invalid(
                "certificate_authority",
                "no PEM certificate (-----BEGIN CERTIFICATE-----) found",
            ));
        }
        self.roots.extend(certs);
        self.http = OnceLock::new();
        Ok(self)
    }

    /// Skips verifying the API server's certificate (kubeconfig's `insecure-skip-tls-verify`).
    /// Anyone on the path can then read the credentials.
    ///
    /// ```
    /// let api = agenttier::connect::KubeApi::new("https://127.0.0.1:6443")?
    ///     .danger_accept_invalid_certs(true);
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "native-tls"))))]
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> KubeApi {
        self.insecure = yes;
        self.http = OnceLock::new();
        self
    }

    /// How long one GET may take (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let api = agenttier::connect::KubeApi::new("https://10.0.0.1:6443")?
    ///     .timeout(Duration::from_secs(3));
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> KubeApi {
        self.timeout = timeout;
        self
    }

    /// The API server's URL.
    ///
    /// ```
    /// let api = agenttier::connect::KubeApi::new("https://10.0.0.1:6443/")?;
    /// assert_eq!(api.server(), "https://10.0.0.1:6443");
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn server(&self) -> &str {
        self.server.as_str().trim_end_matches('/')
    }

    /// The API server as a pod sees it: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
    /// trusting the pod's `ca.crt`, with its service-account token (re-read as it rotates).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] outside a pod (`KUBERNETES_SERVICE_HOST` unset) or when the CA
    /// bundle cannot be read.
    ///
    /// ```no_run
    /// let api = agenttier::connect::KubeApi::in_cluster()?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn in_cluster() -> Result<KubeApi> {
        KubeApi::in_cluster_with(&DetectEnv::from_process())
    }

    pub(crate) fn in_cluster_with(env: &DetectEnv) -> Result<KubeApi> {
        let not_in_pod = |why: &str| Error::invalid("in_cluster", why.to_owned());
        let host = env
            .get("KUBERNETES_SERVICE_HOST")
            .ok_or_else(|| not_in_pod("KUBERNETES_SERVICE_HOST is not set (not in a pod)"))?;
        let port = env
            .get("KUBERNETES_SERVICE_PORT")
            .unwrap_or_else(|| "443".to_owned());
        let token = env
            .token_path()
            .ok_or_else(|| not_in_pod("no service-account token path"))?;
        let host = host.trim();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let api = KubeApi::new(format!("https://{host}:{}", port.trim()))?
            .auth(ServiceAccountToken::from_path(token));
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let api = {
            let ca = sibling(token, "ca.crt");
            let pem = read_small(&ca).map_err(|e| {
                Error::invalid(
                    "in_cluster",
                    format!("cannot read the pod's CA bundle {}: {e}", ca.display()),
                )
            })?;
            api.add_root_certificate_pem(&pem)?
        };
        Ok(api)
    }

    /// The cluster of the kubeconfig's selected context (its `server`,
    /// `certificate-authority(-data)`, `insecure-skip-tls-verify`), with the credentials of
    /// its user (`token`, `tokenFile` or `exec` plugin): they are sent to that server only.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the context's user cannot supply a bearer token;
    /// [`Error::InvalidInput`] when its cluster has no server or an unreadable CA.
    ///
    /// ```no_run
    /// use agenttier::auth::Kubeconfig;
    /// let api = agenttier::connect::KubeApi::from_kubeconfig(Kubeconfig::load()?.with_context("prod")?)?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn from_kubeconfig(kubeconfig: Kubeconfig) -> Result<KubeApi> {
        kubeconfig.check()?;
        let cluster = kubeconfig.cluster()?;
        let api = KubeApi::new(&cluster.server)?;
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let api = {
            let api = match &cluster.certificate_authority {
                Some(pem) => api.add_root_certificate_pem(pem)?,
                None => api,
            };
            api.danger_accept_invalid_certs(cluster.insecure_skip_tls_verify)
        };
        // Without TLS only an http:// server is accepted, and it has nothing to trust.
        #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
        let _ = (
            cluster.certificate_authority,
            cluster.insecure_skip_tls_verify,
        );
        Ok(api.auth(kubeconfig))
    }

    fn http(&self) -> std::result::Result<&reqwest::Client, KubeError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::USER_AGENT);
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let builder = {
            let mut b = builder.danger_accept_invalid_certs(self.insecure);
            for cert in &self.roots {
                b = b.add_root_certificate(cert.clone());
            }
            b
        };
        let http = builder
            .build()
            .map_err(|e| KubeError::Other(format!("cannot build an HTTP client: {e}")))?;
        Ok(self.http.get_or_init(|| http))
    }

    /// The URL of an API path (`/api/v1/...`) on this server, after its own path prefix.
    fn url(&self, path: &str) -> std::result::Result<Url, KubeError> {
        let joined = format!("{}{path}", self.server());
        Url::parse(&joined).map_err(|e| KubeError::Other(format!("bad API URL {joined}: {e}")))
    }

    /// `GET path[?name=value]`, read (within 8 MiB) and decoded as `T`.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<(&str, &str)>,
        what: &str,
    ) -> std::result::Result<T, KubeError> {
        let mut url = self.url(path)?;
        if let Some((name, value)) = query {
            url.query_pairs_mut().append_pair(name, value);
        }
        let mut request = self
            .http()?
            .get(url)
            .header(ACCEPT, "application/json")
            .timeout(self.timeout);
        match self.auth.credential().await {
            Ok(None) => {}
            Ok(Some(credential @ Credential::Bearer(_))) => {
                let (name, value) = credential.header().map_err(KubeError::Credentials)?;
                request = request.header(name, value);
            }
            Ok(Some(Credential::ApiKey(_))) => {
                return Err(KubeError::Credentials(Error::Credentials {
                    message: "the Kubernetes API needs a bearer token, not an API key".to_owned(),
                    source: None,
                }));
            }
            Err(e) => return Err(KubeError::Credentials(e)),
        }
        tracing::debug!(server = %self.server(), path, "agenttier connection: Kubernetes API GET");
        let mut response = request
            .send()
            .await
            .map_err(|e| KubeError::Other(format!("cannot reach it: {}", chain(&e))))?;
        let status = response.status();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(None) => break,
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER => {
                    return Err(KubeError::Other(format!(
                        "its answer is larger than {MAX_ANSWER} bytes"
                    )));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Err(e) => {
                    return Err(KubeError::Other(format!(
                        "the answer was cut short: {}",
                        chain(&e)
                    )));
                }
            }
        }
        if !status.is_success() {
            return Err(KubeError::Status(status.as_u16(), status_message(&body)));
        }
        // The position only: serde's message could quote the answer.
        serde_json::from_slice(&body).map_err(|e| {
            KubeError::Other(format!(
                "it answered something that is not a {what} (JSON {:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }
}

/// The `message` of a Kubernetes `Status` answer, else the start of the body.
fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Status>(body)
        .ok()
        .and_then(|s| s.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    excerpt(&message, MESSAGE_IN_ERROR)
}

/// A transport error with its causes (reqwest's own text names only the outer layer).
pub(super) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A file next to the service-account token (`ca.crt`, `namespace`).
pub(super) fn sibling(token: &Path, name: &str) -> std::path::PathBuf {
    token.parent().unwrap_or(Path::new("")).join(name)
}

/// Reads a small file (at most 1 MiB).
pub(super) fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_POD_FILE)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
