//! What the emulator records of terminal sessions, for tests to look at.

/// The terminal sessions of one sandbox, as the emulator saw them
/// ([`FakeRouter::terminal`](crate::FakeRouter::terminal)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TerminalStats {
    /// Sessions upgraded to a WebSocket.
    pub opened: u64,
    /// Sessions that have ended (shell exited, client gone, or read deadline passed).
    pub closed: u64,
    /// Sessions closed because no pong came within the read deadline.
    pub deadline_closes: u64,
    /// Pong control frames received.
    pub pongs: u64,
    /// The last `resize` (cols, rows), clamped to 1..=65535 as on the Router.
    pub size: Option<(u32, u32)>,
}
