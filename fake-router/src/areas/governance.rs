//! Governance policies: list, set, get, delete, effective (the `governance` tag in openapi.yaml). The checks
//! the policies drive live in the core.

use http::Response;
use serde_json::{Value, json};

use crate::core::policy::Policy;
use crate::core::state::{Shared, State};
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// The reserved `{namespace}` value that addresses the cluster policy.
const CLUSTER_KEY: &str = "__cluster__";

fn policy_json(p: &Policy) -> Value {
    serde_json::to_value(p).unwrap_or_else(|_| json!({}))
}

fn decode_policy(call: &Call) -> Result<Policy, Response<Body>> {
    wire::decode::<Policy>(&call.body)
        .map_err(|e| respond::error(400, format!("invalid request body: {e}")))
}

/// `GET /governance/policies`.
pub(crate) fn list(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let namespaces: Vec<Value> = st
        .ns_policies
        .iter()
        .map(|(ns, p)| json!({"namespace": ns, "policy": policy_json(p)}))
        .collect();
    respond::json(
        200,
        &json!({
            "cluster": st.cluster_policy.as_ref().map(policy_json),
            "namespaces": namespaces,
        }),
    )
}

/// `PUT /governance/policies` (replace).
pub(crate) fn set_cluster(shared: &Shared, call: &Call) -> Response<Body> {
    let p = match decode_policy(call) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = shared.lock();
    st.cluster_policy = Some(p.clone());
    respond::json(200, &json!({"scope": "cluster", "policy": policy_json(&p)}))
}

fn stored<'a>(st: &'a State, ns: &str) -> Option<&'a Policy> {
    if ns == CLUSTER_KEY {
        st.cluster_policy.as_ref()
    } else {
        st.ns_policies.get(ns)
    }
}

/// `GET /governance/policies/{namespace}`.
pub(crate) fn get_namespace(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let ns = call.param("namespace");
    let p = stored(&st, ns).cloned().unwrap_or_default();
    respond::json(200, &json!({"namespace": ns, "policy": policy_json(&p)}))
}

/// `PUT /governance/policies/{namespace}` (replace).
pub(crate) fn set_namespace(shared: &Shared, call: &Call) -> Response<Body> {
    let p = match decode_policy(call) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = shared.lock();
    let ns = call.param("namespace");
    if ns == CLUSTER_KEY {
        st.cluster_policy = Some(p.clone());
    } else {
        st.ns_policies.insert(ns.to_string(), p.clone());
    }
    respond::json(200, &json!({"namespace": ns, "policy": policy_json(&p)}))
}

/// `DELETE /governance/policies/{namespace}` (204 even when nothing was stored).
pub(crate) fn delete_namespace(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let ns = call.param("namespace");
    if ns == CLUSTER_KEY {
        st.cluster_policy = None;
    } else {
        st.ns_policies.remove(ns);
    }
    respond::empty(204)
}

/// `GET /governance/effective?namespace=`.
pub(crate) fn effective(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let ns = call
        .query("namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or(&st.cfg.namespace)
        .to_string();
    let p = st.effective_policy(&ns);
    respond::json(200, &json!({"namespace": ns, "policy": policy_json(&p)}))
}
