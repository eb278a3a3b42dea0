//! Requests through the Router's preview proxy, against the FakeRouter (loopback): the
//! proxy's own failures are typed errors, the workload's answers come back as they are.

use std::time::Duration;

use agenttier::auth::ApiKey;
use agenttier::http::Method;
use agenttier::testing::{FakeAuth, FakeRouter};
use agenttier::{Client, Error, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "atk_preview-test-key-0123456789";
const CREATING: Duration = Duration::from_millis(10);

async fn running() -> (FakeRouter, Client) {
    let router = FakeRouter::builder()
        .manual_clock()
        .creating_delay(CREATING)
        .auth(FakeAuth::ApiKeys)
        .api_key(KEY)
        .start()
        .await;
    let client = Client::builder(router.url())
        .auth(ApiKey::new(KEY).unwrap())
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    client
        .create_sandbox("app")
        .template("general-coding")
        .await
        .unwrap();
    router.advance(CREATING);
    (router, client)
}

/// An HTTP upstream on 127.0.0.1 that answers each of `answers` once, in order, and hands
/// back the requests it read.
async fn upstream(answers: Vec<String>) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            s.write_all(answer.as_bytes()).await.unwrap();
            seen.push(String::from_utf8_lossy(&buf).into_owned());
        }
        seen
    });
    (port, task)
}

fn answer(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nX-App: demo\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn preview_sends_any_method_path_query_headers_and_body_with_the_clients_key() {
    let (_router, client) = running().await;
    let (port, seen) = upstream(vec![answer(
        "201 Created",
        "application/json",
        r#"{"ok":true}"#,
    )])
    .await;
    let sb = client.sandbox("app").unwrap();
    sb.ports().forward(u32::from(port)).await.unwrap();
    let resp = sb
        .ports()
        .preview(u32::from(port))
        .request(Method::PUT, "/items/7")
        .query("q", "a b")
        .header("x-trace", "t1")
        .json(&serde_json::json!({"n": 1}))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-app"], "demo");
    let v: serde_json::Value = resp.json().unwrap();
    assert_eq!(v["ok"], true);
    let request = seen.await.unwrap().remove(0);
    assert!(
        request.starts_with("PUT /items/7?q=a+b HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("x-trace: t1"), "{request}");
    assert!(
        lower.contains("content-type: application/json"),
        "{request}"
    );
    assert!(request.ends_with(r#"{"n":1}"#), "{request}");
    // §9: the proxy hands the caller's credential to the workload.
    assert!(
        lower.contains(&format!("x-api-key: {}", KEY.to_ascii_lowercase())),
        "{request}"
    );
}

#[tokio::test]
async fn preview_passes_an_upstream_500_and_404_through_as_responses() {
    let (_router, client) = running().await;
    let (port, _seen) = upstream(vec![
        answer("500 Internal Server Error", "text/plain", "app crashed"),
        answer(
            "404 Not Found",
            "application/json",
            r#"{"error":"no such item"}"#,
        ),
    ])
    .await;
    let sb = client.sandbox("app").unwrap();
    sb.ports().forward(u32::from(port)).await.unwrap();
    let app = sb.ports().preview(u32::from(port));
    let crashed = app.get("/").await.unwrap();
    assert_eq!(crashed.status(), 500);
    assert!(!crashed.is_success());
    assert_eq!(crashed.text(), "app crashed");
    let missing = app.get("/items/9").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(&missing.body()[..], br#"{"error":"no such item"}"#);
}

#[tokio::test]
async fn preview_of_a_port_not_forwarded_is_not_found() {
    let (_router, client) = running().await;
    let sb = client.sandbox("app").unwrap();
    let err = sb.ports().preview(3999).get("/").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.api().unwrap().message(), "port 3999 is not forwarded");
}

#[tokio::test]
async fn preview_of_an_unreachable_upstream_is_a_retryable_502() {
    let (router, client) = running().await;
    // A port nobody listens on: bind one, then free it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sb = client.sandbox("app").unwrap();
    sb.ports().forward(u32::from(port)).await.unwrap();
    router.clear_requests();
    let err = sb
        .ports()
        .preview(u32::from(port))
        .get("/")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(err.status(), Some(502));
    assert!(err.is_retryable());
    assert!(
        err.api()
            .unwrap()
            .message()
            .starts_with("port forward upstream unreachable")
    );
    // A GET is retried under the client's policy (3 retries by default).
    assert!(router.requests().len() > 1);
    // A POST is not (the upstream may have acted).
    router.clear_requests();
    let err = sb
        .ports()
        .preview(u32::from(port))
        .post("/")
        .body("x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(router.requests().len(), 1);
}

#[tokio::test]
async fn preview_of_a_stopped_sandbox_is_a_conflict() {
    let (router, client) = running().await;
    let sb = client.sandbox("app").unwrap();
    sb.ports().forward(3000).await.unwrap();
    assert!(router.set_phase("app", "Stopped", ""));
    let err = sb.ports().preview(3000).get("/").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(err.status(), Some(409));
}

#[tokio::test]
async fn preview_refuses_non_canonical_paths_before_sending() {
    let (router, client) = running().await;
    router.clear_requests();
    let sb = client.sandbox("app").unwrap();
    let err = sb.ports().preview(3000).get("a//b").await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { field: "path", .. }),
        "{err:?}"
    );
    assert!(router.requests().is_empty());
}

#[tokio::test]
async fn preview_of_a_missing_sandbox_is_not_found() {
    let (_router, client) = running().await;
    let err = client
        .sandbox("ghost")
        .unwrap()
        .ports()
        .preview(3000)
        .get("/")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.status(), Some(404));
}
