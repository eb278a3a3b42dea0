//! The in-cluster service-account token, and the re-read token file it shares with
//! kubeconfig's `tokenFile`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

// tokio's clock: the real one, except in tests that pause and advance it.
use tokio::time::Instant;

use reqwest::header::HeaderValue;
use tokio::io::AsyncReadExt;

use super::{AuthProvider, BoxFuture, Credential};
use crate::{Error, Result, SecretString};

/// Where Kubernetes mounts a pod's service-account token.
///
/// ```
/// use agenttier::auth::{DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH, ServiceAccountToken};
///
/// let auth = ServiceAccountToken::new(); // reads this path
/// assert_eq!(auth.path().to_str(), Some(DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH));
/// ```
pub const DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How long a token read from a file is used before the file is read again. Projected
/// service-account tokens rotate, and kubelet refreshes them well before they expire; client-go
/// re-reads every minute too.
pub(crate) const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// Token files larger than this are refused (a token is a few KiB at most).
const MAX_TOKEN_FILE_BYTES: u64 = 1024 * 1024;

/// A token file that is re-read when the cached token is older than the refresh interval,
/// keeping the last good token when a re-read fails.
pub(crate) struct TokenFile {
    path: PathBuf,
    refresh: Duration,
    cache: Mutex<Option<Cached>>,
    /// Held while the file is read, so that concurrent callers read it once.
    reload: tokio::sync::Mutex<()>,
}

struct Cached {
    token: SecretString,
    checked_at: Instant,
}

impl TokenFile {
    pub(crate) fn new(path: PathBuf) -> TokenFile {
        TokenFile {
            path,
            refresh: DEFAULT_REFRESH,
            cache: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn with_refresh(mut self, refresh: Duration) -> TokenFile {
        self.refresh = refresh;
        self
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The cached token, if it was checked less than one interval ago.
    fn fresh(&self) -> Option<SecretString> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .as_ref()
            .filter(|c| c.checked_at.elapsed() < self.refresh)
            .map(|c| c.token.clone())
    }

    /// The current token: cached, or read from the file again.
    pub(crate) async fn token(&self) -> Result<SecretString> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _reading = self.reload.lock().await;
        // Another caller may have read the file while this one waited.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let read = read_token(&self.path).await;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match read {
            Ok(token) => {
                *cache = Some(Cached {
                    token: token.clone(),
                    checked_at: Instant::now(),
                });
                Ok(token)
            }
            Err(failure) => match cache.as_mut() {
                Some(last) => {
                    // Try again after another interval rather than on every request.
                    last.checked_at = Instant::now();
                    tracing::warn!(
                        path = %self.path.display(),
                        reason = %failure.reason,
                        "could not re-read the token file; using the last token read from it"
                    );
                    Ok(last.token.clone())
                }
                None => Err(Error::Credentials {
                    message: format!(
                        "could not read the token file {}: {}",
                        self.path.display(),
                        failure.reason
                    ),
                    source: failure.source.map(|e| Box::new(e) as _),
                }),
            },
        }
    }
}

struct ReadFailure {
    reason: String,
    source: Option<std::io::Error>,
}

impl ReadFailure {
    fn new(reason: impl Into<String>) -> ReadFailure {
        ReadFailure {
            reason: reason.into(),
            source: None,
        }
    }
}

/// Reads and checks a token file. The reasons never contain the token.
async fn read_token(path: &Path) -> std::result::Result<SecretString, ReadFailure> {
    let io = |e: std::io::Error| ReadFailure {
        reason: e.to_string(),
        source: Some(e),
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(ReadFailure::new("it is larger than 1 MiB"));
    }
    let text = String::from_utf8(bytes).map_err(|_| ReadFailure::new("it is not UTF-8 text"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ReadFailure::new("it is empty"));
    }
    if HeaderValue::from_str(token).is_err() {
        return Err(ReadFailure::new(
            "it contains characters that cannot be sent in an HTTP header",
        ));
    }
    Ok(SecretString::new(token))
}

/// The pod's Kubernetes service-account token, sent as `Authorization: Bearer <token>`.
///
/// The file is read on the first request, then again whenever the token in memory is older
/// than the refresh interval (60 s unless [`ServiceAccountToken::refresh_every`] says
/// otherwise), so rotated projected tokens are picked up. When a re-read fails (the file is
/// missing, unreadable or empty), the last good token is kept and a warning is logged; when
/// the file has never been read successfully, [`AuthProvider::credential`] returns
/// [`Error::Credentials`]. Surrounding whitespace is trimmed.
///
/// ```
/// use std::time::Duration;
/// use agenttier::auth::{ServiceAccountToken, DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH};
///
/// let auth = ServiceAccountToken::new();
/// assert_eq!(auth.path().to_str(), Some(DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH));
///
/// let custom = ServiceAccountToken::from_path("/var/run/secrets/tokens/agenttier")
///     .refresh_every(Duration::from_secs(30));
/// ```
pub struct ServiceAccountToken {
    file: TokenFile,
}

impl ServiceAccountToken {
    /// Reads [`DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH`]. Nothing is read until the first request.
    ///
    /// ```
    /// let auth = agenttier::auth::ServiceAccountToken::new();
    /// # let _ = auth;
    /// ```
    pub fn new() -> ServiceAccountToken {
        ServiceAccountToken::from_path(DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH)
    }

    /// Reads the token from `path` instead, for example a projected token with a custom
    /// audience. Nothing is read until the first request.
    ///
    /// ```
    /// let auth = agenttier::auth::ServiceAccountToken::from_path("/var/run/secrets/tokens/at");
    /// # let _ = auth;
    /// ```
    pub fn from_path(path: impl Into<PathBuf>) -> ServiceAccountToken {
        ServiceAccountToken {
            file: TokenFile::new(path.into()),
        }
    }

    /// How long a token is used before the file is read again (default 60 s; `Duration::ZERO`
    /// reads it on every request).
    ///
    /// ```
    /// use std::time::Duration;
    /// let auth = agenttier::auth::ServiceAccountToken::new().refresh_every(Duration::from_secs(10));
    /// # let _ = auth;
    /// ```
    pub fn refresh_every(self, interval: Duration) -> ServiceAccountToken {
        ServiceAccountToken {
            file: self.file.with_refresh(interval),
        }
    }

    /// The token file's path.
    ///
    /// ```
    /// let auth = agenttier::auth::ServiceAccountToken::from_path("/tmp/token");
    /// assert_eq!(auth.path(), std::path::Path::new("/tmp/token"));
    /// ```
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Default for ServiceAccountToken {
    fn default() -> Self {
        ServiceAccountToken::new()
    }
}

impl fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("path", &self.file.path())
            .field("refresh_every", &self.file.refresh())
            .finish()
    }
}

impl AuthProvider for ServiceAccountToken {
    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
        Box::pin(async move { self.file.token().await.map(|t| Some(Credential::Bearer(t))) })
    }
}
