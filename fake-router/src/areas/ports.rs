//! Port forwarding: list, forward (upsert), remove (the `ports` tag in openapi.yaml). No phase check.

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

fn internal_url(sandbox: &str, ns: &str, port: i64) -> String {
    format!("http://pf-{sandbox}-{port}.{ns}.svc.cluster.local:{port}")
}

/// `GET /sandboxes/{id}/ports`: `protocol` is always `"http"` here.
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let sb = st.sb(&key);
    let ports: Vec<Value> = sb
        .ports
        .keys()
        .map(|p| {
            json!({"port": p, "protocol": "http", "internalUrl": internal_url(&sb.name, &sb.namespace, *p)})
        })
        .collect();
    respond::json(200, &json!({ "ports": ports }))
}

#[derive(Deserialize)]
struct ForwardRequest {
    #[serde(default)]
    port: i32,
    #[serde(default)]
    protocol: String,
}

/// `POST /sandboxes/{id}/ports` (201 on a re-create too).
pub(crate) fn forward(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let req: ForwardRequest = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if req.port <= 0 {
        return respond::error(400, "port must be > 0");
    }
    if req.port > 65535 {
        return respond::error(
            500,
            format!(
                "failed to create port forward: port must be 1-65535 (got {})",
                req.port
            ),
        );
    }
    let protocol = if req.protocol.is_empty() {
        "http".to_string()
    } else {
        req.protocol
    };
    let port = i64::from(req.port);
    let sb = st.sb_mut(&key);
    sb.ports.insert(port, protocol.clone());
    respond::json(
        201,
        &json!({"port": port, "protocol": protocol, "internalUrl": internal_url(&sb.name, &sb.namespace, port)}),
    )
}

/// `DELETE /sandboxes/{id}/ports/{port}` (idempotent 204).
pub(crate) fn remove(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let raw = call.param("port");
    match raw.parse::<i32>() {
        Ok(p) if p > 0 => {
            st.sb_mut(&key).ports.remove(&i64::from(p));
            respond::empty(204)
        }
        _ => respond::error(400, format!("invalid port: {raw}")),
    }
}
