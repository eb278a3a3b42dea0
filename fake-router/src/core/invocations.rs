//! What the FakeRouter remembers about agent invocations.

use bytes::Bytes;

/// How an agent invocation ended (see [`FakeRouter::invocations`](crate::FakeRouter::invocations)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationOutcome {
    /// Still running.
    InFlight,
    /// The entrypoint exited on its own (`exit.reason = "completed"`, any exit code).
    Completed,
    /// Canceled through `/invoke/cancel` or because the client dropped the stream.
    Canceled,
    /// The invoke timeout passed (`exit.reason = "timeout"`).
    TimedOut,
    /// The entrypoint could not be started (`exit.reason = "error"`).
    Error,
}

/// One agent invocation as the FakeRouter saw it (see
/// [`FakeRouter::invocations`](crate::FakeRouter::invocations) and
/// [`FakeRouter::wait_for_invocation`](crate::FakeRouter::wait_for_invocation)).
#[derive(Clone, Debug)]
pub struct InvocationRecord {
    /// `inv-<24 hex>`.
    pub invoke_id: String,
    /// Sandbox name.
    pub sandbox: String,
    /// The `?prompt=` query parameter, if sent.
    pub prompt: Option<String>,
    /// What the entrypoint got on stdin.
    pub stdin: Bytes,
    /// How it ended.
    pub outcome: InvocationOutcome,
    /// The exit code sent in the `exit` event (`-1` for canceled/timeout/error).
    pub exit_code: Option<i32>,
    /// Whether it was canceled because the client dropped the HTTP stream.
    pub client_disconnected: bool,
}
