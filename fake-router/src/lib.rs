//! An in-process, stateful emulator of the AgentTier Router, for tests and examples.
//!
//! [`FakeRouter`] serves the Router's HTTP API on `127.0.0.1:<free port>` with the real
//! Router's wire behaviour, so a client can be tested without a cluster. It does not depend
//! on the `agenttier` SDK: it keeps its own wire types and its own implementation of the
//! Router's rules, so it checks the client rather than sharing its assumptions. The SDK
//! re-exports it as `agenttier::testing` (feature `testing`).
//!
//! ```no_run
//! use std::time::Duration;
//! use agenttier_fake_router::FakeRouter;
//!
//! # async fn demo() -> Result<(), reqwest::Error> {
//! let router = FakeRouter::builder().manual_clock().start().await;
//! let http = reqwest::Client::new();
//! http.post(format!("{}/api/v1/sandboxes", router.url()))
//!     .json(&serde_json::json!({
//!         "name": "demo",
//!         "templateRef": {"name": "general-coding", "kind": "ClusterSandboxTemplate"},
//!     }))
//!     .send()
//!     .await?;
//! assert_eq!(router.phase("demo").as_deref(), Some(""));
//! router.advance(Duration::from_millis(300)); // the default creating delay
//! assert_eq!(router.phase("demo").as_deref(), Some("Running"));
//! # Ok(()) }
//! ```
//!
//! # What is emulated
//!
//! * **Every REST operation** of the Router's `openapi.yaml`: the table in [`OPERATIONS`] is
//!   generated from the spec by the crate's build step, and an operation added to the spec
//!   does not compile until the emulator handles it.
//! * **Status codes, error bodies and quirks**: `null` lists where the Router sends them,
//!   text/plain 401s and admin 403s, Go-format `createdAt`, HTML-safe JSON escaping, the
//!   mux's text/plain `404 page not found` for unknown paths under `/api/v1` (405 elsewhere
//!   and for a wrong method on `/invoke/cancel`), 301 for `//`, `/./` and `/../` paths,
//!   Kubernetes errors as 500, the ~96 KiB practical upload limit
//!   ([`FakeRouterBuilder::upload_limit`]).
//! * **Authentication** ([`FakeAuth`]): dev-auth (the admin dev user, credentials ignored),
//!   API keys (registered with [`FakeRouterBuilder::api_key`] or minted through the API;
//!   never admin; sandbox-scoped keys limited to the routes and action groups the spec
//!   allows them) and a test-supplied Bearer check standing in for OIDC.
//! * **The sandbox lifecycle**: `""` → `Creating` → `Running` after create (or `Error` when
//!   the template cannot be resolved), `Stopped` after stop, `Creating` → `Running` after
//!   resume, and DELETE answered at once while the sandbox reads back until the finalizer
//!   delay has passed. Snapshots (backups, clone sources) become ready after the creating
//!   delay; clone and restore make new sandboxes with a copy of the files.
//! * **Files** live in an in-memory tree per sandbox.
//! * **Commands** (exec, configure's install command, the invoke entrypoint) are answered by
//!   the [`ExecRule`]s you register (first match on the whole command wins). With no
//!   matching rule (and no local exec), exec runs the command through the scripted shell
//!   (see "Exec without local exec" below) against the sandbox's files; configure's install
//!   command and the invoke entrypoint emulate `echo …`, `cat <file>`, `ls [-a|-A|-l]
//!   [path]`, `true`, `false` and `exit N`. Commands the emulator does not know (`pip
//!   install x`, `python3 agent.py`) exit 0 with no output. Agent configure and invoke stream
//!   Server-Sent Events like the Router, keepalives and concurrency cap included.
//! * **Governance** policies are stored, merged and enforced on create, bulk create, PATCH
//!   and restore; templates, webhooks subscriptions, API keys, preferences, sharing, the
//!   warm pool and the cluster views answer like the Router's (over a pretend one-node
//!   cluster).
//! * **`GET /metrics`** answers the Prometheus text format, without auth, with the
//!   Router's agent metrics as the emulator counts them: `agenttier_invoke_requests_total`
//!   and `agenttier_configure_requests_total` (labels `template`, `outcome`),
//!   `agenttier_invoke_duration_seconds` and `agenttier_configure_duration_seconds`
//!   (histograms by `template`), `agenttier_invoke_throttled_total` (by `template`).
//!
//! Not emulated: CORS (as on a Router with no
//! allowed origins; `OPTIONS` answers 204), rate limiting (inject 429s with
//! [`FakeRouter::fail_next`] instead) and webhook delivery (deliveries are always `[]`).
//!
//! # Time: the real clock, the manual clock, waiting for a phase
//!
//! By default the lifecycle follows real time (tokio's clock, so `tokio::time::pause`
//! pauses it too): a sandbox is `Running` [`creating_delay`](FakeRouterBuilder::creating_delay)
//! after its create. A test that asserts an intermediate phase would then depend on the
//! machine's speed. With [`FakeRouterBuilder::manual_clock`] nothing moves on its own:
//! [`FakeRouter::advance`] moves the clock and applies every transition that falls due, in
//! time order, before it returns. [`FakeRouter::wait_for_phase`] and
//! [`FakeRouter::wait_for_invocation`] wait on the emulator's change notifications (and, on
//! the real clock, on the time the next transition is due) instead of polling.
//!
//! # Visibility lag
//!
//! [`FakeRouterBuilder::visibility_lag`] makes a new sandbox answer 404 to GET and stay out
//! of lists for a while after its create, although it exists (a second create of the name
//! answers 500 `already exists`). That is the situation a client's handling of an ambiguous
//! create (timeout, read-back, retry) must survive. With the manual clock the lag follows
//! [`FakeRouter::advance`].
//!
//! # Faults and recording
//!
//! [`FakeRouter::fail_next`] makes the next requests matching a [`RouteMatch`] fail with a
//! [`Fault`]: a status and body of your choice (for example a 503 with `Retry-After`), a
//! connection closed without an answer (before the request is handled, or after it was:
//! [`Fault::ResetAfter`], the lost answer of an ambiguous outcome), or a delay.
//! [`FakeRouter::fail_randomly`] faults a share of requests at random (seeded). [`FakeRouter::set_latency`] slows every
//! answer, [`FakeRouter::requests`] shows what was received (as sent, faulted and unmatched
//! requests included), and [`FakeRouter::invocations`] how each agent invoke ended.
//!
//! # Webhook hosts and DNS
//!
//! Like the Router, `POST /api/v1/webhooks` resolves the URL's host when the subscription is
//! created, and refuses a host that resolves to a loopback, link-local, RFC 1918 or IPv6
//! unique-local address: 400 `invalid url: host "<host>" resolves to a disallowed address
//! range (<ip>)`; a host that does not resolve answers 400 `invalid url: failed to resolve
//! host "<host>": lookup <host>: …`. The order of the lookup:
//!
//! - IP literals are judged as they are; `localhost` and `*.localhost` are `127.0.0.1`;
//! - names given with [`FakeRouterBuilder::webhook_host`] resolve to the addresses given;
//! - names under `.invalid` never resolve (RFC 6761 reserves them for exactly that), answered
//!   without a query;
//! - any other name goes to the system resolver, bounded by 2 s, as on the Router.
//!
//! Tests that must stay on loopback or run offline turn the last step off with
//! [`FakeRouterBuilder::resolve_webhook_hosts`]`(false)`: any other name then counts as a
//! public address and is accepted, and no DNS query is ever sent.
//!
//! # The terminal and the preview proxy
//!
//! `/ws/terminal/{id}` authenticates like the Router's terminal (dev-auth, `X-API-Key`,
//! `?token=` as a JWT only, then `Authorization: Bearer`; scoped keys are not limited) and
//! answers its plain-text pre-upgrade failures (401 `invalid api key` / `missing
//! authentication` / `invalid token: …`, 404 `sandbox not found`, 403 `access denied`, 409
//! `sandbox is not running`). With [`FakeRouterBuilder::local_exec`] the session runs a real
//! `sh` in the sandbox's directory **over pipes, not a PTY** (no prompt, no echo, stderr
//! merged into the output, `resize` recorded but without effect); without it the session
//! runs the scripted shell below. Heartbeats, ping control frames and the pong-only read
//! deadline follow the Router ([`FakeRouterBuilder::terminal_read_deadline`],
//! [`FakeRouterBuilder::terminal_heartbeat`]); [`FakeRouter::terminal`] and
//! [`FakeRouter::wait_for_terminal`] show what the sessions did.
//!
//! ## The scripted terminal
//!
//! Without local exec, a terminal session is a pretend PTY in front of a small subset of
//! POSIX `sh`, interpreted against the sandbox's in-memory files; nothing runs on the host.
//! It is enough for `agenttier`'s stateful `Shell` (or any client framing commands the same
//! way) to work unchanged:
//!
//! * **The PTY**: input is echoed (`\n` as `\r\n`) until `stty -echo`; output has `\n`
//!   turned into `\r\n` until `stty -onlcr`; `\r` ends a line like `\n`; the prompt is `$PS1`
//!   (`$ ` at first) and `$PS2` (`> `) while a command is incomplete (an open quote, `{`, `(`
//!   or a trailing `&&`); Ctrl-C drops what the running command would still print and gives a
//!   new prompt (`$?` = 130); Ctrl-D on an empty line and `exit [N]` end the session (the TCP
//!   connection closes without a close frame, as when the Router's shell exits). `resize` is
//!   recorded, nothing more.
//! * **Syntax**: lists with `;`, newlines, `&&`, `||`, `!`; pipelines (`a | b`, each part in
//!   a subshell, a part's stdout the next one's stdin); `{ …; }` groups; `( … )` subshells;
//!   functions `name() { …; }` with `$1`…; single and double quotes, backslashes; `$VAR`,
//!   `${VAR}`, `${VAR:-default}`, `$?`, `$#`, `$@`, a leading `~`; `$(…)` and backticks;
//!   `NAME=value` (alone, or before a command for that command only); redirections `>`,
//!   `>>`, `2>`, `>&2`, `2>&1`, `< file`, `/dev/null`; `if … then … [elif … then …]
//!   [else …] fi`; arithmetic `$((…))` (64-bit integers, variables by name or `$NAME`,
//!   `+ - * / %`, comparisons, `== !=`, `&& || !`, bit operators, parentheses; division by
//!   zero is an error and the command does not run). Unquoted expansions are split on
//!   blanks; unquoted `*` and `?` in a command's words are matched against the files
//!   (sorted; a name starting with `.` only by a pattern starting with `.`; a pattern ending
//!   in `/` matches directories; a pattern matching nothing stays as written; no `[…]`
//!   classes, and text from variables is not globbed). `for`, `while`, `case` and friends
//!   are not supported: they print `` sh: `for` is not supported by the FakeRouter's
//!   scripted shell `` and set `$?` to 2 (the rest of their line is skipped); here-documents
//!   are a syntax error.
//! * **Commands**: the shell's own `cd` (and `cd -`), `pwd`, `export`, `unset`, `exit`, `:`,
//!   `set` (accepted, no effect), `stty [-]echo [-]onlcr`, `printf` (`%s %b %d %i %u %x %o %c
//!   %%`, flags, width, escapes including octal bytes), `sh -c` / `bash -c`, `test` / `[`,
//!   `sleep` (delays the output that follows; no real process), `mkdir [-p]`, `touch`,
//!   `rm [-f] [-r]`, `mv [-f]` (a rename in one step, into a directory when the last operand
//!   is one), `basename`, `dirname`, `env` (the listing); then the [`ExecRule`]s, matched
//!   against the expanded command (`argv` joined by spaces; a rule's delay delays its
//!   output); then the built-ins shared with exec (`echo [-n]`, `cat [file…]` (stdin without
//!   files or for `-`), `wc [-c|-l|-w] [file…]`, `ls`, `true`, `false`). Anything else is
//!   `sh: NAME: not found` with status 127 (exec answers it with exit 0 instead).
//!   One line runs at most 100 000 commands, nests at most 64 deep and produces at most
//!   256 MiB in all; past that it stops with an error instead of holding the emulator.
//! * **State**: the working directory (`/workspace` at first, also `$HOME`), variables and
//!   functions persist for the session; files written by redirections, `mkdir` and `touch`
//!   are the sandbox's files, seen by exec, the files API and the archive. Commands take
//!   effect when their line is entered; only their output waits for `sleep` and rule delays.
//!
//! The preview proxy (`ANY /api/v1/sandboxes/{id}/preview/{port}/…`) forwards to
//! `127.0.0.1:<port>` when the port is forwarded (a test runs its "workload" on a local
//! port), with the caller's headers, credentials included, as the Router does; an
//! unreachable upstream answers 502 text/plain `port forward upstream unreachable: …`.
//!
//! # Exec without local exec
//!
//! Without [`FakeRouterBuilder::local_exec`], `POST /sandboxes/{id}/exec` interprets the
//! command with the scripted shell (the same interpreter as the scripted terminal below,
//! starting in `/workspace` with a fresh environment each time) against the sandbox's
//! in-memory files; nothing runs on the host. So scripts really act on the files, and in
//! particular **the SDK's chunked uploads work**: a file over 88 KiB goes up in parts and is
//! joined by one exec (`cat` of the parts by glob into a temporary file, `wc -c` size check
//! in `$((…))`, `[ "$n" -eq TOTAL ]`, `mv -f` over the target inside `if … then … else … fi`,
//! `rm -f` of the parts, `exit $r`), which the emulator now runs: the file reads back whole,
//! no part files are left, and a join that finds missing parts fails without touching the
//! target, as on a real Router.
//!
//! The subset exec understands is the scripted terminal's (syntax, commands and state
//! below), with these differences:
//!
//! * a registered [`ExecRule`] matching the whole command answers it without running
//!   anything; inside a script, rules still answer the commands they match;
//! * a command the emulator does not know exits 0 with no output (not `sh: X: not found`
//!   127), as before, so installers and entrypoints "work";
//! * a command using a construct outside the subset (`for`, `while`, `until`, `case`,
//!   here-documents) is not run at all and answers exit 0 with no output; a real syntax
//!   error (an unclosed quote, a stray `fi`) answers status 2 with `sh: syntax error: …`;
//! * `sleep` and rule delays inside a script add up to how long the exec takes to answer
//!   (the file changes happen at once); stdout and stderr are capped at 1 MiB each.
//!
//! # Local exec gives no isolation
//!
//! [`FakeRouterBuilder::local_exec`] runs commands for real with `sh -c` in a per-sandbox
//! temporary directory. **That gives no isolation at all**: commands run as the test
//! process's user on the host, with its network and its files; only the literal
//! `/workspace` prefix is rewritten to the sandbox's directory. Use it for trusted test
//! commands only.
//!
//! # The standalone binary
//!
//! `cargo run -p agenttier-fake-router -- --listen 127.0.0.1:8089 [--api-key KEY] [--local-exec]`
//! serves the emulator to any HTTP client (another language's SDK, a shell script) and
//! prints exactly one line on stdout, `listening on http://ADDR`, once it accepts
//! connections. Dev-auth by default; `--api-key KEY` switches to API-key auth with KEY
//! registered. A non-loopback `--listen` address prints a warning on stderr (dev-auth checks
//! no credentials), and `--local-exec` on one is refused (exit 2) unless both `--api-key`
//! and `--allow-remote-exec` are given: otherwise anyone who reaches the port could run any
//! command on the host.

#![warn(missing_docs)]
// Handlers return their early answer as `Err(Response)`; boxing every one of them would only
// add noise to a test server.
#![allow(clippy::result_large_err)]

mod areas;
mod core;
mod dispatch;
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

pub use crate::core::exec::ExecRule;
pub use crate::core::identity::{BearerCheck, FakeAuth, FakeIdentity};
pub use crate::core::invocations::{InvocationOutcome, InvocationRecord};
pub use crate::core::ops::OPERATIONS;
pub use crate::core::terminal::TerminalStats;
pub use crate::http::faults::{Fault, RecordedRequest, RouteMatch};
pub use ::http::Method;

use crate::core::config::Config;
use crate::core::identity::ApiKey;
use crate::core::state::{Shared, State, Template};
use crate::http::faults::Knobs;
use crate::http::server::App;

/// Builder for a [`FakeRouter`] (see [`FakeRouter::builder`]).
#[derive(Debug)]
pub struct FakeRouterBuilder {
    cfg: Config,
    templates: Vec<(String, Value)>,
    default_templates: bool,
    api_keys: Vec<(String, FakeIdentity)>,
    listen: Option<SocketAddr>,
}

impl Default for FakeRouterBuilder {
    fn default() -> Self {
        FakeRouterBuilder {
            cfg: Config::default(),
            templates: Vec::new(),
            default_templates: true,
            api_keys: Vec::new(),
            listen: None,
        }
    }
}

impl FakeRouterBuilder {
    /// Time from create (or resume) to `Running`. The phase is `""` for the first third,
    /// then `Creating`. Stop takes a third of it, and a snapshot is ready after all of it.
    /// Default 300 ms.
    ///
    /// The lifecycle runs on tokio's clock, so a test that pauses time
    /// (`tokio::time::pause`) also pauses phase changes until it advances time; with
    /// [`manual_clock`](FakeRouterBuilder::manual_clock) it moves only with
    /// [`FakeRouter::advance`].
    pub fn creating_delay(mut self, delay: Duration) -> Self {
        self.cfg.creating_delay = delay;
        self
    }

    /// How long a deleted sandbox still reads back (the controller's finalizer) before GET
    /// answers 404. Default 200 ms. Follows the [manual clock](FakeRouterBuilder::manual_clock)
    /// when there is one.
    pub fn finalizer_delay(mut self, delay: Duration) -> Self {
        self.cfg.finalizer_delay = delay;
        self
    }

    /// The practical single-request upload limit: a file PUT (or a configure file) larger
    /// than this fails with 500 `write failed: sh: argument list too long`, as on the real
    /// Router. Default 98 304 bytes (96 KiB). The 32 MiB cap (413) always applies.
    pub fn upload_limit(mut self, bytes: usize) -> Self {
        self.cfg.upload_limit = bytes;
        self
    }

    /// Run commands for real with `sh -c` in a per-sandbox temporary directory, and keep
    /// files there. **No isolation**: commands run on the host as the test's user; only the
    /// literal `/workspace` prefix in commands is rewritten, and the working directory is the
    /// sandbox's `workspace` directory. Registered [`ExecRule`]s still win when they match.
    pub fn local_exec(mut self, on: bool) -> Self {
        self.cfg.local_exec = on;
        self
    }

    /// Authentication mode (default [`FakeAuth::DevAuth`]).
    pub fn auth(mut self, auth: FakeAuth) -> Self {
        self.cfg.auth = auth;
        self
    }

    /// Register an API key (e.g. `"atk_test"`) owned by a non-admin test user
    /// (`test-user`, `test-user@agenttier.local`). Registering a key turns dev-auth (which
    /// ignores credentials) into [`FakeAuth::ApiKeys`]; [`FakeAuth::Bearer`] mode is kept.
    pub fn api_key(self, key: impl Into<String>) -> Self {
        self.api_key_for(key, FakeIdentity::key_owner())
    }

    /// Register an API key owned by `owner` (API-key callers are never admin, whatever
    /// `owner.is_admin` says). Like [`FakeRouterBuilder::api_key`], it leaves dev-auth.
    pub fn api_key_for(mut self, key: impl Into<String>, owner: FakeIdentity) -> Self {
        self.api_keys.push((key.into(), owner));
        if matches!(self.cfg.auth, FakeAuth::DevAuth) {
            self.cfg.auth = FakeAuth::ApiKeys;
        }
        self
    }

    /// Phases move only when the test says so: after this, create, stop, resume, the
    /// finalizer, snapshot readiness and the [visibility lag](FakeRouterBuilder::visibility_lag)
    /// never advance on their own, and [`FakeRouter::advance`] moves them. The wall-clock
    /// times the emulator writes (`createdAt`, event timestamps, key and share-link expiry)
    /// follow the same clock. Everything else (exec rule delays, invoke timeouts,
    /// keepalives, injected latency) keeps real time.
    ///
    /// A test that asserts an intermediate phase (`""` right after create, `Creating` after
    /// resume, a deleted sandbox that still reads back) is then independent of machine speed.
    pub fn manual_clock(mut self) -> Self {
        self.cfg.manual_clock = true;
        self
    }

    /// For `lag` after it is created (by `POST /sandboxes`, bulk create, clone or restore),
    /// a sandbox answers 404 `sandbox <name> not found` to `GET /sandboxes/{id}` and is left
    /// out of `GET /sandboxes` and `GET /admin/sandboxes`, although it exists: a second
    /// create of the same name answers the Router's 500 `failed to create sandbox:
    /// sandboxes.agenttier.io "<name>" already exists`, and the other routes see it at once.
    /// This is what a client's handling of an ambiguous create (a timeout, then a read-back
    /// that finds nothing) has to survive. Default zero. With
    /// [`manual_clock`](FakeRouterBuilder::manual_clock) the lag follows
    /// [`FakeRouter::advance`].
    pub fn visibility_lag(mut self, lag: Duration) -> Self {
        self.cfg.visibility_lag = lag;
        self
    }

    /// Whether `POST /api/v1/webhooks` sends webhook host names that are not in the
    /// emulator's table (see [`webhook_host`](Self::webhook_host)) to the system resolver,
    /// as the Router does (default `true`; a host that does not resolve within 2 s answers
    /// 400 `invalid url: failed to resolve host "<host>": ...`).
    ///
    /// `false` is for tests that must stay on loopback or run offline: no DNS query is ever
    /// sent, names under `.invalid` still fail to resolve, and any other name counts as a
    /// public address.
    pub fn resolve_webhook_hosts(mut self, on: bool) -> Self {
        self.cfg.resolve_webhook_hosts = on;
        self
    }

    /// Makes webhook URLs with host `name` resolve to `addresses`, as a DNS record would
    /// (the Router then judges every address). An empty list makes the name fail to
    /// resolve.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::net::IpAddr;
    /// let router = agenttier_fake_router::FakeRouter::builder()
    ///     .webhook_host("hooks.internal.example", [IpAddr::from([10, 0, 0, 7])])
    ///     .start()
    ///     .await;
    /// # drop(router); }
    /// ```
    pub fn webhook_host(
        mut self,
        name: impl Into<String>,
        addresses: impl IntoIterator<Item = std::net::IpAddr>,
    ) -> Self {
        let name = name.into().trim_end_matches('.').to_ascii_lowercase();
        self.cfg
            .webhook_hosts
            .insert(name, addresses.into_iter().collect());
        self
    }

    /// Interval of invoke's `: keepalive` comments. Default 15 s.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.cfg.keepalive = interval;
        self
    }

    /// Add (or replace) a ClusterSandboxTemplate with this `spec` (a `SandboxTemplateSpec`
    /// as JSON, e.g. `json!({"mode": "agent", "harness": {"agent": {"maxConcurrentInvokes": 1}}})`).
    /// `general-coding` (mode code) and `agent-python` (mode agent, with
    /// `harness.agent.entrypoint` and `maxConcurrentInvokes: 4`) are seeded by default.
    pub fn template(mut self, name: impl Into<String>, spec: Value) -> Self {
        self.templates.push((name.into(), spec));
        self
    }

    /// Do not seed the two default templates.
    pub fn without_default_templates(mut self) -> Self {
        self.default_templates = false;
        self
    }

    /// Listen on this address instead of `127.0.0.1:0`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// The terminal's read deadline (70 s on the Router): a session is closed (the TCP
    /// connection, without a close frame) when no pong control frame has come for this long.
    /// Data frames do not reset it. Shorten it to test that a client answers pings.
    pub fn terminal_read_deadline(mut self, deadline: Duration) -> Self {
        self.cfg.terminal_read_deadline = deadline;
        self
    }

    /// The terminal's heartbeat (30 s on the Router): every interval, a `heartbeat` frame and a
    /// ping control frame.
    pub fn terminal_heartbeat(mut self, interval: Duration) -> Self {
        self.cfg.terminal_heartbeat = interval;
        self
    }

    /// Bind and start serving. Panics if the address cannot be bound (tests want to know).
    pub async fn start(self) -> FakeRouter {
        match self.try_start().await {
            Ok(r) => r,
            Err(e) => panic!("FakeRouter could not start: {e}"),
        }
    }

    /// Like [`FakeRouterBuilder::start`], returning the bind error instead of panicking.
    pub async fn try_start(self) -> std::io::Result<FakeRouter> {
        let addr = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let mut state = State::new(self.cfg);
        let seeds = if self.default_templates {
            crate::core::seed::defaults()
        } else {
            Vec::new()
        };
        for (name, spec) in seeds.into_iter().chain(self.templates) {
            let resource_version = state.bump_version();
            state.templates.insert(
                name,
                Template {
                    spec,
                    resource_version,
                },
            );
        }
        for (key, owner) in &self.api_keys {
            let record = ApiKey::new(key, owner, "registered", state.wall_now());
            state.api_keys.insert(record.hash.clone(), record);
        }
        let shared = Arc::new(Shared::new(state));
        let knobs = Arc::new(Knobs::default());
        let app = Arc::new(App {
            core: shared.clone(),
            knobs: knobs.clone(),
            handlers: dispatch::HANDLERS,
        });
        let task = tokio::spawn(crate::http::server::serve(listener, app));
        Ok(FakeRouter {
            url: format!("http://{local}"),
            addr: local,
            shared,
            knobs,
            task,
        })
    }
}

/// An in-process AgentTier Router. Serving stops when it is dropped.
///
/// ```no_run
/// use agenttier_fake_router::{ExecRule, FakeRouter, Fault, Method, RouteMatch};
///
/// # async fn demo() -> Result<(), reqwest::Error> {
/// let router = FakeRouter::start().await;
/// router.on_exec(ExecRule::contains("pip install").stdout("ok\n"));
/// // The next create fails once with a 503, then works.
/// router.fail_next(
///     1,
///     RouteMatch::new(Method::POST, "/api/v1/sandboxes"),
///     Fault::status(503, r#"{"error":"try again"}"#).with_header("Retry-After", "1"),
/// );
/// let http = reqwest::Client::new();
/// let first = http
///     .post(format!("{}/api/v1/sandboxes", router.url()))
///     .json(&serde_json::json!({"name": "demo", "templateRef": {"name": "general-coding", "kind": "ClusterSandboxTemplate"}}))
///     .send()
///     .await?;
/// assert_eq!(first.status(), 503);
/// assert_eq!(router.requests().len(), 1);
/// # Ok(()) }
/// ```
pub struct FakeRouter {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    knobs: Arc<Knobs>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRouter")
            .field("url", &self.url)
            .finish()
    }
}

impl FakeRouter {
    /// Start with the defaults: dev-auth, the real-time clock, 300 ms creating delay,
    /// seeded templates, webhook hosts resolved in DNS.
    pub async fn start() -> FakeRouter {
        FakeRouterBuilder::default().start().await
    }

    /// A builder for non-default settings.
    pub fn builder() -> FakeRouterBuilder {
        FakeRouterBuilder::default()
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving (open connections are dropped) and wait for the server task to end.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Register a canned answer for commands; the first matching rule (in registration
    /// order) wins.
    pub fn on_exec(&self, rule: ExecRule) {
        self.shared.lock().exec_rules.push(rule);
    }

    /// Forget every [`ExecRule`].
    pub fn clear_exec_rules(&self) {
        self.shared.lock().exec_rules.clear();
    }

    /// Apply `fault` to the next `n` requests that match `when`. Faults are checked in
    /// registration order; each request takes at most one. Faulted requests are recorded too.
    pub fn fail_next(&self, n: usize, when: RouteMatch, fault: Fault) {
        self.knobs.lock().arm(n, when, fault);
    }

    /// From now on, give each request matching `when` one of `faults` (chosen uniformly) with
    /// probability `rate` (0.0 to 1.0), drawn from a generator seeded with `seed` so that a
    /// run can be repeated. Faults armed with [`FakeRouter::fail_next`] are checked first;
    /// calling this again replaces the rule, and [`FakeRouter::clear_faults`] removes it.
    ///
    /// ```no_run
    /// use agenttier_fake_router::{FakeRouter, Fault, RouteMatch};
    /// # async fn demo() {
    /// let router = FakeRouter::start().await;
    /// // One request in five: a 503, a rate-limited 429 or a connection closed unanswered.
    /// router.fail_randomly(
    ///     0.2,
    ///     RouteMatch::any(),
    ///     vec![
    ///         Fault::status(503, ""),
    ///         Fault::status(429, r#"{"error":"rate_limited"}"#).with_header("Retry-After", "0"),
    ///         Fault::Reset,
    ///     ],
    ///     42,
    /// );
    /// # }
    /// ```
    pub fn fail_randomly(&self, rate: f64, when: RouteMatch, faults: Vec<Fault>, seed: u64) {
        self.knobs.lock().arm_random(rate, when, faults, seed);
    }

    /// Drop every pending fault (and the [`fail_randomly`](FakeRouter::fail_randomly) rule).
    pub fn clear_faults(&self) {
        self.knobs.lock().clear_faults();
    }

    /// Delay every response by `latency` (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        self.knobs.lock().latency = latency;
    }

    /// Every request received so far, in order (including faulted and unmatched ones; the
    /// most recent 10 000 are kept).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.knobs.lock().requests()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.knobs.lock().clear_requests();
    }

    /// Every agent invocation so far, in start order.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.shared.lock().invocations.clone()
    }

    /// Force a sandbox's phase and message now (e.g. `"Error"`), cancelling any pending
    /// transition. `Running` also gives it a pod and a PVC. Returns `false` when no sandbox
    /// has that name.
    pub fn set_phase(&self, id: &str, phase: &str, message: &str) -> bool {
        let mut st = self.shared.lock();
        let Ok(key) = st.resolve(id) else {
            return false;
        };
        let now = st.wall_now();
        let sb = st.sb_mut(&key);
        sb.pending.clear();
        let event = sb.enter(phase, message, now);
        sb.message = message.to_string();
        if let Some((reason, msg)) = event {
            st.event(now, &key.0, &key.1, reason, &msg);
        }
        st.notify();
        true
    }

    /// Move the lifecycle clock forward by `by` and apply every phase change, finalizer and
    /// snapshot readiness that falls due, earliest first, each stamped with the time it fell
    /// due. Returns once they are applied.
    ///
    /// Meant for [`FakeRouterBuilder::manual_clock`]; on the default real-time clock it
    /// moves the lifecycle ahead of real time by `by`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use agenttier_fake_router::FakeRouter;
    /// # async fn demo() {
    /// let router = FakeRouter::builder()
    ///     .manual_clock()
    ///     .creating_delay(Duration::from_secs(3))
    ///     .start()
    ///     .await;
    /// // ... POST /api/v1/sandboxes {"name": "demo", ...}: its phase stays "" ...
    /// router.advance(Duration::from_secs(1)); // "" → Creating
    /// router.advance(Duration::from_secs(2)); // Creating → Running
    /// # }
    /// ```
    pub fn advance(&self, by: Duration) {
        self.shared.lock().advance(by);
    }

    /// Resolve once the sandbox `id` is in `phase` (`""`, `Creating`, `Running`, `Stopped`,
    /// `Error`). It waits on the emulator's change notifications and, on the real-time
    /// clock, on the time the next transition falls due; it does not poll.
    ///
    /// It waits for a sandbox that does not exist yet, and waits forever when the phase is
    /// never reached (with a manual clock nothing moves unless the test advances it): wrap
    /// it in `tokio::time::timeout` as a guard against a hung test.
    pub async fn wait_for_phase(&self, id: &str, phase: &str) {
        loop {
            let (mut changes, wake_at) = {
                let st = self.shared.lock();
                let key = st.resolve(id).ok();
                if key.as_ref().is_some_and(|k| st.sb(k).phase == phase) {
                    return;
                }
                let due = key.and_then(|k| st.sb(&k).next_due());
                (st.subscribe(), due.and_then(|t| st.clock.instant_of(t)))
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => {
                    if changes.changed().await.is_err() {
                        // The state is gone with the router; nothing will change any more.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// What the terminal sessions of sandbox `id` (its name) have done so far: sessions
    /// opened and closed, pongs received, the last resize.
    pub fn terminal(&self, id: &str) -> TerminalStats {
        let st = self.shared.lock();
        st.terminals.get(id).cloned().unwrap_or_default()
    }

    /// Resolve with the terminal record of sandbox `id` once `done` holds for it (for example
    /// `|t| t.pongs >= 3`). Waits on change notifications, not by polling; waits forever if it
    /// never holds.
    pub async fn wait_for_terminal(
        &self,
        id: &str,
        done: impl Fn(&TerminalStats) -> bool,
    ) -> TerminalStats {
        loop {
            let mut changes = {
                let st = self.shared.lock();
                let now = st.terminals.get(id).cloned().unwrap_or_default();
                if done(&now) {
                    return now;
                }
                st.subscribe()
            };
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolve with the record of the invocation `invoke_id` once it has ended (its outcome
    /// is no longer [`InvocationOutcome::InFlight`]). Waits on change notifications, not by
    /// polling; waits forever for an id that never ends.
    pub async fn wait_for_invocation(&self, invoke_id: &str) -> InvocationRecord {
        loop {
            let mut changes = {
                let st = self.shared.lock();
                let done = st
                    .invocations
                    .iter()
                    .find(|r| r.invoke_id == invoke_id && r.outcome != InvocationOutcome::InFlight);
                if let Some(r) = done {
                    return r.clone();
                }
                st.subscribe()
            };
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The current phase of a sandbox, or `None` when it does not exist.
    pub fn phase(&self, id: &str) -> Option<String> {
        let st = self.shared.lock();
        let key = st.resolve(id).ok()?;
        Some(st.sb(&key).phase.clone())
    }
}

impl Drop for FakeRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
