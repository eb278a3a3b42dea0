//! The WebSocket terminal, `/ws/terminal/{sandboxId}` (router-api.md §7; not in openapi.yaml).
//!
//! After the terminal's own auth (in the HTTP layer), the checks run in the Router's order,
//! each answered in plain text before the upgrade: 404 `sandbox not found`, 403 `access
//! denied` (the read gate: owner, admin, shared user or group), 409 `sandbox is not running`,
//! then 400 for a request that is not a WebSocket upgrade.
//!
//! The shell is a real `sh` when the emulator runs with local exec, started in the sandbox's
//! directory with its standard error merged into its output, over pipes rather than a PTY:
//! there is no prompt, no echo of the input and no line editing, and `resize` is recorded
//! ([`TerminalStats::size`]) but changes nothing. The literal `/workspace` in each input frame
//! is rewritten to the sandbox's directory, as for exec. Without local exec the shell is the
//! scripted one of `core::shell` (a pretend PTY and a small `sh` subset on the sandbox's
//! in-memory files, answered by the exec rules and built-ins).
//!
//! Frames and liveness follow the Router: `output` frames carry the raw bytes as a JSON string
//! (invalid UTF-8, a character split across two reads included, becomes U+FFFD); a
//! `heartbeat` frame and a ping control frame go out every heartbeat interval; the read
//! deadline is reset only by pong control frames, and when it passes, or when the shell
//! exits, the TCP connection is closed without a close frame.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Response, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::core::exec::localize;
use crate::core::shell::ScriptedTerminal;
use crate::core::state::Key;
use crate::core::state::Shared;
use crate::core::terminal::TerminalStats;
use crate::http::call::TerminalCall;
use crate::http::respond::{self, Body};

/// Open a terminal session: the pre-upgrade checks, then the 101 and the session task.
pub(crate) fn open(shared: Arc<Shared>, call: TerminalCall) -> Response<Body> {
    let (key, root, name, deadline, heartbeat) = {
        let st = shared.lock();
        let key = match &call.namespace {
            Some(ns) => {
                let key = (ns.clone(), call.id.clone());
                if !st.sandboxes.contains_key(&key) {
                    return respond::http_error(404, "sandbox not found");
                }
                key
            }
            None => match st.resolve(&call.id) {
                Ok(k) => k,
                Err(_) => return respond::http_error(404, "sandbox not found"),
            },
        };
        let sb = st.sb(&key);
        if !sb.readable_by(&call.caller) {
            return respond::http_error(403, "access denied");
        }
        if sb.phase != "Running" {
            return respond::http_error(409, "sandbox is not running");
        }
        (
            key.clone(),
            sb.workspace.local_root(),
            sb.name.clone(),
            st.cfg.terminal_read_deadline,
            st.cfg.terminal_heartbeat,
        )
    };
    let Some(accept) = websocket_accept(&call.headers) else {
        return respond::http_error(
            400,
            "websocket: the client is not using the websocket protocol",
        );
    };
    let upgrade = call.upgrade;
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(1 << 20);
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        record(&shared, &name, |s| s.opened += 1);
        let shell = match root {
            Some(root) => start_local(root),
            None => Ok(Shell::Scripted(Box::new(ScriptedTerminal::new()), key)),
        };
        let deadline_close = match shell {
            Ok(shell) => session(&shared, &name, shell, ws, deadline, heartbeat).await,
            Err(e) => {
                let mut ws = ws;
                let _ = ws
                    .send(text(
                        json!({"type": "error", "message": format!("failed to start shell: {e}")}),
                    ))
                    .await;
                false
            }
        };
        record(&shared, &name, |s| {
            s.closed += 1;
            if deadline_close {
                s.deadline_closes += 1;
            }
        });
    });
    let mut r = respond::empty(101);
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// The `Sec-WebSocket-Accept` for a valid upgrade request, `None` for anything else.
fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has(header::CONNECTION, "upgrade") || !has(header::UPGRADE, "websocket") {
        return None;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13" {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    Some(derive_accept_key(key.as_bytes()))
}

fn record(shared: &Shared, name: &str, change: impl FnOnce(&mut TerminalStats)) {
    let mut st = shared.lock();
    change(st.terminals.entry(name.to_string()).or_default());
    st.notify();
}

/// `WSMessage`, the fields a client sends.
#[derive(Deserialize)]
struct ClientMessage {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    cols: i64,
    #[serde(default)]
    rows: i64,
}

fn text(v: serde_json::Value) -> Message {
    Message::Text(v.to_string().into())
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The shell behind a session (one per session: the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Shell {
    /// `local_exec`: a real `sh` over pipes.
    Local {
        root: PathBuf,
        stdin: ChildStdin,
        stdout: ChildStdout,
        _child: Child,
    },
    /// The scripted shell (core/shell), on the sandbox's files.
    Scripted(Box<ScriptedTerminal>, Key),
}

fn start_local(root: PathBuf) -> std::io::Result<Shell> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec sh 2>&1")
        .current_dir(root.join("workspace"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("no pipes"));
    };
    Ok(Shell::Local {
        root,
        stdin,
        stdout,
        _child: child,
    })
}

impl Shell {
    /// The shell's next output; `None` when it has exited. Cancel-safe.
    async fn output(&mut self, buf: &mut [u8]) -> Option<Vec<u8>> {
        match self {
            Shell::Local { stdout, .. } => match stdout.read(buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            },
            Shell::Scripted(t, _) => t.output().await,
        }
    }

    /// Typed input; `false` when the shell is gone.
    async fn input(&mut self, shared: &Shared, data: &str) -> bool {
        match self {
            Shell::Local { root, stdin, .. } => {
                let data = localize(data, root);
                if stdin.write_all(data.as_bytes()).await.is_err() {
                    return false;
                }
                let _ = stdin.flush().await;
                true
            }
            Shell::Scripted(t, key) => {
                let mut guard = shared.lock();
                let st = &mut *guard;
                // A sandbox deleted under the session takes its shell with it.
                let Some(sb) = st.sandboxes.get_mut(key) else {
                    return false;
                };
                t.input(data, &mut sb.workspace, &st.exec_rules);
                true
            }
        }
    }
}

/// Output frames of at most 8 KiB, cut on character boundaries (bytes that are not UTF-8
/// become U+FFFD, as on the Router).
fn output_frames(bytes: &[u8]) -> Vec<Message> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut end = rest.len().min(8192);
        let mut back = 0;
        while end < rest.len() && back < 3 && end > 1 && rest[end] & 0xC0 == 0x80 {
            end -= 1;
            back += 1;
        }
        let data = String::from_utf8_lossy(&rest[..end]);
        frames.push(text(
            json!({"type": "output", "stream": "stdout", "data": data}),
        ));
        rest = &rest[end..];
    }
    frames
}

/// Run one session until the shell exits, the client goes, or the read deadline passes
/// (then `true`).
async fn session<S>(
    shared: &Shared,
    name: &str,
    mut shell: Shell,
    mut ws: WebSocketStream<S>,
    read_deadline: Duration,
    heartbeat: Duration,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 8192];
    let mut deadline = Instant::now() + read_deadline;
    let mut beat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            out = shell.output(&mut buf) => match out {
                None => return false,
                Some(bytes) => {
                    for frame in output_frames(&bytes) {
                        if ws.send(frame).await.is_err() {
                            return false;
                        }
                    }
                }
            },
            msg = ws.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return false,
                Some(Ok(Message::Pong(_))) => {
                    deadline = Instant::now() + read_deadline;
                    record(shared, name, |s| s.pongs += 1);
                }
                Some(Ok(Message::Text(t))) => {
                    // Malformed JSON and unknown types are ignored.
                    let Ok(m) = serde_json::from_str::<ClientMessage>(t.as_str()) else {
                        continue;
                    };
                    match m.kind.as_str() {
                        "input" if !shell.input(shared, &m.data).await => return false,
                        "resize" => {
                            let clamp = |v: i64| v.clamp(1, 65535) as u32;
                            let size = (clamp(m.cols), clamp(m.rows));
                            record(shared, name, |s| s.size = Some(size));
                        }
                        "ping" if ws.send(text(json!({"type": "pong"}))).await.is_err() => {
                            return false;
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(deadline) => return true,
            _ = beat.tick() => {
                let frame = text(json!({"type": "heartbeat", "ts": epoch_ms()}));
                if ws.send(frame).await.is_err()
                    || ws.send(Message::Ping(Default::default())).await.is_err()
                {
                    return false;
                }
            }
        }
    }
}
