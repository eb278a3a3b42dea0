//! The generated client ([`crate::raw`]) on the pipeline: progenitor's hooks hand each
//! request to the same engine the facade uses, with the options of the [`crate::Client`] the
//! raw client came from.
//!
//! progenitor is given a spec without error responses (build.rs), so every non-2xx answer
//! comes back to the caller as `progenitor_client::Error::UnexpectedResponse`. The engine has
//! already classified it, once: the [`Error`] rides in the response's extensions, next to the
//! real status, headers and (the first 16 KiB of the) body, and `Error::from` takes it out.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Request, Response, StatusCode};

use super::body::{LimitExceeded, MAX_ERROR_BODY, limit_in_chain};
use super::options::CallOptions;
use super::retry::Stop;
use super::{Body, Call, Failure, Pipeline, call_span};
use crate::error::Error;
use crate::operations::{self, Access, BodyKind, Operation, RetryClass};
use crate::raw;
use tracing::Instrument;

/// What the generated `Client` carries: the pipeline and the options of the facade client it
/// was taken from.
#[derive(Clone)]
pub struct RawInner {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) options: CallOptions,
}

impl fmt::Debug for RawInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawInner")
            .field("pipeline", &self.pipeline)
            .field("options", &self.options)
            .finish()
    }
}

/// The error the pipeline made of a raw call's failure, carried in the response extensions.
#[derive(Clone)]
pub(crate) struct Classified(Arc<Mutex<Option<Error>>>);

/// Status of the local answer that carries a cancellation or a credentials failure of a raw
/// call (nginx's "client closed request"); the [`Error`] itself is in its extensions.
pub(crate) const LOCAL_FAILURE: StatusCode = match StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// A generated method name the table does not know (cannot happen: both come from one spec).
static UNKNOWN: Operation = Operation {
    id: "raw",
    name: "raw",
    method: reqwest::Method::GET,
    path: "",
    tag: "",
    summary: "",
    access: Access::User,
    retry: RetryClass::Unsafe,
    scoped_key_group: None,
    request: BodyKind::Empty,
    response: BodyKind::Empty,
    facade: "",
};

impl ClientHooks<RawInner> for raw::Client {
    async fn pre<E>(
        &self,
        request: &mut Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        // Credentials once per raw call (a failing provider is reported as `Custom`, which
        // `Error::from` reads back as `Error::Credentials`).
        match self.inner().pipeline.credential_header().await {
            Ok(Some((name, value))) => {
                request.headers_mut().insert(name, value);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(progenitor_client::Error::Custom(e.to_string())),
        }
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let op = operations::by_method_name(info.operation_id).unwrap_or(&UNKNOWN);
        let inner = self.inner();
        inner
            .pipeline
            .execute_raw(op, request, &inner.options)
            .await
    }
}

impl Pipeline {
    /// Runs a generated request through the engine. Transport failures come back as the
    /// original `reqwest::Error`; every other failure as a carrier response (see the module
    /// docs); a success with its body limited to the client's maximum.
    async fn execute_raw(
        &self,
        op: &'static Operation,
        mut request: Request,
        options: &CallOptions,
    ) -> reqwest::Result<Response> {
        let content_type = request.headers().get(CONTENT_TYPE).cloned();
        let body = match request.body_mut().take() {
            None => Body::Empty,
            Some(b) => match (b.as_bytes(), content_type) {
                (Some(bytes), Some(ct)) => Body::Bytes(Bytes::copy_from_slice(bytes), ct),
                (Some(bytes), None) => Body::Bytes(
                    Bytes::copy_from_slice(bytes),
                    reqwest::header::HeaderValue::from_static("application/octet-stream"),
                ),
                (None, ct) => Body::Stream(
                    Mutex::new(Some(b)),
                    ct.unwrap_or_else(|| {
                        reqwest::header::HeaderValue::from_static("application/octet-stream")
                    }),
                ),
            },
        };
        let call = Call {
            op,
            url: request.url().clone(),
            body,
            accept: "",
            headers: Some(Box::new(std::mem::take(request.headers_mut()))),
            timeout: None,
            method: None,
            pass_through: false,
        };
        let mut plan = match self.plan(None, options, op) {
            Ok(p) => p,
            Err(e) => return Ok(carrier(LOCAL_FAILURE, Default::default(), Bytes::new(), e)),
        };
        plan.raw = true;
        let span = call_span(&call);
        plan.span = (!span.is_disabled()).then(|| span.clone());
        let outcome = self
            .attempts(&call, &plan, None, |resp| async move { Ok(resp) })
            .instrument(span)
            .await;
        let max = self.defaults.max_body;
        match outcome {
            Ok(resp) => Ok(limited(resp, max)),
            Err(Stop::Cancelled(_)) => Ok(carrier(
                LOCAL_FAILURE,
                Default::default(),
                Bytes::new(),
                Error::Cancelled { operation: op.name },
            )),
            Err(Stop::Failed(Failure::Transport(e), _)) => Err(e),
            Err(Stop::Failed(Failure::Status(resp), _)) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = super::body::read_prefix(resp, MAX_ERROR_BODY).await;
                let mut err = crate::error::classify(op.name, status, &headers, &body);
                self.finish_error(&mut err, &call.url, &plan);
                Ok(carrier(status, headers, body, err))
            }
            Err(Stop::Failed(other, _)) => {
                let err = self.error_of(op, &call.url, other, &plan).await;
                Ok(carrier(
                    LOCAL_FAILURE,
                    Default::default(),
                    Bytes::new(),
                    err,
                ))
            }
        }
    }
}

/// An answer for the generated code that carries the classified `err`.
fn carrier(
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
    err: Error,
) -> Response {
    let mut builder = http::Response::builder().status(status);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
        // The body is the kept prefix, not what the length said.
        h.remove(reqwest::header::CONTENT_LENGTH);
        h.remove(reqwest::header::TRANSFER_ENCODING);
    }
    let mut response = builder
        .body(body)
        .unwrap_or_else(|_| http::Response::new(Bytes::new()));
    response
        .extensions_mut()
        .insert(Classified(Arc::new(Mutex::new(Some(err)))));
    Response::from(response)
}

/// The success answer with its body cut off at `max` bytes (an error while reading, which
/// `Error::from` reports as [`Error::BodyTooLarge`]).
fn limited(resp: Response, max: usize) -> Response {
    if resp.content_length().is_some_and(|n| n <= max as u64) {
        return resp;
    }
    let mut builder = http::Response::builder().status(resp.status());
    if let Some(h) = builder.headers_mut() {
        *h = resp.headers().clone();
    }
    // Kept for the error: the body's reader sees neither.
    let status = Some(resp.status().as_u16());
    let request_id = crate::error::request_id(resp.headers());
    let mut seen = 0usize;
    let stream = resp.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen = seen.saturating_add(chunk.len());
        if seen > max {
            return Err(std::io::Error::other(LimitExceeded {
                limit: max,
                status,
                request_id: request_id.clone(),
            }));
        }
        Ok(chunk)
    });
    let body = reqwest::Body::wrap_stream(stream);
    match builder.body(body) {
        Ok(r) => Response::from(r),
        Err(_) => Response::from(http::Response::new(reqwest::Body::from(Bytes::new()))),
    }
}

impl From<progenitor_client::Error<()>> for Error {
    /// Maps an error of an operation called through [`crate::Client::raw`]: the pipeline's own
    /// classification when it made one, else the transport or decoding failure.
    fn from(err: progenitor_client::Error<()>) -> Self {
        use progenitor_client::Error as P;
        match err {
            P::UnexpectedResponse(resp) => {
                let classified = resp
                    .extensions()
                    .get::<Classified>()
                    .and_then(|c| c.0.lock().unwrap_or_else(|p| p.into_inner()).take());
                match classified {
                    Some(e) => e,
                    None => crate::error::classify("raw", resp.status(), resp.headers(), b""),
                }
            }
            P::ErrorResponse(rv) => crate::error::classify("raw", rv.status(), rv.headers(), b""),
            P::CommunicationError(e) | P::InvalidUpgrade(e) => Error::from_reqwest("raw", e),
            P::ResponseBodyError(e) => match limit_in_chain(&e) {
                Some(l) => Error::BodyTooLarge {
                    operation: "raw",
                    limit: l.limit,
                    status: l.status.or_else(|| e.status().map(|s| s.as_u16())),
                    request_id: l.request_id,
                },
                None => Error::from_reqwest("raw", e),
            },
            P::InvalidResponsePayload(bytes, e) => Error::decode("raw", None, None, e, &bytes),
            P::InvalidRequest(m) => Error::InvalidInput {
                field: "request",
                message: m,
            },
            P::Custom(m) => Error::Credentials {
                message: m,
                source: None,
            },
        }
    }
}
