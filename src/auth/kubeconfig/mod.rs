//! Credentials from a kubeconfig file: a context's user `token`, `tokenFile` or `exec` plugin.
//!
//! A hand-rolled subset of client-go's loader (no kube-client, no k8s-openapi): only what
//! yields a bearer token, since that is what the Router accepts.

mod cluster;
mod exec;
mod file;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::HeaderValue;

use self::exec::{DEFAULT_EXEC_TIMEOUT, ExecPlugin};
use self::file::{KubeconfigFile, nonempty};
use super::service_account::TokenFile;
use super::{AuthProvider, BoxFuture, Credential, Destination, is_loopback_host};
use crate::{Error, Result, SecretString};

pub(crate) use self::file::locate;

pub(super) fn credentials(message: impl Into<String>) -> Error {
    Error::Credentials {
        message: message.into(),
        source: None,
    }
}

/// How the selected context's user obtains a token.
enum UserAuth {
    Token(SecretString),
    TokenFile(TokenFile),
    Exec(ExecPlugin),
}

impl fmt::Debug for UserAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserAuth::Token(_) => f.write_str("Token([redacted])"),
            UserAuth::TokenFile(file) => f
                .debug_struct("TokenFile")
                .field("path", &file.path())
                .finish(),
            UserAuth::Exec(exec) => exec.fmt(f),
        }
    }
}

/// Finds `context` in the file and turns its user into a [`UserAuth`], or says why it cannot.
fn resolve(
    file: &KubeconfigFile,
    path: &Path,
    context: &str,
) -> std::result::Result<UserAuth, String> {
    let shown = path.display();
    let dir = path.parent().unwrap_or(Path::new(""));
    let entry = file
        .contexts
        .iter()
        .flatten()
        .find(|c| c.name == context)
        .ok_or_else(|| format!("kubeconfig {shown} has no context named `{context}`"))?;
    let entry = entry
        .context
        .as_ref()
        .ok_or_else(|| format!("context `{context}` in kubeconfig {shown} is empty"))?;
    let user_name = nonempty(&entry.user)
        .ok_or_else(|| format!("context `{context}` in kubeconfig {shown} names no user"))?;
    let user = file
        .users
        .iter()
        .flatten()
        .find(|u| u.name == user_name)
        .ok_or_else(|| {
            format!("user `{user_name}` of context `{context}` is not in kubeconfig {shown}")
        })?;
    let who = format!("user `{user_name}` (context `{context}`, kubeconfig {shown})");
    let Some(user) = user.user.as_ref() else {
        return Err(format!("{who} has no credentials"));
    };

    if let Some(token) = nonempty(&user.token) {
        if HeaderValue::from_str(token).is_err() {
            return Err(format!(
                "the token of {who} contains characters that cannot be sent in an HTTP header"
            ));
        }
        return Ok(UserAuth::Token(SecretString::new(token)));
    }
    if let Some(token_file) = nonempty(&user.token_file) {
        // client-go resolves a relative tokenFile against the kubeconfig's directory.
        return Ok(UserAuth::TokenFile(TokenFile::new(dir.join(token_file))));
    }
    if let Some(exec) = &user.exec {
        let cluster = nonempty(&entry.cluster).and_then(|name| {
            file.clusters
                .iter()
                .flatten()
                .find(|c| c.name == name)
                .and_then(|c| c.cluster.as_ref())
        });
        return ExecPlugin::new(exec, cluster, dir, &who).map(UserAuth::Exec);
    }
    if let Some(provider) = &user.auth_provider {
        let name = nonempty(&provider.name).unwrap_or("unnamed");
        return Err(format!(
            "{who} uses the `{name}` auth-provider, which is not supported; \
             use an exec credential plugin instead (for OIDC, for example kubelogin)"
        ));
    }
    if user.client_certificate.is_some() || user.client_certificate_data.is_some() {
        return Err(format!(
            "{who} authenticates with a client certificate only, which is not supported; \
             the Router needs a bearer token (token, tokenFile or exec)"
        ));
    }
    if user.username.is_some() {
        return Err(format!(
            "{who} uses basic authentication (username/password), which is not supported; \
             the Router needs a bearer token (token, tokenFile or exec)"
        ));
    }
    Err(format!("{who} has no token, tokenFile or exec plugin"))
}

/// Credentials from a kubeconfig, sent as `Authorization: Bearer <token>`.
///
/// The file is read and parsed when the value is built ([`Kubeconfig::load`],
/// [`Kubeconfig::from_path`]); tokens are obtained on each request. The selected context's
/// user may have (checked in this order):
///
/// - `token`: used as is;
/// - `tokenFile`: read on the first request and re-read every 60 s, keeping the last good
///   token when a re-read fails; a relative path is resolved against the kubeconfig's
///   directory;
/// - `exec`: a credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`), run on the
///   first request with `KUBERNETES_EXEC_INFO` set (`spec.interactive: false`), its token kept
///   until 10 s before its `expirationTimestamp` (forever when it has none), then run again.
///   A plugin whose token is already expired or expires within those 10 s when it arrives (a
///   clock that is off, a plugin handing out a stale token) is run again at most once every
///   5 s, its last token used in between, with a warning logged once: a burst of calls does
///   not start a process each.
///   A command with a `/` but not absolute is resolved against the kubeconfig's directory, a
///   bare name is looked up on `PATH`, as kubectl does. A plugin that fails, prints no
///   `ExecCredential` or runs longer than 60 s yields [`Error::Credentials`] with the start of
///   its stderr.
///
/// **Where the credentials go.** A kubeconfig's token opens the cluster itself, so it is sent
/// only to a Router reached through that cluster: one found by [`Client::in_cluster`],
/// [`Client::tunnel`] or [`Client::discover`]; a URL whose host is the cluster's API server
/// host, this machine (`localhost`, `127.0.0.1`, `::1`: a `kubectl port-forward`), or an
/// in-cluster Service name (`<service>.<namespace>.svc` or `….svc.cluster.local`; a cluster
/// with another DNS domain names its Router with [`Kubeconfig::allow_router_host`]). A client built with this
/// provider for any other URL is refused by [`ClientBuilder::build`] with
/// [`Error::InvalidInput`] (field `auth`), before any request; credential detection skips the
/// kubeconfig with a warning instead. A Router elsewhere that accepts the cluster's tokens
/// (the same OIDC issuer) is opted into with [`Kubeconfig::allow_router_host`] (or
/// [`Kubeconfig::allow_any_router_host`]).
///
/// Client certificates, basic authentication and `auth-provider` entries cannot produce a
/// bearer token and are reported as unsupported. Only one file is read: the first existing
/// entry of `KUBECONFIG`, not a merge of all of them.
///
/// `Debug` shows the path, the context and the plugin's command and arguments, never a token.
///
/// ```no_run
/// # fn main() -> agenttier::Result<()> {
/// use agenttier::auth::Kubeconfig;
///
/// // KUBECONFIG or ~/.kube/config, current context.
/// let auth = Kubeconfig::load()?;
/// // Another context of a given file.
/// let staging = Kubeconfig::from_path("/etc/agenttier/kubeconfig")?.with_context("staging")?;
/// # let _ = (auth, staging);
/// # Ok(()) }
/// ```
///
/// [`Client::in_cluster`]: crate::Client::in_cluster
/// [`Client::tunnel`]: crate::Client::tunnel
/// [`Client::discover`]: crate::Client::discover
/// [`ClientBuilder::build`]: crate::ClientBuilder::build
pub struct Kubeconfig {
    path: PathBuf,
    file: KubeconfigFile,
    context: Option<String>,
    /// The selected context's user, or why it cannot be used (returned by every request).
    auth: std::result::Result<UserAuth, String>,
    exec_timeout: Duration,
    /// Router hosts the credentials may go to besides those reached through the cluster.
    router_hosts: Vec<String>,
    /// [`Kubeconfig::allow_any_router_host`].
    any_router_host: bool,
}

impl Kubeconfig {
    /// Reads the kubeconfig kubectl would use: the first existing file named in `KUBECONFIG`
    /// (split on `:`, `;` on Windows) when that variable is set and not empty, else
    /// `~/.kube/config`. Selects its `current-context`.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when no file exists or it cannot be read or parsed. A current
    /// context that cannot supply a token is reported by [`Kubeconfig::check`] and by every
    /// request, so that [`Kubeconfig::with_context`] can still pick another one.
    ///
    /// ```no_run
    /// let auth = agenttier::auth::Kubeconfig::load()?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn load() -> Result<Kubeconfig> {
        let var = std::env::var_os("KUBECONFIG");
        let home = std::env::home_dir();
        let path = locate(var.as_deref(), home.as_deref())
            .map_err(|why| credentials(format!("no kubeconfig found: {why}")))?;
        Kubeconfig::from_path(path)
    }

    /// Reads the kubeconfig at `path` and selects its `current-context`.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the file cannot be read or is not a kubeconfig.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::auth::Kubeconfig;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("config");
    /// std::fs::write(&path, "
    /// current-context: dev
    /// contexts: [{name: dev, context: {cluster: c, user: me}}]
    /// users: [{name: me, user: {token: abc}}]
    /// ").unwrap();
    /// let auth = Kubeconfig::from_path(&path)?;
    /// assert_eq!(auth.context(), Some("dev"));
    /// auth.check()?;
    /// assert!(!format!("{auth:?}").contains("abc"));
    /// # Ok(()) }
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Kubeconfig> {
        let path = path.as_ref();
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Credentials {
            message: format!("could not read kubeconfig {}: {e}", path.display()),
            source: Some(Box::new(e)),
        })?;
        let file: KubeconfigFile = if text.trim().is_empty() {
            KubeconfigFile::default()
        } else {
            serde_yaml::from_str(&text).map_err(|e| Error::Credentials {
                message: format!("could not parse kubeconfig {}: {e}", path.display()),
                source: Some(Box::new(e)),
            })?
        };
        let context = nonempty(&file.current_context).map(str::to_owned);
        let auth = match &context {
            Some(name) => resolve(&file, &path, name),
            None => Err(format!(
                "kubeconfig {} sets no current-context; choose one with with_context",
                path.display()
            )),
        };
        Ok(Kubeconfig {
            path,
            file,
            context,
            auth,
            exec_timeout: DEFAULT_EXEC_TIMEOUT,
            router_hosts: Vec::new(),
            any_router_host: false,
        })
    }

    /// Uses the context `name` instead of the `current-context`.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the file has no such context, or its user cannot supply a
    /// bearer token (see [`Kubeconfig`]).
    ///
    /// ```no_run
    /// let auth = agenttier::auth::Kubeconfig::load()?.with_context("prod")?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn with_context(mut self, name: impl Into<String>) -> Result<Kubeconfig> {
        let name = name.into();
        self.auth = Ok(resolve(&self.file, &self.path, &name).map_err(credentials)?);
        self.context = Some(name);
        let timeout = self.exec_timeout;
        Ok(self.exec_timeout(timeout))
    }

    /// How long an exec plugin may run before it is killed and the request fails (default
    /// 60 s).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let auth = agenttier::auth::Kubeconfig::load()?.exec_timeout(Duration::from_secs(20));
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn exec_timeout(mut self, timeout: Duration) -> Kubeconfig {
        self.exec_timeout = timeout;
        if let Ok(UserAuth::Exec(exec)) = &mut self.auth {
            exec.timeout = timeout;
        }
        self
    }

    /// Also sends the credentials to a Router at `host` (a host name or IP address, without
    /// scheme or port), which is not reached through the kubeconfig's cluster: for example a
    /// Router behind its own domain whose OIDC issuer is the one the cluster's tokens come
    /// from.
    ///
    /// Without it a client built for such a URL is refused (see [`Kubeconfig`] for where the
    /// credentials go by default). Whoever runs `host` receives a token that opens the
    /// cluster itself, for as long as it is valid: name only a Router you trust as much as the
    /// cluster's API server.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("config");
    /// # std::fs::write(&path, "
    /// # current-context: dev
    /// # clusters: [{name: c, cluster: {server: 'https://k8s.example.com:6443'}}]
    /// # contexts: [{name: dev, context: {cluster: c, user: me}}]
    /// # users: [{name: me, user: {token: abc}}]
    /// # ").unwrap();
    /// use agenttier::auth::Kubeconfig;
    /// use agenttier::Client;
    ///
    /// let refused = Client::builder("https://agenttier.example.com")
    ///     .auth(Kubeconfig::from_path(&path)?)
    ///     .build();
    /// assert!(refused.is_err());
    /// let client = Client::builder("https://agenttier.example.com")
    ///     .auth(Kubeconfig::from_path(&path)?.allow_router_host("agenttier.example.com"))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn allow_router_host(mut self, host: impl Into<String>) -> Kubeconfig {
        let host = host.into();
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.router_hosts.push(host);
        self
    }

    /// Sends the credentials to a Router at any URL the client is built with.
    ///
    /// **The risk**: a kubeconfig's token (or an exec plugin's) is a credential for the
    /// Kubernetes cluster itself. With this, a mistyped, copied or attacker-supplied Router URL
    /// (`AGENTTIER_API_URL` from a CI variable, a config file) receives it, and whoever runs
    /// that host can act on the cluster as you until the token expires. Prefer
    /// [`Kubeconfig::allow_router_host`], which names the one Router you trust.
    ///
    /// ```no_run
    /// let auth = agenttier::auth::Kubeconfig::load()?.allow_any_router_host();
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn allow_any_router_host(mut self) -> Kubeconfig {
        self.any_router_host = true;
        self
    }

    /// Why the credentials must not go to `destination`, or `None` when they may.
    pub(crate) fn refusal(&self, destination: Destination<'_>) -> Option<String> {
        if self.any_router_host {
            return None;
        }
        // A Router found through the cluster (Service, port-forward, Ingress/HTTPRoute).
        let Destination::Url(_) = destination else {
            return None;
        };
        let Some(host) = destination.host() else {
            return Some(
                "the Router URL names no host the credentials could be checked against".into(),
            );
        };
        // A port-forward (kubectl's own, or the tunnel's) listens on this machine: the token
        // does not leave it.
        if is_loopback_host(&host) {
            return None;
        }
        // `<service>.<namespace>.svc[.cluster.local]`: a Service's in-cluster DNS name, which
        // resolves only inside the cluster the process runs in. (Not `….svc.<anything>`: that
        // is a public name anyone can register.)
        let labels: Vec<&str> = host.split('.').collect();
        let in_cluster_name = matches!(
            labels.as_slice(),
            [service, namespace, "svc"] | [service, namespace, "svc", "cluster", "local"]
                if !service.is_empty() && !namespace.is_empty()
        );
        if in_cluster_name {
            return None;
        }
        let server_host = self
            .cluster()
            .ok()
            .and_then(|c| Destination::Url(&c.server).host());
        if server_host.as_deref() == Some(host.as_str()) || self.router_hosts.contains(&host) {
            return None;
        }
        let context = self.context.as_deref().unwrap_or("");
        let server = server_host.as_deref().unwrap_or("(none)");
        Some(format!(
            "the credentials of kubeconfig context `{context}` are for its cluster (server host \
             `{server}`), and the Router at host `{host}` is not reached through that cluster \
             (not its server host, not this machine, not an in-cluster `.svc` name): they are not \
             sent there. Use Client::tunnel, Client::discover or Client::in_cluster, or, if that \
             Router accepts the cluster's tokens and you trust it, \
             Kubeconfig::allow_router_host(\"{host}\"), or give other credentials \
             (AGENTTIER_API_KEY, AGENTTIER_TOKEN)"
        ))
    }

    /// Checks that the selected context's user can supply a token (without running an exec
    /// plugin or reading a token file), to fail early rather than on the first request.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] saying why not: no current context, an unknown context or user,
    /// or an unsupported kind of credentials.
    ///
    /// ```no_run
    /// agenttier::auth::Kubeconfig::load()?.check()?;
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn check(&self) -> Result<()> {
        match &self.auth {
            Ok(_) => Ok(()),
            Err(why) => Err(credentials(why.clone())),
        }
    }

    /// The kubeconfig file that was read (made absolute).
    ///
    /// ```no_run
    /// println!("{}", agenttier::auth::Kubeconfig::load()?.path().display());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The selected context, if any.
    ///
    /// ```no_run
    /// println!("{:?}", agenttier::auth::Kubeconfig::load()?.context());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Kubeconfig");
        s.field("path", &self.path).field("context", &self.context);
        match &self.auth {
            Ok(user) => s.field("user", user),
            Err(why) => s.field("unusable", why),
        };
        if self.any_router_host {
            s.field("router_hosts", &"any");
        } else if !self.router_hosts.is_empty() {
            s.field("router_hosts", &self.router_hosts);
        }
        s.finish()
    }
}

impl AuthProvider for Kubeconfig {
    fn check_destination(&self, destination: Destination<'_>) -> Result<()> {
        match self.refusal(destination) {
            None => Ok(()),
            Some(why) => Err(Error::invalid("auth", why)),
        }
    }

    fn credential(&self) -> BoxFuture<'_, Result<Option<Credential>>> {
        Box::pin(async move {
            let token = match &self.auth {
                Err(why) => return Err(credentials(why.clone())),
                Ok(UserAuth::Token(token)) => token.clone(),
                Ok(UserAuth::TokenFile(file)) => file.token().await?,
                Ok(UserAuth::Exec(exec)) => exec.token().await?,
            };
            Ok(Some(Credential::Bearer(token)))
        })
    }
}
