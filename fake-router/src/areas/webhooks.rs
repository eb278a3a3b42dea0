//! Webhook subscriptions: create, list, delete, deliveries (the `webhooks` tag in openapi.yaml).
//! Create resolves the URL's host like the Router, from the emulator's own table unless the
//! builder asked for the system resolver.
//! Nothing is ever delivered, so deliveries are always `[]`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Host;

use crate::core::state::{Shared, Webhook};
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// The fixed event vocabulary.
const EVENT_TYPES: &[&str] = &[
    "sandbox.creating",
    "sandbox.running",
    "sandbox.stopped",
    "sandbox.error",
    "sandbox.deleting",
    "backup.created",
    "backup.pruned",
    "share.granted",
    "share.revoked",
    "agent.invoke.started",
    "agent.invoke.completed",
    "agent.invoke.failed",
];

/// How long the host lookup may take before the create answers "failed to resolve host".
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The ranges the Router refuses to deliver to: loopback, link-local, RFC 1918 and IPv6
/// unique-local addresses (IPv4-mapped IPv6 addresses count as their IPv4 address).
fn disallowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_private(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => disallowed(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || (first & 0xffc0) == 0xfe80 // link-local
                    || (first & 0xfe00) == 0xfc00 // unique local
            }
        },
    }
}

/// Resolve `host` with the system resolver, bounded by [`RESOLVE_TIMEOUT`]. The error is the
/// text after `invalid url: `.
async fn resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    let failed = |why: &str| format!("failed to resolve host \"{host}\": lookup {host}: {why}");
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 443))).await {
        Err(_) => Err(failed("i/o timeout")),
        Ok(Err(e)) => Err(failed(&e.to_string())),
        Ok(Ok(addrs)) => {
            let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            if ips.is_empty() {
                Err(failed("no such host"))
            } else {
                Ok(ips)
            }
        }
    }
}

/// What the URL check needs to resolve host names.
struct Resolver {
    system: bool,
    table: std::collections::HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    /// The table first, then `localhost` and `.invalid` (RFC 6761), then the system resolver
    /// if it was asked for; otherwise the name counts as public (`None`: nothing to judge).
    async fn lookup(&self, name: &str) -> Result<Option<Vec<IpAddr>>, String> {
        let d = name.trim_end_matches('.').to_ascii_lowercase();
        let no_such_host =
            || format!("failed to resolve host \"{name}\": lookup {name}: no such host");
        if let Some(ips) = self.table.get(&d) {
            return if ips.is_empty() {
                Err(no_such_host())
            } else {
                Ok(Some(ips.clone()))
            };
        }
        if d == "localhost" || d.ends_with(".localhost") {
            return Ok(Some(vec![IpAddr::from([127, 0, 0, 1])]));
        }
        if d == "invalid" || d.ends_with(".invalid") {
            return Err(no_such_host());
        }
        if self.system {
            return resolve(name).await.map(Some);
        }
        Ok(None)
    }
}

/// The Router's URL check, in its order: parse, `https`, a host, the host's addresses, their
/// ranges. The error is the text after `invalid url: `.
async fn check_url(raw: &str, resolver: &Resolver) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("parse \"{raw}\": {e}"))?;
    if url.scheme() != "https" {
        return Err("url must use https://".to_string());
    }
    let (host, ips) = match url.host() {
        None => return Err("url must have a host".to_string()),
        Some(Host::Domain("")) => return Err("url must have a host".to_string()),
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![IpAddr::V4(ip)]),
        Some(Host::Ipv6(ip)) => (ip.to_string(), vec![IpAddr::V6(ip)]),
        Some(Host::Domain(name)) => match resolver.lookup(name).await? {
            Some(ips) => (name.to_string(), ips),
            None => return Ok(()),
        },
    };
    match ips.into_iter().find(|ip| disallowed(*ip)) {
        Some(ip) => Err(format!(
            "host \"{host}\" resolves to a disallowed address range ({ip})"
        )),
        None => Ok(()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WebhookCreateRequest {
    url: String,
    event_types: Vec<String>,
    sandbox_id: String,
    namespace: String,
}

fn webhook_json(w: &Webhook, created_at: &str) -> Value {
    let mut v = json!({
        "id": w.id,
        "url": w.url,
        "eventTypes": w.event_types,
        "createdAt": created_at,
        "disabled": false,
    });
    if !w.sandbox_id.is_empty() {
        v["sandboxId"] = w.sandbox_id.clone().into();
    }
    if !w.namespace.is_empty() {
        v["namespace"] = w.namespace.clone().into();
    }
    v
}

/// `POST /webhooks`: decode → url → event types → the URL check (DNS, outside the lock) →
/// ownership.
pub(crate) async fn create(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let req: WebhookCreateRequest = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if req.url.is_empty() {
        return respond::error(400, "url is required");
    }
    if req.event_types.is_empty() {
        return respond::error(400, "eventTypes must contain at least one event type");
    }
    if let Some(bad) = req
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return respond::error(400, format!("unknown event type \"{bad}\""));
    }
    let resolver = {
        let st = shared.lock();
        Resolver {
            system: st.cfg.resolve_webhook_hosts,
            table: st.cfg.webhook_hosts.clone(),
        }
    };
    if let Err(e) = check_url(&req.url, &resolver).await {
        return respond::error(400, format!("invalid url: {e}"));
    }
    let mut st = shared.lock();
    if !req.sandbox_id.is_empty() {
        if st.owned(&call.caller, &req.sandbox_id).is_err() {
            return respond::error(404, "sandbox not found");
        }
    } else if !call.caller.is_admin() {
        return respond::error(403, "sandboxId is required for non-admin subscriptions");
    }
    let secret = wire::random_token();
    let hook = Webhook {
        id: wire::random_hex(16),
        url: req.url,
        event_types: req.event_types,
        created_at: st.wall_now(),
        sandbox_id: req.sandbox_id,
        namespace: req.namespace,
        owner: call.caller.sub().to_string(),
    };
    // The create response rebuilds the record without its timestamp: always the zero time.
    let mut body = webhook_json(&hook, wire::GO_ZERO_TIME);
    body["secret"] = secret.into();
    body["warning"] = "Store this secret now — it is shown only once.".into();
    st.webhooks.insert(hook.id.clone(), hook);
    respond::json(201, &body)
}

/// `GET /webhooks`: only the caller's own.
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let hooks: Vec<Value> = st
        .webhooks
        .values()
        .filter(|w| w.owner == call.caller.sub())
        .map(|w| webhook_json(w, &wire::rfc3339_nano(w.created_at)))
        .collect();
    respond::json(200, &json!({ "webhooks": hooks }))
}

fn own_hook(shared: &Shared, call: &Call) -> Result<String, Response<Body>> {
    let st = shared.lock();
    let id = call.param("id");
    match st.webhooks.get(id) {
        None => Err(respond::error(404, "webhook subscription not found")),
        Some(w) if w.owner != call.caller.sub() && !call.caller.is_admin() => Err(respond::error(
            403,
            "you do not own this webhook subscription",
        )),
        Some(w) => Ok(w.id.clone()),
    }
}

/// `DELETE /webhooks/{id}`.
pub(crate) fn delete(shared: &Shared, call: &Call) -> Response<Body> {
    match own_hook(shared, call) {
        Err(r) => r,
        Ok(id) => {
            shared.lock().webhooks.remove(&id);
            respond::empty(204)
        }
    }
}

/// `GET /webhooks/{id}/deliveries` (the FakeRouter never delivers: always `[]`).
pub(crate) fn deliveries(shared: &Shared, call: &Call) -> Response<Body> {
    match own_hook(shared, call) {
        Err(r) => r,
        Ok(_) => respond::json(200, &json!({ "deliveries": [] })),
    }
}

#[cfg(test)]
mod tests {
    use super::{Resolver, check_url, disallowed};
    use std::net::IpAddr;

    #[test]
    fn disallowed_ranges_are_loopback_link_local_rfc1918_and_ula() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(disallowed(ip.parse::<IpAddr>().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "fe00::1",
        ] {
            assert!(!disallowed(ip.parse::<IpAddr>().unwrap()), "{ip}");
        }
    }

    fn offline() -> Resolver {
        Resolver {
            system: false,
            table: Default::default(),
        }
    }

    #[tokio::test]
    async fn url_rules_without_resolution() {
        assert!(
            check_url("https://hooks.example.com/x", &offline())
                .await
                .is_ok()
        );
        assert_eq!(
            check_url("http://hooks.example.com/x", &offline()).await,
            Err("url must use https://".to_string())
        );
        assert_eq!(
            check_url("https://localhost/x", &offline()).await,
            Err(
                "host \"localhost\" resolves to a disallowed address range (127.0.0.1)".to_string()
            )
        );
        assert_eq!(
            check_url("https://[::1]/x", &offline()).await,
            Err("host \"::1\" resolves to a disallowed address range (::1)".to_string())
        );
        assert!(check_url("https://8.8.8.8/x", &offline()).await.is_ok());
        assert!(
            check_url("not a url", &offline())
                .await
                .unwrap_err()
                .starts_with("parse \"not a url\": ")
        );
    }
}
