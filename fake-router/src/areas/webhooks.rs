//! Webhook subscriptions: create, list, delete, deliveries (router-api.md §4.11). Nothing is
//! ever delivered, so deliveries are always `[]`.

use std::net::IpAddr;

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

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

fn disallowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // ULA
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| disallowed(IpAddr::V4(v4)))
        }
    }
}

/// The Router's URL check, without DNS: only `localhost` names and IP literals are judged.
fn check_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("parse \"{raw}\": {e}"))?;
    if url.scheme() != "https" {
        return Err("url must use https://".to_string());
    }
    let host = match url.host_str() {
        None | Some("") => return Err("url must have a host".to_string()),
        Some(h) => h,
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match literal.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                IpAddr::from([127, 0, 0, 1])
            } else {
                return Ok(());
            }
        }
    };
    if disallowed(ip) {
        return Err(format!(
            "host \"{host}\" resolves to a disallowed address range ({ip})"
        ));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CreateRequest {
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

/// `POST /webhooks`.
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: CreateRequest = match wire::decode(&call.body) {
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
    if let Err(e) = check_url(&req.url) {
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
    use super::check_url;

    #[test]
    fn url_rules() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://hooks.example.com/x").is_err());
        assert!(check_url("https://localhost/x").is_err());
        assert!(check_url("https://10.1.2.3/x").is_err());
        assert!(check_url("https://[::1]/x").is_err());
        assert!(check_url("https://8.8.8.8/x").is_ok());
    }
}
