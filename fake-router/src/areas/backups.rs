//! Backups (VolumeSnapshots): list, create, restore into a new sandbox, delete
//! (the `backups` tag in openapi.yaml).

use http::Response;
use serde_json::{Value, json};

use crate::core::governance::{self, Ask};
use crate::core::lifecycle;
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /sandboxes/{id}/backups` (always an array).
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let sb = st.sb(&key);
    let now = st.now();
    let backups: Vec<Value> = st
        .snapshots
        .values()
        .filter(|s| s.belongs_to(sb))
        .map(|s| s.to_json(now))
        .collect();
    respond::json(200, &json!({ "backups": backups }))
}

/// `POST /sandboxes/{id}/backups`.
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let sb = st.sb(&key);
    if sb.pvc_name.is_empty() {
        return respond::error(
            400,
            format!(
                "sandbox {} has no PVC to back up (phase={})",
                sb.name, sb.phase
            ),
        );
    }
    let name = format!("{}-backup-{}", sb.pvc_name, wire::unix_secs(st.wall_now()));
    if st.snapshots.contains_key(&name) {
        return respond::error(
            500,
            format!(
                "failed to create backup: volumesnapshots.snapshot.storage.k8s.io \"{name}\" already exists"
            ),
        );
    }
    let content = match sb.workspace.snapshot() {
        Ok(c) => c,
        Err(e) => return respond::error(500, format!("failed to create backup: {e}")),
    };
    let snap = lifecycle::new_snapshot(&st, sb, name.clone(), "scheduled-backup", content);
    let body = snap.to_json(st.now());
    st.snapshots.insert(name.clone(), snap);
    st.event_now(&key, "BackupCreated", &format!("Created backup {name}"));
    respond::json(201, &body)
}

/// `POST /sandboxes/{id}/backups/{snapshotName}/restore`: a new sandbox from the snapshot.
pub(crate) fn restore(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let source = key.1.clone();
    let unix = wire::unix_secs(st.wall_now());
    let name = match lifecycle::target_name(call.sized_body(), format!("{source}-restore-{unix}")) {
        Ok(n) => n,
        Err(e) => return respond::error(400, e),
    };
    let snap_name = call.param("snapshotName").to_string();
    let sb = st.sb(&key);
    let Some(snap) = st.snapshots.get(&snap_name).filter(|s| s.belongs_to(sb)) else {
        return respond::error(404, "snapshot not found (it may have been pruned)");
    };
    let ask = Ask {
        owner: call.caller.sub(),
        namespace: &sb.namespace,
        template: &sb.template,
        timeout: sb.timeout.as_deref(),
        idle_timeout: sb.idle_timeout.as_deref(),
        storage_size: sb.storage.get("size").and_then(Value::as_str),
        resources: Some(&sb.resources),
    };
    let violations = governance::check(&st, &ask);
    if !violations.is_empty() {
        return respond::policy_violation(&violations);
    }
    let workspace = match snap.content.snapshot() {
        Ok(w) => w,
        Err(e) => return respond::error(500, format!("failed to create restored sandbox: {e}")),
    };
    let mut new = lifecycle::copy_spec(sb, name.clone(), workspace);
    new.labels
        .insert("agenttier.io/restored-from".to_string(), source.clone());
    let ns = sb.namespace.clone();
    if let Err(e) = lifecycle::insert(&mut st, &call.caller.id, new) {
        return respond::error(500, format!("failed to create restored sandbox: {e}"));
    }
    respond::json(
        202,
        &json!({
            "name": name,
            "namespace": ns,
            "restoredFrom": source,
            "snapshot": snap_name,
            "phase": "Pending",
            "message": "Restore in progress. Poll GET /api/v1/sandboxes/<name> for status.",
        }),
    )
}

/// `DELETE /sandboxes/{id}/backups/{snapshotName}` (200 with a body).
pub(crate) fn delete(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    let snap_name = call.param("snapshotName");
    let sb = st.sb(&key);
    if !st
        .snapshots
        .get(snap_name)
        .is_some_and(|s| s.belongs_to(sb))
    {
        return respond::error(404, "snapshot not found");
    }
    st.snapshots.remove(snap_name);
    st.event_now(&key, "BackupPruned", &format!("Deleted backup {snap_name}"));
    respond::json(200, &json!({"status": "deleted", "name": snap_name}))
}
