//! Sandboxes: creating, listing, and the [`Sandbox`] handle.

mod agent;
mod backups;
mod bulk;
mod create;
mod exec;
pub(crate) mod files;
mod lifecycle;
mod manage;
mod ports;
mod preview;
mod sharing;
mod tree;
mod wait;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use agent::{Agent, Configure, ConfigureEvent, EventStream, Invoke, InvokeEvent, InvokeOutput};
pub use backups::{Backups, CreateBackup, RestoreBackup, Restored};
pub use bulk::{BulkAction, BulkItem, MAX_BULK_BATCH, SandboxSpec};
pub use create::{CreateSandbox, SandboxGuard};
pub use exec::{ExecOptions, ExecOutput};
pub use files::{
    DEFAULT_CHUNK_THRESHOLD, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, FileData, Files,
    MAX_CONCURRENCY, MAX_FILE_BYTES, MAX_PART_SIZE, Progress, TransferOptions,
};
pub use lifecycle::{Deleting, Resuming, Stopping};
pub use manage::{CloneSandbox, Cloned, UpdateSandbox};
pub use ports::Ports;
pub use preview::{Preview, PreviewRequest, PreviewResponse};
pub use sharing::{ShareKind, ShareLevel, ShareLinkOptions, Sharing};
pub use tree::TreeTransfer;
pub use wait::WaitOptions;

use crate::operations::op;
use crate::types::{SandboxList, SandboxSummary};
use crate::{Client, Error, Result, wire};

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
#[non_exhaustive]
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

impl FromStr for Phase {
    type Err = Error;

    /// Reads a phase as the Router writes it; never fails (unknown phases are kept).
    ///
    /// ```
    /// use agenttier::Phase;
    /// assert_eq!("Running".parse::<Phase>()?, Phase::Running);
    /// assert_eq!("Hibernating".parse::<Phase>()?, Phase::Unknown("Hibernating".into()));
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Phase> {
        Ok(Phase::from_wire(s))
    }
}

impl SandboxSummary {
    /// The phase as an enum (the empty phase reads as [`Phase::Creating`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::Phase;
    /// if sb.status().await?.phase() == Phase::Stopped {
    ///     sb.resume().await?.wait().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn phase(&self) -> Phase {
        Phase::from_wire(&self.status)
    }
}

/// Filters for [`Client::list_sandboxes_with`].
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use agenttier::{Phase, SandboxFilter};
/// let filter = SandboxFilter::default().namespace("team-a").phase(Phase::Stopped);
/// for s in client.list_sandboxes_with(filter).await? {
///     println!("{} was stopped", s.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct SandboxFilter {
    namespace: Option<String>,
    phase: Option<Phase>,
    template: Option<String>,
}

impl SandboxFilter {
    /// Only this namespace (the Router filters).
    ///
    /// ```
    /// let filter = agenttier::SandboxFilter::default().namespace("team-a");
    /// # let _ = filter;
    /// ```
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Only this phase (the Router filters, by exact match; it cannot filter on the empty phase
    /// of a sandbox just created, so [`Phase::Creating`] matches only `Creating`).
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

    /// Only sandboxes made from this template (filtered here: the Router has no such filter;
    /// a sandbox whose template is not resolved yet has none and does not match).
    ///
    /// ```
    /// let filter = agenttier::SandboxFilter::default().template("general-coding");
    /// # let _ = filter;
    /// ```
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
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
            id: Arc::from(id),
            namespace: None,
            summary: None,
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
        wire::id("sandbox id", id)?;
        let mut sb = Sandbox {
            client: self.clone(),
            id: Arc::from(id),
            namespace: None,
            summary: None,
        };
        sb.refresh().await?;
        Ok(sb)
    }

    /// Lists your sandboxes (admins: all). A `null` list from the Router reads as empty.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// for s in client.list_sandboxes().await? {
    ///     println!("{} {} {}", s.namespace, s.name, s.phase());
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "listSandboxes")]
    pub async fn list_sandboxes(&self) -> Result<Vec<SandboxSummary>> {
        self.list_sandboxes_with(SandboxFilter::default()).await
    }

    /// Lists the sandboxes that pass `filter` (namespace and phase filtered by the Router,
    /// template here).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::{Phase, SandboxFilter};
    /// let running = SandboxFilter::default().phase(Phase::Running).template("general-coding");
    /// let n = client.list_sandboxes_with(running).await?.len();
    /// # Ok(()) }
    /// ```
    pub async fn list_sandboxes_with(&self, filter: SandboxFilter) -> Result<Vec<SandboxSummary>> {
        let call = self
            .call(&op::LIST_SANDBOXES, &[])?
            .query_opt("namespace", filter.namespace.as_deref())
            .query_opt("status", filter.phase.as_ref().map(Phase::as_str));
        let mut list = self
            .json::<SandboxList>(call)
            .await?
            .sandboxes
            .unwrap_or_default();
        if let Some(template) = &filter.template {
            list.retain(|s| s.template_ref.as_deref() == Some(template.as_str()));
        }
        Ok(list)
    }
}

/// A handle for one sandbox: its id (= name), namespace, the summary last read, and every
/// sandbox-scoped call. Cheap to clone (shared, not copied); owned, so it moves into tasks.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let sb = client.create_sandbox("demo").template("general-coding").wait_until_running().await?;
/// let out = sb.exec("uname -a").await?;
/// sb.stop().await?.wait().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub(crate) client: Client,
    pub(crate) id: Arc<str>,
    pub(crate) namespace: Option<Arc<str>>,
    pub(crate) summary: Option<Arc<SandboxSummary>>,
}

impl Sandbox {
    /// A handle holding `summary` (what the Router last said of it).
    pub(crate) fn from_summary(client: &Client, summary: SandboxSummary) -> Sandbox {
        Sandbox {
            client: client.clone(),
            id: Arc::from(summary.sandbox_id.as_str()),
            namespace: (!summary.namespace.is_empty())
                .then(|| Arc::from(summary.namespace.as_str())),
            summary: Some(Arc::new(summary)),
        }
    }

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
        self.summary
            .as_ref()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.id)
    }

    /// The namespace, once known (from a create, a read or a wait).
    ///
    /// ```
    /// # fn main() -> agenttier::Result<()> {
    /// let client = agenttier::Client::builder("http://localhost:8080").build()?;
    /// let sb = client.sandbox("demo")?;
    /// assert_eq!(sb.namespace(), None); // not known until a create or a read
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// What the Router last said of this sandbox: the create's answer, a read
    /// ([`Sandbox::refresh`], [`Client::get_sandbox`]) or the end of a wait. `None` for a handle
    /// made by [`Client::sandbox`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").await?;
    /// let s = sb.summary().expect("a create answers with a summary");
    /// assert_eq!(s.template_ref.as_deref(), Some("general-coding"));
    /// # Ok(()) }
    /// ```
    pub fn summary(&self) -> Option<&SandboxSummary> {
        self.summary.as_deref()
    }

    /// The phase in [`Sandbox::summary`] (without a request).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.get_sandbox("demo").await?;
    /// println!("{:?}", sb.phase());
    /// # Ok(()) }
    /// ```
    pub fn phase(&self) -> Option<Phase> {
        self.summary().map(SandboxSummary::phase)
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
        self.remember(summary);
        Ok(self.summary.as_deref().expect("just stored"))
    }

    /// Keeps `summary` as the last thing the Router said.
    pub(crate) fn remember(&mut self, summary: SandboxSummary) {
        if !summary.namespace.is_empty() {
            self.namespace = Some(Arc::from(summary.namespace.as_str()));
        }
        self.summary = Some(Arc::new(summary));
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
        let c = &self.client;
        c.json(c.call(&op::GET_SANDBOX, &[&self.id])?).await
    }
}
