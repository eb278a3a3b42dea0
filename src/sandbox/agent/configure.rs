//! Configuring an agent: files, install command, entrypoint; the Router answers with a stream.

use std::future::Future;

use bytes::Bytes;

use super::events::{ConfigureEvent, EventStream, event_stream};
use super::{Agent, CONFIGURE_TIMEOUT};
use crate::operations::op;
use crate::types::{ConfigureFile, ConfigureRequest, ConfigureResult, LogEvent};
use crate::{Error, Result, wire};

/// A configure call being built. See [`Agent::configure`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let result = sb
///     .agent()
///     .configure()
///     .file("/workspace/agent.py", "print(input())\n")
///     .entrypoint(["python3", "/workspace/agent.py"])
///     .send()
///     .await?;
/// println!("configured at {}", result.last_configured_at);
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Debug)]
pub struct Configure {
    pub(super) agent: Agent,
    pub(super) request: ConfigureRequest,
}

impl Configure {
    /// Writes a file before installing (absolute path). UTF-8 content is sent as text,
    /// anything else as base64.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.agent()
    ///     .configure()
    ///     .file("/workspace/agent.py", "print(input())\n") // UTF-8: sent as text
    ///     .file("/workspace/logo.png", vec![0x89, b'P', b'N', b'G']) // binary: sent as base64
    ///     .entrypoint(["python3", "/workspace/agent.py"])
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn file(mut self, path: impl Into<String>, content: impl Into<Bytes>) -> Self {
        let content = content.into();
        let (text, b64) = match std::str::from_utf8(&content) {
            Ok(s) => (Some(s.to_owned()), None),
            Err(_) => (None, Some(wire::base64(&content))),
        };
        self.request.files.push(ConfigureFile {
            path: path.into(),
            content: text,
            content_base64: b64,
        });
        self
    }

    /// The install command, as an argument vector (run without a shell).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.agent()
    ///     .configure()
    ///     .install_command(["pip", "install", "-r", "/workspace/requirements.txt"])
    ///     .entrypoint(["python3", "/workspace/agent.py"])
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn install_command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.request.install_command = argv.into_iter().map(Into::into).collect();
        self
    }

    /// The entrypoint later invokes run, as an argument vector.
    ///
    /// **Omitting it clears the saved entrypoint**: the Router saves the entrypoint of every
    /// configure call, so a configure without one makes later invokes fail with 424.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// // Changing one file: the entrypoint is named again, or it would be cleared.
    /// sb.agent()
    ///     .configure()
    ///     .file("/workspace/config.json", r#"{"model":"small"}"#)
    ///     .entrypoint(["python3", "/workspace/agent.py"])
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn entrypoint<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.request.entrypoint = argv.into_iter().map(Into::into).collect();
        self
    }

    fn check(&self) -> Result<()> {
        let r = &self.request;
        if r.files.is_empty() && r.install_command.is_empty() && r.entrypoint.is_empty() {
            return Err(Error::invalid(
                "configure",
                "set at least one of files, install_command, entrypoint",
            ));
        }
        if r.files.len() > 200 {
            return Err(Error::invalid(
                "files",
                "the Router accepts at most 200 files",
            ));
        }
        for f in &r.files {
            wire::remote_path(&f.path)?;
        }
        Ok(())
    }

    /// Sends the call and returns the event stream.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::TryStreamExt;
    /// use agenttier::ConfigureEvent;
    /// let events: Vec<ConfigureEvent> = sb
    ///     .agent()
    ///     .configure()
    ///     .entrypoint(["/workspace/run.sh"])
    ///     .stream()
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn stream(self) -> Result<EventStream<ConfigureEvent>> {
        self.check()?;
        let body = serde_json::to_vec(&self.request)
            .map_err(|e| Error::invalid("configure", e.to_string()))?;
        let resp = self
            .agent
            .post_stream(
                &op::CONFIGURE_AGENT,
                body,
                "application/json",
                &[],
                CONFIGURE_TIMEOUT,
            )
            .await?;
        event_stream(resp, self.agent.max_event())
    }

    /// Sends the call, hands each log line to `on_log`, and returns the result. An `error`
    /// event, a stream without a result, or a non-zero install exit code is [`Error::Agent`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let mut lines = Vec::new();
    /// let result = sb
    ///     .agent()
    ///     .configure()
    ///     .install_command(["npm", "ci"])
    ///     .entrypoint(["node", "/workspace/agent.js"])
    ///     .send_logging(|log| lines.push(log.data.clone()))
    ///     .await?;
    /// println!("{} log lines, install hash {}", lines.len(), result.install_command_hash);
    /// # Ok(()) }
    /// ```
    pub async fn send_logging(self, mut on_log: impl FnMut(&LogEvent)) -> Result<ConfigureResult> {
        let mut events = self.stream().await?;
        while let Some(ev) = events.next().await {
            match ev? {
                ConfigureEvent::Log(l) => on_log(&l),
                ConfigureEvent::Error(e) => {
                    return Err(Error::Agent {
                        operation: "configure",
                        phase: Some(e.phase),
                        message: e.message,
                    });
                }
                ConfigureEvent::Result(r) if r.install_exit_code != 0 => {
                    return Err(Error::Agent {
                        operation: "configure",
                        phase: Some("install".into()),
                        message: format!(
                            "install exited with code {}; nothing was saved",
                            r.install_exit_code
                        ),
                    });
                }
                ConfigureEvent::Result(r) => return Ok(r),
                ConfigureEvent::Unknown { .. } => {}
            }
        }
        Err(Error::Agent {
            operation: "configure",
            phase: None,
            message: "the stream ended without a result".into(),
        })
    }

    /// Sends the call and returns the result, ignoring log lines (awaiting the builder does the
    /// same); see [`Configure::send_logging`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let configure = sb.agent().configure().entrypoint(["python3", "/workspace/agent.py"]);
    /// let result = configure.send().await?;
    /// println!("install skipped: {}", result.skipped);
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<ConfigureResult> {
        self.send_logging(|_| {}).await
    }
}

impl std::future::IntoFuture for Configure {
    type Output = Result<ConfigureResult>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = Result<ConfigureResult>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
