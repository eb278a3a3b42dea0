//! End to end: the facade against the FakeRouter (loopback), through full flows, streams,
//! split uploads against the practical upload limit, and injected faults.

use std::time::{Duration, Instant};

use agenttier::auth::ApiKey;
use agenttier::testing::{FakeRouter, Fault, InvocationOutcome, Method, RouteMatch};
use agenttier::user::{ActionGroup, ApiKeyRequest};
use agenttier::{
    BulkItem, Client, Error, InvokeEvent, Phase, RetryPolicy, TransferOptions, WaitOptions,
};

fn quick() -> WaitOptions {
    WaitOptions::default()
        .max_polls_per_minute(60_000)
        .poll_burst(1_000)
        .timeout(Duration::from_secs(20))
        .initial_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(50))
}

fn client(router: &FakeRouter) -> Client {
    Client::builder(router.url())
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .read_back_window(Duration::from_millis(200)),
        )
        .build()
        .unwrap()
}

async fn fast_router() -> FakeRouter {
    FakeRouter::builder()
        .creating_delay(Duration::from_millis(150))
        .finalizer_delay(Duration::from_millis(100))
        .start()
        .await
}

#[tokio::test]
async fn full_lifecycle_create_wait_exec_stop_resume_delete() {
    let router = fast_router().await;
    let c = client(&router);
    let sb = c
        .create_sandbox("life")
        .template("general-coding")
        .await
        .unwrap();
    assert_eq!(sb.namespace(), Some("default"));
    let first = sb.status().await.unwrap();
    assert!(
        matches!(first.status.as_str(), "" | "Creating"),
        "{}",
        first.status
    );
    assert_eq!(first.phase(), Phase::Creating);
    sb.wait_until_running_with(quick()).await.unwrap();

    let out = sb.exec("echo hello").await.unwrap();
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.exit_code, 0);
    assert!(
        c.list_sandboxes()
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == "life")
    );

    // Stopping twice: the second stop is a 409 from the phase rules.
    sb.stop().await.unwrap();
    sb.wait_until_stopped_with(quick()).await.unwrap();
    assert!(matches!(sb.stop().await.unwrap_err(), Error::Conflict(_)));
    assert!(matches!(
        sb.exec("echo no").await.unwrap_err(),
        Error::Conflict(_)
    ));
    sb.resume().await.unwrap();
    sb.wait_until_running_with(quick()).await.unwrap();
    sb.delete().await.unwrap();
    // The sandbox still reads back until the finalizer ran.
    sb.wait_until_deleted_with(quick()).await.unwrap();
    assert!(c.get_sandbox("life").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn files_round_trip_and_split_upload_beyond_the_practical_limit() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(50))
        .local_exec(true)
        .start()
        .await;
    let c = client(&router);
    let sb = c
        .create_sandbox("files")
        .template("general-coding")
        .await
        .unwrap();
    sb.wait_until_running_with(quick()).await.unwrap();
    let files = sb.files();

    files
        .write("/workspace/dir/hello.txt", "hi there\n")
        .await
        .unwrap();
    assert_eq!(
        &files.read("/workspace/dir/hello.txt").await.unwrap()[..],
        b"hi there\n"
    );
    let out = sb.exec("cat /workspace/dir/hello.txt").await.unwrap();
    assert_eq!(out.stdout, "hi there\n");
    let listing = files.list("/workspace/dir").await.unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].name, "hello.txt");

    // 300 KiB is three times the Router's practical single-request limit.
    let big: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let err = files
        .write_with(
            "/workspace/big.bin",
            big.clone(),
            TransferOptions::default().chunking(false),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(500),
        "one request above the limit fails: {err:?}"
    );
    let written = files
        .write("/workspace/big.bin", big.clone())
        .await
        .unwrap();
    assert_eq!(written.bytes as usize, big.len());
    assert_eq!(
        files.read("/workspace/big.bin").await.unwrap().to_vec(),
        big
    );
    let leftovers = sb
        .exec("ls -a /workspace | grep -c agenttier-part || true")
        .await
        .unwrap();
    assert_eq!(leftovers.stdout.trim(), "0", "parts were not cleaned up");

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("up.bin");
    std::fs::write(&local, &big[..200 * 1024]).unwrap();
    assert_eq!(
        files.upload(&local, "/workspace/up.bin").await.unwrap(),
        200 * 1024
    );
    let back = dir.path().join("down.bin");
    assert_eq!(
        files.download("/workspace/up.bin", &back).await.unwrap(),
        200 * 1024
    );
    assert_eq!(std::fs::read(&back).unwrap(), &big[..200 * 1024]);

    let zip = dir.path().join("ws.zip");
    let n = files.archive("/workspace", &zip).await.unwrap();
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(n as usize, bytes.len());
    assert_eq!(&bytes[..2], b"PK");
}

async fn agent_sandbox(router: &FakeRouter, name: &str, script: &str) -> agenttier::Sandbox {
    let c = client(router);
    let sb = c
        .create_sandbox(name)
        .template("agent-python")
        .await
        .unwrap();
    sb.wait_until_running_with(quick()).await.unwrap();
    sb.agent()
        .configure()
        .file("/workspace/agent.sh", script.to_owned())
        .entrypoint(["sh", "/workspace/agent.sh"])
        .send()
        .await
        .unwrap();
    sb
}

#[tokio::test]
async fn agent_configure_then_invoke_collects_output() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(50))
        .local_exec(true)
        .start()
        .await;
    let sb = agent_sandbox(
        &router,
        "agent",
        "read line\necho \"got $line\"\necho oops >&2\n",
    )
    .await;
    let out = sb.agent().invoke("hello\n").collect().await.unwrap();
    assert_eq!(out.stdout, "got hello");
    assert_eq!(out.stderr, "oops");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.reason, "completed");
    assert!(out.invoke_id.starts_with("inv-"));
}

#[tokio::test]
async fn dropping_an_invoke_stream_cancels_the_invocation() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(50))
        .keepalive_interval(Duration::from_millis(50))
        .local_exec(true)
        .start()
        .await;
    let sb = agent_sandbox(&router, "slow", "echo started\nsleep 30\necho never\n").await;
    let mut events = sb.agent().invoke("").stream().await.unwrap();
    let mut saw_log = false;
    while let Some(ev) = events.next().await {
        if let InvokeEvent::Log(l) = ev.unwrap() {
            assert_eq!(l.data, "started");
            saw_log = true;
            break;
        }
    }
    assert!(saw_log);
    drop(events);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let inv = router.invocations();
        if inv
            .iter()
            .any(|i| i.outcome == InvocationOutcome::Canceled && i.client_disconnected)
        {
            break;
        }
        assert!(Instant::now() < deadline, "not canceled: {inv:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn invoke_without_entrypoint_is_failed_dependency() {
    let router = fast_router().await;
    let c = client(&router);
    let sb = c
        .create_sandbox("noentry")
        .template("agent-python")
        .await
        .unwrap();
    sb.wait_until_running_with(quick()).await.unwrap();
    // A configure without an entrypoint clears it (openapi.yaml, `configureAgent`).
    sb.agent()
        .configure()
        .file("/workspace/x.txt", "x")
        .send()
        .await
        .unwrap();
    let err = sb.agent().invoke("x").collect().await.unwrap_err();
    assert!(matches!(err, Error::FailedDependency(_)), "{err:?}");
}

#[tokio::test]
async fn injected_503s_are_retried_and_the_call_succeeds() {
    let router = fast_router().await;
    let c = client(&router);
    c.create_sandbox("flaky")
        .template("general-coding")
        .await
        .unwrap();
    router.clear_requests();
    router.fail_next(
        2,
        RouteMatch::new(Method::GET, "/api/v1/sandboxes/flaky"),
        Fault::status(503, "upstream busy"),
    );
    c.get_sandbox("flaky").await.unwrap();
    let gets = router
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/sandboxes/flaky")
        .count();
    assert_eq!(gets, 3);
}

#[tokio::test]
async fn a_reset_connection_on_get_is_retried() {
    let router = fast_router().await;
    let c = client(&router);
    c.create_sandbox("reset")
        .template("general-coding")
        .await
        .unwrap();
    router.fail_next(
        1,
        RouteMatch::new(Method::GET, "/api/v1/sandboxes/reset"),
        Fault::Reset,
    );
    c.get_sandbox("reset").await.unwrap();
}

#[tokio::test]
async fn a_reset_during_create_is_resolved_without_a_duplicate() {
    let router = fast_router().await;
    let c = client(&router);
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes"),
        Fault::Reset,
    );
    let sb = c
        .create_sandbox("once")
        .template("general-coding")
        .await
        .unwrap();
    assert_eq!(sb.id(), "once");
    let reqs = router.requests();
    let posts: Vec<usize> = reqs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == Method::POST && r.path == "/api/v1/sandboxes")
        .map(|(i, _)| i)
        .collect();
    let lookups: Vec<usize> = reqs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == Method::GET && r.path == "/api/v1/sandboxes/once")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "sent again once the read-back found nothing"
    );
    assert!(
        !lookups.is_empty() && lookups.iter().all(|i| *i > posts[0] && *i < posts[1]),
        "looked up by name between the two creates: {reqs:?}"
    );
    assert_eq!(c.list_sandboxes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn injected_429_with_retry_after_is_waited_for() {
    let router = fast_router().await;
    let c = client(&router);
    router.fail_next(
        1,
        RouteMatch::new(Method::GET, "/api/v1/sandboxes"),
        Fault::status(429, r#"{"error":"rate_limited","retryAfter":1,"message":"too many requests; retry after 1 seconds"}"#)
            .with_header("Retry-After", "1")
            .with_header("Content-Type", "application/json"),
    );
    let started = Instant::now();
    c.list_sandboxes().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn api_key_mode_text_plain_401_and_scoped_keys() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(50))
        .api_key("atk_owner")
        .start()
        .await;
    let anonymous = Client::builder(router.url()).build().unwrap();
    let err = anonymous.list_sandboxes().await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert_eq!(err.status(), Some(401));

    let owner = Client::builder(router.url())
        .auth(ApiKey::new("atk_owner").unwrap())
        .build()
        .unwrap();
    let sb = owner
        .create_sandbox("mine")
        .template("general-coding")
        .await
        .unwrap();
    sb.wait_until_running_with(quick()).await.unwrap();
    owner
        .create_sandbox("other")
        .template("general-coding")
        .await
        .unwrap();
    let minted = owner
        .api_keys()
        .create(ApiKeyRequest::sandbox_scoped(
            "ci",
            "mine",
            &[ActionGroup::RunCommand],
        ))
        .await
        .unwrap();
    assert!(!format!("{minted:?}").contains(minted.key.expose()));
    let scoped = Client::builder(router.url())
        .auth(ApiKey::new(minted.key.expose()).unwrap())
        .build()
        .unwrap();
    let out = scoped
        .sandbox("mine")
        .unwrap()
        .exec("echo scoped")
        .await
        .unwrap();
    assert_eq!(out.stdout, "scoped\n");
    let err = scoped
        .sandbox("other")
        .unwrap()
        .exec("echo no")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authorization(_)), "{err:?}");
    let err = scoped.get_sandbox("mine").await.unwrap_err();
    assert!(matches!(err, Error::Authorization(_)), "{err:?}");
}

#[tokio::test]
async fn bulk_create_over_100_items_is_split_and_all_are_created() {
    let router = fast_router().await;
    let c = client(&router);
    let items: Vec<BulkItem> = (0..150)
        .map(|i| BulkItem::new(format!("w-{i}")).template("general-coding"))
        .collect();
    let results = c.create_sandboxes(items).await.unwrap();
    assert_eq!(results.len(), 150);
    assert!(results.iter().all(|r| r.is_created()));
    assert_eq!(results[149].index, 149);
    let posts = router
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/sandboxes/bulk")
        .count();
    assert_eq!(posts, 2);
    assert_eq!(c.list_sandboxes().await.unwrap().len(), 150);
}
