//! What the client reports through `tracing`: one span per request (no secret in it) and the
//! deprecation warning. These tests live in their own binary, and each installs a subscriber
//! first: tracing caches callsite interest process-wide, so a concurrent test without a
//! subscriber could disable the callsites before a thread-local subscriber sees them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use agenttier::Client;
use agenttier::auth::ApiKey;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_span_per_request_with_operation_status_and_request_id_but_no_secret() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .and(header("x-api-key", "atk_supersecret"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-Request-Id", "rid-7").set_body_json(
            json!({"sandboxId":"demo","name":"demo","namespace":"default","status":"Running"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(server.uri())
        .auth(ApiKey::new("atk_supersecret").unwrap())
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("agenttier.request"), "{logs}");
    assert!(logs.contains("operation=\"get_sandbox\""), "{logs}");
    assert!(logs.contains("method=GET"), "{logs}");
    assert!(logs.contains("path=/api/v1/sandboxes/demo"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("request_id=\"rid-7\""), "{logs}");
    assert!(logs.contains("duration_ms="), "{logs}");
    assert!(
        !logs.contains("atk_supersecret"),
        "secret in traces: {logs}"
    );
    assert!(!format!("{client:?}").contains("atk_supersecret"));
}

#[tokio::test(flavor = "current_thread")]
async fn deprecated_route_is_warned_about_once_per_operation() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Deprecation", "true")
                .insert_header("Sunset", "Sat, 01 May 2027 00:00:00 GMT")
                .insert_header("Link", "</api/v2/sandboxes/demo>; rel=\"successor-version\"")
                .set_body_json(json!({"sandboxId":"demo","name":"demo","namespace":"default","status":"Running"})),
        )
        .mount(&server)
        .await;
    let client = Client::builder(server.uri()).build().unwrap();
    client.get_sandbox("demo").await.unwrap();
    client.get_sandbox("demo").await.unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logs.matches("deprecated").count(), 1, "{logs}");
    assert!(logs.contains("operation=\"get_sandbox\""), "{logs}");
    assert!(logs.contains("Sat, 01 May 2027"), "{logs}");
    assert!(logs.contains("successor-version"), "{logs}");
}
