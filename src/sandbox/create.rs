//! Creating sandboxes: the builder, scoped cleanup ([`Client::with_sandbox`], [`SandboxGuard`]),
//! and a create that never makes a duplicate or reports a false conflict.
//!
//! The Router has no idempotency key: a create whose answer was lost (a connection cut after
//! sending, a gateway's 502/503/504, a timeout) may or may not have happened. Such an outcome
//! is resolved by reading the sandbox by name, not by a second POST; only when reading within
//! the policy's [`read_back_window`](crate::RetryPolicy::read_back_window) finds nothing is the
//! create sent again (as the policy allows). A second create that then meets "already exists"
//! is our first one, made visible late: it is read and returned too.

use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::time::Instant;

use super::Sandbox;
use super::bulk::SandboxSpec;
use super::wait::WaitOptions;
use crate::operations::op;
use crate::pipeline::retry::{self, Budget, Hint, Judge, RetryPolicy, Stop};
use crate::types::{CreateSandboxRequest, CreateSandboxResponse, SandboxSummary, StorageSpec};
use crate::{CallOptions, Client, Error, Result};

impl Client {
    /// Starts the creation of a sandbox named `name` (an RFC 1123 label: lowercase letters,
    /// digits, `-`). Set its template with [`CreateSandbox::template`], then await the builder.
    /// Add [`CreateSandbox::wait_until_running`] to get it back Running.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let sb = client
    ///     .create_sandbox("demo")
    ///     .template("general-coding")
    ///     .idle_timeout(Duration::from_secs(30 * 60))
    ///     .wait_until_running()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "createSandbox")]
    pub fn create_sandbox(&self, name: impl Into<String>) -> CreateSandbox {
        CreateSandbox {
            client: self.clone(),
            spec: SandboxSpec::new(name),
            wait: None,
        }
    }

    /// [`Client::create_sandbox`] with a generated name, `agent-` and 8 random characters.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.new_sandbox().template("general-coding").await?;
    /// assert!(sb.id().starts_with("agent-"));
    /// # Ok(()) }
    /// ```
    pub fn new_sandbox(&self) -> CreateSandbox {
        self.create_sandbox(generated_name())
    }

    /// Creates a sandbox, runs `body` with it, and deletes it on every way out: a success, an
    /// error, a panic (re-raised after the delete is sent) and a cancelled future (the delete is
    /// then spawned, see [`SandboxGuard`]). Returns what `body` returned; a failed delete is
    /// logged, not returned.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let version = client
    ///     .with_sandbox(
    ///         client.new_sandbox().template("general-coding").wait_until_running(),
    ///         |sb| async move {
    ///             let out = sb.exec("python3 --version").await?;
    ///             Ok::<_, agenttier::Error>(out.stdout)
    ///         },
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_sandbox<T, E, F, Fut>(&self, create: CreateSandbox, body: F) -> Result<T, E>
    where
        F: FnOnce(Sandbox) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: From<Error>,
    {
        let guard = create.guarded().await?;
        let outcome = AssertUnwindSafe(body(guard.deref().clone()))
            .catch_unwind()
            .await;
        let closed = guard.close().await;
        match outcome {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(result) => {
                if let Err(e) = closed {
                    tracing::warn!(error = %e, "with_sandbox: the sandbox could not be deleted");
                }
                result
            }
        }
    }
}

/// `agent-` and 8 random lowercase letters and digits.
fn generated_name() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("agent-{tail}")
}

/// A sandbox creation being built. See [`Client::create_sandbox`]. Await it (or call
/// [`CreateSandbox::send`]).
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let sb = client
///     .create_sandbox("demo")
///     .template("general-coding")
///     .namespace("team-a")
///     .storage_size("10Gi")
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a CreateSandbox does nothing until awaited or sent"]
#[derive(Debug)]
pub struct CreateSandbox {
    client: Client,
    spec: SandboxSpec,
    wait: Option<WaitOptions>,
}

impl CreateSandbox {
    /// The cluster template to make it from (required).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").await?;
    /// # Ok(()) }
    /// ```
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.spec = self.spec.template(template);
        self
    }

    /// The namespace (default: the Router's sandbox namespace).
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").namespace("team-a").await?;
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
    ///     .create_sandbox("demo")
    ///     .template("general-coding")
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
    ///     .create_sandbox("demo")
    ///     .template("general-coding")
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
    /// let sb = client.create_sandbox("demo").template("general-coding").storage(storage).await?;
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
    /// let sb = client.create_sandbox("demo").template("general-coding").storage_size("10Gi").await?;
    /// # Ok(()) }
    /// ```
    pub fn storage_size(mut self, size: impl Into<String>) -> Self {
        self.spec = self.spec.storage_size(size);
        self
    }

    /// Waits, after the create, until the sandbox is Running (with [`WaitOptions::default`]):
    /// the result is then a Running sandbox.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").wait_until_running().await?;
    /// assert_eq!(sb.phase(), Some(agenttier::Phase::Running));
    /// # Ok(()) }
    /// ```
    pub fn wait_until_running(self) -> Self {
        self.wait_until_running_with(WaitOptions::default())
    }

    /// [`CreateSandbox::wait_until_running`] with options.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::WaitOptions;
    /// let sb = client
    ///     .create_sandbox("demo")
    ///     .template("general-coding")
    ///     .wait_until_running_with(WaitOptions::default().timeout(Duration::from_secs(300)))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_until_running_with(mut self, options: WaitOptions) -> Self {
        self.wait = Some(options);
        self
    }

    /// Sends the create and returns a handle carrying the Router's answer. Never creates a
    /// duplicate, see the module docs. A name that is taken is [`Error::AlreadyExists`].
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").send().await?;
    /// println!("created {} in {:?}", sb.id(), sb.namespace());
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Sandbox> {
        let request = self.spec.into_request()?;
        let sb = create_without_duplicates(&self.client, &request).await?;
        match self.wait {
            None => Ok(sb),
            Some(options) => {
                let mut sb = sb;
                let summary = sb.wait_until_running_with(options).await?;
                sb.remember(summary);
                Ok(sb)
            }
        }
    }

    /// Creates the sandbox, or returns the existing one of that name (read with
    /// [`Client::get_sandbox`]). With [`CreateSandbox::wait_until_running`], either is waited
    /// for. An existing sandbox is returned as it is, whatever its template.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("shared-dev").template("general-coding").create_or_get().await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_or_get(self) -> Result<Sandbox> {
        let client = self.client.clone();
        let name = self.spec.name_ref().to_owned();
        let wait = self.wait.clone();
        match self.send().await {
            Err(Error::AlreadyExists(_)) => {
                let mut sb = client.get_sandbox(&name).await?;
                if let Some(options) = wait {
                    let summary = sb.wait_until_running_with(options).await?;
                    sb.remember(summary);
                }
                Ok(sb)
            }
            other => other,
        }
    }

    /// Creates the sandbox and returns a guard that deletes it: call
    /// [`SandboxGuard::close`] when done; a guard dropped without it spawns the delete and
    /// logs that it did.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.new_sandbox().template("general-coding").wait_until_running().guarded().await?;
    /// sb.exec("make test").await?.check()?; // `?` here still deletes the sandbox
    /// sb.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn guarded(self) -> Result<SandboxGuard> {
        let client = self.client.clone();
        let name = self.spec.name_ref().to_owned();
        match self.send().await {
            Ok(sb) => Ok(SandboxGuard { sandbox: Some(sb) }),
            Err(e) => {
                // A create that succeeded before the wait failed must not leak.
                if matches!(
                    e,
                    Error::WaitTimeout { .. }
                        | Error::SandboxFailed { .. }
                        | Error::Cancelled { .. }
                ) && let Ok(sb) = client.sandbox(name)
                {
                    drop(SandboxGuard { sandbox: Some(sb) });
                }
                Err(e)
            }
        }
    }
}

impl IntoFuture for CreateSandbox {
    type Output = Result<Sandbox>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Sandbox>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A sandbox that is deleted when the guard goes away. Derefs to [`Sandbox`].
///
/// [`SandboxGuard::close`] deletes it and reports the outcome; [`SandboxGuard::keep`] disarms
/// the guard. A guard dropped while armed (an early `?`, a panic, a cancelled task) spawns the
/// delete on the current Tokio runtime and logs a warning that it did; without a runtime it can
/// only log that the sandbox was left behind.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// let sb = client.new_sandbox().template("general-coding").guarded().await?;
/// let id = sb.id().to_owned();
/// let kept = sb.keep(); // no longer deleted
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a SandboxGuard deletes its sandbox when dropped"]
pub struct SandboxGuard {
    sandbox: Option<Sandbox>,
}

impl SandboxGuard {
    /// Deletes the sandbox (without waiting for it to be gone) and disarms the guard.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.new_sandbox().template("general-coding").guarded().await?;
    /// sb.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(mut self) -> Result<()> {
        match self.sandbox.take() {
            Some(sb) => sb.delete().await.map(drop),
            None => Ok(()),
        }
    }

    /// Disarms the guard and returns the sandbox, which is then not deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.new_sandbox().template("general-coding").guarded().await?.keep();
    /// # Ok(()) }
    /// ```
    pub fn keep(mut self) -> Sandbox {
        self.sandbox
            .take()
            .expect("an armed guard holds its sandbox")
    }
}

impl Deref for SandboxGuard {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        self.sandbox
            .as_ref()
            .expect("an armed guard holds its sandbox")
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        let Some(sb) = self.sandbox.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::warn!(sandbox = %sb.id(), "a SandboxGuard was dropped without close(): deleting the sandbox in the background");
                runtime.spawn(async move {
                    if let Err(e) = sb.delete().await {
                        tracing::warn!(sandbox = %sb.id(), error = %e, "could not delete the sandbox of a dropped SandboxGuard");
                    }
                });
            }
            Err(_) => tracing::warn!(
                sandbox = %sb.id(),
                "a SandboxGuard was dropped outside a Tokio runtime: the sandbox was left behind"
            ),
        }
    }
}

/// One create attempt's failure, with whether sending it again is known to be safe.
struct Attempt {
    error: Error,
    /// Reading found nothing for the whole window: the create did not happen.
    absent: bool,
}

impl Judge for Attempt {
    fn hint(&self) -> Hint {
        if self.absent {
            Hint::NotSent
        } else {
            self.error.hint()
        }
    }
}

impl From<Error> for Attempt {
    fn from(error: Error) -> Self {
        Attempt {
            error,
            absent: false,
        }
    }
}

/// Sends `request` until it is created (or found), within the client's options.
pub(crate) async fn create_without_duplicates(
    client: &Client,
    request: &CreateSandboxRequest,
) -> Result<Sandbox> {
    let options = client.options();
    let defaults = &client.pipeline().defaults;
    let policy = options
        .retry
        .clone()
        .unwrap_or_else(|| defaults.retry.clone());
    let now = Instant::now();
    let mut deadline = now.checked_add(options.timeout.unwrap_or(defaults.timeout));
    if let Some(at) = options.deadline {
        let at = Instant::from_std(at);
        deadline = Some(deadline.map_or(at, |d| d.min(at)));
    }
    // Each request runs once inside this engine, within the overall deadline.
    let once = client.with_options(
        deadline
            .map(|d| CallOptions::new().deadline(d.into_std()))
            .unwrap_or_default()
            .retry(RetryPolicy::none()),
    );
    let budget = Budget {
        op: &op::CREATE_SANDBOX,
        policy: &policy,
        deadline,
        cancel: options.cancel.as_ref(),
    };
    let unknown_before = AtomicBool::new(false);
    let outcome = retry::run(&budget, |_| async {
        let call = once.call(&op::CREATE_SANDBOX, &[])?.json(request)?;
        match once.json::<CreateSandboxResponse>(call).await {
            Ok(created) => Ok(created_handle(client, created)),
            Err(error @ Error::AlreadyExists(_)) if unknown_before.load(Ordering::Relaxed) => {
                // Our earlier create happened after all.
                match find(&once, &request.name, &policy, deadline).await {
                    Some(summary) => Ok(Sandbox::from_summary(client, summary)),
                    None => Err(Attempt {
                        error,
                        absent: false,
                    }),
                }
            }
            Err(error) if error.outcome_unknown() => {
                unknown_before.store(true, Ordering::Relaxed);
                tracing::debug!(sandbox = %request.name, %error, "create outcome unknown; reading it back");
                match find(&once, &request.name, &policy, deadline).await {
                    Some(summary) => Ok(Sandbox::from_summary(client, summary)),
                    None => Err(Attempt {
                        error,
                        absent: true,
                    }),
                }
            }
            Err(error) => Err(Attempt {
                error,
                absent: false,
            }),
        }
    })
    .await;
    match outcome {
        Ok((sb, _)) => Ok(sb),
        Err(Stop::Failed(attempt, _)) => Err(attempt.error),
        Err(Stop::Cancelled(_)) => Err(Error::Cancelled {
            operation: op::CREATE_SANDBOX.name,
        }),
    }
}

/// Reads `name` until it shows up, for at most the policy's read-back window (once, when the
/// policy allows no retries; never past the deadline).
async fn find(
    client: &Client,
    name: &str,
    policy: &RetryPolicy,
    deadline: Option<Instant>,
) -> Option<SandboxSummary> {
    let window = if policy.max_retries == 0 {
        Duration::ZERO
    } else {
        policy.read_back_window
    };
    let mut until = Instant::now() + window;
    if let Some(d) = deadline {
        until = until.min(d);
    }
    // A few reads spread over the window, the first at once.
    let mut pause = (window / 16).max(Duration::from_millis(1));
    loop {
        let read = match client.call(&op::GET_SANDBOX, &[name]) {
            Ok(call) => client.json::<SandboxSummary>(call).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(summary) => return Some(summary),
            Err(e) if e.is_not_found() || e.is_retryable() => {}
            Err(_) => return None,
        }
        if Instant::now() + pause >= until {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1).max(window / 4));
    }
}

/// The handle a successful create returns, holding what the Router answered as a summary.
fn created_handle(client: &Client, created: CreateSandboxResponse) -> Sandbox {
    let summary = SandboxSummary {
        sandbox_id: created.sandbox_id,
        name: created.name,
        namespace: created.namespace,
        status: created.status,
        template_ref: Some(created.template_ref),
        created_at: None,
        created_by: None,
        last_activity_at: None,
        message: None,
        mode: None,
        pod_name: None,
        pvc_name: None,
        scoped_api_keys: Vec::new(),
    };
    Sandbox::from_summary(client, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_rfc1123_labels() {
        for _ in 0..100 {
            let name = generated_name();
            assert!(crate::wire::is_rfc1123_label(&name), "{name}");
            assert!(name.starts_with("agent-") && name.len() == 14, "{name}");
        }
    }
}
