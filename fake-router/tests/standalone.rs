//! The standalone emulator (`cargo run -p agenttier-fake-router`) prints one
//! `listening on http://ADDR` line and serves any HTTP client until killed, and refuses to
//! run commands for whoever reaches a non-loopback port.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Cargo builds the package's binary for its integration tests.
fn example_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agenttier-fake-router"))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(extra: &[&str]) -> (Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(example_binary())
        .args(["--listen", &listen])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo builds the agenttier-fake-router binary for its tests");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, format!("listening on http://{listen}\n"));
    (Killed(child), format!("http://{listen}"))
}

#[tokio::test]
async fn standalone_fake_router_prints_its_url_and_serves_plain_http() {
    let (_child, url) = start(&[]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let list = http
        .get(format!("{url}/api/v1/sandboxes"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.text().await.unwrap().trim(), r#"{"sandboxes":null}"#);
}

#[tokio::test]
async fn standalone_fake_router_with_api_key_requires_it() {
    let (_child, url) = start(&["--api-key", "atk_standalone"]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let list = |key: Option<&'static str>| {
        let mut req = http.get(format!("{url}/api/v1/sandboxes"));
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        req.send()
    };
    let with_key = list(Some("atk_standalone")).await.unwrap();
    assert_eq!(with_key.status(), 200);
    let anonymous = list(None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = list(Some("atk_other")).await.unwrap();
    assert_eq!(wrong.status(), 401);
}

/// Run the binary until it exits on its own (the refusals happen before it binds anything)
/// and return (exit code, stdout, stderr).
fn refused(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(example_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cargo builds the agenttier-fake-router binary for its tests");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn standalone_refuses_local_exec_on_a_non_loopback_address() {
    let (code, stdout, stderr) = refused(&["--listen", "0.0.0.0:0", "--local-exec"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stdout, "", "it must not listen");
    assert!(
        stderr.contains("warning: 0.0.0.0:0 is not a loopback address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dev-auth checks no credentials"),
        "{stderr}"
    );
    assert!(
        stderr.contains("refusing --local-exec on 0.0.0.0:0"),
        "{stderr}"
    );
}

#[test]
fn standalone_refuses_remote_local_exec_unless_api_key_and_allow_remote_exec() {
    for args in [
        &[
            "--listen",
            "0.0.0.0:0",
            "--local-exec",
            "--api-key",
            "atk_k",
        ][..],
        &[
            "--listen",
            "0.0.0.0:0",
            "--local-exec",
            "--allow-remote-exec",
        ][..],
        &["--listen", "[::]:0", "--local-exec"][..],
    ] {
        let (code, stdout, stderr) = refused(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(
            stderr.contains("refusing --local-exec"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn standalone_with_api_key_and_allow_remote_exec_passes_the_gate() {
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is not an address of this machine, so binding fails
    // and nothing is exposed; what matters is that it was not refused (exit 2) first.
    let mut child = Command::new(example_binary())
        .args(["--listen", "192.0.2.1:0", "--local-exec"])
        .args(["--api-key", "atk_k", "--allow-remote-exec"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Either it exits (EOF: empty line) or, where non-local binds are allowed, it listens.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("refusing"), "{stderr}");
    assert!(
        stderr.contains("warning: 192.0.2.1:0 is not a loopback address"),
        "{stderr}"
    );
    if line.is_empty() {
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
    } else {
        assert!(line.starts_with("listening on http://192.0.2.1:"), "{line}");
    }
}

#[test]
fn standalone_on_loopback_with_local_exec_starts_without_warning() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(example_binary())
        .args(["--listen", &listen, "--local-exec"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(line, format!("listening on http://{listen}\n"));
    assert_eq!(stderr, "", "no warning on loopback");
}
