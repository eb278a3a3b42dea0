//! The caller: `/user/me`, preferences, API keys (the `user` tag in openapi.yaml).

use http::Response;
use serde_json::{Value, json};

use crate::core::identity::{ACTION_GROUPS, ApiKey};
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /user/me`.
pub(crate) fn me(_shared: &Shared, call: &Call) -> Response<Body> {
    let id = &call.caller.id;
    respond::json(
        200,
        &json!({
            "sub": id.sub,
            "email": id.email,
            "name": id.name,
            "groups": id.groups,
            "isAdmin": id.is_admin,
        }),
    )
}

/// `GET /user/preferences` (`{}` when nothing is saved).
pub(crate) fn get_preferences(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let prefs = st
        .preferences
        .get(call.caller.sub())
        .cloned()
        .unwrap_or_else(|| json!({}));
    respond::json(200, &prefs)
}

/// `PUT /user/preferences` (replace; an object or `null`).
pub(crate) fn set_preferences(shared: &Shared, call: &Call) -> Response<Body> {
    let v: Value = match wire::decode(&call.body) {
        Ok(v) => v,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    let kind = match &v {
        Value::Object(_) | Value::Null => None,
        Value::Array(_) => Some("array"),
        Value::String(_) => Some("string"),
        Value::Number(_) => Some("number"),
        Value::Bool(_) => Some("bool"),
    };
    if let Some(kind) = kind {
        return respond::error(
            400,
            format!(
                "invalid request body: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ),
        );
    }
    shared
        .lock()
        .preferences
        .insert(call.caller.sub().to_string(), v.clone());
    respond::json(200, &v)
}

/// `GET /user/api-keys`: only the caller's own keys.
pub(crate) fn list_keys(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let mut keys: Vec<&ApiKey> = st
        .api_keys
        .values()
        .filter(|k| k.user_id == call.caller.sub())
        .collect();
    keys.sort_by_key(|k| k.created_at);
    let keys: Vec<Value> = keys.into_iter().map(ApiKey::metadata).collect();
    respond::json(200, &json!({ "keys": keys }))
}

const MINT_FIELDS: &[&str] = &["name", "expiresIn", "sandboxId", "scopes"];

/// `POST /user/api-keys`: the only route that rejects unknown JSON fields.
pub(crate) fn create_key(shared: &Shared, call: &Call) -> Response<Body> {
    let bad = |e: String| respond::error(400, format!("invalid request body: {e}"));
    let body: Value = if let Some(body) = call.sized_body() {
        match wire::decode(body) {
            Ok(v) => v,
            Err(e) => return bad(e),
        }
    } else {
        json!({})
    };
    let obj = match body {
        Value::Object(m) => m,
        Value::Null => Default::default(),
        _ => {
            return bad(
                "json: cannot unmarshal into Go value of type router.createAPIKeyRequest"
                    .to_string(),
            );
        }
    };
    if let Some(unknown) = obj.keys().find(|k| !MINT_FIELDS.contains(&k.as_str())) {
        return bad(format!("json: unknown field \"{unknown}\""));
    }
    let text = |k: &str| -> Result<String, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!(
                "json: cannot unmarshal into Go struct field createAPIKeyRequest.{k} of type string"
            )),
        }
    };
    let (name, expires_in, sandbox_id) = match (text("name"), text("expiresIn"), text("sandboxId"))
    {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad(e),
    };
    let scopes: Option<Vec<String>> = match obj.get("scopes") {
        None | Some(Value::Null) => None,
        Some(v) => match serde_json::from_value(v.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                return bad(
                    "json: cannot unmarshal into Go struct field createAPIKeyRequest.scopes of type []string"
                        .to_string(),
                );
            }
        },
    };
    let expires_in = if expires_in.is_empty() {
        None
    } else {
        match wire::positive_duration(&expires_in) {
            Ok(d) => Some(d),
            Err(_) => {
                return respond::error(
                    400,
                    "expiresIn must be a positive Go duration (e.g. \"720h\")",
                );
            }
        }
    };
    let scopes = scopes.filter(|s| !s.is_empty());
    if scopes.is_some() && sandbox_id.is_empty() {
        return respond::error(
            400,
            "scopes requires sandboxId — user-level keys do not carry action-group scopes",
        );
    }
    for s in scopes.iter().flatten() {
        if s == "delete" {
            return respond::error(
                400,
                "\"delete\" is not a valid action group — a sandbox-scoped key can never delete the sandbox it is bound to",
            );
        }
        if !ACTION_GROUPS.contains(&s.as_str()) {
            return respond::error(400, format!("unknown action group: {s}"));
        }
    }
    let mut st = shared.lock();
    if !sandbox_id.is_empty()
        && let Err(e) = st.owned(&call.caller, &sandbox_id)
    {
        return respond::error(404, e);
    }
    let key = format!("atk_{}", wire::random_token());
    let now = st.wall_now();
    let mut record = ApiKey::new(&key, &call.caller.id, &name, now);
    record.expires_at = expires_in.map(|d| now + d);
    if !sandbox_id.is_empty() {
        record.sandbox_id = sandbox_id.clone();
        record.action_groups =
            Some(scopes.unwrap_or_else(|| ACTION_GROUPS.iter().map(|s| s.to_string()).collect()));
    }
    let body = json!({
        "id": record.id,
        "key": key,
        "name": record.name,
        "sandboxId": record.sandbox_id,
        "actionGroups": record.action_groups,
        "createdAt": wire::rfc3339_nano(record.created_at),
        "expiresAt": record.expires_at.map(wire::rfc3339_nano),
        "warning": "Store this key now — it cannot be retrieved again.",
    });
    st.api_keys.insert(record.hash.clone(), record);
    respond::json(201, &body)
}

/// `DELETE /user/api-keys/{keyId}` (200 with a body).
pub(crate) fn revoke_key(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let id = call.param("keyId");
    let Some((hash, owner)) = st
        .api_keys
        .iter()
        .find(|(_, k)| k.id == id)
        .map(|(h, k)| (h.clone(), k.user_id.clone()))
    else {
        return respond::error(404, "api key not found");
    };
    if owner != call.caller.sub() && !call.caller.is_admin() {
        return respond::error(403, "you do not own this API key");
    }
    st.api_keys.remove(&hash);
    respond::json(200, &json!({"status": "revoked", "id": id}))
}
