//! Contract tests for files, agent mode (SSE) and webhooks against wiremock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenttier::webhooks::WebhookEvent;
use agenttier::{Client, ConfigureEvent, Error, InvokeEvent, TransferOptions};
use futures::StreamExt;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod common;
use common::client;

async fn raw_paths(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn sse(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_raw(body.as_bytes().to_vec(), "text/event-stream")
}

#[tokio::test]
async fn list_route_keeps_its_trailing_slash_and_sends_path_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/files/"))
        .and(query_param("path", "/workspace/src"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "path":"/workspace/src",
            "entries":[{"name":"main.py","size":12,"isDir":false,"mode":"-rw-r--r--","modifiedAt":1721234567}]})))
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let list = sb.files().list("/workspace//src/").await.unwrap();
    assert_eq!(list.entries[0].name, "main.py");
    assert_eq!(list.entries[0].modified_at, 1721234567);
}

#[tokio::test]
async fn file_paths_drop_the_leading_slash_and_encode_each_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"hi".to_vec()))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let data = sb.files().read("/workspace/my dir/a#1?.txt").await.unwrap();
    assert_eq!(&data[..], b"hi");
    sb.files().read("/workspace/caf\u{e9}.txt").await.unwrap();
    let paths = raw_paths(&server).await;
    assert_eq!(
        paths[0],
        "GET /api/v1/sandboxes/demo/files/workspace/my%20dir/a%231%3F.txt"
    );
    assert_eq!(
        paths[1],
        "GET /api/v1/sandboxes/demo/files/workspace/caf%C3%A9.txt"
    );
    assert!(paths.iter().all(|p| !p.contains("//")));
}

#[tokio::test]
async fn disallowed_paths_and_oversized_writes_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let sb = client(&server).sandbox("demo").unwrap();
    let f = sb.files();
    for bad in [
        "relative.txt",
        "/workspace/../etc/passwd",
        "/w/it's",
        "/w/a\\b",
        "/w/a`b",
        "/w/a\nb",
        "/w/a\rb",
        "/w/a\0b",
    ] {
        let err = f.read(bad).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let big = bytes::Bytes::from(vec![0u8; 32 * 1024 * 1024 + 1]);
    assert!(matches!(
        f.write_with(
            "/workspace/big",
            big,
            TransferOptions::default().chunking(false)
        )
        .await
        .unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(matches!(
        f.archive("/etc", std::env::temp_dir().join("x.zip"))
            .await
            .unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn small_write_is_one_octet_stream_put() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/sandboxes/demo/files/workspace/a.txt"))
        .and(header("content-type", "application/octet-stream"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"path":"/workspace/a.txt","bytes":5})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let r = sb.files().write("/workspace/a.txt", "hello").await.unwrap();
    assert_eq!(r.bytes, 5);
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(req.body, b"hello");
}

/// Answers the join command with the byte count of everything PUT so far.
struct JoinResponder {
    written: Arc<Mutex<u64>>,
    exit_code: i32,
}

impl Respond for JoinResponder {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = *self.written.lock().unwrap();
        ResponseTemplate::new(200).set_body_json(
            json!({"stdout": format!("{n}\n"), "stderr": "", "exitCode": self.exit_code}),
        )
    }
}

struct PutCounter {
    written: Arc<Mutex<u64>>,
}

impl Respond for PutCounter {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        *self.written.lock().unwrap() += req.body.len() as u64;
        ResponseTemplate::new(201)
            .set_body_json(json!({"path": req.url.path(), "bytes": req.body.len()}))
    }
}

#[tokio::test]
async fn large_upload_is_split_into_parts_joined_in_the_sandbox_and_size_checked() {
    let server = MockServer::start().await;
    let written = Arc::new(Mutex::new(0));
    Mock::given(method("PUT"))
        .respond_with(PutCounter {
            written: written.clone(),
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/exec"))
        .respond_with(JoinResponder {
            written: written.clone(),
            exit_code: 0,
        })
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("data.bin");
    let data: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let opts = TransferOptions::default().progress(move |p| seen2.lock().unwrap().push(p.done));
    let sb = client(&server).sandbox("demo").unwrap();
    let n = sb
        .files()
        .upload_with(&local, "/workspace/data.bin", opts)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    let reqs = server.received_requests().await.unwrap();
    let mut puts: Vec<&Request> = reqs.iter().filter(|r| r.method.as_str() == "PUT").collect();
    assert_eq!(puts.len(), 3, "200 KiB in 88 KiB parts");
    assert!(puts.iter().all(|r| r.body.len() <= 88 * 1024));
    // Parts go up several at once: their names give the order.
    puts.sort_by_key(|r| r.url.path().to_owned());
    assert!(
        puts[0]
            .url
            .path()
            .starts_with("/api/v1/sandboxes/demo/files/workspace/.data.bin.agenttier-")
    );
    let joined: Vec<u8> = puts.iter().flat_map(|r| r.body.clone()).collect();
    assert_eq!(joined, data);
    let exec = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let cmd: serde_json::Value = serde_json::from_slice(&exec.body).unwrap();
    let cmd = cmd["command"].as_str().unwrap();
    assert!(cmd.contains("cat /workspace/.data.bin.agenttier-"), "{cmd}");
    assert!(
        cmd.contains("mv -f /workspace/.data.bin.agenttier-")
            && cmd.contains(".join /workspace/data.bin")
            && !cmd.contains("> /workspace/data.bin")
            && cmd.contains("rm -f")
            && cmd.contains("wc -c"),
        "{cmd}"
    );
    assert_eq!(*seen.lock().unwrap().last().unwrap(), data.len() as u64);
}

#[tokio::test]
async fn failed_split_upload_removes_its_parts() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"path":"/x","bytes":1})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error":"write failed: sh: argument list too long"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"stdout":"","stderr":"","exitCode":0})),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let err = sb
        .files()
        .write("/workspace/big.bin", vec![7u8; 150 * 1024])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    let reqs = server.received_requests().await.unwrap();
    let exec = reqs
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .expect("cleanup exec");
    let cmd: serde_json::Value = serde_json::from_slice(&exec.body).unwrap();
    assert!(
        cmd["command"]
            .as_str()
            .unwrap()
            .starts_with("rm -f /workspace/.big.bin.agenttier-")
    );
}

#[tokio::test]
async fn join_with_wrong_size_is_an_upload_error() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"path":"/x","bytes":1})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"stdout":"12\n","stderr":"","exitCode":1})),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let err = sb
        .files()
        .write("/workspace/big.bin", vec![7u8; 100 * 1024])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UploadFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn chunking_can_be_turned_off() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"path":"/workspace/b","bytes":102400})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    sb.files()
        .write_with(
            "/workspace/b",
            vec![1u8; 100 * 1024],
            TransferOptions::default().chunking(false),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn download_streams_to_disk_with_progress() {
    let server = MockServer::start().await;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/files/workspace/out.bin"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(content.clone(), "application/octet-stream"),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("out.bin");
    let calls = Arc::new(Mutex::new(0));
    let c2 = calls.clone();
    let sb = client(&server).sandbox("demo").unwrap();
    let n = sb
        .files()
        .download_with(
            "/workspace/out.bin",
            &local,
            TransferOptions::default().progress(move |_| *c2.lock().unwrap() += 1),
        )
        .await
        .unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(std::fs::read(&local).unwrap(), content);
    assert!(*calls.lock().unwrap() >= 1);
}

#[tokio::test]
async fn download_of_a_missing_file_is_not_found_and_413_is_payload_too_large() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/files/workspace/missing"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error":"file not found: /workspace/missing"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/files/workspace/huge"))
        .respond_with(
            ResponseTemplate::new(413)
                .set_body_json(json!({"error":"file is 40000000 bytes, max 33554432"})),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = sb
        .files()
        .download("/workspace/missing", dir.path().join("m"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = sb.files().read("/workspace/huge").await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge(_)), "{err:?}");
}

#[tokio::test]
async fn archive_streams_the_zip_and_counts_bytes() {
    let server = MockServer::start().await;
    let zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/archive"))
        .and(query_param("path", "/workspace/src"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(zip.clone(), "application/zip"))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("src.zip");
    let sb = client(&server).sandbox("demo").unwrap();
    assert_eq!(
        sb.files().archive("/workspace/src", &local).await.unwrap(),
        zip.len() as u64
    );
    assert_eq!(std::fs::read(&local).unwrap(), zip);
}

const INVOKE_STREAM: &str = "event: start\ndata: {\"invokeId\":\"inv-0123456789abcdef01234567\",\"startedAt\":1721234567000}\n\n\
event: log\ndata: {\"data\":\"hello\",\"stream\":\"stdout\"}\n\n\
: keepalive\n\n\
event: log\ndata: {\"data\":\"warn\",\"stream\":\"stderr\"}\n\n\
event: log\ndata: {\"data\":\"\",\"stream\":\"stdout\"}\n\n\
event: exit\ndata: {\"invokeId\":\"inv-0123456789abcdef01234567\",\"exitCode\":0,\"durationMs\":1234,\"reason\":\"completed\"}\n\n";

#[tokio::test]
async fn invoke_streams_typed_events_and_skips_keepalives() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/invoke"))
        .and(header("accept", "text/event-stream"))
        .and(query_param("prompt", "be brief"))
        .and(query_param("timeout", "1m30s"))
        .respond_with(sse(INVOKE_STREAM))
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let events: Vec<InvokeEvent> = sb
        .agent()
        .invoke("payload")
        .prompt("be brief")
        .timeout(Duration::from_secs(90))
        .stream()
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert_eq!(events.len(), 5);
    assert!(matches!(&events[0], InvokeEvent::Start(s) if s.started_at == 1721234567000));
    assert!(matches!(&events[4], InvokeEvent::Exit(e) if e.duration_ms == 1234));
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(req.body, b"payload");
    assert_eq!(
        req.headers.get("content-type").unwrap(),
        "application/octet-stream"
    );
}

#[tokio::test]
async fn invoke_collect_gathers_stdout_stderr_exit_and_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(INVOKE_STREAM))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let out = sb.agent().invoke(Vec::<u8>::new()).collect().await.unwrap();
    assert_eq!(out.invoke_id, "inv-0123456789abcdef01234567");
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "warn");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.duration, Duration::from_millis(1234));
    assert_eq!(out.reason, "completed");
    assert!(out.success());
}

#[tokio::test]
async fn invoke_stream_cut_mid_event_is_an_error_and_missing_exit_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(query_param("prompt", "cut"))
        .respond_with(sse("event: start\ndata: {\"invokeId\":\"inv-1\",\"startedAt\":1}\n\nevent: exit\ndata: {\"invokeId\":\"in"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(query_param("prompt", "noexit"))
        .respond_with(sse(
            "event: start\ndata: {\"invokeId\":\"inv-1\",\"startedAt\":1}\n\n",
        ))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let err = sb
        .agent()
        .invoke("")
        .prompt("cut")
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Agent { .. }), "{err:?}");
    let err = sb
        .agent()
        .invoke("")
        .prompt("noexit")
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without an exit event"), "{err}");
}

#[tokio::test]
async fn invoke_424_is_typed_and_a_concurrency_429_past_the_retry_after_limit_is_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/noentry/invoke"))
        .respond_with(ResponseTemplate::new(424).set_body_json(json!({
            "error":"sandbox noentry has no entrypoint — call POST /configure first to set one"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/busy/invoke"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "5").set_body_json(json!({
            "error":"concurrency_exceeded","limit":2,"inflight":2,"message":"sandbox busy already has 2 concurrent invokes (max 2)"})))
        .mount(&server)
        .await;
    // Retry-After 5 s is longer than this policy waits, so the 429 is returned at once.
    let c = Client::builder(server.uri())
        .retry(common::fast_retries().max_retry_after(Duration::from_secs(1)))
        .build()
        .unwrap();
    let err = c
        .sandbox("noentry")
        .unwrap()
        .agent()
        .invoke("x")
        .stream()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedDependency(_)), "{err:?}");
    let err = c
        .sandbox("busy")
        .unwrap()
        .agent()
        .invoke("x")
        .stream()
        .await
        .unwrap_err();
    match &err {
        Error::ConcurrencyExceeded {
            limit, inflight, ..
        } => assert_eq!((*limit, *inflight), (2, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_json_answer_where_a_stream_was_expected_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok":true})))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let err = sb.agent().invoke("x").stream().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn configure_sends_files_install_and_entrypoint_and_returns_the_result() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/configure"))
        .and(header("accept", "text/event-stream"))
        .and(body_json(json!({
            "files":[{"path":"/workspace/agent.py","content":"print(1)\n"},{"path":"/workspace/blob","contentBase64":"/wA="}],
            "installCommand":["pip","install","-r","/workspace/requirements.txt"],
            "entrypoint":["python3","/workspace/agent.py"]})))
        .respond_with(sse(
            "event: log\ndata: {\"data\":\"[configure] uploading /workspace/agent.py\",\"stream\":\"stdout\"}\n\n\
             event: result\ndata: {\"lastConfiguredAt\":\"2026-07-21T04:16:07Z\",\"installCommandHash\":\"ab\",\"entrypoint\":[\"python3\",\"/workspace/agent.py\"],\"installExitCode\":0,\"skipped\":false}\n\n",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let mut logs = Vec::new();
    let result = sb
        .agent()
        .configure()
        .file("/workspace/agent.py", "print(1)\n")
        .file("/workspace/blob", vec![0xffu8, 0x00])
        .install_command(["pip", "install", "-r", "/workspace/requirements.txt"])
        .entrypoint(["python3", "/workspace/agent.py"])
        .send_logging(|l| logs.push(l.data.clone()))
        .await
        .unwrap();
    assert_eq!(result.install_exit_code, 0);
    assert_eq!(logs, vec!["[configure] uploading /workspace/agent.py"]);
}

#[tokio::test]
async fn configure_error_event_missing_result_and_failed_install_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/err/configure"))
        .respond_with(sse("event: error\ndata: {\"phase\":\"install\",\"message\":\"install timed out after 15m0s\"}\n\n"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/short/configure"))
        .respond_with(sse(
            "event: log\ndata: {\"data\":\"x\",\"stream\":\"stdout\"}\n\n",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/fail/configure"))
        .respond_with(sse("event: result\ndata: {\"lastConfiguredAt\":\"2026-07-21T04:16:07Z\",\"installCommandHash\":\"ab\",\"installExitCode\":2,\"skipped\":false}\n\n"))
        .mount(&server)
        .await;
    let c = client(&server);
    let run = |id: &'static str| {
        let c = c.clone();
        async move {
            c.sandbox(id)
                .unwrap()
                .agent()
                .configure()
                .entrypoint(["x"])
                .send()
                .await
                .unwrap_err()
        }
    };
    match run("err").await {
        Error::Agent { phase, message, .. } => {
            assert_eq!(phase.as_deref(), Some("install"));
            assert!(message.contains("timed out"));
        }
        other => panic!("{other:?}"),
    }
    assert!(run("short").await.to_string().contains("without a result"));
    assert!(run("fail").await.to_string().contains("exited with code 2"));
    // The raw stream still shows the failed result as an event.
    let mut s = c
        .sandbox("fail")
        .unwrap()
        .agent()
        .configure()
        .entrypoint(["x"])
        .stream()
        .await
        .unwrap();
    assert!(
        matches!(s.next().await.unwrap().unwrap(), ConfigureEvent::Result(r) if r.install_exit_code == 2)
    );
}

#[tokio::test]
async fn configure_needs_something_to_do() {
    let server = MockServer::start().await;
    let sb = client(&server).sandbox("demo").unwrap();
    assert!(matches!(
        sb.agent().configure().send().await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn install_log_with_go_quoted_escapes_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/configure/install-log"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            br#"{"log":"\x1b[32mSuccessfully installed\x1b[0m requests\n"}"#.to_vec(),
            "application/json",
        ))
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    let log = sb.agent().install_log().await.unwrap();
    assert_eq!(log, "\u{1b}[32mSuccessfully installed\u{1b}[0m requests\n");
}

#[tokio::test]
async fn cancel_posts_the_invoke_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/invoke/cancel"))
        .and(body_json(json!({"invokeId":"inv-abc"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("demo").unwrap();
    sb.agent().cancel("inv-abc").await.unwrap();
    assert!(matches!(
        sb.agent().cancel("").await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

#[tokio::test]
async fn webhook_create_validates_and_sends_the_vocabulary() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .and(body_json(json!({"url":"https://hooks.example.com/at","eventTypes":["sandbox.running","agent.invoke.failed"],"sandboxId":"demo"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id":"0123456789abcdef0123456789abcdef","url":"https://hooks.example.com/at",
            "eventTypes":["sandbox.running","agent.invoke.failed"],"createdAt":"0001-01-01T00:00:00Z","disabled":false,
            "sandboxId":"demo","secret":"c2VjcmV0LXNob3duLW9uY2UtYW5kLW5ldmVyLWFnYWlu","warning":"Store this secret now — it is shown only once."})))
        .expect(1)
        .mount(&server)
        .await;
    let hooks = client(&server).webhooks();
    let created = hooks
        .create("https://hooks.example.com/at")
        .events([
            WebhookEvent::SandboxRunning,
            WebhookEvent::AgentInvokeFailed,
        ])
        .sandbox("demo")
        .await
        .unwrap();
    // The create response's createdAt is the zero time (openapi.yaml, `createWebhook`).
    assert_eq!(created.created_at, "0001-01-01T00:00:00Z");
    assert!(
        !format!("{created:?}").contains("c2VjcmV0"),
        "secret leaked in Debug"
    );
    assert_eq!(
        created.secret.expose(),
        "c2VjcmV0LXNob3duLW9uY2UtYW5kLW5ldmVyLWFnYWlu"
    );
    for (url, events) in [
        (
            "http://hooks.example.com/at",
            vec![WebhookEvent::SandboxRunning],
        ),
        ("https://hooks.example.com/at", vec![]),
        (
            "https://hooks.example.com/at",
            vec![WebhookEvent::Unknown("sandbox.exploded".into())],
        ),
    ] {
        let err = hooks
            .create(url)
            .events(events)
            .sandbox("demo")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }
}

#[tokio::test]
async fn webhook_list_delete_and_deliveries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"webhooks":[{
            "id":"w1","url":"https://h.example.com/","eventTypes":["sandbox.running","x.future"],
            "createdAt":"2026-07-21T04:16:07.123456789Z","disabled":false}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/webhooks/w1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/v1/webhooks/w1/deliveries$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"deliveries":[
            {"eventType":"sandbox.running","timestamp":"2026-07-21T04:16:08Z","statusCode":200,"attempt":1,"success":true},
            {"eventType":"sandbox.running","timestamp":"2026-07-21T04:16:09Z","attempt":2,"success":false}]})))
        .mount(&server)
        .await;
    let hooks = client(&server).webhooks();
    let list = hooks.list().await.unwrap();
    assert_eq!(
        list[0].events(),
        vec![
            WebhookEvent::SandboxRunning,
            WebhookEvent::Unknown("x.future".into())
        ]
    );
    hooks.delete("w1").await.unwrap();
    let d = hooks.deliveries("w1").await.unwrap();
    assert_eq!(d[0].status_code, Some(200));
    assert_eq!(d[1].status_code, None);
}

#[tokio::test]
async fn sandbox_ids_are_encoded_as_one_segment_on_hand_built_routes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(br#"{"log":"x"}"#.to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("odd#id?x").unwrap();
    sb.agent().install_log().await.unwrap();
    sb.files().read("/workspace/a").await.unwrap();
    let paths = raw_paths(&server).await;
    assert_eq!(
        paths[0],
        "GET /api/v1/sandboxes/odd%23id%3Fx/configure/install-log"
    );
    assert_eq!(
        paths[1],
        "GET /api/v1/sandboxes/odd%23id%3Fx/files/workspace/a"
    );
}
