//! Bulk create and bulk action: per-item results in a 200 (the `bulk` tag in openapi.yaml).

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::governance;
use crate::core::lifecycle::{self, SandboxCreateRequest};
use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkCreate {
    items: Vec<SandboxCreateRequest>,
}

/// `POST /sandboxes/bulk`: the quota check up front (409), then each item in order.
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: BulkCreate = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if req.items.is_empty() {
        return respond::error(400, "items must be a non-empty array");
    }
    let mut st = shared.lock();
    let owner = call.caller.sub().to_string();
    let counts = governance::bulk_counts(req.items.iter().map(|i| i.namespace(&st)));
    for (ns, n) in counts {
        let v = governance::check_bulk(&st, ns, &owner, n);
        if !v.is_empty() {
            return respond::json(
                409,
                &json!({
                    "error": "quota_would_exceed",
                    "namespace": ns,
                    "violations": governance::violations_json(&v),
                }),
            );
        }
    }
    let mut results = Vec::new();
    for (index, item) in req.items.iter().enumerate() {
        let outcome = item.validate().and_then(|()| {
            let v = governance::check(&st, &item.ask(&st, &owner));
            if !v.is_empty() {
                let msgs: Vec<&str> = v.iter().map(|v| v.message.as_str()).collect();
                return Err(format!("policy_violation: {}", msgs.join("; ")));
            }
            let new = item.to_new(&st);
            lifecycle::insert(&mut st, &call.caller.id, new)
                .map_err(|e| format!("failed to create sandbox: {e}"))
        });
        results.push(match outcome {
            Ok((_, name)) => json!({"index": index, "status": "created", "sandboxId": name}),
            Err(e) => json!({"index": index, "status": "error", "error": e}),
        });
    }
    respond::json(200, &json!({ "results": results }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkAction {
    action: String,
    ids: Vec<String>,
}

/// `POST /sandboxes/bulk-action`: the single endpoints' rules, per id.
pub(crate) fn action(shared: &Shared, call: &Call) -> Response<Body> {
    let req: BulkAction = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if !matches!(req.action.as_str(), "stop" | "resume" | "delete") {
        return respond::error(
            400,
            "action must be one of \"stop\", \"resume\", \"delete\"",
        );
    }
    if req.ids.is_empty() {
        return respond::error(400, "ids must be a non-empty array");
    }
    let mut st = shared.lock();
    let results: Vec<Value> = req
        .ids
        .iter()
        .map(|id| {
            let outcome = st
                .owned(&call.caller, id)
                .and_then(|key| match req.action.as_str() {
                    "stop" => lifecycle::stop(&mut st, &key),
                    "resume" => lifecycle::resume(&mut st, &key),
                    _ => {
                        lifecycle::start_delete(&mut st, &key);
                        Ok(())
                    }
                });
            match outcome {
                Ok(()) => json!({"id": id, "status": "ok"}),
                Err(e) => json!({"id": id, "status": "error", "error": e}),
            }
        })
        .collect();
    respond::json(200, &json!({ "results": results }))
}
