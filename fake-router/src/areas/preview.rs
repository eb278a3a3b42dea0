//! The preview proxy, `ANY /api/v1/sandboxes/{id}/preview/{port}[/<rest>]` (router-api.md
//! §4.6; not in openapi.yaml).
//!
//! The checks run in the Router's order: 400 `invalid port: …`, 404 (sandbox), 409 `sandbox
//! is not running`, 404 `port <n> is not forwarded`; then the request goes to
//! `127.0.0.1:<port>` (where the Router would use the port's Service): the method, the rest
//! of the path, the query, the body and **every header, the caller's `X-API-Key` or
//! `Authorization` included** (the Router's `httputil.ReverseProxy` forwards them to the
//! workload), with `Host` rewritten to the Service's host. An upstream that cannot be reached
//! gives 502 text/plain `port forward upstream unreachable: <err>`; any answer the upstream
//! gives (a 500 included) comes back as it is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::core::state::Shared;
use crate::http::call::PreviewCall;
use crate::http::respond::{self, Body};

/// Headers that belong to one connection, not to the message (dropped both ways).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Handle one preview request.
pub(crate) fn proxy(
    shared: Arc<Shared>,
    call: PreviewCall,
) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
    Box::pin(run(shared, call))
}

async fn run(shared: Arc<Shared>, call: PreviewCall) -> Response<Body> {
    let port = match call.port.parse::<i32>() {
        Ok(p) if p > 0 => p,
        _ => return respond::error(400, format!("invalid port: {}", call.port)),
    };
    let host = {
        let st = shared.lock();
        let key = match st.owned(&call.caller, &call.id) {
            Ok(k) => k,
            Err(e) => return respond::error(404, e),
        };
        let sb = st.sb(&key);
        if sb.phase != "Running" {
            return respond::error(409, "sandbox is not running");
        }
        if !sb.ports.contains_key(&i64::from(port)) {
            return respond::error(404, format!("port {port} is not forwarded"));
        }
        format!(
            "pf-{}-{port}.{}.svc.cluster.local:{port}",
            sb.name, sb.namespace
        )
    };
    match forward(&call, port, &host).await {
        Ok(r) => r,
        Err(e) => respond::http_error(502, &format!("port forward upstream unreachable: {e}")),
    }
}

async fn forward(
    call: &PreviewCall,
    port: i32,
    host: &str,
) -> Result<Response<Body>, Box<dyn std::error::Error + Send + Sync>> {
    let port = u16::try_from(port)?;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut uri = call.upstream_path.clone();
    if let Some(q) = &call.query {
        uri.push('?');
        uri.push_str(q);
    }
    let mut req = Request::builder()
        .method(call.method.clone())
        .uri(uri)
        .body(Full::new(call.body.clone()))?;
    let headers = req.headers_mut();
    for (name, value) in &call.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::HOST, HeaderValue::from_str(host)?);
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut out = Response::new(Full::new(body).boxed_unsync());
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(out)
}
