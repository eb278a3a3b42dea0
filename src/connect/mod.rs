//! Reaching a Router that runs in Kubernetes without knowing its URL: from inside the cluster,
//! through a `kubectl port-forward` tunnel, or at the public URL the cluster routes to it.
//!
//! | mode | builder | needs |
//! | --- | --- | --- |
//! | a URL | [`Client::builder`](crate::Client::builder) | the URL |
//! | in-cluster | [`Client::in_cluster`](crate::Client::in_cluster) | a pod (its service-account token); RBAC `list` on `services` to find the Router Service, else its DNS name is tried |
//! | tunnel | [`Client::tunnel`](crate::Client::tunnel) | `kubectl` (on `PATH` or [`TunnelOptions::kubectl`]) and a kubeconfig allowed to port-forward |
//! | discovery | [`Client::discover`](crate::Client::discover) | kubeconfig credentials (token, tokenFile or exec) allowed to `list` `ingresses` and `httproutes` (and `get` `gateways`) |
//!
//! These are the facts of AgentTier's Helm chart: the Router is the Service `<release>-router`
//! (label `app.kubernetes.io/component: router`, port 8080) in the release's namespace (default
//! release and namespace `agenttier`); the optional web UI Ingress `<release>-webui` (label
//! `app.kubernetes.io/component: webui`) proxies `/api/` and `/ws/` to it.
//!
//! Building such a client starts nothing and sends nothing: the Router is found on the first
//! call, or when you call [`Client::connect`](crate::Client::connect) to fail early. Until then
//! [`Client::base_url`](crate::Client::base_url) is [`NOT_CONNECTED`]; afterwards it is the URL
//! the Router was first reached at. [`Client::connection`](crate::Client::connection) describes
//! the mode and the URL in use at any time, and is part of the client's `Debug` output.
//!
//! [`Client::from_env`](crate::Client::from_env) picks a mode: `AGENTTIER_API_URL` always wins;
//! else `AGENTTIER_CONNECTION` (`in-cluster`, `tunnel` or `discover`) when set; else in-cluster
//! when running in a pod; else it fails. `AGENTTIER_NAMESPACE` sets the namespace of any mode.
//!
//! The Kubernetes API calls (in-cluster lookup, discovery) are a few GETs with `reqwest`, behind
//! the `kubeconfig` feature (on by default). Their credentials go only to the API server they
//! belong to (redirects are not followed), never to the Router, and never into `Debug` output,
//! logs or errors. kubectl gets no credentials on its command line: it reads its kubeconfig.
//!
//! ```no_run
//! # async fn demo() -> agenttier::Result<()> {
//! use agenttier::Client;
//! use agenttier::connect::TunnelOptions;
//!
//! let client = Client::tunnel(TunnelOptions::new().namespace("agenttier")).build()?;
//! let connection = client.connect().await?; // starts kubectl port-forward
//! println!("{connection}"); // tunnel to service/agenttier-router in agenttier at http://127.0.0.1:…
//! client.healthz().await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "kubeconfig")]
mod discover;
#[cfg(feature = "kubeconfig")]
mod in_cluster;
#[cfg(feature = "kubeconfig")]
mod kube_api;
#[cfg(feature = "kubeconfig")]
mod resources;
mod tunnel;

use std::fmt;
use std::sync::OnceLock;

use futures::future::BoxFuture;
use reqwest::Url;

use crate::auth::DetectEnv;
use crate::{Error, Result};

#[cfg(feature = "kubeconfig")]
#[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
pub use discover::DiscoverOptions;
#[cfg(feature = "kubeconfig")]
#[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
pub use in_cluster::InClusterOptions;
#[cfg(feature = "kubeconfig")]
#[cfg_attr(docsrs, doc(cfg(feature = "kubeconfig")))]
pub use kube_api::KubeApi;
pub use tunnel::{DEFAULT_READY_TIMEOUT, TunnelOptions};

/// The namespace AgentTier's Helm chart installs into by default.
///
/// ```
/// assert_eq!(agenttier::connect::DEFAULT_NAMESPACE, "agenttier");
/// ```
pub const DEFAULT_NAMESPACE: &str = "agenttier";

/// The Router Service of the chart's default release (`<release>-router`).
///
/// ```
/// assert_eq!(agenttier::connect::DEFAULT_SERVICE, "agenttier-router");
/// ```
pub const DEFAULT_SERVICE: &str = "agenttier-router";

/// The port the Router Service listens on by default.
///
/// ```
/// assert_eq!(agenttier::connect::DEFAULT_PORT, 8080);
/// ```
pub const DEFAULT_PORT: u16 = 8080;

/// What [`Client::base_url`](crate::Client::base_url) returns for a Kubernetes connection that
/// has not found the Router yet (an `.invalid` name: nothing is ever sent there).
///
/// ```
/// # fn main() -> agenttier::Result<()> {
/// use agenttier::connect::{NOT_CONNECTED, TunnelOptions};
/// let client = agenttier::Client::tunnel(TunnelOptions::new()).build()?; // starts nothing
/// assert_eq!(client.base_url(), NOT_CONNECTED);
/// # Ok(()) }
/// ```
pub const NOT_CONNECTED: &str = "http://not-connected.invalid";

/// Environment variable choosing the connection mode of [`Client::from_env`](crate::Client::from_env)
/// when `AGENTTIER_API_URL` is not set: `in-cluster`, `tunnel` or `discover`.
///
/// ```
/// assert_eq!(agenttier::connect::ENV_CONNECTION, "AGENTTIER_CONNECTION");
/// ```
pub const ENV_CONNECTION: &str = "AGENTTIER_CONNECTION";

/// Environment variable setting the namespace of the Router for the modes of
/// [`Client::from_env`](crate::Client::from_env).
///
/// ```
/// assert_eq!(agenttier::connect::ENV_NAMESPACE, "AGENTTIER_NAMESPACE");
/// ```
pub const ENV_NAMESPACE: &str = "AGENTTIER_NAMESPACE";

/// How a client reaches its Router, and the URL in use (see [`Client::connection`](crate::Client::connection)).
/// It never contains a credential.
///
/// ```
/// # fn main() -> agenttier::Result<()> {
/// use agenttier::connect::Connection;
///
/// let client = agenttier::Client::builder("http://localhost:8080").build()?;
/// match client.connection() {
///     Connection::Url { url, .. } => assert_eq!(url, "http://localhost:8080"),
///     other => panic!("unexpected {other}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Connection {
    /// A URL given explicitly ([`Client::builder`](crate::Client::builder), `AGENTTIER_API_URL`).
    #[non_exhaustive]
    Url {
        /// The Router's URL.
        url: String,
    },
    /// From inside the cluster ([`Client::in_cluster`](crate::Client::in_cluster)).
    #[non_exhaustive]
    InCluster {
        /// The namespace the Router was found in, or the first one to look in.
        namespace: String,
        /// The Router Service looked for first.
        service: String,
        /// The Router's URL, once found.
        url: Option<String>,
        /// How it was found (the Service the cluster API listed, or its DNS name as a fallback).
        via: Option<String>,
    },
    /// Through `kubectl port-forward` ([`Client::tunnel`](crate::Client::tunnel)).
    #[non_exhaustive]
    Tunnel {
        /// The Service's namespace.
        namespace: String,
        /// The Router Service.
        service: String,
        /// The Service port forwarded to.
        remote_port: u16,
        /// The kubeconfig context kubectl uses, when set.
        context: Option<String>,
        /// `http://127.0.0.1:<port>` while the forward is up.
        url: Option<String>,
        /// The kubectl process, while one runs.
        pid: Option<u32>,
        /// How many times kubectl exited while forwarding (each time it is started again: at
        /// once, or by the next call when it exited again within 5 s of a restart).
        restarts: u32,
    },
    /// At the public URL found in the cluster ([`Client::discover`](crate::Client::discover)).
    #[non_exhaustive]
    Discovered {
        /// The namespace looked in.
        namespace: String,
        /// The Router Service whose routes were looked for.
        service: String,
        /// The Router's URL, once found.
        url: Option<String>,
        /// Where it was found (`Ingress agenttier/agenttier-webui`, an HTTPRoute).
        via: Option<String>,
    },
}

impl Connection {
    pub(crate) fn url_only(url: &str) -> Connection {
        Connection::Url {
            url: url.to_owned(),
        }
    }

    /// The URL requests go to now, when known.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// assert_eq!(client.connection().url(), Some("http://localhost:8080"));
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> Option<&str> {
        match self {
            Connection::Url { url } => Some(url),
            Connection::InCluster { url, .. }
            | Connection::Tunnel { url, .. }
            | Connection::Discovered { url, .. } => url.as_deref(),
        }
    }

    /// The mode: `url`, `in-cluster`, `tunnel` or `discovery`.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// use agenttier::connect::TunnelOptions;
    /// let client = agenttier::Client::tunnel(TunnelOptions::new()).build()?;
    /// assert_eq!(client.connection().mode(), "tunnel");
    /// # Ok(()) }
    /// ```
    pub fn mode(&self) -> &'static str {
        match self {
            Connection::Url { .. } => "url",
            Connection::InCluster { .. } => "in-cluster",
            Connection::Tunnel { .. } => "tunnel",
            Connection::Discovered { .. } => "discovery",
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |url: &Option<String>| match url {
            Some(url) => format!(" at {url}"),
            None => " (not connected yet)".to_owned(),
        };
        match self {
            Connection::Url { url } => write!(f, "{url}"),
            Connection::InCluster {
                namespace,
                service,
                url,
                via,
            } => {
                write!(f, "in-cluster, Service {namespace}/{service}{}", at(url))?;
                if let Some(via) = via {
                    write!(f, " ({via})")?;
                }
                Ok(())
            }
            Connection::Tunnel {
                namespace,
                service,
                remote_port,
                url,
                restarts,
                ..
            } => {
                write!(
                    f,
                    "tunnel to service/{service}:{remote_port} in {namespace}{}",
                    at(url)
                )?;
                if *restarts > 0 {
                    write!(f, " (restarted {restarts} times)")?;
                }
                Ok(())
            }
            Connection::Discovered {
                namespace,
                service,
                url,
                via,
            } => {
                write!(
                    f,
                    "discovered route to Service {namespace}/{service}{}",
                    at(url)
                )?;
                if let Some(via) = via {
                    write!(f, " ({via})")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a Kubernetes connection failed; the `kind` of [`Error::Connection`].
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) {
/// use agenttier::Error;
/// use agenttier::connect::ConnectErrorKind;
///
/// match client.connect().await {
///     Err(Error::Connection { kind: ConnectErrorKind::KubectlMissing, message, .. }) => {
///         eprintln!("{message}");
///     }
///     Err(Error::Connection { tried, .. }) => eprintln!("looked at: {tried:?}"),
///     _ => {}
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// kubectl could not be run: not on `PATH`, not at the path given, or not executable.
    KubectlMissing,
    /// kubectl (or the cluster API) says the Router Service does not exist.
    ServiceNotFound,
    /// kubectl did not report forwarding within the tunnel's ready timeout.
    TunnelTimeout,
    /// kubectl exited (or printed something else) before forwarding.
    TunnelFailed,
    /// Discovery found no Ingress or HTTPRoute leading to the Router.
    NotDiscovered,
    /// In the cluster, neither the Service the cluster API listed nor its DNS name answered.
    Unreachable,
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectErrorKind::KubectlMissing => "kubectl missing",
            ConnectErrorKind::ServiceNotFound => "Service not found",
            ConnectErrorKind::TunnelTimeout => "tunnel not ready",
            ConnectErrorKind::TunnelFailed => "tunnel failed",
            ConnectErrorKind::NotDiscovered => "no route found",
            ConnectErrorKind::Unreachable => "Router unreachable",
        })
    }
}

pub(crate) fn failure(kind: ConnectErrorKind, message: String, tried: Vec<String>) -> Error {
    Error::Connection {
        kind,
        message,
        tried,
        source: None,
    }
}

/// A Kubernetes connection mode, as the builder received it.
#[derive(Debug)]
pub(crate) enum Mode {
    #[cfg(feature = "kubeconfig")]
    InCluster(InClusterOptions),
    Tunnel(TunnelOptions),
    #[cfg(feature = "kubeconfig")]
    Discover(DiscoverOptions),
}

/// Where the requests of a client with a Kubernetes connection go: found on the first call and
/// kept (in-cluster, discovery), or followed as a tunnel restarts.
pub(crate) struct Endpoint {
    target: Target,
    /// The first URL the Router was reached at ([`crate::Client::base_url`]).
    first: OnceLock<String>,
}

enum Target {
    #[cfg(feature = "kubeconfig")]
    InCluster(in_cluster::Finder),
    Tunnel(tunnel::Tunnel),
    #[cfg(feature = "kubeconfig")]
    Discover(discover::Finder),
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.connection(), f)
    }
}

impl Endpoint {
    /// Checks the options (before any request or process) and prepares the mode.
    pub(crate) fn new(mode: Mode) -> Result<Endpoint> {
        let target = match mode {
            #[cfg(feature = "kubeconfig")]
            Mode::InCluster(options) => Target::InCluster(in_cluster::Finder::new(options)?),
            Mode::Tunnel(options) => Target::Tunnel(tunnel::Tunnel::new(options)?),
            #[cfg(feature = "kubeconfig")]
            Mode::Discover(options) => Target::Discover(discover::Finder::new(options)?),
        };
        Ok(Endpoint {
            target,
            first: OnceLock::new(),
        })
    }

    /// Finds the Router (or waits for the tunnel) and points `url` at it: its scheme, host and
    /// port become the Router's.
    pub(crate) fn route<'a>(
        &'a self,
        url: &'a mut Url,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let base = self.current(http).await?;
            rebase(url, &base)
        })
    }

    /// Finds the Router now (starting the tunnel), without sending a request to it.
    pub(crate) fn resolve<'a>(&'a self, http: &'a reqwest::Client) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.current(http).await.map(drop) })
    }

    async fn current(&self, http: &reqwest::Client) -> Result<Url> {
        #[cfg(not(feature = "kubeconfig"))]
        let _ = http;
        let base = match &self.target {
            #[cfg(feature = "kubeconfig")]
            Target::InCluster(finder) => finder.url(http).await?.clone(),
            Target::Tunnel(tunnel) => tunnel.url().await?,
            #[cfg(feature = "kubeconfig")]
            Target::Discover(finder) => finder.url().await?.clone(),
        };
        self.first
            .get_or_init(|| base.as_str().trim_end_matches('/').to_owned());
        Ok(base)
    }

    /// The first URL the Router was reached at, else [`NOT_CONNECTED`].
    pub(crate) fn base_url(&self) -> &str {
        self.first.get().map_or(NOT_CONNECTED, String::as_str)
    }

    pub(crate) fn connection(&self) -> Connection {
        match &self.target {
            #[cfg(feature = "kubeconfig")]
            Target::InCluster(finder) => finder.connection(),
            Target::Tunnel(tunnel) => tunnel.connection(),
            #[cfg(feature = "kubeconfig")]
            Target::Discover(finder) => finder.connection(),
        }
    }
}

/// Gives `url` the scheme, host and port of `base` (the Router's routes start at its root).
fn rebase(url: &mut Url, base: &Url) -> Result<()> {
    let bad = || Error::invalid("url", format!("cannot send a request to {base}"));
    if url.scheme() != base.scheme() {
        url.set_scheme(base.scheme()).map_err(|()| bad())?;
    }
    url.set_host(base.host_str()).map_err(|_| bad())?;
    url.set_port(base.port()).map_err(|()| bad())?;
    Ok(())
}

/// The mode [`crate::Client::from_env`] uses when `AGENTTIER_API_URL` is not set.
pub(crate) fn from_env(env: &DetectEnv) -> Result<Mode> {
    let namespace = env.get(ENV_NAMESPACE);
    let chosen = env
        .get(ENV_CONNECTION)
        .map(|v| v.trim().to_ascii_lowercase());
    let in_pod = env.get("KUBERNETES_SERVICE_HOST").is_some()
        && env.token_path().is_some_and(|p| p.is_file());
    let mode = match chosen.as_deref() {
        Some("tunnel") => {
            let options = TunnelOptions::new();
            Mode::Tunnel(match namespace {
                Some(ns) => options.namespace(ns),
                None => options,
            })
        }
        #[cfg(feature = "kubeconfig")]
        Some("discover" | "discovery") => {
            let options = DiscoverOptions::new();
            Mode::Discover(match namespace {
                Some(ns) => options.namespace(ns),
                None => options,
            })
        }
        #[cfg(feature = "kubeconfig")]
        Some("in-cluster") => Mode::InCluster(InClusterOptions::from_env(env, namespace)),
        #[cfg(not(feature = "kubeconfig"))]
        Some(mode @ ("discover" | "discovery" | "in-cluster")) => {
            return Err(Error::invalid(
                "connection",
                format!("{ENV_CONNECTION}={mode} needs the `kubeconfig` feature of agenttier"),
            ));
        }
        Some(other) => {
            return Err(Error::invalid(
                "connection",
                format!("{ENV_CONNECTION}={other:?} is not one of in-cluster, tunnel, discover"),
            ));
        }
        #[cfg(feature = "kubeconfig")]
        None if in_pod => Mode::InCluster(InClusterOptions::from_env(env, namespace)),
        None => {
            let pod = if in_pod {
                " (this is a pod, but in-cluster discovery needs the `kubeconfig` feature)"
            } else {
                ""
            };
            return Err(Error::invalid(
                "url",
                format!(
                    "{} is not set{pod}: set it to the Router's URL, or set {ENV_CONNECTION} to \
                     in-cluster, tunnel or discover",
                    crate::ENV_API_URL
                ),
            ));
        }
    };
    tracing::debug!(
        mode = ?mode,
        "agenttier connection: AGENTTIER_API_URL is not set, using a Kubernetes connection"
    );
    Ok(mode)
}

/// The start of a process's or server's text, for an error message.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".to_owned();
    }
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_takes_scheme_host_and_port_and_keeps_path_and_query() {
        let mut url = Url::parse("http://not-connected.invalid/api/v1/sandboxes?x=1").unwrap();
        rebase(
            &mut url,
            &Url::parse("https://agenttier.example.com").unwrap(),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://agenttier.example.com/api/v1/sandboxes?x=1"
        );
        rebase(&mut url, &Url::parse("http://127.0.0.1:41235").unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:41235/api/v1/sandboxes?x=1");
    }

    #[test]
    fn excerpt_cuts_long_text_on_a_character_boundary() {
        assert_eq!(excerpt("  \n", 10), "(empty)");
        assert_eq!(excerpt("ééééé", 3), "é…");
    }
}
