//! What a Kubernetes connection says through `tracing`: the Router it chose and how, never a
//! credential. Alone in its binary, with its subscriber installed first (tracing caches
//! callsite interest process-wide; see `tests/tracing.rs`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use agenttier::Client;
use agenttier::auth::{ApiKey, BearerToken};
use agenttier::connect::{InClusterOptions, KubeApi};
use serde_json::json;
use wiremock::matchers::{method, path};
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
async fn in_cluster_choice_is_logged_at_debug_level_without_credentials() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let router = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&router)
        .await;
    let kube = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/team/services"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{
            "metadata": {"name": "agenttier-router"},
            "spec": {"ports": [{"port": router.address().port()}]}
        }]})))
        .mount(&kube)
        .await;
    let api = KubeApi::new(kube.uri())
        .unwrap()
        .auth(BearerToken::new("sa-secret-token").unwrap());
    let http = reqwest::Client::builder()
        .redirect(agenttier::redirect_policy())
        .resolve(
            "agenttier-router.team.svc",
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .build()
        .unwrap();
    let client = Client::in_cluster(InClusterOptions::new().namespace("team").api(api))
        .http_client(http)
        .auth(ApiKey::new("atk_router_secret").unwrap())
        .build()
        .unwrap();

    client.healthz().await.unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("in-cluster Router chosen"), "{logs}");
    assert!(
        logs.contains(&format!(
            "url=http://agenttier-router.team.svc:{}/",
            router.address().port()
        )),
        "{logs}"
    );
    assert!(
        logs.contains("via=Service team/agenttier-router, listed by the cluster API"),
        "{logs}"
    );
    assert!(!logs.contains("sa-secret-token"), "{logs}");
    assert!(!logs.contains("atk_router_secret"), "{logs}");
}
