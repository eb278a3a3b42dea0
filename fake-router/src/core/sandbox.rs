//! One Sandbox object: its spec, its status, and the controller's phase changes
//! (the `SandboxSummary` schema in openapi.yaml).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::clock::Tick;
use super::identity::{Caller, FakeIdentity};
use super::wire;
use super::workspace::Workspace;

/// A scheduled phase change.
#[derive(Clone, Debug)]
pub(crate) struct Transition {
    pub at: Tick,
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

impl CreatedBy {
    /// The identity recorded as `spec.createdBy`.
    pub(crate) fn of(id: &FakeIdentity) -> CreatedBy {
        CreatedBy {
            sub: id.sub.clone(),
            email: id.email.clone(),
            display_name: id.name.clone(),
        }
    }
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
    /// Set by DELETE: the finalizer finishes (and the object disappears) at this point.
    pub deleting_until: Option<Tick>,
    /// Before this point GET answers 404 and lists leave it out (the visibility lag).
    pub visible_at: Tick,
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
        now: Tick,
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

    /// The next point at which the controller changes something here, if any.
    pub(crate) fn next_due(&self) -> Option<Tick> {
        match (self.pending.front().map(|t| t.at), self.deleting_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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
