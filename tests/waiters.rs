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
