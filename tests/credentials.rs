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

// ---------------------------------------------------------------------------------------------
// A kubeconfig's credentials go only to a Router reached through its cluster.

const CLUSTER_TOKEN: &str = "CANARYclustertoken0000000000000042";

/// A kubeconfig whose cluster's API server is `https://k8s.example.test:6443` and whose user
/// has `user`.
fn cluster_kubeconfig(dir: &std::path::Path, user: serde_json::Value) -> std::path::PathBuf {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [{"name": "k", "cluster": {"server": "https://K8S.example.test:6443"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": user}],
    });
    let path = dir.join("config");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// A reqwest client that resolves `router.elsewhere.test` to `server`, so that a Router "on
/// another host" is still on loopback.
fn resolving_to(server: &MockServer) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(agenttier::redirect_policy())
        .resolve("router.elsewhere.test", *server.address())
        .build()
        .unwrap()
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn detected_kubeconfig_token_is_not_sent_to_a_router_on_another_host() {
    let capture = Capture::default();
    let writer = capture.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary()))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster_kubeconfig(dir.path(), json!({"token": CLUSTER_TOKEN}));
    let url = format!("http://router.elsewhere.test:{}", server.address().port());
    let env = DetectEnv::isolated()
        .var("KUBECONFIG", kubeconfig.to_str().unwrap())
        .var("AGENTTIER_API_URL", &url);

    let auth = detect_with(&env).unwrap();
    assert_eq!(
        format!("{auth:?}"),
        "NoAuth",
        "the kubeconfig source is skipped"
    );
    let client = Client::builder(&url)
        .http_client(resolving_to(&server))
        .auth_shared(auth)
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("authorization").is_none());
    for request in &requests {
        for (name, value) in &request.headers {
            assert!(
                !value.to_str().unwrap_or("").contains(CLUSTER_TOKEN),
                "the cluster token went out as {name}"
            );
        }
    }
    // from_env makes the same choice.
    let from_env = Client::from_env_with(&env).unwrap();
    assert!(format!("{from_env:?}").contains("NoAuth"), "{from_env:?}");
    // A URL whose host cannot be told (no scheme) is not trusted either.
    let unclear = env
        .clone()
        .var("AGENTTIER_API_URL", "router.elsewhere.test:8080");
    assert_eq!(format!("{:?}", detect_with(&unclear).unwrap()), "NoAuth");

    let warnings = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(warnings.contains("skipping the kubeconfig"), "{warnings}");
    assert!(warnings.contains("router.elsewhere.test"), "{warnings}");
    assert!(warnings.contains("k8s.example.test"), "{warnings}");
    assert!(!warnings.contains(CLUSTER_TOKEN), "{warnings}");
}

#[test]
fn detection_keeps_the_kubeconfig_for_routers_reached_through_its_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster_kubeconfig(dir.path(), json!({"token": CLUSTER_TOKEN}));
    let env = DetectEnv::isolated().var("KUBECONFIG", kubeconfig.to_str().unwrap());
    // No URL: the client finds the Router through the cluster.
    let auth = detect_with(&env).unwrap();
    assert!(format!("{auth:?}").starts_with("Kubeconfig"), "{auth:?}");
    for url in [
        "https://k8s.example.test:8443",
        "http://127.0.0.1:8080",
        "http://agenttier-router.agenttier-system.svc:8080",
    ] {
        let auth = detect_with(&env.clone().var("AGENTTIER_API_URL", url)).unwrap();
        assert!(
            format!("{auth:?}").starts_with("Kubeconfig"),
            "{url}: {auth:?}"
        );
    }
}

#[test]
fn kubeconfig_credentials_are_refused_for_a_router_on_another_host_before_any_request() {
    use agenttier::auth::Kubeconfig;
    let dir = tempfile::tempdir().unwrap();
    // A token, a token file and an exec plugin (which would record that it ran).
    std::fs::write(dir.path().join("token"), CLUSTER_TOKEN).unwrap();
    let plugin = dir.path().join("plugin.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho ran > \"$(dirname \"$0\")/ran\"\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let users = [
        json!({"token": CLUSTER_TOKEN}),
        json!({"tokenFile": "token"}),
        json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin.sh",
                        "args": [format!("--secret={CLUSTER_TOKEN}")], "interactiveMode": "Never"}}),
    ];
    let refused = [
        "https://agenttier.example.com",
        "http://router.elsewhere.test:8080",
        "https://k8s.example.test.attacker.example",
        "https://agenttier-router.agenttier-system.svc.attacker.example",
        "http://10.0.0.7:8080",
        "https://example.test",
    ];
    for user in users {
        let path = cluster_kubeconfig(dir.path(), user.clone());
        for url in refused {
            let err = Client::builder(url)
                .auth(Kubeconfig::from_path(&path).unwrap())
                .build()
                .unwrap_err();
            let agenttier::Error::InvalidInput { field, message } = &err else {
                panic!("{user} {url}: {err:?}");
            };
            assert_eq!(*field, "auth");
            let host = url.split("://").nth(1).unwrap().split(':').next().unwrap();
            assert!(message.contains(host), "{message}");
            assert!(message.contains("allow_router_host"), "{message}");
            assert!(!format!("{err} {err:?}").contains(CLUSTER_TOKEN), "{err:?}");
        }
    }
    assert!(
        !dir.path().join("ran").exists(),
        "the exec plugin never ran"
    );
}

#[test]
fn kubeconfig_credentials_go_to_routers_reached_through_their_cluster() {
    use agenttier::auth::Kubeconfig;
    use agenttier::connect::TunnelOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = cluster_kubeconfig(dir.path(), json!({"token": CLUSTER_TOKEN}));
    for url in [
        // The cluster's API server host (any port, any case).
        "https://k8s.example.test:8443",
        "https://K8S.EXAMPLE.TEST",
        // This machine: a kubectl port-forward.
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        // An in-cluster Service name.
        "http://agenttier-router.agenttier-system.svc:8080",
        "http://agenttier-router.agenttier-system.svc.cluster.local",
    ] {
        let built = Client::builder(url)
            .auth(Kubeconfig::from_path(&path).unwrap())
            .build();
        assert!(built.is_ok(), "{url}: {built:?}");
    }
    // A Router the client finds through the cluster (nothing is started by build).
    Client::tunnel(TunnelOptions::new())
        .auth(Kubeconfig::from_path(&path).unwrap())
        .build()
        .unwrap();
}

#[tokio::test]
async fn kubeconfig_allow_router_host_opts_one_named_router_in() {
    use agenttier::auth::Kubeconfig;
    let server = router_expecting("authorization", &format!("Bearer {CLUSTER_TOKEN}")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = cluster_kubeconfig(dir.path(), json!({"token": CLUSTER_TOKEN}));
    let url = format!("http://router.elsewhere.test:{}", server.address().port());
    let auth = Kubeconfig::from_path(&path)
        .unwrap()
        .allow_router_host("Router.Elsewhere.Test");
    assert!(
        format!("{auth:?}").contains("router.elsewhere.test"),
        "{auth:?}"
    );
    // Another host is still refused.
    assert!(
        Client::builder("https://other.example")
            .auth(
                Kubeconfig::from_path(&path)
                    .unwrap()
                    .allow_router_host("router.elsewhere.test")
            )
            .build()
            .is_err()
    );
    let client = Client::builder(&url)
        .http_client(resolving_to(&server))
        .auth(auth)
        .build()
        .unwrap();
    client.get_sandbox("demo").await.unwrap();

    // allow_any_router_host: every host.
    let any = Client::builder("https://other.example")
        .auth(
            Kubeconfig::from_path(&path)
                .unwrap()
                .allow_any_router_host(),
        )
        .build();
    assert!(any.is_ok(), "{any:?}");
}
