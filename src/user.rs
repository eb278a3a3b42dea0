//! The caller: identity, preferences (`client.user()`) and API keys (`client.api_keys()`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::types::{ApiKeyCreated, ApiKeyMetadata, CreateApiKeyRequest, CurrentUser, Preferences};
use crate::{Client, Error, Result, wire};

/// The caller's identity and preferences: `client.user()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let me = client.user().me().await?;
/// println!("{} <{}> admin={}", me.name, me.email, me.is_admin);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct User {
    client: Client,
}

/// The caller's API keys: `client.api_keys()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::user::ApiKeyRequest;
/// let created = client
///     .api_keys()
///     .create(ApiKeyRequest::user("ci").expires_in(Duration::from_secs(30 * 86_400)))
///     .await?;
/// println!("store it now: {}", created.key.expose());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ApiKeys {
    client: Client,
}

impl Client {
    /// The caller's identity and preferences.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let prefs = client.user().preferences().await?;
    /// println!("{:?}", prefs.get("theme"));
    /// # Ok(()) }
    /// ```
    pub fn user(&self) -> User {
        User {
            client: self.clone(),
        }
    }

    /// The caller's API keys: list, mint (user-level or sandbox-scoped), revoke.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// for key in client.api_keys().list().await? {
    ///     println!("{} {} {:?}", key.id, key.name, key.expires_at);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys {
            client: self.clone(),
        }
    }
}

impl User {
    /// Who the Router thinks you are. With an API key, `groups` is `None`, `is_admin` is false
    /// and `name` is the key's name, not the person's.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let me = client.user().me().await?;
    /// println!("{} groups={:?}", me.sub, me.groups);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getCurrentUser")]
    pub async fn me(&self) -> Result<CurrentUser> {
        let c = &self.client;
        c.json::<crate::types::CurrentUser>(c.call(&crate::operations::op::GET_CURRENT_USER, &[])?)
            .await
    }

    /// Your saved preferences: a free-form JSON object, empty when nothing is saved. (The Router
    /// answers `null` if `null` was once stored; that reads as empty too.)
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let prefs = client.user().preferences().await?;
    /// let theme = prefs.get("theme").and_then(|v| v.as_str()).unwrap_or("light");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getPreferences")]
    pub async fn preferences(&self) -> Result<Map<String, Value>> {
        let c = &self.client;
        Ok(c.json::<crate::types::Preferences>(
            c.call(&crate::operations::op::GET_PREFERENCES, &[])?,
        )
        .await?
        .0
        .unwrap_or_default())
    }

    /// **Replaces** your preferences with `prefs` (no merge: keys left out are removed) and
    /// returns what the Router stored. Only a JSON object can be stored, which the type enforces.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use serde_json::json;
    /// let user = client.user();
    /// let mut prefs = user.preferences().await?;
    /// prefs.insert("theme".into(), json!("dark"));
    /// user.set_preferences(&prefs).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setPreferences")]
    pub async fn set_preferences(&self, prefs: &Map<String, Value>) -> Result<Map<String, Value>> {
        let body = Preferences(Some(prefs.clone()));
        let c = &self.client;
        Ok(c.json::<crate::types::Preferences>(
            c.call(&crate::operations::op::SET_PREFERENCES, &[])?
                .json(&body)?,
        )
        .await?
        .0
        .unwrap_or_default())
    }
}

/// What a sandbox-scoped API key may do on its sandbox (the Router's fixed vocabulary).
///
/// There is deliberately no `delete`: the Router never lets a scoped key delete the sandbox it
/// is bound to, so it cannot be asked for.
///
/// ```
/// use agenttier::user::ActionGroup;
/// assert_eq!("files:write".parse::<ActionGroup>().unwrap(), ActionGroup::FilesWrite);
/// assert!("delete".parse::<ActionGroup>().is_err()); // never grantable
/// assert_eq!(ActionGroup::AgentInvoke.to_string(), "agent:invoke");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ActionGroup {
    /// `run-command`: exec.
    RunCommand,
    /// `files:read`: list, download and archive files.
    FilesRead,
    /// `files:write`: upload files.
    FilesWrite,
    /// `ports`: forward and remove ports.
    Ports,
    /// `agent:invoke`: invoke the agent and cancel invokes.
    AgentInvoke,
    /// `agent:configure`: configure the agent.
    AgentConfigure,
    /// `resume`: resume the sandbox.
    Resume,
    /// `stop`: stop the sandbox.
    Stop,
}

impl ActionGroup {
    /// Every group (what the Router grants a scoped key minted without scopes).
    ///
    /// ```
    /// use agenttier::user::{ActionGroup, ApiKeyRequest};
    /// assert_eq!(ActionGroup::ALL.len(), 8);
    /// let everything = ApiKeyRequest::sandbox_scoped("runner", "demo", &ActionGroup::ALL);
    /// ```
    pub const ALL: [ActionGroup; 8] = [
        ActionGroup::RunCommand,
        ActionGroup::FilesRead,
        ActionGroup::FilesWrite,
        ActionGroup::Ports,
        ActionGroup::AgentInvoke,
        ActionGroup::AgentConfigure,
        ActionGroup::Resume,
        ActionGroup::Stop,
    ];

    /// The wire name.
    ///
    /// ```
    /// use agenttier::user::ActionGroup;
    /// assert_eq!(ActionGroup::FilesRead.as_str(), "files:read");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ActionGroup::RunCommand => "run-command",
            ActionGroup::FilesRead => "files:read",
            ActionGroup::FilesWrite => "files:write",
            ActionGroup::Ports => "ports",
            ActionGroup::AgentInvoke => "agent:invoke",
            ActionGroup::AgentConfigure => "agent:configure",
            ActionGroup::Resume => "resume",
            ActionGroup::Stop => "stop",
        }
    }

    /// Reads a wire name; `None` for a name this SDK does not know.
    ///
    /// ```
    /// use agenttier::user::ActionGroup;
    /// assert_eq!(ActionGroup::from_wire("stop"), Some(ActionGroup::Stop));
    /// assert_eq!(ActionGroup::from_wire("delete"), None);
    /// ```
    pub fn from_wire(s: &str) -> Option<ActionGroup> {
        ActionGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for ActionGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionGroup {
    type Err = Error;
    /// Parses a wire name; unknown names (including `delete`) are [`Error::InvalidInput`].
    fn from_str(s: &str) -> Result<Self> {
        ActionGroup::from_wire(s)
            .ok_or_else(|| Error::invalid("action group", format!("unknown action group {s:?}")))
    }
}

/// An action group read back from the Router, which may name one this SDK does not know.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::user::ActionGroupOrUnknown;
/// for key in client.api_keys().list().await? {
///     for group in key.action_groups() {
///         match group {
///             ActionGroupOrUnknown::Known(g) => println!("{}: {g}", key.name),
///             ActionGroupOrUnknown::Unknown(name) => println!("{}: {name} (new)", key.name),
///         }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActionGroupOrUnknown {
    /// A known group.
    Known(ActionGroup),
    /// A name this SDK does not know.
    Unknown(String),
}

impl ActionGroupOrUnknown {
    fn from_wire(s: &str) -> Self {
        ActionGroup::from_wire(s)
            .map(ActionGroupOrUnknown::Known)
            .unwrap_or_else(|| ActionGroupOrUnknown::Unknown(s.to_owned()))
    }

    /// The wire value.
    ///
    /// ```
    /// use agenttier::user::{ActionGroup, ActionGroupOrUnknown};
    /// assert_eq!(ActionGroupOrUnknown::Known(ActionGroup::Stop).as_str(), "stop");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            ActionGroupOrUnknown::Known(g) => g.as_str(),
            ActionGroupOrUnknown::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ActionGroupOrUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionGroupOrUnknown {
    type Err = Error;

    /// Reads any action group name; never fails (unknown names are kept).
    fn from_str(s: &str) -> Result<Self> {
        Ok(ActionGroupOrUnknown::from_wire(s))
    }
}

fn read_groups(groups: Option<&Vec<String>>) -> Vec<ActionGroupOrUnknown> {
    groups
        .map(|g| {
            g.iter()
                .map(|s| ActionGroupOrUnknown::from_wire(s))
                .collect()
        })
        .unwrap_or_default()
}

impl ApiKeyMetadata {
    /// The key's action groups as enums; empty for a user-level key.
    ///
    /// ```
    /// use agenttier::user::{ActionGroup, ActionGroupOrUnknown};
    /// let key: agenttier::types::ApiKeyMetadata = serde_json::from_value(serde_json::json!({
    ///     "id": "agenttier-apikey-1", "userId": "alice", "name": "ci", "createdAt": "",
    ///     "sandboxId": "demo", "actionGroups": ["stop", "teleport"],
    /// })).unwrap();
    /// assert_eq!(key.action_groups(), vec![
    ///     ActionGroupOrUnknown::Known(ActionGroup::Stop),
    ///     ActionGroupOrUnknown::Unknown("teleport".into()),
    /// ]);
    /// ```
    pub fn action_groups(&self) -> Vec<ActionGroupOrUnknown> {
        read_groups(self.action_groups.as_ref())
    }
}

impl ApiKeyCreated {
    /// The new key's action groups as enums; empty for a user-level key (`null` on the wire).
    ///
    /// ```
    /// use agenttier::user::{ActionGroup, ActionGroupOrUnknown};
    /// let created: agenttier::types::ApiKeyCreated = serde_json::from_value(serde_json::json!({
    ///     "id": "agenttier-apikey-1", "name": "runner", "key": "atk_live_123",
    ///     "createdAt": "2025-01-01T00:00:00Z", "expiresAt": null, "sandboxId": "demo",
    ///     "actionGroups": ["run-command"], "warning": "store this key now",
    /// })).unwrap();
    /// assert_eq!(
    ///     created.action_groups(),
    ///     vec![ActionGroupOrUnknown::Known(ActionGroup::RunCommand)]
    /// );
    /// ```
    pub fn action_groups(&self) -> Vec<ActionGroupOrUnknown> {
        read_groups(self.action_groups.as_ref())
    }
}

/// What to mint: a user-level key ([`ApiKeyRequest::user`]) or a key bound to one sandbox
/// ([`ApiKeyRequest::sandbox_scoped`]), optionally expiring.
///
/// ```
/// use std::time::Duration;
/// use agenttier::user::{ActionGroup, ApiKeyRequest};
/// let req = ApiKeyRequest::sandbox_scoped("ci-runner", "demo", &[ActionGroup::RunCommand, ActionGroup::FilesRead])
///     .expires_in(Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct ApiKeyRequest {
    name: String,
    expires_in: Option<Duration>,
    sandbox_id: Option<String>,
    scopes: Vec<ActionGroup>,
}

impl ApiKeyRequest {
    /// A user-level key: it acts as you on everything you can reach (never as an admin).
    ///
    /// ```
    /// let req = agenttier::user::ApiKeyRequest::user("laptop");
    /// ```
    pub fn user(name: impl Into<String>) -> Self {
        ApiKeyRequest {
            name: name.into(),
            expires_in: None,
            sandbox_id: None,
            scopes: Vec::new(),
        }
    }

    /// A key bound to `sandbox_id` that may only do `scopes` there. `scopes` must not be empty;
    /// pass [`ActionGroup::ALL`] for every group (the Router's default when none are named).
    /// You must own the sandbox (or be an admin), else the Router answers 404.
    ///
    /// ```
    /// use agenttier::user::{ActionGroup, ApiKeyRequest};
    /// let req = ApiKeyRequest::sandbox_scoped("invoker", "demo", &[ActionGroup::AgentInvoke]);
    /// ```
    pub fn sandbox_scoped(
        name: impl Into<String>,
        sandbox_id: impl Into<String>,
        scopes: &[ActionGroup],
    ) -> Self {
        let mut unique: Vec<ActionGroup> = Vec::with_capacity(scopes.len());
        for g in scopes {
            if !unique.contains(g) {
                unique.push(*g);
            }
        }
        ApiKeyRequest {
            name: name.into(),
            expires_in: None,
            sandbox_id: Some(sandbox_id.into()),
            scopes: unique,
        }
    }

    /// Makes the key expire after `d` (sent as a Go duration such as `720h`; must be positive).
    ///
    /// ```
    /// use std::time::Duration;
    /// let req = agenttier::user::ApiKeyRequest::user("ci").expires_in(Duration::from_secs(86_400));
    /// ```
    pub fn expires_in(mut self, d: Duration) -> Self {
        self.expires_in = Some(d);
        self
    }

    /// Checks the request and builds the wire body: only `name`, `expiresIn`, `sandboxId` and
    /// `scopes`, because the mint route refuses unknown fields.
    fn to_body(&self) -> Result<CreateApiKeyRequest> {
        wire::non_empty("name", &self.name)?;
        let expires_in = self
            .expires_in
            .map(|d| wire::go_duration("expires_in", d))
            .transpose()?;
        if let Some(id) = &self.sandbox_id {
            wire::id("sandbox_id", id)?;
            if self.scopes.is_empty() {
                return Err(Error::invalid(
                    "scopes",
                    "a sandbox-scoped key needs at least one action group (ActionGroup::ALL for every group)",
                ));
            }
        }
        Ok(CreateApiKeyRequest {
            name: Some(self.name.clone()),
            expires_in,
            sandbox_id: self.sandbox_id.clone(),
            scopes: self.scopes.iter().map(|g| g.as_str().to_owned()).collect(),
        })
    }
}

impl ApiKeys {
    /// Your keys (admins too see only their own), including the scoped keys the controller
    /// minted for your HTTP-exec sandboxes. Never the secret itself.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// for key in client.api_keys().list().await? {
    ///     println!("{} {:?} {:?}", key.name, key.sandbox_id, key.action_groups());
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listApiKeys")]
    pub async fn list(&self) -> Result<Vec<ApiKeyMetadata>> {
        let c = &self.client;
        Ok(
            c.json::<crate::types::ApiKeyList>(c.call(&crate::operations::op::LIST_API_KEYS, &[])?)
                .await?
                .keys,
        )
    }

    /// Mints a key. The secret (`key`, a [`crate::SecretString`] that never prints) is shown only
    /// in this response: store it now. The action groups go out as `scopes` (the Router's request
    /// field; it answers 400 to `actionGroups`) and come back as `actionGroups`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::user::{ActionGroup, ApiKeyRequest};
    /// let created = client
    ///     .api_keys()
    ///     .create(ApiKeyRequest::sandbox_scoped("runner", "demo", &[ActionGroup::RunCommand]))
    ///     .await?;
    /// let secret: String = created.key.expose().to_owned(); // hand it to the runner
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createApiKey")]
    pub async fn create(&self, request: ApiKeyRequest) -> Result<ApiKeyCreated> {
        let body = request.to_body()?;
        let c = &self.client;
        c.json::<crate::types::ApiKeyCreated>(
            c.call(&crate::operations::op::CREATE_API_KEY, &[])?
                .json(&body)?,
        )
        .await
    }

    /// Revokes a key by its `id` (`agenttier-apikey-...`, not the secret) and returns the
    /// Router's answer (`{"status":"revoked","id":...}`). Other Router replicas may accept the
    /// key for up to 5 more minutes (their validation cache).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let revoked = client
    ///     .api_keys()
    ///     .revoke("agenttier-apikey-27f2b25396137aa5befc72898724063aa7ac7d3d")
    ///     .await?;
    /// assert_eq!(revoked.status, "revoked");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "revokeApiKey")]
    pub async fn revoke(&self, id: &str) -> Result<crate::types::RevokeApiKeyResponse> {
        wire::id("api key id", id)?;
        let c = &self.client;
        c.json(c.call(&crate::operations::op::REVOKE_API_KEY, &[id])?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_group_vocabulary_round_trips_and_has_no_delete() {
        for g in ActionGroup::ALL {
            assert_eq!(ActionGroup::from_wire(g.as_str()), Some(g));
            assert_eq!(g.as_str().parse::<ActionGroup>().unwrap(), g);
        }
        assert!(ActionGroup::ALL.iter().all(|g| g.as_str() != "delete"));
        assert!("delete".parse::<ActionGroup>().is_err());
    }

    #[test]
    fn scoped_key_needs_scopes_and_dedups_them() {
        let empty = ApiKeyRequest::sandbox_scoped("k", "demo", &[]);
        assert!(matches!(empty.to_body(), Err(Error::InvalidInput { .. })));
        let dup =
            ApiKeyRequest::sandbox_scoped("k", "demo", &[ActionGroup::Stop, ActionGroup::Stop]);
        assert_eq!(dup.to_body().unwrap().scopes, vec!["stop".to_owned()]);
        assert!(ApiKeyRequest::user("").to_body().is_err());
        assert!(
            ApiKeyRequest::user("k")
                .expires_in(Duration::ZERO)
                .to_body()
                .is_err()
        );
    }
}
