//! The infrastructure routes outside `/api/v1`: liveness and readiness (router-api.md §3).

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
