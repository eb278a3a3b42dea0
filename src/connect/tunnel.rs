//! The developer mode: a `kubectl port-forward` tunnel to the Router Service, started on the
//! first call, watched, restarted when kubectl exits, and stopped with the last client clone.
//!
//! kubectl runs as a child process with its output read by two small threads (bounded: lines
//! are cut at 4 KiB, at most 64 KiB is read before forwarding is reported, at most 16 KiB of
//! stderr is kept). The process is killed and reaped when the forward never comes up, when
//! the tunnel is dropped, and never outlives the client.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use reqwest::Url;

use super::{
    ConnectErrorKind, Connection, DEFAULT_NAMESPACE, DEFAULT_PORT, DEFAULT_SERVICE, excerpt,
    failure,
};
use crate::{Error, Result};

/// How long kubectl may take to report forwarding, unless [`TunnelOptions::ready_timeout`]
/// says otherwise.
///
/// ```
/// assert_eq!(agenttier::connect::DEFAULT_READY_TIMEOUT.as_secs(), 15);
/// ```
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest line of kubectl's stdout kept (the rest of a longer line is skipped).
const MAX_LINE: usize = 4096;
/// Most stdout read before kubectl reports forwarding.
const MAX_STDOUT_BEFORE_READY: usize = 64 * 1024;
/// Most stderr kept for error messages (the rest is read and dropped).
const MAX_STDERR: usize = 16 * 1024;
/// How much of kubectl's stderr goes into an error message.
const STDERR_IN_MESSAGE: usize = 2048;
/// How long an exited kubectl is given to finish writing stderr and to be reaped.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// kubectl is restarted in the background at most this often; a forward that keeps dying
/// sooner is restarted by the next call instead, so a crash loop never spins.
const MIN_RESTART_INTERVAL: Duration = Duration::from_secs(5);

/// How to open a `kubectl port-forward` tunnel to the Router Service (see
/// [`Client::tunnel`](crate::Client::tunnel)).
///
/// The command run is `kubectl port-forward --namespace=<ns> [--context=<c>]
/// [--kubeconfig=<path>] service/<service> <local>:<remote> --address=127.0.0.1`; kubectl
/// reads its credentials from its kubeconfig, none are put on its command line. The defaults
/// are AgentTier's chart: namespace `agenttier`, Service `agenttier-router`, port 8080, a local
/// port kubectl picks, the current context, 15 s to come up.
///
/// kubectl is started by the first call; a call waits for its `Forwarding from
/// 127.0.0.1:<port>` line. When kubectl exits while forwarding (its forward drops when the
/// Router's pod restarts) it is started again at once (at most every 5 s; sooner than that,
/// by the next call), asking for the same local port, and calls go wherever the new forward
/// listens. A start that fails is reported to the calls waiting for it, and the next call
/// tries again. kubectl is killed and reaped when the last clone of the client is dropped.
///
/// ```no_run
/// # async fn demo() -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::Client;
/// use agenttier::connect::TunnelOptions;
///
/// let options = TunnelOptions::new()
///     .namespace("agenttier-staging")
///     .service("staging-router")
///     .context("kind-dev")
///     .ready_timeout(Duration::from_secs(30));
/// let client = Client::tunnel(options).build()?;
/// client.healthz().await?; // starts kubectl on the first call
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TunnelOptions {
    kubectl: PathBuf,
    namespace: String,
    service: String,
    remote_port: u16,
    local_port: u16,
    context: Option<String>,
    kubeconfig: Option<PathBuf>,
    ready_timeout: Duration,
}

impl Default for TunnelOptions {
    fn default() -> Self {
        TunnelOptions::new()
    }
}

impl TunnelOptions {
    /// The defaults: `kubectl` from `PATH`, Service `agenttier-router` port 8080 in namespace
    /// `agenttier`, a free local port, the kubeconfig's current context, 15 s to come up.
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> TunnelOptions {
        TunnelOptions {
            kubectl: PathBuf::from("kubectl"),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
            remote_port: DEFAULT_PORT,
            local_port: 0,
            context: None,
            kubeconfig: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }

    /// The kubectl to run: a bare name is looked up on `PATH` (default `kubectl`).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().kubectl("/usr/local/bin/kubectl");
    /// # let _ = options;
    /// ```
    pub fn kubectl(mut self, path: impl Into<PathBuf>) -> TunnelOptions {
        self.kubectl = path.into();
        self
    }

    /// The Router Service's namespace (default `agenttier`).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().namespace("agenttier-staging");
    /// # let _ = options;
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> TunnelOptions {
        self.namespace = namespace.into();
        self
    }

    /// The Router Service (default `agenttier-router`, the chart's `<release>-router`).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().service("staging-router");
    /// # let _ = options;
    /// ```
    pub fn service(mut self, service: impl Into<String>) -> TunnelOptions {
        self.service = service.into();
        self
    }

    /// The Service port to forward to (default 8080).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().remote_port(80);
    /// # let _ = options;
    /// ```
    pub fn remote_port(mut self, port: u16) -> TunnelOptions {
        self.remote_port = port;
        self
    }

    /// The local port to listen on (default 0: kubectl picks a free one). With 0, a restarted
    /// forward asks for the port it had before, and takes any free one if that is gone;
    /// requests follow it either way.
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().local_port(18080);
    /// # let _ = options;
    /// ```
    pub fn local_port(mut self, port: u16) -> TunnelOptions {
        self.local_port = port;
        self
    }

    /// The kubeconfig context kubectl uses (default: its current context).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().context("kind-dev");
    /// # let _ = options;
    /// ```
    pub fn context(mut self, context: impl Into<String>) -> TunnelOptions {
        self.context = Some(context.into());
        self
    }

    /// The kubeconfig file kubectl reads (default: `KUBECONFIG`, else `~/.kube/config`).
    ///
    /// ```
    /// let options = agenttier::connect::TunnelOptions::new().kubeconfig("/etc/dev/kubeconfig");
    /// # let _ = options;
    /// ```
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> TunnelOptions {
        self.kubeconfig = Some(path.into());
        self
    }

    /// How long kubectl may take to report `Forwarding from 127.0.0.1:<port>` before it is
    /// stopped and the call fails with [`ConnectErrorKind::TunnelTimeout`] (default 15 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = agenttier::connect::TunnelOptions::new().ready_timeout(Duration::from_secs(60));
    /// # let _ = options;
    /// ```
    pub fn ready_timeout(mut self, timeout: Duration) -> TunnelOptions {
        self.ready_timeout = timeout;
        self
    }

    fn check(&self) -> Result<()> {
        if self.kubectl.as_os_str().is_empty() {
            return Err(Error::invalid("kubectl", "must not be empty"));
        }
        crate::wire::rfc1123_label("namespace", &self.namespace)?;
        crate::wire::rfc1123_label("service", &self.service)?;
        if self.remote_port == 0 {
            return Err(Error::invalid("remote_port", "0 is not in 1-65535"));
        }
        if let Some(context) = &self.context
            && (context.trim().is_empty() || context.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "context",
                format!("{context:?} is not a kubeconfig context name"),
            ));
        }
        if self
            .kubeconfig
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(Error::invalid("kubeconfig", "must not be empty"));
        }
        crate::wire::positive("ready_timeout", self.ready_timeout)?;
        Ok(())
    }

    fn args(&self, local_port: u16) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "port-forward".into(),
            format!("--namespace={}", self.namespace).into(),
        ];
        if let Some(context) = &self.context {
            args.push(format!("--context={context}").into());
        }
        if let Some(path) = &self.kubeconfig {
            let mut arg = OsString::from("--kubeconfig=");
            arg.push(path);
            args.push(arg);
        }
        args.push(format!("service/{}", self.service).into());
        args.push(format!("{local_port}:{}", self.remote_port).into());
        args.push("--address=127.0.0.1".into());
        args
    }

    /// The command line, for messages and logs (it holds no secret).
    fn command_line(&self, local_port: u16) -> String {
        let mut line = self.kubectl.display().to_string();
        for arg in self.args(local_port) {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }
}

/// A tunnel: the kubectl process of the current generation and what it reported.
pub(crate) struct Tunnel {
    inner: Arc<Inner>,
}

struct Inner {
    options: TunnelOptions,
    state: Mutex<State>,
    /// Bumped on every change of state, for the calls waiting on one.
    changed: tokio::sync::watch::Sender<u64>,
}

struct State {
    /// Each kubectl started is a new generation; output and exits of older ones are ignored.
    generation: u64,
    phase: Phase,
    process: Option<Process>,
    restarts: u32,
    /// When kubectl was last restarted in the background.
    last_restart: Option<Instant>,
    /// The local port of the last forward that came up (a restart asks for it again).
    last_port: Option<u16>,
}

struct Process {
    child: Child,
    command: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once kubectl's stderr is closed (all of it read).
    stderr_done: mpsc::Receiver<()>,
    /// Started on the previous forward's port: if it cannot come up, try any port.
    pinned: bool,
}

enum Phase {
    /// Nothing started yet.
    Idle,
    /// kubectl runs, forwarding not reported yet.
    Starting { since: Instant },
    /// Forwarding.
    Up { url: Url },
    /// kubectl exited; it is being reaped, then restarted or reported.
    Down,
    /// The last start failed; the next call starts kubectl again.
    Failed {
        kind: ConnectErrorKind,
        message: String,
        command: String,
    },
}

/// What a waiting call does next.
enum Next {
    Ready(Url),
    Wait { until: Instant, generation: u64 },
    Fail(Error),
}

impl Tunnel {
    pub(crate) fn new(options: TunnelOptions) -> Result<Tunnel> {
        options.check()?;
        let (changed, _) = tokio::sync::watch::channel(0);
        Ok(Tunnel {
            inner: Arc::new(Inner {
                options,
                state: Mutex::new(State {
                    generation: 0,
                    phase: Phase::Idle,
                    process: None,
                    restarts: 0,
                    last_restart: None,
                    last_port: None,
                }),
                changed,
            }),
        })
    }

    /// The forward's URL: starts kubectl when none runs (or the last one failed), restarts it
    /// when it has exited, and waits until it reports forwarding or the ready timeout passes.
    pub(crate) async fn url(&self) -> Result<Url> {
        let inner = &self.inner;
        let timeout = inner.options.ready_timeout;
        // Subscribed before looking at the state, so no change between the two is missed.
        let mut changes = inner.changed.subscribe();
        // A bound on this call, whatever happens to the process (a restart, a slow reaping).
        let started = Instant::now();
        let overall = started + timeout * 2 + EXIT_GRACE * 2;
        // The generation this call started or waits for: its failure is this call's failure.
        let mut mine: Option<u64> = None;
        loop {
            let next = {
                let mut st = inner.lock();
                inner.restart_if_exited(&mut st);
                match &st.phase {
                    Phase::Up { url } => Next::Ready(url.clone()),
                    Phase::Starting { since } => {
                        mine = Some(st.generation);
                        Next::Wait {
                            until: *since + timeout,
                            generation: st.generation,
                        }
                    }
                    Phase::Down => Next::Wait {
                        until: overall,
                        generation: st.generation,
                    },
                    Phase::Failed {
                        kind,
                        message,
                        command,
                    } if mine == Some(st.generation) => {
                        Next::Fail(failure(*kind, message.clone(), vec![command.clone()]))
                    }
                    Phase::Idle | Phase::Failed { .. } => {
                        let (port, pinned) = inner.restart_port(&st);
                        match inner.start(&mut st, port, pinned) {
                            Ok(()) => {
                                mine = Some(st.generation);
                                continue;
                            }
                            Err(e) => Next::Fail(e),
                        }
                    }
                }
            };
            match next {
                Next::Ready(url) => return Ok(url),
                Next::Fail(err) => return Err(err),
                Next::Wait { until, generation } => {
                    let until = until.min(overall);
                    let woke = tokio::time::timeout_at(
                        tokio::time::Instant::from_std(until),
                        changes.changed(),
                    )
                    .await;
                    if woke.is_err() {
                        inner.timed_out(generation);
                        if Instant::now() >= overall {
                            return Err(failure(
                                ConnectErrorKind::TunnelTimeout,
                                format!(
                                    "the kubectl port-forward tunnel did not come up within {:?}",
                                    started.elapsed()
                                ),
                                vec![inner.options.command_line(inner.options.local_port)],
                            ));
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn connection(&self) -> Connection {
        let options = &self.inner.options;
        let st = self.inner.lock();
        Connection::Tunnel {
            namespace: options.namespace.clone(),
            service: options.service.clone(),
            remote_port: options.remote_port,
            context: options.context.clone(),
            url: match &st.phase {
                Phase::Up { url } => Some(url.as_str().trim_end_matches('/').to_owned()),
                _ => None,
            },
            pid: st.process.as_ref().map(|p| p.child.id()),
            restarts: st.restarts,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Starts kubectl as the next generation. A failure to start is recorded (for the calls
    /// waiting) and returned.
    fn start(self: &Arc<Self>, st: &mut State, local_port: u16, pinned: bool) -> Result<()> {
        let command = self.options.command_line(local_port);
        st.generation += 1;
        let generation = st.generation;
        let spawned = Command::new(&self.options.kubectl)
            .args(self.options.args(local_port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let (kind, message) = spawn_failure(&self.options.kubectl, &e);
                st.phase = Phase::Failed {
                    kind,
                    message: message.clone(),
                    command: command.clone(),
                };
                self.notify();
                return Err(Error::Connection {
                    kind,
                    message,
                    tried: vec![command],
                    source: Some(Box::new(e)),
                });
            }
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (done, stderr_done) = mpsc::channel::<()>();
        let readers = spawn_readers(
            Arc::downgrade(self),
            generation,
            child.stdout.take(),
            child.stderr.take(),
            stderr.clone(),
            done,
        );
        if let Err(e) = readers {
            let _ = child.kill();
            let _ = child.wait();
            let message = format!("could not start a thread to read kubectl's output: {e}");
            st.phase = Phase::Failed {
                kind: ConnectErrorKind::TunnelFailed,
                message: message.clone(),
                command: command.clone(),
            };
            self.notify();
            return Err(failure(
                ConnectErrorKind::TunnelFailed,
                message,
                vec![command],
            ));
        }
        tracing::debug!(
            command = %command,
            pid = child.id(),
            "agenttier connection: starting kubectl port-forward"
        );
        st.process = Some(Process {
            child,
            command,
            stderr,
            stderr_done,
            pinned,
        });
        st.phase = Phase::Starting {
            since: Instant::now(),
        };
        self.notify();
        Ok(())
    }

    /// The local port a restart asks for, and whether that is the previous forward's port.
    fn restart_port(&self, st: &State) -> (u16, bool) {
        match (self.options.local_port, st.last_port) {
            (0, Some(previous)) => (previous, true),
            (configured, _) => (configured, false),
        }
    }

    /// A forward that is up but whose kubectl has exited (its output reader may not have seen
    /// it yet) is restarted at once, so the call that noticed goes to the new one.
    fn restart_if_exited(self: &Arc<Self>, st: &mut State) {
        if !matches!(st.phase, Phase::Up { .. }) {
            return;
        }
        let Some(process) = st.process.as_mut() else {
            return;
        };
        let Ok(Some(status)) = process.child.try_wait() else {
            return;
        };
        let stderr = stderr_text(&process.stderr);
        st.process = None;
        tracing::warn!(
            %status,
            stderr = %stderr,
            "kubectl port-forward exited; restarting it"
        );
        st.restarts += 1;
        let (port, pinned) = self.restart_port(st);
        // A failure is recorded in the state, where the waiting call finds it.
        let _ = self.start(st, port, pinned);
    }

    /// kubectl of `generation` reported forwarding on `addr`.
    fn forwarding(&self, generation: u64, addr: SocketAddr) {
        let mut st = self.lock();
        if st.generation != generation || !matches!(st.phase, Phase::Starting { .. }) {
            return;
        }
        let Ok(url) = Url::parse(&format!("http://{addr}")) else {
            return;
        };
        tracing::debug!(
            url = %url,
            "agenttier connection: kubectl port-forward is forwarding"
        );
        st.last_port = Some(addr.port());
        st.phase = Phase::Up { url };
        self.notify();
    }

    /// Stops kubectl of `generation` if it still has not reported forwarding.
    fn timed_out(&self, generation: u64) {
        let mut st = self.lock();
        if st.generation != generation || !matches!(st.phase, Phase::Starting { .. }) {
            return;
        }
        let Some(mut process) = st.process.take() else {
            return;
        };
        let _ = process.child.kill();
        let _ = process.child.wait();
        let message = format!(
            "kubectl port-forward did not report forwarding within {:?}; its stderr: {}",
            self.options.ready_timeout,
            stderr_text(&process.stderr)
        );
        st.phase = Phase::Failed {
            kind: ConnectErrorKind::TunnelTimeout,
            message,
            command: process.command,
        };
        self.notify();
    }

    /// kubectl of `generation` printed too much without reporting forwarding: stop it.
    fn garbage(&self, generation: u64) {
        let mut st = self.lock();
        if st.generation != generation || !matches!(st.phase, Phase::Starting { .. }) {
            return;
        }
        let Some(mut process) = st.process.take() else {
            return;
        };
        let _ = process.child.kill();
        let _ = process.child.wait();
        st.phase = Phase::Failed {
            kind: ConnectErrorKind::TunnelFailed,
            message: format!(
                "kubectl printed {MAX_STDOUT_BEFORE_READY} bytes without reporting \
                 `Forwarding from 127.0.0.1:<port>`; is it kubectl?"
            ),
            command: process.command,
        };
        self.notify();
    }

    /// kubectl of `generation` closed its stdout: reap it, then restart it (it was forwarding,
    /// or it was a restart on the previous port) or record why it failed.
    fn exited(self: &Arc<Self>, generation: u64) {
        let (mut process, was_up) = {
            let mut st = self.lock();
            if st.generation != generation {
                return;
            }
            let was_up = match st.phase {
                Phase::Up { .. } => true,
                Phase::Starting { .. } => false,
                _ => return,
            };
            let Some(process) = st.process.take() else {
                return;
            };
            st.phase = Phase::Down;
            (process, was_up)
        };
        // Outside the lock: the calls waiting must not be blocked while kubectl is reaped.
        let status = reap(&mut process.child);
        let _ = process.stderr_done.recv_timeout(EXIT_GRACE);
        let stderr = stderr_text(&process.stderr);
        let mut st = self.lock();
        if st.generation != generation || !matches!(st.phase, Phase::Down) {
            return;
        }
        let status = status.map_or_else(|| "an unknown status".to_owned(), |s| s.to_string());
        if was_up {
            st.restarts += 1;
            if st
                .last_restart
                .is_some_and(|at| at.elapsed() < MIN_RESTART_INTERVAL)
            {
                tracing::warn!(
                    status = %status,
                    stderr = %stderr,
                    "kubectl port-forward exited again soon after a restart; the next call starts it"
                );
                st.phase = Phase::Idle;
                self.notify();
                return;
            }
            tracing::warn!(
                status = %status,
                stderr = %stderr,
                "kubectl port-forward exited; restarting it"
            );
            st.last_restart = Some(Instant::now());
            let (port, pinned) = self.restart_port(&st);
            let _ = self.start(&mut st, port, pinned);
        } else if process.pinned {
            tracing::debug!(
                stderr = %stderr,
                "kubectl could not forward from the previous local port; letting it pick one"
            );
            let port = self.options.local_port;
            let _ = self.start(&mut st, port, false);
        } else {
            let (kind, message) = exit_failure(&self.options, &status, &stderr);
            st.phase = Phase::Failed {
                kind,
                message,
                command: process.command,
            };
            self.notify();
        }
    }
}

impl Drop for Inner {
    /// The last client clone is gone: stop kubectl and reap it, so no process is left.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        st.phase = Phase::Idle;
        if let Some(mut process) = st.process.take() {
            let _ = process.child.kill();
            let _ = process.child.wait();
            tracing::debug!(
                command = %process.command,
                "agenttier connection: stopped kubectl port-forward"
            );
        }
    }
}

/// Starts the threads reading kubectl's stdout (readiness, exit) and stderr (kept for errors).
fn spawn_readers(
    tunnel: Weak<Inner>,
    generation: u64,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    kept: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Sender<()>,
) -> std::io::Result<()> {
    if let Some(stderr) = stderr {
        std::thread::Builder::new()
            .name("agenttier-kubectl-stderr".to_owned())
            .spawn(move || {
                keep_stderr(stderr, &kept);
                drop(done);
            })?;
    }
    if let Some(stdout) = stdout {
        std::thread::Builder::new()
            .name("agenttier-kubectl-stdout".to_owned())
            .spawn(move || watch_stdout(tunnel, generation, stdout))?;
    }
    Ok(())
}

/// Reads kubectl's stdout until it closes: reports the forwarding line, then drains the
/// `Handling connection for …` lines (kept nowhere) so kubectl never blocks on a full pipe.
fn watch_stdout(tunnel: Weak<Inner>, generation: u64, stdout: ChildStdout) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut read_before_ready = 0usize;
    let mut ready = false;
    loop {
        match read_line(&mut reader, &mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) if !ready => {
                read_before_ready += n;
                if let Some(addr) = parse_forwarding(&String::from_utf8_lossy(&line)) {
                    ready = true;
                    match tunnel.upgrade() {
                        Some(inner) => inner.forwarding(generation, addr),
                        None => return,
                    }
                } else if read_before_ready > MAX_STDOUT_BEFORE_READY {
                    match tunnel.upgrade() {
                        Some(inner) => inner.garbage(generation),
                        None => return,
                    }
                }
            }
            Ok(_) => {}
        }
    }
    if let Some(inner) = tunnel.upgrade() {
        inner.exited(generation);
    }
}

/// Reads one line into `line`, keeping at most [`MAX_LINE`] bytes of it. Returns the bytes
/// consumed (0 at the end of the stream).
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    line.clear();
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if complete {
            return Ok(consumed);
        }
    }
}

/// Keeps the first [`MAX_STDERR`] bytes of kubectl's stderr and drains the rest.
fn keep_stderr(mut stderr: ChildStderr, kept: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                let room = MAX_STDERR.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn stderr_text(kept: &Mutex<Vec<u8>>) -> String {
    let kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    excerpt(&String::from_utf8_lossy(&kept), STDERR_IN_MESSAGE)
}

/// kubectl's `Forwarding from 127.0.0.1:41235 -> 8080`: the local address (loopback only).
fn parse_forwarding(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, _remote) = rest.split_once(" -> ")?;
    let addr: SocketAddr = local.trim().parse().ok()?;
    (addr.ip().is_loopback() && addr.port() != 0).then_some(addr)
}

/// Waits for an exited kubectl (it closed its output, so it is ending) for a moment, then
/// kills it: reaped either way.
fn reap(child: &mut Child) -> Option<ExitStatus> {
    let until = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

fn spawn_failure(kubectl: &std::path::Path, e: &std::io::Error) -> (ConnectErrorKind, String) {
    let shown = kubectl.display();
    let bare = kubectl.components().count() == 1;
    let message = match e.kind() {
        std::io::ErrorKind::NotFound if bare => format!(
            "`{shown}` was not found on PATH: install kubectl \
             (https://kubernetes.io/docs/tasks/tools/) or give its path with \
             TunnelOptions::kubectl"
        ),
        std::io::ErrorKind::NotFound => format!(
            "kubectl was not found at {shown}: install kubectl \
             (https://kubernetes.io/docs/tasks/tools/) or fix the path given to \
             TunnelOptions::kubectl"
        ),
        _ => format!("could not run kubectl ({shown}): {e}"),
    };
    (ConnectErrorKind::KubectlMissing, message)
}

fn exit_failure(options: &TunnelOptions, status: &str, stderr: &str) -> (ConnectErrorKind, String) {
    if stderr.contains("NotFound") || stderr.contains("not found") {
        (
            ConnectErrorKind::ServiceNotFound,
            format!(
                "kubectl could not find Service {}/{} (is AgentTier installed there? set \
                 TunnelOptions::namespace and ::service): {stderr}",
                options.namespace, options.service
            ),
        )
    } else {
        (
            ConnectErrorKind::TunnelFailed,
            format!("kubectl port-forward exited ({status}) before forwarding: {stderr}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_lines_are_read_like_kubectl_prints_them() {
        let addr = parse_forwarding("Forwarding from 127.0.0.1:41235 -> 8080\n").unwrap();
        assert_eq!(addr, "127.0.0.1:41235".parse().unwrap());
        assert!(parse_forwarding("Forwarding from [::1]:41235 -> 8080").is_some());
        assert!(parse_forwarding("Handling connection for 41235").is_none());
        assert!(parse_forwarding("Forwarding from 10.0.0.1:41235 -> 8080").is_none());
        assert!(parse_forwarding("Forwarding from 127.0.0.1:0 -> 8080").is_none());
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_skipped() {
        let text = format!("{}\nForwarding from 127.0.0.1:1 -> 2\n", "x".repeat(10_000));
        let mut reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), 10_001);
        assert_eq!(line.len(), MAX_LINE);
        read_line(&mut reader, &mut line).unwrap();
        assert_eq!(line, b"Forwarding from 127.0.0.1:1 -> 2\n");
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), 0);
    }

    #[test]
    fn the_command_line_holds_the_options_and_no_credentials() {
        let options = TunnelOptions::new()
            .namespace("team")
            .context("kind-dev")
            .kubeconfig("/tmp/kc");
        assert_eq!(
            options.command_line(0),
            "kubectl port-forward --namespace=team --context=kind-dev --kubeconfig=/tmp/kc \
             service/agenttier-router 0:8080 --address=127.0.0.1"
        );
    }

    #[test]
    fn bad_options_are_refused_before_kubectl_runs() {
        for options in [
            TunnelOptions::new().namespace("Team"),
            TunnelOptions::new().service("-x"),
            TunnelOptions::new().remote_port(0),
            TunnelOptions::new().context("a\nb"),
            TunnelOptions::new().ready_timeout(Duration::ZERO),
            TunnelOptions::new().kubectl(""),
        ] {
            assert!(matches!(
                Tunnel::new(options),
                Err(Error::InvalidInput { .. })
            ));
        }
    }
}
