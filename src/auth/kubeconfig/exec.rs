//! Exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`), run the way
//! kubectl runs them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::credentials;
use super::file::{ClusterEntry, ExecEntry, nonempty};
use crate::auth::time::parse_rfc3339;
use crate::{Error, Result, SecretString};

/// How long an exec plugin may run, unless [`super::Kubeconfig::exec_timeout`] says otherwise.
pub(super) const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// An exec token is replaced this long before its `expirationTimestamp`.
const EXPIRY_SKEW: Duration = Duration::from_secs(10);
/// The least time between two runs of a plugin whose token is due for a refresh the moment it
/// arrives (already expired, or expiring within [`EXPIRY_SKEW`]: a clock that is off, a plugin
/// that hands out a stale cached token). Within it, the last token is used again.
pub(super) const MIN_RERUN_INTERVAL: Duration = Duration::from_secs(5);
/// How much of a failing plugin's stderr goes into the error message.
const STDERR_IN_MESSAGE: usize = 1024;
/// Most output read from a plugin (a plugin that prints more is stopped by the timeout).
const MAX_PLUGIN_STDOUT: u64 = 1024 * 1024;
const MAX_PLUGIN_STDERR: u64 = 64 * 1024;

const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// A kubeconfig `exec` credential plugin: run on demand, its token cached until shortly before
/// it expires.
pub(super) struct ExecPlugin {
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
    pub(super) timeout: Duration,
    cache: Mutex<Option<ExecCached>>,
    /// Whether the warning about a token due for a refresh on arrival was logged.
    warned_stale: AtomicBool,
    /// Held while the plugin runs, so that concurrent callers run it once.
    running: tokio::sync::Mutex<()>,
}

struct ExecCached {
    token: SecretString,
    /// When to run the plugin again; `None`: never (no expiry given).
    refresh_at: Option<SystemTime>,
    /// When the token expires; `None`: never.
    expires_at: Option<SystemTime>,
    /// When the plugin last ran (tokio's clock, which tests can pause and advance).
    ran_at: tokio::time::Instant,
}

impl fmt::Debug for ExecPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Exec")
            .field("api_version", &self.api_version)
            .field("command", &self.program)
            // Arguments often carry secrets (`--oidc-client-secret=...`): only their number.
            .field("args", &format_args!("[{} redacted]", self.args.len()))
            .field("env", &env_names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExecPlugin {
    pub(super) fn new(
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
            warned_stale: AtomicBool::new(false),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// The cached token, if it is not due for a refresh, or if it is but the plugin ran less
    /// than [`MIN_RERUN_INTERVAL`] ago.
    fn fresh(&self) -> Option<SecretString> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = cache.as_ref()?;
        let due = cached.refresh_at.is_some_and(|at| SystemTime::now() >= at);
        if !due {
            return Some(cached.token.clone());
        }
        if cached.ran_at.elapsed() < MIN_RERUN_INTERVAL {
            if !self.warned_stale.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    command = %self.command_as_written,
                    interval = ?MIN_RERUN_INTERVAL,
                    "the exec credential plugin returned a token that is already expired or \
                     expires within seconds (is this machine's clock right?); it is run again at \
                     most once per interval, its last token used in between"
                );
            }
            return Some(cached.token.clone());
        }
        None
    }

    pub(super) async fn token(&self) -> Result<SecretString> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _running = self.running.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let result = self.run().await;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let ran_at = tokio::time::Instant::now();
        match result {
            Ok((token, expires_at)) => {
                *cache = Some(ExecCached {
                    token: token.clone(),
                    refresh_at: expires_at.map(|t| t.checked_sub(EXPIRY_SKEW).unwrap_or(t)),
                    expires_at,
                    ran_at,
                });
                Ok(token)
            }
            Err(err) => {
                // Within the skew the previous token is still valid: use it rather than fail,
                // and run the failing plugin again no sooner than the interval.
                let still_valid = cache
                    .as_mut()
                    .filter(|c| c.expires_at.is_none_or(|t| SystemTime::now() < t));
                match still_valid {
                    Some(cached) => {
                        cached.ran_at = ran_at;
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

/// The start of a plugin's stderr, for an error message, with anything that looks like a
/// token masked (plugins print refresh tokens and client secrets in their complaints).
fn stderr_excerpt(err: &[u8]) -> String {
    let text = mask_tokens(&String::from_utf8_lossy(err));
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

/// `text` with every run of 16 or more token characters (letters, digits, `-_.+/=`) that
/// holds both letters and digits replaced by `[redacted]`: words and paths stay readable,
/// tokens and keys do not.
fn mask_tokens(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let looks_secret = run.len() >= 16
            && run.chars().any(|c| c.is_ascii_digit())
            && run.chars().any(|c| c.is_ascii_alphabetic());
        if looks_secret {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
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
