//! Helpers shared by the wiremock contract tests. Each test binary uses a subset.
#![allow(dead_code)]

use std::time::Duration;

use agenttier::{Client, Error, RetryPolicy};
use serde_json::json;
use wiremock::MockServer;

/// The default policy with millisecond backoff, so retry tests stay fast.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(20))
        .read_back_window(Duration::from_millis(50))
}

/// A client for `server` with [`fast_retries`] and no credentials.
pub fn client(server: &MockServer) -> Client {
    Client::builder(server.uri())
        .retry(fast_retries())
        .build()
        .unwrap()
}

/// A sandbox summary as the Router sends it (Go-format `createdAt`).
pub fn summary(status: &str) -> serde_json::Value {
    json!({"sandboxId":"demo","name":"demo","namespace":"default","status":status,"podName":"demo",
           "pvcName":"demo-workspace","templateRef":"general-coding","mode":"code",
           "createdAt":"2026-07-21 04:16:07 +0000 UTC","message":""})
}

/// How many requests with method `m` reached path `p`.
pub async fn requests_to(server: &MockServer, m: &str, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .count()
}

/// Asserts that nothing reached the server (input refused before any request).
pub async fn no_requests(server: &MockServer) {
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "a request was sent"
    );
}

/// Asserts an input error.
pub fn assert_invalid(err: Error) {
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}
