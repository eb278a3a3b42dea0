//! The infrastructure routes outside `/api/v1`: liveness, readiness and Prometheus metrics
//! (the `health` tag in openapi.yaml).

use http::Response;

use crate::core::state::Shared;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /healthz`: `ok`, no trailing newline.
pub(crate) fn healthz(_shared: &Shared, _call: &Call) -> Response<Body> {
    respond::raw(200, "text/plain; charset=utf-8", "ok")
}

/// `GET /readyz`: the emulated cluster always answers its list call.
pub(crate) fn readyz(_shared: &Shared, _call: &Call) -> Response<Body> {
    respond::raw(200, "text/plain; charset=utf-8", "ok")
}

/// `GET /metrics`: the Prometheus text exposition of the emulator's counters, no auth.
pub(crate) fn metrics(shared: &Shared) -> Response<Body> {
    let text = shared.lock().metrics.render();
    respond::raw(200, "text/plain; version=0.0.4; charset=utf-8", text)
}
