//! A matcher that behaves like the Router's gorilla/mux setup, over the operation table
//! generated from openapi.yaml.

use crate::core::ops::Op;

/// A matched operation and its path variables (decoded).
#[derive(Debug)]
pub(crate) struct Matched {
    pub op: Op,
    pub params: Vec<(&'static str, String)>,
}

/// What the mux makes of a (method, decoded path).
#[derive(Debug)]
pub(crate) enum Routed {
    Op(Matched),
    /// `OPTIONS` on any path (the CORS catch-all).
    Options,
    /// `GET /metrics` (Prometheus, outside the spec).
    Metrics,
    /// `/ws/terminal/{sandboxId}` (outside `/api/v1`; the handler does its own auth).
    Terminal(String),
    /// `ANY /api/v1/sandboxes/{id}/preview/{port}[/<rest>]`: the preview proxy (not in the
    /// spec). `rest` is what the upstream sees as its path (`/` when nothing follows).
    Preview {
        id: String,
        port: String,
        rest: String,
    },
    /// The mux's own 404 (`404 page not found`).
    NotFound,
    /// The mux's own 405 (empty body).
    MethodNotAllowed,
}

/// Match a path against a template. A final `{path}` segment matches the rest of the path,
/// slashes included (the Router registers it as `{path:.*}`); other variables match one
/// non-empty segment.
fn match_template(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut rest = path;
    let tsegs: Vec<&'static str> = template.split('/').collect();
    for (i, tseg) in tsegs.iter().enumerate() {
        let last = i == tsegs.len() - 1;
        if i > 0 {
            rest = rest.strip_prefix('/')?;
        }
        if *tseg == "{path}" && last {
            params.push(("path", rest.to_string()));
            return Some(params);
        }
        let end = rest.find('/').unwrap_or(rest.len());
        let seg = &rest[..end];
        if let Some(name) = tseg.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if seg.is_empty() {
                return None;
            }
            params.push((name, seg.to_string()));
        } else if *tseg != seg {
            return None;
        }
        rest = &rest[end..];
    }
    rest.is_empty().then_some(params)
}

/// Route a request the way the Router's mux does (the spec's description of routing and `x-access`).
pub(crate) fn route(method: &str, path: &str) -> Routed {
    for op in Op::ALL {
        if let Some(params) = match_template(op.path(), path) {
            if op.method() == method {
                return Routed::Op(Matched { op, params });
            }
            // A wrong method on the last route registered escapes the subrouter's 404.
            if op == Op::CancelInvoke {
                return Routed::MethodNotAllowed;
            }
        }
    }
    if method == "OPTIONS" {
        return Routed::Options;
    }
    if let Some(id) = path.strip_prefix("/ws/terminal/")
        && !id.is_empty()
        && !id.contains('/')
        && method == "GET"
    {
        return Routed::Terminal(id.to_string());
    }
    if let Some(preview) = preview(path) {
        return preview;
    }
    if path == "/metrics" && method == "GET" {
        return Routed::Metrics;
    }
    if path.starts_with("/api/v1") {
        Routed::NotFound
    } else {
        // The OPTIONS catch-all matches every path, so the mux reports a method mismatch.
        Routed::MethodNotAllowed
    }
}

/// `/api/v1/sandboxes/{id}/preview/{port}` and `/api/v1/sandboxes/{id}/preview/{port}/<rest>`.
fn preview(path: &str) -> Option<Routed> {
    let rest = path.strip_prefix("/api/v1/sandboxes/")?;
    let (id, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("preview/")?;
    let (port, upstream) = match rest.split_once('/') {
        Some((port, tail)) => (port, format!("/{tail}")),
        None => (rest, "/".to_string()),
    };
    (!id.is_empty() && !port.is_empty()).then(|| Routed::Preview {
        id: id.to_string(),
        port: port.to_string(),
        rest: upstream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str) -> String {
        match route(method, path) {
            Routed::Op(m) => format!("{:?}{:?}", m.op, m.params),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn matches_like_the_mux() {
        assert_eq!(op("GET", "/api/v1/sandboxes"), "ListSandboxes[]");
        assert_eq!(op("GET", "/api/v1/sandboxes/"), "NotFound");
        assert_eq!(op("GET", "/api/v1/sandboxes/d/files"), "NotFound");
        assert_eq!(
            op("GET", "/api/v1/sandboxes/d/files/"),
            "ListFiles[(\"id\", \"d\")]"
        );
        assert_eq!(
            op("PUT", "/api/v1/sandboxes/d/files/workspace/a/b.txt"),
            "WriteFile[(\"id\", \"d\"), (\"path\", \"workspace/a/b.txt\")]"
        );
        assert_eq!(op("POST", "/api/v1/templates/x"), "NotFound");
        assert_eq!(
            op("GET", "/api/v1/sandboxes/d/invoke/cancel"),
            "MethodNotAllowed"
        );
        assert_eq!(op("POST", "/healthz"), "MethodNotAllowed");
        assert_eq!(op("GET", "/api/v2/x"), "MethodNotAllowed");
        assert_eq!(op("OPTIONS", "/api/v1/x"), "Options");
        assert_eq!(op("GET", "/metrics"), "Metrics");
        assert_eq!(op("POST", "/metrics"), "MethodNotAllowed");
        assert_eq!(op("GET", "/metrics/"), "MethodNotAllowed");
        assert_eq!(op("GET", "/ws/terminal/d"), "Terminal(\"d\")");
        assert_eq!(
            op("DELETE", "/api/v1/sandboxes/d/preview/3000/a/b"),
            "Preview { id: \"d\", port: \"3000\", rest: \"/a/b\" }"
        );
        assert_eq!(
            op("GET", "/api/v1/sandboxes/d/preview/3000"),
            "Preview { id: \"d\", port: \"3000\", rest: \"/\" }"
        );
        assert_eq!(
            op("POST", "/api/v1/sandboxes/bulk"),
            "BulkCreateSandboxes[]"
        );
    }
}
