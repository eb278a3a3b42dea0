//! The few fields of Kubernetes objects the connection modes read (Services, Ingresses,
//! Gateway API HTTPRoutes and Gateways). Every field is optional: an object missing one is
//! skipped with a reason, never a decoding failure; unknown fields are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `<Kind>List`: `items` (absent or `null` when empty).
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(super) struct List<T> {
    #[serde(default)]
    pub items: Option<Vec<T>>,
}

impl<T> List<T> {
    pub fn into_items(self) -> Vec<T> {
        self.items.unwrap_or_default()
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct Meta {
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

impl Meta {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Deserialize)]
pub(super) struct Service {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct ServiceSpec {
    pub ports: Option<Vec<ServicePort>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct ServicePort {
    pub name: Option<String>,
    pub port: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Ingress {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Option<IngressSpec>,
    #[serde(default)]
    pub status: Option<IngressStatus>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct IngressSpec {
    pub default_backend: Option<IngressBackend>,
    pub tls: Option<Vec<IngressTls>>,
    pub rules: Option<Vec<IngressRule>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct IngressBackend {
    pub service: Option<BackendService>,
}

impl IngressBackend {
    pub fn service_name(&self) -> Option<&str> {
        self.service.as_ref()?.name.as_deref()
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct BackendService {
    pub name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct IngressTls {
    pub hosts: Option<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct IngressRule {
    pub host: Option<String>,
    pub http: Option<HttpIngressRule>,
}

impl IngressRule {
    /// The backends of this rule's paths.
    pub fn backends(&self) -> impl Iterator<Item = &IngressBackend> {
        self.http
            .iter()
            .flat_map(|h| h.paths.iter().flatten())
            .filter_map(|p| p.backend.as_ref())
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct HttpIngressRule {
    pub paths: Option<Vec<IngressPath>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct IngressPath {
    pub backend: Option<IngressBackend>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct IngressStatus {
    pub load_balancer: Option<LoadBalancerStatus>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct LoadBalancerStatus {
    pub ingress: Option<Vec<LoadBalancerIngress>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct LoadBalancerIngress {
    pub ip: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct HttpRoute {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Option<HttpRouteSpec>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct HttpRouteSpec {
    pub parent_refs: Option<Vec<ParentRef>>,
    pub hostnames: Option<Vec<String>>,
    pub rules: Option<Vec<HttpRouteRule>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub section_name: Option<String>,
    pub port: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct HttpRouteRule {
    pub backend_refs: Option<Vec<BackendRef>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Gateway {
    #[serde(default)]
    pub spec: Option<GatewaySpec>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct GatewaySpec {
    pub listeners: Option<Vec<Listener>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct Listener {
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<i64>,
    pub protocol: Option<String>,
}

/// `pattern` (a host, or `*.example.com` matching one more label) covers `host`.
pub(super) fn host_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn wildcards_match_exactly_one_label() {
        assert!(host_matches(
            "agenttier.example.com",
            "AgentTier.example.com"
        ));
        assert!(host_matches("*.example.com", "agenttier.example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
    }
}
