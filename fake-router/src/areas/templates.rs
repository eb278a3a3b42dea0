//! ClusterSandboxTemplates: list, get, create, replace, delete (the `templates` tag in openapi.yaml).

use http::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::state::{Shared, Template};
use crate::core::wire;
use crate::http::call::Call;
use crate::http::respond::{self, Body};

/// `GET /templates` (`null` when there are none).
pub(crate) fn list(shared: &Shared, _call: &Call) -> Response<Body> {
    let st = shared.lock();
    let items: Vec<Value> = st
        .templates
        .iter()
        .map(|(name, t)| t.to_json(name))
        .collect();
    let list = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    respond::json(200, &json!({ "templates": list }))
}

/// `GET /templates/{name}`.
pub(crate) fn get(shared: &Shared, call: &Call) -> Response<Body> {
    let st = shared.lock();
    let name = call.param("name");
    match st.templates.get(name) {
        Some(t) => respond::json(200, &t.to_json(name)),
        None => respond::error(404, "template not found"),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TemplateBody {
    name: String,
    spec: Value,
}

fn valid_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(wire::is_rfc1123_label)
}

/// `POST /templates` (admin).
pub(crate) fn create(shared: &Shared, call: &Call) -> Response<Body> {
    let req: TemplateBody = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    if req.name.is_empty() {
        return respond::error(400, "name is required");
    }
    let mut st = shared.lock();
    if !valid_name(&req.name) {
        return respond::error(
            500,
            format!(
                "failed to create template: ClusterSandboxTemplate.agenttier.io \"{}\" is invalid: metadata.name: Invalid value: \"{}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                req.name, req.name
            ),
        );
    }
    if st.templates.contains_key(&req.name) {
        return respond::error(
            500,
            format!(
                "failed to create template: clustersandboxtemplates.agenttier.io \"{}\" already exists",
                req.name
            ),
        );
    }
    let t = Template {
        spec: req.spec,
        resource_version: st.bump_version(),
    };
    let body = t.to_json(&req.name);
    st.templates.insert(req.name, t);
    respond::json(201, &body)
}

/// `PUT /templates/{name}` (admin; the whole spec is replaced).
pub(crate) fn update(shared: &Shared, call: &Call) -> Response<Body> {
    let req: TemplateBody = match wire::decode(&call.body) {
        Ok(r) => r,
        Err(e) => return respond::error(400, format!("invalid request body: {e}")),
    };
    let mut st = shared.lock();
    let name = call.param("name");
    if !st.templates.contains_key(name) {
        return respond::error(404, "template not found");
    }
    let version = st.bump_version();
    let t = Template {
        spec: req.spec,
        resource_version: version,
    };
    let body = t.to_json(name);
    st.templates.insert(name.to_string(), t);
    respond::json(200, &body)
}

/// `DELETE /templates/{name}` (admin; 409 while a Running sandbox uses it).
pub(crate) fn delete(shared: &Shared, call: &Call) -> Response<Body> {
    let mut st = shared.lock();
    let name = call.param("name");
    if let Some(sb) = st
        .sandboxes
        .values()
        .find(|s| s.phase == "Running" && s.resolved_template == name)
    {
        return respond::error(
            409,
            format!(
                "cannot delete template: sandbox \"{}\" is still using it",
                sb.name
            ),
        );
    }
    if st.templates.remove(name).is_none() {
        return respond::error(404, "template not found");
    }
    respond::empty(204)
}
