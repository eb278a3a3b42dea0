//! The fault-and-abuse suite: hostile servers, injected faults, bad input, memory floods and
//! secret canaries. Each test prints its figures (`cargo test -p agenttier --test faults --
//! --nocapture`), one summary line each.
//!
//! Everything stays on loopback: hostile servers are raw `TcpListener`s on 127.0.0.1, faults
//! come from the FakeRouter ([`FakeRouter::fail_randomly`], `Fault::ResetAfter`).
//!
//! [`FakeRouter::fail_randomly`]: agenttier::testing::FakeRouter::fail_randomly

mod deadlines;
mod floods;
mod inputs;
mod load;
mod secrets;
mod shapes;

use std::time::Duration;

use agenttier::RetryPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Fast retries so that retried calls stay quick.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(2))
        .max_backoff(Duration::from_millis(20))
}

/// Reads one request's head (up to the blank line) and the body its `Content-Length` names,
/// at most 1 MiB of it. Returns the head as text, or `None` when the peer closed first.
pub async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0)
        .min(1 << 20);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some(head)
}

/// A raw server on 127.0.0.1 that answers every connection with `respond(head)` (written as
/// is, then the connection is closed). Returns its base URL.
pub async fn raw_server<F>(respond: F) -> String
where
    F: Fn(&str) -> Vec<u8> + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let respond = respond.clone();
            tokio::spawn(async move {
                let Some(head) = read_request(&mut stream).await else {
                    return;
                };
                let bytes = respond(&head);
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}
