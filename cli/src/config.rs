//! Credentials: the flags, then the SDK's detection over the environment, then the file
//! `agenttier login` saves (`$AGENTTIER_CONFIG`, else `~/.config/agenttier/config.json`, JSON
//! with `api_url`, `api_key`, `token`, mode 0600).

use std::path::PathBuf;

use agenttier::Client;
use agenttier::auth::DetectEnv;
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::args::Global;

const API_KEY: &str = "AGENTTIER_API_KEY";
const TOKEN: &str = "AGENTTIER_TOKEN";
const BEARER: &str = "AGENTTIER_BEARER_TOKEN";

/// What `login` saves.
#[derive(Default, Serialize, Deserialize)]
pub struct Saved {
    /// The Router's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// An API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where `login` saves.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AGENTTIER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::home_dir().map(|h| h.join(".config").join("agenttier").join("config.json"))
}

fn load() -> Saved {
    path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The detection environment: flags over the process environment over the saved login.
pub fn detect_env(g: &Global) -> DetectEnv {
    let saved = load();
    let env_has_creds = set(API_KEY) || set(TOKEN) || set(BEARER);
    let mut env = DetectEnv::from_process().vars_from(move |name| {
        let from_env = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        from_env.or_else(|| match name {
            "AGENTTIER_API_URL" => saved.api_url.clone(),
            API_KEY if !env_has_creds => saved.api_key.clone(),
            TOKEN if !env_has_creds => saved.token.clone(),
            _ => None,
        })
    });
    if let Some(url) = &g.api_url {
        env = env.var("AGENTTIER_API_URL", url);
    }
    if let Some(ns) = &g.namespace {
        env = env.var("AGENTTIER_NAMESPACE", ns);
    }
    match (&g.api_key, &g.token) {
        (Some(key), _) => env = env.var(API_KEY, key),
        // A token flag beats a key from the environment (flags override the environment).
        (None, Some(token)) => env = env.var(API_KEY, "").var(TOKEN, token).var(BEARER, ""),
        (None, None) => {}
    }
    env
}

/// The client the flags and environment describe.
pub fn client(g: &Global) -> Result<Client, Failure> {
    Ok(Client::from_env_with(&detect_env(g))?)
}

/// Saves the flags' or environment's URL and credentials for later commands.
pub fn save(g: &Global, base_url: &str) -> Result<PathBuf, Failure> {
    let path = path().ok_or_else(|| {
        Failure::Message("no home directory: set AGENTTIER_CONFIG to a file path".into())
    })?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let saved = Saved {
        api_url: Some(base_url.to_owned()),
        api_key: g.api_key.clone().or_else(|| env(API_KEY)),
        token: if g.api_key.is_some() {
            None
        } else {
            g.token
                .clone()
                .or_else(|| env(TOKEN))
                .or_else(|| env(BEARER))
        },
    };
    let body = serde_json::to_vec_pretty(&saved).map_err(|e| Failure::Message(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Message(format!("{}: {e}", dir.display())))?;
    }
    write_private(&path, &body)
        .map_err(|e| Failure::Message(format!("{}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(body)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, body)
}
