//! Authentication modes, the caller's identity, the scoped-key gate and the admin gate
//! (router-api.md §1.5–§1.7).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::{HeaderMap, Response};

use super::routes;
use super::state::State;
use super::wire;

/// Who a request is, as the Router's auth middleware stamps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeIdentity {
    /// Subject (user id). Sandboxes, keys, webhooks and preferences are owned by it.
    pub sub: String,
    /// E-mail address (also matched by user shares).
    pub email: String,
    /// Display name (for an API key: the key's name).
    pub name: String,
    /// Groups (`None` is sent as `null`, as for API-key callers).
    pub groups: Option<Vec<String>>,
    /// Whether admin-only routes are allowed.
    pub is_admin: bool,
}

impl FakeIdentity {
    /// A non-admin user with no groups.
    pub fn user(sub: impl Into<String>, email: impl Into<String>) -> Self {
        let sub = sub.into();
        FakeIdentity {
            name: sub.clone(),
            sub,
            email: email.into(),
            groups: Some(Vec::new()),
            is_admin: false,
        }
    }

    /// An admin user (member of `agenttier-admins`).
    pub fn admin(sub: impl Into<String>, email: impl Into<String>) -> Self {
        FakeIdentity {
            groups: Some(vec!["agenttier-admins".to_string()]),
            is_admin: true,
            ..FakeIdentity::user(sub, email)
        }
    }

    /// Replace the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replace the groups.
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// The fixed dev-auth identity: `dev-user`, `dev@agenttier.local`, admin.
    pub fn dev_user() -> Self {
        FakeIdentity {
            sub: "dev-user".to_string(),
            email: "dev@agenttier.local".to_string(),
            name: "Dev User".to_string(),
            groups: Some(vec!["agenttier-admins".to_string()]),
            is_admin: true,
        }
    }

    /// The owner of keys registered with `FakeRouterBuilder::api_key`.
    pub(crate) fn key_owner() -> Self {
        FakeIdentity::user("test-user", "test-user@agenttier.local").with_name("Test User")
    }
}

/// A test-supplied Bearer token check: `Some(identity)` accepts the token.
pub type BearerCheck = Arc<dyn Fn(&str) -> Option<FakeIdentity> + Send + Sync>;

/// How the FakeRouter authenticates `/api/v1` requests.
#[derive(Clone, Default)]
pub enum FakeAuth {
    /// `--dev-auth`: every request is the admin dev user; credentials are ignored and
    /// scoped-key rules are not enforced.
    #[default]
    DevAuth,
    /// Only API keys (`X-API-Key`) are accepted: keys minted through `POST /user/api-keys` and
    /// keys registered with `FakeRouterBuilder::api_key`. API-key callers are never admin.
    /// `Authorization: Bearer` fails as on a Router without OIDC.
    ApiKeys,
    /// API keys as in [`FakeAuth::ApiKeys`], plus `Authorization: Bearer <token>` checked by
    /// this function (it stands in for OIDC).
    Bearer(BearerCheck),
}

impl fmt::Debug for FakeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FakeAuth::DevAuth => f.write_str("DevAuth"),
            FakeAuth::ApiKeys => f.write_str("ApiKeys"),
            FakeAuth::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// The binding of a sandbox-scoped key.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub sandbox: String,
    pub groups: Vec<String>,
}

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub id: FakeIdentity,
    pub scope: Option<Scope>,
}

impl Caller {
    pub(crate) fn sub(&self) -> &str {
        &self.id.sub
    }
    pub(crate) fn is_admin(&self) -> bool {
        self.id.is_admin
    }
}

/// A stored API key (the plain key is never kept, only its SHA-256).
#[derive(Clone, Debug)]
pub(crate) struct ApiKey {
    pub id: String,
    pub hash: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub sandbox_id: String,
    pub action_groups: Option<Vec<String>>,
    pub created_at: SystemTime,
    pub expires_at: Option<SystemTime>,
}

impl ApiKey {
    /// `APIKeyMetadata` in the Router's field order.
    pub(crate) fn metadata(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("userId".into(), self.user_id.clone().into());
        m.insert("name".into(), self.name.clone().into());
        if !self.sandbox_id.is_empty() {
            m.insert("sandboxId".into(), self.sandbox_id.clone().into());
        }
        if let Some(g) = self.action_groups.as_ref().filter(|g| !g.is_empty()) {
            m.insert("actionGroups".into(), g.clone().into());
        }
        m.insert(
            "createdAt".into(),
            wire::rfc3339_nano(self.created_at).into(),
        );
        if let Some(e) = self.expires_at {
            m.insert("expiresAt".into(), wire::rfc3339_nano(e).into());
        }
        serde_json::Value::Object(m)
    }

    /// Build a key record for `key` owned by `owner`.
    pub(crate) fn new(key: &str, owner: &FakeIdentity, name: &str) -> ApiKey {
        let hash = wire::sha256_hex(key.as_bytes());
        ApiKey {
            id: format!("agenttier-apikey-{}", &hash[..40]),
            hash,
            user_id: owner.sub.clone(),
            email: owner.email.clone(),
            name: name.to_string(),
            sandbox_id: String::new(),
            action_groups: None,
            created_at: SystemTime::now(),
            expires_at: None,
        }
    }
}

fn unauthorized(body: &str) -> Response<Body> {
    wire::http_error(401, body)
}

/// Run the auth middleware. `Err` is the 401 to send.
pub(crate) fn authenticate(
    mode: &FakeAuth,
    headers: &HeaderMap,
    state: &State,
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
        if k.expires_at.is_some_and(|e| e <= SystemTime::now()) {
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
    op: &str,
    params: &[(&'static str, String)],
) -> Option<Response<Body>> {
    let scope = caller.scope.as_ref()?;
    let Some(group) = routes::scope_group(op) else {
        return Some(wire::error(403, "scoped key not permitted for this route"));
    };
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if id != scope.sandbox {
        return Some(wire::error(403, "scoped key is not bound to this sandbox"));
    }
    if !scope.groups.iter().any(|g| g == group) {
        return Some(wire::error(
            403,
            format!("scoped key lacks the \"{group}\" action group"),
        ));
    }
    None
}

/// `requireAdmin`: the text/plain 403 for non-admins on admin routes.
pub(crate) fn admin_gate(caller: &Caller, op: &str) -> Option<Response<Body>> {
    (routes::admin_only(op) && !caller.is_admin())
        .then(|| wire::http_error(403, r#"{"error":"admin_required"}"#))
}
