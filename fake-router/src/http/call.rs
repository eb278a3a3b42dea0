//! One matched, authenticated request as the area handlers see it.

use bytes::Bytes;
use http::HeaderMap;

use crate::core::identity::Caller;
use crate::core::ops::Op;

/// One matched, authenticated request.
pub(crate) struct Call {
    pub op: Op,
    /// Path variables, decoded.
    pub params: Vec<(&'static str, String)>,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client sent more than the route's cap (only the cap plus one byte was read).
    pub body_over: bool,
    pub caller: Caller,
}

impl Call {
    /// A path variable (decoded), `""` when absent.
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The first value of a query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body of an optional-body route: the Router reads it only when
    /// `Content-Length > 0` (a chunked body is ignored).
    pub(crate) fn sized_body(&self) -> Option<&[u8]> {
        let sized = self
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        sized.then_some(&self.body[..])
    }
}

/// Split and decode a query string (`+` is a space).
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// A `/ws/terminal/{id}` request that passed the terminal's auth.
pub(crate) struct TerminalCall {
    /// The sandbox name from the path.
    pub id: String,
    /// `?namespace=`, which pins the lookup.
    pub namespace: Option<String>,
    pub headers: HeaderMap,
    pub caller: Caller,
    /// Resolves to the connection once the 101 answer has been sent.
    pub upgrade: hyper::upgrade::OnUpgrade,
}

/// A preview-proxy request that passed the `/api/v1` auth and gates.
pub(crate) struct PreviewCall {
    pub id: String,
    /// The `{port}` segment as sent.
    pub port: String,
    /// The path the upstream sees (still percent-encoded) and the raw query.
    pub upstream_path: String,
    pub query: Option<String>,
    pub method: http::Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caller: Caller,
}
