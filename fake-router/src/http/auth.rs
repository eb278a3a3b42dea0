//! The auth middleware and the two gates after it: `requireSandboxScope` and `requireAdmin`
//! (`x-access` and `x-scoped-key-action-group` in openapi.yaml).

use std::time::SystemTime;

use http::{HeaderMap, Response};

use super::respond::{self, Body};
use crate::core::identity::{Caller, FakeAuth, FakeIdentity, Scope};
use crate::core::ops::{Access, Op};
use crate::core::state::State;
use crate::core::wire;

fn unauthorized(body: &str) -> Response<Body> {
    respond::http_error(401, body)
}

/// Run the auth middleware. `Err` is the 401 to send.
pub(crate) fn authenticate(
    mode: &FakeAuth,
    headers: &HeaderMap,
    state: &State,
    now: SystemTime,
) -> Result<Caller, Response<Body>> {
    if matches!(mode, FakeAuth::DevAuth) {
        return Ok(Caller {
            id: FakeIdentity::dev_user(),
            scope: None,
        });
    }
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !api_key.is_empty() {
        let hash = wire::sha256_hex(api_key.as_bytes());
        let Some(k) = state.api_keys.get(&hash) else {
            return Err(unauthorized(r#"{"error":"invalid_api_key"}"#));
        };
        if k.expires_at.is_some_and(|e| e <= now) {
            return Err(unauthorized(r#"{"error":"invalid_api_key"}"#));
        }
        let scope = (!k.sandbox_id.is_empty()).then(|| Scope {
            sandbox: k.sandbox_id.clone(),
            groups: k.action_groups.clone().unwrap_or_default(),
        });
        return Ok(Caller {
            id: FakeIdentity {
                sub: k.user_id.clone(),
                email: k.email.clone(),
                name: k.name.clone(),
                groups: None,
                is_admin: false,
            },
            scope,
        });
    }
    let Some(authz) = headers.get(http::header::AUTHORIZATION) else {
        return Err(unauthorized(r#"{"error":"missing_authorization"}"#));
    };
    let authz = String::from_utf8_lossy(authz.as_bytes());
    let Some(token) = authz.strip_prefix("Bearer ") else {
        return Err(unauthorized(r#"{"error":"invalid_authorization_format"}"#));
    };
    match mode {
        FakeAuth::Bearer(check) => match check(token) {
            Some(id) => Ok(Caller { id, scope: None }),
            // http.Error pastes the message in without JSON escaping, as the Router does.
            None => Err(unauthorized(
                r#"{"error":"invalid_token","message":"token rejected by the FakeRouter's Bearer check"}"#,
            )),
        },
        _ => Err(unauthorized(
            r#"{"error":"invalid_token","message":"OIDC authentication is not configured on this server"}"#,
        )),
    }
}

/// `requireSandboxScope`: the 403 for a scoped key outside its allowance, if any.
pub(crate) fn scope_gate(
    caller: &Caller,
    op: Op,
    params: &[(&'static str, String)],
) -> Option<Response<Body>> {
    let scope = caller.scope.as_ref()?;
    let Some(group) = op.scope_group() else {
        return Some(respond::error(
            403,
            "scoped key not permitted for this route",
        ));
    };
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if id != scope.sandbox {
        return Some(respond::error(
            403,
            "scoped key is not bound to this sandbox",
        ));
    }
    if !scope.groups.iter().any(|g| g == group) {
        return Some(respond::error(
            403,
            format!("scoped key lacks the \"{group}\" action group"),
        ));
    }
    None
}

/// `requireAdmin`: the text/plain 403 for non-admins on admin routes.
pub(crate) fn admin_gate(caller: &Caller, op: Op) -> Option<Response<Body>> {
    (op.access() == Access::Admin && !caller.is_admin())
        .then(|| respond::http_error(403, r#"{"error":"admin_required"}"#))
}

/// The terminal's own auth (`/ws/terminal/{id}` is outside `/api/v1`): dev-auth, then
/// `X-API-Key`, then `?token=` (only ever as an OIDC JWT), then `Authorization: Bearer`.
/// Scoped keys are not limited here. `Err` is the plain-text 401 to send.
pub(crate) fn authenticate_terminal(
    mode: &FakeAuth,
    headers: &HeaderMap,
    token: Option<&str>,
    state: &State,
    now: SystemTime,
) -> Result<Caller, Response<Body>> {
    if matches!(mode, FakeAuth::DevAuth) {
        return Ok(Caller {
            id: FakeIdentity::dev_user(),
            scope: None,
        });
    }
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !api_key.is_empty() {
        return match authenticate(&FakeAuth::ApiKeys, headers, state, now) {
            Ok(caller) => Ok(Caller {
                id: caller.id,
                scope: None,
            }),
            Err(_) => Err(unauthorized("invalid api key")),
        };
    }
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(jwt) = token.filter(|t| !t.is_empty()).or(bearer) else {
        return Err(unauthorized("missing authentication"));
    };
    match mode {
        FakeAuth::Bearer(check) => match check(jwt) {
            Some(id) => Ok(Caller { id, scope: None }),
            None => Err(unauthorized(
                "invalid token: token rejected by the FakeRouter's Bearer check",
            )),
        },
        _ => Err(unauthorized(
            "invalid token: OIDC authentication is not configured on this server",
        )),
    }
}
