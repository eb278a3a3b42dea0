//! Admin views: audit events, usage analytics, cost estimates, every sandbox, sharing:
//! `client.admin()`.
//!
//! Every route here needs an admin, which means an OIDC token: API keys are never admin. A
//! refusal is [`crate::Error::Authorization`] (the Router answers a `text/plain` 403).

use serde_json::{Map, Value};

use crate::types::{AuditEvent, CostEstimates, SandboxSummary, TemplateCost, UsageAnalytics};
use crate::{Client, Result, wire};

/// Admin views: `client.admin()`.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let admin = client.admin();
/// let usage = admin.usage().await?;
/// println!("{:?} sandboxes", usage.total_sandboxes);
/// for sb in admin.sandboxes().await? {
///     println!("{}/{} {} keys", sb.namespace, sb.name, sb.scoped_api_keys.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Admin {
    client: Client,
}

impl Client {
    /// Admin views: audit events, usage, costs, every sandbox, sharing.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let costs = client.admin().costs().await?;
    /// println!("{:?} per month", costs.total_estimated_monthly);
    /// # Ok(()) }
    /// ```
    pub fn admin(&self) -> Admin {
        Admin {
            client: self.clone(),
        }
    }
}

impl CostEstimates {
    /// The per-template costs, empty when the Router sent `null` (nothing is running) or left the
    /// field out (`{}` after a failed list).
    ///
    /// ```
    /// let costs: agenttier::types::CostEstimates = serde_json::from_str(r#"{"per_template":null}"#).unwrap();
    /// assert!(costs.per_template().is_empty());
    /// ```
    pub fn per_template(&self) -> &[TemplateCost] {
        self.per_template.as_deref().unwrap_or_default()
    }
}

impl Admin {
    /// Recent sandbox events: the Kubernetes Events of Sandboxes (about one hour of retention),
    /// unfiltered, in reverse API order. The Router answers `null` both when there are none and
    /// when its list call failed; both read as an empty list. Naming quirks kept from the wire:
    /// `event_type` is the Event's reason, `details.reason` is its message, `user_email` is
    /// always empty.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// for e in client.admin().audit_events().await? {
    ///     println!("{} {} {}: {}", e.timestamp, e.sandbox_id, e.event_type, e.details.reason);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listAuditEvents")]
    pub async fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        let c = &self.client;
        Ok(c.json::<crate::types::AuditEventList>(
            c.call(&crate::operations::op::LIST_AUDIT_EVENTS, &[])?,
        )
        .await?
        .events
        .unwrap_or_default())
    }

    /// Usage analytics (snake_case on the wire). Every field is optional because the Router
    /// answers `200 {}` when its list call fails. `status_breakdown` counts `creating` (lower
    /// case) for sandboxes with no phase yet.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let u = client.admin().usage().await?;
    /// for (phase, n) in &u.status_breakdown {
    ///     println!("{phase}: {n}");
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getUsageAnalytics")]
    pub async fn usage(&self) -> Result<UsageAnalytics> {
        let c = &self.client;
        c.json::<crate::types::UsageAnalytics>(
            c.call(&crate::operations::op::GET_USAGE_ANALYTICS, &[])?,
        )
        .await
    }

    /// Cost estimates from the Router's hard-coded rates (snake_case on the wire; `{}` when its
    /// list call fails). Read the per-template costs with [`CostEstimates::per_template`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let costs = client.admin().costs().await?;
    /// for t in costs.per_template() {
    ///     println!("{}: {} x ${}/h", t.template, t.count, t.hourly_cost);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getCostEstimates")]
    pub async fn costs(&self) -> Result<CostEstimates> {
        let c = &self.client;
        c.json::<crate::types::CostEstimates>(
            c.call(&crate::operations::op::GET_COST_ESTIMATES, &[])?,
        )
        .await
    }

    /// Every sandbox of every user and namespace, each with the sandbox-scoped API keys bound to
    /// it in `scoped_api_keys` (joined by sandbox name only).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let all = client.admin().sandboxes().await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "adminListSandboxes")]
    pub async fn sandboxes(&self) -> Result<Vec<SandboxSummary>> {
        self.list_sandboxes(None).await
    }

    /// [`Admin::sandboxes`] in one namespace.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let team = client.admin().sandboxes_in("team-a").await?;
    /// # Ok(()) }
    /// ```
    pub async fn sandboxes_in(&self, namespace: &str) -> Result<Vec<SandboxSummary>> {
        wire::non_empty("namespace", namespace)?;
        self.list_sandboxes(Some(namespace)).await
    }

    async fn list_sandboxes(&self, namespace: Option<&str>) -> Result<Vec<SandboxSummary>> {
        let c = &self.client;
        Ok(c.json::<crate::types::SandboxList>(
            c.call(&crate::operations::op::ADMIN_LIST_SANDBOXES, &[])?
                .query_opt("namespace", namespace),
        )
        .await?
        .sandboxes
        .unwrap_or_default())
    }

    /// The Router's sharing overview. It is a placeholder that always answers `{}`; it is
    /// returned as a raw JSON object so a future Router's fields are not lost.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let overview = client.admin().sharing().await?;
    /// assert!(overview.is_empty());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "adminGetSharing")]
    pub async fn sharing(&self) -> Result<Map<String, Value>> {
        let c = &self.client;
        Ok(c.json::<crate::types::AdminSharing>(
            c.call(&crate::operations::op::ADMIN_GET_SHARING, &[])?,
        )
        .await?
        .0)
    }
}
