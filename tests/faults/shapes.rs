//! Hostile response shapes from a raw loopback server: every one ends in a typed error (or a
//! success where the answer is fine after all), never a panic; status and request id kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenttier::auth::ApiKey;
use agenttier::{Client, Error};

use super::{fast_retries, raw_server};

const KEY: &str = "canary-shapes-key-7f3a9c";

/// Builds a shape's bytes from its request id.
type Builder = Box<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

/// What a shape must end in.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// An error with this status and the shape's `X-Request-Id`.
    Status(u16),
    /// An error with this status (the request id header itself is the hostile part).
    StatusOnly(u16),
    /// A retryable transport failure (a body cut short), not a decode error.
    Cut,
    /// Some typed error (the head itself is broken).
    Err,
    /// A success or a typed error: the answer is odd but may be read.
    Any,
}

fn head(status: &str, headers: &[(&str, &str)], body: &[u8], rid: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\nX-Request-Id: {rid}\r\n");
    let framed = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !framed {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json(status: &str, body: &str, rid: &str) -> Vec<u8> {
    head(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        rid,
    )
}

const SUMMARY: &str = r#"{"sandboxId":"demo","name":"demo","namespace":"default","status":"Running","podName":"demo","pvcName":"demo-workspace","templateRef":"general-coding","mode":"code","createdAt":"2026-07-21 04:16:07 +0000 UTC","message":""}"#;

fn shapes(other_origin: &str) -> Vec<(&'static str, Expect, Builder)> {
    use Expect::*;
    let other = other_origin.to_owned();
    let other2 = other_origin.to_owned();
    let nested = "[".repeat(100_000);
    let nested_err = format!("{{\"error\":{}}}", "[".repeat(50_000));
    let mut v: Vec<(&'static str, Expect, Builder)> = vec![
        (
            "html 500",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("Content-Type", "text/html")],
                    b"<html><body><h1>500</h1></body></html>",
                    r,
                )
            }),
        ),
        (
            "empty 502",
            Status(502),
            Box::new(|r| head("502 Bad Gateway", &[], b"", r)),
        ),
        (
            "503 with a non-numeric Retry-After",
            Status(503),
            Box::new(|r| {
                head(
                    "503 Service Unavailable",
                    &[("Retry-After", "soon")],
                    b"",
                    r,
                )
            }),
        ),
        (
            "html 504",
            Status(504),
            Box::new(|r| {
                head(
                    "504 Gateway Timeout",
                    &[("Content-Type", "text/html")],
                    b"<html>upstream timed out</html>",
                    r,
                )
            }),
        ),
        (
            "invalid JSON 200",
            Status(200),
            Box::new(|r| json("200 OK", "{\"sandboxId\": \"demo\",", r)),
        ),
        (
            "empty 200",
            Status(200),
            Box::new(|r| json("200 OK", "", r)),
        ),
        (
            "wrong types 200",
            Status(200),
            Box::new(|r| json("200 OK", r#"{"sandboxId":5,"name":[],"status":{}}"#, r)),
        ),
        (
            "array instead of object 200",
            Status(200),
            Box::new(|r| json("200 OK", "[1,2,3]", r)),
        ),
        (
            "null 200",
            Status(200),
            Box::new(|r| json("200 OK", "null", r)),
        ),
        (
            "200 body shorter than Content-Length",
            Cut,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[
                        ("Content-Type", "application/json"),
                        ("Content-Length", "1000"),
                    ],
                    b"{\"sandboxId\"",
                    r,
                )
            }),
        ),
        (
            "200 chunked body cut mid-way",
            Cut,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[
                        ("Content-Type", "application/json"),
                        ("Transfer-Encoding", "chunked"),
                    ],
                    b"20\r\n{\"sandboxId\":\"demo\",\"name\":\"de\r\n40\r\nmo\"",
                    r,
                )
            }),
        ),
        (
            "500 body shorter than Content-Length",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[
                        ("Content-Type", "application/json"),
                        ("Content-Length", "5000"),
                    ],
                    b"{\"error\":\"boom",
                    r,
                )
            }),
        ),
        (
            "404 chunked body cut mid-way",
            Status(404),
            Box::new(|r| {
                head(
                    "404 Not Found",
                    &[("Transfer-Encoding", "chunked")],
                    b"10\r\n{\"error\":\"sandb",
                    r,
                )
            }),
        ),
        (
            "500 with a 64 KiB header",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("X-Junk", &"a".repeat(64 << 10))],
                    b"{}",
                    r,
                )
            }),
        ),
        (
            "500 with a 2 MiB header",
            Err,
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("X-Junk", &"a".repeat(2 << 20))],
                    b"{}",
                    r,
                )
            }),
        ),
        (
            "500 with 500 headers",
            Err,
            Box::new(|r| {
                let many: Vec<(String, String)> = (0..500)
                    .map(|i| (format!("X-H{i}"), "v".to_owned()))
                    .collect();
                let refs: Vec<(&str, &str)> =
                    many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                head("500 Internal Server Error", &refs, b"{}", r)
            }),
        ),
        (
            "400 with ESC and control characters in the message",
            Status(400),
            Box::new(|r| {
                json(
                    "400 Bad Request",
                    r#"{"error":"bad \u001b[31mred\u001b[0m \u0007 \r\n[INFO] forged log line"}"#,
                    r,
                )
            }),
        ),
        (
            "500 text/plain with raw ESC bytes",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("Content-Type", "text/plain")],
                    b"\x1b]0;pwned\x07\x1b[2J\r\nfake prompt $ ",
                    r,
                )
            }),
        ),
        (
            "401 text/plain echoing the caller's key",
            Status(401),
            Box::new(|r| {
                head(
                    "401 Unauthorized",
                    &[("Content-Type", "text/plain")],
                    format!(
                        "{{\"error\":\"invalid_api_key\",\"message\":\"key {KEY} is unknown\"}}"
                    )
                    .as_bytes(),
                    r,
                )
            }),
        ),
        (
            "100 Continue then 500",
            Status(500),
            Box::new(|r| {
                let mut o = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
                o.extend(head(
                    "500 Internal Server Error",
                    &[],
                    b"{\"error\":\"after continue\"}",
                    r,
                ));
                o
            }),
        ),
        (
            "103 Early Hints then 404",
            Status(404),
            Box::new(|r| {
                let mut o = b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n".to_vec();
                o.extend(head(
                    "404 Not Found",
                    &[("Content-Type", "application/json")],
                    b"{\"error\":\"sandbox not found\"}",
                    r,
                ));
                o
            }),
        ),
        (
            "101 Switching Protocols nobody asked for",
            Err,
            Box::new(|r| {
                head(
                    "101 Switching Protocols",
                    &[("Upgrade", "websocket")],
                    b"",
                    r,
                )
            }),
        ),
        (
            "304 Not Modified on a GET without condition",
            Status(304),
            Box::new(|r| head("304 Not Modified", &[("Content-Length", "0")], b"", r)),
        ),
        (
            "300 Multiple Choices",
            Status(300),
            Box::new(|r| head("300 Multiple Choices", &[], b"pick one", r)),
        ),
        (
            "302 to another origin",
            Status(302),
            Box::new(move |r| {
                head(
                    "302 Found",
                    &[("Location", &format!("{other}/api/v1/sandboxes/stolen"))],
                    b"",
                    r,
                )
            }),
        ),
        (
            "307 to another origin",
            Status(307),
            Box::new(move |r| {
                head(
                    "307 Temporary Redirect",
                    &[("Location", &format!("{other2}/steal"))],
                    b"",
                    r,
                )
            }),
        ),
        (
            "301 to itself forever",
            Err,
            Box::new(|r| {
                head(
                    "301 Moved Permanently",
                    &[("Location", "/api/v1/sandboxes/loop")],
                    b"",
                    r,
                )
            }),
        ),
        (
            "status 999",
            Status(999),
            Box::new(|r| head("999 Whatever", &[], b"{\"error\":\"odd\"}", r)),
        ),
        (
            "200 JSON labelled text/html",
            Any,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Type", "text/html")],
                    SUMMARY.as_bytes(),
                    r,
                )
            }),
        ),
        (
            "500 HTML labelled application/json",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("Content-Type", "application/json")],
                    b"<html><body>oops</body></html>",
                    r,
                )
            }),
        ),
        (
            "200 plain JSON labelled gzip",
            Any,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[
                        ("Content-Type", "application/json"),
                        ("Content-Encoding", "gzip"),
                    ],
                    SUMMARY.as_bytes(),
                    r,
                )
            }),
        ),
        (
            "500 garbage labelled gzip",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("Content-Encoding", "gzip")],
                    b"\x1f\x8b\x08\x00garbage",
                    r,
                )
            }),
        ),
        (
            "200 JSON nested 100,000 deep",
            Status(200),
            Box::new(move |r| json("200 OK", &nested, r)),
        ),
        (
            "400 error body nested 50,000 deep",
            Status(400),
            Box::new(move |r| json("400 Bad Request", &nested_err, r)),
        ),
        (
            "200 with NaN",
            Status(200),
            Box::new(|r| json("200 OK", r#"{"sandboxId":NaN,"name":Infinity}"#, r)),
        ),
        (
            "200 with 1e999",
            Status(200),
            Box::new(|r| json("200 OK", r#"{"sandboxId":1e999}"#, r)),
        ),
        (
            "200 invalid UTF-8",
            Status(200),
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Type", "application/json")],
                    b"{\"sandboxId\":\"\xff\xfe\xc0\"}",
                    r,
                )
            }),
        ),
        (
            "500 invalid UTF-8",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[],
                    b"\xff\xfe\xc0\xc1 broken",
                    r,
                )
            }),
        ),
        (
            "200 JSON behind a BOM",
            Any,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Type", "application/json")],
                    format!("\u{feff}{SUMMARY}").as_bytes(),
                    r,
                )
            }),
        ),
        (
            "429 Retry-After overflowing u64",
            Status(429),
            Box::new(|r| {
                head(
                    "429 Too Many Requests",
                    &[("Retry-After", "99999999999999999999999")],
                    b"{\"error\":\"rate_limited\"}",
                    r,
                )
            }),
        ),
        (
            "429 retryAfter u64::MAX in the body",
            Status(429),
            Box::new(|r| {
                json(
                    "429 Too Many Requests",
                    r#"{"error":"rate_limited","retryAfter":18446744073709551615}"#,
                    r,
                )
            }),
        ),
        (
            "429 concurrency_exceeded with negative numbers",
            Status(429),
            Box::new(|r| {
                json(
                    "429 Too Many Requests",
                    r#"{"error":"concurrency_exceeded","limit":-1,"inflight":"x"}"#,
                    r,
                )
            }),
        ),
        (
            "403 policy_violation with violations of the wrong type",
            Status(403),
            Box::new(|r| {
                json(
                    "403 Forbidden",
                    r#"{"error":"policy_violation","violations":"all of them"}"#,
                    r,
                )
            }),
        ),
        (
            "409 quota_would_exceed without its fields",
            Status(409),
            Box::new(|r| json("409 Conflict", r#"{"error":"quota_would_exceed"}"#, r)),
        ),
        (
            "two conflicting Content-Lengths",
            Err,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Length", "5"), ("Content-Length", "7")],
                    b"{}{}{}{",
                    r,
                )
            }),
        ),
        (
            "Content-Length and chunked together",
            Any,
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
                    format!("{:x}\r\n{SUMMARY}\r\n0\r\n\r\n", SUMMARY.len()).as_bytes(),
                    r,
                )
            }),
        ),
        (
            "garbage status line",
            Err,
            Box::new(|_| b"HTTP/1.1 abc def\r\n\r\n".to_vec()),
        ),
        (
            "not HTTP at all",
            Err,
            Box::new(|_| b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
        ),
        (
            "connection closed without a byte",
            Err,
            Box::new(|_| Vec::new()),
        ),
        (
            "500 with a request id holding control bytes",
            Err,
            Box::new(|_| {
                b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nX-Request-Id: a\x01b\x7f\r\nContent-Length: 2\r\n\r\n{}".to_vec()
            }),
        ),
        (
            "500 with a request id that is not UTF-8",
            StatusOnly(500),
            Box::new(|_| {
                b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nX-Request-Id: caf\xe9\xff\r\nContent-Length: 2\r\n\r\n{}".to_vec()
            }),
        ),
        (
            "200 Content-Length 0 followed by junk",
            Status(200),
            Box::new(|r| {
                head(
                    "200 OK",
                    &[("Content-Length", "0")],
                    b"junk after the body",
                    r,
                )
            }),
        ),
        (
            "204 where JSON is due",
            Status(204),
            Box::new(|r| head("204 No Content", &[("Content-Length", "0")], b"", r)),
        ),
        (
            "HTTP/1.0 body until close, not JSON",
            Status(200),
            Box::new(|r| {
                format!("HTTP/1.0 200 OK\r\nX-Request-Id: {r}\r\n\r\nthis is not json").into_bytes()
            }),
        ),
        (
            "500 with a 1 MiB error body",
            Status(500),
            Box::new(|r| {
                head(
                    "500 Internal Server Error",
                    &[("Content-Type", "text/plain")],
                    &vec![b'x'; 1 << 20],
                    r,
                )
            }),
        ),
    ];
    v.shrink_to_fit();
    v
}

/// True when the text holds a raw control character other than tab.
fn has_raw_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\t')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_response_shapes_end_in_typed_errors_keeping_status_and_request_id() {
    // The other origin a redirect points to: it must never see the credential.
    let stolen = Arc::new(AtomicUsize::new(0));
    let seen = stolen.clone();
    let other = raw_server(move |head| {
        seen.fetch_add(1, Ordering::SeqCst);
        if head.contains(KEY) {
            seen.fetch_add(1_000_000, Ordering::SeqCst);
        }
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec()
    })
    .await;
    let shapes = Arc::new(shapes(&other));
    let table = shapes.clone();
    let url = raw_server(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let i: usize = path
            .rsplit('/')
            .next()
            .and_then(|s| s.strip_prefix('s'))
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        match table.get(i) {
            Some((_, _, build)) => build(&format!("rid-{i}")),
            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        }
    })
    .await;
    let client = Client::builder(&url)
        .auth(ApiKey::new(KEY).unwrap())
        .retry(
            fast_retries()
                .max_retries(1)
                .max_retry_after(Duration::from_secs(1)),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let (mut panics, mut wrong, mut kept, mut with_status, mut leaks, mut raw_controls) =
        (0, Vec::new(), 0, 0, 0, 0);
    for (i, (name, expect, _)) in shapes.iter().enumerate() {
        let c = client.clone();
        let outcome = tokio::spawn(async move { c.get_sandbox(&format!("s{i}")).await }).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                assert!(e.is_panic());
                panics += 1;
                continue;
            }
        };
        let rid = format!("rid-{i}");
        let ok = match (&outcome, expect) {
            (_, Expect::Any) => true,
            (Ok(_), _) => false,
            (Err(e), Expect::Status(s)) => {
                with_status += 1;
                let good = e.status() == Some(*s) && e.request_id() == Some(rid.as_str());
                kept += usize::from(good);
                good
            }
            (Err(e), Expect::StatusOnly(s)) => {
                with_status += 1;
                let good = e.status() == Some(*s);
                kept += usize::from(good);
                good
            }
            (Err(e), Expect::Cut) => e.is_retryable() && !matches!(e, Error::Decode { .. }),
            (Err(_), Expect::Err) => true,
        };
        if let Err(e) = &outcome {
            let shown = format!("{e} {e:?}");
            if shown.contains(KEY) {
                leaks += 1;
            }
            if has_raw_control(&e.to_string()) {
                raw_controls += 1;
                wrong.push(format!(
                    "{name}: raw control characters in {:?}",
                    e.to_string()
                ));
            }
        }
        if !ok {
            wrong.push(format!("{name}: expected {expect:?}, got {outcome:?}"));
        }
    }
    let total = shapes.len();
    let stolen = stolen.load(Ordering::SeqCst);
    println!(
        "hostile shapes: {total}, panics {panics}, as expected {}/{total}, status kept {kept}/{with_status}, \
         key in Display/Debug {leaks}, raw control characters in Display {raw_controls}, \
         requests to the other origin {stolen}",
        total - wrong.len()
    );
    assert!(total >= 40);
    assert_eq!(panics, 0);
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(kept, with_status);
    assert_eq!(leaks, 0);
    assert_eq!(stolen, 0, "a redirect was followed to another origin");
}

/// A success body over the client's limit, read through the raw (generated) client, ends in
/// `BodyTooLarge` that keeps the answer's status and request id, whether the length was
/// announced or the body was chunked.
#[tokio::test]
async fn raw_client_body_over_the_limit_keeps_status_and_request_id() {
    let body = format!("{{\"sandboxes\":[],\"pad\":\"{}\"}}", "x".repeat(8 * 1024));
    let announced = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: rid-big\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut chunked = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: rid-big\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for piece in body.as_bytes().chunks(1000) {
        chunked.push_str(&format!("{:x}\r\n", piece.len()));
        chunked.push_str(std::str::from_utf8(piece).unwrap());
        chunked.push_str("\r\n");
    }
    chunked.push_str("0\r\n\r\n");
    for (name, response) in [("announced", announced), ("chunked", chunked)] {
        let url = raw_server(move |_| response.clone().into_bytes()).await;
        let client = Client::builder(&url)
            .max_response_body(1024)
            .build()
            .unwrap();
        let err = Error::from(
            client
                .raw()
                .list_sandboxes(None, None)
                .await
                .map(drop)
                .unwrap_err(),
        );
        assert!(
            matches!(err, Error::BodyTooLarge { limit: 1024, .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.status(), Some(200), "{name}: {err:?}");
        assert_eq!(err.request_id(), Some("rid-big"), "{name}: {err:?}");
    }
}
