//! The governance checks create, bulk create, PATCH and restore run (the `governance` tag in
//! openapi.yaml).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::policy::Policy;
use super::state::State;
use super::wire;

/// One `PolicyViolation`.
#[derive(Clone, Debug)]
pub(crate) struct Violation {
    pub code: &'static str,
    pub message: String,
}

/// The `violations` array of the policy bodies.
pub(crate) fn violations_json(v: &[Violation]) -> Value {
    Value::Array(
        v.iter()
            .map(|v| json!({"code": v.code, "message": v.message}))
            .collect(),
    )
}

fn dur(s: &str) -> Option<Duration> {
    wire::parse_go_duration(s).ok().map(|(_, d)| d)
}

/// What a sandbox asks for, as far as the checks care.
pub(crate) struct Ask<'a> {
    pub owner: &'a str,
    pub namespace: &'a str,
    pub template: &'a str,
    pub timeout: Option<&'a str>,
    pub idle_timeout: Option<&'a str>,
    pub storage_size: Option<&'a str>,
    pub resources: Option<&'a Value>,
}

/// `CheckResourceLimits`: cpu/memory limits, storage, timeout and idle timeout caps.
pub(crate) fn check_limits(p: &Policy, ask: &Ask<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let limit = |name: &str| {
        ask.resources
            .and_then(|r| r.get("limits"))
            .and_then(|l| l.get(name))
            .and_then(Value::as_str)
    };
    let over = |want: Option<&str>, max: &str| match (want, max.is_empty()) {
        (Some(w), false) => match (wire::quantity_value(w), wire::quantity_value(max)) {
            (Some(a), Some(b)) => a > b,
            _ => false,
        },
        _ => false,
    };
    if over(limit("cpu"), &p.max_cpu) {
        out.push(Violation {
            code: "cpu_limit_exceeded",
            message: format!(
                "cpu limit {} exceeds the maximum {}",
                limit("cpu").unwrap_or(""),
                p.max_cpu
            ),
        });
    }
    if over(limit("memory"), &p.max_memory) {
        out.push(Violation {
            code: "memory_limit_exceeded",
            message: format!(
                "memory limit {} exceeds the maximum {}",
                limit("memory").unwrap_or(""),
                p.max_memory
            ),
        });
    }
    if over(ask.storage_size, &p.max_storage) {
        out.push(Violation {
            code: "storage_limit_exceeded",
            message: format!(
                "storage {} exceeds the maximum {}",
                ask.storage_size.unwrap_or(""),
                p.max_storage
            ),
        });
    }
    for (want, max, code, what) in [
        (ask.timeout, &p.max_timeout, "timeout_exceeded", "timeout"),
        (
            ask.idle_timeout,
            &p.max_idle_timeout,
            "idle_timeout_exceeded",
            "idleTimeout",
        ),
    ] {
        if let (Some(w), Some(m)) = (want.and_then(dur), dur(max))
            && !max.is_empty()
            && w > m
        {
            out.push(Violation {
                code,
                message: format!("{what} {} exceeds the maximum {max}", want.unwrap_or("")),
            });
        }
    }
    out
}

/// The full `Check` run at create, bulk item and restore.
pub(crate) fn check(st: &State, ask: &Ask<'_>) -> Vec<Violation> {
    let p = st.effective_policy(ask.namespace);
    let mut out = Vec::new();
    if !p.allowed_templates.is_empty() && !p.allowed_templates.iter().any(|t| t == ask.template) {
        out.push(Violation {
            code: "template_not_allowed",
            message: format!(
                "template \"{}\" is not permitted in this namespace (allowed: {})",
                ask.template,
                p.allowed_templates.join(", ")
            ),
        });
    }
    let template = st.templates.get(ask.template);
    if let Some(t) = template
        && !p.approved_registries.is_empty()
    {
        let image = t.image();
        if !image.is_empty()
            && !p
                .approved_registries
                .iter()
                .any(|r| image.starts_with(r.as_str()))
        {
            out.push(Violation {
                code: "image_registry_not_approved",
                message: format!(
                    "image \"{image}\" is not from an approved registry (approved: {})",
                    p.approved_registries.join(", ")
                ),
            });
        }
    }
    let in_ns = st
        .sandboxes
        .values()
        .filter(|s| s.namespace == ask.namespace);
    let total = in_ns.clone().count() as i64;
    let mine = in_ns.filter(|s| s.created_by.sub == ask.owner).count() as i64;
    if p.max_sandboxes_total > 0 && total >= p.max_sandboxes_total {
        out.push(Violation {
            code: "namespace_quota_exceeded",
            message: format!(
                "namespace {} already has {total} sandboxes (max {})",
                ask.namespace, p.max_sandboxes_total
            ),
        });
    }
    if p.max_sandboxes_per_user > 0 && mine >= p.max_sandboxes_per_user {
        out.push(Violation {
            code: "user_quota_exceeded",
            message: format!(
                "user {} already has {mine} sandboxes in namespace {} (max {})",
                ask.owner, ask.namespace, p.max_sandboxes_per_user
            ),
        });
    }
    if p.max_agent_sandboxes > 0 && template.is_some_and(|t| t.mode() == "agent") {
        let agents = st.sandboxes.values().filter(|s| s.mode == "agent").count() as i64;
        if agents >= p.max_agent_sandboxes {
            out.push(Violation {
                code: "agent_sandbox_quota_exceeded",
                message: format!(
                    "cluster already has {agents} agent sandboxes (max {})",
                    p.max_agent_sandboxes
                ),
            });
        }
    }
    out.extend(check_limits(&p, ask));
    out
}

/// `CheckBulk`: the count quotas for `adding` new sandboxes per owner in one namespace.
pub(crate) fn check_bulk(st: &State, namespace: &str, owner: &str, adding: i64) -> Vec<Violation> {
    let p = st.effective_policy(namespace);
    let in_ns = st.sandboxes.values().filter(|s| s.namespace == namespace);
    let total = in_ns.clone().count() as i64;
    let mine = in_ns.filter(|s| s.created_by.sub == owner).count() as i64;
    let mut out = Vec::new();
    if p.max_sandboxes_total > 0 && total + adding > p.max_sandboxes_total {
        out.push(Violation {
            code: "namespace_quota_exceeded",
            message: format!(
                "namespace {namespace} would have {} sandboxes (max {})",
                total + adding,
                p.max_sandboxes_total
            ),
        });
    }
    if p.max_sandboxes_per_user > 0 && mine + adding > p.max_sandboxes_per_user {
        out.push(Violation {
            code: "user_quota_exceeded",
            message: format!(
                "user {owner} would have {} sandboxes in namespace {namespace} (max {})",
                mine + adding,
                p.max_sandboxes_per_user
            ),
        });
    }
    out
}

/// Group bulk items per namespace and owner for the up-front quota check.
pub(crate) fn bulk_counts<'a>(namespaces: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, i64> {
    let mut m = BTreeMap::new();
    for ns in namespaces {
        *m.entry(ns).or_insert(0) += 1;
    }
    m
}
