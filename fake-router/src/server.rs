//! The listener and the request pipeline: record → latency → faults → mux (path cleaning,
//! routing) → request id → auth → scoped-key gate → admin gate → handler.
//!
//! Connections are served with hyper directly (not an axum `Router`) so that a
//! [`Fault::Reset`] can close a connection without any response, and so that unmatched
//! routes behave like gorilla/mux rather than like axum.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::auth::{self, Caller};
use super::faults::{self, Fault, RecordedRequest};
use super::routes::{self, Routed};
use super::state::Shared;
use super::{
    admin, agent, backups, cluster, exec, files, governance, ports, sandboxes, sharing, templates,
    user, webhooks, wire,
};

/// Largest body read for most routes (JSON); file uploads and invoke have their own caps.
const DEFAULT_BODY_CAP: usize = 256 << 20;
/// Invoke's stdin cap (16 MiB).
pub(crate) const INVOKE_BODY_CAP: usize = 16 << 20;

/// One matched, authenticated request as the handlers see it.
pub(crate) struct Call {
    pub op: &'static str,
    pub params: Vec<(&'static str, String)>,
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

    /// Whether an optional body is read: the Router only looks when `Content-Length > 0`.
    pub(crate) fn has_sized_body(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    }
}

/// Decode the first JSON value of a body like Go's `json.NewDecoder(r).Decode`; the error
/// is the decoder's message (`EOF` for an empty body).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut it = serde_json::Deserializer::from_slice(body).into_iter::<T>();
    match it.next() {
        None => Err("EOF".to_string()),
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) if e.is_eof() => Err("unexpected EOF".to_string()),
        Some(Err(e)) => Err(format!("json: {e}")),
    }
}

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
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
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
                let shared = shared.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    // Go writes canonical header names (`X-Request-Id`); so do we.
                    let _ = http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn body_cap(routed: &Routed) -> usize {
    match routed {
        Routed::Op(m) if m.op == "writeFile" => files::FILE_CAP,
        Routed::Op(m) if m.op == "invokeAgent" => INVOKE_BODY_CAP,
        _ => DEFAULT_BODY_CAP,
    }
}

/// Read at most `cap + 1` bytes of the body; the flag says whether the cap was passed.
async fn read_body(body: Incoming, cap: usize) -> (Bytes, bool) {
    let mut stream = Body::new(body).into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        if buf.len() > cap {
            buf.truncate(cap + 1);
            return (buf.freeze(), true);
        }
    }
    (buf.freeze(), false)
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
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

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ResetConnection> {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let decoded = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let routed = routes::route(parts.method.as_str(), &decoded);
    let (body, body_over) = read_body(body, body_cap(&routed)).await;

    let (latency, fault) = {
        let mut st = shared.lock();
        st.record(RecordedRequest {
            method: parts.method.clone(),
            path: raw_path.clone(),
            query: raw_query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        let fault = faults::take_fault(&mut st.faults, &parts.method, &raw_path);
        (st.latency, fault)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Reset) => return Err(ResetConnection),
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
        let mut r = wire::empty(301);
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        return Ok(r);
    }
    let matched = match routed {
        Routed::NotFound => return Ok(wire::http_error(404, "404 page not found")),
        Routed::MethodNotAllowed => return Ok(wire::empty(405)),
        Routed::Options => {
            let mut r = wire::empty(204);
            r.headers_mut()
                .insert("x-request-id", request_id(&parts.headers));
            return Ok(r);
        }
        Routed::Op(m) => m,
    };

    let rid = request_id(&parts.headers);
    let mut resp = match matched.op {
        "healthz" | "readyz" => wire::raw(200, "text/plain; charset=utf-8", "ok"),
        _ => {
            let caller = {
                let st = shared.lock();
                auth::authenticate(&st.cfg.auth, &parts.headers, &st)
            };
            match caller {
                Err(r) => r,
                Ok(caller) => {
                    if let Some(r) = auth::scope_gate(&caller, matched.op, &matched.params)
                        .or_else(|| auth::admin_gate(&caller, matched.op))
                    {
                        r
                    } else {
                        let call = Call {
                            op: matched.op,
                            params: matched.params,
                            query: parse_query(raw_query.as_deref()),
                            headers: parts.headers,
                            body,
                            body_over,
                            caller,
                        };
                        dispatch(shared, call).await
                    }
                }
            }
        }
    };
    resp.headers_mut().insert("x-request-id", rid);
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

async fn dispatch(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let s = &*shared;
    let c = &call;
    match call.op {
        "listSandboxes" => sandboxes::list(s, c),
        "createSandbox" => sandboxes::create(s, c),
        "getSandbox" => sandboxes::get(s, c),
        "deleteSandbox" => sandboxes::delete(s, c),
        "updateSandbox" => sandboxes::patch(s, c),
        "stopSandbox" => sandboxes::stop(s, c),
        "resumeSandbox" => sandboxes::resume(s, c),
        "cloneSandbox" => sandboxes::clone(s, c),
        "bulkCreateSandboxes" => sandboxes::bulk_create(s, c),
        "bulkSandboxAction" => sandboxes::bulk_action(s, c),
        "listBackups" => backups::list_backups(s, c),
        "createBackup" => backups::create_backup(s, c),
        "restoreBackup" => backups::restore_backup(s, c),
        "deleteBackup" => backups::delete_backup(s, c),
        "execCommand" => exec::exec_command(shared.clone(), call).await,
        "listFiles" => files::list_files(s, c),
        "readFile" => files::read_file(s, c),
        "writeFile" => files::write_file(s, c),
        "downloadArchive" => files::download_archive(s, c),
        "listPorts" => ports::list_ports(s, c),
        "forwardPort" => ports::forward_port(s, c),
        "removePort" => ports::remove_port(s, c),
        "getSharing" => sharing::get_sharing(s, c),
        "shareSandbox" => sharing::share(s, c),
        "revokeShare" => sharing::revoke_share(s, c),
        "createShareLink" => sharing::create_share_link(s, c),
        "configureAgent" => agent::configure(shared.clone(), call).await,
        "getInstallLog" => agent::install_log(s, c),
        "invokeAgent" => agent::invoke(shared.clone(), call).await,
        "cancelInvoke" => agent::cancel(s, c),
        "listTemplates" => templates::list(s, c),
        "createTemplate" => templates::create(s, c),
        "getTemplate" => templates::get(s, c),
        "updateTemplate" => templates::update(s, c),
        "deleteTemplate" => templates::delete(s, c),
        "createWebhook" => webhooks::create(s, c),
        "listWebhooks" => webhooks::list(s, c),
        "deleteWebhook" => webhooks::delete(s, c),
        "listWebhookDeliveries" => webhooks::deliveries(s, c),
        "listPolicies" => governance::list(s, c),
        "setClusterPolicy" => governance::set_cluster(s, c),
        "getNamespacePolicy" => governance::get_namespace(s, c),
        "setNamespacePolicy" => governance::set_namespace(s, c),
        "deleteNamespacePolicy" => governance::delete_namespace(s, c),
        "getEffectivePolicy" => governance::effective(s, c),
        "listAuditEvents" => admin::audit_events(s, c),
        "getUsageAnalytics" => admin::usage(s, c),
        "getCostEstimates" => admin::costs(s, c),
        "adminListSandboxes" => admin::sandboxes(s, c),
        "adminGetSharing" => wire::json(200, &serde_json::json!({})),
        "getCurrentUser" => user::me(s, c),
        "getPreferences" => user::get_preferences(s, c),
        "setPreferences" => user::set_preferences(s, c),
        "listApiKeys" => user::list_keys(s, c),
        "createApiKey" => user::create_key(s, c),
        "revokeApiKey" => user::revoke_key(s, c),
        "getWarmPoolStatus" => cluster::warm_pool_status(s, c),
        "setWarmPoolConfig" => cluster::set_warm_pool(s, c),
        "getClusterStatus" => cluster::cluster_status(s, c),
        "getClusterNodes" => cluster::cluster_nodes(s, c),
        "getHeadroom" => cluster::headroom(s, c),
        "setHeadroom" => cluster::set_headroom(s, c),
        // Every operation in OPERATIONS is listed above; this arm only guards the table.
        _ => wire::http_error(404, "404 page not found"),
    }
}

/// An SSE response whose frames come from `rx` (the stream ends when the sender drops).
pub(crate) fn sse_response(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("keep-alive"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
