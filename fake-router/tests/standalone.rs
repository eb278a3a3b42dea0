//! The standalone emulator (`cargo run -p agenttier-fake-router`) prints one
//! `listening on http://ADDR` line and serves any HTTP client until killed.

use std::io::{BufRead, BufReader};
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
