//! Who is calling: identities, the authentication modes, API-key records and the caller of
//! one request (`x-access` and `x-scoped-key-action-group` in openapi.yaml).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::wire;

/// The eight action groups a sandbox-scoped key may carry, in the order a key minted without
/// `scopes` lists them (the Router's default set).
pub(crate) const ACTION_GROUPS: &[&str] = &[
    "run-command",
    "files:read",
    "files:write",
    "ports",
    "agent:invoke",
    "agent:configure",
    "resume",
    "stop",
];

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
    /// Only API keys (`X-API-Key`) are accepted: keys minted through `POST /user/api-keys`
    /// and keys registered with
    /// [`FakeRouterBuilder::api_key`](crate::FakeRouterBuilder::api_key). API-key callers
    /// are never admin. `Authorization: Bearer` fails as on a Router without OIDC.
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
    /// The caller of a route that checks no credentials (`x-access: none`).
    pub(crate) fn anonymous() -> Caller {
        Caller {
            id: FakeIdentity {
                sub: String::new(),
                email: String::new(),
                name: String::new(),
                groups: None,
                is_admin: false,
            },
            scope: None,
        }
    }

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

    /// Build a key record for `key` owned by `owner`, minted at `created_at`.
    pub(crate) fn new(
        key: &str,
        owner: &FakeIdentity,
        name: &str,
        created_at: SystemTime,
    ) -> ApiKey {
        let hash = wire::sha256_hex(key.as_bytes());
        ApiKey {
            id: format!("agenttier-apikey-{}", &hash[..40]),
            hash,
            user_id: owner.sub.clone(),
            email: owner.email.clone(),
            name: name.to_string(),
            sandbox_id: String::new(),
            action_groups: None,
            created_at,
            expires_at: None,
        }
    }
}
