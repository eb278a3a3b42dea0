//! Choosing credentials from the environment.

use std::collections::BTreeMap;
#[cfg(feature = "kubeconfig")]
use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "kubeconfig")]
use super::kubeconfig::{Kubeconfig, locate};
use super::service_account::{DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH, ServiceAccountToken};
use super::static_creds::{ApiKey, BearerToken};
use super::{AuthProvider, NoAuth};
use crate::Result;

type VarLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What [`detect_with`] looks at: environment variables, the service-account token path and
/// the home directory. [`DetectEnv::from_process`] is the real environment; tests start from
/// [`DetectEnv::isolated`], which sees nothing, and add what they need.
///
/// `Debug` lists variable names only, never their values.
///
/// ```
/// use agenttier::auth::DetectEnv;
///
/// let env = DetectEnv::isolated()
///     .var("AGENTTIER_TOKEN", "jwt")
///     .service_account_token_path("/nonexistent/token")
///     .home("/nonexistent/home");
/// assert!(!format!("{env:?}").contains("jwt"));
/// ```
#[derive(Clone)]
pub struct DetectEnv {
    vars: BTreeMap<String, String>,
    fallback: Option<VarLookup>,
    service_account_token_path: Option<PathBuf>,
    home: Option<PathBuf>,
}

impl DetectEnv {
    /// The process environment: its variables, [`DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH`] and the
    /// user's home directory.
    ///
    /// ```
    /// let env = agenttier::auth::DetectEnv::from_process();
    /// # let _ = env;
    /// ```
    pub fn from_process() -> DetectEnv {
        DetectEnv {
            vars: BTreeMap::new(),
            fallback: Some(Arc::new(|name| std::env::var(name).ok())),
            service_account_token_path: Some(PathBuf::from(DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH)),
            home: std::env::home_dir(),
        }
    }

    /// An environment with no variables, no service-account token and no home directory.
    ///
    /// ```
    /// use agenttier::auth::{detect_with, DetectEnv};
    ///
    /// let auth = detect_with(&DetectEnv::isolated())?;
    /// assert_eq!(format!("{auth:?}"), "NoAuth");
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn isolated() -> DetectEnv {
        DetectEnv {
            vars: BTreeMap::new(),
            fallback: None,
            service_account_token_path: None,
            home: None,
        }
    }

    /// Sets a variable (it takes precedence over [`DetectEnv::vars_from`]).
    ///
    /// ```
    /// let env = agenttier::auth::DetectEnv::isolated().var("AGENTTIER_API_KEY", "atk_123");
    /// # let _ = env;
    /// ```
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> DetectEnv {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Looks up variables not set with [`DetectEnv::var`] through `lookup`.
    ///
    /// ```
    /// let env = agenttier::auth::DetectEnv::isolated()
    ///     .vars_from(|name| (name == "AGENTTIER_TOKEN").then(|| "jwt".to_owned()));
    /// # let _ = env;
    /// ```
    pub fn vars_from(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> DetectEnv {
        self.fallback = Some(Arc::new(lookup));
        self
    }

    /// Where the in-cluster service-account token would be.
    ///
    /// ```
    /// let env = agenttier::auth::DetectEnv::isolated().service_account_token_path("/tmp/token");
    /// # let _ = env;
    /// ```
    pub fn service_account_token_path(mut self, path: impl Into<PathBuf>) -> DetectEnv {
        self.service_account_token_path = Some(path.into());
        self
    }

    /// The home directory, where `.kube/config` is looked for.
    ///
    /// ```
    /// let env = agenttier::auth::DetectEnv::isolated().home("/home/me");
    /// # let _ = env;
    /// ```
    pub fn home(mut self, dir: impl Into<PathBuf>) -> DetectEnv {
        self.home = Some(dir.into());
        self
    }

    /// A variable's value; empty or whitespace-only values count as unset.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .cloned()
            .or_else(|| self.fallback.as_ref().and_then(|f| f(name)))
            .filter(|v| !v.trim().is_empty())
    }

    /// Where the service-account token would be (its directory holds `ca.crt` and `namespace`).
    pub(crate) fn token_path(&self) -> Option<&std::path::Path> {
        self.service_account_token_path.as_deref()
    }
}

impl fmt::Debug for DetectEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectEnv")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("process_env", &self.fallback.is_some())
            .field(
                "service_account_token_path",
                &self.service_account_token_path,
            )
            .field("home", &self.home)
            .finish()
    }
}

/// Chooses credentials from the process environment; see [`detect_with`] for the order.
///
/// # Errors
///
/// [`crate::Error::InvalidInput`] when a variable is set to a value that cannot be a
/// credential (for example one containing a newline).
///
/// ```no_run
/// let auth = agenttier::auth::detect()?;
/// println!("using {auth:?}");
/// # Ok::<(), agenttier::Error>(())
/// ```
pub fn detect() -> Result<Arc<dyn AuthProvider>> {
    detect_with(&DetectEnv::from_process())
}

/// Chooses credentials from `env`, first match wins (empty variables count as unset):
///
/// 1. `AGENTTIER_API_KEY` → [`ApiKey`](super::ApiKey);
/// 2. `AGENTTIER_TOKEN`, else `AGENTTIER_BEARER_TOKEN` → [`BearerToken`](super::BearerToken);
/// 3. the in-cluster service-account token file exists →
///    [`ServiceAccountToken`](super::ServiceAccountToken);
/// 4. a kubeconfig (`KUBECONFIG`, else `~/.kube/config`) whose current context's user has a
///    `token`, `tokenFile` or `exec` plugin → `Kubeconfig` (with the `kubeconfig` feature, on
///    by default); a kubeconfig that cannot be read or parsed is skipped with a warning. So is
///    one whose credentials must not go to the Router `AGENTTIER_API_URL` names: a cluster's
///    token goes only to a Router reached through that cluster (see `Kubeconfig`), and when
///    `AGENTTIER_API_URL` is not set the client finds the Router through the cluster (a
///    provider detected that way and then given to a builder for a URL on another host fails
///    that builder's `build`; set the URL in `env` to have the kubeconfig skipped instead);
/// 5. otherwise [`NoAuth`] (accepted only by dev-auth Routers).
///
/// The choice is logged at debug level, without the secret.
///
/// # Errors
///
/// [`crate::Error::InvalidInput`] when a variable is set to a value that cannot be a
/// credential (for example one containing a newline).
///
/// ```
/// use agenttier::auth::{detect_with, DetectEnv};
///
/// let env = DetectEnv::isolated()
///     .var("AGENTTIER_API_KEY", "")
///     .var("AGENTTIER_TOKEN", "jwt");
/// let auth = detect_with(&env)?;
/// assert_eq!(format!("{auth:?}"), "BearerToken { token: [redacted] }");
/// # Ok::<(), agenttier::Error>(())
/// ```
pub fn detect_with(env: &DetectEnv) -> Result<Arc<dyn AuthProvider>> {
    if let Some(key) = env.get("AGENTTIER_API_KEY") {
        tracing::debug!(
            source = "AGENTTIER_API_KEY",
            "agenttier credentials: API key"
        );
        return Ok(Arc::new(ApiKey::new(key)?));
    }
    for name in ["AGENTTIER_TOKEN", "AGENTTIER_BEARER_TOKEN"] {
        if let Some(token) = env.get(name) {
            tracing::debug!(source = name, "agenttier credentials: bearer token");
            return Ok(Arc::new(BearerToken::new(token)?));
        }
    }
    if let Some(path) = &env.service_account_token_path
        && path.is_file()
    {
        tracing::debug!(
            source = "service account",
            path = %path.display(),
            "agenttier credentials: in-cluster service-account token"
        );
        return Ok(Arc::new(ServiceAccountToken::from_path(path.clone())));
    }
    #[cfg(feature = "kubeconfig")]
    if let Some(kubeconfig) = detect_kubeconfig(env) {
        // The Router the client will use: the URL when one is set, else one found through the
        // cluster (`Client::from_env`).
        let url = env.get("AGENTTIER_API_URL");
        let destination = match &url {
            Some(url) => super::Destination::Url(url),
            None => super::Destination::ThroughCluster,
        };
        match kubeconfig.refusal(destination) {
            None => return Ok(Arc::new(kubeconfig)),
            Some(why) => tracing::warn!(
                path = %kubeconfig.path().display(),
                reason = %why,
                "skipping the kubeconfig's credentials: the Router AGENTTIER_API_URL names is not \
                 reached through its cluster"
            ),
        }
    }
    tracing::debug!(
        source = "none",
        "agenttier credentials: none found, sending none"
    );
    Ok(Arc::new(NoAuth))
}

#[cfg(feature = "kubeconfig")]
fn detect_kubeconfig(env: &DetectEnv) -> Option<Kubeconfig> {
    let var = env.get("KUBECONFIG");
    let path = match locate(var.as_deref().map(OsStr::new), env.home.as_deref()) {
        Ok(path) => path,
        Err(why) => {
            tracing::debug!(reason = %why, "agenttier credentials: no kubeconfig");
            return None;
        }
    };
    let kubeconfig = match Kubeconfig::from_path(&path) {
        Ok(kubeconfig) => kubeconfig,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "skipping an unusable kubeconfig");
            return None;
        }
    };
    if let Err(err) = kubeconfig.check() {
        tracing::debug!(error = %err, "agenttier credentials: kubeconfig has no usable user");
        return None;
    }
    tracing::debug!(
        source = "kubeconfig",
        path = %kubeconfig.path().display(),
        context = kubeconfig.context().unwrap_or(""),
        "agenttier credentials: kubeconfig"
    );
    Some(kubeconfig)
}
