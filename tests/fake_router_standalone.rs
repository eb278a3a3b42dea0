//! The standalone emulator (`cargo run --example fake-router --features testing`) prints one
//! `listening on http://ADDR` line and serves any HTTP client until killed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `cargo test` builds the examples next to the test binaries: `target/<profile>/examples/`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("fake-router{}", std::env::consts::EXE_SUFFIX))
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
        .expect("the fake-router example is built by cargo test");
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
    let client = agenttier::Client::builder(&url)
        .auth(agenttier::auth::ApiKey::new("atk_standalone").unwrap())
        .build()
        .unwrap();
    assert!(
        client
            .list_sandboxes(Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    let anonymous = agenttier::Client::builder(&url).build().unwrap();
    let err = anonymous
        .list_sandboxes(Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}
