//! Memory floods: a 1 GiB `Content-Length`, an endless chunked body, an endless event in an
//! event stream. Peak memory must grow by at most 64 MiB.
//!
//! Peak memory (`VmHWM`) cannot be reset within a process, so each flood runs in a child
//! process: the test binary itself, re-run with `FLOOD=<name>` on the one test that floods.
//! The child measures `VmRSS` before and `VmHWM` after and prints one line the parent reads.
//! Servers stop by themselves after 2 GiB or when the client hangs up.

use std::process::Command;
use std::time::Duration;

use agenttier::{Client, Error};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::read_request;

const FLOODS: [&str; 4] = [
    "content-length-1gib",
    "endless-chunked",
    "endless-chunked-raw",
    "endless-sse-event",
];
const LIMIT_KIB: u64 = 64 * 1024;
/// What a flooding server sends at most.
const SERVER_CAP: u64 = 2 << 30;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A server that answers `head` and then `piece` over and over, up to [`SERVER_CAP`] bytes or
/// until the client hangs up. Returns its base URL.
async fn flooding_server(head: &'static str, piece: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let piece = piece.clone();
            tokio::spawn(async move {
                if read_request(&mut stream).await.is_none() {
                    return;
                }
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut sent = 0u64;
                while sent < SERVER_CAP {
                    if stream.write_all(&piece).await.is_err() {
                        return;
                    }
                    sent += piece.len() as u64;
                }
            });
        }
    });
    url
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Runs one flood in this process; returns how it ended.
async fn flood(name: &str) -> String {
    let x = vec![b'x'; 64 * 1024];
    let outcome: agenttier::Result<()> = match name {
        "content-length-1gib" => {
            let url = flooding_server(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\nX-Request-Id: flood\r\n\r\n",
                x,
            )
            .await;
            client(&url).get_sandbox("demo").await.map(drop)
        }
        "endless-chunked" => {
            let url = flooding_server(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Request-Id: flood\r\n\r\n",
                chunk(&x),
            )
            .await;
            client(&url).list_sandboxes().await.map(drop)
        }
        "endless-chunked-raw" => {
            let url = flooding_server(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Request-Id: flood\r\n\r\n",
                chunk(&x),
            )
            .await;
            client(&url)
                .raw()
                .list_sandboxes(None, None)
                .await
                .map(drop)
                .map_err(Error::from)
        }
        "endless-sse-event" => {
            let mut line = b"data: ".to_vec();
            line.extend_from_slice(&x);
            line.push(b'\n');
            let url = flooding_server(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-Request-Id: flood\r\n\r\n",
                chunk(&line),
            )
            .await;
            let sb = client(&url).sandbox("demo").unwrap();
            match sb.agent().invoke("hello").stream().await {
                Err(e) => Err(e),
                Ok(mut events) => {
                    let mut last = Ok(());
                    // Bounded: the server stops after 2 GiB.
                    while let Some(ev) = events.next().await {
                        if let Err(e) = ev {
                            last = Err(e);
                            break;
                        }
                    }
                    last
                }
            }
        }
        other => panic!("no flood {other}"),
    };
    match outcome {
        Ok(()) => "ok".into(),
        Err(e @ Error::BodyTooLarge { .. }) => format!(
            "BodyTooLarge (status {:?}, request id {:?})",
            e.status(),
            e.request_id()
        ),
        Err(e) => format!("other error: {e}"),
    }
}

fn client(url: &str) -> Client {
    Client::builder(url)
        .timeout(Duration::from_secs(120))
        .attempt_timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// The child side: does nothing unless `FLOOD` names a flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_child() {
    let Ok(name) = std::env::var("FLOOD") else {
        return;
    };
    let before = status_kib("VmRSS:");
    let outcome = flood(&name).await;
    let peak = status_kib("VmHWM:");
    println!(
        "FLOOD {name} rss_before_kib={before} peak_kib={peak} growth_kib={} outcome={outcome}",
        peak.saturating_sub(before)
    );
}

#[test]
fn memory_floods_grow_peak_memory_by_at_most_64_mib() {
    let exe = std::env::current_exe().unwrap();
    let mut lines = Vec::new();
    for name in FLOODS {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "floods::flood_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FLOOD", name)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.find("FLOOD ").map(|i| &l[i..]))
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no report; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .to_owned();
        let growth: u64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("growth_kib="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        lines.push((name, growth, line));
    }
    let worst = lines.iter().map(|(_, g, _)| *g).max().unwrap_or(0);
    for (_, _, line) in &lines {
        println!("{line}");
    }
    println!(
        "memory floods: {}, worst peak RSS growth {} MiB (limit 64 MiB), all ended in BodyTooLarge: {}",
        lines.len(),
        worst / 1024,
        lines
            .iter()
            .all(|(_, _, l)| l.contains("outcome=BodyTooLarge"))
    );
    for (name, growth, line) in &lines {
        assert!(line.contains("outcome=BodyTooLarge"), "{name}: {line}");
        assert!(*growth <= LIMIT_KIB, "{name}: grew {growth} KiB");
    }
}
