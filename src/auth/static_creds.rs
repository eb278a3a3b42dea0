//! Fixed credentials: an API key or a bearer token given by the caller.

use std::fmt;

use reqwest::header::HeaderValue;

use super::{AuthProvider, BoxFuture, Credential};
use crate::{Error, Result, SecretString};

/// Trims `value` and checks that it can be sent in an HTTP header.
fn validated(field: &'static str, what: &str, value: String) -> Result<SecretString> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, format!("the {what} is empty")));
    }
    if HeaderValue::from_str(trimmed).is_err() {
        return Err(Error::invalid(
            field,
            format!("the {what} contains characters that cannot be sent in an HTTP header"),
        ));
    }
    Ok(SecretString::new(trimmed))
}

/// An AgentTier API key, sent as `X-API-Key: <key>`. The Router checks it before any bearer
/// token.
///
/// Surrounding whitespace is trimmed. `Debug` never shows the key.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::auth::{ApiKey, AuthProvider, Credential};
///
/// let auth = ApiKey::new("atk_live_123")?;
/// assert_eq!(format!("{auth:?}"), "ApiKey { key: [redacted] }");
/// let Some(Credential::ApiKey(key)) = auth.credential().await? else { unreachable!() };
/// assert_eq!(key.expose(), "atk_live_123");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ApiKey {
    key: SecretString,
}

impl ApiKey {
    /// Wraps an API key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `api_key`) when the key is empty or only whitespace, or
    /// contains characters an HTTP header cannot carry (such as a newline).
    ///
    /// ```
    /// use agenttier::{auth::ApiKey, Error};
    ///
    /// assert!(matches!(ApiKey::new("  "), Err(Error::InvalidInput { field: "api_key", .. })));
    /// ```
    pub fn new(key: impl Into<String>) -> Result<ApiKey> {
        Ok(ApiKey {
            key: validated("api_key", "API key", key.into())?,
        })
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey { key: [redacted] }")
    }
}

impl AuthProvider for ApiKey {
    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
        let credential = Credential::ApiKey(self.key.clone());
        Box::pin(async move { Ok(Some(credential)) })
    }

    fn credential_now(&self) -> Option<Result<Option<Credential>>> {
        Some(Ok(Some(Credential::ApiKey(self.key.clone()))))
    }
}

/// A bearer token (a JWT, a Kubernetes token), sent as `Authorization: Bearer <token>`.
///
/// Surrounding whitespace is trimmed. `Debug` never shows the token.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> agenttier::Result<()> {
/// use agenttier::auth::{AuthProvider, BearerToken, Credential};
///
/// let auth = BearerToken::new("eyJhbGciOi...")?;
/// assert_eq!(format!("{auth:?}"), "BearerToken { token: [redacted] }");
/// let Some(Credential::Bearer(token)) = auth.credential().await? else { unreachable!() };
/// assert_eq!(token.expose(), "eyJhbGciOi...");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: SecretString,
}

impl BearerToken {
    /// Wraps a bearer token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `token`) when the token is empty or only whitespace, or
    /// contains characters an HTTP header cannot carry (such as a newline).
    ///
    /// ```
    /// use agenttier::{auth::BearerToken, Error};
    ///
    /// assert!(matches!(BearerToken::new(""), Err(Error::InvalidInput { field: "token", .. })));
    /// ```
    pub fn new(token: impl Into<String>) -> Result<BearerToken> {
        Ok(BearerToken {
            token: validated("token", "bearer token", token.into())?,
        })
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken { token: [redacted] }")
    }
}

impl AuthProvider for BearerToken {
    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
        let credential = Credential::Bearer(self.token.clone());
        Box::pin(async move { Ok(Some(credential)) })
    }

    fn credential_now(&self) -> Option<Result<Option<Credential>>> {
        Some(Ok(Some(Credential::Bearer(self.token.clone()))))
    }
}
