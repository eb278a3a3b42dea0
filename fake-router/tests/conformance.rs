//! The FakeRouter must not drift from the contract: every operation of openapi.yaml is served,
//! answers its documented success status, and every JSON body (and every SSE event payload)
//! validates against the spec's schema. The validator below is strict about undeclared
//! properties, so a field added on either side without the other is caught.

use std::collections::BTreeSet;
use std::time::Duration;

use agenttier_fake_router::FakeRouter;
use serde_json::{Value, json};

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
        Spec {
            doc: serde_yaml::from_str(&text).unwrap(),
        }
    }

    /// (operationId, METHOD, path template) for every operation.
    fn operations(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    out.push((id.to_owned(), method.to_uppercase(), path.clone()));
                }
            }
        }
        out
    }

    fn operation(&self, id: &str) -> (&Value, String, String) {
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("operationId").and_then(Value::as_str) == Some(id) {
                    return (op, method.to_uppercase(), path.clone());
                }
            }
        }
        panic!("no operation {id}");
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let mut cur = &self.doc;
                for part in r.trim_start_matches("#/").split('/') {
                    cur = &cur[part];
                }
                self.resolve(cur)
            }
            None => v,
        }
    }

    fn schema(&self, name: &str) -> &Value {
        &self.doc["components"]["schemas"][name]
    }

    fn validate(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if v.is_null() {
            if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
                errors.push(format!("{at}: null but not nullable"));
            }
            return;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let ok = match ty {
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected {}, got {v}", ty.unwrap_or("?")));
            return;
        }
        if let Some(obj) = v.as_object() {
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let req = req.as_str().unwrap();
                if !obj.contains_key(req) {
                    errors.push(format!("{at}: missing required {req}"));
                }
            }
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => self.validate(s, val, &format!("{at}.{k}"), errors),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(true)) => {}
                        Some(s @ Value::Object(_)) => {
                            self.validate(s, val, &format!("{at}.{k}"), errors)
                        }
                        _ if props.is_none()
                            && ty == Some("object")
                            && schema.get("additionalProperties").is_none() => {}
                        _ => errors.push(format!("{at}: property {k} is not in the spec")),
                    },
                }
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
            for (i, item) in arr.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

/// Matches a concrete path against a template (`{path}` may span segments).
fn matches_template(template: &str, path: &str) -> bool {
    fn go(t: &[&str], p: &[&str]) -> bool {
        match (t.first(), p.first()) {
            (None, None) => true,
            (Some(&"{path}"), Some(_)) => (1..=p.len()).any(|n| go(&t[1..], &p[n..])),
            (Some(ts), Some(ps)) if ts.starts_with('{') => !ps.is_empty() && go(&t[1..], &p[1..]),
            (Some(ts), Some(ps)) => ts == ps && go(&t[1..], &p[1..]),
            _ => false,
        }
    }
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    go(&t, &p)
}

struct Run {
    spec: Spec,
    http: reqwest::Client,
    base: String,
    served: BTreeSet<String>,
    errors: Vec<String>,
}

impl Run {
    /// Calls one operation and checks status and body against the spec. Returns the body.
    async fn call(&mut self, op: &str, path: &str, body: Option<Value>) -> Value {
        self.call_raw(
            op,
            path,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
            "application/json",
        )
        .await
    }

    async fn call_raw(
        &mut self,
        op: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Value {
        let (operation, method, template) = self.spec.operation(op);
        let operation = operation.clone();
        let bare = path.split('?').next().unwrap();
        assert!(
            matches_template(&template, bare),
            "{op}: {bare} does not match {template}"
        );
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{}", self.base, path))
            .header("accept", "application/json, text/event-stream");
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{op}: {e}"));
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.bytes().await.unwrap();
        let documented = operation["responses"].as_object().unwrap();
        let success = documented
            .keys()
            .find(|k| k.starts_with('2'))
            .unwrap()
            .clone();
        if status.to_string() != success {
            self.errors.push(format!(
                "{op}: answered {status} ({}), the spec documents {success}",
                String::from_utf8_lossy(&bytes)
            ));
            return Value::Null;
        }
        self.served.insert(op.to_owned());
        let response = self.spec.resolve(&documented[&success]).clone();
        if ct.starts_with("application/json") {
            let v: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{op}: invalid JSON: {e}"));
            match response["content"]["application/json"].get("schema") {
                Some(schema) => {
                    let schema = schema.clone();
                    self.spec.validate(&schema, &v, op, &mut self.errors);
                }
                None => self
                    .errors
                    .push(format!("{op}: JSON body but the spec documents none")),
            }
            v
        } else if ct.starts_with("text/event-stream") {
            self.check_events(op, &String::from_utf8_lossy(&bytes));
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            if !bytes.is_empty() && response.get("content").is_none() {
                self.errors
                    .push(format!("{op}: a {ct} body where the spec documents none"));
            }
            Value::Null
        }
    }

    fn check_events(&mut self, op: &str, text: &str) {
        for frame in text.split("\n\n").filter(|f| !f.trim().is_empty()) {
            let mut event = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if data.is_empty() {
                continue; // a keepalive comment
            }
            let schema = match (op, event) {
                (_, "log") => "LogEvent",
                ("configureAgent", "result") => "ConfigureResult",
                ("configureAgent", "error") => "ConfigureErrorEvent",
                ("invokeAgent", "start") => "InvokeStartEvent",
                ("invokeAgent", "exit") => "InvokeExitEvent",
                _ => {
                    self.errors.push(format!("{op}: unexpected event {event}"));
                    continue;
                }
            };
            let v: Value = serde_json::from_str(&data).unwrap();
            let s = self.spec.schema(schema).clone();
            self.spec
                .validate(&s, &v, &format!("{op}:{event}"), &mut self.errors);
        }
    }
}

/// Wait until the sandbox is in `phase` (event-driven; the timeout only guards a hang).
async fn wait_phase(router: &FakeRouter, id: &str, phase: &str) {
    if tokio::time::timeout(Duration::from_secs(60), router.wait_for_phase(id, phase))
        .await
        .is_err()
    {
        panic!("{id} never reached {phase}; it is {:?}", router.phase(id));
    }
}

#[tokio::test]
async fn fake_router_serves_every_operation_with_spec_shaped_bodies() {
    let router = FakeRouter::builder()
        // The webhook below names hooks.example.com: no DNS lookup in tests.
        .resolve_webhook_hosts(false)
        .creating_delay(Duration::from_millis(60))
        .finalizer_delay(Duration::from_millis(60))
        .keepalive_interval(Duration::from_millis(20))
        .start()
        .await;
    let mut r = Run {
        spec: Spec::load(),
        http: reqwest::Client::new(),
        base: router.url().to_owned(),
        served: BTreeSet::new(),
        errors: Vec::new(),
    };
    let kind = "ClusterSandboxTemplate";

    r.call("healthz", "/healthz", None).await;
    r.call("readyz", "/readyz", None).await;

    r.call(
        "createTemplate",
        "/api/v1/templates",
        Some(json!({"name":"tpl-x","spec":{"mode":"code","description":"x"}})),
    )
    .await;
    r.call("listTemplates", "/api/v1/templates", None).await;
    r.call("getTemplate", "/api/v1/templates/tpl-x", None).await;
    r.call(
        "updateTemplate",
        "/api/v1/templates/tpl-x",
        Some(json!({"spec":{"mode":"code","description":"y"}})),
    )
    .await;

    r.call(
        "createSandbox",
        "/api/v1/sandboxes",
        Some(json!({"name":"conf","templateRef":{"name":"general-coding","kind":kind}})),
    )
    .await;
    wait_phase(&router, "conf", "Running").await;
    r.call("listSandboxes", "/api/v1/sandboxes", None).await;
    r.call("getSandbox", "/api/v1/sandboxes/conf", None).await;
    r.call(
        "updateSandbox",
        "/api/v1/sandboxes/conf",
        Some(json!({"labels":{"team":"a"},"resources":{"limits":{"cpu":"1"}}})),
    )
    .await;
    r.call(
        "execCommand",
        "/api/v1/sandboxes/conf/exec",
        Some(json!({"command":"echo hi","timeout":5})),
    )
    .await;

    r.call_raw(
        "writeFile",
        "/api/v1/sandboxes/conf/files/workspace/a.txt",
        Some(b"hello".to_vec()),
        "application/octet-stream",
    )
    .await;
    r.call(
        "listFiles",
        "/api/v1/sandboxes/conf/files/?path=/workspace",
        None,
    )
    .await;
    r.call(
        "readFile",
        "/api/v1/sandboxes/conf/files/workspace/a.txt",
        None,
    )
    .await;
    r.call(
        "downloadArchive",
        "/api/v1/sandboxes/conf/archive?path=/workspace",
        None,
    )
    .await;

    r.call("listPorts", "/api/v1/sandboxes/conf/ports", None)
        .await;
    r.call(
        "forwardPort",
        "/api/v1/sandboxes/conf/ports",
        Some(json!({"port":8000})),
    )
    .await;
    r.call("removePort", "/api/v1/sandboxes/conf/ports/8000", None)
        .await;

    r.call("getSharing", "/api/v1/sandboxes/conf/share", None)
        .await;
    r.call(
        "shareSandbox",
        "/api/v1/sandboxes/conf/share",
        Some(json!({"identity":"alice@example.com","level":"viewer"})),
    )
    .await;
    r.call(
        "createShareLink",
        "/api/v1/sandboxes/conf/share-links",
        Some(json!({"level":"viewer","expiresIn":"24h"})),
    )
    .await;
    r.call(
        "revokeShare",
        "/api/v1/sandboxes/conf/share/alice@example.com",
        None,
    )
    .await;

    r.call("listBackups", "/api/v1/sandboxes/conf/backups", None)
        .await;
    let backup = r
        .call(
            "createBackup",
            "/api/v1/sandboxes/conf/backups",
            Some(json!({})),
        )
        .await;
    let snap = backup["name"].as_str().unwrap_or("missing").to_owned();
    r.call(
        "restoreBackup",
        &format!("/api/v1/sandboxes/conf/backups/{snap}/restore"),
        Some(json!({"name":"conf-restored"})),
    )
    .await;
    r.call(
        "deleteBackup",
        &format!("/api/v1/sandboxes/conf/backups/{snap}"),
        None,
    )
    .await;
    r.call(
        "cloneSandbox",
        "/api/v1/sandboxes/conf/clone",
        Some(json!({"name":"conf-clone"})),
    )
    .await;

    r.call(
        "bulkCreateSandboxes",
        "/api/v1/sandboxes/bulk",
        Some(json!({"items":[
        {"name":"bulk-1","templateRef":{"name":"general-coding","kind":kind}},
        {"name":"","templateRef":{"name":"general-coding","kind":kind}}]})),
    )
    .await;
    wait_phase(&router, "bulk-1", "Running").await;
    r.call(
        "bulkSandboxAction",
        "/api/v1/sandboxes/bulk-action",
        Some(json!({"action":"stop","ids":["bulk-1","nope"]})),
    )
    .await;

    r.call(
        "createSandbox",
        "/api/v1/sandboxes",
        Some(json!({"name":"agent-1","templateRef":{"name":"agent-python","kind":kind}})),
    )
    .await;
    wait_phase(&router, "agent-1", "Running").await;
    r.call(
        "configureAgent",
        "/api/v1/sandboxes/agent-1/configure",
        Some(json!({
        "files":[{"path":"/workspace/agent.py","content":"print(1)\n"}],
        "installCommand":["true"],
        "entrypoint":["python3","/workspace/agent.py"]})),
    )
    .await;
    r.call(
        "getInstallLog",
        "/api/v1/sandboxes/agent-1/configure/install-log",
        None,
    )
    .await;
    r.call_raw(
        "invokeAgent",
        "/api/v1/sandboxes/agent-1/invoke?prompt=hi",
        Some(b"payload".to_vec()),
        "application/octet-stream",
    )
    .await;

    r.call("createWebhook", "/api/v1/webhooks", Some(json!({"url":"https://hooks.example.com/at","eventTypes":["sandbox.running"],"sandboxId":"conf"}))).await;
    let hooks = r.call("listWebhooks", "/api/v1/webhooks", None).await;
    let hook = hooks["webhooks"][0]["id"]
        .as_str()
        .unwrap_or("missing")
        .to_owned();
    r.call(
        "listWebhookDeliveries",
        &format!("/api/v1/webhooks/{hook}/deliveries"),
        None,
    )
    .await;
    r.call("deleteWebhook", &format!("/api/v1/webhooks/{hook}"), None)
        .await;

    r.call("listPolicies", "/api/v1/governance/policies", None)
        .await;
    r.call("setClusterPolicy", "/api/v1/governance/policies", Some(json!({"maxSandboxesPerUser":50,"allowedTemplates":["general-coding","agent-python","tpl-x"]}))).await;
    r.call(
        "setNamespacePolicy",
        "/api/v1/governance/policies/team-a",
        Some(json!({"maxCpu":"4"})),
    )
    .await;
    r.call(
        "getNamespacePolicy",
        "/api/v1/governance/policies/team-a",
        None,
    )
    .await;
    r.call(
        "getEffectivePolicy",
        "/api/v1/governance/effective?namespace=team-a",
        None,
    )
    .await;
    r.call(
        "deleteNamespacePolicy",
        "/api/v1/governance/policies/team-a",
        None,
    )
    .await;

    r.call("listAuditEvents", "/api/v1/audit/events", None)
        .await;
    r.call("getUsageAnalytics", "/api/v1/analytics/usage", None)
        .await;
    r.call("getCostEstimates", "/api/v1/analytics/costs", None)
        .await;
    r.call("adminListSandboxes", "/api/v1/admin/sandboxes", None)
        .await;
    r.call("adminGetSharing", "/api/v1/admin/sharing", None)
        .await;

    r.call("getCurrentUser", "/api/v1/user/me", None).await;
    r.call("getPreferences", "/api/v1/user/preferences", None)
        .await;
    r.call(
        "setPreferences",
        "/api/v1/user/preferences",
        Some(json!({"theme":"dark"})),
    )
    .await;
    r.call("listApiKeys", "/api/v1/user/api-keys", None).await;
    let key = r
        .call(
            "createApiKey",
            "/api/v1/user/api-keys",
            Some(json!({"name":"ci","sandboxId":"conf","scopes":["run-command"]})),
        )
        .await;
    let key_id = key["id"].as_str().unwrap_or("missing").to_owned();
    r.call(
        "revokeApiKey",
        &format!("/api/v1/user/api-keys/{key_id}"),
        None,
    )
    .await;

    r.call("getWarmPoolStatus", "/api/v1/warmpool/status", None)
        .await;
    r.call(
        "setWarmPoolConfig",
        "/api/v1/warmpool/config",
        Some(json!({"pools":[{"template":"general-coding","desiredCount":1}]})),
    )
    .await;
    r.call("getClusterStatus", "/api/v1/cluster/status", None)
        .await;
    r.call("getClusterNodes", "/api/v1/cluster/nodes", None)
        .await;
    r.call("getHeadroom", "/api/v1/cluster/headroom", None)
        .await;
    r.call(
        "setHeadroom",
        "/api/v1/cluster/headroom",
        Some(json!({"replicas":1,"cpu":"500m"})),
    )
    .await;

    r.call("stopSandbox", "/api/v1/sandboxes/conf/stop", None)
        .await;
    wait_phase(&router, "conf", "Stopped").await;
    r.call("resumeSandbox", "/api/v1/sandboxes/conf/resume", None)
        .await;
    r.call("deleteSandbox", "/api/v1/sandboxes/conf", None)
        .await;
    r.call("deleteTemplate", "/api/v1/templates/tpl-x", None)
        .await;

    // cancelInvoke answers 204 only for an invoke in flight: start a slow one and cancel it.
    router.on_exec(
        agenttier_fake_router::ExecRule::contains("agent.py")
            .stdout("late\n")
            .delay(Duration::from_secs(10)),
    );
    let http = r.http.clone();
    let url = format!("{}/api/v1/sandboxes/agent-1/invoke", r.base);
    let mut stream = http.post(&url).body("slow").send().await.unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    let id = text
        .split("\"invokeId\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("missing")
        .to_owned();
    r.call(
        "cancelInvoke",
        "/api/v1/sandboxes/agent-1/invoke/cancel",
        Some(json!({"invokeId": id})),
    )
    .await;
    drop(stream);

    let all: BTreeSet<String> = r
        .spec
        .operations()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let unserved: Vec<_> = all.difference(&r.served).collect();
    assert!(
        r.errors.is_empty(),
        "contract drift:\n{}",
        r.errors.join("\n")
    );
    assert!(
        unserved.is_empty(),
        "operations not served with their documented status: {unserved:?}"
    );
    assert_eq!(r.served.len(), 64);
}

#[tokio::test]
async fn fake_router_route_table_equals_the_spec_in_order() {
    // Parsed here as YAML (not through serde_json, whose maps sort their keys) to keep the
    // document's order, which is the Router's registration order.
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut spec = Vec::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            if let Some(id) = op.get("operationId").and_then(serde_yaml::Value::as_str) {
                let method = method.as_str().unwrap().to_uppercase();
                spec.push((id.to_owned(), method, path.as_str().unwrap().to_owned()));
            }
        }
    }
    let table: Vec<(String, String, String)> = agenttier_fake_router::OPERATIONS
        .iter()
        .map(|(id, m, p)| (id.to_string(), m.to_string(), p.to_string()))
        .collect();
    assert_eq!(spec, table);
}

#[tokio::test]
async fn fake_router_error_bodies_match_the_error_schema() {
    let router = FakeRouter::start().await;
    let spec = Spec::load();
    let http = reqwest::Client::new();
    let mut errors = Vec::new();
    for (method, path, body) in [
        ("GET", "/api/v1/sandboxes/missing", None),
        (
            "POST",
            "/api/v1/sandboxes",
            Some(json!({"templateRef":{"name":"general-coding"}})),
        ),
        ("POST", "/api/v1/sandboxes/missing/stop", None),
        ("GET", "/api/v1/templates/missing", None),
    ] {
        let mut req = http.request(method.parse().unwrap(), format!("{}{path}", router.url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_client_error(),
            "{method} {path}: {}",
            resp.status()
        );
        assert!(resp.headers().contains_key("x-request-id"));
        let v: Value = resp.json().await.unwrap();
        spec.validate(spec.schema("Error"), &v, path, &mut errors);
    }
    assert!(errors.is_empty(), "{errors:?}");
}
