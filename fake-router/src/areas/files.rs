//! The file routes: list, read, write, archive (the `files` tag in openapi.yaml).

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use serde_json::json;

use crate::core::state::{Key, Shared, State};
use crate::core::wire;
use crate::core::workspace::{FILE_CAP, ReadError};
use crate::core::zip::write_zip;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// The Router's path rule for file routes: absolute, cleaned, no shell-hostile characters.
fn file_path(raw: &str) -> Result<String, Response<Body>> {
    if raw.contains(['\'', '\\', '`', '\r', '\n']) {
        return Err(respond::error(400, "path contains disallowed characters"));
    }
    Ok(wire::clean_path(&format!(
        "/{}",
        raw.trim_start_matches('/')
    )))
}

/// The `?path=` of list and archive (default `/workspace`), checked like a file path.
fn query_path(call: &Call) -> Result<String, Response<Body>> {
    file_path(
        call.query("path")
            .filter(|p| !p.is_empty())
            .unwrap_or("/workspace"),
    )
}

/// Owner gate → Running; returns the sandbox key.
fn running_sandbox(st: &State, call: &Call) -> Result<Key, Response<Body>> {
    let key = st
        .owned(&call.caller, call.param("id"))
        .map_err(|e| respond::error(404, e))?;
    if st.sb(&key).phase != "Running" {
        return Err(respond::error(409, "sandbox is not running"));
    }
    Ok(key)
}

/// `GET /sandboxes/{id}/files/`.
pub(crate) fn list(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match running_sandbox(&st, call) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let path = match query_path(call) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match st.sb(&key).workspace.list(&path) {
        None => respond::error(404, format!("path not found: {path}")),
        Some(entries) => {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|e| {
                    json!({"name": e.name, "size": e.size, "isDir": e.is_dir, "mode": e.mode, "modifiedAt": e.modified})
                })
                .collect();
            respond::json(200, &json!({"path": path, "entries": entries}))
        }
    }
}

/// `GET /sandboxes/{id}/files/{path}`.
pub(crate) fn read(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match running_sandbox(&st, call) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let path = match file_path(call.param("path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match st.sb(&key).workspace.read(&path) {
        Err(ReadError::NotFound) => respond::error(404, format!("file not found: {path}")),
        Err(ReadError::TooLarge(n)) => respond::error(
            413,
            format!("file is {n} bytes, max {FILE_CAP} — use the terminal for large files"),
        ),
        Err(ReadError::Io(e)) => respond::error(500, format!("read failed: {e}")),
        Ok(data) => {
            let base = path.rsplit('/').next().unwrap_or("");
            let mut safe: String = base
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect();
            if safe.is_empty() {
                safe = "file".to_string();
            }
            let mut r = respond::raw(200, "application/octet-stream", data);
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
    }
}

/// `PUT /sandboxes/{id}/files/{path}`.
pub(crate) fn write(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let key = match running_sandbox(&st, call) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let path = match file_path(call.param("path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if call.body_over || call.body.len() > FILE_CAP {
        return respond::error(413, format!("payload exceeds {FILE_CAP} bytes"));
    }
    // The Router puts the base64 of the body into one `sh -c` argument; Linux refuses
    // argument strings over 128 KiB, which is about 96 KiB of payload.
    if call.body.len() > st.cfg.upload_limit {
        return respond::error(500, "write failed: sh: argument list too long");
    }
    match st.sb_mut(&key).workspace.write(&path, &call.body) {
        Ok(()) => respond::json(201, &json!({"path": path, "bytes": call.body.len()})),
        Err(e) => respond::error(500, format!("write failed: {e}")),
    }
}

/// `GET /sandboxes/{id}/archive`.
pub(crate) fn archive(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match running_sandbox(&st, call) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let path = match query_path(call) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if path != "/workspace" && !path.starts_with("/workspace/") {
        return respond::error(400, "path must live under /workspace");
    }
    let sb = st.sb(&key);
    if !sb.workspace.is_dir(&path) {
        return respond::error(404, format!("directory not found: {path}"));
    }
    let entries = match sb.workspace.zip_entries(&path) {
        Ok(e) => e,
        Err(e) => return respond::error(500, format!("stat failed: {e}")),
    };
    let zip = Bytes::from(write_zip(&entries));
    let base = path.rsplit('/').next().unwrap_or("workspace");
    let mut r = respond::chunked(zip);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}-{base}.zip\"", sb.name))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
