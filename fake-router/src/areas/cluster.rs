//! Cluster capacity and headroom (the `cluster` tag in openapi.yaml), over a pretend one-node cluster.

use http::Response;
use serde_json::{Value, json};

use crate::core::state::{Shared, State};
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

const NODE_CPU_MILLIS: i64 = 8000;
const NODE_MEM_BYTES: i64 = 32 << 30;

fn running_sandboxes(st: &State) -> i64 {
    st.sandboxes
        .values()
        .filter(|s| s.phase == "Running")
        .count() as i64
}

/// `GET /cluster/status`.
pub(crate) fn status(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let running = running_sandboxes(&st);
    let headroom = st.headroom.replicas;
    respond::json(
        200,
        &json!({
            "nodes": 1,
            "nodesReady": 1,
            // The Router itself, the sandbox pods and the headroom pods.
            "pods": 1 + running + headroom,
            "sandboxPods": running,
            "headroomReady": headroom,
            "autoscalerEnabled": false,
        }),
    )
}

/// `GET /cluster/nodes` (admin).
pub(crate) fn nodes(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let running = running_sandboxes(&st);
    let req_cpu = 250 + running * 500;
    let req_mem: i64 = (256 << 20) + running * (1 << 30);
    let pct = |a: i64, b: i64| ((a as f64 / b as f64) * 1000.0).round() / 10.0;
    let alloc = json!({"cpuMillis": NODE_CPU_MILLIS, "memBytes": NODE_MEM_BYTES});
    let reqs = json!({"cpuMillis": req_cpu, "memBytes": req_mem});
    respond::json(
        200,
        &json!({
            "nodes": [{
                "name": "fake-node-1",
                "ready": true,
                "instanceType": "fake.2xlarge",
                "nodeGroup": "default",
                "allocatable": alloc,
                "requests": reqs,
            }],
            "summary": {
                "ready": 1,
                "total": 1,
                "cpuSaturationPct": pct(req_cpu, NODE_CPU_MILLIS),
                "memSaturationPct": pct(req_mem, NODE_MEM_BYTES),
                "allocatable": alloc,
                "requests": reqs,
            },
        }),
    )
}

fn headroom_json(st: &State) -> Value {
    let h = &st.headroom;
    let mut v = json!({"replicas": h.replicas, "cpu": h.cpu, "memory": h.memory, "enabled": true});
    // readyReplicas is omitempty; the pretend Deployment is ready at once.
    if h.replicas != 0 {
        v["readyReplicas"] = h.replicas.into();
    }
    v
}

/// `GET /cluster/headroom`.
pub(crate) fn headroom(shared: &Shared, _call: &Call) -> Response<Body> {
    respond::json(200, &headroom_json(&shared.lock()))
}

/// `PUT /cluster/headroom` (admin; a missing `replicas` means 0).
pub(crate) fn set_headroom(shared: &Shared, call: &Call) -> Response<Body> {
    let Ok(Value::Object(obj)) = wire::decode::<Value>(&call.body) else {
        return respond::error(400, "invalid request body");
    };
    let replicas = match obj.get("replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(n) => n,
            None => return respond::error(400, "invalid request body"),
        },
    };
    let field = |k: &str| -> Result<String, ()> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(()),
        }
    };
    let (Ok(cpu), Ok(memory)) = (field("cpu"), field("memory")) else {
        return respond::error(400, "invalid request body");
    };
    if !(0..=50).contains(&replicas) {
        return respond::error(400, "replicas must be in [0, 50]");
    }
    if !cpu.is_empty()
        && let Err(e) = wire::check_quantity(&cpu)
    {
        return respond::error(400, format!("invalid cpu quantity: {e}"));
    }
    if !memory.is_empty()
        && let Err(e) = wire::check_quantity(&memory)
    {
        return respond::error(400, format!("invalid memory quantity: {e}"));
    }
    let mut st = shared.lock();
    st.headroom.replicas = replicas;
    if !cpu.is_empty() {
        st.headroom.cpu = cpu;
    }
    if !memory.is_empty() {
        st.headroom.memory = memory;
    }
    respond::json(200, &headroom_json(&st))
}
