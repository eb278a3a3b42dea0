//! Tool failures, reported as MCP tool errors (`isError: true` results the model sees) that
//! keep the Router's HTTP status and request id.

use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// Why a tool call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The SDK failed: the Router answered an error, the request could not be made, or an
    /// argument was refused before any request.
    Sdk(agenttier::Error),
    /// The arguments do not make sense together (caught here, before any request).
    Arguments(String),
    /// The server's own bound on a long call ran out.
    Timeout(Duration),
    /// A result could not be encoded.
    Internal(String),
}

impl From<agenttier::Error> for Failure {
    fn from(e: agenttier::Error) -> Self {
        Failure::Sdk(e)
    }
}

/// The error result for `failure`: a text message (what the model reads, with the status and
/// request id when there are some) and the same facts as structured content under `error`.
pub(crate) fn failure_result(failure: &Failure) -> CallToolResult {
    let (message, detail) = match failure {
        Failure::Sdk(e) => {
            let mut message = e.to_string();
            if let Some(id) = e.request_id()
                && !message.contains(id)
            {
                message.push_str(&format!(" (request id {id})"));
            }
            let api = e.api();
            let detail = json!({
                "kind": if api.is_some() { "api" } else { "client" },
                "status": e.status(),
                "request_id": e.request_id(),
                "code": api.and_then(|a| a.code()),
                "operation": api.map(|a| a.operation()),
                "retryable": e.is_retryable(),
            });
            (message, detail)
        }
        Failure::Arguments(m) => (
            format!("bad arguments: {m}"),
            json!({"kind": "arguments", "status": Value::Null, "request_id": Value::Null}),
        ),
        Failure::Timeout(d) => (
            format!("gave up after {} s", d.as_secs()),
            json!({"kind": "timeout", "status": Value::Null, "request_id": Value::Null}),
        ),
        Failure::Internal(m) => (
            m.clone(),
            json!({"kind": "internal", "status": Value::Null, "request_id": Value::Null}),
        ),
    };
    let mut detail = detail;
    detail["message"] = Value::String(message.clone());
    let mut result = CallToolResult::structured_error(json!({ "error": detail }));
    result.content = vec![ContentBlock::text(message)];
    result
}
