//! Requests to a sandbox's web app through the Router's preview proxy ([`Preview`]).

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::Sandbox;
use crate::operations::{Access, BodyKind, Operation, RetryClass};
use crate::pipeline::body::{self, ReadError};
use crate::pipeline::{Body, Call, Failure};
use crate::{Error, Result};

/// The preview proxy for methods that are safe to send twice (GET, HEAD, OPTIONS).
static PREVIEW_SAFE: Operation = Operation {
    id: "preview",
    name: "preview",
    method: Method::GET,
    path: "/api/v1/sandboxes/{id}/preview/{port}/{path}",
    tag: "ports",
    summary: "Send a request to a forwarded port through the Router's preview proxy",
    access: Access::Owner,
    retry: RetryClass::Safe,
    scoped_key_group: None,
    request: BodyKind::Binary,
    response: BodyKind::Binary,
    facade: "PreviewRequest::send",
};

/// The preview proxy for every other method (retried only when the request provably did not
/// reach the Router, unless the client allows unsafe retries).
static PREVIEW_UNSAFE: Operation = Operation {
    id: "preview",
    name: "preview",
    method: Method::POST,
    path: "/api/v1/sandboxes/{id}/preview/{port}/{path}",
    tag: "ports",
    summary: "Send a request to a forwarded port through the Router's preview proxy",
    access: Access::Owner,
    retry: RetryClass::Unsafe,
    scoped_key_group: None,
    request: BodyKind::Binary,
    response: BodyKind::Binary,
    facade: "PreviewRequest::send",
};

/// One forwarded port's web app, reached through the Router's preview proxy:
/// `sandbox.ports().preview(port)`.
///
/// `ANY /api/v1/sandboxes/{id}/preview/{port}/<path>` is a reverse proxy inside the Router (it
/// is not one of the spec's operations): the method, the rest of the path, the query, the
/// headers and the body go to the port's Service, and the workload's answer comes back as it
/// is. The port must be forwarded ([`Ports::forward`](crate::Ports::forward)) and the sandbox
/// Running.
///
/// # The workload sees your credentials
///
/// The Router forwards **every** request header to the workload, **including the caller's
/// `X-API-Key` or `Authorization` header** (it is a standard `httputil.ReverseProxy`). Whatever
/// runs in the sandbox can read the credential this client sends and call the Router with it.
/// Only send preview requests to code you trust, or use a client with a credential made for
/// the purpose (a short-lived or narrowly owned key).
///
/// # Which failures are errors
///
/// The proxy's own refusals become typed [`Error`]s, with their status kept:
/// a port that is not forwarded, or a missing sandbox → [`Error::NotFound`]; a sandbox that
/// is not Running → [`Error::Conflict`]; an upstream that cannot be reached (502 text/plain
/// `port forward upstream unreachable: …`) → [`Error::Unavailable`], which is retryable (and
/// retried for GET, HEAD and OPTIONS under the client's retry policy); the auth middleware's
/// 401s, a scoped key's 403 and a 429 as for any call. Every other answer is the workload's,
/// **a 404 or a 500 included**, and comes back as a [`PreviewResponse`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let app = sb.ports().preview(3000);
/// let health = app.get("/healthz").await?;
/// assert_eq!(health.status(), 200);
/// let created = app
///     .post("/api/items")
///     .header("content-type", "application/json")
///     .body(r#"{"name":"x"}"#)
///     .send()
///     .await?;
/// println!("{} {}", created.status(), created.text());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Preview {
    sandbox: Sandbox,
    port: u32,
}

impl super::Ports {
    /// The web app listening on `port` in the sandbox, reached through the Router's preview
    /// proxy with this client's credentials (which the Router **forwards to the workload**;
    /// see [`Preview`]). No request is sent until one is built and awaited.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.ports().forward(8080).await?;
    /// let page = sb.ports().preview(8080).get("/").await?;
    /// println!("{}", page.text());
    /// # Ok(()) }
    /// ```
    pub fn preview(&self, port: u32) -> Preview {
        Preview {
            sandbox: self.sandbox.clone(),
            port,
        }
    }
}

impl Preview {
    /// A request with any method to `path` (relative to the app's root; a query may follow
    /// `?`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::http::Method;
    /// let resp = sb.ports().preview(3000).request(Method::OPTIONS, "/api").await?;
    /// # Ok(()) }
    /// ```
    pub fn request(&self, method: Method, path: &str) -> PreviewRequest {
        PreviewRequest {
            preview: self.clone(),
            method,
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET request to `path`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).get("/items").query("page", "2").await?;
    /// # Ok(()) }
    /// ```
    pub fn get(&self, path: &str) -> PreviewRequest {
        self.request(Method::GET, path)
    }

    /// A POST request to `path`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).post("/items").body("x").await?;
    /// # Ok(()) }
    /// ```
    pub fn post(&self, path: &str) -> PreviewRequest {
        self.request(Method::POST, path)
    }

    /// A PUT request to `path`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).put("/items/1").body("x").await?;
    /// # Ok(()) }
    /// ```
    pub fn put(&self, path: &str) -> PreviewRequest {
        self.request(Method::PUT, path)
    }

    /// A PATCH request to `path`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).patch("/items/1").body("x").await?;
    /// # Ok(()) }
    /// ```
    pub fn patch(&self, path: &str) -> PreviewRequest {
        self.request(Method::PATCH, path)
    }

    /// A DELETE request to `path`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).delete("/items/1").await?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, path: &str) -> PreviewRequest {
        self.request(Method::DELETE, path)
    }
}

/// A request to a sandbox's web app through the preview proxy; send it with
/// [`PreviewRequest::send`] or by awaiting it.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let resp = sb
///     .ports()
///     .preview(3000)
///     .put("/config")
///     .query("dry_run", "1")
///     .header("x-trace", "abc")
///     .json(&serde_json::json!({"debug": true}))?
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a preview request does nothing until it is sent"]
pub struct PreviewRequest {
    preview: Preview,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl PreviewRequest {
    /// Adds a query parameter (encoded here).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).get("/search").query("q", "a b&c").await?;
    /// # Ok(()) }
    /// ```
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header (checked when the request is sent). The client's own credential header
    /// is added by the client; do not set it here.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).get("/").header("accept", "text/html").await?;
    /// # Ok(()) }
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The request body (sent as `application/octet-stream` unless a `content-type` header
    /// is set).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).post("/upload").body(vec![0u8, 1, 2]).await?;
    /// # Ok(()) }
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A JSON body (and `content-type: application/json`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).post("/items").json(&vec![1, 2, 3])?.await?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::invalid("body", format!("cannot serialise: {e}")))?;
        Ok(self.header("content-type", "application/json").body(bytes))
    }

    /// Sends the request through the client's pipeline (credentials, timeouts, retries,
    /// tracing) and reads the whole answer (within the client's body limit).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::Error;
    /// match sb.ports().preview(3000).get("/").send().await {
    ///     Ok(resp) => println!("the app answered {}", resp.status()),
    ///     Err(Error::NotFound(e)) => eprintln!("not forwarded: {}", e.message()),
    ///     Err(e) if e.is_retryable() => eprintln!("the app is not listening yet: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<PreviewResponse> {
        let (call, client) = self.build()?;
        let pipeline = client.pipeline();
        let max = pipeline.defaults.max_body;
        pipeline
            .execute(&call, client.options(), false, |mut resp| async move {
                let status = resp.status();
                let headers = std::mem::take(resp.headers_mut());
                let body = match body::read_limited(resp, max).await {
                    Ok(b) => b,
                    Err(ReadError::TooLarge { limit }) => {
                        let id = headers.get("x-request-id").cloned();
                        return Err(Failure::TooLarge(limit, status, id));
                    }
                    Err(ReadError::Transport(e)) => return Err(Failure::Transport(e)),
                };
                if is_proxy_failure(status, &headers, &body) {
                    return Err(Failure::Read {
                        status,
                        headers,
                        body,
                    });
                }
                Ok(PreviewResponse {
                    status,
                    headers,
                    body,
                })
            })
            .await
    }

    fn build(self) -> Result<(Call, crate::Client)> {
        let preview = self.preview;
        let base = preview.sandbox.ports().preview_url(preview.port)?;
        let url = join(&base, &self.path)?;
        let mut url = url;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(k, v);
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::invalid("header", format!("{name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| Error::invalid("header", format!("{name}: {e}")))?;
            headers.append(name, value);
        }
        let op = match self.method {
            Method::GET | Method::HEAD | Method::OPTIONS => &PREVIEW_SAFE,
            _ => &PREVIEW_UNSAFE,
        };
        let mut call = Call::to_url(op, url);
        call.accept = "";
        call.method = Some(self.method);
        call.pass_through = true;
        if let Some(body) = self.body {
            let content_type = headers
                .get(CONTENT_TYPE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
            call.body = Body::Bytes(body, content_type);
        }
        call.headers = Some(Box::new(headers));
        Ok((call, preview.sandbox.client.clone()))
    }
}

impl IntoFuture for PreviewRequest {
    type Output = Result<PreviewResponse>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// `path` under the preview root. A leading `/` is optional; `.`/`..` segments and empty
/// segments are refused (the Router would answer a non-canonical path with a 301).
fn join(base: &Url, path: &str) -> Result<Url> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let path_part = trimmed.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path_part.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "." || *seg == ".." || (seg.is_empty() && i != last) {
            return Err(Error::invalid(
                "path",
                format!("{path:?} is not a canonical path (no `//`, `.` or `..` segments)"),
            ));
        }
    }
    let raw = format!("{}{trimmed}", base.as_str());
    Url::parse(&raw).map_err(|e| Error::invalid("path", format!("{path:?}: {e}")))
}

/// Whether a non-success answer came from the Router (its proxy, auth or limits) rather than
/// from the workload: matched on the Router's own wording and content types.
fn is_proxy_failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return false;
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end();
    let plain = content_type.starts_with("text/plain");
    // `respondError`: exactly `{"error":"<message>"}` as application/json.
    let error = || -> Option<String> {
        if !content_type.starts_with("application/json") {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let obj = v.as_object()?;
        match obj.get("error")?.as_str() {
            Some(e) if obj.len() == 1 || status == StatusCode::TOO_MANY_REQUESTS => {
                Some(e.to_owned())
            }
            _ => None,
        }
    };
    match status.as_u16() {
        502 => plain && text.starts_with("port forward upstream unreachable"),
        401 => {
            plain
                && [
                    "\"invalid_api_key\"",
                    "\"missing_authorization\"",
                    "\"invalid_authorization_format\"",
                    "\"invalid_token\"",
                ]
                .iter()
                .any(|code| text.contains(code))
        }
        403 => error().is_some_and(|e| e.starts_with("scoped key")),
        404 => {
            (plain && text == "404 page not found")
                || error().is_some_and(|e| {
                    let port = e
                        .strip_prefix("port ")
                        .and_then(|r| r.strip_suffix(" is not forwarded"))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                    port || (e.starts_with("sandbox ") && e.ends_with(" not found"))
                        || e.starts_with("access denied to sandbox ")
                        || e.contains("exists in multiple namespaces")
                })
        }
        409 => error().is_some_and(|e| e == "sandbox is not running"),
        400 => error().is_some_and(|e| e.starts_with("invalid port: ")),
        500 => error().is_some_and(|e| e.starts_with("failed to verify port: ")),
        429 => error().is_some_and(|e| e == "rate_limited"),
        _ => false,
    }
}

/// The workload's answer, as it came through the proxy (any status, a 500 included).
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let resp = sb.ports().preview(3000).get("/api/items").await?;
/// if resp.is_success() {
///     let items: Vec<String> = resp.json()?;
/// } else {
///     eprintln!("the app answered {}: {}", resp.status(), resp.text());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PreviewResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl PreviewResponse {
    /// The workload's status code.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// assert_eq!(sb.ports().preview(3000).get("/").await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// Whether the status is 2xx.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// assert!(sb.ports().preview(3000).get("/").await?.is_success());
    /// # Ok(()) }
    /// ```
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The workload's headers (plus the Router's `X-Request-Id`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resp = sb.ports().preview(3000).get("/").await?;
    /// println!("{:?}", resp.headers().get("content-type"));
    /// # Ok(()) }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, as sent.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let bytes = sb.ports().preview(3000).get("/logo.png").await?.body().clone();
    /// # Ok(()) }
    /// ```
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced by U+FFFD).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// println!("{}", sb.ports().preview(3000).get("/").await?.text());
    /// # Ok(()) }
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded as JSON.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let v: serde_json::Value = sb.ports().preview(3000).get("/api").await?.json()?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::decode(
                "preview",
                Some(self.status.as_u16()),
                crate::error::request_id(&self.headers),
                e,
                &self.body,
            )
        })
    }

    /// The status, headers and body.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let (status, headers, body) = sb.ports().preview(3000).get("/").await?.into_parts();
    /// # Ok(()) }
    /// ```
    pub fn into_parts(self) -> (u16, HeaderMap, Bytes) {
        (self.status.as_u16(), self.headers, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn tells_the_proxy_from_the_workload() {
        let json = hm("application/json");
        let text = hm("text/plain; charset=utf-8");
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(is_proxy_failure(
            s(404),
            &json,
            br#"{"error":"port 3000 is not forwarded"}"#
        ));
        assert!(is_proxy_failure(
            s(502),
            &text,
            b"port forward upstream unreachable: dial tcp: refused\n"
        ));
        assert!(is_proxy_failure(
            s(409),
            &json,
            br#"{"error":"sandbox is not running"}"#
        ));
        assert!(!is_proxy_failure(
            s(404),
            &json,
            br#"{"error":"no such item"}"#
        ));
        assert!(!is_proxy_failure(s(502), &hm("text/html"), b"bad gateway"));
        assert!(!is_proxy_failure(s(500), &text, b"boom"));
    }

    #[test]
    fn joins_paths_canonically() {
        let base = Url::parse("http://r/api/v1/sandboxes/d/preview/80/").unwrap();
        assert_eq!(
            join(&base, "/a/b?x=1").unwrap().as_str(),
            "http://r/api/v1/sandboxes/d/preview/80/a/b?x=1"
        );
        assert_eq!(
            join(&base, "").unwrap().as_str(),
            "http://r/api/v1/sandboxes/d/preview/80/"
        );
        assert!(join(&base, "a//b").is_err());
        assert!(join(&base, "../x").is_err());
    }
}
