//! Credentials: the [`AuthProvider`] trait, its implementations, and auto-detection.
//!
//! The Router reads `X-API-Key` first and `Authorization: Bearer <JWT>` second. Providers are
//! asked for a [`Credential`] before every call, so a provider may refresh (a rotating
//! service-account token, an exec plugin's short-lived token).

mod detect;
#[cfg(feature = "kubeconfig")]
mod kubeconfig;
mod service_account;
mod static_creds;
#[cfg(feature = "kubeconfig")]
mod time;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::{Error, Result, SecretString};

pub use detect::{DetectEnv, detect, detect_with};
#[cfg(feature = "kubeconfig")]
#[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
pub use kubeconfig::Kubeconfig;
pub use service_account::{DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH, ServiceAccountToken};
pub use static_creds::{ApiKey, BearerToken};

/// A boxed future, as returned by [`AuthProvider::credential`].
///
/// ```
/// use agenttier::auth::{BoxFuture, Credential};
/// use agenttier::{Result, SecretString};
///
/// fn fixed(key: &str) -> BoxFuture<'static, Result<Option<Credential>>> {
///     let credential = Credential::ApiKey(SecretString::new(key));
///     Box::pin(async move { Ok(Some(credential)) })
/// }
/// # let _ = fixed("atk_live_123");
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider hands to the client for one request.
///
/// ```
/// use agenttier::SecretString;
/// use agenttier::auth::Credential;
///
/// let credential = Credential::Bearer(SecretString::new("eyJhbGciOi..."));
/// assert!(!format!("{credential:?}").contains("eyJ")); // the secret never prints
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// Sent as `X-API-Key: <key>`.
    ApiKey(SecretString),
    /// Sent as `Authorization: Bearer <token>`.
    Bearer(SecretString),
}

impl Credential {
    /// The secret itself (the key or the token).
    pub(crate) fn secret(&self) -> &SecretString {
        match self {
            Credential::ApiKey(k) | Credential::Bearer(k) => k,
        }
    }

    /// The header this credential is sent as, marked sensitive so that it is not printed.
    pub(crate) fn header(&self) -> Result<(HeaderName, HeaderValue)> {
        let (name, value) = match self {
            Credential::ApiKey(k) => (HeaderName::from_static("x-api-key"), k.expose().to_owned()),
            Credential::Bearer(t) => (AUTHORIZATION, format!("Bearer {}", t.expose())),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| Error::Credentials {
            message: "the credential contains characters that cannot be sent in an HTTP header"
                .into(),
            source: None,
        })?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

/// A source of credentials. Asynchronous, because obtaining one may read a file or run a
/// kubeconfig exec plugin; called before every request, so implementations should cache.
///
/// ```
/// use agenttier::auth::{AuthProvider, BoxFuture, Credential};
/// use agenttier::{Result, SecretString};
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// impl AuthProvider for FromVault {
///     fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
///         Box::pin(async { Ok(Some(Credential::Bearer(SecretString::new("jwt-from-vault")))) })
///     }
/// }
/// ```
pub trait AuthProvider: Send + Sync + fmt::Debug {
    /// The credential for the next request, or `None` to send none (dev-auth Routers).
    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>>;

    /// The credential, when the provider has it at hand without waiting (a fixed key, a token
    /// it cached). Called before [`AuthProvider::credential`] on every request; the default
    /// says "not at hand", which is always correct.
    ///
    /// ```
    /// use agenttier::auth::{ApiKey, AuthProvider};
    /// let auth = ApiKey::new("atk_live_123")?;
    /// assert!(auth.credential_now().is_some());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    fn credential_now(&self) -> Option<Result<Option<Credential>>> {
        None
    }

    /// Whether this provider's credentials may go to `destination`. Called by
    /// [`ClientBuilder::build`](crate::ClientBuilder::build) (and by credential detection),
    /// before any request: an error there fails the build. The default accepts every
    /// destination; [`Kubeconfig`] (with the `kubeconfig` feature) accepts only a Router
    /// reached through its cluster, unless told otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `auth`) saying why the credentials must not go there.
    ///
    /// ```
    /// use agenttier::auth::{AuthProvider, BoxFuture, Credential, Destination};
    /// use agenttier::{Error, Result, SecretString};
    ///
    /// /// A token that only one host may see.
    /// #[derive(Debug)]
    /// struct Pinned;
    ///
    /// impl AuthProvider for Pinned {
    ///     fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
    ///         Box::pin(async { Ok(Some(Credential::Bearer(SecretString::new("jwt")))) })
    ///     }
    ///     fn check_destination(&self, destination: Destination<'_>) -> Result<()> {
    ///         match destination.host().as_deref() {
    ///             Some("agenttier.example.com") => Ok(()),
    ///             _ => Err(Error::InvalidInput {
    ///                 field: "auth",
    ///                 message: "this token is for agenttier.example.com only".into(),
    ///             }),
    ///         }
    ///     }
    /// }
    ///
    /// let ok = agenttier::Client::builder("https://agenttier.example.com").auth(Pinned).build();
    /// assert!(ok.is_ok());
    /// let refused = agenttier::Client::builder("https://elsewhere.example.com").auth(Pinned).build();
    /// assert!(matches!(refused, Err(Error::InvalidInput { field: "auth", .. })));
    /// ```
    fn check_destination(&self, destination: Destination<'_>) -> Result<()> {
        let _ = destination;
        Ok(())
    }
}

/// Where a client sends its credentials: what [`AuthProvider::check_destination`] is asked
/// about.
///
/// ```
/// use agenttier::auth::Destination;
///
/// let url = Destination::Url("https://Agenttier.Example.com:8443");
/// assert_eq!(url.host().as_deref(), Some("agenttier.example.com"));
/// assert_eq!(Destination::ThroughCluster.host(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination<'a> {
    /// A Router at this URL (given to [`Client::builder`](crate::Client::builder), or
    /// `AGENTTIER_API_URL`).
    Url(&'a str),
    /// A Router the client finds through a Kubernetes cluster: the in-cluster Service
    /// ([`Client::in_cluster`](crate::Client::in_cluster)), a `kubectl port-forward`
    /// ([`Client::tunnel`](crate::Client::tunnel)) or the URL the cluster's Ingress or
    /// HTTPRoute names ([`Client::discover`](crate::Client::discover)).
    ThroughCluster,
}

impl Destination<'_> {
    /// The URL's host, lower case, without IPv6 brackets or a trailing dot; `None` for
    /// [`Destination::ThroughCluster`] or a URL without a host.
    ///
    /// ```
    /// use agenttier::auth::Destination;
    /// assert_eq!(Destination::Url("http://[::1]:8080").host().as_deref(), Some("::1"));
    /// ```
    pub fn host(&self) -> Option<String> {
        match self {
            Destination::Url(url) => url_host(url.trim()).map(str::to_ascii_lowercase),
            Destination::ThroughCluster => None,
        }
    }
}

/// The host of `url`, without brackets or a trailing dot (case kept). Works on text that did
/// not go through the builder's checks (`AGENTTIER_API_URL` during detection).
fn url_host(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let authority = &authority[authority.rfind('@').map_or(0, |at| at + 1)..];
    let host = if let Some(v6) = authority.strip_prefix('[') {
        &v6[..v6.find(']')?]
    } else {
        &authority[..authority.rfind(':').unwrap_or(authority.len())]
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Sends no credentials. The Router accepts that only in dev-auth mode.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::auth::{AuthProvider, NoAuth};
///
/// assert!(NoAuth.credential().await?.is_none());
/// let client = agenttier::Client::builder("http://localhost:8080").auth(NoAuth).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct NoAuth;

impl AuthProvider for NoAuth {
    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
        Box::pin(async { Ok(None) })
    }

    fn credential_now(&self) -> Option<Result<Option<Credential>>> {
        Some(Ok(None))
    }
}

/// Whether `host` (as [`Destination::host`] gives it) is this machine: a loopback address or
/// `localhost`.
#[cfg(feature = "kubeconfig")]
pub(crate) fn is_loopback_host(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}
