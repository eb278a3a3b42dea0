//! Creating, stopping, resuming and deleting many sandboxes in few requests.

use std::fmt;
use std::time::Duration;

use crate::operations::op;
use crate::types::{
    BulkActionRequest, BulkActionResult, BulkCreateRequest, BulkCreateResult, CreateSandboxRequest,
    StorageSpec, TemplateRefInput,
};
use crate::types::{BulkActionResponse, BulkCreateResponse};
use crate::{Client, Error, Result, wire};

/// The largest number of items sent in one bulk request. The Router's per-user rate limit
/// charges one token per item with a burst of 100, so a bigger request could never pass;
/// bigger batches are split into consecutive requests of at most this many.
///
/// ```
/// // 250 items go out as requests of 100, 100 and 50.
/// assert_eq!(250usize.div_ceil(agenttier::MAX_BULK_BATCH), 3);
/// ```
pub const MAX_BULK_BATCH: usize = 100;

/// One sandbox of a bulk create (see [`SandboxSpec`]).
///
/// ```
/// use agenttier::BulkItem;
/// let items: Vec<BulkItem> = (1..=3)
///     .map(|i| BulkItem::new(format!("worker-{i}")).template("general-coding"))
///     .collect();
/// assert_eq!(items.len(), 3);
/// ```
pub type BulkItem = SandboxSpec;

/// What a new sandbox is made of: name, template, namespace, timeouts and storage. Checked
/// the same way for [`Client::create_sandbox`] (which builds one) and for bulk creates, where it
/// is called [`BulkItem`].
///
/// ```no_run
/// use std::time::Duration;
/// use agenttier::BulkItem;
/// let item = BulkItem::new("worker-1")
///     .template("general-coding")
///     .idle_timeout(Duration::from_secs(30 * 60))
///     .storage_size("5Gi");
/// # let _ = item;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SandboxSpec {
    name: String,
    template: String,
    namespace: Option<String>,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    storage: Option<StorageSpec>,
}

impl SandboxSpec {
    /// A sandbox named `name` (an RFC 1123 label); set its cluster template with
    /// [`SandboxSpec::template`] (required).
    ///
    /// ```no_run
    /// let item = agenttier::BulkItem::new("worker-1").template("general-coding");
    /// # let _ = item;
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        SandboxSpec {
            template: String::new(),
            name: name.into(),
            namespace: None,
            timeout: None,
            idle_timeout: None,
            storage: None,
        }
    }

    /// The cluster template to make it from (required).
    ///
    /// ```no_run
    /// let item = agenttier::BulkItem::new("w1").template("general-coding");
    /// # let _ = item;
    /// ```
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = template.into();
        self
    }

    /// The name.
    pub(crate) fn name_ref(&self) -> &str {
        &self.name
    }

    /// The namespace (default: the Router's sandbox namespace).
    ///
    /// ```no_run
    /// let item = agenttier::BulkItem::new("w1").template("general-coding").namespace("team-a");
    /// # let _ = item;
    /// ```
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Maximum runtime, counted from the sandbox becoming Running.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let item = agenttier::BulkItem::new("w1").template("general-coding").timeout(Duration::from_secs(8 * 3600));
    /// # let _ = item;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Idle timeout.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let item = agenttier::BulkItem::new("w1").template("general-coding").idle_timeout(Duration::from_secs(600));
    /// # let _ = item;
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    /// The storage spec (size, class, mount path, snapshot on stop, shared).
    ///
    /// ```no_run
    /// use agenttier::types::StorageSpec;
    /// let storage = StorageSpec { size: Some("20Gi".into()), ..Default::default() };
    /// let item = agenttier::BulkItem::new("w1").template("general-coding").storage(storage);
    /// # let _ = item;
    /// ```
    pub fn storage(mut self, storage: StorageSpec) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Shorthand for a storage size such as `10Gi`.
    ///
    /// ```no_run
    /// let item = agenttier::BulkItem::new("w1").template("general-coding").storage_size("10Gi");
    /// # let _ = item;
    /// ```
    pub fn storage_size(mut self, size: impl Into<String>) -> Self {
        let mut s = self.storage.take().unwrap_or_default();
        s.size = Some(size.into());
        self.storage = Some(s);
        self
    }

    /// Checks the spec and builds its wire form. `kind: ClusterSandboxTemplate` is always sent:
    /// the controller defaults to the namespaced kind, while the API lists cluster templates.
    pub(crate) fn into_request(self) -> Result<CreateSandboxRequest> {
        if self.template.trim().is_empty() {
            return Err(Error::invalid(
                "template",
                format!(
                    "no template for {:?}: set one with .template(\"general-coding\")",
                    self.name
                ),
            ));
        }
        wire::id("template", &self.template)?;
        wire::rfc1123_label("name", &self.name)?;
        if let Some(ns) = &self.namespace {
            wire::rfc1123_label("namespace", ns)?;
        }
        let timeout = self
            .timeout
            .map(|d| wire::go_duration("timeout", d))
            .transpose()?;
        let idle_timeout = self
            .idle_timeout
            .map(|d| wire::go_duration("idle_timeout", d))
            .transpose()?;
        Ok(CreateSandboxRequest {
            name: self.name,
            namespace: self.namespace,
            template_ref: TemplateRefInput {
                name: self.template,
                kind: Some("ClusterSandboxTemplate".into()),
                namespace: None,
            },
            timeout,
            idle_timeout,
            storage: self.storage,
        })
    }
}

/// What [`Client::bulk_action`] does to each sandbox.
///
/// ```
/// assert_eq!(agenttier::BulkAction::Resume.as_str(), "resume");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BulkAction {
    /// Stop (only Running sandboxes; others get a per-item error).
    Stop,
    /// Resume (only Stopped or Error sandboxes).
    Resume,
    /// Delete.
    Delete,
}

impl BulkAction {
    /// The wire value.
    ///
    /// ```
    /// use agenttier::BulkAction;
    /// assert_eq!(BulkAction::Delete.as_str(), "delete");
    /// assert_eq!(BulkAction::Stop.to_string(), "stop");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Stop => "stop",
            BulkAction::Resume => "resume",
            BulkAction::Delete => "delete",
        }
    }
}

impl fmt::Display for BulkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BulkAction {
    type Err = Error;

    /// Reads `stop`, `resume` or `delete`.
    ///
    /// ```
    /// use agenttier::BulkAction;
    /// assert_eq!("resume".parse::<BulkAction>()?, BulkAction::Resume);
    /// assert!("restart".parse::<BulkAction>().is_err());
    /// # Ok::<(), agenttier::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<BulkAction> {
        match s {
            "stop" => Ok(BulkAction::Stop),
            "resume" => Ok(BulkAction::Resume),
            "delete" => Ok(BulkAction::Delete),
            other => Err(Error::invalid(
                "action",
                format!("{other:?} is not one of stop, resume, delete"),
            )),
        }
    }
}

impl BulkCreateResult {
    /// True when this item's sandbox was created (`status` is `created`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client, items: Vec<agenttier::BulkItem>) -> agenttier::Result<()> {
    /// let failed: Vec<_> = client.create_sandboxes(items).await?.into_iter().filter(|r| !r.is_created()).collect();
    /// # Ok(()) }
    /// ```
    pub fn is_created(&self) -> bool {
        self.status == "created"
    }
}

impl BulkActionResult {
    /// True when the action succeeded for this sandbox (`status` is `ok`).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::BulkAction;
    /// for r in client.bulk_action(BulkAction::Stop, &["w1", "w2"]).await? {
    ///     if !r.is_ok() {
    ///         eprintln!("{}: {}", r.id, r.error.unwrap_or_default());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

impl Client {
    /// Creates many sandboxes. Every item is checked before any request (like
    /// [`Client::create_sandbox`]; the template kind `ClusterSandboxTemplate` is sent); an item
    /// that fails the check gets its own `error` result, as the Router reports its own
    /// per-item failures, and the others are sent.
    ///
    /// Returns one result per item, in order, with `index` = the item's position in `items`.
    /// One bad item never fails the others: the Router answers 200 with a per-item `status`
    /// (`created` with `sandbox_id`, or `error` with `error`); see
    /// [`BulkCreateResult::is_created`].
    ///
    /// More than [`MAX_BULK_BATCH`] items are sent as consecutive requests of at most 100.
    /// A 429 from the rate limiter (sent before anything is created) is waited out as the
    /// retry policy allows; nothing else is sent twice, so a gateway error or timeout leaves
    /// the outcome of that request unknown.
    ///
    /// Errors: when the **first** request fails, its error is returned, for instance
    /// [`Error::QuotaWouldExceed`] (409: the namespace's count quota would be exceeded and
    /// nothing was created). When a later request fails, the sandboxes already created are
    /// not lost: the call returns the results so far, and every item of the failed request
    /// and of the ones not sent gets a result with `status` `error` and an `error` that says
    /// what happened (`outcome unknown` when the request may have been carried out). An empty
    /// list is [`Error::InvalidInput`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::BulkItem;
    /// let items = (0..250)
    ///     .map(|i| BulkItem::new(format!("worker-{i}")).template("general-coding"))
    ///     .collect();
    /// for r in client.create_sandboxes(items).await? {
    ///     match r.sandbox_id {
    ///         Some(id) => println!("#{} created {id}", r.index),
    ///         None => eprintln!("#{} failed: {}", r.index, r.error.unwrap_or_default()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "bulkCreateSandboxes")]
    pub async fn create_sandboxes(&self, items: Vec<BulkItem>) -> Result<Vec<BulkCreateResult>> {
        if items.is_empty() {
            return Err(Error::invalid("items", "at least one item is required"));
        }
        let total = items.len();
        // (position in `items`, request) for the items that pass the checks.
        let mut valid = Vec::with_capacity(total);
        let mut results = Vec::with_capacity(total);
        for (index, item) in items.into_iter().enumerate() {
            match item.into_request() {
                Ok(request) => valid.push((index, request)),
                Err(e) => results.push(BulkCreateResult {
                    index: index as i32,
                    status: "error".to_owned(),
                    sandbox_id: None,
                    error: Some(format!("not sent: {e}")),
                }),
            }
        }
        for (batch, chunk) in valid.chunks(MAX_BULK_BATCH).enumerate() {
            let body = BulkCreateRequest {
                items: chunk.iter().map(|(_, r)| r.clone()).collect(),
            };
            // The pipeline waits out the rate limiter's 429s (nothing was created) as the retry
            // policy and the deadline allow; nothing else is sent twice.
            let sent = match self.call(&op::BULK_CREATE_SANDBOXES, &[])?.json(&body) {
                Ok(call) => self.json::<BulkCreateResponse>(call).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(resp) => results.extend(resp.results.into_iter().map(|mut r| {
                    // The Router numbers the items of this request from 0.
                    if let Some((index, _)) =
                        usize::try_from(r.index).ok().and_then(|i| chunk.get(i))
                    {
                        r.index = *index as i32;
                    }
                    r
                })),
                Err(err) if batch == 0 && results.is_empty() => return Err(err),
                Err(err) => {
                    let failed = failure_message(&err);
                    let later = format!("not sent: an earlier batch failed ({err})");
                    let this_batch = chunk.iter().map(|(i, _)| (*i, failed.clone()));
                    let not_sent = valid
                        .get((batch + 1) * MAX_BULK_BATCH..)
                        .unwrap_or(&[])
                        .iter()
                        .map(|(i, _)| (*i, later.clone()));
                    results.extend(
                        this_batch
                            .chain(not_sent)
                            .map(|(i, error)| BulkCreateResult {
                                index: i as i32,
                                status: "error".to_owned(),
                                sandbox_id: None,
                                error: Some(error),
                            }),
                    );
                    break;
                }
            }
        }
        results.sort_by_key(|r| r.index);
        Ok(results)
    }

    /// Stops, resumes or deletes many sandboxes (by id). Every id is checked before any
    /// request.
    ///
    /// Returns one result per id, keyed by `id` (not an index): `status` `ok`, or `error`
    /// with `error` (a missing sandbox, a wrong phase...); see [`BulkActionResult::is_ok`].
    /// One failing id never fails the others. Batching, rate-limit waits and errors work as
    /// in [`Client::create_sandboxes`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use agenttier::BulkAction;
    /// let ids = ["worker-1", "worker-2"];
    /// for r in client.bulk_action(BulkAction::Delete, &ids).await? {
    ///     println!("{} {}", r.id, r.status);
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "bulkSandboxAction")]
    pub async fn bulk_action(
        &self,
        action: BulkAction,
        ids: &[impl AsRef<str>],
    ) -> Result<Vec<BulkActionResult>> {
        if ids.is_empty() {
            return Err(Error::invalid("ids", "at least one id is required"));
        }
        let ids: Vec<String> = ids.iter().map(|id| id.as_ref().to_owned()).collect();
        for id in &ids {
            wire::id("ids", id)?;
        }
        let mut results = Vec::with_capacity(ids.len());
        for (batch, chunk) in ids.chunks(MAX_BULK_BATCH).enumerate() {
            let offset = batch * MAX_BULK_BATCH;
            let body = BulkActionRequest {
                action: action.as_str().to_owned(),
                ids: chunk.to_vec(),
            };
            let body = &body;
            let sent = match self.call(&op::BULK_SANDBOX_ACTION, &[])?.json(body) {
                Ok(call) => self.json::<BulkActionResponse>(call).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(resp) => results.extend(resp.results),
                Err(err) if batch == 0 => return Err(err),
                Err(err) => {
                    let failed = failure_message(&err);
                    let later = format!("not sent: an earlier batch failed ({err})");
                    results.extend(ids[offset..].iter().enumerate().map(|(i, id)| {
                        BulkActionResult {
                            id: id.clone(),
                            status: "error".to_owned(),
                            error: Some(if i < chunk.len() {
                                failed.clone()
                            } else {
                                later.clone()
                            }),
                        }
                    }));
                    break;
                }
            }
        }
        Ok(results)
    }
}

/// The per-item error for the items of a request that failed after earlier ones succeeded.
fn failure_message(err: &Error) -> String {
    if matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }) {
        format!("outcome unknown: {err}; the request may have been carried out, check the sandbox")
    } else {
        format!("not done: the batch request failed ({err})")
    }
}
