//! Governance policies as stored, and the effective-policy merge (the `governance` tag in openapi.yaml).

use serde::{Deserialize, Serialize};

/// A governance policy (every field omitempty, in the Router's field order). Unknown fields
/// are dropped; no field is validated.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Policy {
    #[serde(skip_serializing_if = "is_zero")]
    pub max_sandboxes_per_user: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_sandboxes_total: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_cpu: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_memory: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_storage: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_timeout: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub max_idle_timeout: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_templates: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approved_registries: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_agent_sandboxes: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_agent_images: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_concurrent_invokes_per_sandbox: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Policy {
    /// `mergePolicies`: namespace fields override cluster fields one by one when non-zero,
    /// except the agent fields, which always come from the cluster policy.
    pub(crate) fn merged(cluster: Option<&Policy>, namespace: Option<&Policy>) -> Policy {
        let cluster = cluster.cloned().unwrap_or_default();
        let Some(ns) = namespace else {
            return cluster;
        };
        let mut p = cluster.clone();
        macro_rules! over {
            ($($f:ident),*) => {$(
                if !is_default(&ns.$f) { p.$f = ns.$f.clone(); }
            )*};
        }
        over!(
            max_sandboxes_per_user,
            max_sandboxes_total,
            max_cpu,
            max_memory,
            max_storage,
            max_timeout,
            max_idle_timeout,
            allowed_templates,
            approved_registries,
            description
        );
        p.max_agent_sandboxes = cluster.max_agent_sandboxes;
        p.allowed_agent_images = cluster.allowed_agent_images;
        p.max_concurrent_invokes_per_sandbox = cluster.max_concurrent_invokes_per_sandbox;
        p
    }
}
