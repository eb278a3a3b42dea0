//! Settings fixed when a FakeRouter starts.

use std::time::Duration;

use super::identity::FakeAuth;

/// Settings fixed at start (what `FakeRouterBuilder` collects).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Create (or resume) to `Running`.
    pub creating_delay: Duration,
    /// DELETE to gone (the controller's finalizer).
    pub finalizer_delay: Duration,
    /// The practical single-request upload limit (the `sh -c` argument cap).
    pub upload_limit: usize,
    /// Run commands for real in temporary directories.
    pub local_exec: bool,
    /// How `/api/v1` requests authenticate.
    pub auth: FakeAuth,
    /// Interval of invoke's `: keepalive` comments.
    pub keepalive: Duration,
    /// The Router's own sandbox namespace (`SANDBOX_NAMESPACE`).
    pub namespace: String,
    /// Phases move only when the test advances the clock.
    pub manual_clock: bool,
    /// How long a new sandbox answers 404 to GET and is left out of lists.
    pub visibility_lag: Duration,
    /// Resolve webhook host names missing from `webhook_hosts` with the system resolver.
    pub resolve_webhook_hosts: bool,
    /// Webhook host names and the addresses they resolve to, checked before any lookup.
    pub webhook_hosts: std::collections::HashMap<String, Vec<std::net::IpAddr>>,
    /// The terminal's read deadline, reset only by pong control frames (70 s on the Router).
    pub terminal_read_deadline: Duration,
    /// The terminal's heartbeat: a `heartbeat` frame and a ping control frame (30 s).
    pub terminal_heartbeat: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            creating_delay: Duration::from_millis(300),
            finalizer_delay: Duration::from_millis(200),
            upload_limit: 98_304,
            local_exec: false,
            auth: FakeAuth::DevAuth,
            keepalive: Duration::from_secs(15),
            namespace: "default".to_string(),
            manual_clock: false,
            visibility_lag: Duration::ZERO,
            resolve_webhook_hosts: true,
            webhook_hosts: Default::default(),
            terminal_read_deadline: Duration::from_secs(70),
            terminal_heartbeat: Duration::from_secs(30),
        }
    }
}
