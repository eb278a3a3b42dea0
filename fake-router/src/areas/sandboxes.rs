//! Sandbox lifecycle: list, create, get, delete, PATCH, stop, resume, clone
//! (the `sandboxes` tag in openapi.yaml).

use std::collections::BTreeMap;

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::governance::{self, Ask};
use crate::core::lifecycle::{self, SandboxCreateRequest};
use crate::core::sandbox::Sandbox;
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /sandboxes`: own sandboxes only for non-admins; `null` when nothing matches.
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let ns = call.query("namespace").filter(|s| !s.is_empty());
    let status = call.query("status").filter(|s| !s.is_empty());
    let items: Vec<Value> = st
        .sandboxes
        .values()
        .filter(|s| call.caller.is_admin() || s.created_by.sub == call.caller.sub())
        .filter(|s| st.visible(s))
        .filter(|s| ns.is_none_or(|n| s.namespace == n))
        .filter(|s| status.is_none_or(|p| s.phase == p))
        .map(Sandbox::to_json)
        .collect();
    let list = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    respond::json(200, &json!({ "sandboxes": list }))
}

/// `POST /sandboxes`.
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: SandboxCreateRequest = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if let Err(e) = req.validate() {
        return respond::error(400, e);
    }
    let mut st = shared.lock();
    let violations = governance::check(&st, &req.ask(&st, call.caller.sub()));
    if !violations.is_empty() {
        return respond::policy_violation(&violations);
    }
    let new = req.to_new(&st);
    match lifecycle::insert(&mut st, &call.caller.id, new) {
        Err(e) => respond::error(500, format!("failed to create sandbox: {e}")),
        Ok((ns, name)) => respond::json(
            201,
            &json!({
                "sandboxId": name,
                "name": name,
                "namespace": ns,
                "status": "Creating",
                "templateRef": req.template(),
            }),
        ),
    }
}

/// `GET /sandboxes/{id}`: the read gate (owner, admin, shared). During the visibility lag
/// a new sandbox answers as if it did not exist.
pub(crate) fn get(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let id = call.param("id");
    match st.resolve(id) {
        Err(e) => respond::error(404, e),
        Ok(key) if !st.visible(st.sb(&key)) => {
            respond::error(404, format!("sandbox {id} not found"))
        }
        Ok(key) => {
            let sb = st.sb(&key);
            if sb.readable_by(&call.caller) {
                respond::json(200, &sb.to_json())
            } else {
                respond::error(404, format!("access denied to sandbox {id}"))
            }
        }
    }
}

/// `DELETE /sandboxes/{id}`: 204 now, gone after the finalizer delay.
pub(crate) fn delete(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    match st.owned(&call.caller, call.param("id")) {
        Err(e) => respond::error(404, e),
        Ok(key) => {
            lifecycle::start_delete(&mut st, &key);
            respond::empty(204)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PatchRequest {
    idle_timeout: Option<String>,
    resources: Option<Value>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// `PATCH /sandboxes/{id}`: lookup first, then the body.
pub(crate) fn patch(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let req: PatchRequest = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    let resources = req.resources.filter(|r| !r.is_null());
    if req.idle_timeout.is_none()
        && resources.is_none()
        && req.labels.is_none()
        && req.annotations.is_none()
    {
        return respond::error(
            400,
            "at least one of idleTimeout, resources, labels, annotations is required",
        );
    }
    if let Some(t) = &req.idle_timeout
        && let Err(e) = wire::positive_duration(t)
    {
        return respond::error(400, format!("invalid idleTimeout: {e}"));
    }
    if req.idle_timeout.is_some() || resources.is_some() {
        let sb = st.sb(&key);
        let policy = st.effective_policy(&sb.namespace);
        let ask = Ask {
            owner: &sb.created_by.sub,
            namespace: &sb.namespace,
            template: &sb.template,
            timeout: None,
            idle_timeout: req.idle_timeout.as_deref(),
            storage_size: None,
            resources: resources.as_ref(),
        };
        let violations = governance::check_limits(&policy, &ask);
        if !violations.is_empty() {
            return respond::policy_violation(&violations);
        }
    }
    let mut applied = serde_json::Map::new();
    let sb = st.sb_mut(&key);
    if let Some(t) = req.idle_timeout {
        sb.idle_timeout = Some(t);
        applied.insert("idleTimeout".into(), "immediately".into());
    }
    if let Some(labels) = req.labels {
        sb.labels.extend(labels);
        applied.insert("labels".into(), "immediately".into());
    }
    if let Some(ann) = req.annotations {
        sb.annotations.extend(ann);
        applied.insert("annotations".into(), "immediately".into());
    }
    let restart = resources.is_some();
    if let Some(r) = resources {
        sb.resources = r;
        applied.insert("resources".into(), "on-restart".into());
    }
    let mut body = json!({
        "sandboxId": sb.name,
        "applied": applied,
        "restartRequired": restart,
    });
    if restart {
        body["message"] =
            "resource changes take effect after the sandbox is stopped and resumed".into();
    }
    respond::json(200, &body)
}

/// `POST /sandboxes/{id}/stop`.
pub(crate) fn stop(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    match lifecycle::stop(&mut st, &key) {
        Ok(()) => respond::json(200, &json!({"status": "stopping"})),
        Err(e) => respond::error(409, e),
    }
}

/// `POST /sandboxes/{id}/resume`.
pub(crate) fn resume(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    match lifecycle::resume(&mut st, &key) {
        Ok(()) => respond::json(200, &json!({"status": "resuming"})),
        Err(e) => respond::error(409, e),
    }
}

/// `POST /sandboxes/{id}/clone`: snapshot + a new sandbox with the source's files.
pub(crate) fn clone(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let unix = wire::unix_secs(st.wall_now());
    let source = key.1.clone();
    let name = match lifecycle::target_name(call.sized_body(), format!("{source}-clone-{unix}")) {
        Ok(n) => n,
        Err(e) => return respond::error(400, e),
    };
    let src = st.sb(&key);
    if src.pvc_name.is_empty() {
        return respond::error(
            400,
            format!("sandbox {source} has no PVC to clone (phase={})", src.phase),
        );
    }
    let snap_name = format!("{source}-snap-{unix}");
    let content = match src.workspace.snapshot() {
        Ok(w) => w,
        Err(e) => return respond::error(500, format!("failed to create VolumeSnapshot: {e}")),
    };
    let workspace = match content.snapshot() {
        Ok(w) => w,
        Err(e) => return respond::error(500, format!("failed to create VolumeSnapshot: {e}")),
    };
    if st.snapshots.contains_key(&snap_name) {
        return respond::error(
            500,
            format!(
                "failed to create VolumeSnapshot: volumesnapshots.snapshot.storage.k8s.io \"{snap_name}\" already exists"
            ),
        );
    }
    let src = st.sb(&key);
    let snapshot = lifecycle::new_snapshot(&st, src, snap_name.clone(), "clone", content);
    let new = lifecycle::copy_spec(src, name.clone(), workspace);
    let ns = src.namespace.clone();
    st.snapshots.insert(snap_name.clone(), snapshot);
    if let Err(e) = lifecycle::insert(&mut st, &call.caller.id, new) {
        st.snapshots.remove(&snap_name);
        return respond::error(500, format!("failed to create cloned sandbox: {e}"));
    }
    respond::json(
        202,
        &json!({
            "name": name,
            "namespace": ns,
            "snapshot": snap_name,
            "clonedFrom": source,
            "phase": "Pending",
            "message": "Clone in progress. Poll GET /api/v1/sandboxes/<name> for status; PVC provisioning waits on the VolumeSnapshot becoming readyToUse (typically 30-90 seconds on EBS).",
        }),
    )
}
