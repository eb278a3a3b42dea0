//! Terminal sessions over the Router's WebSocket, `/ws/terminal/{sandboxId}` (feature
//! `terminal`).
//!
//! Two levels:
//!
//! - [`Terminal`]: the raw session. [`Terminal::write`] sends keystrokes, [`Terminal::resize`]
//!   the window size, and the terminal is a [`Stream`] of [`TerminalEvent`]s (output,
//!   heartbeats, pongs, errors).
//! - [`Shell`]: a stateful shell on top. [`Shell::run`] sends one command and returns its
//!   output and exit code, so `cd` and `export` persist from one run to the next.
//!
//! ```no_run
//! # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
//! let mut shell = sb.terminal().shell().await?;
//! shell.run("cd /workspace && export GREETING=hello").await?;
//! let out = shell.run("echo $GREETING from $(pwd)").await?;
//! assert_eq!(out.stdout, "hello from /workspace\n");
//! assert_eq!(out.exit_code, 0);
//! shell.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Connecting
//!
//! The upgrade request goes through the client's own HTTP connection (reqwest), so it uses
//! the same TLS backend (features `rustls` / `native-tls`), root certificates, proxy and
//! credentials as every other call. The credential is sent the way the Router's terminal
//! reads it: an API key in `X-API-Key`, a bearer token (an OIDC JWT) in
//! `Authorization: Bearer`. It is not put in the URL unless asked
//! ([`TerminalBuilder::token_in_query`], bearer tokens only: the Router tries `?token=` only
//! as a JWT), since a token in a URL ends up in logs. The sandbox is resolved by name as for REST
//! calls; [`TerminalBuilder::namespace`] pins the namespace (the only route that takes one).
//!
//! Failures before the upgrade are plain-text answers, returned as the usual typed errors
//! with their status: 401 (`invalid api key`, `missing authentication`, `invalid token: …`)
//! → [`Error::Authentication`], 403 `access denied` → [`Error::Authorization`], 404 `sandbox
//! not found` → [`Error::NotFound`], 409 `sandbox is not running` → [`Error::Conflict`].
//!
//! # Liveness
//!
//! The Router sends a ping control frame and a `heartbeat` frame every 30 s, and closes a
//! session that has not answered a ping within 70 s (data frames do not count). A background
//! task owns the socket and reads it all the time, so pings are answered even while nobody
//! reads the terminal's events. When the shell exits, the Router closes the connection without
//! a close frame: the event stream just ends.
//!
//! # What the output looks like
//!
//! The Router sends PTY output (stderr merged into stdout) as JSON strings: invalid UTF-8,
//! and a multi-byte character split between two frames, arrive as U+FFFD. [`Shell`] turns off
//! echo and CR/LF translation (`stty -echo -onlcr`) and the prompts (`PS1`, `PS2`) when the
//! session starts, and frames each command between unique random markers, so prompts,
//! colours and frames cut anywhere do not leak into a run's output. When the image runs the
//! shell inside tmux, the output is tmux's rendering of the screen (long lines are wrapped).
//!
//! The FakeRouter (feature `testing`) serves terminals too: a scripted shell by default (the
//! emulator's exec built-ins with `cd`, `export`, groups, pipes and redirections, echo until
//! `stty -echo`), or with `local_exec(true)` a real `sh` over pipes instead of a PTY.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::operations::{Access, BodyKind, Method, Operation, RetryClass};
use crate::pipeline::body;
use crate::pipeline::{Call, Failure};
use crate::{Error, Result, Sandbox, wire};

/// The terminal route (outside the spec; it answers the upgrade with 101).
static TERMINAL: Operation = Operation {
    id: "terminal",
    name: "terminal",
    method: Method::GET,
    path: "/ws/terminal/{sandboxId}",
    tag: "terminal",
    summary: "Open a terminal session over a WebSocket",
    access: Access::Read,
    retry: RetryClass::Safe,
    scoped_key_group: None,
    request: BodyKind::Empty,
    response: BodyKind::Empty,
    facade: "Sandbox::terminal",
};

/// How long [`Shell::run`] waits for a command, unless told otherwise.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest WebSocket message accepted from the Router (output frames are small).
const MAX_MESSAGE: usize = 4 << 20;

impl Sandbox {
    /// A terminal session on this sandbox (feature `terminal`): connect with
    /// [`TerminalBuilder::connect`] for the raw session or [`TerminalBuilder::shell`] for
    /// a stateful shell. See [`crate::terminal`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::terminal::TerminalEvent;
    ///
    /// let mut term = sb.terminal().size(100, 30).await?;
    /// term.write("ls -la\r").await?;
    /// while let Some(event) = term.next().await {
    ///     if let TerminalEvent::Output(text) = event? {
    ///         print!("{text}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
    pub fn terminal(&self) -> TerminalBuilder {
        TerminalBuilder {
            sandbox: self.clone(),
            namespace: None,
            size: None,
            token_in_query: false,
        }
    }
}

/// Options for opening a terminal session ([`Sandbox::terminal`]); await it (or call
/// [`TerminalBuilder::connect`]) for a [`Terminal`], or call [`TerminalBuilder::shell`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let term = sb.terminal().namespace("team-a").size(120, 40).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a terminal builder does nothing until it connects"]
pub struct TerminalBuilder {
    sandbox: Sandbox,
    namespace: Option<String>,
    size: Option<(u16, u16)>,
    token_in_query: bool,
}

impl TerminalBuilder {
    /// Also sends a bearer token (an OIDC JWT) as `?token=`, which the Router's terminal
    /// reads before the `Authorization` header: for a proxy in front of the Router that drops
    /// `Authorization` on upgrades. Off by default, because a token in a URL can end up in
    /// access logs. An API key is never put there: the Router tries `?token=` only as a JWT,
    /// so a key always goes in `X-API-Key`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let term = sb.terminal().token_in_query(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn token_in_query(mut self, yes: bool) -> Self {
        self.token_in_query = yes;
        self
    }

    /// Pins the sandbox's namespace (`?namespace=`). Without it the Router looks the name up
    /// in its own namespace first, then cluster-wide, as for REST calls; a name that exists
    /// in several namespaces can only be reached this way.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let term = sb.terminal().namespace("team-a").await?;
    /// # Ok(()) }
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The window size to set right after connecting (the Router starts at 120×40).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let term = sb.terminal().size(80, 24).await?;
    /// # Ok(()) }
    /// ```
    pub fn size(mut self, cols: u16, rows: u16) -> Self {
        self.size = Some((cols, rows));
        self
    }

    /// Opens the session: the upgrade goes through the client's pipeline (credentials,
    /// timeouts, tracing); failures before the upgrade are typed errors.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::Error;
    /// match sb.terminal().connect().await {
    ///     Ok(term) => drop(term),
    ///     Err(Error::Conflict(_)) => eprintln!("start the sandbox first"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Terminal> {
        let sandbox = &self.sandbox;
        wire::id("sandbox id", sandbox.id())?;
        let client = &sandbox.client;
        let mut raw = format!("{}/ws/terminal/", client.base_url());
        wire::push_path_segment(&mut raw, sandbox.id());
        let mut url = reqwest::Url::parse(&raw)
            .map_err(|e| Error::invalid("url", format!("{raw:?}: {e}")))?;
        if let Some(ns) = &self.namespace {
            wire::non_empty("namespace", ns)?;
            url.query_pairs_mut().append_pair("namespace", ns);
        }
        if self.token_in_query
            && let Some(crate::auth::Credential::Bearer(token)) =
                client.pipeline().auth.credential().await?
        {
            url.query_pairs_mut().append_pair("token", token.expose());
        }
        let key = generate_key();
        let accept = derive_accept_key(key.as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        headers.insert(
            "sec-websocket-key",
            HeaderValue::from_str(&key).map_err(|e| Error::invalid("request", e.to_string()))?,
        );
        let mut call = Call::to_url(&TERMINAL, url);
        call.accept = "";
        call.headers = Some(Box::new(headers));
        call.pass_through = true;
        let resp = client
            .pipeline()
            .execute(&call, client.options(), true, |resp| {
                let accept = accept.clone();
                async move {
                    let status = resp.status();
                    if status == StatusCode::SWITCHING_PROTOCOLS {
                        let ok = resp
                            .headers()
                            .get(SEC_WEBSOCKET_ACCEPT)
                            .is_some_and(|v| v.as_bytes() == accept.as_bytes());
                        if !ok {
                            return Err(Failure::Done(Error::decode(
                                "terminal",
                                Some(101),
                                crate::error::request_id(resp.headers()),
                                "the answer's Sec-WebSocket-Accept does not match the request",
                                b"",
                            )));
                        }
                        return Ok(resp);
                    }
                    let headers = resp.headers().clone();
                    let body = body::read_prefix(resp, body::MAX_ERROR_BODY).await;
                    // A 2xx that is not an upgrade (a proxy that does not pass WebSockets).
                    let status = if status.is_success() {
                        StatusCode::BAD_GATEWAY
                    } else {
                        status
                    };
                    Err(Failure::Read {
                        status,
                        headers,
                        body,
                    })
                }
            })
            .await?;
        let upgraded = resp
            .upgrade()
            .await
            .map_err(|e| Error::from_reqwest("terminal", e))?;
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE);
        config.max_frame_size = Some(MAX_MESSAGE);
        let ws = WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await;
        let terminal = Terminal::start(ws);
        if let Some((cols, rows)) = self.size {
            terminal.resize(cols, rows).await?;
        }
        Ok(terminal)
    }

    /// Opens the session and starts a stateful [`Shell`] on it.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let mut shell = sb.terminal().shell().await?;
    /// let out = shell.run("uname -s").await?;
    /// # Ok(()) }
    /// ```
    pub async fn shell(self) -> Result<Shell> {
        Shell::start(self.connect().await?).await
    }
}

impl IntoFuture for TerminalBuilder {
    type Output = Result<Terminal>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Terminal>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.connect())
    }
}

/// One thing the Router sent on a terminal session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalEvent {
    /// PTY output (stderr merged in), with invalid UTF-8 as U+FFFD.
    Output(String),
    /// The Router's periodic heartbeat (`ts`: epoch milliseconds).
    Heartbeat {
        /// When the Router sent it, in epoch milliseconds.
        ts: Option<i64>,
    },
    /// The answer to [`Terminal::ping`] (the Router sends it on its SPDY path only).
    Pong,
    /// An `error` frame (e.g. the in-pod runtime could not start the PTY).
    Error(String),
    /// A `close` frame or a WebSocket close frame (the Router sends neither today: it just
    /// closes the connection, and the stream ends).
    Closed {
        /// `sandbox_stopped`, `idle_timeout`, ... when given.
        reason: Option<String>,
        /// The close code, when given.
        code: Option<i64>,
    },
}

/// `WSMessage`.
#[derive(Serialize, Deserialize, Default)]
struct WsMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cols: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rows: Option<u32>,
    #[serde(default, skip_serializing)]
    reason: Option<String>,
    #[serde(default, skip_serializing)]
    code: Option<i64>,
    #[serde(default, skip_serializing)]
    message: Option<String>,
    #[serde(default, skip_serializing)]
    ts: Option<i64>,
}

enum Command {
    Send(Message),
    Close,
}

/// An open terminal session: write keystrokes, resize, and read [`TerminalEvent`]s as a
/// [`Stream`]. Dropping it closes the connection.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// use agenttier::terminal::TerminalEvent;
///
/// let mut term = sb.terminal().await?;
/// term.write("echo hi; exit\n").await?;
/// let mut seen = String::new();
/// while let Some(event) = term.next().await {
///     if let TerminalEvent::Output(text) = event? {
///         seen.push_str(&text);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Terminal {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Result<TerminalEvent>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("open", &!self.commands.is_closed())
            .finish_non_exhaustive()
    }
}

fn closed() -> Error {
    Error::TerminalClosed {
        message: "the terminal session has ended".to_owned(),
    }
}

impl Terminal {
    fn start<S>(ws: WebSocketStream<S>) -> Terminal
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (commands, rx) = mpsc::unbounded_channel();
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(pump(ws, rx, tx));
        Terminal {
            commands,
            events,
            task,
        }
    }

    fn send(&self, msg: &WsMessage) -> Result<()> {
        let text = serde_json::to_string(msg).expect("a WSMessage serialises");
        self.commands
            .send(Command::Send(Message::Text(text.into())))
            .map_err(|_| closed())
    }

    /// Sends keystrokes (an `input` frame). A real terminal expects `\r` for Enter; a shell
    /// reading lines accepts `\n` too.
    ///
    /// ```no_run
    /// # async fn demo(term: agenttier::terminal::Terminal) -> agenttier::Result<()> {
    /// term.write("top\r").await?;
    /// term.write("q").await?;
    /// # Ok(()) }
    /// ```
    pub async fn write(&self, data: impl Into<String>) -> Result<()> {
        self.send(&WsMessage {
            kind: "input".to_owned(),
            data: Some(data.into()),
            ..WsMessage::default()
        })
    }

    /// Sets the window size (the Router clamps each value to 1..=65535).
    ///
    /// ```no_run
    /// # async fn demo(term: agenttier::terminal::Terminal) -> agenttier::Result<()> {
    /// term.resize(200, 50).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.send(&WsMessage {
            kind: "resize".to_owned(),
            cols: Some(u32::from(cols)),
            rows: Some(u32::from(rows)),
            ..WsMessage::default()
        })
    }

    /// Sends an application-level `ping` frame; the Router answers [`TerminalEvent::Pong`]
    /// on its default (SPDY) path only. Liveness does not need it: WebSocket pings are
    /// answered automatically.
    ///
    /// ```no_run
    /// # async fn demo(term: agenttier::terminal::Terminal) -> agenttier::Result<()> {
    /// term.ping().await?;
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<()> {
        self.send(&WsMessage {
            kind: "ping".to_owned(),
            ..WsMessage::default()
        })
    }

    /// The next event, `None` once the session has ended.
    ///
    /// ```no_run
    /// # async fn demo(mut term: agenttier::terminal::Terminal) -> agenttier::Result<()> {
    /// while let Some(event) = term.next_event().await {
    ///     println!("{:?}", event?);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_event(&mut self) -> Option<Result<TerminalEvent>> {
        self.events.recv().await
    }

    /// Closes the session (a WebSocket close frame) and waits for the connection to end.
    /// The Router ends the shell's exec stream; a shell kept in tmux lives on.
    ///
    /// ```no_run
    /// # async fn demo(term: agenttier::terminal::Terminal) -> agenttier::Result<()> {
    /// term.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn close(mut self) {
        let _ = self.commands.send(Command::Close);
        let _ = (&mut self.task).await;
    }
}

impl Stream for Terminal {
    type Item = Result<TerminalEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that owns the socket: it reads all the time (which answers the Router's pings),
/// sends what the handle asks, and forwards events.
async fn pump<S>(
    mut ws: WebSocketStream<S>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Result<TerminalEvent>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Send(msg)) => {
                    if let Err(e) = ws.send(msg).await {
                        let _ = events.send(Err(Error::TerminalClosed {
                            message: format!("sending failed: {e}"),
                        }));
                        return;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = ws.close(None).await;
                    // Drain until the server's close (or the end of the connection).
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
            },
            msg = ws.next() => match msg {
                // The Router closes the TCP connection without a close frame: that is the
                // normal end of a session.
                None | Some(Err(_)) => return,
                Some(Ok(Message::Text(text))) => {
                    if let Some(event) = event_of(text.as_str())
                        && events.send(Ok(event)).is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    if events.send(Ok(TerminalEvent::Output(text))).is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = events.send(Ok(TerminalEvent::Closed {
                        reason: frame.as_ref().map(|f| f.reason.to_string()).filter(|r| !r.is_empty()),
                        code: frame.map(|f| i64::from(u16::from(f.code))),
                    }));
                    return;
                }
                // Pings are answered by tungstenite on the next read or write.
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A text frame as an event; malformed and unknown frames are skipped.
fn event_of(text: &str) -> Option<TerminalEvent> {
    let m: WsMessage = serde_json::from_str(text).ok()?;
    Some(match m.kind.as_str() {
        "output" => TerminalEvent::Output(m.data.unwrap_or_default()),
        "heartbeat" => TerminalEvent::Heartbeat { ts: m.ts },
        "pong" => TerminalEvent::Pong,
        "error" => TerminalEvent::Error(m.message.or(m.data).unwrap_or_default()),
        "close" => TerminalEvent::Closed {
            reason: m.reason,
            code: m.code,
        },
        _ => return None,
    })
}

/// What one [`Shell::run`] printed and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellOutput {
    /// Everything the command wrote, stderr included (a PTY merges them), exactly as the
    /// terminal sent it (invalid UTF-8 as U+FFFD); no newline is added or removed.
    pub stdout: String,
    /// The exit code (`$?`).
    pub exit_code: i32,
}

impl ShellOutput {
    /// The output as bytes.
    ///
    /// ```no_run
    /// # async fn demo(mut shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// let bytes = shell.run("printf 'a\\tb'").await?.bytes().to_vec();
    /// assert_eq!(bytes, b"a\tb");
    /// # Ok(()) }
    /// ```
    pub fn bytes(&self) -> &[u8] {
        self.stdout.as_bytes()
    }

    /// `Ok(self)` for exit code 0, else [`Error::CommandFailed`].
    ///
    /// ```no_run
    /// # async fn demo(mut shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// shell.run("make").await?.check()?;
    /// # Ok(()) }
    /// ```
    pub fn check(self) -> Result<ShellOutput> {
        if self.exit_code == 0 {
            Ok(self)
        } else {
            Err(Error::CommandFailed {
                exit_code: self.exit_code,
                stdout: self.stdout,
                stderr: String::new(),
            })
        }
    }
}

/// A stateful shell on a terminal session: each [`Shell::run`] runs one command in the same
/// shell, so the working directory, variables and functions persist.
///
/// Each run is framed by markers with a fresh random id: the output is what the command
/// printed between them, whatever prompts, colours or frame boundaries surround it. A run
/// that times out leaves its command running; [`Shell::interrupt`] sends Ctrl-C.
///
/// Starting a shell changes the terminal's settings (no echo, empty prompts); with tmux in
/// the image, other connections to the same sandbox share that shell and see the change.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use std::time::Duration;
/// let mut shell = sb.terminal().shell().await?;
/// shell.run("python3 -m venv /workspace/.venv && . /workspace/.venv/bin/activate").await?;
/// let out = shell.run_with_timeout("pip install -q requests", Duration::from_secs(600)).await?;
/// out.check()?;
/// shell.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Shell {
    terminal: Terminal,
    buffer: String,
    pending: VecDeque<TerminalEvent>,
    timeout: Duration,
}

impl Shell {
    /// Starts a shell on an open terminal: quiets echo, prompts and CR/LF translation, then
    /// waits for the shell to answer.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::terminal::Shell;
    /// let term = sb.terminal().size(200, 50).await?;
    /// let mut shell = Shell::start(term).await?;
    /// # Ok(()) }
    /// ```
    pub async fn start(terminal: Terminal) -> Result<Shell> {
        let mut shell = Shell {
            terminal,
            buffer: String::new(),
            pending: VecDeque::new(),
            timeout: DEFAULT_RUN_TIMEOUT,
        };
        let id = marker_id();
        let ready = format!("__agenttier_ready_{id}__");
        shell
            .terminal
            .write(format!(
                "stty -echo -onlcr 2>/dev/null; PS1=''; PS2=''; PROMPT_COMMAND=''; printf '%s%s\\n' '__agenttier_ready_' '{id}__'\n"
            ))
            .await?;
        let timeout = shell.timeout;
        let wait = async {
            loop {
                if let Some(i) = shell.buffer.find(&ready)
                    && let Some(nl) = shell.buffer[i..].find('\n')
                {
                    shell.buffer.drain(..i + nl + 1);
                    return Ok::<(), Error>(());
                }
                shell.fill().await?;
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    operation: "terminal_shell",
                    after: Some(timeout),
                    source: None,
                });
            }
        }
        Ok(shell)
    }

    /// The timeout of [`Shell::run`] (default [`DEFAULT_RUN_TIMEOUT`], 5 minutes).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let mut shell = sb.terminal().shell().await?.timeout(Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `command` in the shell and returns its output and exit code. State (`cd`,
    /// `export`, functions, an activated venv) carries over to the next run. A command that
    /// makes the shell exit (`exit 3`) ends the session with [`Error::TerminalClosed`].
    ///
    /// The command must be complete shell syntax (an unclosed quote makes the shell wait for
    /// more, and the run times out), and it should not read the terminal's input.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let mut shell = sb.terminal().shell().await?;
    /// shell.run("cd /tmp && X=1").await?;
    /// let out = shell.run("echo $X $(pwd); false").await?;
    /// assert_eq!((out.stdout.as_str(), out.exit_code), ("1 /tmp\n", 1));
    /// # Ok(()) }
    /// ```
    pub async fn run(&mut self, command: &str) -> Result<ShellOutput> {
        self.run_with_timeout(command, self.timeout).await
    }

    /// [`Shell::run`] with its own timeout ([`Error::Timeout`] when it passes; the command
    /// keeps running in the shell).
    ///
    /// ```no_run
    /// # async fn demo(mut shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// let out = shell.run_with_timeout("cargo build", Duration::from_secs(900)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_with_timeout(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<ShellOutput> {
        if command.trim().is_empty() {
            return Err(Error::invalid("command", "empty"));
        }
        let id = marker_id();
        let start = format!("__agenttier_s_{id}__");
        let end = format!("__agenttier_e_{id}__:");
        // The markers are printed in two halves, so the echo of this line (on a terminal
        // where `stty -echo` did not take) never contains them. `{ …\n}` keeps the command
        // in the current shell, so its `cd` and `export` persist.
        let input = format!(
            "printf '%s%s\\n' '__agenttier_s_' '{id}__'; {{ {command}\n}}; printf '%s%s:%d\\n' '__agenttier_e_' '{id}__' \"$?\"\n"
        );
        self.terminal.write(input).await?;
        let read = async {
            loop {
                if let Some(out) = self.take_output(&start, &end) {
                    return Ok(out);
                }
                self.fill().await?;
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                operation: "terminal_run",
                after: Some(timeout),
                source: None,
            }),
        }
    }

    /// The run's output, once its end marker and exit code are complete in the buffer.
    fn take_output(&mut self, start: &str, end: &str) -> Option<ShellOutput> {
        let s = self.buffer.find(start)?;
        let mut body = s + start.len();
        if self.buffer[body..].starts_with("\r\n") {
            body += 2;
        } else if self.buffer[body..].starts_with('\n') {
            body += 1;
        } else if self.buffer.len() <= body + 1 {
            return None;
        }
        let e = body + self.buffer[body..].find(end)?;
        let code_at = e + end.len();
        let nl = code_at + self.buffer[code_at..].find('\n')?;
        let code = self.buffer[code_at..nl].trim().parse::<i32>().unwrap_or(-1);
        let stdout = self.buffer[body..e].to_owned();
        self.buffer.drain(..nl + 1);
        Some(ShellOutput {
            stdout,
            exit_code: code,
        })
    }

    /// Reads the next output into the buffer; other events are kept for
    /// [`Shell::into_terminal`].
    async fn fill(&mut self) -> Result<()> {
        match self.terminal.next_event().await {
            Some(Ok(TerminalEvent::Output(text))) => {
                self.buffer.push_str(&text);
                Ok(())
            }
            Some(Ok(TerminalEvent::Error(message))) => Err(Error::TerminalClosed {
                message: format!("the Router reported an error: {message}"),
            }),
            Some(Ok(other)) => {
                if !matches!(other, TerminalEvent::Heartbeat { .. }) {
                    self.pending.push_back(other);
                }
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::TerminalClosed {
                message: "the shell exited or the connection closed".to_owned(),
            }),
        }
    }

    /// Sends Ctrl-C (interrupts a command that is still running on a PTY).
    ///
    /// ```no_run
    /// # async fn demo(mut shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// if shell.run_with_timeout("sleep 100", Duration::from_secs(1)).await.is_err() {
    ///     shell.interrupt().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn interrupt(&self) -> Result<()> {
        self.terminal.write("\u{3}").await
    }

    /// Sets the window size.
    ///
    /// ```no_run
    /// # async fn demo(shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// shell.resize(132, 43).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.terminal.resize(cols, rows).await
    }

    /// The terminal underneath (for raw writes; output read there is not seen by `run`).
    ///
    /// ```no_run
    /// # async fn demo(shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// let term = shell.into_terminal();
    /// # Ok(()) }
    /// ```
    pub fn into_terminal(self) -> Terminal {
        self.terminal
    }

    /// Ends the shell (`exit`) and waits for the session to close (within the run timeout),
    /// then closes the connection.
    ///
    /// When the image runs the shell in tmux, every connection to the sandbox shares that one
    /// shell, so `exit` ends it for the others too. To leave it running, close only the
    /// connection: `shell.into_terminal().close().await`.
    ///
    /// ```no_run
    /// # async fn demo(shell: agenttier::terminal::Shell) -> agenttier::Result<()> {
    /// shell.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(mut self) -> Result<()> {
        self.terminal.write("exit\n").await?;
        let drain = async { while self.terminal.next_event().await.is_some() {} };
        let _ = tokio::time::timeout(self.timeout, drain).await;
        self.terminal.close().await;
        Ok(())
    }
}

/// 16 random hex digits.
fn marker_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal whose frames the test plays, and the frames the shell wrote.
    fn scripted() -> (
        Terminal,
        mpsc::UnboundedReceiver<Command>,
        mpsc::UnboundedSender<Result<TerminalEvent>>,
    ) {
        let (commands, written) = mpsc::unbounded_channel();
        let (play, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async {});
        (
            Terminal {
                commands,
                events,
                task,
            },
            written,
            play,
        )
    }

    /// The marker id in the last input the shell wrote.
    fn id_of(cmd: Option<Command>, prefix: &str) -> String {
        let Some(Command::Send(Message::Text(text))) = cmd else {
            panic!("no input written");
        };
        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        let data = v["data"].as_str().unwrap();
        let at = data.find(prefix).unwrap() + prefix.len() + "' '".len();
        data[at..at + 16].to_owned()
    }

    /// Plays `text` one character per frame.
    fn play_chars(play: &mpsc::UnboundedSender<Result<TerminalEvent>>, text: &str) {
        for c in text.chars() {
            play.send(Ok(TerminalEvent::Output(c.to_string()))).unwrap();
        }
    }

    #[tokio::test]
    async fn runs_are_framed_through_prompts_colours_and_split_frames() {
        let (term, mut written, play) = scripted();
        let starting = tokio::spawn(Shell::start(term));
        let id = id_of(written.recv().await, "__agenttier_ready_");
        // A login banner, a coloured prompt and the echo of the setup line come first.
        play_chars(
            &play,
            &format!(
                "Welcome!\r\n\u{1b}[32muser@sb\u{1b}[0m:~$ stty -echo ... '__agenttier_ready_' '{id}__'\r\n__agenttier_ready_{id}__\r\n"
            ),
        );
        let mut shell = starting.await.unwrap().unwrap();
        let running = tokio::spawn(async move {
            let out = shell.run("ls --color").await;
            (shell, out)
        });
        let id = id_of(written.recv().await, "__agenttier_s_");
        play.send(Ok(TerminalEvent::Heartbeat { ts: Some(1) }))
            .unwrap();
        play_chars(
            &play,
            &format!(
                "\u{1b}[32m$ \u{1b}[0m__agenttier_s_{id}__\r\n\u{1b}[34mdir\u{1b}[0m  file__agenttier_e_{id}__:2\r\n\u{1b}[32m$ "
            ),
        );
        let (_shell, out) = running.await.unwrap();
        let out = out.unwrap();
        assert_eq!(out.stdout, "\u{1b}[34mdir\u{1b}[0m  file");
        assert_eq!(out.exit_code, 2);
    }

    #[test]
    fn reads_the_routers_frames() {
        assert_eq!(
            event_of(r#"{"type":"output","stream":"stdout","data":"a\u001b[1mb"}"#),
            Some(TerminalEvent::Output("a\u{1b}[1mb".into()))
        );
        assert_eq!(
            event_of(r#"{"type":"heartbeat","ts":1700000000000}"#),
            Some(TerminalEvent::Heartbeat {
                ts: Some(1_700_000_000_000)
            })
        );
        assert_eq!(event_of(r#"{"type":"pong"}"#), Some(TerminalEvent::Pong));
        assert_eq!(event_of("not json"), None);
        assert_eq!(event_of(r#"{"type":"later"}"#), None);
    }
}
