//! The emulator's state: sandboxes and their lifecycle clock, templates, snapshots, keys,
//! policies, events, plus the test-facing knobs (rules, faults, recorded requests).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::{ApiKey, Caller, FakeAuth, FakeIdentity};
use super::exec::ExecRule;
use super::faults::{ArmedFault, RecordedRequest};
use super::files::Workspace;
use super::wire;
use super::{InvocationOutcome, InvocationRecord};

/// Settings fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub creating_delay: Duration,
    pub finalizer_delay: Duration,
    pub upload_limit: usize,
    pub local_exec: bool,
    pub auth: FakeAuth,
    pub keepalive: Duration,
    /// The Router's own sandbox namespace (`SANDBOX_NAMESPACE`).
    pub namespace: String,
}

/// Everything behind one lock.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Shared {
            state: Mutex::new(state),
        }
    }

    /// Lock the state and bring the lifecycle clock up to date. Never held across `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tick(Instant::now());
        st
    }
}

/// A scheduled phase change.
#[derive(Clone, Debug)]
pub(crate) struct Transition {
    pub at: Instant,
    pub phase: &'static str,
    pub message: String,
}

/// `spec.createdBy`.
#[derive(Clone, Debug)]
pub(crate) struct CreatedBy {
    pub sub: String,
    pub email: String,
    pub display_name: String,
}

/// One share-link record.
#[derive(Clone, Debug)]
pub(crate) struct ShareLink {
    pub id: String,
    pub level: String,
    pub expires_at: Option<SystemTime>,
    pub max_uses: i64,
}

/// `spec.sharing`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sharing {
    pub users: Vec<(String, String)>,
    pub groups: Vec<(String, String)>,
    pub links: Vec<ShareLink>,
    /// Whether the sandbox has a sharing block at all (revoke emits an event only then).
    pub present: bool,
}

/// `status.agentConfigure` plus the install log.
#[derive(Clone, Debug, Default)]
pub(crate) struct AgentState {
    pub entrypoint: Vec<String>,
    pub hash: String,
    pub install_log: Option<Vec<u8>>,
    pub max_concurrent: u32,
    pub default_timeout: Option<Duration>,
}

/// One Sandbox object.
pub(crate) struct Sandbox {
    pub name: String,
    pub namespace: String,
    pub phase: String,
    pub message: String,
    /// `spec.templateRef.name`.
    pub template: String,
    /// `status.resolvedTemplate`.
    pub resolved_template: String,
    pub mode: String,
    pub created_at: SystemTime,
    pub created_by: CreatedBy,
    pub started_at: Option<SystemTime>,
    pub last_activity: Option<SystemTime>,
    pub pod_name: String,
    pub pvc_name: String,
    pub pending: VecDeque<Transition>,
    /// Set by DELETE: the finalizer finishes (and the object disappears) at this instant.
    pub deleting_until: Option<Instant>,
    pub timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub storage: Value,
    pub resources: Value,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub sharing: Sharing,
    /// Forwarded ports: port → protocol as requested.
    pub ports: BTreeMap<i64, String>,
    pub agent: AgentState,
    pub workspace: Workspace,
}

impl Sandbox {
    /// `sandboxToJSON`: keys come out sorted (a Go map).
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "sandboxId": self.name,
            "name": self.name,
            "namespace": self.namespace,
            "status": self.phase,
            "podName": self.pod_name,
            "pvcName": self.pvc_name,
            "templateRef": self.resolved_template,
            "mode": self.mode,
            "createdAt": wire::go_time_string(self.created_at),
            "message": self.message,
            "createdBy": {"email": self.created_by.email, "displayName": self.created_by.display_name},
        });
        if let Some(t) = self.last_activity {
            v["lastActivityAt"] = wire::go_time_string(t).into();
        }
        v
    }

    /// Enter a phase at wall time `at`, with the controller's side effects. Returns the
    /// Kubernetes Event (reason, message) it emits, if any.
    pub(crate) fn enter(
        &mut self,
        phase: &str,
        message: &str,
        at: SystemTime,
    ) -> Option<(&'static str, String)> {
        self.phase = phase.to_string();
        self.message = message.to_string();
        match phase {
            "Creating" => {
                self.pod_name = self.name.clone();
                if self.resolved_template.is_empty() {
                    self.resolved_template = self.template.clone();
                }
                Some(("Creating", "Creating sandbox pod".to_string()))
            }
            "Running" => {
                self.pod_name = self.name.clone();
                self.pvc_name = format!("{}-workspace", self.name);
                if self.resolved_template.is_empty() {
                    self.resolved_template = self.template.clone();
                }
                self.started_at = Some(at);
                self.last_activity = Some(at);
                self.message.clear();
                Some(("Running", "Sandbox is running".to_string()))
            }
            "Stopped" => {
                self.pod_name.clear();
                Some(("Stopped", message.to_string()))
            }
            "Error" => {
                self.pod_name.clear();
                Some(("Error", message.to_string()))
            }
            _ => None,
        }
    }

    /// Schedule the controller's start: `""` for a third of `delay`, then `Creating`, then
    /// `Running` once `delay` has passed (or `Error` when the template cannot be resolved).
    pub(crate) fn schedule_start(
        &mut self,
        now: Instant,
        delay: Duration,
        resolve_error: Option<String>,
    ) {
        self.pending.clear();
        let first = now + delay / 3;
        match resolve_error {
            Some(msg) => self.pending.push_back(Transition {
                at: first,
                phase: "Error",
                message: msg,
            }),
            None => {
                self.pending.push_back(Transition {
                    at: first,
                    phase: "Creating",
                    message: String::new(),
                });
                self.pending.push_back(Transition {
                    at: now + delay,
                    phase: "Running",
                    message: String::new(),
                });
            }
        }
    }

    /// Whether the caller may read it (owner, admin, shared user or group).
    pub(crate) fn readable_by(&self, caller: &Caller) -> bool {
        if self.created_by.sub == caller.sub() || caller.is_admin() {
            return true;
        }
        let id = &caller.id;
        self.sharing
            .users
            .iter()
            .any(|(who, _)| *who == id.sub || *who == id.email)
            || self.sharing.groups.iter().any(|(g, _)| {
                id.groups
                    .as_ref()
                    .is_some_and(|gs| gs.iter().any(|x| x == g))
            })
    }
}

/// A VolumeSnapshot (backup or clone source).
pub(crate) struct Snapshot {
    pub name: String,
    pub namespace: String,
    /// `agenttier.io/source-sandbox` (clone snapshots).
    pub source_sandbox: String,
    /// `agenttier.io/source-pvc` (backups).
    pub source_pvc: String,
    pub kind: &'static str,
    pub created_at: SystemTime,
    pub ready_at: Instant,
    pub size: String,
    pub content: Workspace,
}

impl Snapshot {
    /// Whether the snapshot belongs to this sandbox (as backup listing and restore see it).
    pub(crate) fn belongs_to(&self, sb: &Sandbox) -> bool {
        self.namespace == sb.namespace
            && ((self.kind == "clone" && self.source_sandbox == sb.name)
                || (self.kind == "scheduled-backup"
                    && !sb.pvc_name.is_empty()
                    && self.source_pvc == sb.pvc_name))
    }

    pub(crate) fn to_json(&self, now: Instant) -> Value {
        let ready = now >= self.ready_at;
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("createdAt".into(), wire::rfc3339(self.created_at).into());
        m.insert("kind".into(), self.kind.into());
        m.insert("readyToUse".into(), ready.into());
        if ready {
            m.insert("restoreSize".into(), self.size.clone().into());
        }
        Value::Object(m)
    }
}

/// A ClusterSandboxTemplate.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub spec: Value,
    pub resource_version: u64,
}

impl Template {
    pub(crate) fn to_json(&self, name: &str) -> Value {
        json!({
            "name": name,
            "description": wire::str_field(&self.spec, "description"),
            "image": self.spec.get("image").map(|i| wire::str_field(i, "repository")).unwrap_or(""),
            "resourceVersion": self.resource_version.to_string(),
            "spec": if self.spec.is_null() { json!({}) } else { self.spec.clone() },
        })
    }

    pub(crate) fn mode(&self) -> &str {
        match wire::str_field(&self.spec, "mode") {
            "" => "code",
            m => m,
        }
    }

    /// `spec.harness.agent.<field>`.
    pub(crate) fn agent_field(&self, field: &str) -> Option<&Value> {
        self.spec.get("harness")?.get("agent")?.get(field)
    }
}

/// A governance policy (every field omitempty, in the Router's field order).
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

/// A webhook subscription.
#[derive(Clone, Debug)]
pub(crate) struct Webhook {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: SystemTime,
    pub sandbox_id: String,
    pub namespace: String,
    pub owner: String,
}

/// An audit (Kubernetes) event.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEvent {
    pub timestamp: String,
    pub event_type: String,
    pub sandbox_id: String,
    pub sandbox_name: String,
    pub namespace: String,
    pub user_email: String,
    pub details: AuditDetails,
}

/// `details` of an audit event.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AuditDetails {
    pub reason: String,
}

/// An invoke in flight on this "replica".
pub(crate) struct InFlight {
    pub namespace: String,
    pub sandbox: String,
    pub owner: String,
    pub cancel: watch::Sender<bool>,
}

/// The headroom Deployment.
#[derive(Clone, Debug)]
pub(crate) struct Headroom {
    pub replicas: i64,
    pub cpu: String,
    pub memory: String,
}

/// Sandbox key: (namespace, name).
pub(crate) type Key = (String, String);

/// The whole emulated cluster plus the test knobs.
pub(crate) struct State {
    pub cfg: Config,
    pub sandboxes: BTreeMap<Key, Sandbox>,
    pub templates: BTreeMap<String, Template>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub cluster_policy: Option<Policy>,
    pub ns_policies: BTreeMap<String, Policy>,
    /// By SHA-256 of the key.
    pub api_keys: BTreeMap<String, ApiKey>,
    pub preferences: HashMap<String, Value>,
    pub warm_pools: Vec<(String, i64)>,
    pub headroom: Headroom,
    pub audit: Vec<AuditEvent>,
    pub exec_rules: Vec<ExecRule>,
    pub faults: Vec<ArmedFault>,
    pub requests: VecDeque<RecordedRequest>,
    pub latency: Duration,
    pub invocations: Vec<InvocationRecord>,
    pub inflight: HashMap<String, InFlight>,
    pub next_resource_version: u64,
}

const MAX_AUDIT_EVENTS: usize = 1000;
/// The request log keeps the most recent requests only (a long-running example server would
/// otherwise grow without bound).
pub(crate) const MAX_RECORDED_REQUESTS: usize = 10_000;

impl State {
    pub(crate) fn new(cfg: Config) -> Self {
        State {
            cfg,
            sandboxes: BTreeMap::new(),
            templates: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            cluster_policy: None,
            ns_policies: BTreeMap::new(),
            api_keys: BTreeMap::new(),
            preferences: HashMap::new(),
            warm_pools: Vec::new(),
            headroom: Headroom {
                replicas: 0,
                cpu: "1".to_string(),
                memory: "1Gi".to_string(),
            },
            audit: Vec::new(),
            exec_rules: Vec::new(),
            faults: Vec::new(),
            requests: VecDeque::new(),
            latency: Duration::ZERO,
            invocations: Vec::new(),
            inflight: HashMap::new(),
            next_resource_version: 1000,
        }
    }

    pub(crate) fn record(&mut self, req: RecordedRequest) {
        if self.requests.len() >= MAX_RECORDED_REQUESTS {
            self.requests.pop_front();
        }
        self.requests.push_back(req);
    }

    pub(crate) fn bump_version(&mut self) -> u64 {
        self.next_resource_version += 1;
        self.next_resource_version
    }

    /// Record a Kubernetes Event for a sandbox (what `/audit/events` lists).
    pub(crate) fn event(
        &mut self,
        at: SystemTime,
        namespace: &str,
        sandbox: &str,
        reason: &str,
        message: &str,
    ) {
        if self.audit.len() >= MAX_AUDIT_EVENTS {
            self.audit.remove(0);
        }
        self.audit.push(AuditEvent {
            timestamp: wire::rfc3339_nano(at),
            event_type: reason.to_string(),
            sandbox_id: sandbox.to_string(),
            sandbox_name: sandbox.to_string(),
            namespace: namespace.to_string(),
            user_email: String::new(),
            details: AuditDetails {
                reason: message.to_string(),
            },
        });
    }

    /// Apply every phase change and finalizer that is due.
    pub(crate) fn tick(&mut self, now: Instant) {
        let wall_now = SystemTime::now();
        let mut events = Vec::new();
        let mut gone = Vec::new();
        for (key, sb) in self.sandboxes.iter_mut() {
            while sb.pending.front().is_some_and(|t| t.at <= now) {
                let Some(t) = sb.pending.pop_front() else {
                    break;
                };
                let at = wall_now - now.saturating_duration_since(t.at);
                if let Some((reason, msg)) = sb.enter(t.phase, &t.message, at) {
                    events.push((at, key.clone(), reason, msg));
                }
            }
            if sb.deleting_until.is_some_and(|d| d <= now) {
                gone.push(key.clone());
            }
        }
        for (at, (ns, name), reason, msg) in events {
            self.event(at, &ns, &name, reason, &msg);
        }
        for key in gone {
            self.sandboxes.remove(&key);
            self.event(wall_now, &key.0, &key.1, "Deleted", "Sandbox deleted");
            // Scoped keys die with their sandbox (the controller's finalizer).
            self.api_keys.retain(|_, k| k.sandbox_id != key.1);
        }
    }

    /// `resolveSandbox`: the Router's namespace first, then cluster-wide by name.
    pub(crate) fn resolve(&self, id: &str) -> Result<Key, String> {
        let own = (self.cfg.namespace.clone(), id.to_string());
        if self.sandboxes.contains_key(&own) {
            return Ok(own);
        }
        let found: Vec<&Key> = self.sandboxes.keys().filter(|(_, n)| n == id).collect();
        match found.as_slice() {
            [] => Err(format!("sandbox {id} not found")),
            [one] => Ok((*one).clone()),
            _ => Err(format!(
                "sandbox {id} exists in multiple namespaces; specify ?namespace=<ns>"
            )),
        }
    }

    /// `getSandboxWithAuthCheck`: owner or admin.
    pub(crate) fn owned(&self, caller: &Caller, id: &str) -> Result<Key, String> {
        let key = self.resolve(id)?;
        let sb = &self.sandboxes[&key];
        if caller.is_admin() || sb.created_by.sub == caller.sub() {
            Ok(key)
        } else {
            Err(format!("access denied to sandbox {id}"))
        }
    }

    pub(crate) fn sb(&self, key: &Key) -> &Sandbox {
        &self.sandboxes[key]
    }

    pub(crate) fn sb_mut(&mut self, key: &Key) -> &mut Sandbox {
        self.sandboxes
            .get_mut(key)
            .expect("sandbox key resolved under the same lock")
    }

    /// The effective policy for a namespace (router-api.md §4.12 merge rule).
    pub(crate) fn effective_policy(&self, namespace: &str) -> Policy {
        let cluster = self.cluster_policy.clone().unwrap_or_default();
        let Some(ns) = self.ns_policies.get(namespace) else {
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
        // Agent fields always come from the cluster policy.
        p.max_agent_sandboxes = cluster.max_agent_sandboxes;
        p.allowed_agent_images = cluster.allowed_agent_images;
        p.max_concurrent_invokes_per_sandbox = cluster.max_concurrent_invokes_per_sandbox;
        p
    }

    /// Number of in-flight invokes for a sandbox name (the Router keys them by name).
    pub(crate) fn inflight_for(&self, sandbox: &str) -> usize {
        self.inflight
            .values()
            .filter(|f| f.sandbox == sandbox)
            .count()
    }

    /// Update the record of an invocation.
    pub(crate) fn finish_invocation(
        &mut self,
        invoke_id: &str,
        outcome: InvocationOutcome,
        exit_code: i32,
    ) {
        self.inflight.remove(invoke_id);
        if let Some(r) = self
            .invocations
            .iter_mut()
            .find(|r| r.invoke_id == invoke_id)
        {
            r.outcome = outcome;
            r.exit_code = Some(exit_code);
        }
    }
}

/// The identity recorded as `spec.createdBy`.
pub(crate) fn created_by(id: &FakeIdentity) -> CreatedBy {
    CreatedBy {
        sub: id.sub.clone(),
        email: id.email.clone(),
        display_name: id.name.clone(),
    }
}
