//! `POST /sandboxes/{id}/exec` (the `exec` tag in openapi.yaml).

use std::sync::Arc;

use http::Response;
use serde::Deserialize;
use serde_json::json;

use crate::core::exec::{self, EXEC_OUTPUT_CAP, Plan};
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

#[derive(Deserialize)]
struct ExecRequest {
    #[serde(default)]
    command: String,
    /// Accepted and ignored, as on the Router's default (SPDY) path.
    #[serde(default, rename = "timeout")]
    _timeout: i64,
}

/// Owner gate → Running → body → command, then run it (outside the lock).
pub(crate) async fn run(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let (plan, command) = {
        let mut st = shared.lock();
        let key = match st.owned(&call.caller, call.param("id")) {
            Ok(k) => k,
            Err(e) => return respond::error(404, e),
        };
        if st.sb(&key).phase != "Running" {
            return respond::error(409, "sandbox is not running");
        }
        let req: ExecRequest = match wire::decode(&call.body) {
            Ok(r) => r,
            Err(_) => return respond::error(400, "invalid request body"),
        };
        if req.command.is_empty() {
            return respond::error(400, "command is required");
        }
        let rules = st.exec_rules.clone();
        let plan =
            crate::core::shell::plan_exec(&rules, &mut st.sb_mut(&key).workspace, &req.command);
        (plan, req.command)
    };
    let out = match plan {
        Plan::Canned(out, delay) => {
            tokio::time::sleep(delay).await;
            out
        }
        Plan::Local(root) => {
            let cwd = root.join("workspace");
            exec::run_collect(&exec::localize(&command, &root), &cwd).await
        }
    };
    let mut stdout = out.stdout;
    let mut stderr = out.stderr;
    stdout.truncate(EXEC_OUTPUT_CAP);
    stderr.truncate(EXEC_OUTPUT_CAP);
    respond::json(
        200,
        &json!({
            "stdout": String::from_utf8_lossy(&stdout),
            "stderr": String::from_utf8_lossy(&stderr),
            "exitCode": out.exit_code,
        }),
    )
}
