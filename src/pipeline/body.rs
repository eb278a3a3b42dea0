//! Reading response bodies within a size limit: whatever a server sends, memory stays bounded.

use std::fmt;

use bytes::{Bytes, BytesMut};
use reqwest::Response;

/// Largest error body kept, in bytes. Error bodies are small; an HTML page from a proxy is cut.
pub(crate) const MAX_ERROR_BODY: usize = 16 * 1024;

/// Default limit for a JSON response body: 32 MiB (the Router's largest answers are lists and
/// exec output, each stream of which it caps at 1 MiB, or 8 MiB on its HTTP-exec path).
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 32 << 20;

/// Why a bounded read stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The body is (or says it is) larger than the limit; nothing more was read.
    TooLarge { limit: usize },
    /// The connection failed while reading (a body cut short).
    Transport(reqwest::Error),
}

/// Reads the whole body of `resp`, failing as soon as it passes `limit` bytes (at once when
/// `Content-Length` says so). A body that arrives in one chunk is returned without a copy.
pub(crate) async fn read_limited(mut resp: Response, limit: usize) -> Result<Bytes, ReadError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let first = match resp.chunk().await.map_err(ReadError::Transport)? {
        None => return Ok(Bytes::new()),
        Some(chunk) => chunk,
    };
    if first.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    if declared == Some(first.len() as u64) {
        return Ok(first);
    }
    let capacity = declared.map_or(first.len() * 2, |n| n as usize);
    let mut buf = BytesMut::with_capacity(capacity.min(limit));
    buf.extend_from_slice(&first);
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if buf.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Reads at most `max` bytes of an error body; the rest is left unread (the connection is
/// then closed rather than reused). A failure mid-body keeps what arrived.
pub(crate) async fn read_prefix(mut resp: Response, max: usize) -> Bytes {
    let mut out = BytesMut::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = max - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    out.freeze()
}

/// The error a body limit gives inside a stream (the raw client's responses, downloads): found
/// again in the error's source chain by [`crate::Error`]'s conversions.
#[derive(Debug, Clone)]
pub(crate) struct LimitExceeded {
    pub limit: usize,
    /// The status of the response whose body passed the limit.
    pub status: Option<u16>,
    /// Its `X-Request-Id`.
    pub request_id: Option<String>,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the response body is larger than the {} byte limit",
            self.limit
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// The limit that stopped a stream, if `err`'s source chain holds one.
pub(crate) fn limit_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<LimitExceeded> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(l) = e.downcast_ref::<LimitExceeded>() {
            return Some(l.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(l) = io.get_ref().and_then(|i| i.downcast_ref::<LimitExceeded>())
        {
            return Some(l.clone());
        }
        cur = e.source();
    }
    None
}
