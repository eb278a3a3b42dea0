//! Changing a sandbox in place (`PATCH`) and cloning it.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use super::Sandbox;
use crate::operations::op;
use crate::types::{
    CloneSandboxRequest, CloneSandboxResponse, PatchSandboxRequest, PatchSandboxResponse,
    ResourceRequirements,
};
use crate::{Error, Result, wire};

impl Sandbox {
    /// Starts a change to this sandbox (`PATCH /api/v1/sandboxes/{id}`). Set at least one
    /// field, then await the builder (or call [`UpdateSandbox::send`]).
    ///
    /// When each change takes effect (the response's `applied` map says the same, for the
    /// fields sent):
    ///
    /// | field | effect |
    /// | --- | --- |
    /// | idle timeout | `immediately` |
    /// | labels, annotations | `immediately`; **merged** into the existing ones (a key cannot be removed) |
    /// | resources | `on-restart`: **replaces** the whole requirements, effective after [`Sandbox::stop`] + [`Sandbox::resume`]; `restart_required` is then true |
    ///
    /// Any phase is accepted (a Stopped sandbox can be changed). Governance checks CPU/memory
    /// limits and timeouts (a breach is [`Error::PolicyViolation`]). The Router cannot show the
    /// result: [`Sandbox::status`] does not include these fields. A PATCH is never retried.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let res = sb
    ///     .update()
    ///     .idle_timeout(Duration::from_secs(2 * 3600))
    ///     .cpu_limit("2")
    ///     .memory_limit("4Gi")
    ///     .label("team", "search")
    ///     .await?;
    /// if res.restart_required {
    ///     sb.stop().await?; // the resources apply on the next resume
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "updateSandbox")]
    pub fn update(&self) -> UpdateSandbox {
        UpdateSandbox {
            sandbox: self.clone(),
            idle_timeout: None,
            resources: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Starts a clone of this sandbox: its workspace is snapshotted (a VolumeSnapshot) and a
    /// new sandbox with the same spec is made from it. Await the builder (or call
    /// [`CloneSandbox::send`]) to get a handle for the new sandbox. (Named `clone_sandbox`
    /// because `Sandbox` is `Clone`.)
    ///
    /// The Router answers before the copy exists: wait with [`Sandbox::wait_until_running`]
    /// (the volume waits for the snapshot, often 30-90 s). The source needs a volume (a
    /// never-started sandbox answers 400). Governance is not checked again on clone. Not
    /// retried: a repeated clone would make a second copy.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let cloned = sb.clone_sandbox().name("demo-copy").await?;
    /// cloned.sandbox.wait_until_running().await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "cloneSandbox")]
    pub fn clone_sandbox(&self) -> CloneSandbox {
        CloneSandbox {
            sandbox: self.clone(),
            name: None,
            snapshot_class: None,
        }
    }
}

/// A change to a sandbox being built. See [`Sandbox::update`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let res = sb.update().label("team", "search").annotation("example.com/ticket", "OPS-42").await?;
/// println!("{:?}", res.applied);
/// # Ok(()) }
/// ```
#[must_use = "an UpdateSandbox does nothing until awaited or sent"]
#[derive(Clone, Debug)]
pub struct UpdateSandbox {
    sandbox: Sandbox,
    idle_timeout: Option<Duration>,
    resources: Option<ResourceRequirements>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl UpdateSandbox {
    /// The new idle timeout (positive; sent as a Go duration such as `1h30m`). Applies at once.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().idle_timeout(std::time::Duration::from_secs(45 * 60)).await?;
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    /// The new resource requirements. They **replace** the current ones as a whole (limits
    /// and requests left out are dropped) and apply after a stop and resume. An empty value
    /// clears them.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::types::ResourceRequirements;
    /// let mut r = ResourceRequirements::default();
    /// r.limits.insert("cpu".into(), "4".into());
    /// r.requests.insert("cpu".into(), "1".into());
    /// sb.update().resources(r).await?;
    /// # Ok(()) }
    /// ```
    pub fn resources(mut self, resources: ResourceRequirements) -> Self {
        self.resources = Some(resources);
        self
    }

    fn resource(
        mut self,
        kind: fn(&mut ResourceRequirements) -> &mut BTreeMap<String, String>,
        name: &str,
        quantity: String,
    ) -> Self {
        let r = self.resources.get_or_insert_with(Default::default);
        kind(r).insert(name.to_owned(), quantity);
        self
    }

    /// Sets the CPU limit (a Kubernetes quantity: `2`, `500m`) in the resources sent. The
    /// resources replace the current ones as a whole: set every limit and request you want.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().cpu_limit("2").memory_limit("4Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn cpu_limit(self, quantity: impl Into<String>) -> Self {
        self.resource(|r| &mut r.limits, "cpu", quantity.into())
    }

    /// Sets the memory limit (`4Gi`, `512Mi`) in the resources sent. See
    /// [`UpdateSandbox::cpu_limit`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().memory_limit("8Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn memory_limit(self, quantity: impl Into<String>) -> Self {
        self.resource(|r| &mut r.limits, "memory", quantity.into())
    }

    /// Sets the CPU request in the resources sent. See [`UpdateSandbox::cpu_limit`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().cpu_request("500m").cpu_limit("2").await?;
    /// # Ok(()) }
    /// ```
    pub fn cpu_request(self, quantity: impl Into<String>) -> Self {
        self.resource(|r| &mut r.requests, "cpu", quantity.into())
    }

    /// Sets the memory request in the resources sent. See [`UpdateSandbox::cpu_limit`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().memory_request("1Gi").memory_limit("4Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn memory_request(self, quantity: impl Into<String>) -> Self {
        self.resource(|r| &mut r.requests, "memory", quantity.into())
    }

    /// Labels to merge into the sandbox's labels (added to any set with
    /// [`UpdateSandbox::label`]). Keys and values must be valid Kubernetes labels.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::collections::BTreeMap;
    /// let labels = BTreeMap::from([("team".to_owned(), "search".to_owned())]);
    /// sb.update().labels(labels).await?;
    /// # Ok(()) }
    /// ```
    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels.extend(labels);
        self
    }

    /// One label to merge into the sandbox's labels.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().label("example.com/owner", "ci").await?;
    /// # Ok(()) }
    /// ```
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Annotations to merge into the sandbox's annotations. Keys must be valid Kubernetes
    /// keys; values are free text.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::collections::BTreeMap;
    /// let notes = BTreeMap::from([("example.com/ticket".to_owned(), "OPS-42".to_owned())]);
    /// sb.update().annotations(notes).await?;
    /// # Ok(()) }
    /// ```
    pub fn annotations(mut self, annotations: BTreeMap<String, String>) -> Self {
        self.annotations.extend(annotations);
        self
    }

    /// One annotation to merge into the sandbox's annotations.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.update().annotation("example.com/purpose", "nightly eval").await?;
    /// # Ok(()) }
    /// ```
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    fn into_request(self) -> Result<(Sandbox, PatchSandboxRequest)> {
        if self.idle_timeout.is_none()
            && self.resources.is_none()
            && self.labels.is_empty()
            && self.annotations.is_empty()
        {
            return Err(Error::invalid(
                "update",
                "set at least one of idle_timeout, resources, labels, annotations",
            ));
        }
        let idle_timeout = self
            .idle_timeout
            .map(|d| wire::go_duration("idle_timeout", d))
            .transpose()?;
        if let Some(r) = &self.resources {
            for (name, quantity) in r.limits.iter().chain(&r.requests) {
                wire::non_empty("resources", name)?;
                wire::non_empty("resources", quantity)?;
            }
        }
        for (key, value) in &self.labels {
            label_key("labels", key)?;
            label_value(value)?;
        }
        for key in self.annotations.keys() {
            label_key("annotations", key)?;
        }
        let total: usize = self
            .annotations
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if total > MAX_ANNOTATIONS_SIZE {
            return Err(Error::invalid(
                "annotations",
                format!(
                    "{total} bytes of keys and values; Kubernetes accepts at most {MAX_ANNOTATIONS_SIZE} in total"
                ),
            ));
        }
        let request = PatchSandboxRequest {
            idle_timeout,
            resources: self.resources,
            labels: self.labels,
            annotations: self.annotations,
        };
        Ok((self.sandbox, request))
    }

    /// Sends the change. Fails with [`Error::InvalidInput`], before any request, when no field
    /// is set or a value is malformed.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let res = sb.update().label("tier", "gold").send().await?;
    /// assert_eq!(res.applied.get("labels").map(String::as_str), Some("immediately"));
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<PatchSandboxResponse> {
        let (sb, request) = self.into_request()?;
        let c = &sb.client;
        c.json::<crate::types::PatchSandboxResponse>(
            c.call(&crate::operations::op::UPDATE_SANDBOX, &[&sb.id])?
                .json(&request)?,
        )
        .await
    }
}

impl IntoFuture for UpdateSandbox {
    type Output = Result<PatchSandboxResponse>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<PatchSandboxResponse>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A clone being built. See [`Sandbox::clone_sandbox`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let cloned = sb.clone_sandbox().name("demo-copy").snapshot_class("csi-aws-vsc").await?;
/// cloned.sandbox.wait_until_running().await?;
/// # Ok(()) }
/// ```
#[must_use = "a CloneSandbox does nothing until awaited or sent"]
#[derive(Clone, Debug)]
pub struct CloneSandbox {
    sandbox: Sandbox,
    name: Option<String>,
    snapshot_class: Option<String>,
}

impl CloneSandbox {
    /// The new sandbox's name, an RFC 1123 label (default `<source>-clone-<unix seconds>`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let copy = sb.clone_sandbox().name("experiment-2").await?;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The VolumeSnapshotClass to snapshot with (default: the cluster's).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let copy = sb.clone_sandbox().snapshot_class("csi-aws-vsc").await?;
    /// # Ok(()) }
    /// ```
    pub fn snapshot_class(mut self, class: impl Into<String>) -> Self {
        self.snapshot_class = Some(class.into());
        self
    }

    /// Sends the clone: the new sandbox's handle (named by the Router's answer, which has no
    /// `sandboxId`) and the answer itself (snapshot, source, message).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let cloned = sb.clone_sandbox().send().await?;
    /// println!("cloning into {} from snapshot {}", cloned.sandbox.id(), cloned.response.snapshot);
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Cloned> {
        if let Some(name) = &self.name {
            wire::rfc1123_label("name", name)?;
        }
        if let Some(class) = &self.snapshot_class {
            wire::non_empty("snapshot_class", class)?;
        }
        // The Router reads this optional body only when Content-Length > 0; the generated
        // operation always sends sized JSON (`{}` when nothing is set).
        let request = CloneSandboxRequest {
            name: self.name,
            snapshot_class: self.snapshot_class,
        };
        let c = &self.sandbox.client;
        let response = c
            .json::<CloneSandboxResponse>(
                c.call(&op::CLONE_SANDBOX, &[&self.sandbox.id])?
                    .json(&request)?,
            )
            .await?;
        Ok(Cloned {
            sandbox: handle(c, &response.name, &response.namespace)?,
            response,
        })
    }
}

/// A clone the Router accepted: a handle for the new sandbox (wait for it with
/// [`Sandbox::wait_until_running`]: its volume waits for the snapshot) and the Router's answer.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let cloned = sb.clone_sandbox().name("demo-copy").await?;
/// println!("{}", cloned.response.message);
/// cloned.sandbox.wait_until_running().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Cloned {
    /// The new sandbox.
    pub sandbox: Sandbox,
    /// What the Router answered (`phase` is `Pending`, which is not a real phase).
    pub response: CloneSandboxResponse,
}

impl IntoFuture for CloneSandbox {
    type Output = Result<Cloned>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Cloned>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A handle for a sandbox the Router has just accepted to make (clone, restore): named by the
/// answer's `name`, in the answer's namespace.
pub(super) fn handle(client: &crate::Client, name: &str, namespace: &str) -> Result<Sandbox> {
    let mut sb = client.sandbox(name)?;
    sb.namespace = (!namespace.is_empty()).then(|| std::sync::Arc::from(namespace));
    Ok(sb)
}

/// Kubernetes' limit on all of an object's annotations together (keys and values), in bytes.
const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;

/// A Kubernetes label or annotation key: an optional DNS-subdomain prefix and `/`, then a
/// name of at most 63 characters (alphanumerics, `-`, `_`, `.`, alphanumeric at both ends).
/// Kubernetes refuses anything else and the Router reports that as an opaque 500.
fn label_key(field: &'static str, key: &str) -> Result<()> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253 && p.split('.').all(|l| wire::rfc1123_label(field, l).is_ok())
    });
    if prefix_ok && label_name(name) && !name.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{key:?} is not a Kubernetes key ([prefix/]name: name of 1-63 alphanumerics, '-', '_', '.', alphanumeric at both ends; prefix a DNS subdomain)"
            ),
        ))
    }
}

/// A label value: empty, or the same form as a key's name part.
fn label_value(value: &str) -> Result<()> {
    if label_name(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            "labels",
            format!(
                "value {value:?} is not a Kubernetes label value (at most 63 alphanumerics, '-', '_', '.', alphanumeric at both ends)"
            ),
        ))
    }
}

fn label_name(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && alnum(s.chars().next())
            && alnum(s.chars().last()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_label_keys_and_values() {
        for ok in ["team", "app.kubernetes.io/name", "a", "A_b.c-9"] {
            assert!(label_key("labels", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/x",
            "x/",
            "-a",
            "a-",
            "Bad_Prefix/x",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(label_key("labels", bad).is_err(), "{bad}");
        }
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        assert!(label_value("has space").is_err());
        assert!(label_value("-x").is_err());
    }
}
