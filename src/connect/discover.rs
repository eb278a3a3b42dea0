//! Discovery: the Router's public URL, read from the cluster with kubeconfig credentials: the
//! host of the web UI Ingress, of another Ingress, or of a Gateway API HTTPRoute whose backend
//! is the Router Service.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::Url;

use super::kube_api::KubeError;
use super::resources::{Gateway, HttpRoute, Ingress, List, ParentRef, host_matches};
use super::{ConnectErrorKind, Connection, DEFAULT_NAMESPACE, DEFAULT_SERVICE};
use super::{KubeApi, failure};
use crate::auth::Kubeconfig;
use crate::{Error, Result};

/// The label AgentTier's chart puts on the web UI Ingress.
const WEBUI_LABEL: (&str, &str) = ("app.kubernetes.io/component", "webui");
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Where to look for the Router's public URL (see [`Client::discover`](crate::Client::discover)).
///
/// On the first call the client reads, in the namespace, with the kubeconfig's credentials
/// (`token`, `tokenFile` or `exec` plugin, sent only to that cluster's API server):
///
/// 1. the Ingresses (`networking.k8s.io/v1`): the web UI Ingress first (named
///    `agenttier-webui` or labelled `app.kubernetes.io/component: webui`; it proxies `/api/`
///    and `/ws/` to the Router), then any Ingress with a path whose backend is the Router
///    Service. The URL is the host of the rule leading to the Router (for the web UI, any
///    rule's), else the load balancer's address; `https` when that host is listed under the
///    Ingress's `tls` (or a `tls` entry lists no hosts), else `http`;
/// 2. the HTTPRoutes (`gateway.networking.k8s.io/v1`) with a `backendRef` to the Router
///    Service: the first hostname that is not a wildcard, `https` when the parent Gateway's
///    listener for it is HTTPS (or TLS), `http` when it is HTTP, with the listener's port when
///    it is not the scheme's default; `https` when the Gateway cannot be read.
///
/// The URL found is kept for the client's life (nothing is sent to it while looking). When
/// nothing is found, [`Error::Connection`] (kind
/// [`NotDiscovered`](super::ConnectErrorKind::NotDiscovered)) lists everything looked at.
///
/// RBAC: `list` on `ingresses` and `httproutes`, and `get` on `gateways`, in the namespace.
///
/// ```no_run
/// # async fn demo() -> agenttier::Result<()> {
/// use agenttier::Client;
/// use agenttier::connect::DiscoverOptions;
///
/// let client = Client::discover(DiscoverOptions::new().context("prod")).build()?;
/// println!("{}", client.connect().await?); // discovered route … at https://agenttier.example.com
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DiscoverOptions {
    namespace: String,
    service: String,
    ingress: String,
    api: Option<KubeApi>,
    context: Option<String>,
    kubeconfig: Option<PathBuf>,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions::new()
    }
}

impl DiscoverOptions {
    /// The defaults: namespace `agenttier`, Service `agenttier-router`, web UI Ingress
    /// `agenttier-webui`, the kubeconfig's current context.
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> DiscoverOptions {
        DiscoverOptions {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
            ingress: "agenttier-webui".to_owned(),
            api: None,
            context: None,
            kubeconfig: None,
        }
    }

    /// The namespace of the Router and its routes (default `agenttier`).
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new().namespace("agenttier-prod");
    /// # let _ = options;
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> DiscoverOptions {
        self.namespace = namespace.into();
        self
    }

    /// The Router Service whose routes are looked for (default `agenttier-router`).
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new().service("prod-router");
    /// # let _ = options;
    /// ```
    pub fn service(mut self, service: impl Into<String>) -> DiscoverOptions {
        self.service = service.into();
        self
    }

    /// The web UI Ingress, looked at first (default `agenttier-webui`, the chart's
    /// `<release>-webui`).
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new().ingress("prod-webui");
    /// # let _ = options;
    /// ```
    pub fn ingress(mut self, name: impl Into<String>) -> DiscoverOptions {
        self.ingress = name.into();
        self
    }

    /// The kubeconfig context whose cluster and user are used (default: the current one).
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new().context("prod");
    /// # let _ = options;
    /// ```
    pub fn context(mut self, context: impl Into<String>) -> DiscoverOptions {
        self.context = Some(context.into());
        self
    }

    /// The kubeconfig file (default: the first file of `KUBECONFIG`, else `~/.kube/config`).
    ///
    /// ```
    /// let options = agenttier::connect::DiscoverOptions::new().kubeconfig("/etc/ci/kubeconfig");
    /// # let _ = options;
    /// ```
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> DiscoverOptions {
        self.kubeconfig = Some(path.into());
        self
    }

    /// The cluster API to ask, instead of the kubeconfig's.
    ///
    /// ```
    /// use agenttier::connect::{DiscoverOptions, KubeApi};
    /// let options = DiscoverOptions::new().api(KubeApi::new("http://127.0.0.1:8001")?); // kubectl proxy
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    pub fn api(mut self, api: KubeApi) -> DiscoverOptions {
        self.api = Some(api);
        self
    }
}

/// Looks once, for every clone of one client.
pub(crate) struct Finder {
    namespace: String,
    service: String,
    ingress: String,
    api: KubeApi,
    found: OnceLock<Found>,
    finding: tokio::sync::Mutex<()>,
}

struct Found {
    url: Url,
    via: String,
}

impl Finder {
    /// Checks the names and reads the kubeconfig (unless an API was given).
    pub(crate) fn new(options: DiscoverOptions) -> Result<Finder> {
        crate::wire::rfc1123_label("namespace", &options.namespace)?;
        crate::wire::rfc1123_label("service", &options.service)?;
        if !is_dns_subdomain(&options.ingress) {
            return Err(Error::invalid(
                "ingress",
                format!("{:?} is not an Ingress name", options.ingress),
            ));
        }
        let api = match options.api {
            Some(api) => api,
            None => {
                let kubeconfig = match &options.kubeconfig {
                    Some(path) => Kubeconfig::from_path(path)?,
                    None => Kubeconfig::load()?,
                };
                let kubeconfig = match options.context {
                    Some(context) => kubeconfig.with_context(context)?,
                    None => kubeconfig,
                };
                KubeApi::from_kubeconfig(kubeconfig)?
            }
        };
        Ok(Finder {
            namespace: options.namespace,
            service: options.service,
            ingress: options.ingress,
            api,
            found: OnceLock::new(),
            finding: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) async fn url(&self) -> Result<&Url> {
        if let Some(found) = self.found.get() {
            return Ok(&found.url);
        }
        let _finding = self.finding.lock().await;
        if let Some(found) = self.found.get() {
            return Ok(&found.url);
        }
        let found = self.find().await?;
        tracing::debug!(
            url = %found.url,
            via = %found.via,
            "agenttier connection: discovered the Router's URL"
        );
        Ok(&self.found.get_or_init(|| found).url)
    }

    async fn find(&self) -> Result<Found> {
        let ns = &self.namespace;
        let mut tried = Vec::new();
        if let Some(found) = self.look_in_ingresses(&mut tried).await? {
            return Ok(found);
        }
        if let Some(found) = self.look_in_routes(&mut tried).await? {
            return Ok(found);
        }
        Err(failure(
            ConnectErrorKind::NotDiscovered,
            format!(
                "found no Ingress or HTTPRoute in namespace {ns} leading to the Router Service {}",
                self.service
            ),
            tried,
        ))
    }

    async fn look_in_ingresses(&self, tried: &mut Vec<String>) -> Result<Option<Found>> {
        let ns = &self.namespace;
        let looked = format!("Ingresses in namespace {ns} (networking.k8s.io/v1)");
        let path = format!("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses");
        let items = match self
            .api
            .get::<List<Ingress>>(&path, None, "IngressList")
            .await
        {
            Ok(list) => list.into_items(),
            Err(KubeError::Credentials(e)) => return Err(e),
            Err(e) => {
                tried.push(format!("{looked}: {e}"));
                return Ok(None);
            }
        };
        let mut matching: Vec<(bool, &Ingress)> = items
            .iter()
            .filter_map(|ingress| {
                let webui = self.is_webui(ingress);
                (webui || self.routes_to_router(ingress)).then_some((webui, ingress))
            })
            .collect();
        matching.sort_by_key(|(webui, ingress)| (!webui, ingress.metadata.name()));
        for (webui, ingress) in &matching {
            let name = ingress.metadata.name();
            match self.ingress_url(ingress, *webui) {
                Ok(url) => {
                    return Ok(Some(Found {
                        url,
                        via: if *webui {
                            format!("the web UI Ingress {ns}/{name}")
                        } else {
                            format!("Ingress {ns}/{name}")
                        },
                    }));
                }
                Err(why) => tried.push(format!("Ingress {ns}/{name}: {why}")),
            }
        }
        if matching.is_empty() {
            tried.push(format!(
                "{looked}: {} looked at, none named {} or labelled {}={} (the web UI), none with \
                 a backend Service {}",
                items.len(),
                self.ingress,
                WEBUI_LABEL.0,
                WEBUI_LABEL.1,
                self.service
            ));
        }
        Ok(None)
    }

    fn is_webui(&self, ingress: &Ingress) -> bool {
        ingress.metadata.name() == self.ingress
            || ingress.metadata.label(WEBUI_LABEL.0) == Some(WEBUI_LABEL.1)
    }

    fn routes_to_router(&self, ingress: &Ingress) -> bool {
        let Some(spec) = &ingress.spec else {
            return false;
        };
        let to_router =
            |b: &super::resources::IngressBackend| b.service_name() == Some(self.service.as_str());
        spec.default_backend.as_ref().is_some_and(to_router)
            || spec
                .rules
                .iter()
                .flatten()
                .any(|r| r.backends().any(to_router))
    }

    /// The URL of an Ingress: the host of a rule leading to the Router (any rule's, for the
    /// web UI), else the load balancer's address; https when the host is covered by `tls`.
    fn ingress_url(&self, ingress: &Ingress, webui: bool) -> std::result::Result<Url, String> {
        let spec = ingress.spec.as_ref().ok_or("it has no spec")?;
        let rules = spec.rules.as_deref().unwrap_or_default();
        let named = |host: &Option<String>| {
            host.as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty() && !h.starts_with('*'))
                .map(str::to_owned)
        };
        let router_rule = rules
            .iter()
            .filter(|r| {
                r.backends()
                    .any(|b| b.service_name() == Some(self.service.as_str()))
            })
            .find_map(|r| named(&r.host));
        let any_rule = || {
            if webui {
                rules.iter().find_map(|r| named(&r.host))
            } else {
                None
            }
        };
        let balancer = || {
            let status = ingress.status.as_ref()?.load_balancer.as_ref()?;
            let first = status.ingress.as_ref()?.first()?;
            named(&first.hostname).or_else(|| named(&first.ip))
        };
        let host = router_rule
            .or_else(any_rule)
            .or_else(balancer)
            .ok_or("it has no host and no load-balancer address yet")?;
        let tls = spec.tls.as_deref().unwrap_or_default();
        let https = tls.iter().any(|t| match t.hosts.as_deref() {
            None | Some([]) => true,
            Some(hosts) => hosts.iter().any(|pattern| host_matches(pattern, &host)),
        });
        url_for(if https { "https" } else { "http" }, &host, None)
    }

    async fn look_in_routes(&self, tried: &mut Vec<String>) -> Result<Option<Found>> {
        let ns = &self.namespace;
        let looked = format!("HTTPRoutes in namespace {ns} ({GATEWAY_GROUP}/v1)");
        let path = format!("/apis/{GATEWAY_GROUP}/v1/namespaces/{ns}/httproutes");
        let items = match self
            .api
            .get::<List<HttpRoute>>(&path, None, "HTTPRouteList")
            .await
        {
            Ok(list) => list.into_items(),
            Err(KubeError::Credentials(e)) => return Err(e),
            Err(KubeError::Status(404, _)) => {
                tried.push(format!(
                    "{looked}: the cluster does not serve them (HTTP 404: the Gateway API is not \
                     installed)"
                ));
                return Ok(None);
            }
            Err(e) => {
                tried.push(format!("{looked}: {e}"));
                return Ok(None);
            }
        };
        let mut matching: Vec<&HttpRoute> = items
            .iter()
            .filter(|r| self.route_targets_router(r))
            .collect();
        matching.sort_by_key(|r| r.metadata.name());
        for route in &matching {
            let name = route.metadata.name();
            match self.route_url(route).await {
                Ok((url, through)) => {
                    return Ok(Some(Found {
                        url,
                        via: format!("HTTPRoute {ns}/{name}, {through}"),
                    }));
                }
                Err(why) => tried.push(format!("HTTPRoute {ns}/{name}: {why}")),
            }
        }
        if matching.is_empty() {
            tried.push(format!(
                "{looked}: {} looked at, none with a backendRef to Service {}",
                items.len(),
                self.service
            ));
        }
        Ok(None)
    }

    fn route_targets_router(&self, route: &HttpRoute) -> bool {
        let Some(spec) = &route.spec else {
            return false;
        };
        spec.rules
            .iter()
            .flatten()
            .flat_map(|r| r.backend_refs.iter().flatten())
            .any(|b| {
                b.group.as_deref().unwrap_or("").is_empty()
                    && b.kind.as_deref().unwrap_or("Service") == "Service"
                    && b.name.as_deref() == Some(self.service.as_str())
                    && b.namespace.as_deref().is_none_or(|n| n == self.namespace)
            })
    }

    /// The URL of an HTTPRoute (its first plain hostname, the scheme of its Gateway's
    /// listener) and how the scheme was chosen.
    async fn route_url(&self, route: &HttpRoute) -> std::result::Result<(Url, String), String> {
        let spec = route.spec.as_ref().ok_or("it has no spec")?;
        let host = spec
            .hostnames
            .iter()
            .flatten()
            .map(|h| h.trim())
            .find(|h| !h.is_empty() && !h.starts_with('*'))
            .ok_or("it has no hostname (none, or only wildcards)")?;
        let parent = spec.parent_refs.iter().flatten().find(|p| {
            p.kind.as_deref().unwrap_or("Gateway") == "Gateway"
                && p.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        });
        let (scheme, port, through) = match parent {
            None => ("https", None, "no parent Gateway, https assumed".to_owned()),
            Some(parent) => self.listener(parent, host).await,
        };
        Ok((url_for(scheme, host, port)?, through))
    }

    /// The scheme (and a non-default port) of the parent Gateway's listener for `host`.
    async fn listener(
        &self,
        parent: &ParentRef,
        host: &str,
    ) -> (&'static str, Option<u16>, String) {
        let namespace = parent.namespace.as_deref().unwrap_or(&self.namespace);
        let name = parent.name.as_deref().unwrap_or("");
        let gateway = format!("Gateway {namespace}/{name}");
        if !crate::wire::is_rfc1123_label(namespace) || !is_dns_subdomain(name) {
            return (
                "https",
                None,
                format!("{gateway} is not a valid name, https assumed"),
            );
        }
        let path = format!("/apis/{GATEWAY_GROUP}/v1/namespaces/{namespace}/gateways/{name}");
        let read = match self.api.get::<Gateway>(&path, None, "Gateway").await {
            Ok(read) => read,
            Err(e) => {
                return (
                    "https",
                    None,
                    format!("{gateway} could not be read ({e}), https assumed"),
                );
            }
        };
        let listeners = read.spec.and_then(|s| s.listeners).unwrap_or_default();
        let fits = listeners.iter().filter(|l| {
            parent
                .section_name
                .as_deref()
                .is_none_or(|s| l.name.as_deref() == Some(s))
                && parent.port.is_none_or(|p| l.port == Some(p))
                && l.hostname.as_deref().is_none_or(|h| host_matches(h, host))
        });
        let protocol = |l: &&super::resources::Listener| {
            l.protocol.as_deref().unwrap_or("").to_ascii_uppercase()
        };
        let mut fits: Vec<_> = fits.collect();
        fits.sort_by_key(|l| !matches!(protocol(l).as_str(), "HTTPS" | "TLS"));
        let Some(listener) = fits
            .into_iter()
            .find(|l| matches!(protocol(l).as_str(), "HTTPS" | "TLS" | "HTTP"))
        else {
            return (
                "https",
                None,
                format!("no HTTP(S) listener of {gateway} fits, https assumed"),
            );
        };
        let scheme = if protocol(&listener) == "HTTP" {
            "http"
        } else {
            "https"
        };
        let default = if scheme == "http" { 80 } else { 443 };
        let port = listener
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != default && *p != 0);
        let through = format!(
            "{gateway} listener {} ({})",
            listener.name.as_deref().unwrap_or("unnamed"),
            protocol(&listener)
        );
        (scheme, port, through)
    }

    pub(crate) fn connection(&self) -> Connection {
        let found = self.found.get();
        Connection::Discovered {
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            url: found.map(|f| f.url.as_str().trim_end_matches('/').to_owned()),
            via: found.map(|f| f.via.clone()),
        }
    }
}

/// `scheme://host[:port]`, for a host name or IP address read from the cluster (anything else,
/// such as a `/` or `@` in it, is refused).
fn url_for(scheme: &str, host: &str, port: Option<u16>) -> std::result::Result<Url, String> {
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Err(_) if is_dns_subdomain(&host.to_ascii_lowercase()) => host.to_owned(),
        Err(_) => return Err(format!("its host {host:?} is not a host name")),
    };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Url::parse(&format!("{scheme}://{host}{port}")).map_err(|e| format!("its host {host:?}: {e}"))
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(crate::wire::is_rfc1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_from_the_cluster_become_urls_or_reasons() {
        assert_eq!(
            url_for("https", "AgentTier.example.com", None)
                .unwrap()
                .as_str(),
            "https://agenttier.example.com/"
        );
        assert_eq!(
            url_for("http", "2001:db8::1", Some(8080)).unwrap().as_str(),
            "http://[2001:db8::1]:8080/"
        );
        assert!(url_for("https", "evil.example.com/x", None).is_err());
        assert!(url_for("https", "user@evil.example.com", None).is_err());
    }
}
