//! Bad input is refused before anything is sent: a typed [`Error::InvalidInput`] and no
//! request reaching the server, never a panic or an overflow.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use agenttier::auth::{ApiKey, BearerToken};
use agenttier::testing::FakeRouter;
use agenttier::user::ApiKeyRequest;
use agenttier::{
    BulkAction, CallOptions, Client, Error, ExecOptions, SandboxSpec, ShareKind, ShareLevel,
    ShareLinkOptions, WaitOptions,
};

type Case = (
    String,
    Pin<Box<dyn Future<Output = agenttier::Result<()>> + Send>>,
);

fn case<F>(name: impl Into<String>, f: F) -> Case
where
    F: Future<Output = agenttier::Result<()>> + Send + 'static,
{
    (name.into(), Box::pin(f))
}

/// Builds a sandbox handle without a request (the id is checked here, not on the server).
fn sb(client: &Client) -> agenttier::Sandbox {
    client.sandbox("demo").unwrap()
}

fn cases(c: &Client) -> Vec<Case> {
    let big = "a".repeat(10 * 1024);
    let mut v: Vec<Case> = Vec::new();
    // Sandbox names (RFC 1123 labels).
    for name in [
        "",
        "UPPER",
        "-lead",
        "trail-",
        "under_score",
        "dot.ted",
        "sp ace",
        "new\nline",
        "ünïcode",
        &"a".repeat(64),
        &big,
        "a/b",
        "..",
    ] {
        let (c, n) = (c.clone(), name.to_owned());
        v.push(case(format!("create name {:.20?}", name), async move {
            c.create_sandbox(n)
                .template("general-coding")
                .await
                .map(drop)
        }));
    }
    // Ids in one path segment.
    for id in ["a/b", "..", ".", "", " ", "x\r\ny", &big] {
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("get_sandbox {:.20?}", id), async move {
            c1.get_sandbox(&i1).await.map(drop)
        }));
    }
    for id in ["a/b", &big] {
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("template get {:.20?}", id), async move {
            c1.templates().get(&i1).await.map(drop)
        }));
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("webhook delete {:.20?}", id), async move {
            c1.webhooks().delete(&i1).await
        }));
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("api key revoke {:.20?}", id), async move {
            c1.api_keys().revoke(&i1).await.map(drop)
        }));
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("backup delete {:.20?}", id), async move {
            sb(&c1).backups().delete(&i1).await.map(drop)
        }));
        let (c1, i1) = (c.clone(), id.to_owned());
        v.push(case(format!("governance get {:.20?}", id), async move {
            c1.governance().get(&i1).await.map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("template create with a 10 KB name", async move {
        c1.templates()
            .create(&"t".repeat(10 * 1024), serde_json::json!({}))
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case(
        "template create with a spec that is not an object",
        async move {
            c1.templates()
                .create("ok", serde_json::json!([1]))
                .await
                .map(drop)
        },
    ));
    let c1 = c.clone();
    v.push(case("create with a 10 KB template", async move {
        c1.create_sandbox("ok")
            .template("t".repeat(10 * 1024))
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("create with an empty template", async move {
        c1.create_sandbox("ok").template("").await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("create with a Duration::MAX timeout", async move {
        c1.create_sandbox("ok")
            .template("t")
            .timeout(Duration::MAX)
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("create with a zero idle timeout", async move {
        c1.create_sandbox("ok")
            .template("t")
            .idle_timeout(Duration::ZERO)
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("create waiting Duration::MAX", async move {
        c1.create_sandbox("UPPER")
            .template("t")
            .wait_until_running_with(WaitOptions::default().timeout(Duration::MAX))
            .await
            .map(drop)
    }));
    // Labels and annotations over Kubernetes' limits.
    let labels: [(&str, String, String); 6] = [
        ("label key of 64 characters", "k".repeat(64), "v".into()),
        ("label value of 64 characters", "k".into(), "v".repeat(64)),
        ("label key with a space", "a b".into(), "v".into()),
        ("label value with a slash", "k".into(), "a/b".into()),
        (
            "label key with a 300-character prefix",
            format!("{}/k", "p".repeat(300)),
            "v".into(),
        ),
        ("label key that is empty", String::new(), "v".into()),
    ];
    for (name, k, val) in labels {
        let c1 = c.clone();
        v.push(case(name, async move {
            sb(&c1).update().label(k, val).send().await.map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("annotation key of 10 KB", async move {
        sb(&c1)
            .update()
            .annotation("k".repeat(10 * 1024), "v")
            .send()
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("annotations of 300 KiB in total", async move {
        let notes: BTreeMap<String, String> = (0..3)
            .map(|i| (format!("k{i}"), "v".repeat(100 * 1024)))
            .collect();
        sb(&c1).update().annotations(notes).send().await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("update with nothing set", async move {
        sb(&c1).update().send().await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("update with a zero idle timeout", async move {
        sb(&c1)
            .update()
            .idle_timeout(Duration::ZERO)
            .send()
            .await
            .map(drop)
    }));
    // Commands and exec timeouts.
    let c1 = c.clone();
    v.push(case("empty command", async move {
        sb(&c1).exec("").await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("4 MiB command", async move {
        sb(&c1).exec(&"x".repeat(4 << 20)).await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("command with NUL", async move {
        sb(&c1).exec("echo a\0b").await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("empty argv", async move {
        sb(&c1).exec_argv::<&str>(&[]).await.map(drop)
    }));
    for (name, d) in [
        ("zero", Duration::ZERO),
        ("Duration::MAX", Duration::MAX),
        ("u64::MAX s", Duration::from_secs(u64::MAX)),
    ] {
        let c1 = c.clone();
        v.push(case(format!("exec timeout {name}"), async move {
            sb(&c1)
                .exec_with("true", ExecOptions::default().timeout(d))
                .await
                .map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("exec env name with a dash", async move {
        sb(&c1)
            .exec_with("true", ExecOptions::default().env("A-B", "x"))
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("exec workdir relative", async move {
        sb(&c1)
            .exec_with("true", ExecOptions::default().workdir("rel/dir"))
            .await
            .map(drop)
    }));
    // Agent timeouts that overflow Duration arithmetic. (The waiters' own limits live in
    // src/sandbox/wait.rs, changed on another branch; they are not listed here.)
    for (name, d) in [
        ("invoke timeout Duration::MAX", Duration::MAX),
        ("invoke timeout zero", Duration::ZERO),
    ] {
        let c1 = c.clone();
        v.push(case(name, async move {
            sb(&c1)
                .agent()
                .invoke("hi")
                .timeout(d)
                .stream()
                .await
                .map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("configure with a relative file path", async move {
        sb(&c1)
            .agent()
            .configure()
            .file("rel.py", "x")
            .entrypoint(["python"])
            .send()
            .await
            .map(drop)
    }));
    // Ports and protocols.
    for port in [0u32, 70_000, u32::MAX] {
        let c1 = c.clone();
        v.push(case(format!("forward port {port}"), async move {
            sb(&c1).ports().forward(port).await.map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("forward with a 10 KB protocol", async move {
        sb(&c1)
            .ports()
            .forward_as(8080, &"h".repeat(10 * 1024))
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("forward with an empty protocol", async move {
        sb(&c1).ports().forward_as(8080, "").await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("remove port 0", async move {
        sb(&c1).ports().remove(0).await.map(drop)
    }));
    // Files.
    for path in ["relative.txt", "/work'space", "/a\nb", "", "/a\\b"] {
        let (c1, p) = (c.clone(), path.to_owned());
        v.push(case(format!("read file {p:?}"), async move {
            sb(&c1).files().read(&p).await.map(drop)
        }));
    }
    // Sharing.
    let c1 = c.clone();
    v.push(case("grant to an empty identity", async move {
        sb(&c1)
            .sharing()
            .grant("", ShareLevel::Viewer, ShareKind::User)
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("share link expiring in zero", async move {
        let opts = ShareLinkOptions {
            expires_in: Some(Duration::ZERO),
            ..Default::default()
        };
        sb(&c1).sharing().create_link(opts).await.map(drop)
    }));
    let c1 = c.clone();
    v.push(case("share link expiring in Duration::MAX", async move {
        let opts = ShareLinkOptions {
            expires_in: Some(Duration::MAX),
            ..Default::default()
        };
        sb(&c1).sharing().create_link(opts).await.map(drop)
    }));
    // Bulk, keys, webhooks.
    let c1 = c.clone();
    v.push(case("bulk action with no ids", async move {
        c1.bulk_action(BulkAction::Delete, &[] as &[&str])
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("bulk create with no items", async move {
        c1.create_sandboxes(Vec::<SandboxSpec>::new())
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("api key with an empty name", async move {
        c1.api_keys()
            .create(ApiKeyRequest::user(""))
            .await
            .map(drop)
    }));
    let c1 = c.clone();
    v.push(case("api key expiring in zero", async move {
        c1.api_keys()
            .create(ApiKeyRequest::user("k").expires_in(Duration::ZERO))
            .await
            .map(drop)
    }));
    for url in [
        "not a url",
        "ftp://example.com/hook",
        "",
        "http://exa mple.com/",
    ] {
        let (c1, u) = (c.clone(), url.to_owned());
        v.push(case(format!("webhook url {u:?}"), async move {
            c1.webhooks().create(u).send().await.map(drop)
        }));
    }
    // Per-call options.
    for id in ["two words", "", "\u{1b}[31m", &"r".repeat(300)] {
        let (c1, i) = (c.clone(), id.to_owned());
        v.push(case(format!("request id {:.12?}", id), async move {
            c1.with_options(CallOptions::new().request_id(i))
                .list_sandboxes()
                .await
                .map(drop)
        }));
    }
    let c1 = c.clone();
    v.push(case("call timeout zero", async move {
        c1.with_timeout(Duration::ZERO)
            .list_sandboxes()
            .await
            .map(drop)
    }));
    v
}

/// Client-construction inputs (no request can be sent at all; checked for a typed error).
fn build_cases(url: &str) -> Vec<(&'static str, agenttier::Result<()>)> {
    vec![
        ("empty API key", ApiKey::new("").map(drop)),
        (
            "API key with a newline",
            ApiKey::new("atk_abc\ndef").map(drop),
        ),
        ("empty bearer token", BearerToken::new("").map(drop)),
        (
            "bearer token with a control byte",
            BearerToken::new("eyJ\u{7}x").map(drop),
        ),
        (
            "URL without a scheme",
            Client::builder("localhost:8080").build().map(drop),
        ),
        (
            "URL with a query",
            Client::builder(format!("{url}/?x=1")).build().map(drop),
        ),
        (
            "URL with user:password",
            Client::builder(url.replace("http://", "http://user:pw@"))
                .build()
                .map(drop),
        ),
        (
            "URL with a fragment",
            Client::builder(format!("{url}/#frag")).build().map(drop),
        ),
        (
            "ftp URL",
            Client::builder("ftp://example.com").build().map(drop),
        ),
        ("empty URL", Client::builder("").build().map(drop)),
        (
            "zero client timeout",
            Client::builder(url)
                .timeout(Duration::ZERO)
                .build()
                .map(drop),
        ),
        (
            "application with a newline",
            Client::builder(url).application("a\nb").build().map(drop),
        ),
    ]
}

#[tokio::test]
async fn invalid_inputs_are_typed_errors_and_send_nothing() {
    let router = FakeRouter::start().await;
    let client = Client::builder(router.url()).build().unwrap();
    let cases = cases(&client);
    let total = cases.len();
    let mut not_invalid = Vec::new();
    for (name, fut) in cases {
        let before = router.requests().len();
        let outcome = tokio::spawn(tokio::time::timeout(Duration::from_secs(10), fut)).await;
        let sent = router.requests().len() - before;
        match outcome {
            Err(e) => not_invalid.push(format!("{name}: panicked: {e}")),
            Ok(Err(_)) => not_invalid.push(format!("{name}: hung (10 s)")),
            Ok(Ok(Err(Error::InvalidInput { .. }))) if sent == 0 => {}
            Ok(Ok(other)) => {
                let shown = format!("{other:?}");
                let cut: String = shown.chars().take(300).collect();
                not_invalid.push(format!("{name}: {sent} requests, {cut}"));
            }
        }
    }
    let builds = build_cases(router.url());
    let build_total = builds.len();
    for (name, outcome) in builds {
        if !matches!(outcome, Err(Error::InvalidInput { .. })) {
            not_invalid.push(format!("{name}: {outcome:?}"));
        }
    }
    let requests = router.requests().len();
    println!(
        "invalid inputs: {} ({total} calls, {build_total} client/credential builds), typed InvalidInput {}, requests reaching the server {requests}",
        total + build_total,
        total + build_total - not_invalid.len()
    );
    assert!(total + build_total >= 60);
    assert!(not_invalid.is_empty(), "{not_invalid:#?}");
    assert_eq!(requests, 0);
}

/// Durations too large to add to an instant, in a transfer's options (an upload once panicked
/// on one after two part PUTs, leaving its parts behind): an upload and a download either
/// complete or are refused before any request; nothing panics, no part or temporary is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_transfer_timeouts_neither_panic_nor_leave_parts() {
    use agenttier::TransferOptions;
    let router = FakeRouter::builder()
        .creating_delay(Duration::ZERO)
        .local_exec(true)
        .start()
        .await;
    let client = Client::builder(router.url()).build().unwrap();
    let sb = client
        .create_sandbox("big-timeouts")
        .template("general-coding")
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        router.wait_for_phase("big-timeouts", "Running"),
    )
    .await
    .expect("the sandbox runs");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("data.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    // The target exists (what an unbounded upload must not damage, a download reads).
    sb.files().upload(&local, "/workspace/t.bin").await.unwrap();
    let mut outcomes = Vec::new();
    for (name, d) in [
        ("Duration::MAX", Duration::MAX),
        ("u64::MAX s", Duration::from_secs(u64::MAX)),
    ] {
        let opts = || TransferOptions::default().part_size(64 * 1024).timeout(d);
        let before = router.requests().len();
        let up = {
            let (sb, local, opts) = (sb.clone(), local.clone(), opts());
            tokio::spawn(async move {
                sb.files()
                    .upload_with(&local, "/workspace/t.bin", opts)
                    .await
            })
        }
        .await
        .unwrap_or_else(|e| panic!("upload, timeout {name}: panicked: {e}"));
        match up {
            Ok(n) => {
                assert_eq!(n, data.len() as u64);
                let back = sb.files().read("/workspace/t.bin").await.unwrap();
                assert!(back == data, "upload, timeout {name}: content differs");
                outcomes.push(format!("upload {name}: landed whole"));
            }
            Err(Error::InvalidInput { .. }) => {
                assert_eq!(router.requests().len(), before, "upload {name}: sent");
                let back = sb.files().read("/workspace/t.bin").await.unwrap();
                assert!(back == data, "upload, timeout {name}: the target changed");
                outcomes.push(format!("upload {name}: refused, 0 requests"));
            }
            Err(e) => panic!("upload, timeout {name}: {e:?}"),
        }
        let names: Vec<String> = sb
            .files()
            .list("/workspace")
            .await
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.name)
            .filter(|n| n.contains("agenttier-"))
            .collect();
        assert!(names.is_empty(), "upload {name}: left {names:?}");

        std::fs::write(&local, b"old").unwrap();
        let before = router.requests().len();
        let down = {
            let (sb, local, opts) = (sb.clone(), local.clone(), opts());
            tokio::spawn(async move {
                sb.files()
                    .download_with("/workspace/t.bin", &local, opts)
                    .await
            })
        }
        .await
        .unwrap_or_else(|e| panic!("download, timeout {name}: panicked: {e}"));
        match down {
            Ok(_) => {
                assert!(std::fs::read(&local).unwrap() == data);
                outcomes.push(format!("download {name}: complete"));
            }
            Err(Error::InvalidInput { .. }) => {
                assert_eq!(router.requests().len(), before, "download {name}: sent");
                assert_eq!(std::fs::read(&local).unwrap(), b"old");
                outcomes.push(format!("download {name}: refused, 0 requests"));
            }
            Err(e) => panic!("download, timeout {name}: {e:?}"),
        }
        std::fs::write(&local, &data).unwrap();
        let mut temporaries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        temporaries.retain(|n| n != "data.bin");
        assert!(temporaries.is_empty(), "{temporaries:?}");
    }
    // The same durations as a client's call and attempt timeouts.
    let unbounded = Client::builder(router.url())
        .timeout(Duration::MAX)
        .attempt_timeout(Duration::from_secs(u64::MAX))
        .build()
        .unwrap();
    let listed = tokio::spawn(async move { unbounded.list_sandboxes().await.map(|l| l.len()) })
        .await
        .unwrap_or_else(|e| panic!("list with unbounded client timeouts: panicked: {e}"))
        .unwrap();
    assert_eq!(listed, 1);
    outcomes.push("list with unbounded client timeouts: ok".to_owned());
    println!("unbounded transfer timeouts: {}", outcomes.join("; "));
}
