//! Per-call options are values carried with each call: a timeout, a retry policy, a request id,
//! extra headers and cancellation reach a facade call and a raw (generated) call alike, also
//! from a spawned task.

use std::time::{Duration, Instant};

use agenttier::http::{HeaderName, HeaderValue};
use agenttier::{CallOptions, CancellationToken, Client, Error, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{client, requests_to, summary};

async fn demo_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn request_id_and_headers_reach_facade_and_raw_calls_also_from_a_spawned_task() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .and(header("x-request-id", "job-42-step-3"))
        .and(header("traceparent", "00-abc-def-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .expect(4)
        .mount(&server)
        .await;
    let c = client(&server).with_options(CallOptions::new().request_id("job-42-step-3").header(
        HeaderName::from_static("traceparent"),
        HeaderValue::from_static("00-abc-def-01"),
    ));
    c.get_sandbox("demo").await.unwrap();
    c.raw().get_sandbox("demo").await.unwrap();
    let spawned = c.clone();
    tokio::spawn(async move {
        spawned.get_sandbox("demo").await.unwrap();
        spawned.raw().get_sandbox("demo").await.unwrap();
    })
    .await
    .unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_bad_request_id_is_refused_before_anything_is_sent() {
    let server = demo_server().await;
    let c = client(&server).with_options(CallOptions::new().request_id("two words"));
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "request_id",
                ..
            }
        ),
        "{err:?}"
    );
    let err = Error::from(c.raw().get_sandbox("demo").await.unwrap_err());
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "request_id",
                ..
            }
        ),
        "{err:?}"
    );
    common::no_requests(&server).await;
}

#[tokio::test]
async fn a_retry_policy_reaches_facade_and_raw_calls_alike() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let once = client(&server).with_retry(RetryPolicy::none());
    assert_eq!(
        once.get_sandbox("demo").await.unwrap_err().status(),
        Some(503)
    );
    let raw = Error::from(once.raw().get_sandbox("demo").await.unwrap_err());
    assert_eq!(raw.status(), Some(503));
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        2,
        "one attempt each"
    );
    // The client's own policy (3 retries) applies otherwise, to both kinds of call.
    let patient = client(&server);
    patient.get_sandbox("demo").await.unwrap_err();
    let spawned = patient.clone();
    tokio::spawn(async move { spawned.raw().get_sandbox("demo").await.unwrap_err() })
        .await
        .unwrap();
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        2 + 4 + 4
    );
}

#[tokio::test]
async fn with_timeout_bounds_facade_and_raw_calls_alike() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(summary("Running"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let quick = client(&server).with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = quick.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let err = Error::from(quick.raw().get_sandbox("demo").await.unwrap_err());
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let spawned = quick.clone();
    let err = tokio::spawn(async move { spawned.get_sandbox("demo").await.unwrap_err() })
        .await
        .unwrap();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Three calls of at most 300 ms each, nowhere near the server's 5 s.
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_503_with_retry_after_past_the_timeout_is_returned_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "5"))
        .mount(&server)
        .await;
    let c = Client::builder(server.uri()).build().unwrap();
    let started = Instant::now();
    let err = c
        .with_timeout(Duration::from_secs(2))
        .get_sandbox("demo")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        1,
        "a 5 s wait does not fit in 2 s: no second attempt"
    );
}

#[tokio::test]
async fn cancellation_reaches_facade_and_raw_calls_alike() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(summary("Running"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let token = CancellationToken::new();
    let c = client(&server).with_options(CallOptions::new().cancel_on(token.clone()));
    let facade = tokio::spawn({
        let c = c.clone();
        async move { c.get_sandbox("demo").await.unwrap_err() }
    });
    let raw = tokio::spawn({
        let c = c.clone();
        async move { Error::from(c.raw().get_sandbox("demo").await.unwrap_err()) }
    });
    // Cancel only once both requests are in flight (the server has them and holds its answer).
    while server.received_requests().await.map_or(0, |r| r.len()) < 2 {
        tokio::task::yield_now().await;
    }
    token.cancel();
    for err in [facade.await.unwrap(), raw.await.unwrap()] {
        assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    }
    // A cancelled token stops the next call before it is sent.
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
}

#[tokio::test]
async fn options_merge_field_by_field_and_the_later_value_wins() {
    let server = demo_server().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/other"))
        .and(header("x-request-id", "second"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sandboxId":"other","name":"other","namespace":"default","status":"Running"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server)
        .with_options(CallOptions::new().request_id("first"))
        .with_timeout(Duration::from_secs(5))
        .with_options(CallOptions::new().request_id("second"));
    c.get_sandbox("other").await.unwrap();
    server.verify().await;
}
