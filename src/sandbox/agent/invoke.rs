//! Invoking an agent: a streamed run of its entrypoint, and the collected outcome.

use std::time::Duration;

use bytes::Bytes;

use super::events::{EventStream, InvokeEvent, event_stream};
use super::{Agent, INVOKE_TIMEOUT};
use crate::operations::op;
use crate::{Error, Result, wire};

/// An invoke call being built. See [`Agent::invoke`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use std::time::Duration;
/// let out = sb
///     .agent()
///     .invoke("summarize /workspace/README.md")
///     .timeout(Duration::from_secs(120))
///     .collect()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Debug)]
pub struct Invoke {
    pub(super) agent: Agent,
    pub(super) payload: Bytes,
    pub(super) content_type: &'static str,
    pub(super) prompt: Option<String>,
    pub(super) timeout: Option<Duration>,
}

/// What an invocation produced, collected from its stream.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let out = sb.agent().invoke("hello").collect().await?;
/// println!("{}: {} (exit {}) in {:?}", out.invoke_id, out.reason, out.exit_code, out.duration);
/// # Ok(()) }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeOutput {
    /// `inv-<24 hex>`.
    pub invoke_id: String,
    /// stdout lines joined with `\n`.
    pub stdout: String,
    /// stderr lines joined with `\n`.
    pub stderr: String,
    /// The exit code (`-1` when canceled, timed out or failed).
    pub exit_code: i32,
    /// Duration reported by the Router.
    pub duration: Duration,
    /// `completed`, `canceled`, `timeout` or `error`.
    pub reason: String,
}

impl InvokeOutput {
    /// True when the invocation completed with exit code 0.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.agent().invoke("hello").collect().await?;
    /// if !out.success() {
    ///     eprintln!("{} (exit {}): {}", out.reason, out.exit_code, out.stderr);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn success(&self) -> bool {
        self.exit_code == 0 && self.reason == "completed"
    }
}

impl Invoke {
    /// Also passes `--prompt=<prompt>` to the entrypoint (and uses it as stdin when the
    /// payload is empty).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// // No payload: the prompt is also the entrypoint's stdin.
    /// let out = sb.agent().invoke("").prompt("list the files in /workspace").collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Lowers the invocation's timeout (the Router ignores values above its own).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let out = sb.agent().invoke("hello").timeout(Duration::from_secs(60)).collect().await?;
    /// if out.reason == "timeout" {
    ///     eprintln!("gave up after a minute");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sends the payload as JSON (`application/json`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use serde_json::json;
    /// let task = json!({"task": "lint", "path": "/workspace"});
    /// let out = sb.agent().invoke("").json(&task)?.collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn json(mut self, value: &impl serde::Serialize) -> Result<Self> {
        self.payload = serde_json::to_vec(value)
            .map_err(|e| Error::invalid("payload", e.to_string()))?
            .into();
        self.content_type = "application/json";
        Ok(self)
    }

    /// Starts the invocation and returns its event stream. Dropping the stream cancels it.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::InvokeEvent;
    /// let mut events = sb.agent().invoke("hello").stream().await?;
    /// while let Some(ev) = events.next().await {
    ///     if let InvokeEvent::Log(line) = ev? {
    ///         if line.data.contains("DONE") {
    ///             break;
    ///         }
    ///     }
    /// }
    /// drop(events); // closes the stream: the Router cancels the invocation
    /// # Ok(()) }
    /// ```
    pub async fn stream(self) -> Result<EventStream<InvokeEvent>> {
        if self.payload.len() > 16 * 1024 * 1024 {
            return Err(Error::invalid(
                "payload",
                "the Router accepts at most 16 MiB",
            ));
        }
        let mut query = Vec::new();
        if let Some(p) = &self.prompt {
            query.push(("prompt", p.clone()));
        }
        let http_timeout = match self.timeout {
            Some(t) => {
                query.push(("timeout", wire::go_duration("timeout", t)?));
                t.saturating_add(Duration::from_secs(30))
            }
            None => INVOKE_TIMEOUT,
        };
        let resp = self
            .agent
            .post_stream(
                &op::INVOKE_AGENT,
                self.payload.to_vec(),
                self.content_type,
                &query,
                http_timeout,
            )
            .await?;
        event_stream(resp, self.agent.max_event())
    }

    /// Runs the invocation to its end and collects stdout, stderr, exit code, duration and
    /// reason. A stream that ends without an `exit` event is [`Error::Agent`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.agent().invoke("hello").collect().await?;
    /// if !out.success() {
    ///     eprintln!("{} (exit {}): {}", out.reason, out.exit_code, out.stderr);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn collect(self) -> Result<InvokeOutput> {
        let mut events = self.stream().await?;
        let (mut id, mut stdout, mut stderr) = (String::new(), Vec::new(), Vec::new());
        while let Some(ev) = events.next().await {
            match ev? {
                InvokeEvent::Start(s) => id = s.invoke_id,
                InvokeEvent::Log(l) if l.stream == "stderr" => stderr.push(l.data),
                InvokeEvent::Log(l) => stdout.push(l.data),
                InvokeEvent::Exit(e) => {
                    return Ok(InvokeOutput {
                        invoke_id: if e.invoke_id.is_empty() {
                            id
                        } else {
                            e.invoke_id
                        },
                        stdout: stdout.join("\n"),
                        stderr: stderr.join("\n"),
                        exit_code: e.exit_code,
                        duration: Duration::from_millis(e.duration_ms.max(0) as u64),
                        reason: e.reason.unwrap_or_else(|| "completed".into()),
                    });
                }
                InvokeEvent::Unknown { .. } => {}
            }
        }
        Err(Error::Agent {
            operation: "invoke",
            phase: None,
            message: format!("the stream ended without an exit event (invoke id {id:?})"),
        })
    }
}

impl std::future::IntoFuture for Invoke {
    type Output = Result<InvokeOutput>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<InvokeOutput>> + Send>>;

    /// Awaiting an invoke collects it ([`Invoke::collect`]).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.collect())
    }
}
