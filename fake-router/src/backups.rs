//! Backups (VolumeSnapshots): list, create, restore into a new sandbox, delete
//! (router-api.md §4.3).

use std::time::SystemTime;

use axum::body::Body;
use http::Response;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::files::Workspace;
use super::governance::{self, Ask};
use super::sandboxes::{copy_spec, insert, target_name};
use super::server::Call;
use super::state::{Sandbox, Shared, Snapshot, State};
use super::wire;

/// A snapshot of `src` (kind `scheduled-backup` or `clone`), ready after the creating delay.
pub(crate) fn new_snapshot(
    st: &State,
    src: &Sandbox,
    name: String,
    kind: &'static str,
    content: Workspace,
) -> Snapshot {
    Snapshot {
        name,
        namespace: src.namespace.clone(),
        source_sandbox: if kind == "clone" {
            src.name.clone()
        } else {
            String::new()
        },
        source_pvc: src.pvc_name.clone(),
        kind,
        created_at: SystemTime::now(),
        ready_at: Instant::now() + st.cfg.creating_delay,
        size: src
            .storage
            .get("size")
            .and_then(Value::as_str)
            .unwrap_or("10Gi")
            .to_string(),
        content,
    }
}

/// `GET /sandboxes/{id}/backups` (always an array).
pub(crate) fn list_backups(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    let sb = st.sb(&key);
    let now = Instant::now();
    let backups: Vec<Value> = st
        .snapshots
        .values()
        .filter(|s| s.belongs_to(sb))
        .map(|s| s.to_json(now))
        .collect();
    wire::json(200, &json!({ "backups": backups }))
}

/// `POST /sandboxes/{id}/backups`.
pub(crate) fn create_backup(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    let sb = st.sb(&key);
    if sb.pvc_name.is_empty() {
        return wire::error(
            400,
            format!(
                "sandbox {} has no PVC to back up (phase={})",
                sb.name, sb.phase
            ),
        );
    }
    let name = format!(
        "{}-backup-{}",
        sb.pvc_name,
        wire::unix_secs(SystemTime::now())
    );
    if st.snapshots.contains_key(&name) {
        return wire::error(
            500,
            format!(
                "failed to create backup: volumesnapshots.snapshot.storage.k8s.io \"{name}\" already exists"
            ),
        );
    }
    let content = match sb.workspace.snapshot() {
        Ok(c) => c,
        Err(e) => return wire::error(500, format!("failed to create backup: {e}")),
    };
    let snap = new_snapshot(&st, sb, name.clone(), "scheduled-backup", content);
    let body = snap.to_json(Instant::now());
    let (ns, sandbox) = key.clone();
    st.snapshots.insert(name.clone(), snap);
    st.event(
        SystemTime::now(),
        &ns,
        &sandbox,
        "BackupCreated",
        &format!("Created backup {name}"),
    );
    wire::json(201, &body)
}

/// `POST /sandboxes/{id}/backups/{snapshotName}/restore`: a new sandbox from the snapshot.
pub(crate) fn restore_backup(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    let source = key.1.clone();
    let unix = wire::unix_secs(SystemTime::now());
    let name = match target_name(call, format!("{source}-restore-{unix}")) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let snap_name = call.param("snapshotName").to_string();
    let sb = st.sb(&key);
    let Some(snap) = st.snapshots.get(&snap_name).filter(|s| s.belongs_to(sb)) else {
        return wire::error(404, "snapshot not found (it may have been pruned)");
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
        return governance::policy_violation(&violations);
    }
    let workspace = match snap.content.snapshot() {
        Ok(w) => w,
        Err(e) => return wire::error(500, format!("failed to create restored sandbox: {e}")),
    };
    let mut new = copy_spec(sb, name.clone(), workspace);
    new.labels
        .insert("agenttier.io/restored-from".to_string(), source.clone());
    let ns = sb.namespace.clone();
    if let Err(e) = insert(&mut st, &call.caller.id, new) {
        return wire::error(500, format!("failed to create restored sandbox: {e}"));
    }
    wire::json(
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
pub(crate) fn delete_backup(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return wire::error(404, e),
    };
    let snap_name = call.param("snapshotName");
    let sb = st.sb(&key);
    if !st
        .snapshots
        .get(snap_name)
        .is_some_and(|s| s.belongs_to(sb))
    {
        return wire::error(404, "snapshot not found");
    }
    st.snapshots.remove(snap_name);
    st.event(
        SystemTime::now(),
        &key.0,
        &key.1,
        "BackupPruned",
        &format!("Deleted backup {snap_name}"),
    );
    wire::json(200, &json!({"status": "deleted", "name": snap_name}))
}
