//! Warm pool and cluster capacity (router-api.md §4.15, §4.16), over a pretend one-node
//! cluster.

use axum::body::Body;
use http::Response;
use serde_json::{Map, Value, json};

use super::server::Call;
use super::state::{Shared, State};
use super::wire;

/// `GET /warmpool/status`: every field omitempty (`{}` with no pools).
pub(crate) fn warm_pool_status(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let mut out = Map::new();
    if !st.warm_pools.is_empty() {
        // The FakeRouter's pools fill instantly: ready = desired, pending = 0.
        let pools: Vec<Value> = st
            .warm_pools
            .iter()
            .map(|(t, n)| json!({"template": t, "desiredCount": n, "readyCount": n, "pendingCount": 0}))
            .collect();
        out.insert("pools".into(), Value::Array(pools));
        if let [(template, n)] = st.warm_pools.as_slice() {
            if *n != 0 {
                out.insert("desiredCount".into(), (*n).into());
                out.insert("readyCount".into(), (*n).into());
            }
            out.insert("template".into(), template.clone().into());
        }
    }
    wire::json(200, &Value::Object(out))
}

/// `PUT /warmpool/config` (admin; replaces the whole config).
pub(crate) fn set_warm_pool(shared: &Shared, call: &Call) -> Response<Body> {
    let Ok(body) = super::server::decode::<Value>(&call.body) else {
        return wire::error(400, "invalid request body");
    };
    let Value::Object(obj) = body else {
        return wire::error(400, "invalid request body");
    };
    let int = |v: Option<&Value>| -> Result<i64, ()> {
        match v {
            None | Some(Value::Null) => Ok(0),
            Some(n) => n.as_i64().ok_or(()),
        }
    };
    let text = |v: Option<&Value>| -> Result<String, ()> {
        match v {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(()),
        }
    };
    let mut pools = Vec::new();
    match obj.get("pools") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let (Ok(t), Ok(n)) = (text(item.get("template")), int(item.get("desiredCount")))
                else {
                    return wire::error(400, "invalid request body");
                };
                if t.is_empty() {
                    return wire::error(400, format!("pools[{i}].template is required"));
                }
                if !(0..=10).contains(&n) {
                    return wire::error(400, format!("pools[{i}].desiredCount must be 0-10"));
                }
                pools.push((t, n));
            }
        }
        None | Some(Value::Null) => {
            let (Ok(t), Ok(n)) = (text(obj.get("template")), int(obj.get("desiredCount"))) else {
                return wire::error(400, "invalid request body");
            };
            // The legacy shape with nothing to keep clears every pool.
            if !t.is_empty() && n > 0 {
                if n > 10 {
                    return wire::error(400, "pools[0].desiredCount must be 0-10");
                }
                pools.push((t, n));
            }
        }
        Some(_) => return wire::error(400, "invalid request body"),
    }
    let echoed = if pools.is_empty() {
        Value::Null
    } else {
        Value::Array(
            pools
                .iter()
                .map(|(t, n)| json!({"template": t, "desiredCount": n}))
                .collect(),
        )
    };
    shared.lock().warm_pools = pools;
    wire::json(200, &json!({"status": "updated", "pools": echoed}))
}

const NODE_CPU_MILLIS: i64 = 8000;
const NODE_MEM_BYTES: i64 = 32 << 30;

fn running_sandboxes(st: &State) -> i64 {
    st.sandboxes
        .values()
        .filter(|s| s.phase == "Running")
        .count() as i64
}

/// `GET /cluster/status`.
pub(crate) fn cluster_status(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let running = running_sandboxes(&st);
    let headroom = st.headroom.replicas;
    wire::json(
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
pub(crate) fn cluster_nodes(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let running = running_sandboxes(&st);
    let req_cpu = 250 + running * 500;
    let req_mem: i64 = (256 << 20) + running * (1 << 30);
    let pct = |a: i64, b: i64| ((a as f64 / b as f64) * 1000.0).round() / 10.0;
    let alloc = json!({"cpuMillis": NODE_CPU_MILLIS, "memBytes": NODE_MEM_BYTES});
    let reqs = json!({"cpuMillis": req_cpu, "memBytes": req_mem});
    wire::json(
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
    wire::json(200, &headroom_json(&shared.lock()))
}

/// `PUT /cluster/headroom` (admin; a missing `replicas` means 0).
pub(crate) fn set_headroom(shared: &Shared, call: &Call) -> Response<Body> {
    let Ok(Value::Object(obj)) = super::server::decode::<Value>(&call.body) else {
        return wire::error(400, "invalid request body");
    };
    let replicas = match obj.get("replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(n) => n,
            None => return wire::error(400, "invalid request body"),
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
        return wire::error(400, "invalid request body");
    };
    if !(0..=50).contains(&replicas) {
        return wire::error(400, "replicas must be in [0, 50]");
    }
    if !cpu.is_empty()
        && let Err(e) = wire::check_quantity(&cpu)
    {
        return wire::error(400, format!("invalid cpu quantity: {e}"));
    }
    if !memory.is_empty()
        && let Err(e) = wire::check_quantity(&memory)
    {
        return wire::error(400, format!("invalid memory quantity: {e}"));
    }
    let mut st = shared.lock();
    st.headroom.replicas = replicas;
    if !cpu.is_empty() {
        st.headroom.cpu = cpu;
    }
    if !memory.is_empty() {
        st.headroom.memory = memory;
    }
    wire::json(200, &headroom_json(&st))
}
