//! Sandboxes: creating, listing, and the [`Sandbox`] handle.

mod agent;
mod backups;
mod bulk;
mod create;
mod exec;
pub(crate) mod files;
mod manage;
mod ports;
mod sharing;
mod wait;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

pub use agent::{Agent, Configure, ConfigureEvent, EventStream, Invoke, InvokeEvent, InvokeOutput};
pub use backups::Backups;
pub use bulk::{BulkAction, BulkItem, MAX_BULK_BATCH, SandboxSpec};
pub use exec::{ExecOptions, ExecOutput};
pub use files::{
    DEFAULT_CHUNK_THRESHOLD, DEFAULT_PART_SIZE, Files, MAX_FILE_BYTES, Progress, TransferOptions,
};
pub use manage::{CloneSandbox, UpdateSandbox};
pub use ports::Ports;
pub use sharing::{ShareKind, ShareLevel, ShareLinkOptions, Sharing};
pub use wait::WaitOptions;

use crate::types::{SandboxSummary, StorageSpec};
use crate::{Client, Result, wire};

/// The phase of a sandbox. The Router may add phases, so unknown ones are kept verbatim.
///
/// The empty phase the Router stores right after create reads as [`Phase::Creating`].
///
/// ```
/// use agenttier::Phase;
/// assert_eq!(Phase::from_wire(""), Phase::Creating);
/// assert_eq!(Phase::from_wire("Running"), Phase::Running);
/// assert_eq!(Phase::from_wire("Hibernating"), Phase::Unknown("Hibernating".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Being created or resumed (also the empty phase right after create).
    Creating,
    /// Ready: exec, files, agent calls work.
    Running,
    /// Pod deleted, volume kept; resume brings it back.
    Stopped,
    /// Failed; the summary's `message` says why. Resume is allowed.
    Error,
    /// Reserved by the Router's types, never set today.
    Deleting,
    /// A phase this SDK does not know.
    Unknown(String),
}

impl Phase {
    /// Reads the wire value of `status`.
    ///
    /// ```
    /// use agenttier::Phase;
    /// assert_eq!(Phase::from_wire("Stopped"), Phase::Stopped);
    /// assert_eq!(Phase::from_wire(""), Phase::Creating);
    /// ```
    pub fn from_wire(s: &str) -> Phase {
        match s {
            "" | "Creating" => Phase::Creating,
            "Running" => Phase::Running,
            "Stopped" => Phase::Stopped,
            "Error" => Phase::Error,
            "Deleting" => Phase::Deleting,
            other => Phase::Unknown(other.to_owned()),
        }
    }

    /// The wire value (`Creating`, `Running`, ...).
    ///
    /// ```
    /// use agenttier::Phase;
    /// assert_eq!(Phase::Running.as_str(), "Running");
    /// assert_eq!(Phase::Unknown("Hibernating".into()).as_str(), "Hibernating");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Phase::Creating => "Creating",
            Phase::Running => "Running",
            Phase::Stopped => "Stopped",
            Phase::Error => "Error",
            Phase::Deleting => "Deleting",
            Phase::Unknown(s) => s,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SandboxSummary {
    /// The phase as an enum (the empty phase reads as [`Phase::Creating`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::Phase;
    /// if sb.status().await?.phase() == Phase::Stopped {
    ///     sb.resume().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn phase(&self) -> Phase {
        Phase::from_wire(&self.status)
    }
}

/// Filters for [`Client::list_sandboxes`].
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::{Phase, SandboxFilter};
/// let filter = SandboxFilter::default().namespace("team-a").phase(Phase::Stopped);
/// for s in client.list_sandboxes(filter).await? {
///     println!("{} was stopped", s.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct SandboxFilter {
    namespace: Option<String>,
    phase: Option<Phase>,
}

impl SandboxFilter {
    /// Only this namespace.
    ///
    /// ```
    /// let filter = agenttier::SandboxFilter::default().namespace("team-a");
    /// # let _ = filter;
    /// ```
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Only this phase (exact match; the Router cannot filter on the empty phase).
    ///
    /// ```
    /// use agenttier::{Phase, SandboxFilter};
    /// let filter = SandboxFilter::default().phase(Phase::Running);
    /// # let _ = filter;
    /// ```
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }
}

impl Client {
    /// A handle for an existing sandbox, without a request. Use [`Client::get_sandbox`] to
    /// check that it exists.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let sb = client.sandbox("demo")?; // no request yet
    /// assert_eq!(sb.id(), "demo");
    /// assert!(client.sandbox("a/b").is_err()); // not a single path segment
    /// # Ok(()) }
    /// ```
    pub fn sandbox(&self, id: impl Into<String>) -> Result<Sandbox> {
        let id = id.into();
        wire::id("sandbox id", &id)?;
        Ok(Sandbox {
            client: self.clone(),
            id,
            namespace: None,
            last: None,
        })
    }

    /// Reads a sandbox and returns a handle holding its summary.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.get_sandbox("demo").await?;
    /// println!("{:?}", sb.summary().map(|s| s.phase()));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getSandbox")]
    pub async fn get_sandbox(&self, id: &str) -> Result<Sandbox> {
        let mut sb = self.sandbox(id)?;
        sb.refresh().await?;
        Ok(sb)
    }

    /// Lists your sandboxes (admins: all). A `null` list from the Router reads as empty.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// for s in client.list_sandboxes(Default::default()).await? {
    ///     println!("{} {} {}", s.namespace, s.name, s.phase());
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listSandboxes")]
    pub async fn list_sandboxes(&self, filter: SandboxFilter) -> Result<Vec<SandboxSummary>> {
        let status = filter.phase.as_ref().map(Phase::as_str);
        let list = self
            .json::<crate::types::SandboxList>(
                self.call(&crate::operations::op::LIST_SANDBOXES, &[])?
                    .query_opt("namespace", filter.namespace.as_deref())
                    .query_opt("status", status),
            )
            .await?;
        Ok(list.sandboxes.unwrap_or_default())
    }

    /// Starts a sandbox creation from a cluster template. Await the builder (or call
    /// [`CreateSandbox::send`]) to send it.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client
    ///     .create_sandbox("general-coding", "demo")
    ///     .idle_timeout(Duration::from_secs(30 * 60))
    ///     .storage_size("10Gi")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createSandbox")]
    pub fn create_sandbox(
        &self,
        template: impl Into<String>,
        name: impl Into<String>,
    ) -> CreateSandbox<'_> {
        CreateSandbox {
            client: self,
            spec: SandboxSpec::new(template, name),
        }
    }
}

/// A sandbox creation being built. See [`Client::create_sandbox`].
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let mut sb = client.create_sandbox("general-coding", "demo").namespace("team-a").await?;
/// sb.wait_until_running(Default::default()).await?;
/// # Ok(()) }
/// ```
#[must_use = "a CreateSandbox does nothing until awaited or sent"]
#[derive(Debug)]
pub struct CreateSandbox<'a> {
    client: &'a Client,
    spec: SandboxSpec,
}

impl CreateSandbox<'_> {
    /// The namespace (default: the Router's sandbox namespace).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("general-coding", "demo").namespace("team-a").await?;
    /// # Ok(()) }
    /// ```
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.spec = self.spec.namespace(ns);
        self
    }

    /// Maximum runtime, counted from the sandbox becoming Running.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client
    ///     .create_sandbox("general-coding", "demo")
    ///     .timeout(Duration::from_secs(8 * 3600))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.spec = self.spec.timeout(d);
        self
    }

    /// Idle timeout. The Router counts it from the last time the sandbox became Running.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client
    ///     .create_sandbox("general-coding", "demo")
    ///     .idle_timeout(Duration::from_secs(30 * 60))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.spec = self.spec.idle_timeout(d);
        self
    }

    /// The storage spec (size, class, mount path, snapshot on stop, shared).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::types::StorageSpec;
    /// let storage = StorageSpec {
    ///     size: Some("20Gi".into()),
    ///     snapshot_on_stop: Some(true),
    ///     ..Default::default()
    /// };
    /// let sb = client.create_sandbox("general-coding", "demo").storage(storage).await?;
    /// # Ok(()) }
    /// ```
    pub fn storage(mut self, storage: StorageSpec) -> Self {
        self.spec = self.spec.storage(storage);
        self
    }

    /// Shorthand for a storage size such as `10Gi`.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("general-coding", "demo").storage_size("10Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn storage_size(mut self, size: impl Into<String>) -> Self {
        self.spec = self.spec.storage_size(size);
        self
    }

    /// Sends the create and returns a handle. Never creates a duplicate: when the outcome is
    /// unknown (the connection failed after sending, a gateway error, a timeout), it looks the
    /// sandbox up by name before sending again.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("general-coding", "demo").send().await?;
    /// println!("created {} in {:?}", sb.id(), sb.namespace());
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Sandbox> {
        let request = self.spec.into_request()?;
        create::create_without_duplicates(self.client, &request).await
    }
}

impl<'a> IntoFuture for CreateSandbox<'a> {
    type Output = Result<Sandbox>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Sandbox>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A handle for one sandbox: its id (= name), namespace, the last summary seen, and every
/// sandbox-scoped call. Cheap to clone.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let mut sb = client.create_sandbox("general-coding", "demo").await?;
/// sb.wait_until_running(Default::default()).await?;
/// let out = sb.exec("uname -a").await?;
/// sb.stop().await?;
/// sb.wait_until_stopped(Default::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub(crate) client: Client,
    pub(crate) id: String,
    pub(crate) namespace: Option<String>,
    pub(crate) last: Option<SandboxSummary>,
}

impl Sandbox {
    /// The sandbox id. The Router addresses sandboxes by name, so this is also the name.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// assert_eq!(client.sandbox("demo")?.id(), "demo");
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The sandbox name (the same as [`Sandbox::id`]).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let sb = client.sandbox("demo")?;
    /// assert_eq!(sb.name(), sb.id());
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        self.last
            .as_ref()
            .map(|s| s.name.as_str())
            .unwrap_or(&self.id)
    }

    /// The namespace, once known (from create or a refresh).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let sb = client.sandbox("demo")?;
    /// assert_eq!(sb.namespace(), None); // not known until a create or a refresh
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> Option<&str> {
        self.last
            .as_ref()
            .map(|s| s.namespace.as_str())
            .or(self.namespace.as_deref())
    }

    /// The last summary seen by [`Sandbox::refresh`] or a waiter.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let mut sb = client.sandbox("demo")?;
    /// assert!(sb.summary().is_none());
    /// sb.refresh().await?;
    /// println!("{:?}", sb.summary().map(|s| &s.status));
    /// # Ok(()) }
    /// ```
    pub fn summary(&self) -> Option<&SandboxSummary> {
        self.last.as_ref()
    }

    /// The client this handle uses.
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let sb = client.sandbox("demo")?;
    /// assert_eq!(sb.client().base_url(), "http://localhost:8080");
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads the sandbox again and keeps the summary.
    ///
    /// ```no_run
    /// # async fn demo(mut sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let summary = sb.refresh().await?;
    /// println!("{} since {:?}", summary.status, summary.last_activity_at);
    /// # Ok(()) }
    /// ```
    pub async fn refresh(&mut self) -> Result<&SandboxSummary> {
        let summary = self.status().await?;
        Ok(self.last.insert(summary))
    }

    /// Reads the sandbox's current summary (without storing it).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let s = sb.status().await?;
    /// println!("{} is {}", s.name, s.phase());
    /// # Ok(()) }
    /// ```
    pub async fn status(&self) -> Result<SandboxSummary> {
        self.client
            .json::<crate::types::SandboxSummary>(
                self.client
                    .call(&crate::operations::op::GET_SANDBOX, &[&self.id])?,
            )
            .await
    }

    /// Stops a Running sandbox (409 otherwise). Returns before the pod is gone: use
    /// [`Sandbox::wait_until_stopped`].
    ///
    /// ```no_run
    /// # async fn demo(mut sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.stop().await?;
    /// sb.wait_until_stopped(Default::default()).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "stopSandbox")]
    pub async fn stop(&self) -> Result<()> {
        self.client
            .json::<crate::types::StatusAck>(
                self.client
                    .call(&crate::operations::op::STOP_SANDBOX, &[&self.id])?,
            )
            .await
            .map(drop)
    }

    /// Resumes a Stopped or Error sandbox (409 otherwise). Use
    /// [`Sandbox::wait_until_running`] after.
    ///
    /// ```no_run
    /// # async fn demo(mut sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.resume().await?;
    /// sb.wait_until_running(Default::default()).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "resumeSandbox")]
    pub async fn resume(&self) -> Result<()> {
        self.client
            .json::<crate::types::StatusAck>(
                self.client
                    .call(&crate::operations::op::RESUME_SANDBOX, &[&self.id])?,
            )
            .await
            .map(drop)
    }

    /// Deletes the sandbox. The Router answers at once and removes it later: use
    /// [`Sandbox::wait_until_deleted`].
    ///
    /// ```no_run
    /// # async fn demo(mut sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.delete().await?;
    /// sb.wait_until_deleted(Default::default()).await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteSandbox")]
    pub async fn delete(&self) -> Result<()> {
        self.client
            .empty(
                self.client
                    .call(&crate::operations::op::DELETE_SANDBOX, &[&self.id])?,
            )
            .await
            .map(drop)
    }
}
