//! Admin-only reads: audit events, analytics, the all-sandboxes list (the `admin` tag in openapi.yaml).

use std::collections::BTreeMap;

use http::Response;
use serde_json::{Value, json};

use crate::core::sandbox::Sandbox;
use crate::core::state::Shared;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /audit/events`: newest first (the reverse of list order), `null` when none.
pub(crate) fn audit_events(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    if st.audit.is_empty() {
        return respond::json(200, &json!({ "events": null }));
    }
    let events: Vec<&_> = st.audit.iter().rev().collect();
    respond::json(200, &json!({ "events": events }))
}

/// `GET /analytics/usage` (snake_case).
pub(crate) fn usage(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let mut status: BTreeMap<String, i64> = BTreeMap::new();
    let mut templates: BTreeMap<String, i64> = BTreeMap::new();
    let mut startup_ms: Vec<i64> = Vec::new();
    for sb in st.sandboxes.values() {
        let phase = if sb.phase.is_empty() {
            "creating"
        } else {
            &sb.phase
        };
        *status.entry(phase.to_string()).or_default() += 1;
        let t = if sb.resolved_template.is_empty() {
            "unknown"
        } else {
            &sb.resolved_template
        };
        *templates.entry(t.to_string()).or_default() += 1;
        if let Some(start) = sb.started_at {
            let ms = start
                .duration_since(sb.created_at)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            startup_ms.push(ms);
        }
    }
    let avg = if startup_ms.is_empty() {
        0
    } else {
        startup_ms.iter().sum::<i64>() / startup_ms.len() as i64
    };
    respond::json(
        200,
        &json!({
            "total_sandboxes": st.sandboxes.len(),
            "status_breakdown": status,
            "template_breakdown": templates,
            "avg_startup_ms": avg,
            "startup_sample_count": startup_ms.len(),
        }),
    )
}

/// `GET /analytics/costs` (snake_case, hard-coded prices like the Router's).
pub(crate) fn costs(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let per_sandbox_hourly = 2.0 * 0.04 + 4.0 * 0.005;
    let running: Vec<&Sandbox> = st
        .sandboxes
        .values()
        .filter(|s| s.phase == "Running")
        .collect();
    let stopped = st
        .sandboxes
        .values()
        .filter(|s| s.phase == "Stopped")
        .count();
    let n = st.sandboxes.len() as f64;
    let compute = running.len() as f64 * per_sandbox_hourly;
    let storage = n * 10.0 * 0.10 / 30.0 * 24.0;
    let mut per_template: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for sb in &running {
        per_template.entry(&sb.resolved_template).or_default().0 += 1;
    }
    for sb in st.sandboxes.values() {
        if let Some(e) = per_template.get_mut(sb.resolved_template.as_str()) {
            e.1 += 1;
        }
    }
    let per_template = if per_template.is_empty() {
        Value::Null
    } else {
        Value::Array(
            per_template
                .into_iter()
                .map(|(t, (running, count))| {
                    json!({"template": t, "hourly_cost": running as f64 * per_sandbox_hourly, "count": count})
                })
                .collect(),
        )
    };
    respond::json(
        200,
        &json!({
            "running_sandboxes": running.len(),
            "stopped_sandboxes": stopped,
            "total_hourly_compute": compute,
            "total_hourly_storage": storage,
            "total_estimated_monthly": (compute + storage) * 720.0,
            "per_template": per_template,
        }),
    )
}

/// `GET /admin/sharing`: a permanent `{}` placeholder.
pub(crate) fn sharing(_shared: &Shared, _call: &Call) -> Response<Body> {
    respond::json(200, &json!({}))
}

/// `GET /admin/sandboxes` (`[]` when empty, scoped keys joined by name).
pub(crate) fn sandboxes(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let ns = call.query("namespace").filter(|n| !n.is_empty());
    let items: Vec<Value> = st
        .sandboxes
        .values()
        .filter(|s| st.visible(s))
        .filter(|s| ns.is_none_or(|n| s.namespace == n))
        .map(|s| {
            let mut v = s.to_json();
            let keys: Vec<Value> = st
                .api_keys
                .values()
                .filter(|k| k.sandbox_id == s.name)
                .map(|k| k.metadata())
                .collect();
            if !keys.is_empty() {
                v["scopedApiKeys"] = Value::Array(keys);
            }
            v
        })
        .collect();
    respond::json(200, &json!({ "sandboxes": items }))
}
