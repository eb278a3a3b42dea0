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
