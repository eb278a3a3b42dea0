//! Uploads and downloads under faults: parts, the atomic join, atomic local files, the size
//! cap, option validation and progress. Loopback only; nothing here depends on how fast the
//! machine is (faults are injected by count, never by timing).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenttier::testing::{FakeRouter, Fault, Method, RouteMatch};
use agenttier::{
    Client, DEFAULT_PART_SIZE, Error, MAX_FILE_BYTES, MAX_PART_SIZE, Progress, RetryPolicy,
    Sandbox, TransferOptions, WaitOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(url: &str) -> Client {
    Client::builder(url)
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(20))
                .read_back_window(Duration::from_millis(100)),
        )
        .build()
        .unwrap()
}

/// A FakeRouter running real `sh` and one Running sandbox in it.
async fn running() -> (FakeRouter, Sandbox) {
    start(true).await
}

/// A FakeRouter as users start it (no local exec: the emulator interprets commands itself)
/// and one Running sandbox in it.
async fn scripted() -> (FakeRouter, Sandbox) {
    start(false).await
}

async fn start(local_exec: bool) -> (FakeRouter, Sandbox) {
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(10))
        .local_exec(local_exec)
        .start()
        .await;
    let sb = client(router.url())
        .create_sandbox("xfer")
        .template("general-coding")
        .await
        .unwrap();
    sb.wait_until_running_with(
        WaitOptions::default()
            .max_polls_per_minute(60_000)
            .poll_burst(1_000)
            .timeout(Duration::from_secs(30))
            .initial_interval(Duration::from_millis(10))
            .max_interval(Duration::from_millis(20)),
    )
    .await
    .unwrap();
    (router, sb)
}

/// Deterministic bytes, different for each `seed`.
fn content(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Names in `/workspace` left by the transfer machinery (parts, join files).
async fn leftovers(sb: &Sandbox) -> Vec<String> {
    sb.files()
        .list("/workspace")
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.contains("agenttier-"))
        .collect()
}

fn part_puts() -> RouteMatch {
    RouteMatch::prefix(
        Method::PUT,
        "/api/v1/sandboxes/xfer/files/workspace/.t.bin.agenttier-",
    )
}

fn execs() -> RouteMatch {
    RouteMatch::new(Method::POST, "/api/v1/sandboxes/xfer/exec")
}

/// Records every progress report.
fn recorder() -> (TransferOptions, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let opts = TransferOptions::default().progress(move |p| s.lock().unwrap().push(p));
    (opts, seen)
}

fn assert_monotonic(seen: &[Progress]) {
    assert!(!seen.is_empty(), "no progress report");
    assert!(
        seen.windows(2).all(|w| w[0].done <= w[1].done),
        "not monotonic: {seen:?}"
    );
}

#[tokio::test]
async fn upload_goes_up_in_parts_of_the_default_size_and_reads_back_whole() {
    let (router, sb) = running().await;
    let data = content(1024 * 1024 + 17, 1);
    router.clear_requests();
    sb.files()
        .write("/workspace/t.bin", data.clone())
        .await
        .unwrap();
    let puts: Vec<_> = router
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .collect();
    assert_eq!(puts.len(), data.len().div_ceil(DEFAULT_PART_SIZE));
    assert!(puts.iter().all(|r| r.body.len() <= DEFAULT_PART_SIZE));
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &data[..]
    );
    assert!(leftovers(&sb).await.is_empty());
}

#[tokio::test]
async fn one_part_at_a_time_sends_the_parts_in_order() {
    let (router, sb) = running().await;
    let data = content(5 * MAX_PART_SIZE + 3, 2);
    router.clear_requests();
    let opts = TransferOptions::default()
        .part_size(MAX_PART_SIZE)
        .concurrency(1);
    sb.files()
        .write_with("/workspace/t.bin", data.clone(), opts)
        .await
        .unwrap();
    let paths: Vec<String> = router
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .map(|r| r.path)
        .collect();
    assert_eq!(paths.len(), 6);
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &data[..]
    );
}

#[tokio::test]
async fn upload_from_a_file_streams_it_and_lands_whole() {
    let (_router, sb) = running().await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.bin");
    let data = content(3 * 1024 * 1024 + 5, 3);
    std::fs::write(&local, &data).unwrap();
    let (opts, seen) = recorder();
    let n = sb
        .files()
        .upload_with(&local, "/workspace/t.bin", opts)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &data[..]
    );
    let seen = seen.lock().unwrap();
    assert_monotonic(&seen);
    assert_eq!(seen.last().unwrap().done, data.len() as u64);
}

#[tokio::test]
async fn part_size_and_concurrency_out_of_range_are_invalid_input_with_no_request() {
    let router = FakeRouter::builder().start().await;
    let sb = client(router.url()).sandbox("xfer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.bin");
    std::fs::write(&local, content(300 * 1024, 4)).unwrap();
    router.clear_requests();
    for opts in [
        TransferOptions::default().part_size(0),
        TransferOptions::default().part_size(MAX_PART_SIZE + 1),
        TransferOptions::default().part_size(usize::MAX),
        TransferOptions::default().concurrency(0),
        TransferOptions::default().concurrency(usize::MAX),
    ] {
        let err = sb
            .files()
            .write_with("/workspace/t.bin", vec![1u8; 2048], opts.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        let err = sb
            .files()
            .upload_with(&local, "/workspace/t.bin", opts)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert!(router.requests().is_empty(), "a request was sent");
}

/// The stages an upload can be cut at, as faults armed on the FakeRouter.
async fn arm(router: &FakeRouter, stage: &str, nth: usize) {
    match stage {
        // The nth part fails (after `nth` parts went through).
        "part" => {
            if nth > 0 {
                router.fail_next(nth, part_puts(), Fault::Delay(Duration::ZERO));
            }
            router.fail_next(
                10,
                part_puts(),
                Fault::status(500, r#"{"error":"write failed: disk full"}"#),
            );
        }
        // The nth part is written, then the connection drops before the answer.
        "part-after" => {
            if nth > 0 {
                router.fail_next(nth, part_puts(), Fault::Delay(Duration::ZERO));
            }
            router.fail_next(1, part_puts(), Fault::ResetAfter);
        }
        // The join is refused before it runs.
        "join-before" => router.fail_next(1, execs(), Fault::Reset),
        // The join fails with an answer.
        "join-500" => {
            router.fail_next(1, execs(), Fault::status(500, r#"{"error":"exec failed"}"#))
        }
        // The join runs to its end; its answer is lost.
        "join-after" => router.fail_next(1, execs(), Fault::ResetAfter),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn upload_cut_at_any_stage_leaves_the_old_content_or_the_new_one_and_no_parts() {
    let (router, sb) = running().await;
    let old = content(10_000, 5);
    let new = content(4 * MAX_PART_SIZE + 99, 6);
    let parts = new.len().div_ceil(MAX_PART_SIZE);
    let mut cases = Vec::new();
    for nth in 0..parts {
        cases.push(("part", nth));
        cases.push(("part-after", nth));
    }
    for stage in ["join-before", "join-500", "join-after"] {
        cases.push((stage, 0));
    }
    for (stage, nth) in cases {
        for concurrency in [1, 4] {
            sb.files()
                .write("/workspace/t.bin", old.clone())
                .await
                .unwrap();
            arm(&router, stage, nth).await;
            let (opts, seen) = recorder();
            let opts = opts.part_size(MAX_PART_SIZE).concurrency(concurrency);
            let result = sb
                .files()
                .write_with("/workspace/t.bin", new.clone(), opts)
                .await;
            router.clear_faults();
            let now = sb.files().read("/workspace/t.bin").await.unwrap();
            let case = format!("{stage} #{nth} ×{concurrency}: {result:?}");
            match &result {
                Ok(_) => assert_eq!(&now[..], &new[..], "{case}"),
                Err(_) => assert!(now[..] == old[..] || now[..] == new[..], "{case}"),
            }
            if stage == "part" || stage == "join-500" || stage == "join-before" {
                assert!(result.is_err(), "{case}");
                assert_eq!(&now[..], &old[..], "{case}");
            }
            assert!(
                leftovers(&sb).await.is_empty(),
                "{case}: {:?}",
                leftovers(&sb).await
            );
            let seen = seen.lock().unwrap();
            assert_monotonic(&seen);
            if result.is_ok() {
                assert_eq!(seen.last().unwrap().done, new.len() as u64, "{case}");
            }
        }
    }
}

#[tokio::test]
async fn a_late_join_after_the_cleanup_cannot_touch_the_target() {
    let (router, sb) = running().await;
    let out = late_join_keeps_the_target(&router, &sb, 7).await;
    assert!(!out.success(), "{out:?}");
}

/// An upload whose join is refused (the client then removes the parts), then its join command
/// run again, as a late one would arrive: the target keeps its old content and no part is
/// left. Returns what the late join answered.
async fn late_join_keeps_the_target(
    router: &FakeRouter,
    sb: &Sandbox,
    seed: u32,
) -> agenttier::ExecOutput {
    let old = content(10_000, seed);
    sb.files()
        .write("/workspace/t.bin", old.clone())
        .await
        .unwrap();
    // The join is refused; the client removes the parts.
    router.fail_next(1, execs(), Fault::status(500, r#"{"error":"exec failed"}"#));
    router.clear_requests();
    let err = sb
        .files()
        .write("/workspace/t.bin", content(300 * 1024, seed + 1))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    // The join arrives now, after the cleanup, as a late one would.
    let join = router
        .requests()
        .into_iter()
        .find(|r| r.method == Method::POST && r.path.ends_with("/exec"))
        .unwrap();
    let cmd: serde_json::Value = serde_json::from_slice(&join.body).unwrap();
    let out = sb.exec(cmd["command"].as_str().unwrap()).await.unwrap();
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &old[..]
    );
    assert!(leftovers(sb).await.is_empty());
    out
}

#[tokio::test]
async fn two_concurrent_uploads_to_one_path_each_land_whole() {
    let (_router, sb) = running().await;
    concurrent_uploads_land_whole(&sb, 9).await;
}

/// Two uploads to one path at once, four times: each time the file is one of them, whole, and
/// no part is left.
async fn concurrent_uploads_land_whole(sb: &Sandbox, seed: u32) {
    let a = content(500 * 1024, seed);
    let b = content(700 * 1024 + 1, seed + 1);
    for _ in 0..4 {
        let files = sb.files();
        let (ra, rb) = tokio::join!(
            files.write("/workspace/t.bin", a.clone()),
            files.write("/workspace/t.bin", b.clone()),
        );
        ra.unwrap();
        rb.unwrap();
        let now = sb.files().read("/workspace/t.bin").await.unwrap();
        assert!(now[..] == a[..] || now[..] == b[..], "{} bytes", now.len());
    }
    assert!(leftovers(sb).await.is_empty(), "{:?}", leftovers(sb).await);
}

#[tokio::test]
async fn upload_progress_gets_a_final_report_when_it_fails() {
    let (router, sb) = running().await;
    router.fail_next(1, part_puts(), Fault::Delay(Duration::ZERO));
    router.fail_next(
        10,
        part_puts(),
        Fault::status(500, r#"{"error":"write failed"}"#),
    );
    let (opts, seen) = recorder();
    let data = content(3 * DEFAULT_PART_SIZE, 11);
    sb.files()
        .write_with("/workspace/t.bin", data.clone(), opts.concurrency(1))
        .await
        .unwrap_err();
    let seen = seen.lock().unwrap();
    assert_monotonic(&seen);
    // One part went up, reported, then the final report repeats where it stopped.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].done, DEFAULT_PART_SIZE as u64);
    assert_eq!(seen[1].total, Some(data.len() as u64));
}

#[tokio::test]
async fn download_replaces_an_existing_file_and_reports_progress_to_the_total() {
    let (_router, sb) = running().await;
    let data = content(2 * 1024 * 1024 + 1, 12);
    sb.files()
        .write("/workspace/t.bin", data.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("out.bin");
    std::fs::write(&local, b"old").unwrap();
    let (opts, seen) = recorder();
    let n = sb
        .files()
        .download_with("/workspace/t.bin", &local, opts)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(std::fs::read(&local).unwrap(), data);
    assert_eq!(names(dir.path()), vec!["out.bin"]);
    let seen = seen.lock().unwrap();
    assert_monotonic(&seen);
    let last = seen.last().unwrap();
    assert_eq!((last.done, last.total), (n, Some(n)));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A server that answers every request with `head` and `body`, then closes the connection.
async fn hostile(head: String, body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let head = head.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn download_cut_mid_body_keeps_the_existing_file_and_leaves_no_temporary() {
    let url = hostile(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
            .to_owned(),
        vec![7u8; 300_000],
    )
    .await;
    let sb = client(&url).sandbox("xfer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("keep.bin");
    std::fs::write(&local, b"precious").unwrap();
    let (opts, seen) = recorder();
    let err = sb
        .files()
        .download_with("/workspace/t.bin", &local, opts)
        .await
        .unwrap_err();
    assert!(!matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(std::fs::read(&local).unwrap(), b"precious");
    assert_eq!(names(dir.path()), vec!["keep.bin"]);
    let seen = seen.lock().unwrap();
    assert_monotonic(&seen);
    let last = seen.last().unwrap();
    assert!(last.done <= 300_000, "{last:?}");
    assert_eq!(last.total, Some(1_048_576));
}

#[tokio::test]
async fn download_above_the_32_mib_cap_is_body_too_large_and_writes_nothing() {
    // Announced in Content-Length: refused before any byte is written.
    let url = hostile(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            MAX_FILE_BYTES + 1
        ),
        vec![1u8; 1024],
    )
    .await;
    let sb = client(&url).sandbox("xfer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("keep.bin");
    std::fs::write(&local, b"precious").unwrap();
    let err = sb
        .files()
        .download("/workspace/t.bin", &local)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
    assert_eq!(std::fs::read(&local).unwrap(), b"precious");
    assert_eq!(names(dir.path()), vec!["keep.bin"]);

    // No length (closed-delimited body): stopped as soon as the count passes the cap.
    let url = hostile(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            .to_owned(),
        vec![2u8; MAX_FILE_BYTES as usize + 1],
    )
    .await;
    let sb = client(&url).sandbox("xfer").unwrap();
    let err = sb
        .files()
        .download("/workspace/t.bin", &local)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
    assert_eq!(std::fs::read(&local).unwrap(), b"precious");
    assert_eq!(names(dir.path()), vec!["keep.bin"]);
}

#[tokio::test]
async fn download_refused_by_the_router_still_gets_a_final_progress_report() {
    let (_router, sb) = running().await;
    let dir = tempfile::tempdir().unwrap();
    let (opts, seen) = recorder();
    let err = sb
        .files()
        .download_with("/workspace/missing.bin", dir.path().join("x"), opts)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(names(dir.path()).is_empty());
}

// The same uploads on the FakeRouter as users start it, without local exec: the join is
// interpreted by the emulator's scripted shell, not answered "exit 0" without running.

#[tokio::test]
async fn upload_over_the_chunk_threshold_lands_whole_without_local_exec() {
    let (router, sb) = scripted().await;
    let data = content(300 * 1024, 11);
    router.clear_requests();
    sb.files()
        .write("/workspace/t.bin", data.clone())
        .await
        .unwrap();
    // It really went up in parts and was joined by one exec.
    assert!(
        router
            .requests()
            .iter()
            .filter(|r| r.path.contains(".t.bin.agenttier-"))
            .count()
            > 1
    );
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &data[..]
    );
    assert!(
        leftovers(&sb).await.is_empty(),
        "{:?}",
        leftovers(&sb).await
    );
    // Overwriting a joined file with a bigger and a smaller one keeps the last whole.
    for (len, seed) in [(1024 * 1024 + 3, 12), (200 * 1024, 13)] {
        let data = content(len, seed);
        sb.files()
            .write("/workspace/t.bin", data.clone())
            .await
            .unwrap();
        assert_eq!(
            &sb.files().read("/workspace/t.bin").await.unwrap()[..],
            &data[..]
        );
    }
    assert!(leftovers(&sb).await.is_empty());
}

#[tokio::test]
async fn upload_from_a_local_file_lands_whole_without_local_exec() {
    let (_router, sb) = scripted().await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    let data = content(3 * DEFAULT_PART_SIZE + 17, 14);
    std::fs::write(&local, &data).unwrap();
    let n = sb.files().upload(&local, "/workspace/t.bin").await.unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(
        &sb.files().read("/workspace/t.bin").await.unwrap()[..],
        &data[..]
    );
    assert!(
        leftovers(&sb).await.is_empty(),
        "{:?}",
        leftovers(&sb).await
    );
}

#[tokio::test]
async fn two_concurrent_uploads_to_one_path_each_land_whole_without_local_exec() {
    let (_router, sb) = scripted().await;
    concurrent_uploads_land_whole(&sb, 15).await;
}

#[tokio::test]
async fn upload_cut_by_a_fault_keeps_the_old_content_and_no_parts_without_local_exec() {
    let (router, sb) = scripted().await;
    let old = content(10_000, 17);
    let new = content(2 * MAX_PART_SIZE + 99, 18);
    let cases = [
        ("part", 0),
        ("part", 2),
        ("part-after", 1),
        ("join-before", 0),
        ("join-500", 0),
        ("join-after", 0),
    ];
    for (stage, nth) in cases {
        sb.files()
            .write("/workspace/t.bin", old.clone())
            .await
            .unwrap();
        arm(&router, stage, nth).await;
        let opts = TransferOptions::default().part_size(MAX_PART_SIZE);
        let result = sb
            .files()
            .write_with("/workspace/t.bin", new.clone(), opts)
            .await;
        router.clear_faults();
        let now = sb.files().read("/workspace/t.bin").await.unwrap();
        let case = format!("{stage} #{nth}: {result:?}");
        match &result {
            Ok(_) => assert_eq!(&now[..], &new[..], "{case}"),
            Err(_) => assert!(now[..] == old[..] || now[..] == new[..], "{case}"),
        }
        if stage != "join-after" && stage != "part-after" {
            assert!(result.is_err(), "{case}");
            assert_eq!(&now[..], &old[..], "{case}");
        }
        assert!(
            leftovers(&sb).await.is_empty(),
            "{case}: {:?}",
            leftovers(&sb).await
        );
    }
}

#[tokio::test]
async fn a_late_join_after_the_cleanup_fails_and_keeps_the_target_without_local_exec() {
    let (router, sb) = scripted().await;
    let out = late_join_keeps_the_target(&router, &sb, 19).await;
    assert_eq!((out.exit_code, out.stdout.as_str()), (1, "0\n"), "{out:?}");
}
