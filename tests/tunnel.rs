//! The kubectl tunnel, against a stand-in `kubectl`: shell scripts that `exec` the SDK's
//! `fake-router` example (a real FakeRouter) on the local port asked for, printing exactly
//! what `kubectl port-forward` prints, or that fail the ways kubectl fails. Each test passes
//! its script with `TunnelOptions::kubectl` (no process-wide `PATH` change) and a kubeconfig
//! path in its own directory, where the scripts write what they were called with.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use agenttier::auth::ApiKey;
use agenttier::connect::{ConnectErrorKind, Connection, NOT_CONNECTED, TunnelOptions};
use agenttier::{Client, Error};

/// The stand-in kubectl scripts, written once before any test starts a process (a script
/// written while another thread forks could not be executed: "text file busy").
struct Scripts {
    _dir: tempfile::TempDir,
    /// Forwards from the local port asked for, like kubectl.
    forward: PathBuf,
    /// Forwards from any free port, whatever was asked (a restart that gets a new port).
    forward_any_port: PathBuf,
    /// kubectl's answer for a Service that does not exist.
    not_found: PathBuf,
    /// Runs, prints nothing, never forwards.
    silent: PathBuf,
    /// Exits at once with an error.
    fails: PathBuf,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let router = fake_router_example();
        let router = router.display();
        // The per-test directory is the one of the --kubeconfig argument.
        let prelude = r#"#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    --kubeconfig=*) dir=$(dirname "${arg#--kubeconfig=}") ;;
    [0-9]*:[0-9]*) local_port=${arg%%:*}; remote_port=${arg#*:} ;;
  esac
done
printf '%s\n' "$*" >> "$dir/calls.log"
"#;
        let write = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{prelude}{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        Scripts {
            forward: write(
                "forward",
                &format!(
                    r#"exec "{router}" --listen "127.0.0.1:$local_port" --kubectl-forwarding "$remote_port""#
                ),
            ),
            forward_any_port: write(
                "forward-any-port",
                &format!(
                    r#"exec "{router}" --listen 127.0.0.1:0 --kubectl-forwarding "$remote_port""#
                ),
            ),
            not_found: write(
                "not-found",
                r#"echo 'Error from server (NotFound): services "agenttier-router" not found' >&2
exit 1"#,
            ),
            silent: write("silent", "exec sleep 600"),
            fails: write(
                "fails",
                r#"echo 'error: unable to forward port because pod is not running. Current status=Pending' >&2
exit 1"#,
            ),
            _dir: dir,
        }
    })
}

/// `target/<profile>/examples/fake-router`, which `cargo test` builds with the tests.
fn fake_router_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let path = profile.join("examples").join("fake-router");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// A test's own directory and tunnel options using `kubectl`.
fn tunnel_options(kubectl: &Path) -> (tempfile::TempDir, TunnelOptions) {
    // Before this test starts any process.
    scripts();
    let dir = tempfile::tempdir().unwrap();
    let options = TunnelOptions::new()
        .kubectl(kubectl)
        .namespace("team")
        .context("kind-test")
        .kubeconfig(dir.path().join("kubeconfig"))
        .ready_timeout(Duration::from_secs(60));
    (dir, options)
}

fn pid_of(connection: &Connection) -> Option<u32> {
    match connection {
        Connection::Tunnel { pid, .. } => *pid,
        other => panic!("not a tunnel: {other:?}"),
    }
}

fn restarts_of(connection: &Connection) -> u32 {
    match connection {
        Connection::Tunnel { restarts, .. } => *restarts,
        other => panic!("not a tunnel: {other:?}"),
    }
}

/// Whether a process exists (a zombie counts: it has not been reaped).
fn exists(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `condition` every 20 ms for at most 30 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn connection_error(err: Error) -> (ConnectErrorKind, String, Vec<String>) {
    match err {
        Error::Connection {
            kind,
            message,
            tried,
            ..
        } => (kind, message, tried),
        other => panic!("not a connection error: {other:?}"),
    }
}

#[tokio::test]
async fn tunnel_carries_calls_to_the_router_through_kubectl_port_forward() {
    let (dir, options) = tunnel_options(&scripts().forward);
    let client = Client::tunnel(options)
        .auth(ApiKey::new("atk_secret_key").unwrap())
        .build()
        .unwrap();
    assert_eq!(client.base_url(), NOT_CONNECTED);
    assert!(
        !dir.path().join("calls.log").exists(),
        "build started kubectl"
    );

    client.healthz().await.unwrap();
    // An /api/v1 route goes through too (the FakeRouter has no such sandbox).
    let err = client.get_sandbox("no-such-sandbox").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    let connection = client.connection();
    let url = connection.url().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{connection:?}");
    assert_eq!(client.base_url(), url);
    assert!(pid_of(&connection).is_some());
    assert_eq!(restarts_of(&connection), 0);
    assert!(format!("{client:?}").contains(&url));
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(
        calls.trim(),
        format!(
            "port-forward --namespace=team --context=kind-test --kubeconfig={} \
             service/agenttier-router 0:8080 --address=127.0.0.1",
            dir.path().join("kubeconfig").display()
        ),
        "one kubectl, with the options and no credentials"
    );
}

#[tokio::test]
async fn tunnel_restarts_kubectl_after_it_dies_and_calls_follow_the_new_port() {
    let (_dir, options) = tunnel_options(&scripts().forward_any_port);
    let client = Client::tunnel(options).build().unwrap();
    let first = client.connect().await.unwrap();
    let first_pid = pid_of(&first).unwrap();
    client.healthz().await.unwrap();

    kill(first_pid);
    // The supervisor notices the exit and starts another kubectl, with no call made.
    eventually("a new kubectl", || {
        pid_of(&client.connection()).is_some_and(|pid| pid != first_pid)
    })
    .await;

    client.healthz().await.unwrap();
    let now = client.connection();
    assert_eq!(restarts_of(&now), 1);
    assert!(!exists(first_pid), "the dead kubectl was not reaped");
    // Requests went to wherever the new forward listens; base_url keeps the first URL.
    assert!(now.url().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(client.base_url(), first.url().unwrap());
}

#[tokio::test]
async fn tunnel_restart_asks_kubectl_for_the_previous_local_port() {
    let (dir, options) = tunnel_options(&scripts().forward);
    let client = Client::tunnel(options).build().unwrap();
    let first = client.connect().await.unwrap();
    let first_pid = pid_of(&first).unwrap();
    let port = first.url().unwrap().rsplit(':').next().unwrap().to_owned();

    kill(first_pid);
    eventually("a new kubectl", || {
        pid_of(&client.connection()).is_some_and(|pid| pid != first_pid)
    })
    .await;
    client.healthz().await.unwrap();

    assert_eq!(client.connection().url(), first.url());
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].contains(" 0:8080 "), "{calls:?}");
    assert!(calls[1].contains(&format!(" {port}:8080 ")), "{calls:?}");
}

#[tokio::test]
async fn tunnel_stops_kubectl_when_the_last_client_clone_is_dropped() {
    let (_dir, options) = tunnel_options(&scripts().forward);
    let client = Client::tunnel(options).build().unwrap();
    let clone = client.with_timeout(Duration::from_secs(30));
    let pid = pid_of(&client.connect().await.unwrap()).unwrap();

    drop(client);
    assert!(exists(pid), "stopped while a clone is alive");
    clone.healthz().await.unwrap();

    drop(clone);
    assert!(!exists(pid), "kubectl {pid} is still there");
}

#[tokio::test]
async fn tunnel_reports_a_missing_kubectl_and_how_to_install_it() {
    let (_dir, options) = tunnel_options(Path::new("/nonexistent/bin/kubectl"));
    let client = Client::tunnel(options).build().unwrap();
    let (kind, message, tried) = connection_error(client.healthz().await.unwrap_err());
    assert_eq!(kind, ConnectErrorKind::KubectlMissing);
    assert!(message.contains("/nonexistent/bin/kubectl"), "{message}");
    assert!(message.contains("TunnelOptions::kubectl"), "{message}");
    assert!(message.contains("https://kubernetes.io/docs/tasks/tools/"));
    assert!(tried[0].contains("port-forward"), "{tried:?}");

    let (_dir, options) = tunnel_options(Path::new("agenttier-test-no-such-kubectl"));
    let err = Client::tunnel(options)
        .build()
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found on PATH"), "{err}");
}

#[tokio::test]
async fn tunnel_fails_with_the_timeout_error_when_kubectl_never_reports_forwarding() {
    let (_dir, options) = tunnel_options(&scripts().silent);
    let client = Client::tunnel(options.ready_timeout(Duration::from_secs(1)))
        .build()
        .unwrap();
    let started = Instant::now();
    let connecting = tokio::spawn({
        let client = client.clone();
        async move { client.connect().await }
    });
    eventually("kubectl to start", || {
        pid_of(&client.connection()).is_some() || connecting.is_finished()
    })
    .await;
    let pid = pid_of(&client.connection()).expect("kubectl was stopped before it was seen");
    let (kind, message, _) = connection_error(connecting.await.unwrap().unwrap_err());
    assert_eq!(kind, ConnectErrorKind::TunnelTimeout);
    assert!(message.contains("within 1s"), "{message}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The silent kubectl was stopped and reaped.
    assert!(!exists(pid), "the silent kubectl {pid} is still there");
    assert_eq!(pid_of(&client.connection()), None);
}

#[tokio::test]
async fn tunnel_surfaces_kubectl_saying_the_service_does_not_exist() {
    let (_dir, options) = tunnel_options(&scripts().not_found);
    let client = Client::tunnel(options).build().unwrap();
    let (kind, message, _) = connection_error(client.healthz().await.unwrap_err());
    assert_eq!(kind, ConnectErrorKind::ServiceNotFound);
    assert!(message.contains("team/agenttier-router"), "{message}");
    assert!(
        message.contains(r#"Error from server (NotFound): services "agenttier-router" not found"#),
        "{message}"
    );
}

#[tokio::test]
async fn tunnel_reports_kubectl_exiting_before_forwarding_with_its_stderr() {
    let (dir, options) = tunnel_options(&scripts().fails);
    let client = Client::tunnel(options).build().unwrap();
    let (kind, message, _) = connection_error(client.connect().await.unwrap_err());
    assert_eq!(kind, ConnectErrorKind::TunnelFailed);
    assert!(message.contains("pod is not running"), "{message}");
    // The next call tries again.
    let _ = client.connect().await.unwrap_err();
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(calls.lines().count(), 2);
}

#[tokio::test]
async fn tunnel_refuses_bad_options_before_running_anything() {
    let (dir, options) = tunnel_options(&scripts().forward);
    for bad in [
        options.clone().namespace("Not_A_Namespace"),
        options.clone().service(""),
        options.clone().remote_port(0),
        options.clone().ready_timeout(Duration::ZERO),
    ] {
        let err = Client::tunnel(bad).build().unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert!(!dir.path().join("calls.log").exists());
}
