//! Sandbox lifecycle: list, create, get, delete, PATCH, stop, resume, clone, bulk
//! (router-api.md §4.1, §4.2, §5).

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use axum::body::Body;
use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::auth::FakeIdentity;
use super::files::Workspace;
use super::governance::{self, Ask};
use super::server::{Call, decode};
use super::state::{AgentState, Key, Sandbox, Shared, Sharing, State, Transition, created_by};
use super::wire;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct TemplateRef {
    pub name: String,
    pub kind: String,
}

/// `CreateSandboxRequest` (also a bulk item). Unknown fields are ignored.
#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct CreateRequest {
    pub name: String,
    pub namespace: String,
    pub template_ref: Option<TemplateRef>,
    pub timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub storage: Option<Value>,
}

impl CreateRequest {
    fn template(&self) -> &str {
        self.template_ref
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("")
    }

    /// The Router's own validation, in its order; the error is the 400 message.
    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("name is required".to_string());
        }
        if self.template().is_empty() {
            return Err("templateRef.name is required".to_string());
        }
        if let Some(t) = &self.timeout {
            wire::positive_duration(t).map_err(|e| format!("invalid timeout: {e}"))?;
        }
        if let Some(t) = &self.idle_timeout {
            wire::positive_duration(t).map_err(|e| format!("invalid idleTimeout: {e}"))?;
        }
        Ok(())
    }

    fn namespace<'a>(&'a self, st: &'a State) -> &'a str {
        if self.namespace.is_empty() {
            &st.cfg.namespace
        } else {
            &self.namespace
        }
    }

    fn ask<'a>(&'a self, st: &'a State, owner: &'a str) -> Ask<'a> {
        Ask {
            owner,
            namespace: self.namespace(st),
            template: self.template(),
            timeout: self.timeout.as_deref(),
            idle_timeout: self.idle_timeout.as_deref(),
            storage_size: self
                .storage
                .as_ref()
                .and_then(|s| s.get("size"))
                .and_then(Value::as_str),
            resources: None,
        }
    }
}

/// Whether Kubernetes would accept the object name (a DNS-1123 subdomain).
fn valid_object_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// What a new Sandbox object is made from.
pub(crate) struct NewSandbox {
    pub name: String,
    pub namespace: String,
    pub template: String,
    pub kind: String,
    pub timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub storage: Value,
    pub resources: Value,
    pub labels: BTreeMap<String, String>,
    pub workspace: Option<Workspace>,
}

/// Create the Sandbox object (what the apiserver does), then let the "controller" start it.
/// The error is the Kubernetes error text (the handler prefixes it).
pub(crate) fn insert(st: &mut State, owner: &FakeIdentity, new: NewSandbox) -> Result<Key, String> {
    if !valid_object_name(&new.name) {
        return Err(format!(
            "Sandbox.agenttier.io \"{}\" is invalid: metadata.name: Invalid value: \"{}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            new.name, new.name
        ));
    }
    let key = (new.namespace.clone(), new.name.clone());
    if st.sandboxes.contains_key(&key) {
        return Err(format!(
            "sandboxes.agenttier.io \"{}\" already exists",
            new.name
        ));
    }
    let workspace = match new.workspace {
        Some(w) => w,
        None => Workspace::new(st.cfg.local_exec).map_err(|e| e.to_string())?,
    };
    let template = st.templates.get(&new.template);
    // The Router copies the mode from the cluster template when it can read it.
    let mode = template
        .map(|t| t.mode().to_string())
        .unwrap_or_else(|| "code".to_string());
    // The controller resolves `kind` (default: the namespaced SandboxTemplate, which the
    // API never exposes, so only ClusterSandboxTemplate refs resolve here).
    let resolve_error = match (new.kind.as_str(), template.is_some()) {
        ("ClusterSandboxTemplate", true) => None,
        ("ClusterSandboxTemplate", false) => Some(format!(
            "failed to resolve template: ClusterSandboxTemplate \"{}\" not found",
            new.template
        )),
        _ => Some(format!(
            "failed to resolve template: SandboxTemplate \"{}/{}\" not found",
            new.namespace, new.template
        )),
    };
    let now = Instant::now();
    let mut sb = Sandbox {
        name: new.name.clone(),
        namespace: new.namespace.clone(),
        phase: String::new(),
        message: String::new(),
        template: new.template,
        resolved_template: String::new(),
        mode,
        created_at: SystemTime::now(),
        created_by: created_by(owner),
        started_at: None,
        last_activity: None,
        pod_name: String::new(),
        pvc_name: String::new(),
        pending: VecDeque::new(),
        deleting_until: None,
        timeout: new.timeout,
        idle_timeout: new.idle_timeout,
        storage: new.storage,
        resources: new.resources,
        labels: new.labels,
        annotations: BTreeMap::new(),
        sharing: Sharing::default(),
        ports: BTreeMap::new(),
        agent: AgentState::default(),
        workspace,
    };
    sb.schedule_start(now, st.cfg.creating_delay, resolve_error);
    st.sandboxes.insert(key.clone(), sb);
    Ok(key)
}

fn new_from_request(st: &State, req: &CreateRequest) -> NewSandbox {
    NewSandbox {
        name: req.name.clone(),
        namespace: req.namespace(st).to_string(),
        template: req.template().to_string(),
        kind: req
            .template_ref
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default(),
        timeout: req.timeout.clone(),
        idle_timeout: req.idle_timeout.clone(),
        storage: req.storage.clone().unwrap_or(Value::Null),
        resources: Value::Null,
        labels: BTreeMap::new(),
        workspace: None,
    }
}

/// `GET /sandboxes`: own sandboxes only for non-admins; `null` when nothing matches.
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let ns = call.query("namespace").filter(|s| !s.is_empty());
    let status = call.query("status").filter(|s| !s.is_empty());
    let items: Vec<Value> = st
        .sandboxes
        .values()
        .filter(|s| call.caller.is_admin() || s.created_by.sub == call.caller.sub())
        .filter(|s| ns.is_none_or(|n| s.namespace == n))
        .filter(|s| status.is_none_or(|p| s.phase == p))
        .map(Sandbox::to_json)
        .collect();
    let list = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    wire::json(200, &json!({ "sandboxes": list }))
}

/// `POST /sandboxes`.
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: CreateRequest = match decode(&call.body) {
        Ok(r) => r,
        Err(e) => return wire::error(400, format!("invalid request body: {e}")),
    };
    if let Err(e) = req.validate() {
        return wire::error(400, e);
    }
    let mut st = shared.lock();
    let violations = governance::check(&st, &req.ask(&st, call.caller.sub()));
    if !violations.is_empty() {
        return governance::policy_violation(&violations);
    }
    let new = new_from_request(&st, &req);
    match insert(&mut st, &call.caller.id, new) {
        Err(e) => wire::error(500, format!("failed to create sandbox: {e}")),
        Ok((ns, name)) => wire::json(
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

/// `GET /sandboxes/{id}`: the read gate (owner, admin, shared).
pub(crate) fn get(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let id = call.param("id");
    match st.resolve(id) {
        Err(e) => wire::error(404, e),
        Ok(key) => {
            let sb = st.sb(&key);
            if sb.readable_by(&call.caller) {
                wire::json(200, &sb.to_json())
            } else {
                wire::error(404, format!("access denied to sandbox {id}"))
            }
        }
    }
}

/// The DELETE effect (shared with bulk-action): 204 now, gone after the finalizer delay.
fn start_delete(st: &mut State, key: &Key) {
    let until = Instant::now() + st.cfg.finalizer_delay;
    let sb = st.sb_mut(key);
    sb.pending.clear();
    if sb.deleting_until.is_none() {
        sb.deleting_until = Some(until);
    }
}

/// `DELETE /sandboxes/{id}`.
pub(crate) fn delete(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    match st.owned(&call.caller, call.param("id")) {
        Err(e) => wire::error(404, e),
        Ok(key) => {
            start_delete(&mut st, &key);
            wire::empty(204)
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
        Err(e) => return wire::error(404, e),
    };
    let req: PatchRequest = match decode(&call.body) {
        Ok(r) => r,
        Err(e) => return wire::error(400, format!("invalid request body: {e}")),
    };
    let resources = req.resources.filter(|r| !r.is_null());
    if req.idle_timeout.is_none()
        && resources.is_none()
        && req.labels.is_none()
        && req.annotations.is_none()
    {
        return wire::error(
            400,
            "at least one of idleTimeout, resources, labels, annotations is required",
        );
    }
    if let Some(t) = &req.idle_timeout
        && let Err(e) = wire::positive_duration(t)
    {
        return wire::error(400, format!("invalid idleTimeout: {e}"));
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
            return governance::policy_violation(&violations);
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
    wire::json(200, &body)
}

/// Stop (shared with bulk-action); the error is the per-item / 409 message.
fn do_stop(st: &mut State, key: &Key) -> Result<(), String> {
    let delay = st.cfg.creating_delay / 3;
    let sb = st.sb_mut(key);
    if sb.phase != "Running" {
        return Err(format!("cannot stop sandbox in phase {}", sb.phase));
    }
    sb.pending.clear();
    sb.pending.push_back(Transition {
        at: Instant::now() + delay,
        phase: "Stopped",
        message: "User requested stop".to_string(),
    });
    Ok(())
}

/// Resume (shared with bulk-action).
fn do_resume(st: &mut State, key: &Key) -> Result<(), String> {
    let delay = st.cfg.creating_delay;
    let sb = st.sb_mut(key);
    if sb.phase != "Stopped" && sb.phase != "Error" {
        return Err(format!("cannot resume sandbox in phase {}", sb.phase));
    }
    // The Router writes the status itself; the controller then rebuilds the pod.
    sb.phase = "Creating".to_string();
    sb.message = "Resuming".to_string();
    sb.pending.clear();
    sb.pending.push_back(Transition {
        at: Instant::now() + delay,
        phase: "Running",
        message: String::new(),
    });
    Ok(())
}

/// `POST /sandboxes/{id}/stop`.
pub(crate) fn stop(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    match do_stop(&mut st, &key) {
        Ok(()) => wire::json(200, &json!({"status": "stopping"})),
        Err(e) => wire::error(409, e),
    }
}

/// `POST /sandboxes/{id}/resume`.
pub(crate) fn resume(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    match do_resume(&mut st, &key) {
        Ok(()) => wire::json(200, &json!({"status": "resuming"})),
        Err(e) => wire::error(409, e),
    }
}

const NAME_RULE: &str = "name must match RFC 1123 label rules: lowercase alphanumeric or '-', start/end alphanumeric, max 63 chars";

/// The `name` of an optional `{name?}` body (read only when Content-Length > 0), or the default.
pub(crate) fn target_name(call: &Call, default: String) -> Result<String, Response<Body>> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct NameBody {
        name: String,
    }
    let body: NameBody = if call.has_sized_body() {
        decode(&call.body).map_err(|e| wire::error(400, format!("invalid request body: {e}")))?
    } else {
        NameBody::default()
    };
    let name = match body.name.trim() {
        "" => default,
        n => n.to_string(),
    };
    if wire::is_rfc1123_label(&name) {
        Ok(name)
    } else {
        Err(wire::error(400, NAME_RULE))
    }
}

/// A copy of a sandbox's spec for clone and restore.
pub(crate) fn copy_spec(src: &Sandbox, name: String, workspace: Workspace) -> NewSandbox {
    NewSandbox {
        name,
        namespace: src.namespace.clone(),
        template: src.template.clone(),
        kind: "ClusterSandboxTemplate".to_string(),
        timeout: src.timeout.clone(),
        idle_timeout: src.idle_timeout.clone(),
        storage: src.storage.clone(),
        resources: src.resources.clone(),
        labels: src.labels.clone(),
        workspace: Some(workspace),
    }
}

/// `POST /sandboxes/{id}/clone`: snapshot + a new sandbox with the source's files.
pub(crate) fn clone(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    let unix = wire::unix_secs(SystemTime::now());
    let source = key.1.clone();
    let name = match target_name(call, format!("{source}-clone-{unix}")) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let src = st.sb(&key);
    if src.pvc_name.is_empty() {
        return wire::error(
            400,
            format!("sandbox {source} has no PVC to clone (phase={})", src.phase),
        );
    }
    let snap_name = format!("{source}-snap-{unix}");
    let content = match src.workspace.snapshot() {
        Ok(w) => w,
        Err(e) => return wire::error(500, format!("failed to create VolumeSnapshot: {e}")),
    };
    let workspace = match content.snapshot() {
        Ok(w) => w,
        Err(e) => return wire::error(500, format!("failed to create VolumeSnapshot: {e}")),
    };
    if st.snapshots.contains_key(&snap_name) {
        return wire::error(
            500,
            format!(
                "failed to create VolumeSnapshot: volumesnapshots.snapshot.storage.k8s.io \"{snap_name}\" already exists"
            ),
        );
    }
    let src = st.sb(&key);
    let snapshot = super::backups::new_snapshot(&st, src, snap_name.clone(), "clone", content);
    let new = copy_spec(src, name.clone(), workspace);
    let ns = src.namespace.clone();
    st.snapshots.insert(snap_name.clone(), snapshot);
    if let Err(e) = insert(&mut st, &call.caller.id, new) {
        st.snapshots.remove(&snap_name);
        return wire::error(500, format!("failed to create cloned sandbox: {e}"));
    }
    wire::json(
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkCreate {
    items: Vec<CreateRequest>,
}

/// `POST /sandboxes/bulk`.
pub(crate) fn bulk_create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: BulkCreate = match decode(&call.body) {
        Ok(r) => r,
        Err(e) => return wire::error(400, format!("invalid request body: {e}")),
    };
    if req.items.is_empty() {
        return wire::error(400, "items must be a non-empty array");
    }
    let mut st = shared.lock();
    let owner = call.caller.sub().to_string();
    let counts = governance::bulk_counts(req.items.iter().map(|i| i.namespace(&st)));
    for (ns, n) in counts {
        let v = governance::check_bulk(&st, ns, &owner, n);
        if !v.is_empty() {
            return wire::json(
                409,
                &json!({
                    "error": "quota_would_exceed",
                    "namespace": ns,
                    "violations": governance::violations_json(&v),
                }),
            );
        }
    }
    let mut results = Vec::new();
    for (index, item) in req.items.iter().enumerate() {
        let outcome = item.validate().and_then(|()| {
            let v = governance::check(&st, &item.ask(&st, &owner));
            if !v.is_empty() {
                let msgs: Vec<&str> = v.iter().map(|v| v.message.as_str()).collect();
                return Err(format!("policy_violation: {}", msgs.join("; ")));
            }
            let new = new_from_request(&st, item);
            insert(&mut st, &call.caller.id, new)
                .map_err(|e| format!("failed to create sandbox: {e}"))
        });
        results.push(match outcome {
            Ok((_, name)) => json!({"index": index, "status": "created", "sandboxId": name}),
            Err(e) => json!({"index": index, "status": "error", "error": e}),
        });
    }
    wire::json(200, &json!({ "results": results }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkAction {
    action: String,
    ids: Vec<String>,
}

/// `POST /sandboxes/bulk-action`.
pub(crate) fn bulk_action(shared: &Shared, call: &Call) -> Response<Body> {
    let req: BulkAction = match decode(&call.body) {
        Ok(r) => r,
        Err(e) => return wire::error(400, format!("invalid request body: {e}")),
    };
    if !matches!(req.action.as_str(), "stop" | "resume" | "delete") {
        return wire::error(
            400,
            "action must be one of \"stop\", \"resume\", \"delete\"",
        );
    }
    if req.ids.is_empty() {
        return wire::error(400, "ids must be a non-empty array");
    }
    let mut st = shared.lock();
    let results: Vec<Value> = req
        .ids
        .iter()
        .map(|id| {
            let outcome = st
                .owned(&call.caller, id)
                .and_then(|key| match req.action.as_str() {
                    "stop" => do_stop(&mut st, &key),
                    "resume" => do_resume(&mut st, &key),
                    _ => {
                        start_delete(&mut st, &key);
                        Ok(())
                    }
                });
            match outcome {
                Ok(()) => json!({"id": id, "status": "ok"}),
                Err(e) => json!({"id": id, "status": "error", "error": e}),
            }
        })
        .collect();
    wire::json(200, &json!({ "results": results }))
}
