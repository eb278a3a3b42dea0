//! The kubeconfig file format (only the fields that can yield a bearer token; everything else
//! is ignored) and where kubectl looks for the file.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

#[derive(Default, Deserialize)]
pub(super) struct KubeconfigFile {
    #[serde(rename = "current-context", default)]
    pub(super) current_context: Option<String>,
    #[serde(default)]
    pub(super) contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    pub(super) clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    pub(super) users: Option<Vec<NamedUser>>,
}

#[derive(Deserialize)]
pub(super) struct NamedContext {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) context: Option<ContextEntry>,
}

#[derive(Deserialize)]
pub(super) struct ContextEntry {
    #[serde(default)]
    pub(super) cluster: Option<String>,
    #[serde(default)]
    pub(super) user: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NamedCluster {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) cluster: Option<ClusterEntry>,
}

/// A cluster: what an exec plugin is told when `provideClusterInfo` is set, and where the
/// Kubernetes API calls of [`crate::connect`] go.
#[derive(Deserialize)]
pub(super) struct ClusterEntry {
    #[serde(default)]
    pub(super) server: Option<String>,
    #[serde(rename = "tls-server-name", default)]
    pub(super) tls_server_name: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    pub(super) insecure_skip_tls_verify: Option<bool>,
    #[serde(rename = "certificate-authority-data", default)]
    pub(super) certificate_authority_data: Option<String>,
    /// A CA file, relative to the kubeconfig's directory (read by `connect`'s API calls).
    #[serde(rename = "certificate-authority", default)]
    pub(super) certificate_authority: Option<String>,
    #[serde(rename = "proxy-url", default)]
    pub(super) proxy_url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NamedUser {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) user: Option<UserEntry>,
}

#[derive(Deserialize)]
pub(super) struct UserEntry {
    /// Read leniently (a number is accepted) so that a parse error never echoes a token.
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) token: Option<String>,
    #[serde(rename = "tokenFile", default)]
    pub(super) token_file: Option<String>,
    #[serde(default)]
    pub(super) exec: Option<ExecEntry>,
    #[serde(rename = "auth-provider", default)]
    pub(super) auth_provider: Option<AuthProviderEntry>,
    #[serde(rename = "client-certificate", default)]
    pub(super) client_certificate: Option<serde_yaml::Value>,
    #[serde(rename = "client-certificate-data", default)]
    pub(super) client_certificate_data: Option<serde_yaml::Value>,
    #[serde(default)]
    pub(super) username: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
pub(super) struct AuthProviderEntry {
    #[serde(default)]
    pub(super) name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ExecEntry {
    #[serde(rename = "apiVersion", default)]
    pub(super) api_version: Option<String>,
    #[serde(default)]
    pub(super) command: Option<String>,
    #[serde(default)]
    pub(super) args: Option<Vec<String>>,
    #[serde(default)]
    pub(super) env: Option<Vec<ExecEnvVar>>,
    #[serde(rename = "installHint", default)]
    pub(super) install_hint: Option<String>,
    #[serde(rename = "provideClusterInfo", default)]
    pub(super) provide_cluster_info: Option<bool>,
    #[serde(rename = "interactiveMode", default)]
    pub(super) interactive_mode: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ExecEnvVar {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) value: Option<String>,
}

/// A YAML scalar as a string, without ever putting the value in an error message.
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(
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

pub(super) fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
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
