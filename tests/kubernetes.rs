//! The in-cluster and discovery modes against a stubbed Kubernetes API server (wiremock, plain
//! http, given to the client as a `KubeApi`). Router Service names are resolved to loopback by
//! the client's own reqwest client (`resolve`), so nothing leaves the machine.

use std::net::SocketAddr;

use agenttier::auth::{ApiKey, BearerToken, DetectEnv};
use agenttier::connect::{
    ConnectErrorKind, Connection, DiscoverOptions, InClusterOptions, KubeApi, NOT_CONNECTED,
};
use agenttier::{Client, Error};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SA_TOKEN: &str = "sa-token-for-the-api-server";
const ROUTER_KEY: &str = "atk_router_key";

fn api(server: &MockServer) -> KubeApi {
    KubeApi::new(server.uri())
        .unwrap()
        .auth(BearerToken::new(SA_TOKEN).unwrap())
}

/// A reqwest client sending `names` to 127.0.0.1 (the port comes from the URL).
fn loopback_for(names: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().redirect(agenttier::redirect_policy());
    for name in names {
        builder = builder.resolve(name, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    builder.build().unwrap()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A stand-in Router answering `/healthz`.
async fn router() -> MockServer {
    let router = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&router)
        .await;
    router
}

fn service(name: &str, port: u16) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "team",
                     "labels": {"app.kubernetes.io/component": "router"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.12",
                 "ports": [{"name": "http", "port": port, "targetPort": 8080, "protocol": "TCP"}]}
    })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
}

async fn services_answer(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/team/services"))
        .and(query_param(
            "labelSelector",
            "app.kubernetes.io/component=router",
        ))
        .and(header(
            "authorization",
            format!("Bearer {SA_TOKEN}").as_str(),
        ))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn authorization(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn connection_error(err: Error) -> (ConnectErrorKind, String, Vec<String>) {
    match err {
        Error::Connection {
            kind,
            message,
            tried,
            ..
        } => (kind, message, tried),
        other => panic!("not a connection error: {other:?}"),
    }
}

#[tokio::test]
async fn in_cluster_finds_the_router_service_through_the_cluster_api() {
    let kube = MockServer::start().await;
    let router = router().await;
    let port = router.address().port();
    services_answer(
        &kube,
        ResponseTemplate::new(200)
            .set_body_json(list("ServiceList", vec![service("agenttier-router", port)])),
    )
    .await;
    let client = Client::in_cluster(InClusterOptions::new().namespace("team").api(api(&kube)))
        .http_client(loopback_for(&["agenttier-router.team.svc"]))
        .auth(ApiKey::new(ROUTER_KEY).unwrap())
        .build()
        .unwrap();
    assert_eq!(client.base_url(), NOT_CONNECTED);

    client.healthz().await.unwrap();

    let url = format!("http://agenttier-router.team.svc:{port}");
    assert_eq!(client.base_url(), url);
    match client.connection() {
        Connection::InCluster {
            namespace,
            url: Some(found),
            via: Some(via),
            ..
        } => {
            assert_eq!(namespace, "team");
            assert_eq!(found, url);
            assert!(via.contains("Service team/agenttier-router"), "{via}");
            assert!(via.contains("cluster API"), "{via}");
        }
        other => panic!("{other:?}"),
    }
    // Each credential went to its own server only.
    for request in kube.received_requests().await.unwrap() {
        assert_eq!(authorization(&request), format!("Bearer {SA_TOKEN}"));
        assert!(request.headers.get("x-api-key").is_none());
    }
    let to_router = router.received_requests().await.unwrap();
    assert!(to_router.len() >= 2, "the probe and the call");
    for request in &to_router {
        assert!(!authorization(request).contains(SA_TOKEN));
    }
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(SA_TOKEN) && !debug.contains(ROUTER_KEY),
        "{debug}"
    );
    assert!(debug.contains(&url), "{debug}");
}

#[tokio::test]
async fn in_cluster_falls_back_to_the_service_dns_name_when_the_api_refuses() {
    let kube = MockServer::start().await;
    let router = router().await;
    services_answer(
        &kube,
        ResponseTemplate::new(403).set_body_json(json!({
            "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "services is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"services\""
        })),
    )
    .await;
    let client = Client::in_cluster(
        InClusterOptions::new()
            .namespace("team")
            .port(router.address().port())
            .api(api(&kube)),
    )
    .http_client(loopback_for(&["agenttier-router.team.svc"]))
    .build()
    .unwrap();

    let connection = client.connect().await.unwrap();
    assert_eq!(
        connection.url(),
        Some(
            format!(
                "http://agenttier-router.team.svc:{}",
                router.address().port()
            )
            .as_str()
        )
    );
    assert!(connection.to_string().contains("fallback"), "{connection}");
    client.healthz().await.unwrap();
}

#[tokio::test]
async fn in_cluster_error_names_every_service_and_url_tried_when_nothing_answers() {
    let kube = MockServer::start().await;
    let (listed, fallback) = (closed_port(), closed_port());
    services_answer(
        &kube,
        ResponseTemplate::new(200)
            .set_body_json(list("ServiceList", vec![service("other-router", listed)])),
    )
    .await;
    let client = Client::in_cluster(
        InClusterOptions::new()
            .namespace("team")
            .port(fallback)
            .api(api(&kube)),
    )
    .http_client(loopback_for(&[
        "other-router.team.svc",
        "agenttier-router.team.svc",
    ]))
    .build()
    .unwrap();

    let err = client.healthz().await.unwrap_err();
    let shown = err.to_string();
    let (kind, message, tried) = connection_error(err);
    assert_eq!(kind, ConnectErrorKind::Unreachable);
    assert!(message.contains("team"), "{message}");
    assert_eq!(tried.len(), 2, "{tried:#?}");
    assert!(
        tried[0].starts_with(&format!(
            "GET http://other-router.team.svc:{listed}/healthz"
        )),
        "{tried:#?}"
    );
    assert!(tried[0].contains("Service team/other-router"), "{tried:#?}");
    assert!(
        tried[1].starts_with(&format!(
            "GET http://agenttier-router.team.svc:{fallback}/healthz"
        )),
        "{tried:#?}"
    );
    assert!(tried[1].contains("fallback"), "{tried:#?}");
    assert!(shown.contains("tried:"), "{shown}");
    assert_eq!(client.base_url(), NOT_CONNECTED);
}

#[tokio::test]
async fn in_cluster_reports_an_api_answer_that_is_not_a_service_list() {
    let kube = MockServer::start().await;
    services_answer(
        &kube,
        ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"),
    )
    .await;
    let client = Client::in_cluster(
        InClusterOptions::new()
            .namespace("team")
            .port(closed_port())
            .api(api(&kube)),
    )
    .http_client(loopback_for(&["agenttier-router.team.svc"]))
    .build()
    .unwrap();
    let (_, _, tried) = connection_error(client.connect().await.unwrap_err());
    assert!(tried[0].contains("not a ServiceList"), "{tried:#?}");
}

#[test]
fn from_env_inside_a_pod_chooses_in_cluster_in_the_pods_namespace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "pod-token").unwrap();
    std::fs::write(dir.path().join("namespace"), "team\n").unwrap();
    let env = DetectEnv::isolated()
        .var("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .var("KUBERNETES_SERVICE_PORT", "6443")
        .service_account_token_path(dir.path().join("token"));

    let client = Client::from_env_with(&env).unwrap();
    match client.connection() {
        Connection::InCluster {
            namespace,
            service,
            url: None,
            ..
        } => {
            assert_eq!(namespace, "team");
            assert_eq!(service, "agenttier-router");
        }
        other => panic!("{other:?}"),
    }
    assert!(format!("{client:?}").contains("ServiceAccountToken"));

    let with_namespace = env.clone().var("AGENTTIER_NAMESPACE", "agenttier-prod");
    let client = Client::from_env_with(&with_namespace).unwrap();
    assert!(
        client.connection().to_string().contains("agenttier-prod/"),
        "{}",
        client.connection()
    );

    // An explicit URL always wins.
    let explicit = env.var("AGENTTIER_API_URL", "https://agenttier.example.com");
    let client = Client::from_env_with(&explicit).unwrap();
    assert_eq!(client.connection().mode(), "url");
    assert_eq!(client.base_url(), "https://agenttier.example.com");

    // Outside a pod, with nothing set, the error says what to set.
    let err = Client::from_env_with(&DetectEnv::isolated()).unwrap_err();
    assert!(err.to_string().contains("AGENTTIER_CONNECTION"), "{err}");
    let err = Client::from_env_with(&DetectEnv::isolated().var("AGENTTIER_CONNECTION", "ssh"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

// ---- discovery ----

const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/agenttier/ingresses";
const ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/agenttier/httproutes";

async fn answer(server: &MockServer, at: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn ingress(name: &str, labels: Value, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "agenttier", "labels": labels}, "spec": spec})
}

fn discover(kube: &MockServer) -> Client {
    Client::discover(DiscoverOptions::new().api(api(kube)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn discovery_uses_the_web_ui_ingress_host_with_https_when_it_is_under_tls() {
    let kube = MockServer::start().await;
    let webui = ingress(
        "agenttier-webui",
        json!({"app.kubernetes.io/component": "webui"}),
        json!({
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["agenttier.example.com"], "secretName": "agenttier-tls"}],
            "rules": [{"host": "agenttier.example.com", "http": {"paths": [
                {"path": "/api/", "pathType": "Prefix",
                 "backend": {"service": {"name": "agenttier-router", "port": {"number": 8080}}}},
                {"path": "/ws/", "pathType": "Prefix",
                 "backend": {"service": {"name": "agenttier-router", "port": {"number": 8080}}}},
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "agenttier-webui", "port": {"number": 80}}}}
            ]}}]
        }),
    );
    let unrelated = ingress(
        "grafana",
        json!({}),
        json!({"rules": [{"host": "grafana.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "grafana", "port": {"number": 3000}}}}]}}]}),
    );
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![unrelated, webui])),
    )
    .await;
    let client = discover(&kube);

    let connection = client.connect().await.unwrap();
    assert_eq!(connection.url(), Some("https://agenttier.example.com"));
    assert_eq!(client.base_url(), "https://agenttier.example.com");
    assert!(
        connection
            .to_string()
            .contains("the web UI Ingress agenttier/agenttier-webui"),
        "{connection}"
    );
    let requests = kube.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "found in the Ingresses: nothing else read"
    );
    assert_eq!(authorization(&requests[0]), format!("Bearer {SA_TOKEN}"));
}

#[tokio::test]
async fn discovery_uses_http_for_an_ingress_that_routes_to_the_router_without_tls() {
    let kube = MockServer::start().await;
    let api_ingress = ingress(
        "router-api",
        json!({}),
        json!({
            "tls": [{"hosts": ["other.example.test"]}],
            "rules": [
                {"host": "other.example.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}},
                {"host": "router.example.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "agenttier-router", "port": {"number": 8080}}}}]}}
            ]
        }),
    );
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![api_ingress])),
    )
    .await;
    let connection = discover(&kube).connect().await.unwrap();
    assert_eq!(connection.url(), Some("http://router.example.test"));
}

fn route(parent: Value) -> Value {
    json!({
        "metadata": {"name": "agenttier", "namespace": "agenttier"},
        "spec": {
            "parentRefs": [parent],
            "hostnames": ["*.example.com", "router.example.com"],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": [{"name": "agenttier-router", "port": 8080}]}]
        }
    })
}

async fn gateway(kube: &MockServer, listeners: Value) {
    answer(
        kube,
        "/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/public",
        ResponseTemplate::new(200).set_body_json(json!({
            "metadata": {"name": "public", "namespace": "infra"},
            "spec": {"gatewayClassName": "gke-l7", "listeners": listeners}
        })),
    )
    .await;
}

#[tokio::test]
async fn discovery_finds_an_httproute_and_takes_https_from_its_gateway_listener() {
    let kube = MockServer::start().await;
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![])),
    )
    .await;
    answer(
        &kube,
        ROUTES,
        ResponseTemplate::new(200).set_body_json(list(
            "HTTPRouteList",
            vec![route(
                json!({"name": "public", "namespace": "infra", "sectionName": "https"}),
            )],
        )),
    )
    .await;
    gateway(
        &kube,
        json!([
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "*.example.com"}
        ]),
    )
    .await;

    let connection = discover(&kube).connect().await.unwrap();
    assert_eq!(connection.url(), Some("https://router.example.com"));
    let shown = connection.to_string();
    assert!(shown.contains("HTTPRoute agenttier/agenttier"), "{shown}");
    assert!(
        shown.contains("Gateway infra/public listener https"),
        "{shown}"
    );
}

#[tokio::test]
async fn discovery_uses_http_and_the_listener_port_for_a_plain_http_gateway() {
    let kube = MockServer::start().await;
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![])),
    )
    .await;
    answer(
        &kube,
        ROUTES,
        ResponseTemplate::new(200).set_body_json(list(
            "HTTPRouteList",
            vec![route(json!({"name": "public", "namespace": "infra"}))],
        )),
    )
    .await;
    gateway(
        &kube,
        json!([{"name": "web", "port": 8000, "protocol": "HTTP"}]),
    )
    .await;

    let connection = discover(&kube).connect().await.unwrap();
    assert_eq!(connection.url(), Some("http://router.example.com:8000"));
}

#[tokio::test]
async fn discovery_error_lists_everything_looked_at_when_nothing_leads_to_the_router() {
    let kube = MockServer::start().await;
    let unrelated = ingress(
        "grafana",
        json!({}),
        json!({"rules": [{"host": "grafana.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "grafana", "port": {"number": 3000}}}}]}}]}),
    );
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![unrelated])),
    )
    .await;
    answer(
        &kube,
        ROUTES,
        ResponseTemplate::new(404).set_body_json(json!({
            "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
            "message": "the server could not find the requested resource"
        })),
    )
    .await;
    let client = discover(&kube);

    let err = client.healthz().await.unwrap_err();
    let shown = err.to_string();
    let (kind, message, tried) = connection_error(err);
    assert_eq!(kind, ConnectErrorKind::NotDiscovered);
    assert!(message.contains("agenttier-router"), "{message}");
    assert_eq!(tried.len(), 2, "{tried:#?}");
    assert!(
        tried[0]
            .starts_with("Ingresses in namespace agenttier (networking.k8s.io/v1): 1 looked at"),
        "{tried:#?}"
    );
    assert!(tried[0].contains("agenttier-webui"), "{tried:#?}");
    assert!(
        tried[1].starts_with("HTTPRoutes in namespace agenttier (gateway.networking.k8s.io/v1)"),
        "{tried:#?}"
    );
    assert!(tried[1].contains("HTTP 404"), "{tried:#?}");
    assert!(shown.contains("tried: Ingresses"), "{shown}");
}

#[tokio::test]
async fn discovery_skips_a_matching_ingress_without_a_host_and_says_why() {
    let kube = MockServer::start().await;
    let hostless = ingress(
        "agenttier-webui",
        json!({}),
        json!({"rules": [{"http": {"paths": [{"path": "/api/", "pathType": "Prefix",
            "backend": {"service": {"name": "agenttier-router", "port": {"number": 8080}}}}]}}]}),
    );
    answer(
        &kube,
        INGRESSES,
        ResponseTemplate::new(200).set_body_json(list("IngressList", vec![hostless])),
    )
    .await;
    answer(
        &kube,
        ROUTES,
        ResponseTemplate::new(200).set_body_json(list("HTTPRouteList", vec![])),
    )
    .await;
    let (_, _, tried) = connection_error(discover(&kube).connect().await.unwrap_err());
    assert!(
        tried[0].contains("Ingress agenttier/agenttier-webui: it has no host"),
        "{tried:#?}"
    );
}

#[tokio::test]
async fn discovery_reads_the_cluster_and_its_credentials_from_a_kubeconfig() {
    let kube = MockServer::start().await;
    let webui = ingress(
        "agenttier-webui",
        json!({}),
        json!({"rules": [{"host": "agenttier.example.com"}]}),
    );
    Mock::given(method("GET"))
        .and(path(INGRESSES))
        .and(header("authorization", "Bearer kubeconfig-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list("IngressList", vec![webui])))
        .mount(&kube)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1
kind: Config
current-context: other
contexts:
- {{name: other, context: {{cluster: nowhere, user: nobody}}}}
- {{name: dev, context: {{cluster: dev, user: dev}}}}
clusters:
- {{name: dev, cluster: {{server: '{}'}}}}
users:
- {{name: dev, user: {{token: kubeconfig-token}}}}
",
            kube.uri()
        ),
    )
    .unwrap();

    let client = Client::discover(
        DiscoverOptions::new()
            .kubeconfig(&kubeconfig)
            .context("dev"),
    )
    .build()
    .unwrap();
    assert!(!format!("{client:?}").contains("kubeconfig-token"));
    let connection = client.connect().await.unwrap();
    assert_eq!(connection.url(), Some("http://agenttier.example.com"));

    // A context whose user cannot authenticate is refused when the client is built.
    let err = Client::discover(DiscoverOptions::new().kubeconfig(&kubeconfig))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Credentials { .. }), "{err:?}");
}
