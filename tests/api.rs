//! The API a Rust user expects, one behaviour per test: scoped cleanup, name-first create and
//! create-and-wait, nothing the Router answers dropped, lifecycle waits, `&self` waiters with
//! `_with` variants, owned handles, files and exec conveniences, errors that say what to do, one
//! call shape, namespaces, bulk per item, the install log's exact bytes.

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenttier::testing::{FakeRouter, Method};
use agenttier::webhooks::WebhookEvent;
use agenttier::{
    BulkAction, Client, Error, ExecOptions, Phase, RetryPolicy, SandboxFilter, ShareKind,
    ShareLevel, WaitOptions,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

fn fast() -> RetryPolicy {
    common::fast_retries()
}

async fn router() -> FakeRouter {
    FakeRouter::builder()
        .creating_delay(Duration::from_millis(60))
        .finalizer_delay(Duration::from_millis(30))
        .start()
        .await
}

fn client(router: &FakeRouter) -> Client {
    Client::builder(router.url()).retry(fast()).build().unwrap()
}

/// A FakeRouter running a real `sh`, with one Running sandbox `name` in it.
async fn running_with_local_exec(name: &str) -> (FakeRouter, agenttier::Sandbox) {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(30))
        .local_exec(true)
        .start()
        .await;
    let sb = client(&router)
        .create_sandbox(name)
        .template("general-coding")
        .wait_until_running_with(quick())
        .await
        .unwrap();
    (router, sb)
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .max_polls_per_minute(60_000)
        .poll_burst(1_000)
        .initial_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(30))
}

fn deletes_of(router: &FakeRouter, name: &str) -> usize {
    let path = format!("/api/v1/sandboxes/{name}");
    router
        .requests()
        .iter()
        .filter(|r| r.method == Method::DELETE && r.path == path)
        .count()
}

// 1. Scoped cleanup ---------------------------------------------------------------------------

#[tokio::test]
async fn with_sandbox_deletes_on_error() {
    let router = router().await;
    let c = client(&router);
    let out: Result<(), Error> = c
        .with_sandbox(
            c.create_sandbox("scoped").template("general-coding"),
            |sb| async move {
                assert_eq!(sb.id(), "scoped");
                Err(Error::InvalidInput {
                    field: "test",
                    message: "the body failed".into(),
                })
            },
        )
        .await;
    assert!(matches!(
        out,
        Err(Error::InvalidInput { field: "test", .. })
    ));
    assert_eq!(deletes_of(&router, "scoped"), 1);
}

#[tokio::test]
async fn with_sandbox_deletes_on_success_and_returns_the_result() {
    let router = router().await;
    let c = client(&router);
    let id = c
        .with_sandbox(
            c.create_sandbox("scoped-ok").template("general-coding"),
            |sb| async move { Ok::<_, Error>(sb.id().to_owned()) },
        )
        .await
        .unwrap();
    assert_eq!(id, "scoped-ok");
    assert_eq!(deletes_of(&router, "scoped-ok"), 1);
}

#[tokio::test]
async fn with_sandbox_deletes_on_panic_then_panics() {
    let router = router().await;
    let c = client(&router);
    let task = tokio::spawn({
        let c = c.clone();
        async move {
            let _: Result<(), Error> = c
                .with_sandbox(
                    c.create_sandbox("scoped-panic").template("general-coding"),
                    |_sb| async move { panic!("boom") },
                )
                .await;
        }
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(deletes_of(&router, "scoped-panic"), 1);
}

#[tokio::test]
async fn guard_dropped_without_close_deletes_in_the_background() {
    let router = router().await;
    let c = client(&router);
    {
        let sb = c
            .create_sandbox("guarded")
            .template("general-coding")
            .guarded()
            .await
            .unwrap();
        assert_eq!(sb.id(), "guarded");
    }
    // The delete was spawned: wait for the Router to see it. The 60 s bound only guards
    // against a hang; a starved machine may need far more than the old 1 s.
    let started = std::time::Instant::now();
    while deletes_of(&router, "guarded") == 0 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(deletes_of(&router, "guarded"), 1);
    let kept = c
        .create_sandbox("kept")
        .template("general-coding")
        .guarded()
        .await
        .unwrap()
        .keep();
    drop(kept);
    assert_eq!(deletes_of(&router, "kept"), 0);
}

// 2. Create -----------------------------------------------------------------------------------

#[tokio::test]
async fn create_is_name_first_and_the_handle_carries_the_routers_answer() {
    let router = router().await;
    let c = client(&router);
    let sb = c
        .create_sandbox("named")
        .template("general-coding")
        .await
        .unwrap();
    let summary = sb.summary().expect("the create's answer");
    assert_eq!(summary.status, "Creating");
    assert_eq!(summary.template_ref.as_deref(), Some("general-coding"));
    assert_eq!(sb.namespace(), Some("default"));
    // The template is required, and checked before anything is sent.
    router.clear_requests();
    let err = c.create_sandbox("no-template").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "template",
                ..
            }
        ),
        "{err}"
    );
    assert!(router.requests().is_empty());
}

#[tokio::test]
async fn create_with_wait_until_running_returns_a_running_sandbox() {
    let router = router().await;
    let c = client(&router);
    let sb = c
        .new_sandbox()
        .template("general-coding")
        .wait_until_running_with(quick())
        .await
        .unwrap();
    assert!(sb.id().starts_with("agent-"), "{}", sb.id());
    assert_eq!(sb.phase(), Some(Phase::Running));
}

#[tokio::test]
async fn create_existing_name_is_already_exists_and_create_or_get_returns_it() {
    let router = router().await;
    let c = client(&router);
    c.create_sandbox("taken")
        .template("general-coding")
        .await
        .unwrap();
    let err = c
        .create_sandbox("taken")
        .template("general-coding")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    assert!(err.to_string().contains("create_or_get"), "{err}");
    let existing = c
        .create_sandbox("taken")
        .template("general-coding")
        .create_or_get()
        .await
        .unwrap();
    assert_eq!(existing.id(), "taken");
}

// 3. Nothing the Router answers is dropped -----------------------------------------------------

#[tokio::test]
async fn lifecycle_and_area_calls_return_the_routers_answers() {
    let router = router().await;
    let c = client(&router);
    assert_eq!(c.healthz().await.unwrap(), "ok");
    let sb = c
        .create_sandbox("answers")
        .template("general-coding")
        .wait_until_running_with(quick())
        .await
        .unwrap();
    let stopping = sb.stop().await.unwrap();
    assert_eq!(stopping.ack().status, "stopping");
    stopping.wait_with(quick()).await.unwrap();
    let resuming = sb.resume().await.unwrap();
    assert_eq!(resuming.ack().status, "resuming");
    resuming.wait_with(quick()).await.unwrap();
    let revoked = sb.sharing().revoke("nobody@example.com").await.unwrap();
    assert_eq!(revoked.status, "revoked");
    let cloned = sb.clone_sandbox().name("answers-copy").await.unwrap();
    assert_eq!(cloned.sandbox.id(), "answers-copy");
    assert_eq!(cloned.response.cloned_from, "answers");
    let backup = sb.backups().create().await.unwrap();
    let restored = sb
        .backups()
        .restore(&backup.name)
        .name("answers-restored")
        .await
        .unwrap();
    assert_eq!(restored.response.restored_from, "answers");
    let gone = sb.backups().delete(&backup.name).await.unwrap();
    assert_eq!(
        (gone.status.as_str(), gone.name.as_str()),
        ("deleted", backup.name.as_str())
    );
    let cleared = c.warm_pool().clear().await.unwrap();
    assert_eq!(cleared.status, "updated");
}

// 4. Lifecycle calls return before the change; waiting is one call ---------------------------

#[tokio::test]
async fn stop_then_resume_with_wait_works_and_without_it_the_409_says_what_to_wait_for() {
    let router = router().await;
    let c = client(&router);
    let sb = c
        .create_sandbox("tutorial")
        .template("general-coding")
        .wait_until_running_with(quick())
        .await
        .unwrap();
    sb.stop().await.unwrap();
    // What the tutorial did: resume at once. The Router is still stopping the sandbox.
    let err = sb.resume().await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("cannot resume sandbox in phase Running"),
        "{text}"
    );
    assert!(
        text.contains("wait()"),
        "the Display says what to wait for: {text}"
    );
    sb.wait_until_stopped_with(quick()).await.unwrap();
    let summary = sb.resume().await.unwrap().wait_with(quick()).await.unwrap();
    assert_eq!(summary.phase(), Phase::Running);
    sb.delete().await.unwrap().wait_with(quick()).await.unwrap();
    assert!(c.get_sandbox("tutorial").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn exec_on_a_sandbox_not_running_says_to_wait_until_running() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_secs(3600))
        .start()
        .await;
    let c = client(&router);
    let sb = c
        .create_sandbox("slow")
        .template("general-coding")
        .await
        .unwrap();
    let err = sb.exec("ls").await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("wait_until_running"), "{err}");
}

// 5. Waiters and lists: &self, defaults, and _with --------------------------------------------

#[tokio::test]
async fn waiters_take_a_shared_handle_from_several_tasks_and_lists_filter_by_template() {
    let router = router().await;
    let c = client(&router);
    let sb = c
        .create_sandbox("shared-wait")
        .template("general-coding")
        .await
        .unwrap();
    let waits: Vec<_> = (0..3)
        .map(|_| {
            let sb = sb.clone();
            tokio::spawn(async move { sb.wait_until_running_with(quick()).await })
        })
        .collect();
    for w in waits {
        assert_eq!(w.await.unwrap().unwrap().phase(), Phase::Running);
    }
    c.create_sandbox("agentic")
        .template("agent-python")
        .await
        .unwrap();
    let all = c.list_sandboxes().await.unwrap();
    assert_eq!(all.len(), 2);
    let agents = c
        .list_sandboxes_with(SandboxFilter::default().template("agent-python"))
        .await;
    // The template resolves once the controller ran; wait for it rather than guess.
    let agents = match agents {
        Ok(list) if list.len() == 1 => list,
        _ => {
            c.sandbox("agentic")
                .unwrap()
                .wait_until_running_with(quick())
                .await
                .unwrap();
            c.list_sandboxes_with(SandboxFilter::default().template("agent-python"))
                .await
                .unwrap()
        }
    };
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].name, "agentic");
}

// 6. Area handles are owned ----------------------------------------------------------------

#[tokio::test]
async fn area_handles_are_owned_and_move_into_tasks() {
    let (_router, sb) = running_with_local_exec("owned").await;
    let files = sb.files();
    let ports = sb.ports();
    let sharing = sb.sharing();
    drop(sb); // the handles do not borrow it
    let written = tokio::spawn(async move { files.write("/workspace/x.txt", "x").await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.bytes, 1);
    let forwarded = tokio::spawn(async move { ports.forward(3000).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forwarded.port, 3000);
    let granted = tokio::spawn(async move {
        sharing
            .grant("eng", ShareLevel::Viewer, ShareKind::Group)
            .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(granted.groups.len(), 1);
}

// 7. Files and exec ------------------------------------------------------------------------

#[tokio::test]
async fn files_take_byte_literals_read_back_text_list_as_iterators_and_trees_round_trip() {
    let (_router, sb) = running_with_local_exec("files").await;
    let files = sb.files();
    files.write("/workspace/a.txt", b"alpha\n").await.unwrap();
    files.write("/workspace/b.txt", "beta\n").await.unwrap();
    files
        .write("/workspace/c.bin", vec![0u8, 159, 146, 150])
        .await
        .unwrap();
    assert_eq!(
        files.read_to_string("/workspace/a.txt").await.unwrap(),
        "alpha\n"
    );
    assert!(matches!(
        files.read_to_string("/workspace/c.bin").await.unwrap_err(),
        Error::Decode { .. }
    ));
    let listing = files.list("/workspace").await.unwrap();
    let mut names: Vec<&str> = (&listing).into_iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.txt", "c.bin"]);

    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(local.path().join("src/nested")).unwrap();
    std::fs::write(local.path().join("src/main.py"), "print(1)\n").unwrap();
    std::fs::write(local.path().join("src/nested/util.py"), "x = 2\n").unwrap();
    let up = files
        .upload_dir(local.path().join("src"), "/workspace/project")
        .await
        .unwrap();
    assert_eq!((up.files, up.bytes), (2, 15));
    let back = tempfile::tempdir().unwrap();
    let down = files
        .download_dir("/workspace/project", back.path())
        .await
        .unwrap();
    assert_eq!((down.files, down.bytes), (2, 15));
    assert_eq!(
        std::fs::read_to_string(back.path().join("nested/util.py")).unwrap(),
        "x = 2\n"
    );
}

#[tokio::test]
async fn exec_env_and_workdir_reach_the_command_quoted_and_check_types_a_failure() {
    let (_router, sb) = running_with_local_exec("exec").await;
    sb.exec("mkdir -p /workspace/app")
        .await
        .unwrap()
        .check()
        .unwrap();
    let opts = ExecOptions::default()
        .env("GREETING", "it's $HOME; `rm -rf /`")
        .workdir("/workspace/app");
    let out = sb
        .exec_with("printf '%s|' \"$GREETING\"; basename \"$(pwd)\"", opts)
        .await
        .unwrap();
    assert_eq!(out.stdout, "it's $HOME; `rm -rf /`|app\n");
    let out = sb
        .exec_argv_with(&["printf", "%s", "a b"], ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, "a b");
    let err = sb.exec_checked("echo oops >&2; exit 3").await.unwrap_err();
    match &err {
        Error::CommandFailed {
            exit_code, stderr, ..
        } => assert_eq!((*exit_code, stderr.as_str()), (3, "oops\n")),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("code 3") && err.to_string().contains("oops"));
    let err = sb
        .exec_with("true", ExecOptions::default().env("not a name", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "env", .. }));
}

// 8. Errors say what to do ------------------------------------------------------------------

#[tokio::test]
async fn policy_violation_display_names_each_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "policy_violation",
            "violations": [
                {"code": "cpu_limit_exceeded", "message": "cpu limit 8 exceeds the namespace maximum 4"},
                {"code": "template_not_allowed", "message": "template \"gpu\" is not permitted"}
            ]})))
        .mount(&server)
        .await;
    let err = common::client(&server)
        .create_sandbox("big")
        .template("gpu")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cpu limit 8 exceeds the namespace maximum 4 (cpu_limit_exceeded)"),
        "{text}"
    );
    assert!(text.contains("template \"gpu\" is not permitted"), "{text}");
}

#[tokio::test]
async fn api_error_code_is_a_machine_code_never_the_message_repeated() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": "sandbox demo not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("{\"error\":\"invalid_api_key\"}\n"),
        )
        .mount(&server)
        .await;
    let c = common::client(&server);
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert_eq!(err.api().unwrap().code(), None);
    assert_eq!(err.api().unwrap().message(), "sandbox demo not found");
    let err = c.list_sandboxes().await.unwrap_err();
    assert_eq!(err.api().unwrap().code(), Some("invalid_api_key"));
}

#[tokio::test]
async fn https_to_plain_http_is_a_tls_error_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let c = Client::builder(format!("https://127.0.0.1:{port}"))
        .retry(fast())
        .build()
        .unwrap();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("http://"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "tried once");
}

#[tokio::test]
async fn a_base_url_with_a_wrong_path_hints_at_the_base_url() {
    let router = router().await;
    let c = Client::builder(format!("{}/agenttier", router.url()))
        .retry(fast())
        .build()
        .unwrap();
    let err = c.list_sandboxes().await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedRoute { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("base URL"), "{text}");
    assert!(text.contains("/agenttier/api/v1/sandboxes"), "{text}");
}

#[test]
fn a_url_without_a_scheme_says_add_http() {
    let err = Client::builder("127.0.0.1:8081").build().unwrap_err();
    assert!(err.to_string().contains("http://127.0.0.1:8081"), "{err}");
    let err = Client::builder("https://user:hunter2@agenttier.example.com")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_401_without_credentials_names_how_to_set_one() {
    let router = FakeRouter::builder().api_key("atk_only").start().await;
    let anonymous = client(&router);
    let err = anonymous.list_sandboxes().await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)));
    let text = err.to_string();
    assert!(
        text.contains("AGENTTIER_API_KEY") && text.contains("ClientBuilder::auth"),
        "{text}"
    );
    let wrong = Client::builder(router.url())
        .auth(agenttier::auth::ApiKey::new("atk_wrong_key").unwrap())
        .build()
        .unwrap();
    let text = wrong.list_sandboxes().await.unwrap_err().to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("atk_wrong_key"), "{text}");
}

#[tokio::test]
async fn a_refused_connection_names_the_url_tried() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c.get_sandbox("demo").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("http://127.0.0.1:{port}/api/v1/sandboxes/demo")),
        "{err}"
    );
}

#[test]
fn local_io_errors_convert_into_the_error_type() {
    fn read() -> agenttier::Result<String> {
        Ok(std::fs::read_to_string("/definitely/not/here")?)
    }
    assert!(matches!(read().unwrap_err(), Error::Io { .. }));
}

// 9. One shape everywhere ----------------------------------------------------------------

#[test]
fn string_enums_parse_and_display() {
    for action in [BulkAction::Stop, BulkAction::Resume, BulkAction::Delete] {
        assert_eq!(action.to_string().parse::<BulkAction>().unwrap(), action);
    }
    for level in [ShareLevel::Viewer, ShareLevel::Collaborator] {
        assert_eq!(level.to_string().parse::<ShareLevel>().unwrap(), level);
    }
    for kind in [ShareKind::User, ShareKind::Group] {
        assert_eq!(kind.to_string().parse::<ShareKind>().unwrap(), kind);
    }
    for event in WebhookEvent::ALL {
        assert_eq!(event.to_string().parse::<WebhookEvent>().unwrap(), event);
    }
    assert_eq!("Stopped".parse::<Phase>().unwrap(), Phase::Stopped);
    let _: agenttier::Url = Client::builder("http://localhost:8080")
        .build()
        .unwrap()
        .sandbox("demo")
        .unwrap()
        .ports()
        .preview_url(8080)
        .unwrap();
}

#[tokio::test]
async fn builders_replace_positional_options() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id":"w1","url":"https://hooks.example.com/at","eventTypes":["sandbox.running"],
            "createdAt":"0001-01-01T00:00:00Z","disabled":false,"sandboxId":"demo",
            "secret":"s3cret-s3cret","warning":"Store this secret now"})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/cluster/headroom"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "replicas":3,"cpu":"1","memory":"","enabled":true})))
        .mount(&server)
        .await;
    let c = common::client(&server);
    let hook = c
        .webhooks()
        .create("https://hooks.example.com/at")
        .event(WebhookEvent::SandboxRunning)
        .sandbox("demo")
        .await
        .unwrap();
    assert_eq!(hook.id, "w1");
    let headroom = c.cluster().set_headroom(3).cpu("1").await.unwrap().unwrap();
    assert_eq!(headroom.replicas, 3);
    let sent = server.received_requests().await.unwrap();
    let body: serde_json::Value = sent[1].body_json().unwrap();
    assert_eq!(body, json!({"replicas": 3, "cpu": "1"}));
}

#[tokio::test]
async fn event_streams_need_no_extra_import() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(30))
        .start()
        .await;
    let c = client(&router);
    let sb = c
        .create_sandbox("streams")
        .template("agent-python")
        .wait_until_running_with(quick())
        .await
        .unwrap();
    sb.agent()
        .configure()
        .entrypoint(["python3", "/workspace/agent.py"])
        .await
        .unwrap();
    // `next()` is inherent: no `use futures::StreamExt`.
    let mut events = sb.agent().invoke("hi").stream().await.unwrap();
    let mut seen = 0;
    while let Some(event) = events.next().await {
        event.unwrap();
        seen += 1;
    }
    assert!(seen >= 2, "start and exit at least");
}

// 10. Namespaces -------------------------------------------------------------------------

#[tokio::test]
async fn a_name_in_several_namespaces_is_an_ambiguous_name_and_no_namespace_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/twin"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": "sandbox twin exists in multiple namespaces; specify ?namespace=<ns>"})))
        .mount(&server)
        .await;
    let err = common::client(&server)
        .get_sandbox("twin")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AmbiguousName(_)), "{err:?}");
    assert!(!err.is_not_found());
    let text = err.to_string();
    assert!(
        text.contains("rename one copy") && text.contains("terminal"),
        "{text}"
    );
    let seen = server.received_requests().await.unwrap();
    assert!(
        seen.iter().all(|r| r.url.query().is_none()),
        "no ?namespace= sent"
    );
}

// 12. The install log's exact bytes -------------------------------------------------------

#[tokio::test]
async fn install_log_reads_a_go_quoted_body_into_the_exact_bytes() {
    let server = MockServer::start().await;
    // What `fmt.Fprintf(w, `{"log": %q}`, log)` writes for ANSI colours and a stray 0xff byte.
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/configure/install-log"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"log": "Collecting x\n\x1b[32mok\x1b[0m \xff\ttab\u2028"}"#),
        )
        .mount(&server)
        .await;
    let log = common::client(&server)
        .sandbox("demo")
        .unwrap()
        .agent()
        .install_log()
        .await
        .unwrap();
    assert_eq!(
        log.as_ref(),
        b"Collecting x\n\x1b[32mok\x1b[0m \xff\ttab\xe2\x80\xa8".as_slice()
    );
}
