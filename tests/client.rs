//! Contract tests for the client core: error mapping, retries, redirects, waiters, create and
//! exec. Each test pins one Router behaviour (as openapi.yaml describes it) or one client rule.

use std::time::{Duration, Instant};

use agenttier::{Client, Error, Phase, RetryPolicy, WaitOptions};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod common;
use common::{client, fast_retries, requests_to, summary};

#[tokio::test]
async fn null_list_reads_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sandboxes": null})))
        .mount(&server)
        .await;
    let list = client(&server).list_sandboxes().await.unwrap();
    assert!(list.is_empty());
}

#[tokio::test]
async fn list_filters_are_sent_as_namespace_and_status_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .and(query_param("namespace", "team-a"))
        .and(query_param("status", "Running"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"sandboxes": [summary("Running")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let filter = agenttier::SandboxFilter::default()
        .namespace("team-a")
        .phase(Phase::Running);
    let list = client(&server).list_sandboxes_with(filter).await.unwrap();
    assert_eq!(list[0].phase(), Phase::Running);
}

#[tokio::test]
async fn go_time_created_at_is_kept_verbatim() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&server)
        .await;
    let sb = client(&server).get_sandbox("demo").await.unwrap();
    let s = sb.summary().unwrap();
    assert_eq!(
        s.created_at.as_deref(),
        Some("2026-07-21 04:16:07 +0000 UTC")
    );
    assert_eq!(sb.namespace(), Some("default"));
}

#[tokio::test]
async fn unknown_and_empty_phases() {
    assert_eq!(Phase::from_wire(""), Phase::Creating);
    assert_eq!(
        Phase::from_wire("Hibernating"),
        Phase::Unknown("Hibernating".into())
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Quantum")))
        .mount(&server)
        .await;
    let sb = client(&server).get_sandbox("demo").await.unwrap();
    assert_eq!(
        sb.summary().unwrap().phase(),
        Phase::Unknown("Quantum".into())
    );
}

#[tokio::test]
async fn text_plain_401_with_invalid_json_is_authentication_error() {
    let server = MockServer::start().await;
    // The Router pastes the JWT error into the body without escaping (openapi.yaml, the 401 answers).
    let body = "{\"error\":\"invalid_token\",\"message\":\"unsupported JWT alg \"HS256\": only RS256 is accepted\"}\n";
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .insert_header("X-Request-Id", "0123456789abcdef")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.request_id(), Some("0123456789abcdef"));
    let api = err.api().unwrap();
    assert_eq!(api.code(), Some("invalid_token"));
    assert_eq!(
        api.message(),
        "unsupported JWT alg \"HS256\": only RS256 is accepted"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn empty_401_keeps_its_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)));
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn html_502_is_unavailable_with_status_after_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .insert_header("x-request-id", "gw-1")
                .set_body_string("<html><body>Bad Gateway</body></html>"),
        )
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.request_id(), Some("gw-1"));
    assert!(err.is_retryable());
    assert!(err.api().unwrap().body().contains("Bad Gateway"));
    // One try plus three retries.
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        4
    );
}

#[tokio::test]
async fn rate_limited_429_waits_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"error":"rate_limited","retryAfter":1,"message":"too many requests; retry after 1 seconds"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sandboxes": []})))
        .mount(&server)
        .await;
    let started = Instant::now();
    client(&server).list_sandboxes().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(requests_to(&server, "GET", "/api/v1/sandboxes").await, 2);
}

#[tokio::test]
async fn rate_limited_error_carries_retry_after_and_prefers_the_human_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"error":"rate_limited","retryAfter":7,"message":"too many requests; retry after 7 seconds"})),
        )
        .mount(&server)
        .await;
    let c = Client::builder(server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(
        err.api().unwrap().message(),
        "too many requests; retry after 7 seconds"
    );
    assert_eq!(err.api().unwrap().code(), Some("rate_limited"));
}

#[tokio::test]
async fn retry_after_beyond_the_limit_is_not_waited_for() {
    // A bulk batch above the per-user burst gets Retry-After: 9223372037 (openapi.yaml, `bulkCreateSandboxes`).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "9223372037"))
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)));
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        1
    );
}

#[tokio::test]
async fn mux_404_page_not_found_is_unsupported_route_not_a_missing_sandbox() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/stop"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .set_body_string("404 page not found\n"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-request-id", "abc")
                .set_body_json(json!({"error":"sandbox demo not found"})),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c.sandbox("demo").unwrap().stop().await.unwrap_err();
    match &err {
        Error::UnsupportedRoute { operation, .. } => assert_eq!(*operation, "stop_sandbox"),
        other => panic!("expected UnsupportedRoute, got {other:?}"),
    }
    assert!(!err.is_not_found());
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.api().unwrap().message(), "sandbox demo not found");
    assert_eq!(err.request_id(), Some("abc"));
}

#[tokio::test]
async fn policy_violation_403_has_typed_violations() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error":"policy_violation",
            "violations":[{"code":"template_not_allowed","message":"template \"x\" is not permitted"}]})))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_sandbox("demo")
        .template("x")
        .await
        .unwrap_err();
    match err {
        Error::PolicyViolation { violations, .. } => {
            assert_eq!(violations[0].code, "template_not_allowed");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn admin_required_text_plain_403_is_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .set_body_string("{\"error\":\"admin_required\"}\n"),
        )
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Authorization(_)));
    assert_eq!(err.api().unwrap().message(), "admin_required");
}

#[tokio::test]
async fn malformed_success_body_is_a_decode_error_with_status_and_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-request-id", "r-1")
                .set_body_string("{\"name\": 12"),
        )
        .mount(&server)
        .await;
    let err = client(&server).get_sandbox("demo").await.unwrap_err();
    match &err {
        Error::Decode {
            status,
            request_id,
            snippet,
            ..
        } => {
            assert_eq!(*status, Some(200));
            assert_eq!(request_id.as_deref(), Some("r-1"));
            assert!(snippet.contains("\"name\""));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::builder(format!("http://{addr}"))
        .retry(fast_retries())
        .build()
        .unwrap();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn get_is_retried_on_503_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&server)
        .await;
    client(&server).get_sandbox("demo").await.unwrap();
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        3
    );
}

#[tokio::test]
async fn exec_post_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server)
        .sandbox("demo")
        .unwrap()
        .exec("true")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/exec").await,
        1
    );
}

#[tokio::test]
async fn stop_is_retried_because_the_router_makes_it_safe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status":"stopping"})))
        .mount(&server)
        .await;
    client(&server)
        .sandbox("demo")
        .unwrap()
        .stop()
        .await
        .unwrap();
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/stop").await,
        2
    );
}

#[tokio::test]
async fn caller_deadline_bounds_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "5"))
        .mount(&server)
        .await;
    let c = client(&server).with_deadline(Instant::now() + Duration::from_secs(1));
    let started = Instant::now();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        1
    );
}

#[tokio::test]
async fn retries_give_up_on_post_create_without_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let c = Client::builder(server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c
        .create_sandbox("demo")
        .template("general-coding")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    // Not sent again; its unknown outcome is read back once (wiremock answers no GET route
    // with 404: the sandbox does not exist, so the 503 stands).
    assert_eq!(requests_to(&server, "POST", "/api/v1/sandboxes").await, 1);
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        1
    );
}

#[tokio::test]
async fn duplicate_safe_create_checks_by_name_before_sending_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name":"demo","namespace":"default","sandboxId":"demo","status":"Creating","templateRef":"general-coding"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error":"sandbox demo not found"})),
        )
        .mount(&server)
        .await;
    let sb = client(&server)
        .create_sandbox("demo")
        .template("general-coding")
        .await
        .unwrap();
    assert_eq!(sb.id(), "demo");
    let seen = server.received_requests().await.unwrap();
    let order: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(order.first(), Some(&"POST"));
    assert_eq!(order.last(), Some(&"POST"));
    assert_eq!(order.iter().filter(|m| **m == "POST").count(), 2);
    assert!(
        order.iter().filter(|m| **m == "GET").count() >= 1,
        "read back by name before sending again: {order:?}"
    );
}

#[tokio::test]
async fn duplicate_safe_create_returns_the_sandbox_an_ambiguous_attempt_made() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(504))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("")))
        .mount(&server)
        .await;
    let sb = client(&server)
        .create_sandbox("demo")
        .template("general-coding")
        .await
        .unwrap();
    assert_eq!(sb.id(), "demo");
    assert_eq!(requests_to(&server, "POST", "/api/v1/sandboxes").await, 1);
}

#[tokio::test]
async fn create_sends_cluster_template_kind_and_go_durations() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes"))
        .and(body_json(json!({
            "name":"demo","namespace":"team-a",
            "templateRef":{"name":"general-coding","kind":"ClusterSandboxTemplate"},
            "timeout":"8h","idleTimeout":"1h30m","storage":{"size":"10Gi"}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name":"demo","namespace":"team-a","sandboxId":"demo","status":"Creating","templateRef":"general-coding"})))
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server)
        .create_sandbox("demo")
        .template("general-coding")
        .namespace("team-a")
        .timeout(Duration::from_secs(8 * 3600))
        .idle_timeout(Duration::from_secs(90 * 60))
        .storage_size("10Gi")
        .await
        .unwrap();
    assert_eq!(sb.namespace(), Some("team-a"));
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let c = client(&server);
    let cases = [
        c.create_sandbox("Not_A_Label")
            .template("general-coding")
            .await
            .unwrap_err(),
        c.create_sandbox("demo").template("").await.unwrap_err(),
        c.create_sandbox("demo")
            .template("t")
            .timeout(Duration::ZERO)
            .await
            .unwrap_err(),
        c.sandbox("a/b").unwrap_err(),
        c.sandbox("").unwrap_err(),
        c.sandbox("demo").unwrap().exec("   ").await.unwrap_err(),
        c.sandbox("demo")
            .unwrap()
            .exec_argv::<&str>(&[])
            .await
            .unwrap_err(),
    ];
    for err in cases {
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn exec_sends_command_and_timeout_and_measures_wall_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/exec"))
        .and(body_json(json!({"command":"echo 'it'\\''s'","timeout":5})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(50))
                .set_body_json(json!({"stdout":"it's\n","stderr":"","exitCode":0})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let out = sb
        .exec_with(
            "echo 'it'\\''s'",
            agenttier::ExecOptions::default().timeout(Duration::from_millis(4500)),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "it's\n");
    assert!(out.success());
    assert!(out.duration >= Duration::from_millis(50));
}

#[tokio::test]
async fn exec_argv_quotes_arguments_for_the_shell() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_json(
            json!({"command":"printf '%s\\n' 'a b' '$HOME' 'it'\\''s'"}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"stdout":"","stderr":"","exitCode":3})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = client(&server)
        .sandbox("demo")
        .unwrap()
        .exec_argv(&["printf", "%s\\n", "a b", "$HOME", "it's"])
        .await
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert!(!out.success());
}

#[tokio::test]
async fn user_agent_is_agenttier_rust_with_version() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("user-agent", agenttier::USER_AGENT))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).get_sandbox("demo").await.unwrap();
    assert!(agenttier::USER_AGENT.starts_with("agenttier-rust/"));
}

#[tokio::test]
async fn base_url_with_api_v1_suffix_is_not_doubled() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::builder(format!("{}/api/v1/", server.uri()))
        .build()
        .unwrap();
    c.get_sandbox("demo").await.unwrap();
    assert!(Client::builder("ftp://x").build().is_err());
    assert!(Client::builder("not a url").build().is_err());
}

#[tokio::test]
async fn per_call_timeout_override_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(2))
                .set_body_json(summary("Running")),
        )
        .mount(&server)
        .await;
    let c = client(&server).with_timeout(Duration::from_millis(100));
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Timeouts are not retried: a slow Router is not made slower.
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        1
    );
}

#[tokio::test]
async fn redirect_to_another_origin_never_carries_credentials() {
    let evil = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&evil)
        .await;
    let router = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/api/v1/sandboxes/demo", evil.uri())),
        )
        .mount(&router)
        .await;
    #[derive(Debug)]
    struct Key;
    impl agenttier::auth::AuthProvider for Key {
        fn credential(
            &self,
        ) -> agenttier::auth::BoxFuture<'_, agenttier::Result<Option<agenttier::auth::Credential>>>
        {
            Box::pin(async {
                Ok(Some(agenttier::auth::Credential::ApiKey(
                    agenttier::SecretString::new("atk_secret"),
                )))
            })
        }
    }
    let c = Client::builder(router.uri()).auth(Key).build().unwrap();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert_eq!(err.status(), Some(302), "{err:?}");
    let leaked: Vec<Request> = evil.received_requests().await.unwrap();
    assert!(
        leaked.is_empty(),
        "the request followed the redirect to another origin"
    );
    let sent = router.received_requests().await.unwrap();
    assert_eq!(sent[0].headers.get("x-api-key").unwrap(), "atk_secret");
}

#[tokio::test]
async fn same_origin_redirect_is_followed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes//demo"))
        .respond_with(
            ResponseTemplate::new(301).insert_header("location", "/api/v1/sandboxes/demo"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Running")))
        .mount(&server)
        .await;
    let resp = reqwest::Client::builder()
        .redirect(agenttier::redirect_policy())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/sandboxes//demo", server.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn phases(server: &MockServer, sequence: &[&str]) {
    for phase in sequence {
        Mock::given(method("GET"))
            .and(path("/api/v1/sandboxes/demo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(summary(phase)))
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
}

fn quick_wait() -> WaitOptions {
    WaitOptions::default()
        .max_polls_per_minute(60_000)
        .poll_burst(1_000)
        .initial_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(20))
}

#[tokio::test]
async fn waiter_sees_empty_then_creating_then_running() {
    let server = MockServer::start().await;
    phases(&server, &["", "Creating", "Creating", "Running"]).await;
    let sb = client(&server).sandbox("demo").unwrap();
    let s = sb.wait_until_running_with(quick_wait()).await.unwrap();
    assert_eq!(s.phase(), Phase::Running);
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        4
    );
    // A waiter takes `&self`: it returns the summary and leaves the handle as it was.
    assert!(sb.summary().is_none());
}

#[tokio::test]
async fn waiter_fails_at_once_on_error_with_the_server_message() {
    let server = MockServer::start().await;
    let mut failed = summary("Error");
    failed["message"] = json!("Pod failed: ImagePullBackOff");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Creating")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(failed))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let err = sb.wait_until_running_with(quick_wait()).await.unwrap_err();
    match err {
        Error::SandboxFailed { message, last, .. } => {
            assert_eq!(message, "Pod failed: ImagePullBackOff");
            assert_eq!(last.phase(), Phase::Error);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        2
    );
}

#[tokio::test]
async fn waiter_timeout_returns_the_last_summary() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Creating")))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let started = Instant::now();
    let err = sb
        .wait_until_running_with(quick_wait().timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    match err {
        Error::WaitTimeout { last, target, .. } => {
            assert_eq!(target, "Running");
            assert_eq!(last.unwrap().phase(), Phase::Creating);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wait_until_stopped_and_deleted() {
    let server = MockServer::start().await;
    phases(&server, &["Running", "Stopped", "Stopped"]).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error":"sandbox demo not found"})),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    assert_eq!(
        sb.wait_until_stopped_with(quick_wait())
            .await
            .unwrap()
            .phase(),
        Phase::Stopped
    );
    sb.wait_until_deleted_with(quick_wait()).await.unwrap();
    assert!(sb.summary().is_none());
}

#[tokio::test]
async fn dropping_a_waiter_stops_polling() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary("Creating")))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let _ = tokio::time::timeout(
        Duration::from_millis(100),
        sb.wait_until_running_with(quick_wait()),
    )
    .await;
    let after_drop = requests_to(&server, "GET", "/api/v1/sandboxes/demo").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        requests_to(&server, "GET", "/api/v1/sandboxes/demo").await,
        after_drop
    );
}

#[tokio::test]
async fn health_probes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/readyz"))
        .respond_with(ResponseTemplate::new(503).set_body_string("not ready: list failed"))
        .mount(&server)
        .await;
    let c = Client::builder(server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    c.healthz().await.unwrap();
    let err = c.readyz().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("not ready"));
}

#[test]
fn a_root_certificate_that_is_not_pem_is_invalid_input() {
    let err = Client::builder("https://agenttier.example.com")
        .add_root_certificate_pem(b"not a certificate")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "root_certificate",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_pem_root_certificate_is_accepted() {
    // A self-signed test CA made with openssl for this test; it signs nothing.
    let pem = include_bytes!("fixtures/test-ca.pem");
    Client::builder("https://agenttier.example.com")
        .add_root_certificate_pem(pem)
        .unwrap()
        .build()
        .unwrap();
}

#[tokio::test]
async fn resume_posts_and_reads_the_ack() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/resume"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status":"resuming"})))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .sandbox("demo")
        .unwrap()
        .resume()
        .await
        .unwrap();
}

#[tokio::test]
async fn resume_in_the_wrong_phase_is_a_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error":"cannot resume sandbox in phase Running"})),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .sandbox("demo")
        .unwrap()
        .resume()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(
        err.api().unwrap().message(),
        "cannot resume sandbox in phase Running"
    );
}

#[tokio::test]
async fn delete_answers_204_with_no_body() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .sandbox("demo")
        .unwrap()
        .delete()
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_is_retried_on_503_because_it_is_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    client(&server)
        .sandbox("demo")
        .unwrap()
        .delete()
        .await
        .unwrap();
    assert_eq!(
        requests_to(&server, "DELETE", "/api/v1/sandboxes/demo").await,
        2
    );
}

#[tokio::test]
async fn a_post_is_retried_after_a_connect_failure_because_nothing_was_sent() {
    // The port refuses the first attempt and starts listening before the retry.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut sock, _) = listener.accept().await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 4096];
        let _ = sock.read(&mut buf).await.unwrap();
        let body = r#"{"stdout":"ok\n","stderr":"","exitCode":0}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
    });
    let c = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(500))
                .max_backoff(Duration::from_millis(500)),
        )
        .build()
        .unwrap();
    // Full jitter can draw a short wait, but three draws from [0, 500 ms] all but surely
    // outlast the 10 ms before the port opens (odds of not: about one in a million).
    let out = c.sandbox("demo").unwrap().exec("echo ok").await.unwrap();
    assert_eq!(out.stdout, "ok\n");
    server.await.unwrap();
}
