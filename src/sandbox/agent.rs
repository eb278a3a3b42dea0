//! Agent mode: configure a sandbox's agent and invoke it, with the Router's event streams.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::Sandbox;
use crate::operations::{Operation, op};
use crate::sse::{SseEnd, SseEvent, SseParser};
use crate::types::{
    CancelInvokeRequest, ConfigureErrorEvent, ConfigureFile, ConfigureRequest, ConfigureResult,
    InvokeExitEvent, InvokeStartEvent, LogEvent,
};
use crate::{Error, Result, wire};

/// HTTP timeout of a configure stream (the Router's install runs up to 15 minutes).
const CONFIGURE_TIMEOUT: Duration = Duration::from_secs(900);
/// HTTP timeout of an invoke stream without a caller timeout (the Router's default is 30 min).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(1830);

/// An event of a configure stream.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// use agenttier::ConfigureEvent;
/// let mut events = sb
///     .agent()
///     .configure()
///     .install_command(["npm", "ci"])
///     .entrypoint(["node", "/workspace/agent.js"])
///     .stream()
///     .await?;
/// while let Some(ev) = events.next().await {
///     match ev? {
///         ConfigureEvent::Log(line) => println!("{}", line.data),
///         ConfigureEvent::Error(e) => eprintln!("{} failed: {}", e.phase, e.message),
///         ConfigureEvent::Result(r) => println!("install exited {}", r.install_exit_code),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigureEvent {
    /// A line of progress or install output.
    Log(LogEvent),
    /// The install failed; the stream ends and no result follows.
    Error(ConfigureErrorEvent),
    /// The final result. A non-zero `install_exit_code` means nothing was saved.
    Result(ConfigureResult),
    /// An event this SDK does not know, kept as is.
    Unknown {
        /// The event name.
        event: String,
        /// Its data.
        data: String,
    },
}

/// An event of an invoke stream. Keepalive comments are skipped.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// use agenttier::InvokeEvent;
/// let mut events = sb.agent().invoke("hello").stream().await?;
/// while let Some(ev) = events.next().await {
///     match ev? {
///         InvokeEvent::Start(s) => println!("started {}", s.invoke_id),
///         InvokeEvent::Log(l) => println!("[{}] {}", l.stream, l.data),
///         InvokeEvent::Exit(e) => println!("exit {} after {} ms", e.exit_code, e.duration_ms),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InvokeEvent {
    /// The invocation started.
    Start(InvokeStartEvent),
    /// A line of stdout or stderr.
    Log(LogEvent),
    /// The invocation ended.
    Exit(InvokeExitEvent),
    /// An event this SDK does not know, kept as is.
    Unknown {
        /// The event name.
        event: String,
        /// Its data.
        data: String,
    },
}

trait FromSse: Sized {
    const OPERATION: &'static str;
    fn from_sse(ev: SseEvent) -> Result<Self>;
}

fn parse<T: DeserializeOwned>(op: &'static str, ev: &SseEvent) -> Result<T> {
    serde_json::from_str(&ev.data).map_err(|e| {
        Error::decode(
            op,
            Some(200),
            None,
            format!("`{}` event: {e}", ev.event),
            ev.data.as_bytes(),
        )
    })
}

impl FromSse for ConfigureEvent {
    const OPERATION: &'static str = op::CONFIGURE_AGENT.name;
    fn from_sse(ev: SseEvent) -> Result<Self> {
        Ok(match ev.event.as_str() {
            "log" => ConfigureEvent::Log(parse(Self::OPERATION, &ev)?),
            "error" => ConfigureEvent::Error(parse(Self::OPERATION, &ev)?),
            "result" => ConfigureEvent::Result(parse(Self::OPERATION, &ev)?),
            _ => ConfigureEvent::Unknown {
                event: ev.event,
                data: ev.data,
            },
        })
    }
}

impl FromSse for InvokeEvent {
    const OPERATION: &'static str = op::INVOKE_AGENT.name;
    fn from_sse(ev: SseEvent) -> Result<Self> {
        Ok(match ev.event.as_str() {
            "start" => InvokeEvent::Start(parse(Self::OPERATION, &ev)?),
            "log" => InvokeEvent::Log(parse(Self::OPERATION, &ev)?),
            "exit" => InvokeEvent::Exit(parse(Self::OPERATION, &ev)?),
            _ => InvokeEvent::Unknown {
                event: ev.event,
                data: ev.data,
            },
        })
    }
}

/// A stream of typed events from the Router. Dropping it closes the connection; for invoke,
/// the Router then cancels the invocation.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// let events = sb.agent().invoke("hello").stream().await?;
/// // The first ten events; the stream is then dropped, which cancels the invocation.
/// let first: Vec<_> = events.take(10).collect().await;
/// # Ok(()) }
/// ```
pub struct EventStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T>> + Send>>,
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventStream")
    }
}

impl<T> Stream for EventStream<T> {
    type Item = Result<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct SseState {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: SseParser,
    queue: VecDeque<SseEvent>,
    done: bool,
}

/// Turns a streamed response into typed events, after checking it really is an event stream.
fn event_stream<T: FromSse + Send + 'static>(resp: reqwest::Response) -> Result<EventStream<T>> {
    {
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !ct.starts_with("text/event-stream") {
            return Err(Error::decode(
                T::OPERATION,
                Some(resp.status().as_u16()),
                crate::error::request_id(resp.headers()),
                format!("expected text/event-stream, got {ct:?}"),
                b"",
            ));
        }
        let state = SseState {
            body: Box::pin(resp.bytes_stream()),
            parser: SseParser::default(),
            queue: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.queue.pop_front() {
                    return Some((T::from_sse(ev), st));
                }
                if st.done {
                    return None;
                }
                match st.body.next().await {
                    Some(Ok(chunk)) => match st.parser.push(&chunk) {
                        Ok(events) => st.queue.extend(events),
                        Err(e) => {
                            st.done = true;
                            return Some((
                                Err(Error::decode(T::OPERATION, Some(200), None, e, b"")),
                                st,
                            ));
                        }
                    },
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(Error::from_reqwest(T::OPERATION, e)), st));
                    }
                    None => {
                        st.done = true;
                        match st.parser.finish() {
                            SseEnd::Clean(Some(ev)) => st.queue.push_back(ev),
                            SseEnd::Clean(None) => {}
                            SseEnd::Truncated => {
                                return Some((
                                    Err(Error::Agent {
                                        operation: if T::OPERATION == op::INVOKE_AGENT.name {
                                            "invoke"
                                        } else {
                                            "configure"
                                        },
                                        phase: None,
                                        message:
                                            "the event stream was cut in the middle of an event"
                                                .into(),
                                    }),
                                    st,
                                ));
                            }
                        }
                    }
                }
            }
        });
        Ok(EventStream {
            inner: Box::pin(stream),
        })
    }
}

/// Agent-mode calls of one sandbox: `sandbox.agent()`.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let agent = sb.agent();
/// agent.configure().entrypoint(["python3", "/workspace/agent.py"]).send().await?;
/// let out = agent.invoke("hello").collect().await?;
/// println!("{}", out.stdout);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Agent<'a> {
    sandbox: &'a Sandbox,
}

impl Sandbox {
    /// Agent mode (the sandbox's template must have `mode: agent`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.agent().invoke(r#"{"task":"summarize"}"#).collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn agent(&self) -> Agent<'_> {
        Agent { sandbox: self }
    }
}

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
pub struct Configure<'a> {
    agent: Agent<'a>,
    request: ConfigureRequest,
}

impl Configure<'_> {
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
        let sb = self.agent.sandbox;
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
        let _ = sb;
        event_stream(resp)
    }

    /// Sends the call, passes each log line to `on_log`, and returns the result. An `error`
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
    ///     .send_with(|log| lines.push(log.data.clone()))
    ///     .await?;
    /// println!("{} log lines, install hash {}", lines.len(), result.install_command_hash);
    /// # Ok(()) }
    /// ```
    pub async fn send_with(self, mut on_log: impl FnMut(&LogEvent)) -> Result<ConfigureResult> {
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

    /// [`Configure::send_with`] ignoring log lines.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let configure = sb.agent().configure().entrypoint(["python3", "/workspace/agent.py"]);
    /// let result = configure.send().await?;
    /// println!("install skipped: {}", result.skipped);
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<ConfigureResult> {
        self.send_with(|_| {}).await
    }
}

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
pub struct Invoke<'a> {
    agent: Agent<'a>,
    payload: Bytes,
    content_type: &'static str,
    prompt: Option<String>,
    timeout: Option<Duration>,
}

/// What an invocation produced, collected from its stream.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let out = sb.agent().invoke("hello").collect().await?;
/// println!("{}: {} (exit {}) in {:?}", out.invoke_id, out.reason, out.exit_code, out.duration);
/// # Ok(()) }
/// ```
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
    /// ```
    /// use std::time::Duration;
    /// use agenttier::InvokeOutput;
    ///
    /// let out = InvokeOutput {
    ///     invoke_id: "inv-0123456789abcdef01234567".into(),
    ///     stdout: String::new(),
    ///     stderr: String::new(),
    ///     exit_code: -1,
    ///     duration: Duration::from_secs(5),
    ///     reason: "canceled".into(),
    /// };
    /// assert!(!out.success());
    /// ```
    pub fn success(&self) -> bool {
        self.exit_code == 0 && self.reason == "completed"
    }
}

impl Invoke<'_> {
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
                t + Duration::from_secs(30)
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
        event_stream(resp)
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

impl<'a> Agent<'a> {
    async fn post_stream(
        &self,
        op: &'static Operation,
        body: Vec<u8>,
        content_type: &'static str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<reqwest::Response> {
        let client = &self.sandbox.client;
        let mut call = client
            .call(op, &[&self.sandbox.id])?
            .bytes(Bytes::from(body), content_type)
            .accept("text/event-stream")
            .at_least(timeout);
        for (name, value) in query {
            call = call.query(name, value);
        }
        client.stream(call).await
    }

    /// Configures the agent: files to write, an install command and the entrypoint.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let result = sb
    ///     .agent()
    ///     .configure()
    ///     .file("/workspace/agent.py", "print(input())\n")
    ///     .install_command(["pip", "install", "requests"])
    ///     .entrypoint(["python3", "/workspace/agent.py"])
    ///     .send_with(|log| println!("[{}] {}", log.stream, log.data))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "configureAgent")]
    pub fn configure(&self) -> Configure<'a> {
        Configure {
            agent: self.clone(),
            request: ConfigureRequest {
                files: Vec::new(),
                install_command: Vec::new(),
                entrypoint: Vec::new(),
            },
        }
    }

    /// Invokes the entrypoint with `payload` on stdin (raw bytes, at most 16 MiB).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::InvokeEvent;
    /// let mut events = sb.agent().invoke("hello").prompt("be brief").stream().await?;
    /// while let Some(ev) = events.next().await {
    ///     match ev? {
    ///         InvokeEvent::Log(line) => println!("{}", line.data),
    ///         InvokeEvent::Exit(exit) => println!("exit {}", exit.exit_code),
    ///         _ => {}
    ///     }
    /// }
    /// let out = sb.agent().invoke("hello").collect().await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "invokeAgent")]
    pub fn invoke(&self, payload: impl Into<Bytes>) -> Invoke<'a> {
        Invoke {
            agent: self.clone(),
            payload: payload.into(),
            content_type: "application/octet-stream",
            prompt: None,
            timeout: None,
        }
    }

    /// Cancels an invocation in flight. Only the Router replica serving the stream knows it;
    /// dropping the stream is the reliable way to cancel.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::InvokeEvent;
    /// let agent = sb.agent();
    /// let mut events = agent.invoke("long task").stream().await?;
    /// if let Some(Ok(InvokeEvent::Start(start))) = events.next().await {
    ///     agent.cancel(&start.invoke_id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "cancelInvoke")]
    pub async fn cancel(&self, invoke_id: &str) -> Result<()> {
        wire::non_empty("invoke_id", invoke_id)?;
        let c = &self.sandbox.client;
        let body = CancelInvokeRequest {
            invoke_id: invoke_id.to_owned(),
        };
        c.empty(
            c.call(&crate::operations::op::CANCEL_INVOKE, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
        .map(drop)
    }

    /// The last install log (up to 8 KiB). The Router writes this body with Go's `%q`, so ANSI
    /// colours and invalid UTF-8 make it invalid JSON; it is read leniently here.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let log = sb.agent().install_log().await?;
    /// println!("{log}");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getInstallLog")]
    pub async fn install_log(&self) -> Result<String> {
        let c = &self.sandbox.client;
        let answer = c
            .buffered(c.call(&op::GET_INSTALL_LOG, &[&self.sandbox.id])?)
            .await?;
        read_install_log(&answer.body).ok_or_else(|| {
            Error::decode(
                op::GET_INSTALL_LOG.name,
                Some(answer.status.as_u16()),
                answer.request_id(),
                "not an install-log body",
                &answer.body,
            )
        })
    }
}

/// Reads `{"log": "..."}`. The Router writes it with Go's `fmt.Fprintf(w, `{"log": %q}`)`, so
/// the string is a Go quoted literal (control bytes and invalid UTF-8 as `\xNN`), which is
/// not JSON whenever the log holds such bytes.
pub(crate) fn read_install_log(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<crate::types::InstallLog>(body) {
        return Some(v.log);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let rest = text
        .strip_prefix('{')?
        .trim_start()
        .strip_prefix("\"log\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let inner = rest
        .strip_prefix('"')?
        .strip_suffix('}')?
        .trim_end()
        .strip_suffix('"')?;
    wire::unquote_go(inner).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoted_install_log_is_read_leniently() {
        let body = br#"{"log":"\x1b[32mok\x1b[0m caf\xc3\xa9 \u00e9 \"q\"\n"}"#;
        assert_eq!(
            read_install_log(body).unwrap(),
            "\u{1b}[32mok\u{1b}[0m café é \"q\"\n"
        );
        assert_eq!(read_install_log(br#"{"log":"plain"}"#).unwrap(), "plain");
        // What the Router really writes: `{"log": %q}`, a space after the colon.
        assert_eq!(
            read_install_log(b"{\"log\": \"pip \\x1b[1mok\\x1b[0m\\n\"}").unwrap(),
            "pip \u{1b}[1mok\u{1b}[0m\n"
        );
        assert!(read_install_log(b"<html>").is_none());
    }
}
