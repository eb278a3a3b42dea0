//! Governance policies (quotas, allowed templates, registries): `client.governance()`.
//!
//! Reading is open to every authenticated user; writing needs an admin. Every write **replaces**
//! the stored policy: a field left out (`None`, or an empty list) is cleared, not kept. Zero or
//! empty means "no limit" on the Router.

use crate::types::{NamespacePolicy, Policy, PolicyList};
use crate::{Client, Result, wire};

/// Governance policies: `client.governance()`.
///
/// The generated [`Policy`] has one `Option` per field and implements `Default`, so write only
/// what you set; `Some(0)` is sent as `0` (the Python and Go SDKs cannot send an explicit zero).
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::types::Policy;
/// let policy = Policy {
///     max_sandboxes_per_user: Some(5),
///     max_cpu: Some("4".into()),
///     allowed_templates: vec!["general-coding".into()],
///     ..Default::default()
/// };
/// client.governance().set("team-a", &policy).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Governance {
    client: Client,
}

impl Client {
    /// Governance policies: list, read, (admin) replace and delete, and the effective policy.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let effective = client.governance().effective_in("team-a").await?;
    /// println!("{}: {:?}", effective.namespace, effective.policy.max_sandboxes_per_user);
    /// # Ok(()) }
    /// ```
    pub fn governance(&self) -> Governance {
        Governance {
            client: self.clone(),
        }
    }
}

impl Governance {
    /// The cluster policy (`None` when none is stored) and every namespace policy (in no
    /// particular order: the Router iterates a map).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let all = client.governance().list().await?;
    /// for ns in &all.namespaces {
    ///     println!("{}: {:?}", ns.namespace, ns.policy);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listPolicies")]
    pub async fn list(&self) -> Result<PolicyList> {
        let c = &self.client;
        c.json::<crate::types::PolicyList>(c.call(&crate::operations::op::LIST_POLICIES, &[])?)
            .await
    }

    /// The policy stored for `namespace` (all fields `None` when none is stored). This is what
    /// was written, not what is enforced: see [`Governance::effective`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let p = client.governance().get("team-a").await?;
    /// println!("{:?}", p.max_sandboxes_per_user);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getNamespacePolicy")]
    pub async fn get(&self, namespace: &str) -> Result<Policy> {
        wire::id("namespace", namespace)?;
        let c = &self.client;
        Ok(c.json::<crate::types::NamespacePolicy>(
            c.call(&crate::operations::op::GET_NAMESPACE_POLICY, &[namespace])?,
        )
        .await?
        .policy)
    }

    /// **Replaces** the cluster policy (admin) and returns what was stored. Fields left out are
    /// cleared.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::types::Policy;
    /// let stored = client
    ///     .governance()
    ///     .set_cluster(&Policy { max_sandboxes_total: Some(200), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setClusterPolicy")]
    pub async fn set_cluster(&self, policy: &Policy) -> Result<Policy> {
        let c = &self.client;
        Ok(c.json::<crate::types::ClusterPolicyResponse>(
            c.call(&crate::operations::op::SET_CLUSTER_POLICY, &[])?
                .json(policy)?,
        )
        .await?
        .policy)
    }

    /// **Replaces** the policy of `namespace` (admin) and returns what was stored. Fields left
    /// out are cleared. Namespace-level `max_agent_sandboxes`, `allowed_agent_images` and
    /// `max_concurrent_invokes_per_sandbox` are stored but never enforced (only the cluster
    /// policy's values are). The Router's reserved key `__cluster__` addresses the cluster policy.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::types::Policy;
    /// // An explicit zero is sent as 0.
    /// let p = Policy { max_sandboxes_per_user: Some(0), ..Default::default() };
    /// client.governance().set("frozen-team", &p).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "setNamespacePolicy")]
    pub async fn set(&self, namespace: &str, policy: &Policy) -> Result<Policy> {
        wire::id("namespace", namespace)?;
        let c = &self.client;
        Ok(c.json::<crate::types::NamespacePolicy>(
            c.call(&crate::operations::op::SET_NAMESPACE_POLICY, &[namespace])?
                .json(policy)?,
        )
        .await?
        .policy)
    }

    /// Deletes the policy of `namespace` (admin). Succeeds also when none was stored.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// client.governance().delete("team-a").await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteNamespacePolicy")]
    pub async fn delete(&self, namespace: &str) -> Result<()> {
        wire::id("namespace", namespace)?;
        let c = &self.client;
        c.empty(c.call(
            &crate::operations::op::DELETE_NAMESPACE_POLICY,
            &[namespace],
        )?)
        .await
        .map(drop)
    }

    /// The policy enforced in the Router's sandbox namespace (else `default`), with the namespace
    /// the Router resolved. Namespace fields override the cluster's one by one when non-zero; the
    /// three agent fields always come from the cluster policy.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let e = client.governance().effective().await?;
    /// println!("{} allows {:?}", e.namespace, e.policy.allowed_templates);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getEffectivePolicy")]
    pub async fn effective(&self) -> Result<NamespacePolicy> {
        self.effective_policy(None).await
    }

    /// [`Governance::effective`] in `namespace`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let e = client.governance().effective_in("team-a").await?;
    /// # Ok(()) }
    /// ```
    pub async fn effective_in(&self, namespace: &str) -> Result<NamespacePolicy> {
        wire::non_empty("namespace", namespace)?;
        self.effective_policy(Some(namespace)).await
    }

    async fn effective_policy(&self, namespace: Option<&str>) -> Result<NamespacePolicy> {
        let c = &self.client;
        c.json::<crate::types::NamespacePolicy>(
            c.call(&crate::operations::op::GET_EFFECTIVE_POLICY, &[])?
                .query_opt("namespace", namespace),
        )
        .await
    }
}
