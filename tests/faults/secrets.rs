//! Secret canaries: unique strings used as every kind of secret, then looked for in every
//! Display and Debug the SDK produces and in a TRACE-level capture of its logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenttier::auth::{ApiKey, AuthProvider, BearerToken, Kubeconfig};
use agenttier::user::ApiKeyRequest;
use agenttier::{Client, ShareLinkOptions};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::raw_server;

const API_KEY: &str = "atk_CANARYapikey000000000000000000000000000001";
const BEARER: &str = "eyJCANARYbearer.token.000000000000002";
const MINTED: &str = "atk_CANARYminted00000000000000000000000000003";
const SHARE_TOKEN: &str = "CANARYsharetoken000000000000000000000000004";
const WEBHOOK_SECRET: &str = "CANARYwebhooksecret0000000000000000000005";
const EXEC_ARG: &str = "CANARYexecarg0000006";
const EXEC_STDERR: &str = "CANARYexecstderr0000007";
const URL_PASSWORD: &str = "CANARYurlpassword0008";

const CANARIES: [&str; 8] = [
    API_KEY,
    BEARER,
    MINTED,
    SHARE_TOKEN,
    WEBHOOK_SECRET,
    EXEC_ARG,
    EXEC_STDERR,
    URL_PASSWORD,
];

/// A writer into a shared buffer, for the tracing capture.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn trace_capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

async fn minting_server() -> MockServer {
    let server = MockServer::start().await;
    let answers = [
        (
            "/api/v1/user/api-keys",
            format!(r#"{{"id":7,"key":"{MINTED}","name":"ci","warning":"store it"}}"#),
        ),
        (
            "/api/v1/sandboxes/demo/share-links",
            format!(r#"{{"id":[],"token":"{SHARE_TOKEN}","level":"viewer"}}"#),
        ),
        (
            "/api/v1/webhooks",
            format!(
                r#"{{"id":{{}},"url":"https://hooks.example.com/x","secret":"{WEBHOOK_SECRET}"}}"#
            ),
        ),
    ];
    for (p, body) in answers {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(201)
                    .insert_header("content-type", "application/json")
                    .insert_header("x-request-id", "rid-mint")
                    .set_body_string(body),
            )
            .mount(&server)
            .await;
    }
    // A 401 that echoes the caller's own key, with terminal escapes.
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!(
            "{{\"error\":\"invalid_api_key\",\"message\":\"key {API_KEY} \u{1b}[2J is unknown\"}}"
        )))
        .mount(&server)
        .await;
    server
}

/// A kubeconfig whose exec plugin gets a secret argument, prints a secret on stderr and fails.
fn failing_plugin_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugin = dir.join("plugin.sh");
    std::fs::write(
        &plugin,
        format!("#!/bin/sh\necho 'refresh_token={EXEC_STDERR}' >&2\nexit 1\n"),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://router.invalid"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "me"}}],
        "users": [{"name": "me", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.to_str().unwrap(),
            "args": [format!("--oidc-client-secret={EXEC_ARG}")],
            "env": [{"name": "CLIENT_SECRET", "value": EXEC_ARG}],
            "interactiveMode": "Never",
        }}}],
    });
    let path = dir.join("config");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn secret_canaries_appear_in_no_display_debug_or_trace() {
    let (capture, _guard) = trace_capture();
    let server = minting_server().await;
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |what: &str, text: String| shown.push((what.to_owned(), text));

    let key = ApiKey::new(API_KEY).unwrap();
    show("ApiKey Debug", format!("{key:?}"));
    let bearer = BearerToken::new(BEARER).unwrap();
    show("BearerToken Debug", format!("{bearer:?}"));
    let client = Client::builder(server.uri()).auth(key).build().unwrap();
    show("Client Debug", format!("{client:?}"));
    let bearer_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!(
            "{{\"error\":\"invalid_token\",\"message\":\"token {BEARER} expired\"}}"
        )))
        .mount(&bearer_server)
        .await;
    let bearer_client = Client::builder(bearer_server.uri())
        .auth(bearer)
        .build()
        .unwrap();
    show("bearer Client Debug", format!("{bearer_client:?}"));

    // Minting answers that fail to decode: the error must not carry the secret.
    let e = client
        .api_keys()
        .create(ApiKeyRequest::user("ci"))
        .await
        .unwrap_err();
    show("create_api_key decode error", format!("{e} {e:?}"));
    // ... but the caller does not lose the one-time secret: the whole answer is kept.
    assert!(
        e.undecoded_secret()
            .is_some_and(|body| body.expose().contains(MINTED)),
        "the minted key is recoverable from the error: {e:?}"
    );
    let sb = client.sandbox("demo").unwrap();
    let e = sb
        .sharing()
        .create_link(ShareLinkOptions::default())
        .await
        .unwrap_err();
    show("create_share_link decode error", format!("{e} {e:?}"));
    let e = client
        .webhooks()
        .create("https://hooks.example.com/x")
        .send()
        .await
        .unwrap_err();
    show("create_webhook decode error", format!("{e} {e:?}"));
    let raw = client
        .raw()
        .create_api_key(&serde_json::from_value(serde_json::json!({"name": "ci"})).unwrap())
        .await
        .unwrap_err();
    let converted = agenttier::Error::from(raw);
    show(
        "raw create_api_key decode error, converted",
        format!("{converted} {converted:?}"),
    );

    // The 401 echoing the caller's key, for both credentials.
    let e = client.list_sandboxes().await.unwrap_err();
    show("401 echo (API key)", format!("{e} {e:?}"));
    let e = bearer_client.list_sandboxes().await.unwrap_err();
    show("401 echo (bearer)", format!("{e} {e:?}"));

    // A password in the base URL, in every place a URL can be refused.
    for url in [
        format!("http://user:{URL_PASSWORD}@127.0.0.1:1"),
        format!("user:{URL_PASSWORD}@127.0.0.1:1"),
        format!("ftp://user:{URL_PASSWORD}@127.0.0.1:1"),
        format!("http://user:{URL_PASSWORD}@127.0.0.1:1/?q=1"),
        format!("http://user:{URL_PASSWORD}@[::1"),
    ] {
        let e = Client::builder(url).build().unwrap_err();
        show("URL with a password", format!("{e} {e:?}"));
    }

    // A failing exec plugin with a secret argument, environment and stderr.
    let dir = tempfile::TempDir::new().unwrap();
    let kc = Kubeconfig::from_path(failing_plugin_kubeconfig(dir.path())).unwrap();
    show("Kubeconfig Debug", format!("{kc:?}"));
    let e = kc.credential().await.unwrap_err();
    show("exec plugin error", format!("{e} {e:?}"));
    let kube_client = Client::builder(server.uri()).auth(kc).build().unwrap();
    show("kubeconfig Client Debug", format!("{kube_client:?}"));
    let e = kube_client.list_sandboxes().await.unwrap_err();
    show("exec plugin error through a call", format!("{e} {e:?}"));

    let trace = capture.text();
    let mut hits = Vec::new();
    for (what, text) in shown.iter().chain(std::iter::once(&(
        "TRACE capture".to_owned(),
        trace.clone(),
    ))) {
        for canary in CANARIES {
            if text.contains(canary) {
                hits.push(format!("{what}: {canary}"));
            }
        }
    }
    println!(
        "secret canaries: {} canaries, {} texts (Display, Debug) + a TRACE capture of {} lines, hits {}",
        CANARIES.len(),
        shown.len(),
        trace.lines().count(),
        hits.len()
    );
    assert!(hits.is_empty(), "{hits:#?}");
    assert!(
        trace.lines().count() > 5,
        "the capture saw nothing:\n{trace}"
    );
}

#[tokio::test]
async fn a_supplied_reqwest_client_that_follows_redirects_anywhere_is_refused_with_credentials() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let other = raw_server(move |head| {
        log.lock().unwrap().push(head.to_owned());
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec()
    })
    .await;
    let url = raw_server(move |_| {
        format!("HTTP/1.1 302 Found\r\nLocation: {other}/stolen\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes()
    })
    .await;
    let key = || ApiKey::new(API_KEY).unwrap();
    // reqwest's default policy and a plain limit follow any redirect with X-API-Key.
    for http in [
        reqwest::Client::new(),
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap(),
    ] {
        let err = Client::builder(&url)
            .auth(key())
            .http_client(http)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                agenttier::Error::InvalidInput {
                    field: "http_client",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // Without credentials there is nothing to leak.
    assert!(
        Client::builder(&url)
            .http_client(reqwest::Client::new())
            .build()
            .is_ok()
    );
    // With the SDK's policy or none, the redirect is not followed and nothing reaches the
    // other origin.
    for http in [
        reqwest::Client::builder()
            .redirect(agenttier::redirect_policy())
            .build()
            .unwrap(),
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    ] {
        let client = Client::builder(&url)
            .auth(key())
            .http_client(http)
            .build()
            .unwrap();
        let err = client.get_sandbox("demo").await.unwrap_err();
        assert_eq!(err.status(), Some(302), "{err:?}");
    }
    let seen = seen.lock().unwrap();
    println!(
        "supplied reqwest clients: 2 refused (default, limited), 2 accepted (redirect_policy, none), requests to the other origin {}",
        seen.len()
    );
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn credentials_over_plain_http_to_another_host_are_warned_about_at_build_time() {
    let (capture, _guard) = trace_capture();
    // Built, never called: nothing is sent to these hosts.
    let remote = [
        "http://router.invalid",
        "http://10.0.0.1:8080",
        "http://[fd00::1]",
    ];
    for url in remote {
        Client::builder(url)
            .auth(ApiKey::new(API_KEY).unwrap())
            .build()
            .unwrap();
    }
    let warned_remote = capture.text().matches("plain http").count();
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:2",
        "https://router.invalid",
    ] {
        Client::builder(url)
            .auth(ApiKey::new(API_KEY).unwrap())
            .build()
            .unwrap();
    }
    Client::builder("http://router.invalid").build().unwrap(); // no credentials
    let warned_all = capture.text().matches("plain http").count();
    println!(
        "plain-http warnings: {warned_remote} for {} remote http URLs, {} for loopback, https or no credentials",
        remote.len(),
        warned_all - warned_remote
    );
    assert_eq!(warned_remote, remote.len(), "{}", capture.text());
    assert_eq!(warned_all, warned_remote);
    assert!(!capture.text().contains(API_KEY));
    // Keep the timer module used on all paths.
    let _ = Duration::ZERO;
}

/// kubectl (client-go, and kube-rs alike) runs an exec plugin with the parent's environment
/// plus the configured pairs and `KUBERNETES_EXEC_INFO`: plugins rely on `PATH`, `HOME` and
/// cloud credentials variables, so the SDK does the same.
#[tokio::test]
async fn exec_plugins_get_the_environment_kubectl_gives_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let plugin = dir.path().join("plugin.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\nd=\"$(dirname \"$0\")\"\nprintf '%s' \"$PATH\" > \"$d/path\"\n\
         printf '%s' \"$CONFIGURED\" > \"$d/configured\"\n\
         printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$d/info\"\n\
         echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://router.invalid"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "me"}}],
        "users": [{"name": "me", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.to_str().unwrap(),
            "env": [{"name": "CONFIGURED", "value": "yes"}],
            "interactiveMode": "Never",
        }}}],
    });
    let path = dir.path().join("config");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    let kc = Kubeconfig::from_path(&path).unwrap();
    kc.credential().await.unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(read("path"), std::env::var("PATH").unwrap());
    assert_eq!(read("configured"), "yes");
    assert!(read("info").contains("ExecCredential"));
}

/// A refused base URL is shown as `scheme://host:port/path` only: no user, password, query or
/// fragment (a query may carry a token), whatever the reason it was refused and whether it
/// parses at all.
#[test]
fn refused_base_url_messages_show_no_userinfo_query_or_fragment() {
    const USER: &str = "CANARYurluser0101";
    const PASSWORD: &str = "CANARYurlpass0102";
    const QUERY: &str = "CANARYurlquerytoken0103";
    const FRAGMENT: &str = "CANARYurlfragment0104";
    let urls = [
        // Refused for the user and password.
        format!("http://{USER}:{PASSWORD}@router.example:8080/base?token={QUERY}#{FRAGMENT}"),
        format!("https://{USER}@router.example/"),
        // Refused for the query or fragment.
        format!("http://router.example:8080/base?token={QUERY}"),
        format!("http://router.example:8080/base#{FRAGMENT}"),
        format!("http://router.example/?a=1&access_token={QUERY}#{FRAGMENT}"),
        // Refused for the scheme.
        format!("ftp://{USER}:{PASSWORD}@router.example:21/base?token={QUERY}#{FRAGMENT}"),
        format!("file:///etc/passwd?token={QUERY}"),
        format!("ws://router.example/ws?token={QUERY}"),
        // No scheme.
        format!("{USER}:{PASSWORD}@router.example:8080/base?token={QUERY}"),
        format!("router.example:8080?token={QUERY}#{FRAGMENT}"),
        // Does not parse.
        format!("http://{USER}:{PASSWORD}@[::1/base?token={QUERY}"),
        format!("http://{USER}:{PASSWORD}@router example/?token={QUERY}#{FRAGMENT}"),
        // A `?` or `/` in the password (unencoded), an `@` in the query.
        format!("http://{USER}:pa?{PASSWORD}@router.example/"),
        format!("http://{USER}:pa/{PASSWORD}@router.example/"),
        format!("http://router.example/?token={QUERY}@x#{FRAGMENT}"),
    ];
    let mut hits = Vec::new();
    for url in &urls {
        let e = Client::builder(url.as_str()).build().unwrap_err();
        assert!(
            matches!(e, agenttier::Error::InvalidInput { field: "url", .. }),
            "{url}: {e:?}"
        );
        let shown = format!("{e} {e:?}");
        for canary in [USER, PASSWORD, QUERY, FRAGMENT] {
            if shown.contains(canary) {
                hits.push(format!("{url} -> {shown}"));
            }
        }
    }
    // What is shown still says which URL it was.
    let e = Client::builder(format!(
        "http://{USER}:{PASSWORD}@router.example:8080/base?token={QUERY}"
    ))
    .build()
    .unwrap_err();
    assert!(
        e.to_string().contains("router.example:8080/base") || e.to_string().contains("password"),
        "{e}"
    );
    let e = Client::builder(format!("ftp://router.example:2121/base?token={QUERY}"))
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("ftp://router.example:2121/base"),
        "{e}"
    );
    println!(
        "refused base URLs: {} shapes, canary hits {}",
        urls.len(),
        hits.len()
    );
    assert!(hits.is_empty(), "{hits:#?}");
}
