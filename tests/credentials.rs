//! Credentials reach the Router as the right header.

use agenttier::Client;
use agenttier::auth::{DetectEnv, detect_with};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn summary() -> serde_json::Value {
    json!({"sandboxId":"demo","name":"demo","namespace":"default","status":"Running"})
}

async fn router_expecting(name: &str, value: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .and(header(name, value))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Request-Id", "rid-7")
                .set_body_json(summary()),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn detected_api_key_is_sent_as_x_api_key() {
    let server = router_expecting("x-api-key", "atk_detected").await;
    let env = DetectEnv::isolated()
        .var("AGENTTIER_API_KEY", "atk_detected")
        .var("AGENTTIER_TOKEN", "jwt");
    let client = Client::builder(server.uri())
        .auth_shared(detect_with(&env).unwrap())
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    assert!(
        req.headers.get("authorization").is_none(),
        "only one credential is sent"
    );
}

#[tokio::test]
async fn detected_token_is_sent_as_bearer() {
    let server = router_expecting("authorization", "Bearer jwt-123").await;
    let env = DetectEnv::isolated()
        .var("AGENTTIER_API_KEY", "")
        .var("AGENTTIER_BEARER_TOKEN", "jwt-123");
    let client = Client::builder(server.uri())
        .auth_shared(detect_with(&env).unwrap())
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();
}

#[tokio::test]
async fn kubeconfig_exec_plugin_token_reaches_the_router() {
    let server = router_expecting("authorization", "Bearer from-plugin").await;
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugin.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-plugin\"}}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n\
         clusters:\n- name: k\n  cluster: {server: 'https://k8s.invalid'}\nusers:\n- name: u\n  user:\n    exec:\n      \
         apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n      interactiveMode: Never\n",
    )
    .unwrap();
    let env = DetectEnv::isolated().var("KUBECONFIG", kubeconfig.to_str().unwrap());
    let client = Client::builder(server.uri())
        .auth_shared(detect_with(&env).unwrap())
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();
}
