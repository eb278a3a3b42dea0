//! The listener and the request pipeline: record → latency → faults → mux (path cleaning,
//! routing) → request id → auth → scoped-key gate → admin gate → the area handler.
//!
//! Connections are served with hyper directly so that a [`Fault::Reset`] can close a
//! connection without any response, and so that unmatched routes behave like gorilla/mux.
//! The handlers behind the gates are passed in ([`Handlers`]): this layer sits below the areas.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::auth;
use super::call::{Call, PreviewCall, TerminalCall, parse_query};
use super::faults::{Fault, Knobs, RecordedRequest};
use super::mux::{self, Routed};
use super::respond::{self, Body};
use crate::core::exec::INVOKE_BODY_CAP;
use crate::core::identity::Caller;
use crate::core::ops::{Access, Op};
use crate::core::state::Shared;
use crate::core::wire;
use crate::core::workspace::FILE_CAP;

/// The handler behind the gates: runs one matched, authenticated call.
pub(crate) type Dispatch =
    fn(Arc<Shared>, Call) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A handler's answer, computed later.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// The handlers the layer above hands to the pipeline.
#[derive(Clone, Copy)]
pub(crate) struct Handlers {
    /// Every operation of the spec.
    pub op: Dispatch,
    /// `GET /metrics` (not in the spec; no auth).
    pub metrics: fn(&Shared) -> Response<Body>,
    /// `/ws/terminal/{id}` after the terminal's auth (not in the spec).
    pub terminal: fn(Arc<Shared>, TerminalCall) -> Response<Body>,
    /// The preview proxy after the `/api/v1` auth and gates (not in the spec).
    pub preview: fn(Arc<Shared>, PreviewCall) -> Answer,
}

/// What one FakeRouter serves with.
pub(crate) struct App {
    pub core: Arc<Shared>,
    pub knobs: Arc<Knobs>,
    pub handlers: Handlers,
}

/// Largest body read for configure (its files may add up to 128 MiB, encoded).
const CONFIGURE_BODY_CAP: usize = 256 << 20;
/// Largest body read for the other JSON routes.
const JSON_BODY_CAP: usize = 8 << 20;
/// Largest body read (for the request log only) when no route matched.
const UNMATCHED_BODY_CAP: usize = 64 << 10;

/// The error a service returns to make hyper drop the connection without answering.
#[derive(Debug)]
pub(crate) struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by FakeRouter fault")
    }
}

impl std::error::Error for ResetConnection {}

/// Accept connections until the task is aborted (dropping the JoinSet aborts them all).
pub(crate) async fn serve(listener: TcpListener, app: Arc<App>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(app.clone(), req));
                    // Go writes canonical header names (`X-Request-Id`); so do we.
                    let _ = http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn body_cap(routed: &Routed) -> usize {
    match routed {
        Routed::Op(m) => match m.op {
            Op::WriteFile => FILE_CAP,
            Op::InvokeAgent => INVOKE_BODY_CAP,
            Op::ConfigureAgent => CONFIGURE_BODY_CAP,
            _ => JSON_BODY_CAP,
        },
        Routed::Preview { .. } => JSON_BODY_CAP,
        _ => UNMATCHED_BODY_CAP,
    }
}

/// Read at most `cap + 1` bytes of the body; the flag says whether the cap was passed.
async fn read_body(mut body: Incoming, cap: usize) -> (Bytes, bool) {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(chunk);
        if buf.len() > cap {
            buf.truncate(cap + 1);
            return (buf.freeze(), true);
        }
    }
    (buf.freeze(), false)
}

/// gorilla/mux's `cleanPath`.
fn mux_clean(p: &str) -> String {
    if p.is_empty() {
        return "/".to_string();
    }
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut np = wire::clean_path(&p);
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers.get("x-request-id").cloned().unwrap_or_else(|| {
        HeaderValue::from_str(&wire::random_hex(8)).expect("hex is a valid header")
    })
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, ResetConnection> {
    let (mut parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let decoded = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let routed = mux::route(parts.method.as_str(), &decoded);
    let (body, body_over) = read_body(body, body_cap(&routed)).await;

    let (latency, fault) = {
        let mut knobs = app.knobs.lock();
        knobs.record(RecordedRequest {
            method: parts.method.clone(),
            path: raw_path.clone(),
            query: raw_query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        let fault = knobs.take_fault(&parts.method, &raw_path);
        (knobs.latency, fault)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reset_after = matches!(fault, Some(Fault::ResetAfter));
    match fault {
        Some(Fault::Reset) => return Err(ResetConnection),
        Some(Fault::ResetAfter) => {}
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status {
            status,
            body,
            headers,
        }) => {
            let mut r = Fault::response(status, &body, &headers);
            r.headers_mut()
                .insert("x-request-id", request_id(&parts.headers));
            return Ok(r);
        }
        None => {}
    }

    // The mux: non-canonical paths redirect before anything else runs.
    let cleaned = mux_clean(&decoded);
    if cleaned != decoded {
        let mut location = percent_encoding::utf8_percent_encode(&cleaned, PATH_SET).to_string();
        if let Some(q) = &raw_query {
            location.push('?');
            location.push_str(q);
        }
        let mut r = respond::empty(301);
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        return Ok(r);
    }
    let matched = match routed {
        Routed::NotFound => return Ok(respond::http_error(404, "404 page not found")),
        Routed::MethodNotAllowed => return Ok(respond::empty(405)),
        Routed::Options => {
            let mut r = respond::empty(204);
            r.headers_mut()
                .insert("x-request-id", request_id(&parts.headers));
            return Ok(r);
        }
        Routed::Metrics => {
            let mut r = (app.handlers.metrics)(&app.core);
            r.headers_mut()
                .insert("x-request-id", request_id(&parts.headers));
            return Ok(r);
        }
        Routed::Terminal(id) => {
            let query = parse_query(raw_query.as_deref());
            let find = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let caller = {
                let st = app.core.lock();
                auth::authenticate_terminal(
                    &st.cfg.auth,
                    &parts.headers,
                    find("token").as_deref(),
                    &st,
                    st.wall_now(),
                )
            };
            let caller = match caller {
                Ok(c) => c,
                Err(r) => return Ok(r),
            };
            let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
                return Ok(respond::http_error(400, "Bad Request"));
            };
            let call = TerminalCall {
                id,
                namespace: find("namespace").filter(|n| !n.is_empty()),
                headers: parts.headers,
                caller,
                upgrade,
            };
            return Ok((app.handlers.terminal)(app.core.clone(), call));
        }
        Routed::Preview { id, port, .. } => {
            let rid = request_id(&parts.headers);
            let caller = {
                let st = app.core.lock();
                auth::authenticate(&st.cfg.auth, &parts.headers, &st, st.wall_now())
            };
            let mut resp = match caller {
                Err(r) => r,
                // Preview is not in the scoped keys' allow-map.
                Ok(caller) if caller.scope.is_some() => {
                    respond::error(403, "scoped key not permitted for this route")
                }
                Ok(caller) => {
                    // The upstream sees the rest of the path as it was sent (encoded).
                    let upstream_path = match mux::route(parts.method.as_str(), &raw_path) {
                        Routed::Preview { rest, .. } => rest,
                        _ => "/".to_string(),
                    };
                    let call = PreviewCall {
                        id,
                        port,
                        upstream_path,
                        query: raw_query,
                        method: parts.method,
                        headers: parts.headers,
                        body,
                        caller,
                    };
                    (app.handlers.preview)(app.core.clone(), call).await
                }
            };
            resp.headers_mut().insert("x-request-id", rid);
            return Ok(resp);
        }
        Routed::Op(m) => m,
    };

    let rid = request_id(&parts.headers);
    let caller = if matched.op.access() == Access::None {
        Ok(Caller::anonymous())
    } else {
        let st = app.core.lock();
        auth::authenticate(&st.cfg.auth, &parts.headers, &st, st.wall_now())
    };
    let mut resp = match caller {
        Err(r) => r,
        Ok(caller) => {
            let gate = auth::scope_gate(&caller, matched.op, &matched.params)
                .or_else(|| auth::admin_gate(&caller, matched.op));
            match gate {
                Some(r) => r,
                None => {
                    let call = Call {
                        op: matched.op,
                        params: matched.params,
                        query: parse_query(raw_query.as_deref()),
                        headers: parts.headers,
                        body,
                        body_over,
                        caller,
                    };
                    (app.handlers.op)(app.core.clone(), call).await
                }
            }
        }
    };
    if reset_after {
        return Err(ResetConnection);
    }
    resp.headers_mut().insert("x-request-id", rid);
    if reset_after {
        // The handler ran (its effects are in the state); the answer is lost.
        return Err(ResetConnection);
    }
    Ok(resp)
}

/// Characters percent-encoded when a cleaned path is put back into `Location`.
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
