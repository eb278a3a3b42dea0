//! The emulated cluster behind one lock: sandboxes and their lifecycle, templates, snapshots,
//! keys, policies, events, plus the command rules and invocation records tests read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::clock::{Clock, Tick};
use super::config::Config;
use super::exec::ExecRule;
use super::identity::{ApiKey, Caller};
use super::invocations::{InvocationOutcome, InvocationRecord};
use super::metrics::Metrics;
use super::policy::Policy;
use super::sandbox::Sandbox;
use super::terminal::TerminalStats;
use super::wire;
use super::workspace::Workspace;

/// Everything behind one lock.
pub(crate) struct Shared {
    state: Mutex<State>,
}

/// A receiver woken whenever a phase changes, a sandbox appears or disappears, or an
/// invocation ends.
pub(crate) type Changes = watch::Receiver<u64>;

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Shared {
            state: Mutex::new(state),
        }
    }

    /// Lock the state and bring the lifecycle up to date. Never held across `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tick();
        st
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
    pub ready_at: Tick,
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

    /// The `Backup` wire shape; `restoreSize` only once the snapshot is ready.
    pub(crate) fn to_json(&self, now: Tick) -> Value {
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
    /// `TemplateJSON`.
    pub(crate) fn to_json(&self, name: &str) -> Value {
        json!({
            "name": name,
            "description": wire::str_field(&self.spec, "description"),
            "image": self.spec.get("image").map(|i| wire::str_field(i, "repository")).unwrap_or(""),
            "resourceVersion": self.resource_version.to_string(),
            "spec": if self.spec.is_null() { json!({}) } else { self.spec.clone() },
        })
    }

    /// `spec.mode`, `code` when unset.
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

    /// `spec.image.repository`, `""` when unset.
    pub(crate) fn image(&self) -> &str {
        self.spec
            .get("image")
            .map(|i| wire::str_field(i, "repository"))
            .unwrap_or("")
    }
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

/// The whole emulated cluster plus the test knobs that handlers read.
pub(crate) struct State {
    pub cfg: Config,
    pub clock: Clock,
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
    pub invocations: Vec<InvocationRecord>,
    pub inflight: HashMap<String, InFlight>,
    /// What `GET /metrics` reports.
    pub metrics: Metrics,
    pub next_resource_version: u64,
    /// What the terminal sessions of each sandbox did (by sandbox name).
    pub terminals: HashMap<String, TerminalStats>,
    /// Bumped on every change [`Changes`] receivers wait for.
    changes: watch::Sender<u64>,
}

const MAX_AUDIT_EVENTS: usize = 1000;

impl State {
    pub(crate) fn new(cfg: Config) -> Self {
        let clock = if cfg.manual_clock {
            Clock::manual()
        } else {
            Clock::real()
        };
        State {
            cfg,
            clock,
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
            invocations: Vec::new(),
            inflight: HashMap::new(),
            metrics: Metrics::default(),
            next_resource_version: 1000,
            terminals: HashMap::new(),
            changes: watch::Sender::new(0),
        }
    }

    /// Wake every [`Changes`] receiver.
    pub(crate) fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver for the next change; subscribe under the lock, then check, then wait, and
    /// no change is missed.
    pub(crate) fn subscribe(&self) -> Changes {
        self.changes.subscribe()
    }

    /// The current point on the lifecycle clock.
    pub(crate) fn now(&self) -> Tick {
        self.clock.now()
    }

    /// The wall time stamped on what happens now.
    pub(crate) fn wall_now(&self) -> SystemTime {
        self.clock.wall_now()
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

    /// Record an event stamped now.
    pub(crate) fn event_now(&mut self, key: &Key, reason: &str, message: &str) {
        let at = self.wall_now();
        self.event(at, &key.0, &key.1, reason, message);
    }

    /// Apply every phase change and finalizer that is due, earliest first (ties in name
    /// order), each stamped with the time it fell due.
    pub(crate) fn tick(&mut self) {
        let now = self.now();
        let mut changed = false;
        loop {
            let next = self
                .sandboxes
                .iter()
                .filter_map(|(key, sb)| sb.next_due().filter(|t| *t <= now).map(|t| (t, key)))
                .min();
            let Some((at, key)) = next.map(|(at, key)| (at, key.clone())) else {
                break;
            };
            changed = true;
            let wall = self.clock.wall(at);
            let sb = self.sb_mut(&key);
            let transition = sb.pending.front().is_some_and(|t| t.at <= at);
            if let Some(t) = transition.then(|| sb.pending.pop_front()).flatten() {
                if let Some((reason, msg)) = sb.enter(t.phase, &t.message, wall) {
                    self.event(wall, &key.0, &key.1, reason, &msg);
                }
            } else {
                self.sandboxes.remove(&key);
                self.event(wall, &key.0, &key.1, "Deleted", "Sandbox deleted");
                // Scoped keys die with their sandbox (the controller's finalizer).
                self.api_keys.retain(|_, k| k.sandbox_id != key.1);
            }
        }
        if changed {
            self.notify();
        }
    }

    /// Move the clock forward and apply what falls due.
    pub(crate) fn advance(&mut self, by: std::time::Duration) {
        self.clock.advance(by);
        self.tick();
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

    /// Whether reads (GET, lists) see the sandbox yet (the visibility lag has passed).
    pub(crate) fn visible(&self, sb: &Sandbox) -> bool {
        self.now() >= sb.visible_at
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

    /// The effective policy for a namespace (the merge rule `getEffectivePolicy` describes in openapi.yaml).
    pub(crate) fn effective_policy(&self, namespace: &str) -> Policy {
        Policy::merged(
            self.cluster_policy.as_ref(),
            self.ns_policies.get(namespace),
        )
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
        client_disconnected: bool,
    ) {
        self.inflight.remove(invoke_id);
        if let Some(r) = self
            .invocations
            .iter_mut()
            .find(|r| r.invoke_id == invoke_id)
        {
            r.outcome = outcome;
            r.exit_code = Some(exit_code);
            r.client_disconnected = client_disconnected;
        }
        self.notify();
    }
}
