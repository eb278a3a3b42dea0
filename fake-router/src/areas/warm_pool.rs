//! The warm pool: status and config (the `warmpool` tag in openapi.yaml). The FakeRouter's pools fill at
//! once: ready = desired, pending = 0.

use http::Response;
use serde_json::{Map, Value, json};

use crate::core::state::Shared;
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /warmpool/status`: every field omitempty (`{}` with no pools).
pub(crate) fn status(shared: &Shared, _call: &Call) -> Response<Body> {
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
    respond::json(200, &Value::Object(out))
}

/// `PUT /warmpool/config` (admin; replaces the whole config).
pub(crate) fn set_config(shared: &Shared, call: &Call) -> Response<Body> {
    let Ok(body) = wire::decode::<Value>(&call.body) else {
        return respond::error(400, "invalid request body");
    };
    let Value::Object(obj) = body else {
        return respond::error(400, "invalid request body");
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
                    return respond::error(400, "invalid request body");
                };
                if t.is_empty() {
                    return respond::error(400, format!("pools[{i}].template is required"));
                }
                if !(0..=10).contains(&n) {
                    return respond::error(400, format!("pools[{i}].desiredCount must be 0-10"));
                }
                pools.push((t, n));
            }
        }
        None | Some(Value::Null) => {
            let (Ok(t), Ok(n)) = (text(obj.get("template")), int(obj.get("desiredCount"))) else {
                return respond::error(400, "invalid request body");
            };
            // The legacy shape with nothing to keep clears every pool.
            if !t.is_empty() && n > 0 {
                if n > 10 {
                    return respond::error(400, "pools[0].desiredCount must be 0-10");
                }
                pools.push((t, n));
            }
        }
        Some(_) => return respond::error(400, "invalid request body"),
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
    respond::json(200, &json!({"status": "updated", "pools": echoed}))
}
