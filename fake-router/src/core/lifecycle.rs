//! What the apiserver and the controller do to sandboxes, shared by every route that creates,
//! stops, resumes, deletes, clones or restores one (the `sandboxes` and `backups` tags in openapi.yaml).

use std::collections::{BTreeMap, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use super::governance::Ask;
use super::identity::FakeIdentity;
use super::sandbox::{AgentState, CreatedBy, Sandbox, Sharing, Transition};
use super::state::{Key, Snapshot, State};
use super::wire;
use super::workspace::Workspace;

/// `templateRef` of a create request.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct TemplateRef {
    pub name: String,
    pub kind: String,
}

/// `CreateSandboxRequest` (also a bulk item). Unknown fields are ignored.
#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SandboxCreateRequest {
    pub name: String,
    pub namespace: String,
    pub template_ref: Option<TemplateRef>,
    pub timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub storage: Option<Value>,
}

impl SandboxCreateRequest {
    /// `templateRef.name`.
    pub(crate) fn template(&self) -> &str {
        self.template_ref
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("")
    }

    /// The Router's own validation, in its order; the error is the 400 message.
    pub(crate) fn validate(&self) -> Result<(), String> {
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

    /// The namespace it lands in (default: the Router's own).
    pub(crate) fn namespace<'a>(&'a self, st: &'a State) -> &'a str {
        if self.namespace.is_empty() {
            &st.cfg.namespace
        } else {
            &self.namespace
        }
    }

    /// What governance checks.
    pub(crate) fn ask<'a>(&'a self, st: &'a State, owner: &'a str) -> Ask<'a> {
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

    /// The object it asks for.
    pub(crate) fn to_new(&self, st: &State) -> NewSandbox {
        NewSandbox {
            name: self.name.clone(),
            namespace: self.namespace(st).to_string(),
            template: self.template().to_string(),
            kind: self
                .template_ref
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or_default(),
            timeout: self.timeout.clone(),
            idle_timeout: self.idle_timeout.clone(),
            storage: self.storage.clone().unwrap_or(Value::Null),
            resources: Value::Null,
            labels: BTreeMap::new(),
            workspace: None,
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
    let now = st.now();
    let mut sb = Sandbox {
        name: new.name.clone(),
        namespace: new.namespace.clone(),
        phase: String::new(),
        message: String::new(),
        template: new.template,
        resolved_template: String::new(),
        mode,
        created_at: st.clock.wall(now),
        created_by: CreatedBy::of(owner),
        started_at: None,
        last_activity: None,
        pod_name: String::new(),
        pvc_name: String::new(),
        pending: VecDeque::new(),
        deleting_until: None,
        visible_at: now + st.cfg.visibility_lag,
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
    st.notify();
    Ok(key)
}

/// DELETE: accepted now, gone once the finalizer delay has passed.
pub(crate) fn start_delete(st: &mut State, key: &Key) {
    let until = st.now() + st.cfg.finalizer_delay;
    let sb = st.sb_mut(key);
    sb.pending.clear();
    if sb.deleting_until.is_none() {
        sb.deleting_until = Some(until);
    }
    st.notify();
}

/// Stop; the error is the 409 (or bulk per-item) message.
pub(crate) fn stop(st: &mut State, key: &Key) -> Result<(), String> {
    let at = st.now() + st.cfg.creating_delay / 3;
    let sb = st.sb_mut(key);
    if sb.phase != "Running" {
        return Err(format!("cannot stop sandbox in phase {}", sb.phase));
    }
    sb.pending.clear();
    sb.pending.push_back(Transition {
        at,
        phase: "Stopped",
        message: "User requested stop".to_string(),
    });
    st.notify();
    Ok(())
}

/// Resume; the error is the 409 (or bulk per-item) message.
pub(crate) fn resume(st: &mut State, key: &Key) -> Result<(), String> {
    let at = st.now() + st.cfg.creating_delay;
    let sb = st.sb_mut(key);
    if sb.phase != "Stopped" && sb.phase != "Error" {
        return Err(format!("cannot resume sandbox in phase {}", sb.phase));
    }
    // The Router writes the status itself; the controller then rebuilds the pod.
    sb.phase = "Creating".to_string();
    sb.message = "Resuming".to_string();
    sb.pending.clear();
    sb.pending.push_back(Transition {
        at,
        phase: "Running",
        message: String::new(),
    });
    st.notify();
    Ok(())
}

const NAME_RULE: &str = "name must match RFC 1123 label rules: lowercase alphanumeric or '-', start/end alphanumeric, max 63 chars";

/// The `name` of clone's and restore's optional `{name?}` body (`None` when the request has
/// no sized body, which the Router does not read), or `default`. The error is the 400 message.
pub(crate) fn target_name(body: Option<&[u8]>, default: String) -> Result<String, String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct NameBody {
        name: String,
    }
    let body: NameBody = match body {
        Some(b) => wire::decode(b).map_err(|e| format!("invalid request body: {e}"))?,
        None => NameBody::default(),
    };
    let name = match body.name.trim() {
        "" => default,
        n => n.to_string(),
    };
    if wire::is_rfc1123_label(&name) {
        Ok(name)
    } else {
        Err(NAME_RULE.to_string())
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

/// A snapshot of `src` (kind `scheduled-backup` or `clone`), ready after the creating delay.
pub(crate) fn new_snapshot(
    st: &State,
    src: &Sandbox,
    name: String,
    kind: &'static str,
    content: Workspace,
) -> Snapshot {
    let now = st.now();
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
        created_at: st.clock.wall(now),
        ready_at: now + st.cfg.creating_delay,
        size: src
            .storage
            .get("size")
            .and_then(Value::as_str)
            .unwrap_or("10Gi")
            .to_string(),
        content,
    }
}
