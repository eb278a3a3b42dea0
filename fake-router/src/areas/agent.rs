//! Agent mode: configure (SSE), install log, invoke (SSE), cancel (the `agent` tag in openapi.yaml).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::core::exec::{self, INVOKE_BODY_CAP, Line, Plan};
use crate::core::invocations::{InvocationOutcome, InvocationRecord};
use crate::core::state::{InFlight, Key, Shared, State};
use crate::core::wire;
use crate::core::workspace::FILE_CAP;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

const MAX_FILES: usize = 200;
const TOTAL_FILES_CAP: usize = 128 << 20;
const INSTALL_LOG_CAP: usize = 8 << 10;
const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The longest keepalive interval honoured (a year: no invoke lasts that long).
const KEEPALIVE_MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// How a configure stream ended, as `/metrics` labels it.
const SUCCESS: &str = "success";
const FAILURE: &str = "failure";
const ERROR: &str = "error";
const CANCELED: &str = "canceled";

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct ConfigureFile {
    path: String,
    content: Option<String>,
    content_base64: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ConfigureRequest {
    files: Vec<ConfigureFile>,
    install_command: Vec<String>,
    entrypoint: Vec<String>,
}

/// `ConfigureResponse`, in the Router's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigureResult {
    last_configured_at: String,
    install_command_hash: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entrypoint: Vec<String>,
    install_exit_code: i32,
    skipped: bool,
}

fn log_frame(stderr: bool, data: &[u8]) -> Bytes {
    // A Go map: keys sorted (`data`, `stream`).
    wire::sse_frame(
        "log",
        &json!({
            "stream": if stderr { "stderr" } else { "stdout" },
            "data": String::from_utf8_lossy(data),
        }),
    )
}

fn stdout_frame(text: &str) -> Bytes {
    log_frame(false, text.as_bytes())
}

/// Lines of a canned output the way the Router splits a stream (last partial line kept).
fn lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|b| *b == b'\n').collect()
}

/// Owner gate → mode must be agent → Running. `what` words the phase error.
fn agent_sandbox(st: &State, call: &Call, configure: bool) -> Result<Key, Response<Body>> {
    let key = st
        .owned(&call.caller, call.param("id"))
        .map_err(|e| respond::error(404, e))?;
    let sb = st.sb(&key);
    if sb.mode != "agent" {
        let msg = if configure {
            format!(
                "sandbox {} is in mode \"{}\" — /configure is only valid for mode: agent. Use the file-transfer and exec APIs for interactive sandboxes.",
                sb.name, sb.mode
            )
        } else {
            format!(
                "sandbox {} is in mode \"{}\" — /invoke is only valid for mode: agent",
                sb.name, sb.mode
            )
        };
        return Err(respond::error(400, msg));
    }
    if sb.phase != "Running" {
        let msg = if configure {
            format!(
                "sandbox is in phase \"{}\" — wait for Running before configuring",
                sb.phase
            )
        } else {
            format!(
                "sandbox is in phase \"{}\" — must be Running to invoke",
                sb.phase
            )
        };
        return Err(respond::error(409, msg));
    }
    Ok(key)
}

/// A validated configure file: (cleaned path, bytes, encoded form as sent).
type CheckedFile = (String, Vec<u8>, String);

/// Validate the files.
fn check_files(files: &[ConfigureFile]) -> Result<Vec<CheckedFile>, Response<Body>> {
    if files.len() > MAX_FILES {
        return Err(respond::error(
            403,
            format!("too many files in request: {} > {MAX_FILES}", files.len()),
        ));
    }
    let mut out = Vec::new();
    let mut total = 0usize;
    for (i, f) in files.iter().enumerate() {
        if f.path.is_empty() {
            return Err(respond::error(400, format!("files[{i}].path is required")));
        }
        if !f.path.starts_with('/') {
            return Err(respond::error(
                400,
                format!("files[{i}].path must be absolute (got \"{}\")", f.path),
            ));
        }
        if f.path.contains("..") {
            return Err(respond::error(
                400,
                format!("files[{i}].path must not contain '..'"),
            ));
        }
        if f.path.contains(['\'', '`', '\\', '\n', '\r']) {
            return Err(respond::error(
                400,
                format!("files[{i}].path contains disallowed characters"),
            ));
        }
        let (data, encoded) = match (&f.content, &f.content_base64) {
            (None, None) => {
                return Err(respond::error(
                    400,
                    format!("files[{i}] must set content or contentBase64"),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(respond::error(
                    400,
                    format!("files[{i}]: set content OR contentBase64, not both"),
                ));
            }
            (Some(c), None) => (c.clone().into_bytes(), c.clone()),
            (None, Some(b)) => match wire::base64_decode(b) {
                Some(d) => (d, b.clone()),
                None => {
                    return Err(respond::error(
                        400,
                        format!("files[{i}].contentBase64 is not valid base64"),
                    ));
                }
            },
        };
        if encoded.len() > FILE_CAP {
            return Err(respond::error(
                403,
                format!(
                    "files[{i}] ({}): {} bytes exceeds per-file cap of {FILE_CAP} bytes",
                    f.path,
                    encoded.len()
                ),
            ));
        }
        total += encoded.len();
        if total > TOTAL_FILES_CAP {
            return Err(respond::error(
                403,
                format!(
                    "aggregate file size {total} bytes exceeds total cap of {TOTAL_FILES_CAP} bytes"
                ),
            ));
        }
        out.push((wire::clean_path(&f.path), data, encoded));
    }
    Ok(out)
}

/// `installCommandHash`: SHA-256 over the install argv and the files sorted by path.
fn install_hash(install: &[String], files: &[CheckedFile]) -> String {
    let mut h = sha2::Sha256::new();
    for a in install {
        h.update(a.as_bytes());
        h.update([0]);
    }
    h.update([1]);
    let mut sorted: Vec<_> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, _, encoded) in sorted {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(encoded.as_bytes());
        h.update([0]);
    }
    wire::hex(&h.finalize())
}

/// Configure's governance: allowed templates and agent images (a plain 403 reason).
fn configure_policy(st: &State, key: &Key) -> Option<Response<Body>> {
    let sb = st.sb(key);
    let eff = st.effective_policy(&sb.namespace);
    if !eff.allowed_templates.is_empty() && !eff.allowed_templates.contains(&sb.template) {
        return Some(respond::error(
            403,
            format!(
                "template \"{}\" is not permitted in this namespace (allowed: {})",
                sb.template,
                eff.allowed_templates.join(", ")
            ),
        ));
    }
    let image = st
        .templates
        .get(&sb.template)
        .map(|t| t.image().to_string())
        .unwrap_or_default();
    if !eff.allowed_agent_images.is_empty()
        && !eff
            .allowed_agent_images
            .iter()
            .any(|p| image.starts_with(p.as_str()))
    {
        return Some(respond::error(
            403,
            format!(
                "agent image \"{image}\" is not approved (allowed: {})",
                eff.allowed_agent_images.join(", ")
            ),
        ));
    }
    None
}

/// `POST /sandboxes/{id}/configure`.
pub(crate) async fn configure(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let (key, req, files, hash, skipped, plan, upload_limit, template) = {
        let st = shared.lock();
        let key = match agent_sandbox(&st, &call, true) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let req: ConfigureRequest = match wire::decode(&call.body) {
            Ok(r) => r,
            Err(e) => return respond::error(400, format!("invalid request body: {e}")),
        };
        let files = match check_files(&req.files) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if req.files.is_empty() && req.install_command.is_empty() && req.entrypoint.is_empty() {
            return respond::error(
                400,
                "at least one of files, installCommand, or entrypoint is required",
            );
        }
        if let Some(r) = configure_policy(&st, &key) {
            return r;
        }
        let hash = install_hash(&req.install_command, &files);
        let skipped = !st.sb(&key).agent.hash.is_empty() && st.sb(&key).agent.hash == hash;
        let plan = (!req.install_command.is_empty()).then(|| {
            let line = req.install_command.join(" ");
            exec::plan(&st.exec_rules, &st.sb(&key).workspace, &line)
        });
        let template = st.sb(&key).template.clone();
        (
            key,
            req,
            files,
            hash,
            skipped,
            plan,
            st.cfg.upload_limit,
            template,
        )
    };

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let started = Instant::now();
        let outcome = async {
            let error = |phase: &str, message: String| {
                wire::sse_frame("error", &json!({"phase": phase, "message": message}))
            };
            let mut exit_code = 0;
            let mut log: Option<Vec<u8>> = None;
            if !skipped {
                for (path, data, _) in &files {
                    if tx
                        .send(stdout_frame(&format!("[configure] uploading {path}")))
                        .await
                        .is_err()
                    {
                        return CANCELED;
                    }
                    let written = if data.len() > upload_limit {
                        Err("sh: argument list too long".to_string())
                    } else {
                        let mut st = shared.lock();
                        match st.sandboxes.get_mut(&key) {
                            Some(sb) => sb.workspace.write(path, data),
                            None => Err("sandbox is gone".to_string()),
                        }
                    };
                    if let Err(e) = written {
                        let _ = tx
                            .send(error("files", format!("write {path} exited 1: {e}")))
                            .await;
                        return ERROR;
                    }
                }
                if let Some(plan) = plan {
                    let argv = &req.install_command;
                    if tx
                        .send(stdout_frame(&format!(
                            "[configure] running install: {}",
                            argv.join(" ")
                        )))
                        .await
                        .is_err()
                    {
                        return CANCELED;
                    }
                    let mut collected = Vec::new();
                    match plan {
                        Plan::Canned(out, delay) => {
                            for (is_err, text) in [(false, &out.stdout), (true, &out.stderr)] {
                                for l in lines(text) {
                                    collected.extend_from_slice(l);
                                    collected.push(b'\n');
                                    if tx.send(log_frame(is_err, l)).await.is_err() {
                                        return CANCELED;
                                    }
                                }
                            }
                            // A disconnected client cancels the install, as the request context would.
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = tx.closed() => return CANCELED,
                            }
                            exit_code = out.exit_code;
                        }
                        Plan::Local(root) => {
                            let argv: Vec<String> =
                                argv.iter().map(|a| exec::localize(a, &root)).collect();
                            let cwd = root.join("workspace");
                            let (ltx, mut lrx) = mpsc::channel::<Line>(64);
                            let run = exec::run_streaming(&argv, &cwd, None, ltx);
                            let forward = async {
                                while let Some(l) = lrx.recv().await {
                                    collected.extend_from_slice(&l.data);
                                    collected.push(b'\n');
                                    let _ = tx.send(log_frame(l.stderr, &l.data)).await;
                                }
                            };
                            let (code, ()) = tokio::select! {
                                both = async { tokio::join!(run, forward) } => both,
                                // Dropping `run` kills the install process.
                                _ = tx.closed() => return CANCELED,
                            };
                            match code {
                                Ok(c) => exit_code = c,
                                Err(e) => {
                                    let _ = tx
                                        .send(error("install", format!("exec failed: {e}")))
                                        .await;
                                    return ERROR;
                                }
                            }
                        }
                    }
                    let start = collected.len().saturating_sub(INSTALL_LOG_CAP);
                    log = Some(collected[start..].to_vec());
                }
            }
            let entrypoint = req.entrypoint.clone();
            let now = {
                let mut st = shared.lock();
                let now = st.wall_now();
                if exit_code == 0 {
                    let cluster_cap = st
                        .cluster_policy
                        .as_ref()
                        .map(|p| p.max_concurrent_invokes_per_sandbox)
                        .unwrap_or(0);
                    let Some(sb) = st.sandboxes.get(&key) else {
                        return ERROR;
                    };
                    let template = st.templates.get(&sb.template);
                    let mut cap = template
                        .and_then(|t| t.agent_field("maxConcurrentInvokes"))
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0);
                    if cluster_cap > 0 && (cap == 0 || cap > cluster_cap) {
                        cap = cluster_cap;
                    }
                    let default_timeout = template
                        .and_then(|t| t.agent_field("defaultInvokeTimeout"))
                        .and_then(|v| v.as_str())
                        .and_then(|s| wire::positive_duration(s).ok());
                    let sb = st.sb_mut(&key);
                    sb.agent.entrypoint = entrypoint.clone();
                    sb.agent.hash = hash.clone();
                    sb.agent.max_concurrent = u32::try_from(cap.max(0)).unwrap_or(u32::MAX);
                    sb.agent.default_timeout = default_timeout;
                    if skipped {
                        sb.agent.install_log = None;
                    } else if log.is_some() {
                        sb.agent.install_log = log;
                    }
                    st.event(now, &key.0, &key.1, "AgentConfigured", "Agent configured");
                }
                now
            };
            let result = ConfigureResult {
                last_configured_at: wire::rfc3339(now),
                install_command_hash: hash,
                entrypoint,
                install_exit_code: exit_code,
                skipped,
            };
            let _ = tx.send(wire::sse_frame("result", &result)).await;
            if exit_code == 0 { SUCCESS } else { FAILURE }
        }
        .await;
        shared
            .lock()
            .metrics
            .configure_ended(&template, outcome, started.elapsed());
    });
    respond::sse(rx)
}

/// `GET /sandboxes/{id}/configure/install-log` (Go `%q` body, no trailing newline).
pub(crate) fn install_log(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    match &st.sb(&key).agent.install_log {
        None => respond::error(404, "no install log available for this sandbox"),
        Some(log) => respond::raw(
            200,
            "application/json",
            format!("{{\"log\":{}}}", wire::go_quote(log)),
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartEvent<'a> {
    invoke_id: &'a str,
    started_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExitEvent<'a> {
    invoke_id: &'a str,
    exit_code: i32,
    duration_ms: i64,
    reason: &'a str,
}

/// `POST /sandboxes/{id}/invoke`.
pub(crate) async fn invoke(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let prompt = call.query("prompt").map(str::to_string);
    let (key, invoke_id, plan, argv, stdin, timeout, mut cancel_rx, keepalive, template) = {
        let mut st = shared.lock();
        let key = match agent_sandbox(&st, &call, false) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let sb = st.sb(&key);
        if sb.agent.entrypoint.is_empty() {
            return respond::error(
                424,
                format!(
                    "sandbox {} has no entrypoint — call POST /configure first to set one",
                    sb.name
                ),
            );
        }
        let limit = sb.agent.max_concurrent as usize;
        let template = sb.template.clone();
        let inflight = st.inflight_for(&key.1);
        if limit > 0 && inflight >= limit {
            st.metrics.invoke_throttled(&template);
            let mut r = respond::json(
                429,
                &json!({
                    "error": "concurrency_exceeded",
                    "limit": limit,
                    "inflight": inflight,
                    "message": format!("sandbox {} already has {inflight} concurrent invokes (max {limit})", key.1),
                }),
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
        if call.body_over {
            return respond::error(413, format!("request body exceeds {INVOKE_BODY_CAP} bytes"));
        }
        let sb = st.sb(&key);
        let mut argv = sb.agent.entrypoint.clone();
        if let Some(p) = prompt.as_deref().filter(|p| !p.is_empty()) {
            argv.push(format!("--prompt={p}"));
        }
        let stdin = match prompt.as_deref() {
            Some(p) if call.body.is_empty() && !p.is_empty() => Bytes::from(p.to_string()),
            _ => call.body.clone(),
        };
        let mut timeout = sb.agent.default_timeout.unwrap_or(DEFAULT_INVOKE_TIMEOUT);
        if let Some(Ok(t)) = call.query("timeout").map(wire::positive_duration)
            && t < timeout
        {
            timeout = t;
        }
        let line = argv
            .iter()
            .map(|a| exec::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let plan = exec::plan(&st.exec_rules, &st.sb(&key).workspace, &line);
        let invoke_id = format!("inv-{}", wire::random_hex(12));
        let (cancel_tx, cancel_rx) = watch::channel(false);
        st.inflight.insert(
            invoke_id.clone(),
            InFlight {
                namespace: key.0.clone(),
                sandbox: key.1.clone(),
                owner: call.caller.sub().to_string(),
                cancel: cancel_tx,
            },
        );
        st.invocations.push(InvocationRecord {
            invoke_id: invoke_id.clone(),
            sandbox: key.1.clone(),
            prompt: prompt.clone(),
            stdin: stdin.clone(),
            outcome: InvocationOutcome::InFlight,
            exit_code: None,
            client_disconnected: false,
        });
        st.event_now(
            &key,
            "AgentInvokeStarted",
            &format!("Invoke {invoke_id} started"),
        );
        (
            key,
            invoke_id,
            plan,
            line,
            stdin,
            timeout,
            cancel_rx,
            st.cfg.keepalive,
            template,
        )
    };

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let started_wall = shared.lock().wall_now();
    let started = Instant::now();
    let _ = tx
        .send(wire::sse_frame(
            "start",
            &StartEvent {
                invoke_id: &invoke_id,
                started_at: wire::unix_millis(started_wall),
            },
        ))
        .await;
    tokio::spawn(async move {
        let run = async {
            match plan {
                Plan::Canned(out, delay) => {
                    for (is_err, text) in [(false, &out.stdout), (true, &out.stderr)] {
                        for l in lines(text) {
                            let _ = tx.send(log_frame(is_err, l)).await;
                        }
                    }
                    tokio::time::sleep(delay).await;
                    Ok(out.exit_code)
                }
                Plan::Local(root) => {
                    let cmd = vec![
                        "sh".to_string(),
                        "-c".to_string(),
                        exec::localize(&argv, &root),
                    ];
                    let cwd = root.join("workspace");
                    let (ltx, mut lrx) = mpsc::channel::<Line>(64);
                    let run = exec::run_streaming(&cmd, &cwd, Some(stdin.to_vec()), ltx);
                    let forward = async {
                        while let Some(l) = lrx.recv().await {
                            let _ = tx.send(log_frame(l.stderr, &l.data)).await;
                        }
                    };
                    let (code, ()) = tokio::join!(run, forward);
                    code
                }
            }
        };
        tokio::pin!(run);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // `interval_at` panics on a zero period and on instants past its range.
        let keepalive = keepalive.clamp(Duration::from_millis(1), KEEPALIVE_MAX);
        let mut ticks = tokio::time::interval_at(started + keepalive, keepalive);
        let (outcome, code, reason, disconnected) = loop {
            tokio::select! {
                biased;
                _ = tx.closed() => break (InvocationOutcome::Canceled, -1, "canceled", true),
                changed = cancel_rx.changed() => {
                    if changed.is_ok() && *cancel_rx.borrow() {
                        break (InvocationOutcome::Canceled, -1, "canceled", false);
                    }
                }
                _ = &mut deadline => break (InvocationOutcome::TimedOut, -1, "timeout", false),
                // A keepalive that fell due is written before an exit that is also ready.
                _ = ticks.tick() => {
                    let _ = tx.send(Bytes::from_static(b": keepalive\n\n")).await;
                }
                code = &mut run => break match code {
                    Ok(c) => (InvocationOutcome::Completed, c, "completed", false),
                    Err(_) => (InvocationOutcome::Error, -1, "error", false),
                },
            }
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        {
            let mut st = shared.lock();
            st.metrics
                .invoke_ended(&template, reason, started.elapsed());
            st.finish_invocation(&invoke_id, outcome, code, disconnected);
            let reason_event = if outcome == InvocationOutcome::Completed && code == 0 {
                "AgentInvokeCompleted"
            } else {
                "AgentInvokeFailed"
            };
            if st.sandboxes.contains_key(&key) {
                st.event_now(
                    &key,
                    reason_event,
                    &format!("Invoke {invoke_id} {reason} (exit {code})"),
                );
            }
        }
        if !disconnected {
            let _ = tx
                .send(wire::sse_frame(
                    "exit",
                    &ExitEvent {
                        invoke_id: &invoke_id,
                        exit_code: code,
                        duration_ms,
                        reason,
                    },
                ))
                .await;
        }
    });
    respond::sse(rx)
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CancelRequest {
    invoke_id: String,
}

/// `POST /sandboxes/{id}/invoke/cancel`.
pub(crate) fn cancel(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let key = match st.owned(&call.caller, call.param("id")) {
        Ok(k) => k,
        Err(e) => return respond::error(404, e),
    };
    if st.sb(&key).mode != "agent" {
        return respond::error(400, "sandbox is not in mode: agent");
    }
    let req: CancelRequest = wire::decode(&call.body).unwrap_or_default();
    if req.invoke_id.is_empty() {
        return respond::error(400, "invokeId is required in request body");
    }
    match st.inflight.get(&req.invoke_id) {
        Some(f) if f.sandbox != key.1 || f.namespace != key.0 => {
            respond::error(404, "invoke does not belong to this sandbox")
        }
        Some(f) if f.owner != call.caller.sub() && !call.caller.is_admin() => {
            respond::error(403, "you do not own this invoke")
        }
        Some(f) => {
            let _ = f.cancel.send(true);
            respond::empty(204)
        }
        None => respond::error(404, format!("invoke {} not in flight", req.invoke_id)),
    }
}
