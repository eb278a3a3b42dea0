//! One deadline per call: attempts, `Retry-After` and waiter polls all end by it; 429s are
//! retried on every operation; a lost body is a retryable transport failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agenttier::testing::{FakeRouter, Fault, Method, RouteMatch};
use agenttier::{Client, WaitOptions};

use super::{fast_retries, raw_server};

/// A server that answers every request with `response`, counting them.
async fn counting(response: &'static str) -> (String, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let url = raw_server(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        response.as_bytes().to_vec()
    })
    .await;
    (url, n)
}

#[tokio::test]
async fn retry_after_beyond_the_call_deadline_returns_at_once() {
    let (url, n) = counting(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nX-Request-Id: r1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let client = Client::builder(&url).build().unwrap();
    let started = Instant::now();
    // "At once" vs "waited for the deadline": 20 s apart, so that a starved machine's slow
    // loopback answer cannot be taken for a wait.
    let err = client
        .with_timeout(Duration::from_secs(20))
        .get_sandbox("demo")
        .await
        .unwrap_err();
    let took = started.elapsed();
    println!(
        "deadline: 503 Retry-After 60 s under a 20 s timeout returned in {} ms after {} attempt(s)",
        took.as_millis(),
        n.load(Ordering::SeqCst)
    );
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.request_id(), Some("r1"));
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_hanging_server_is_given_up_on_at_the_call_deadline() {
    // Accepts, reads the request, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream); // kept open, unanswered
        }
    });
    let client = Client::builder(&url).retry(fast_retries()).build().unwrap();
    let started = Instant::now();
    let err = client
        .with_timeout(Duration::from_millis(800))
        .get_sandbox("demo")
        .await
        .unwrap_err();
    let took = started.elapsed();
    println!(
        "deadline: a hanging server under an 800 ms timeout gave {} in {} ms",
        match &err {
            agenttier::Error::Timeout { .. } => "Timeout",
            _ => "another error",
        },
        took.as_millis()
    );
    assert!(matches!(err, agenttier::Error::Timeout { .. }), "{err:?}");
    // The server hangs for real (that is the behaviour under test). Without the call deadline
    // an attempt would run for the 30 s attempt timeout: 15 s tells the two apart on any
    // machine.
    assert!(took < Duration::from_secs(15), "{took:?}");
}

/// Each poll is bounded by what is left of the waiter's timeout, not the client's call timeout.
#[tokio::test]
async fn a_waiter_against_a_hanging_server_returns_by_its_own_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = Client::builder(&url).retry(fast_retries()).build().unwrap();
    let sb = client.sandbox("demo").unwrap();
    let started = Instant::now();
    let err = sb
        .wait_until_running_with(WaitOptions::default().timeout(Duration::from_secs(1)))
        .await
        .unwrap_err();
    let took = started.elapsed();
    println!(
        "deadline: wait_until_running (1 s) against a hanging server returned in {} ms",
        took.as_millis()
    );
    // The server hangs for real. A poll bounded by the client's call timeout instead would
    // run for the 30 s attempt timeout: 15 s tells the two apart on any machine.
    assert!(took < Duration::from_secs(15), "{took:?} {err:?}");
}

#[tokio::test]
async fn rate_limited_exec_and_create_are_retried_after_retry_after() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::ZERO)
        .start()
        .await;
    let client = Client::builder(router.url())
        .retry(fast_retries())
        .build()
        .unwrap();
    let limited = || {
        Fault::status(429, r#"{"error":"rate_limited","retryAfter":0}"#)
            .with_header("Retry-After", "0")
    };
    router.fail_next(
        2,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes"),
        limited(),
    );
    let sb = client
        .create_sandbox("rl")
        .template("general-coding")
        .await
        .unwrap();
    router.wait_for_phase("rl", "Running").await;
    router.fail_next(
        2,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/rl/exec"),
        limited(),
    );
    let out = sb.exec("echo hi").await.unwrap();
    assert_eq!(out.stdout, "hi\n");
    let posts = router
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST)
        .count();
    println!(
        "429 retries: create and exec each answered 429 twice, both succeeded ({posts} POSTs)"
    );
    assert_eq!(posts, 6);
}

#[cfg(unix)]
#[test]
fn an_empty_webhook_secret_verifies_nothing() {
    use agenttier::webhooks::{sign, verify_signature};
    let body = b"{\"type\":\"sandbox.running\"}";
    assert!(!verify_signature(body, &sign(body, ""), ""));
    assert!(!verify_signature(body, "sha256=", ""));
    assert!(verify_signature(body, &sign(body, "s3cret"), "s3cret"));
}
