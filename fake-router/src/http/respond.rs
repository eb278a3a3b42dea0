//! Building responses the way the Router's helpers write them: `respondJSON`, `respondError`,
//! Go's `http.Error`, empty bodies, streamed bodies and SSE.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::core::governance::{Violation, violations_json};
use crate::core::wire;

/// The body type of every response: whole, empty or streamed bytes, never failing.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A JSON response the way the Router's `respondJSON` writes it.
pub(crate) fn json<T: Serialize + ?Sized>(status: u16, v: &T) -> Response<Body> {
    raw(status, "application/json", wire::encode(v))
}

/// `respondError`: `{"error":"<msg>"}` as application/json.
pub(crate) fn error(status: u16, msg: impl AsRef<str>) -> Response<Body> {
    json(status, &serde_json::json!({ "error": msg.as_ref() }))
}

/// Go's `http.Error`: text/plain, `nosniff`, body plus `\n`.
pub(crate) fn http_error(status: u16, body: &str) -> Response<Body> {
    let mut r = raw(
        status,
        "text/plain; charset=utf-8",
        format!("{body}\n").into_bytes(),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A response with the given content type and body.
pub(crate) fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = status_code(status);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A response with no body and no content type (204, mux 405/301).
pub(crate) fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Empty::new().boxed_unsync());
    *r.status_mut() = status_code(status);
    r
}

/// A 200 whose body is sent as one chunk of a stream: chunked encoding and no
/// `Content-Length`, like the Router's streamed downloads.
pub(crate) fn chunked(data: Bytes) -> Response<Body> {
    let frames = futures::stream::once(async move { Ok(Frame::data(data)) });
    Response::new(StreamBody::new(frames).boxed_unsync())
}

/// The 403 body create, PATCH and restore answer with.
pub(crate) fn policy_violation(v: &[Violation]) -> Response<Body> {
    json(
        403,
        &serde_json::json!({"error": "policy_violation", "violations": violations_json(v)}),
    )
}

/// An SSE response whose frames come from `rx` (the stream ends when the sender drops).
pub(crate) fn sse(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut rx = rx;
    let frames =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))));
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
