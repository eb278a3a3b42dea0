//! The in-cluster mode: a client running in a pod finds the Router Service through the cluster
//! API (by its component label), or falls back to the Service's DNS name, and uses the first
//! one that answers `GET /healthz`.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Url;

use super::kube_api::{KubeError, chain, read_small, sibling};
use super::resources::{List, Service};
use super::{ConnectErrorKind, Connection, DEFAULT_NAMESPACE, DEFAULT_PORT, DEFAULT_SERVICE};
use super::{KubeApi, failure};
use crate::auth::DetectEnv;
use crate::{Error, Result};

/// The label AgentTier's chart puts on the Router Service.
const ROUTER_SELECTOR: &str = "app.kubernetes.io/component=router";
/// How long a candidate URL may take to answer `/healthz`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to look for the Router from inside the cluster (see
/// [`Client::in_cluster`](crate::Client::in_cluster)).
///
/// On the first call the client lists the Services labelled
/// `app.kubernetes.io/component=router` in the namespace through the cluster API (HTTPS to
/// `KUBERNETES_SERVICE_HOST`, trusting the pod's `ca.crt`, with its service-account token),
/// the configured Service first, then falls back to `http://<service>.<namespace>.svc:<port>`;
/// it uses the first that answers `GET /healthz` (5 s each) and keeps it. Without a namespace
/// set it looks in the pod's own namespace, then in `agenttier`. The choice is logged at debug
/// level; when nothing answers, [`Error::Connection`] (kind
/// [`Unreachable`](super::ConnectErrorKind::Unreachable)) lists every Service and URL tried.
///
/// The service account needs `list` on `services` in that namespace for the lookup; without
/// it the DNS name is still tried.
///
/// ```no_run
/// # async fn demo() -> agenttier::Result<()> {
/// use agenttier::Client;
/// use agenttier::connect::InClusterOptions;
///
/// let client = Client::in_cluster(InClusterOptions::new().namespace("agenttier")).build()?;
/// println!("{}", client.connect().await?); // in-cluster, Service agenttier/agenttier-router at …
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct InClusterOptions {
    namespace: Option<String>,
    service: String,
    port: u16,
    api: Option<KubeApi>,
    /// The environment of `Client::from_env_with` (else the process's).
    env: Option<DetectEnv>,
}

impl Default for InClusterOptions {
    fn default() -> Self {
        InClusterOptions::new()
    }
}

impl InClusterOptions {
    /// The defaults: the pod's namespace then `agenttier`, Service `agenttier-router`, port
    /// 8080, the pod's cluster API.
    ///
    /// ```
    /// let options = agenttier::connect::InClusterOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> InClusterOptions {
        InClusterOptions {
            namespace: None,
            service: DEFAULT_SERVICE.to_owned(),
            port: DEFAULT_PORT,
            api: None,
            env: None,
        }
    }

    pub(crate) fn from_env(env: &DetectEnv, namespace: Option<String>) -> InClusterOptions {
        InClusterOptions {
            namespace,
            env: Some(env.clone()),
            ..InClusterOptions::new()
        }
    }

    /// The Router's namespace (default: the pod's own, then `agenttier`).
    ///
    /// ```
    /// let options = agenttier::connect::InClusterOptions::new().namespace("agenttier");
    /// # let _ = options;
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> InClusterOptions {
        self.namespace = Some(namespace.into());
        self
    }

    /// The Router Service looked for first, and the name of the fallback (default
    /// `agenttier-router`).
    ///
    /// ```
    /// let options = agenttier::connect::InClusterOptions::new().service("staging-router");
    /// # let _ = options;
    /// ```
    pub fn service(mut self, service: impl Into<String>) -> InClusterOptions {
        self.service = service.into();
        self
    }

    /// The Router Service's port: preferred among a listed Service's ports, and the fallback's
    /// (default 8080).
    ///
    /// ```
    /// let options = agenttier::connect::InClusterOptions::new().port(80);
    /// # let _ = options;
    /// ```
    pub fn port(mut self, port: u16) -> InClusterOptions {
        self.port = port;
        self
    }

    /// The cluster API to ask (default [`KubeApi::in_cluster`]).
    ///
    /// ```
    /// use agenttier::auth::BearerToken;
    /// use agenttier::connect::{InClusterOptions, KubeApi};
    /// let api = KubeApi::new("http://127.0.0.1:8001")?; // kubectl proxy
    /// let options = InClusterOptions::new().api(api);
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn api(mut self, api: KubeApi) -> InClusterOptions {
        self.api = Some(api);
        self
    }
}

/// Finds the Router once, for every clone of one client.
pub(crate) struct Finder {
    namespaces: Vec<String>,
    service: String,
    port: u16,
    /// The cluster API, or why there is none (the fallback is still tried).
    api: std::result::Result<KubeApi, String>,
    found: OnceLock<Found>,
    finding: tokio::sync::Mutex<()>,
}

struct Found {
    url: Url,
    namespace: String,
    via: String,
}

impl Finder {
    pub(crate) fn new(options: InClusterOptions) -> Result<Finder> {
        if let Some(namespace) = &options.namespace {
            crate::wire::rfc1123_label("namespace", namespace)?;
        }
        crate::wire::rfc1123_label("service", &options.service)?;
        if options.port == 0 {
            return Err(Error::invalid("port", "0 is not in 1-65535"));
        }
        let env = options.env.unwrap_or_else(DetectEnv::from_process);
        let namespaces = match options.namespace {
            Some(namespace) => vec![namespace],
            None => {
                let mut namespaces: Vec<String> = pod_namespace(&env).into_iter().collect();
                if !namespaces.iter().any(|n| n == DEFAULT_NAMESPACE) {
                    namespaces.push(DEFAULT_NAMESPACE.to_owned());
                }
                namespaces
            }
        };
        let api = match options.api {
            Some(api) => Ok(api),
            None => KubeApi::in_cluster_with(&env).map_err(|e| match e {
                Error::InvalidInput { message, .. } => message,
                other => other.to_string(),
            }),
        };
        Ok(Finder {
            namespaces,
            service: options.service,
            port: options.port,
            api,
            found: OnceLock::new(),
            finding: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) async fn url(&self, http: &reqwest::Client) -> Result<&Url> {
        if let Some(found) = self.found.get() {
            return Ok(&found.url);
        }
        // One search at a time; the calls that waited use its result.
        let _finding = self.finding.lock().await;
        if let Some(found) = self.found.get() {
            return Ok(&found.url);
        }
        let found = self.find(http).await?;
        tracing::debug!(
            url = %found.url,
            via = %found.via,
            "agenttier connection: in-cluster Router chosen"
        );
        Ok(&self.found.get_or_init(|| found).url)
    }

    async fn find(&self, http: &reqwest::Client) -> Result<Found> {
        let mut tried = Vec::new();
        if let Err(why) = &self.api {
            tried.push(format!("the cluster API: {why}"));
        }
        for namespace in &self.namespaces {
            let mut candidates = match &self.api {
                Ok(api) => self.listed(api, namespace, &mut tried).await,
                Err(_) => Vec::new(),
            };
            let fallback = format!("http://{}.{namespace}.svc:{}", self.service, self.port);
            if let Ok(url) = Url::parse(&fallback)
                && !candidates.iter().any(|(u, _)| *u == url)
            {
                candidates.push((
                    url,
                    format!(
                        "the DNS name of Service {namespace}/{}, as a fallback",
                        self.service
                    ),
                ));
            }
            for (url, via) in candidates {
                match probe(http, &url).await {
                    Ok(()) => {
                        return Ok(Found {
                            url,
                            namespace: namespace.clone(),
                            via,
                        });
                    }
                    Err(why) => tried.push(format!(
                        "GET {}{} ({via}): {why}",
                        url.as_str().trim_end_matches('/'),
                        crate::operations::op::HEALTHZ.path
                    )),
                }
            }
        }
        Err(failure(
            ConnectErrorKind::Unreachable,
            format!(
                "no Router answered inside the cluster (namespaces looked in: {})",
                self.namespaces.join(", ")
            ),
            tried,
        ))
    }

    /// The Router Services the cluster API lists in `namespace`, the configured one first,
    /// as (URL, how it was found); what went wrong is added to `tried`.
    async fn listed(
        &self,
        api: &KubeApi,
        namespace: &str,
        tried: &mut Vec<String>,
    ) -> Vec<(Url, String)> {
        let looked = format!(
            "Services labelled {ROUTER_SELECTOR} in namespace {namespace} (cluster API {})",
            api.server()
        );
        let path = format!("/api/v1/namespaces/{namespace}/services");
        let services = match api
            .get::<List<Service>>(
                &path,
                Some(("labelSelector", ROUTER_SELECTOR)),
                "ServiceList",
            )
            .await
        {
            Ok(list) => list.into_items(),
            Err(KubeError::Status(403, message)) => {
                tried.push(format!(
                    "{looked}: HTTP 403: {message} (the service account needs `list` on services)"
                ));
                return Vec::new();
            }
            Err(e) => {
                tried.push(format!("{looked}: {e}"));
                return Vec::new();
            }
        };
        if services.is_empty() {
            tried.push(format!("{looked}: none"));
        }
        let mut services: Vec<&Service> = services.iter().collect();
        services.sort_by_key(|s| (s.metadata.name() != self.service, s.metadata.name()));
        let mut found = Vec::new();
        for service in services {
            let name = service.metadata.name();
            match self.service_url(service, namespace) {
                Ok(url) => found.push((
                    url,
                    format!("Service {namespace}/{name}, listed by the cluster API"),
                )),
                Err(why) => tried.push(format!("Service {namespace}/{name}: {why}")),
            }
        }
        found
    }

    /// `http://<name>.<namespace>.svc:<port>`, with the configured port if the Service has it,
    /// else its port named `http`, else its first.
    fn service_url(&self, service: &Service, namespace: &str) -> std::result::Result<Url, String> {
        let name = service.metadata.name();
        if !crate::wire::is_rfc1123_label(name) {
            return Err(format!("its name {name:?} is not a DNS label"));
        }
        let ports = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.port == Some(i64::from(self.port)))
            .or_else(|| ports.iter().find(|p| p.name.as_deref() == Some("http")))
            .or_else(|| ports.first())
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or("it has no port")?;
        Url::parse(&format!("http://{name}.{namespace}.svc:{port}")).map_err(|e| e.to_string())
    }

    pub(crate) fn connection(&self) -> Connection {
        match self.found.get() {
            Some(found) => Connection::InCluster {
                namespace: found.namespace.clone(),
                service: self.service.clone(),
                url: Some(found.url.as_str().trim_end_matches('/').to_owned()),
                via: Some(found.via.clone()),
            },
            None => Connection::InCluster {
                namespace: self.namespaces.first().cloned().unwrap_or_default(),
                service: self.service.clone(),
                url: None,
                via: None,
            },
        }
    }
}

/// The pod's namespace, from the file next to its service-account token.
fn pod_namespace(env: &DetectEnv) -> Option<String> {
    let path = sibling(env.token_path()?, "namespace");
    let bytes = read_small(&path).ok()?;
    let namespace = String::from_utf8_lossy(&bytes).trim().to_owned();
    crate::wire::is_rfc1123_label(&namespace).then_some(namespace)
}

/// Whether a Router answers `GET /healthz` at `base` (it needs no credentials).
async fn probe(http: &reqwest::Client, base: &Url) -> std::result::Result<(), String> {
    let url = base
        .join(crate::operations::op::HEALTHZ.path.trim_start_matches('/'))
        .map_err(|e| e.to_string())?;
    match http.get(url).timeout(PROBE_TIMEOUT).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status())),
        Err(e) => Err(chain(&e)),
    }
}
