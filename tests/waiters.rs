//! Waiters: option validation and the poll budget (loopback, wiremock). The learned schedule
//! itself is pinned by unit tests in `src/schedule.rs` and measured by `benches/waiter.rs`.

use std::time::Duration;

use agenttier::{Error, WaitOptions};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{assert_invalid, client, no_requests, requests_to, summary};

#[tokio::test]
async fn zero_poll_interval_rate_or_burst_is_invalid_input_with_no_request() {
    let server = MockServer::start().await;
    let sb = client(&server).sandbox("demo").unwrap();
    for opts in [
        WaitOptions::default().initial_interval(Duration::ZERO),
        WaitOptions::default().max_interval(Duration::ZERO),
        WaitOptions::default().max_polls_per_minute(0),
        WaitOptions::default().poll_burst(0),
    ] {
        assert_invalid(sb.wait_until_running_with(opts.clone()).await.unwrap_err());
        assert_invalid(sb.wait_until_stopped_with(opts.clone()).await.unwrap_err());
        assert_invalid(sb.wait_until_deleted_with(opts).await.unwrap_err());
    }
    no_requests(&server).await;
}

#[tokio::test]
async fn a_wait_polls_at_most_its_burst_plus_its_rate() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Creating")))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    // 3 at once, then one every 500 ms; 1.2 s allows 3 + 2 polls, and one more at the
    // deadline. A slow machine polls less, never more.
    let opts = WaitOptions::default()
        .timeout(Duration::from_millis(1_200))
        .initial_interval(Duration::from_millis(1))
        .max_interval(Duration::from_millis(1))
        .poll_burst(3)
        .max_polls_per_minute(120);
    let err = sb.wait_until_running_with(opts).await.unwrap_err();
    assert!(matches!(err, Error::WaitTimeout { .. }), "{err:?}");
    let polls = requests_to(&server, "GET", "/api/v1/sandboxes/demo").await;
    assert!((1..=6).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn an_unbounded_timeout_does_not_overflow() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    sb.wait_until_running_with(WaitOptions::default().timeout(Duration::MAX))
        .await
        .unwrap();
}

/// Waits (without timing assumptions) until the emulator has answered a GET for `name`.
async fn polled(router: &agenttier::testing::FakeRouter, name: &str) {
    let path = format!("/api/v1/sandboxes/{name}");
    while !router
        .requests()
        .iter()
        .any(|r| r.method == agenttier::testing::Method::GET && r.path == path)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_start_seen_by_one_handle_wakes_the_waiters_of_the_same_template() {
    use agenttier::testing::FakeRouter;
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_secs(3600))
        .start()
        .await;
    let client = agenttier::Client::builder(router.url()).build().unwrap();
    let b = client
        .create_sandbox("b")
        .template("general-coding")
        .await
        .unwrap();
    client
        .create_sandbox("a")
        .template("general-coding")
        .await
        .unwrap();
    // B alone would wait a minute for its second poll: a burst of 2, one poll a minute, and
    // sparse polls keep half the burst in reserve.
    let slow = WaitOptions::default()
        .initial_interval(Duration::from_millis(50))
        .max_interval(Duration::from_secs(1))
        .poll_burst(2)
        .max_polls_per_minute(1)
        .timeout(Duration::from_secs(300));
    let waiter_b = tokio::spawn(async move { b.wait_until_running_with(slow).await });
    polled(&router, "b").await;
    router.set_phase("b", "Running", "");
    // Another handle (a clone of the client, no summary) sees `a` start.
    let a = client.clone().sandbox("a").unwrap();
    let fast = WaitOptions::default()
        .initial_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(20))
        .max_polls_per_minute(60_000)
        .poll_burst(1_000);
    let waiter_a = tokio::spawn(async move { a.wait_until_running_with(fast).await });
    polled(&router, "a").await;
    router.set_phase("a", "Running", "");
    waiter_a.await.unwrap().unwrap();
    // The record woke B, whose window now says "now": it polls at once instead of in a minute.
    let b = tokio::time::timeout(Duration::from_secs(30), waiter_b)
        .await
        .expect("B was not woken by A's start")
        .unwrap()
        .unwrap();
    assert_eq!(b.phase(), agenttier::Phase::Running);
}
