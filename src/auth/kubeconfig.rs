//! Credentials from a kubeconfig file: a context's user `token`, `tokenFile` or `exec` plugin.
//!
//! A hand-rolled subset of client-go's loader (no kube-client, no k8s-openapi): only what
//! yields a bearer token, since that is what the Router accepts.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::service_account::TokenFile;
use super::time::parse_rfc3339;
use super::{AuthProvider, BoxFuture, Credential};
use crate::{Error, Result, SecretString};

/// How long an exec plugin may run, unless [`Kubeconfig::exec_timeout`] says otherwise.
const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// An exec token is replaced this long before its `expirationTimestamp`.
const EXPIRY_SKEW: Duration = Duration::from_secs(10);
/// How much of a failing plugin's stderr goes into the error message.
const STDERR_IN_MESSAGE: usize = 1024;
/// Most output read from a plugin (a plugin that prints more is stopped by the timeout).
const MAX_PLUGIN_STDOUT: u64 = 1024 * 1024;
const MAX_PLUGIN_STDERR: u64 = 64 * 1024;

const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

fn credentials(message: impl Into<String>) -> Error {
    Error::Credentials {
        message: message.into(),
        source: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The file format (only the fields used here; everything else is ignored).

#[derive(Default, Deserialize)]
struct KubeconfigFile {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
}

#[derive(Deserialize)]
struct NamedContext {
    #[serde(default)]
    name: String,
    #[serde(default)]
    context: Option<ContextEntry>,
}

#[derive(Deserialize)]
struct ContextEntry {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    #[serde(default)]
    name: String,
    #[serde(default)]
    cluster: Option<ClusterEntry>,
}

/// What an exec plugin is told about the cluster when `provideClusterInfo` is set.
#[derive(Deserialize)]
struct ClusterEntry {
    #[serde(default)]
    server: Option<String>,
    #[serde(rename = "tls-server-name", default)]
    tls_server_name: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure_skip_tls_verify: Option<bool>,
    #[serde(rename = "certificate-authority-data", default)]
    certificate_authority_data: Option<String>,
    #[serde(rename = "proxy-url", default)]
    proxy_url: Option<String>,
}

#[derive(Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user: Option<UserEntry>,
}

#[derive(Deserialize)]
struct UserEntry {
    /// Read leniently (a number is accepted) so that a parse error never echoes a token.
    #[serde(default, deserialize_with = "lenient_string")]
    token: Option<String>,
    #[serde(rename = "tokenFile", default)]
    token_file: Option<String>,
    #[serde(default)]
    exec: Option<ExecEntry>,
    #[serde(rename = "auth-provider", default)]
    auth_provider: Option<AuthProviderEntry>,
    #[serde(rename = "client-certificate", default)]
    client_certificate: Option<serde_yaml::Value>,
    #[serde(rename = "client-certificate-data", default)]
    client_certificate_data: Option<serde_yaml::Value>,
    #[serde(default)]
    username: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
struct AuthProviderEntry {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ExecEntry {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<ExecEnvVar>>,
    #[serde(rename = "installHint", default)]
    install_hint: Option<String>,
    #[serde(rename = "provideClusterInfo", default)]
    provide_cluster_info: Option<bool>,
    #[serde(rename = "interactiveMode", default)]
    interactive_mode: Option<String>,
}

#[derive(Deserialize)]
struct ExecEnvVar {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    value: Option<String>,
}

/// A YAML scalar as a string, without ever putting the value in an error message.
fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    use serde_yaml::Value;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(serde::de::Error::custom("expected a string")),
    }
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Resolved users.

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

/// Where kubectl would look: the first existing file of `KUBECONFIG` (split like `PATH`) when
/// that is set and not empty, else `~/.kube/config` if it exists.
pub(crate) fn locate(
    kubeconfig_var: Option<&OsStr>,
    home: Option<&Path>,
) -> std::result::Result<PathBuf, String> {
    if let Some(var) = kubeconfig_var.filter(|v| !v.is_empty()) {
        return std::env::split_paths(var)
            .filter(|p| !p.as_os_str().is_empty())
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "none of the files in KUBECONFIG ({}) exists",
                    var.to_string_lossy()
                )
            });
    }
    let home = home.ok_or("KUBECONFIG is not set and the home directory is unknown")?;
    let path = home.join(".kube").join("config");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "KUBECONFIG is not set and {} does not exist",
            path.display()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The provider.

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
///   A command with a `/` but not absolute is resolved against the kubeconfig's directory, a
///   bare name is looked up on `PATH`, as kubectl does. A plugin that fails, prints no
///   `ExecCredential` or runs longer than 60 s yields [`Error::Credentials`] with the start of
///   its stderr.
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
pub struct Kubeconfig {
    path: PathBuf,
    file: KubeconfigFile,
    context: Option<String>,
    /// The selected context's user, or why it cannot be used (returned by every request).
    auth: std::result::Result<UserAuth, String>,
    exec_timeout: Duration,
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
        s.finish()
    }
}

impl AuthProvider for Kubeconfig {
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

// ---------------------------------------------------------------------------------------------
// Exec credential plugins.

struct ExecPlugin {
    /// The command as written in the kubeconfig, for messages.
    command_as_written: String,
    /// What is run: resolved against the kubeconfig's directory when relative with a `/`.
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    api_version: String,
    install_hint: Option<String>,
    /// `KUBERNETES_EXEC_INFO`.
    exec_info: String,
    timeout: Duration,
    cache: Mutex<Option<ExecCached>>,
    /// Held while the plugin runs, so that concurrent callers run it once.
    running: tokio::sync::Mutex<()>,
}

struct ExecCached {
    token: SecretString,
    /// When to run the plugin again; `None`: never (no expiry given).
    refresh_at: Option<SystemTime>,
    /// When the token expires; `None`: never.
    expires_at: Option<SystemTime>,
}

impl fmt::Debug for ExecPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Exec")
            .field("api_version", &self.api_version)
            .field("command", &self.program)
            .field("args", &self.args)
            .field("env", &env_names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExecPlugin {
    fn new(
        exec: &ExecEntry,
        cluster: Option<&ClusterEntry>,
        dir: &Path,
        who: &str,
    ) -> std::result::Result<ExecPlugin, String> {
        let api_version = nonempty(&exec.api_version)
            .ok_or_else(|| format!("the exec plugin of {who} has no apiVersion"))?;
        if !EXEC_API_VERSIONS.contains(&api_version) {
            return Err(format!(
                "the exec plugin of {who} uses apiVersion `{api_version}`, which is not supported \
                 (supported: {})",
                EXEC_API_VERSIONS.join(", ")
            ));
        }
        let command = nonempty(&exec.command)
            .ok_or_else(|| format!("the exec plugin of {who} has no command"))?;
        if exec.interactive_mode.as_deref() == Some("Always") {
            return Err(format!(
                "the exec plugin of {who} has interactiveMode Always, but an SDK cannot prompt \
                 for input"
            ));
        }
        let program = resolve_command(command, dir);
        let mut spec = serde_json::json!({ "interactive": false });
        if exec.provide_cluster_info == Some(true)
            && let Some(cluster) = cluster
        {
            let mut info = serde_json::Map::new();
            let mut put = |key: &str, value: Option<serde_json::Value>| {
                if let Some(value) = value {
                    info.insert(key.to_owned(), value);
                }
            };
            put("server", cluster.server.clone().map(Into::into));
            put(
                "tls-server-name",
                cluster.tls_server_name.clone().map(Into::into),
            );
            put(
                "insecure-skip-tls-verify",
                cluster.insecure_skip_tls_verify.map(Into::into),
            );
            put(
                "certificate-authority-data",
                cluster.certificate_authority_data.clone().map(Into::into),
            );
            put("proxy-url", cluster.proxy_url.clone().map(Into::into));
            spec["cluster"] = serde_json::Value::Object(info);
        }
        let exec_info = serde_json::json!({
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "spec": spec,
        })
        .to_string();
        Ok(ExecPlugin {
            command_as_written: command.to_owned(),
            program,
            args: exec.args.clone().unwrap_or_default(),
            env: exec
                .env
                .iter()
                .flatten()
                .filter(|v| !v.name.is_empty())
                .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
                .collect(),
            api_version: api_version.to_owned(),
            install_hint: nonempty(&exec.install_hint).map(str::to_owned),
            exec_info,
            timeout: DEFAULT_EXEC_TIMEOUT,
            cache: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// The cached token, if it is not due for a refresh.
    fn fresh(&self) -> Option<SecretString> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = cache.as_ref()?;
        match cached.refresh_at {
            Some(at) if SystemTime::now() >= at => None,
            _ => Some(cached.token.clone()),
        }
    }

    async fn token(&self) -> Result<SecretString> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _running = self.running.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let result = self.run().await;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((token, expires_at)) => {
                *cache = Some(ExecCached {
                    token: token.clone(),
                    refresh_at: expires_at.map(|t| t.checked_sub(EXPIRY_SKEW).unwrap_or(t)),
                    expires_at,
                });
                Ok(token)
            }
            Err(err) => {
                // Within the skew the previous token is still valid: use it rather than fail.
                let still_valid = cache
                    .as_ref()
                    .filter(|c| c.expires_at.is_none_or(|t| SystemTime::now() < t));
                match still_valid {
                    Some(cached) => {
                        tracing::warn!(
                            command = %self.command_as_written,
                            error = %err,
                            "exec credential plugin failed; using its previous token until it expires"
                        );
                        Ok(cached.token.clone())
                    }
                    None => Err(err),
                }
            }
        }
    }

    /// Runs the plugin once: its token and expiry.
    async fn run(&self) -> Result<(SecretString, Option<SystemTime>)> {
        let shown = &self.command_as_written;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("KUBERNETES_EXEC_INFO", &self.exec_info)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            let hint = self
                .install_hint
                .as_deref()
                .map(|h| format!("\n{h}"))
                .unwrap_or_default();
            Error::Credentials {
                message: format!("could not start the exec plugin `{shown}`: {e}{hint}"),
                source: Some(Box::new(e)),
            }
        })?;
        tracing::debug!(command = %shown, "running the exec credential plugin");

        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let finished = tokio::time::timeout(self.timeout, async {
            let (_, _, status) = tokio::join!(
                read_limited(stdout, MAX_PLUGIN_STDOUT, &mut out),
                read_limited(stderr, MAX_PLUGIN_STDERR, &mut err),
                child.wait(),
            );
            status
        })
        .await;
        let status: ExitStatus = match finished {
            Err(_elapsed) => {
                let _ = child.start_kill();
                return Err(credentials(format!(
                    "the exec plugin `{shown}` did not finish within {:?}; stderr: {}",
                    self.timeout,
                    stderr_excerpt(&err)
                )));
            }
            Ok(Err(e)) => {
                return Err(Error::Credentials {
                    message: format!("could not wait for the exec plugin `{shown}`: {e}"),
                    source: Some(Box::new(e)),
                });
            }
            Ok(Ok(status)) => status,
        };
        if !status.success() {
            return Err(credentials(format!(
                "the exec plugin `{shown}` failed ({status}); stderr: {}",
                stderr_excerpt(&err)
            )));
        }
        self.parse_output(&out, &err)
    }

    fn parse_output(&self, out: &[u8], err: &[u8]) -> Result<(SecretString, Option<SystemTime>)> {
        let shown = &self.command_as_written;
        let bad = |what: String| {
            credentials(format!(
                "the exec plugin `{shown}` {what}; stderr: {}",
                stderr_excerpt(err)
            ))
        };
        // The JSON error is described by position only: serde's message may quote a value.
        let response: ExecCredential = serde_json::from_slice(out).map_err(|e| {
            bad(format!(
                "printed no valid ExecCredential on stdout (JSON {:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if let Some(kind) = response.kind.as_deref()
            && kind != "ExecCredential"
        {
            return Err(bad(format!("printed a `{kind}`, not an ExecCredential")));
        }
        if let Some(version) = response.api_version.as_deref()
            && version != self.api_version
        {
            return Err(bad(format!(
                "answered with apiVersion `{version}`, but the kubeconfig asks for `{}`",
                self.api_version
            )));
        }
        let status = response.status.unwrap_or_default();
        let token = match nonempty(&status.token) {
            Some(token) => token,
            None if status.client_certificate_data.is_some() => {
                return Err(bad(
                    "returned a client certificate, which is not supported (the Router needs a \
                     bearer token)"
                        .to_owned(),
                ));
            }
            None => return Err(bad("returned no status.token".to_owned())),
        };
        if HeaderValue::from_str(token).is_err() {
            return Err(bad(
                "returned a token with characters that cannot be sent in an HTTP header".to_owned(),
            ));
        }
        let expires_at = match nonempty(&status.expiration_timestamp) {
            None => None,
            Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
                bad(format!(
                    "returned an expirationTimestamp that is not RFC 3339: {text:?}"
                ))
            })?),
        };
        Ok((SecretString::new(token), expires_at))
    }
}

/// kubectl's rule: a command containing a path separator but not absolute is relative to the
/// kubeconfig's directory; a bare name is looked up on `PATH`.
fn resolve_command(command: &str, dir: &Path) -> PathBuf {
    let path = Path::new(command);
    let has_separator = command.contains('/') || (cfg!(windows) && command.contains('\\'));
    if path.is_absolute() || !has_separator {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

async fn read_limited<R: AsyncRead + Unpin>(reader: Option<R>, limit: u64, into: &mut Vec<u8>) {
    if let Some(reader) = reader {
        // A read error only shortens what is shown; the exit status decides.
        let _ = reader.take(limit).read_to_end(into).await;
    }
}

/// The start of a plugin's stderr, for an error message.
fn stderr_excerpt(err: &[u8]) -> String {
    let text = String::from_utf8_lossy(err);
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".to_owned();
    }
    if text.len() <= STDERR_IN_MESSAGE {
        return text.to_owned();
    }
    let mut cut = STDERR_IN_MESSAGE;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

#[derive(Deserialize)]
struct ExecCredential {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<ExecCredentialStatus>,
}

#[derive(Default, Deserialize)]
struct ExecCredentialStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(rename = "expirationTimestamp", default)]
    expiration_timestamp: Option<String>,
    #[serde(rename = "clientCertificateData", default)]
    client_certificate_data: Option<String>,
}
