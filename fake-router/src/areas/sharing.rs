//! Sharing and share links (the `sharing` tag in openapi.yaml). Every lookup failure is a 403 here.

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::sandbox::{Sandbox, ShareLink};
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

fn level_ok(level: &str) -> bool {
    matches!(level, "viewer" | "collaborator")
}

const LEVEL_RULE: &str = "level must be \"viewer\" or \"collaborator\"";

fn sharing_json(sb: &Sandbox) -> Value {
    let perms = |v: &[(String, String)]| -> Vec<Value> {
        v.iter()
            .map(|(identity, level)| json!({"identity": identity, "level": level}))
            .collect()
    };
    let links: Vec<Value> = sb
        .sharing
        .links
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "level": l.level,
                "expiresAt": l.expires_at.map(wire::rfc3339),
                "maxUses": l.max_uses,
                "usedCount": 0,
            })
        })
        .collect();
    json!({
        "users": perms(&sb.sharing.users),
        "groups": perms(&sb.sharing.groups),
        "shareLinks": links,
    })
}

/// `GET /sandboxes/{id}/share`.
pub(crate) fn get(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    match st.owned(&call.caller, call.param("id")) {
        Err(e) => respond::error(403, e),
        Ok(key) => respond::json(200, &sharing_json(st.sb(&key))),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShareRequest {
    identity: String,
    level: String,
    kind: String,
}

/// `POST /sandboxes/{id}/share` (upsert; validation before lookup).
pub(crate) fn share(shared: &Shared, call: &Call) -> Response<Body> {
    let req: ShareRequest = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if req.identity.is_empty() {
        return respond::error(400, "identity is required");
    }
    if !level_ok(&req.level) {
        return respond::error(400, LEVEL_RULE);
    }
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(403, e),
    };
    let sb = st.sb_mut(&key);
    sb.sharing.present = true;
    let list = if req.kind == "group" {
        &mut sb.sharing.groups
    } else {
        &mut sb.sharing.users
    };
    match list.iter_mut().find(|(who, _)| *who == req.identity) {
        Some(entry) => entry.1 = req.level.clone(),
        None => list.push((req.identity.clone(), req.level.clone())),
    }
    let body = sharing_json(sb);
    st.event_now(
        &key,
        "ShareGranted",
        &format!("Shared with {} ({})", req.identity, req.level),
    );
    respond::json(200, &body)
}

/// `DELETE /sandboxes/{id}/share/{userId}` (idempotent 200).
pub(crate) fn revoke(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(403, e),
    };
    let identity = call.param("userId").to_string();
    let sb = st.sb_mut(&key);
    sb.sharing.users.retain(|(who, _)| *who != identity);
    sb.sharing.groups.retain(|(who, _)| *who != identity);
    if sb.sharing.present {
        st.event_now(
            &key,
            "ShareRevoked",
            &format!("Revoked access for {identity}"),
        );
    }
    respond::json(200, &json!({"status": "revoked", "identity": identity}))
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LinkRequest {
    level: String,
    expires_in: String,
    max_uses: i64,
}

/// `POST /sandboxes/{id}/share-links` (optional body; validation before lookup).
pub(crate) fn create_link(shared: &Shared, call: &Call) -> Response<Body> {
    let req: LinkRequest = if let Some(body) = call.sized_body() {
        match wire::decode(body) {
            Ok(r) => r,
            Err(e) => return respond::error(400, format!("invalid request body: {e}")),
        }
    } else {
        LinkRequest::default()
    };
    let level = if req.level.is_empty() {
        "viewer".to_string()
    } else {
        req.level
    };
    if !level_ok(&level) {
        return respond::error(400, LEVEL_RULE);
    }
    let expires_in = if req.expires_in.is_empty() {
        None
    } else {
        match wire::positive_duration(&req.expires_in) {
            Ok(d) => Some(d),
            Err(_) => {
                return respond::error(
                    400,
                    "expiresIn must be a positive Go duration (e.g. \"24h\")",
                );
            }
        }
    };
    if req.max_uses < 0 {
        return respond::error(400, "maxUses must be >= 0 (0 = unlimited)");
    }
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(403, e),
    };
    let expires_at = expires_in.map(|d| st.wall_now() + d);
    let link = ShareLink {
        id: wire::random_hex(8),
        level: level.clone(),
        expires_at,
        max_uses: req.max_uses,
    };
    let body = json!({
        "id": link.id,
        "token": wire::random_token(),
        "level": level,
        "expiresAt": expires_at.map(wire::rfc3339),
        "maxUses": req.max_uses,
        "warning": "Store this token now — it is shown only once.",
    });
    let sb = st.sb_mut(&key);
    sb.sharing.present = true;
    sb.sharing.links.push(link);
    respond::json(201, &body)
}
