//! Credential providers and auto-detection, against temporary files and scripts only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agenttier::auth::{
    ApiKey, AuthProvider, BearerToken, Credential, DetectEnv, Kubeconfig, ServiceAccountToken,
    detect_with,
};
use agenttier::{Error, SecretString};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Tests that write an executable and run it hold this: a script still open for writing in
/// one test while another test forks would make exec fail with ETXTBSY.
static PROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bearer(token: &str) -> Option<Credential> {
    Some(Credential::Bearer(SecretString::new(token)))
}

async fn cred(auth: &dyn AuthProvider) -> Option<Credential> {
    auth.credential().await.expect("credential")
}

fn credentials_message(err: Error) -> String {
    match err {
        Error::Credentials { message, .. } => message,
        other => panic!("expected Error::Credentials, got {other:?}"),
    }
}

/// A kubeconfig in `dir` whose context `dev` (current) uses user `me` = `user`, and whose
/// context `other` uses user `other-user` = `{token: other-token}`.
fn write_kubeconfig(dir: &Path, user: Value) -> PathBuf {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://router.invalid"}}],
        "contexts": [
            {"name": "dev", "context": {"cluster": "c", "user": "me"}},
            {"name": "other", "context": {"cluster": "c", "user": "other-user"}},
        ],
        "users": [
            {"name": "me", "user": user},
            {"name": "other-user", "user": {"token": "other-token"}},
        ],
    });
    // JSON is YAML; write it as YAML anyway so the parser sees the usual shape.
    let path = dir.join("config");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

fn write_script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn exec_user(command: &str) -> Value {
    json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": command,
        "interactiveMode": "Never",
    }})
}

/// A plugin script that counts its runs in `count` and prints `token` with `expiry`.
fn counting_plugin(dir: &Path, token: &str, expiry: &str) {
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expiry},
    });
    write_script(
        dir,
        "plugin.sh",
        &format!("echo run >> \"$(dirname \"$0\")/count\"\necho '{credential}'\n"),
    );
}

/// `now + seconds` as RFC 3339 UTC (an independent formatter, civil-from-days).
fn rfc3339_from_now(seconds: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds;
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Static credentials.

#[tokio::test]
async fn api_key_is_sent_as_x_api_key_credential() {
    let auth = ApiKey::new("atk_secret_1").unwrap();
    assert_eq!(
        cred(&auth).await,
        Some(Credential::ApiKey(SecretString::new("atk_secret_1")))
    );
}

#[tokio::test]
async fn bearer_token_is_sent_as_bearer_credential() {
    let auth = BearerToken::new("jwt-secret-1").unwrap();
    assert_eq!(cred(&auth).await, bearer("jwt-secret-1"));
}

#[tokio::test]
async fn surrounding_whitespace_is_trimmed_from_static_credentials() {
    let key = ApiKey::new("  atk_1\n").unwrap();
    assert_eq!(
        cred(&key).await,
        Some(Credential::ApiKey(SecretString::new("atk_1")))
    );
    let token = BearerToken::new("\tjwt\n").unwrap();
    assert_eq!(cred(&token).await, bearer("jwt"));
}

#[test]
fn empty_or_blank_api_key_is_rejected_as_invalid_input() {
    for key in ["", "   ", "\n\t"] {
        assert!(
            matches!(
                ApiKey::new(key),
                Err(Error::InvalidInput {
                    field: "api_key",
                    ..
                })
            ),
            "{key:?}"
        );
    }
}

#[test]
fn empty_or_blank_bearer_token_is_rejected_as_invalid_input() {
    for token in ["", "  ", "\r\n"] {
        assert!(
            matches!(
                BearerToken::new(token),
                Err(Error::InvalidInput { field: "token", .. })
            ),
            "{token:?}"
        );
    }
}

#[test]
fn credentials_that_cannot_be_header_values_are_rejected() {
    assert!(matches!(
        ApiKey::new("atk\nInjected: yes"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        BearerToken::new("a\u{0}b"),
        Err(Error::InvalidInput { .. })
    ));
    // The message never repeats the value.
    let err = BearerToken::new("secret\nvalue").unwrap_err().to_string();
    assert!(!err.contains("secret"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Debug never shows a secret.

#[tokio::test]
async fn debug_output_of_every_provider_never_contains_the_secret() {
    const SECRET: &str = "sup3r-s3cret-value";
    let dir = TempDir::new().unwrap();
    let mut shown = Vec::new();

    let key = ApiKey::new(SECRET).unwrap();
    assert_eq!(format!("{key:?}"), "ApiKey { key: [redacted] }");
    shown.push(format!("{key:?} {key:#?}"));
    let token = BearerToken::new(SECRET).unwrap();
    assert_eq!(format!("{token:?}"), "BearerToken { token: [redacted] }");
    shown.push(format!("{token:?} {token:#?}"));

    let token_path = dir.path().join("sa-token");
    std::fs::write(&token_path, SECRET).unwrap();
    let sa = ServiceAccountToken::from_path(&token_path);
    assert_eq!(cred(&sa).await, bearer(SECRET));
    shown.push(format!("{sa:?}"));

    let kubeconfig = write_kubeconfig(dir.path(), json!({"token": SECRET}));
    let kc = Kubeconfig::from_path(&kubeconfig).unwrap();
    assert_eq!(cred(&kc).await, bearer(SECRET));
    shown.push(format!("{kc:?} {kc:#?}"));

    let kubeconfig = write_kubeconfig(dir.path(), json!({"tokenFile": "sa-token"}));
    let kc = Kubeconfig::from_path(&kubeconfig).unwrap();
    assert_eq!(cred(&kc).await, bearer(SECRET));
    shown.push(format!("{kc:?}"));

    {
        let _processes = PROCESSES.lock().await;
        counting_plugin(dir.path(), SECRET, "2999-01-01T00:00:00Z");
        let kubeconfig = write_kubeconfig(
            dir.path(),
            json!({"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "./plugin.sh",
                "args": ["--shown-arg"],
                "env": [{"name": "PLUGIN_SECRET", "value": SECRET}],
            }}),
        );
        let kc = Kubeconfig::from_path(&kubeconfig).unwrap();
        // v1beta1 was asked for but the script answers v1: a mismatch is refused.
        let err = credentials_message(kc.credential().await.unwrap_err());
        assert!(err.contains("apiVersion"), "{err}");
        shown.push(format!("{kc:?}"));
        // Arguments may carry secrets (`--oidc-client-secret=...`): only their number shows.
        assert!(!format!("{kc:?}").contains("--shown-arg"));
        assert!(format!("{kc:?}").contains("[1 redacted]"));
        assert!(format!("{kc:?}").contains("PLUGIN_SECRET"));
    }

    let env = DetectEnv::isolated().var("AGENTTIER_API_KEY", SECRET);
    shown.push(format!("{env:?}"));
    let detected = detect_with(&env).unwrap();
    shown.push(format!("{detected:?}"));

    for text in shown {
        assert!(!text.contains(SECRET), "secret in Debug output: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Detection order.

/// An environment that sees nothing but a missing service-account path and an empty home.
fn isolated(home: &Path) -> DetectEnv {
    DetectEnv::isolated()
        .service_account_token_path(home.join("no-such-sa-token"))
        .home(home)
}

#[tokio::test]
async fn detection_prefers_api_key_over_token() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path())
        .var("AGENTTIER_API_KEY", "key-1")
        .var("AGENTTIER_TOKEN", "token-1")
        .var("AGENTTIER_BEARER_TOKEN", "token-2");
    let auth = detect_with(&env).unwrap();
    assert_eq!(
        cred(auth.as_ref()).await,
        Some(Credential::ApiKey(SecretString::new("key-1")))
    );
}

#[tokio::test]
async fn detection_prefers_agenttier_token_over_agenttier_bearer_token() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path())
        .var("AGENTTIER_TOKEN", "token-1")
        .var("AGENTTIER_BEARER_TOKEN", "token-2");
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, bearer("token-1"));
}

#[tokio::test]
async fn detection_accepts_agenttier_bearer_token() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path()).var("AGENTTIER_BEARER_TOKEN", "token-2");
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, bearer("token-2"));
}

#[tokio::test]
async fn detection_treats_empty_variables_as_unset() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path())
        .var("AGENTTIER_API_KEY", "")
        .var("AGENTTIER_TOKEN", "   ")
        .var("AGENTTIER_BEARER_TOKEN", "token-2");
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, bearer("token-2"));

    let env = isolated(home.path())
        .var("AGENTTIER_API_KEY", "")
        .var("AGENTTIER_TOKEN", "")
        .var("AGENTTIER_BEARER_TOKEN", "")
        .var("KUBECONFIG", "");
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, None);
}

#[tokio::test]
async fn detection_reads_variables_through_a_lookup_function() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path())
        .vars_from(|name| (name == "AGENTTIER_TOKEN").then(|| "from-lookup".to_owned()));
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, bearer("from-lookup"));
}

#[test]
fn detection_rejects_a_variable_that_cannot_be_a_header() {
    let home = TempDir::new().unwrap();
    let env = isolated(home.path()).var("AGENTTIER_API_KEY", "a\nb");
    assert!(matches!(detect_with(&env), Err(Error::InvalidInput { .. })));
}

#[tokio::test]
async fn detection_prefers_service_account_token_over_kubeconfig() {
    let home = TempDir::new().unwrap();
    let sa = home.path().join("sa-token");
    std::fs::write(&sa, "sa-token-value\n").unwrap();
    let kubeconfig = write_kubeconfig(home.path(), json!({"token": "kube-token"}));
    let env = DetectEnv::isolated()
        .service_account_token_path(&sa)
        .home(home.path())
        .var("KUBECONFIG", kubeconfig.to_str().unwrap());
    let auth = detect_with(&env).unwrap();
    assert!(format!("{auth:?}").starts_with("ServiceAccountToken"));
    assert_eq!(cred(auth.as_ref()).await, bearer("sa-token-value"));
}

#[tokio::test]
async fn detection_uses_kubeconfig_variable_when_no_service_account_token() {
    let home = TempDir::new().unwrap();
    let kubeconfig = write_kubeconfig(home.path(), json!({"token": "kube-token"}));
    let missing = home.path().join("missing-config");
    let env = isolated(home.path()).var(
        "KUBECONFIG",
        format!("{}:{}", missing.display(), kubeconfig.display()),
    );
    let auth = detect_with(&env).unwrap();
    assert!(format!("{auth:?}").starts_with("Kubeconfig"));
    assert_eq!(cred(auth.as_ref()).await, bearer("kube-token"));
}

#[tokio::test]
async fn detection_uses_kube_config_in_home_directory() {
    let home = TempDir::new().unwrap();
    let kube_dir = home.path().join(".kube");
    std::fs::create_dir(&kube_dir).unwrap();
    write_kubeconfig(&kube_dir, json!({"token": "home-token"}));
    let auth = detect_with(&isolated(home.path())).unwrap();
    assert_eq!(cred(auth.as_ref()).await, bearer("home-token"));
}

#[tokio::test]
async fn detection_skips_kubeconfig_whose_user_has_no_token() {
    let home = TempDir::new().unwrap();
    let kubeconfig = write_kubeconfig(
        home.path(),
        json!({"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}),
    );
    let env = isolated(home.path()).var("KUBECONFIG", kubeconfig.to_str().unwrap());
    let auth = detect_with(&env).unwrap();
    assert_eq!(format!("{auth:?}"), "NoAuth");
}

#[tokio::test]
async fn detection_skips_unparseable_kubeconfig() {
    let home = TempDir::new().unwrap();
    let path = home.path().join("config");
    std::fs::write(&path, "contexts: [unclosed\n").unwrap();
    let env = isolated(home.path()).var("KUBECONFIG", path.to_str().unwrap());
    let auth = detect_with(&env).unwrap();
    assert_eq!(cred(auth.as_ref()).await, None);
}

#[tokio::test]
async fn detection_without_any_source_sends_no_credentials() {
    let home = TempDir::new().unwrap();
    let auth: Arc<dyn AuthProvider> = detect_with(&isolated(home.path())).unwrap();
    assert_eq!(format!("{auth:?}"), "NoAuth");
    assert_eq!(cred(auth.as_ref()).await, None);
    // Nothing at all configured, not even paths.
    let auth = detect_with(&DetectEnv::isolated()).unwrap();
    assert_eq!(cred(auth.as_ref()).await, None);
}

// ---------------------------------------------------------------------------------------------
// Service-account token file.

#[tokio::test]
async fn service_account_token_is_read_and_trimmed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "  sa-1 \n").unwrap();
    let auth = ServiceAccountToken::from_path(&path);
    assert_eq!(cred(&auth).await, bearer("sa-1"));
}

#[tokio::test]
async fn service_account_token_is_cached_within_the_refresh_interval() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first").unwrap();
    let auth = ServiceAccountToken::from_path(&path).refresh_every(Duration::from_secs(600));
    assert_eq!(cred(&auth).await, bearer("first"));
    std::fs::write(&path, "second").unwrap();
    assert_eq!(cred(&auth).await, bearer("first"));
}

/// Moves tokio's clock (which token files' refresh intervals run on) forward by `by`, at once.
async fn advance_clock(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    // Files are read on tokio's blocking pool: let the clock run again for that.
    tokio::time::resume();
}

#[tokio::test]
async fn token_file_rotation_is_picked_up() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first").unwrap();
    let auth = ServiceAccountToken::from_path(&path).refresh_every(Duration::from_secs(60));
    assert_eq!(cred(&auth).await, bearer("first"));
    std::fs::write(&path, "second\n").unwrap();
    advance_clock(Duration::from_secs(59)).await;
    assert_eq!(cred(&auth).await, bearer("first"), "within the interval");
    advance_clock(Duration::from_secs(2)).await;
    assert_eq!(cred(&auth).await, bearer("second"));
}

#[tokio::test]
async fn last_good_token_kept_when_file_disappears() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "good").unwrap();
    let auth = ServiceAccountToken::from_path(&path).refresh_every(Duration::from_secs(60));
    assert_eq!(cred(&auth).await, bearer("good"));

    std::fs::remove_file(&path).unwrap();
    advance_clock(Duration::from_secs(61)).await;
    assert_eq!(cred(&auth).await, bearer("good"));

    // An empty file is a failed read too.
    std::fs::write(&path, " \n").unwrap();
    advance_clock(Duration::from_secs(61)).await;
    assert_eq!(cred(&auth).await, bearer("good"));

    // And a good file is picked up again.
    std::fs::write(&path, "better").unwrap();
    advance_clock(Duration::from_secs(61)).await;
    assert_eq!(cred(&auth).await, bearer("better"));
}

#[tokio::test]
async fn service_account_token_never_read_is_a_credentials_error() {
    let dir = TempDir::new().unwrap();
    let missing = ServiceAccountToken::from_path(dir.path().join("missing"));
    let message = credentials_message(missing.credential().await.unwrap_err());
    assert!(message.contains("missing"), "{message}");

    let path = dir.path().join("empty");
    std::fs::write(&path, "\n").unwrap();
    let empty = ServiceAccountToken::from_path(&path);
    let message = credentials_message(empty.credential().await.unwrap_err());
    assert!(message.contains("empty"), "{message}");

    // The file appearing later is picked up (failures are not cached).
    std::fs::write(&path, "late").unwrap();
    assert_eq!(cred(&empty).await, bearer("late"));
}

#[tokio::test]
async fn concurrent_requests_share_one_service_account_provider() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "shared").unwrap();
    let auth = Arc::new(ServiceAccountToken::from_path(&path).refresh_every(Duration::ZERO));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move { auth.credential().await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), bearer("shared"));
    }
}

// ---------------------------------------------------------------------------------------------
// Kubeconfig: token, tokenFile, contexts, unsupported users.

#[tokio::test]
async fn kubeconfig_token_user_is_sent_as_bearer() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(dir.path(), json!({"token": "kube-token"}));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(auth.context(), Some("dev"));
    assert_eq!(cred(&auth).await, bearer("kube-token"));
}

#[tokio::test]
async fn kubeconfig_relative_token_file_is_resolved_against_kubeconfig_dir() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/token"), "file-token\n").unwrap();
    let path = write_kubeconfig(dir.path(), json!({"tokenFile": "secrets/token"}));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("file-token"));
}

#[tokio::test]
async fn kubeconfig_absolute_token_file_is_read() {
    let dir = TempDir::new().unwrap();
    let token = dir.path().join("abs-token");
    std::fs::write(&token, "abs").unwrap();
    let path = write_kubeconfig(dir.path(), json!({"tokenFile": token}));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("abs"));
}

#[tokio::test]
async fn kubeconfig_missing_token_file_is_a_credentials_error() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(dir.path(), json!({"tokenFile": "nope"}));
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("nope"), "{message}");
}

#[tokio::test]
async fn kubeconfig_with_context_selects_another_user() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(dir.path(), json!({"token": "dev-token"}));
    let auth = Kubeconfig::from_path(&path)
        .unwrap()
        .with_context("other")
        .unwrap();
    assert_eq!(auth.context(), Some("other"));
    assert_eq!(cred(&auth).await, bearer("other-token"));
}

#[test]
fn kubeconfig_unknown_context_is_an_error() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(dir.path(), json!({"token": "t"}));
    let err = Kubeconfig::from_path(&path)
        .unwrap()
        .with_context("nowhere")
        .unwrap_err();
    let message = credentials_message(err);
    assert!(message.contains("nowhere"), "{message}");
}

#[tokio::test]
async fn kubeconfig_unknown_current_context_fails_on_use_but_another_can_be_chosen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "current-context: gone\n\
         contexts:\n- name: other\n  context: {user: u}\n\
         users:\n- name: u\n  user: {token: tok}\n",
    )
    .unwrap();
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert!(credentials_message(auth.check().unwrap_err()).contains("gone"));
    assert!(credentials_message(auth.credential().await.unwrap_err()).contains("gone"));
    let auth = auth.with_context("other").unwrap();
    assert_eq!(cred(&auth).await, bearer("tok"));
}

#[test]
fn kubeconfig_without_current_context_says_so() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "apiVersion: v1\nkind: Config\n").unwrap();
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(auth.context(), None);
    assert!(credentials_message(auth.check().unwrap_err()).contains("current-context"));
}

#[test]
fn kubeconfig_client_certificate_user_is_unsupported() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(
        dir.path(),
        json!({"client-certificate": "/etc/cert.pem", "client-key": "/etc/key.pem"}),
    );
    let message = credentials_message(Kubeconfig::from_path(&path).unwrap().check().unwrap_err());
    assert!(message.contains("client certificate"), "{message}");
    assert!(message.contains("not supported"), "{message}");
}

#[test]
fn kubeconfig_auth_provider_user_is_unsupported() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(
        dir.path(),
        json!({"auth-provider": {"name": "oidc", "config": {"id-token": "secret-id-token"}}}),
    );
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.check().unwrap_err());
    assert!(message.contains("auth-provider"), "{message}");
    assert!(message.contains("oidc"), "{message}");
    assert!(!format!("{auth:?}").contains("secret-id-token"));
}

#[test]
fn kubeconfig_unsupported_exec_api_version_is_rejected() {
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(
        dir.path(),
        json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}}),
    );
    let message = credentials_message(Kubeconfig::from_path(&path).unwrap().check().unwrap_err());
    assert!(message.contains("v1alpha1"), "{message}");
}

#[test]
fn unreadable_or_malformed_kubeconfig_is_a_credentials_error() {
    let dir = TempDir::new().unwrap();
    let missing = Kubeconfig::from_path(dir.path().join("missing")).unwrap_err();
    assert!(matches!(missing, Error::Credentials { .. }));

    let path = dir.path().join("config");
    std::fs::write(&path, "users: {this: [is not a list\n").unwrap();
    assert!(matches!(
        Kubeconfig::from_path(&path),
        Err(Error::Credentials { .. })
    ));

    std::fs::write(&path, "users: 42\n").unwrap();
    assert!(matches!(
        Kubeconfig::from_path(&path),
        Err(Error::Credentials { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Kubeconfig exec plugins.

#[tokio::test]
async fn exec_plugin_from_temporary_kubeconfig_is_run_and_cached_until_expiry() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    counting_plugin(dir.path(), "exec-token", "2999-12-31T23:59:59.123+02:00");
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(runs(dir.path()), 0, "the plugin runs lazily");
    assert_eq!(cred(&auth).await, bearer("exec-token"));
    assert_eq!(cred(&auth).await, bearer("exec-token"));
    assert_eq!(runs(dir.path()), 1);
}

/// A tracing capture for the current thread (a `current_thread` test runtime runs on it).
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn exec_plugin_with_expired_token_runs_at_most_once_per_rerun_interval() {
    let _processes = PROCESSES.lock().await;
    let capture = Capture::default();
    let _guard = capture.install();
    let dir = TempDir::new().unwrap();
    counting_plugin(dir.path(), "old-token", "2001-02-03T04:05:06Z");
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("old-token"));
    assert_eq!(runs(dir.path()), 1);

    // tokio's clock (the one the re-run interval is measured on) stands still from here: the
    // burst below happens at one instant, whatever the machine's speed.
    tokio::time::pause();
    for _ in 0..50 {
        assert_eq!(cred(&auth).await, bearer("old-token"));
    }
    let burst = futures::future::join_all((0..50).map(|_| auth.credential())).await;
    assert!(
        burst
            .into_iter()
            .all(|c| c.expect("credential") == bearer("old-token"))
    );
    assert_eq!(
        runs(dir.path()),
        1,
        "a burst of 100 calls runs the plugin once"
    );
    tokio::time::advance(Duration::from_millis(4_900)).await;
    assert_eq!(cred(&auth).await, bearer("old-token"));
    assert_eq!(runs(dir.path()), 1, "still within the 5 s interval");

    tokio::time::advance(Duration::from_millis(200)).await;
    // The plugin runs on real time (its own timeout is a tokio timer).
    tokio::time::resume();
    assert_eq!(cred(&auth).await, bearer("old-token"));
    assert_eq!(
        runs(dir.path()),
        2,
        "after the interval the plugin runs again"
    );

    let warnings = capture.text();
    assert_eq!(
        warnings.matches("already expired").count(),
        1,
        "the warning is logged once: {warnings}"
    );
    assert!(!warnings.contains("old-token"), "{warnings}");
}

#[tokio::test]
async fn exec_plugin_is_rerun_within_the_expiry_skew_and_its_failure_keeps_the_valid_token() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    // Each run hands out a token expiring 9 s after that run: inside the 10 s skew, so due
    // for a refresh on arrival, but still valid, so a failing refresh falls back to it. (The
    // expiry is wall-clock time, which the test cannot stop: the fallback is checked right
    // after a run, one process start later, not seconds later.)
    let credential = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"short-lived","expirationTimestamp":"%s"}}"#;
    write_script(
        dir.path(),
        "plugin.sh",
        &format!(
            "echo run >> \"$(dirname \"$0\")/count\"\nprintf '{credential}\\n' \"$(date -u -d '+9 seconds' +%Y-%m-%dT%H:%M:%SZ)\"\n"
        ),
    );
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("short-lived"));
    assert_eq!(cred(&auth).await, bearer("short-lived"));
    assert_eq!(runs(dir.path()), 1, "re-run no sooner than 5 s later");

    // Past the re-run interval on tokio's clock (the wall clock, which the expiry is read
    // on, does not move: the token stays valid).
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::time::resume();
    assert_eq!(cred(&auth).await, bearer("short-lived"));
    assert_eq!(runs(dir.path()), 2);

    write_script(
        dir.path(),
        "plugin.sh",
        "echo run >> \"$(dirname \"$0\")/count\"\necho 'temporarily down' >&2\nexit 1\n",
    );
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::time::resume();
    assert_eq!(cred(&auth).await, bearer("short-lived"));
    assert_eq!(runs(dir.path()), 3, "the failing plugin ran");
    // Its failure counts as a run: not started again within the interval.
    assert_eq!(cred(&auth).await, bearer("short-lived"));
    assert_eq!(runs(dir.path()), 3);
}

#[tokio::test]
async fn exec_plugin_with_far_expiry_is_cached() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    counting_plugin(dir.path(), "hour-long", &rfc3339_from_now(3600));
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("hour-long"));
    assert_eq!(cred(&auth).await, bearer("hour-long"));
    assert_eq!(runs(dir.path()), 1);
}

#[tokio::test]
async fn exec_plugin_without_expiry_is_run_once() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "forever"},
    });
    write_script(
        dir.path(),
        "plugin.sh",
        &format!("echo run >> \"$(dirname \"$0\")/count\"\necho '{credential}'\n"),
    );
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    for _ in 0..3 {
        assert_eq!(cred(&auth).await, bearer("forever"));
    }
    assert_eq!(runs(dir.path()), 1);
}

#[tokio::test]
async fn exec_plugin_gets_args_env_and_non_interactive_exec_info() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    // Prints its first argument, an env var and KUBERNETES_EXEC_INFO into files next to it.
    write_script(
        &dir.path().join("bin"),
        "plugin",
        "d=\"$(dirname \"$0\")\"\n\
         printf '%s' \"$1\" > \"$d/arg\"\n\
         printf '%s' \"$GREETING\" > \"$d/env\"\n\
         printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$d/info\"\n\
         echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\
         \"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
    );
    let path = write_kubeconfig(
        dir.path(),
        json!({"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "bin/plugin",
            "args": ["--flag value"],
            "env": [{"name": "GREETING", "value": "hello"}],
            "provideClusterInfo": true,
        }}),
    );
    let auth = Kubeconfig::from_path(&path).unwrap();
    assert_eq!(cred(&auth).await, bearer("t"));
    let bin = dir.path().join("bin");
    assert_eq!(
        std::fs::read_to_string(bin.join("arg")).unwrap(),
        "--flag value"
    );
    assert_eq!(std::fs::read_to_string(bin.join("env")).unwrap(), "hello");
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(bin.join("info")).unwrap()).unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], "https://router.invalid");
}

#[tokio::test]
async fn failing_exec_plugin_is_a_credentials_error_with_its_stderr() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    write_script(
        dir.path(),
        "plugin.sh",
        "echo 'error: you must log in first' >&2\nexit 3\n",
    );
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("you must log in first"), "{message}");
    assert!(message.contains("./plugin.sh"), "{message}");
}

#[tokio::test]
async fn exec_plugin_stderr_in_the_error_is_cut_to_about_one_kib() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    write_script(
        dir.path(),
        "plugin.sh",
        "i=0\nwhile [ $i -lt 500 ]; do printf 'noise-' >&2; i=$((i+1)); done\nexit 1\n",
    );
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("noise-"), "{message}");
    assert!(message.len() < 1400, "{} bytes", message.len());
}

#[tokio::test]
async fn exec_plugin_that_runs_too_long_is_killed_and_reported_with_its_stderr() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    write_script(
        dir.path(),
        "plugin.sh",
        "echo 'waiting for browser login' >&2\nexec sleep 600\n",
    );
    // A plugin that hangs is the behaviour under test, so this one really runs for a while:
    // 2 s leaves a starved machine time to start the shell and print its line, and the
    // plugin's 600 s keeps "killed at the timeout" far from "waited for it" on any machine.
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path)
        .unwrap()
        .exec_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(300));
    assert!(message.contains("did not finish"), "{message}");
    assert!(message.contains("waiting for browser login"), "{message}");
}

#[tokio::test]
async fn exec_plugin_with_bad_output_is_a_credentials_error_without_the_output() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    write_script(
        dir.path(),
        "plugin.sh",
        "echo 'warning: odd' >&2\necho '{\"status\": {\"token\": [\"leaked-value\"]}}'\n",
    );
    let path = write_kubeconfig(dir.path(), exec_user("./plugin.sh"));
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("ExecCredential"), "{message}");
    assert!(message.contains("warning: odd"), "{message}");
    assert!(!message.contains("leaked-value"), "{message}");

    write_script(dir.path(), "plugin.sh", "echo 'not json at all'\n");
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("ExecCredential"), "{message}");

    write_script(
        dir.path(),
        "plugin.sh",
        "echo '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\",\
         \"expirationTimestamp\":\"tomorrow\"}}'\n",
    );
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(message.contains("expirationTimestamp"), "{message}");
}

#[tokio::test]
async fn missing_exec_plugin_is_a_credentials_error_with_install_hint() {
    let _processes = PROCESSES.lock().await;
    let dir = TempDir::new().unwrap();
    let path = write_kubeconfig(
        dir.path(),
        json!({"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "agenttier-test-no-such-plugin",
            "installHint": "install it with: brew install no-such-plugin",
        }}),
    );
    let auth = Kubeconfig::from_path(&path).unwrap();
    let message = credentials_message(auth.credential().await.unwrap_err());
    assert!(
        message.contains("agenttier-test-no-such-plugin"),
        "{message}"
    );
    assert!(message.contains("brew install no-such-plugin"), "{message}");
}
