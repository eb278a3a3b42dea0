//! Pins `openapi.yaml`: its route table, its operation metadata, its security, the shapes
//! progenitor needs, and that every documented example decodes into the generated types.

use std::collections::BTreeSet;

use agenttier::types;
use openapiv3::{APIKeyLocation, OpenAPI, ReferenceOr, SecurityScheme, StatusCode};
use serde_json::Value;

const SPEC_TEXT: &str = include_str!("../openapi.yaml");

fn spec() -> OpenAPI {
    serde_yaml::from_str(SPEC_TEXT).expect("openapi.yaml parses as an OpenAPI 3.0 document")
}

/// The document as plain JSON, for walking schemas without openapiv3's typed tree.
fn spec_json() -> Value {
    serde_yaml::from_str(SPEC_TEXT).expect("openapi.yaml parses as YAML")
}

/// Decodes `example` as the generated type named `schema` and encodes it again.
/// `ROUND_TRIP_SCHEMAS` lists exactly the names this function knows.
macro_rules! round_trippers {
    ($($name:ident),* $(,)?) => {
        const ROUND_TRIP_SCHEMAS: &[&str] = &[$(stringify!($name)),*];

        fn round_trip(schema: &str, example: &Value) -> Result<Value, String> {
            match schema {
                $(stringify!($name) => {
                    let typed: types::$name = serde_json::from_value(example.clone())
                        .map_err(|e| format!("does not decode as types::{}: {e}", stringify!($name)))?;
                    serde_json::to_value(&typed).map_err(|e| format!("does not encode again: {e}"))
                })*
                other => Err(format!("no generated type registered for schema {other}")),
            }
        }
    };
}

round_trippers!(
    // success bodies
    AdminSharing,
    ApiKeyCreated,
    ApiKeyList,
    AuditEventList,
    Backup,
    BackupList,
    BulkActionResponse,
    BulkCreateResponse,
    CloneSandboxResponse,
    ClusterPolicyResponse,
    ClusterStatus,
    CostEstimates,
    CreateSandboxResponse,
    CurrentUser,
    DeleteBackupResponse,
    ExecResult,
    FileList,
    ForwardedPort,
    HeadroomConfig,
    HeadroomUpdateResponse,
    InstallLog,
    NamespacePolicy,
    NodeCapacityResponse,
    PatchSandboxResponse,
    PolicyList,
    PortList,
    Preferences,
    PutFileResult,
    RestoreBackupResponse,
    RevokeApiKeyResponse,
    RevokeShareResponse,
    SandboxList,
    SandboxSummary,
    ShareLinkCreated,
    Sharing,
    StatusAck,
    Template,
    TemplateList,
    UsageAnalytics,
    WarmPoolConfigResponse,
    WarmPoolStatus,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookList,
    // SSE event payloads and the cancel body (schema-level examples)
    CancelInvokeRequest,
    ConfigureErrorEvent,
    ConfigureResult,
    InvokeExitEvent,
    InvokeStartEvent,
    LogEvent,
);

/// Generated types skip `None` fields, so `null` members are not a loss.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn schema_name(reference: &str) -> &str {
    reference
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("unexpected reference {reference}"))
}

fn is_success(code: &StatusCode) -> bool {
    match code {
        StatusCode::Code(c) => (200..300).contains(c),
        StatusCode::Range(r) => *r == 2,
    }
}

/// (operationId, status, media type, schema name, example) for every JSON success body.
fn json_success_bodies(spec: &OpenAPI) -> Vec<(String, String, String, String, Option<Value>)> {
    let mut out = Vec::new();
    for (_, _, op) in spec.operations() {
        let id = op.operation_id.clone().unwrap_or_default();
        for (code, resp) in &op.responses.responses {
            if !is_success(code) {
                continue;
            }
            let resp = resp
                .as_item()
                .unwrap_or_else(|| panic!("{id}: success responses are written inline"));
            for (media, body) in &resp.content {
                if !media.contains("json") {
                    continue;
                }
                let name = match &body.schema {
                    Some(ReferenceOr::Reference { reference }) => schema_name(reference).to_owned(),
                    other => panic!(
                        "{id} {code}: a JSON success body must $ref a named schema, got {other:?}"
                    ),
                };
                out.push((
                    id.clone(),
                    code.to_string(),
                    media.clone(),
                    name,
                    body.example.clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn spec_parses_and_every_operation_has_a_unique_id_one_tag_and_a_summary() {
    let spec = spec();
    assert_eq!(spec.openapi, "3.0.3");
    let known_tags: BTreeSet<&str> = spec.tags.iter().map(|t| t.name.as_str()).collect();
    let mut ids = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        let id = op
            .operation_id
            .as_deref()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        assert_eq!(
            op.tags.len(),
            1,
            "{id} must have exactly one tag, has {:?}",
            op.tags
        );
        assert!(
            known_tags.contains(op.tags[0].as_str()),
            "{id}: tag {} is not declared",
            op.tags[0]
        );
        assert!(
            op.summary.as_deref().is_some_and(|s| !s.trim().is_empty()),
            "{id} has no summary"
        );
        assert!(
            op.description
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty()),
            "{id} has no description"
        );
    }
}

#[test]
fn the_spec_has_64_operations_with_the_extensions_the_table_needs() {
    let spec = spec();
    let ops: Vec<_> = spec.operations().collect();
    assert_eq!(ops.len(), 64);
    let mut problems = Vec::new();
    for (path, method, op) in ops {
        let id = op.operation_id.clone().unwrap_or_default();
        let ext = |name: &str| op.extensions.get(name).and_then(|v| v.as_str());
        match ext("x-access") {
            Some("none" | "user" | "owner" | "read" | "self" | "admin") => {}
            other => problems.push(format!("{id}: x-access {other:?}")),
        }
        match (ext("x-retry"), method) {
            (Some("safe"), "get" | "put" | "delete" | "post") => {}
            (Some("unsafe"), "post" | "patch") => {}
            other => problems.push(format!("{id} ({method} {path}): x-retry {other:?}")),
        }
        if ext("x-facade").is_none_or(|f| f.split("::").count() != 2) {
            problems.push(format!("{id}: x-facade is not Type::method"));
        }
        // Admin routes say so in their summary, and only they do.
        let admin = ext("x-access") == Some("admin");
        let says_admin = op.summary.as_deref().unwrap_or("").contains("(admin)");
        if admin != says_admin {
            problems.push(format!(
                "{id}: x-access admin {admin}, summary says {says_admin}"
            ));
        }
        // The health routes are the only ones without credentials.
        let health = path == "/healthz" || path == "/readyz";
        if (ext("x-access") == Some("none")) != health {
            problems.push(format!("{id}: x-access none only on /healthz and /readyz"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn file_list_route_keeps_its_trailing_slash_and_no_other_route_has_one() {
    let spec = spec();
    for (path, _) in spec.paths.iter() {
        if path == "/api/v1/sandboxes/{id}/files/" {
            continue;
        }
        assert!(
            !path.ends_with('/'),
            "{path} must not end with a slash (the Router's mux is strict)"
        );
    }
    assert!(
        spec.paths
            .paths
            .contains_key("/api/v1/sandboxes/{id}/files/")
    );
}

#[test]
fn every_operation_has_one_success_body_type_and_4xx_5xx_error_ranges() {
    let spec = spec();
    for (_, _, op) in spec.operations() {
        let id = op.operation_id.as_deref().unwrap_or_default();
        assert!(
            op.responses.default.is_none(),
            "{id}: `default:` responses break progenitor"
        );
        let successes: Vec<_> = op
            .responses
            .responses
            .keys()
            .filter(|c| is_success(c))
            .collect();
        assert_eq!(
            successes.len(),
            1,
            "{id}: exactly one success status, got {successes:?}"
        );
        for range in [StatusCode::Range(4), StatusCode::Range(5)] {
            assert!(
                op.responses.responses.contains_key(&range),
                "{id}: no {range} response"
            );
        }
        for code in op.responses.responses.keys() {
            if let StatusCode::Code(c) = code {
                assert!(
                    (200..300).contains(c),
                    "{id}: error status {c} should be folded into 4XX/5XX"
                );
            }
        }
    }
}

#[test]
fn api_operations_share_the_client_and_server_error_responses() {
    let spec = spec();
    for (path, _, op) in spec.operations() {
        let id = op.operation_id.as_deref().unwrap_or_default();
        let expected = if id == "readyz" {
            [
                "#/components/responses/PlainTextError",
                "#/components/responses/PlainTextError",
            ]
        } else {
            [
                "#/components/responses/ClientError",
                "#/components/responses/ServerError",
            ]
        };
        for (range, want) in [StatusCode::Range(4), StatusCode::Range(5)]
            .iter()
            .zip(expected)
        {
            match &op.responses.responses[range] {
                ReferenceOr::Reference { reference } => {
                    assert_eq!(reference, want, "{id} ({path}) {range}")
                }
                ReferenceOr::Item(_) => panic!("{id}: {range} must reference {want}"),
            }
        }
    }
    let components = spec.components.expect("components");
    let client = components.responses["ClientError"]
        .as_item()
        .expect("ClientError inline");
    assert!(
        client.content.contains_key("application/json")
            && client.content.contains_key("text/plain")
    );
    let plain = components.responses["PlainTextError"]
        .as_item()
        .expect("PlainTextError inline");
    assert_eq!(plain.content.keys().collect::<Vec<_>>(), ["text/plain"]);
}

#[test]
fn every_json_success_response_has_an_example() {
    let spec = spec();
    let bodies = json_success_bodies(&spec);
    assert!(
        bodies.len() >= 50,
        "expected most operations to answer JSON, found {}",
        bodies.len()
    );
    for (id, code, media, schema, example) in bodies {
        assert_eq!(media, "application/json", "{id} {code}");
        assert!(example.is_some(), "{id} {code} ({schema}) has no example");
    }
}

#[test]
fn every_success_schema_is_covered_by_the_round_trip_table() {
    let spec = spec();
    let covered: BTreeSet<&str> = ROUND_TRIP_SCHEMAS.iter().copied().collect();
    let uncovered: BTreeSet<String> = json_success_bodies(&spec)
        .into_iter()
        .map(|(_, _, _, schema, _)| schema)
        .filter(|s| !covered.contains(s.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "add these schemas to round_trippers!: {uncovered:?}"
    );
}

#[test]
fn json_success_examples_decode_into_generated_types_without_losing_fields() {
    let spec = spec();
    let mut failures = Vec::new();
    for (id, code, _, schema, example) in json_success_bodies(&spec) {
        let Some(example) = example else { continue };
        match round_trip(&schema, &example) {
            Ok(back) if without_nulls(&back) == without_nulls(&example) => {}
            Ok(back) => failures.push(format!(
                "{id} {code} {schema}: round trip changed\n  {example}\n  {back}"
            )),
            Err(e) => failures.push(format!("{id} {code} {schema}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sse_event_schema_examples_decode_into_generated_types() {
    let doc = spec_json();
    let schemas = &doc["components"]["schemas"];
    for name in [
        "LogEvent",
        "ConfigureResult",
        "ConfigureErrorEvent",
        "InvokeStartEvent",
        "InvokeExitEvent",
        "CancelInvokeRequest",
    ] {
        let example = schemas[name]
            .get("example")
            .unwrap_or_else(|| panic!("{name} has no schema-level example"));
        let back = round_trip(name, example).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(without_nulls(&back), without_nulls(example), "{name}");
    }
}

#[test]
fn info_and_both_security_schemes_are_declared_and_health_routes_need_no_auth() {
    let spec = spec();
    assert_eq!(spec.info.title, "AgentTier Router API");
    assert!(!spec.info.version.is_empty());

    let schemes = &spec
        .components
        .as_ref()
        .expect("components")
        .security_schemes;
    match schemes["apiKey"].as_item() {
        Some(SecurityScheme::APIKey { location, name, .. }) => {
            assert_eq!(name, "X-API-Key");
            assert_eq!(*location, APIKeyLocation::Header);
        }
        other => panic!("apiKey must be an API-key header scheme, got {other:?}"),
    }
    match schemes["bearer"].as_item() {
        Some(SecurityScheme::HTTP { scheme, .. }) => assert_eq!(scheme, "bearer"),
        other => panic!("bearer must be an HTTP bearer scheme, got {other:?}"),
    }

    let global = spec.security.clone().expect("global security");
    let alternatives: BTreeSet<Vec<&String>> =
        global.iter().map(|req| req.keys().collect()).collect();
    let api_key = "apiKey".to_owned();
    let bearer = "bearer".to_owned();
    assert_eq!(
        alternatives,
        BTreeSet::from([vec![&api_key], vec![&bearer]])
    );

    for (path, _, op) in spec.operations() {
        let id = op.operation_id.as_deref().unwrap_or_default();
        if path.starts_with("/api/v1/") {
            assert!(
                op.security.is_none(),
                "{id} must inherit the global security"
            );
        } else {
            assert_eq!(
                op.security.as_deref(),
                Some(&[][..]),
                "{id} must declare `security: []`"
            );
        }
    }
}

#[test]
fn lists_the_router_can_send_as_null_are_nullable() {
    let doc = spec_json();
    let schemas = &doc["components"]["schemas"];
    for (schema, property) in [
        ("SandboxList", "sandboxes"),
        ("TemplateList", "templates"),
        ("AuditEventList", "events"),
        ("CostEstimates", "per_template"),
        ("WarmPoolConfigResponse", "pools"),
        ("CurrentUser", "groups"),
        ("ApiKeyMetadata", "actionGroups"),
        ("ApiKeyMetadata", "expiresAt"),
        ("ApiKeyCreated", "actionGroups"),
        ("ApiKeyCreated", "expiresAt"),
        ("ShareLinkInfo", "expiresAt"),
        ("ShareLinkCreated", "expiresAt"),
        ("PolicyList", "cluster"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][property]["nullable"],
            Value::Bool(true),
            "{schema}.{property} must be nullable"
        );
    }
    assert_eq!(
        schemas["Preferences"]["nullable"],
        Value::Bool(true),
        "Preferences may be null"
    );
}

#[test]
fn null_lists_decode_as_none() {
    let list: types::SandboxList =
        serde_json::from_str(r#"{"sandboxes":null}"#).expect("null sandboxes");
    assert!(list.sandboxes.is_none());
    let templates: types::TemplateList =
        serde_json::from_str(r#"{"templates":null}"#).expect("null templates");
    assert!(templates.templates.is_none());
    let events: types::AuditEventList =
        serde_json::from_str(r#"{"events":null}"#).expect("null events");
    assert!(events.events.is_none());
    let pools: types::WarmPoolConfigResponse =
        serde_json::from_str(r#"{"status":"updated","pools":null}"#).expect("null pools");
    assert!(pools.pools.is_none());
    // Error-path bodies that are `{}` on the wire.
    let _: types::UsageAnalytics = serde_json::from_str("{}").expect("empty usage analytics");
    let _: types::CostEstimates = serde_json::from_str("{}").expect("empty cost estimates");
    let _: types::WarmPoolStatus = serde_json::from_str("{}").expect("empty warm pool status");
    let _: types::HeadroomUpdateResponse =
        serde_json::from_str(r#"{"status":"updated"}"#).expect("bare headroom acknowledgement");
}

#[test]
fn secret_fields_use_the_secret_schema_and_are_redacted_in_debug() {
    let doc = spec_json();
    let schemas = &doc["components"]["schemas"];
    for (schema, property) in [
        ("ApiKeyCreated", "key"),
        ("ShareLinkCreated", "token"),
        ("WebhookCreated", "secret"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][property]["$ref"],
            Value::String("#/components/schemas/Secret".into()),
            "{schema}.{property} must $ref Secret"
        );
    }
    let created: types::ApiKeyCreated = serde_json::from_value(serde_json::json!({
        "id": "agenttier-apikey-0", "key": "atk_very-secret", "name": "ci", "sandboxId": "",
        "actionGroups": null, "createdAt": "2026-07-21T04:16:07Z", "expiresAt": null, "warning": "w"
    }))
    .expect("decodes");
    assert!(
        !format!("{created:?}").contains("very-secret"),
        "the key leaked into Debug output"
    );
    assert_eq!(created.key.expose(), "atk_very-secret");
    assert_eq!(
        serde_json::to_value(&created).expect("encodes")["key"],
        "atk_very-secret"
    );
}

#[test]
fn api_key_mint_rejects_unknown_fields_and_uses_scopes() {
    let doc = spec_json();
    let schema = &doc["components"]["schemas"]["CreateApiKeyRequest"];
    assert_eq!(schema["additionalProperties"], Value::Bool(false));
    assert!(schema["properties"].get("scopes").is_some());
    assert!(schema["properties"].get("actionGroups").is_none());
    let err = serde_json::from_str::<types::CreateApiKeyRequest>(r#"{"actionGroups":["stop"]}"#);
    assert!(
        err.is_err(),
        "the generated request type must refuse actionGroups, as the Router does"
    );
}

#[test]
fn analytics_schemas_are_snake_case_and_every_other_schema_is_camel_case() {
    let doc = spec_json();
    let snake = ["UsageAnalytics", "CostEstimates", "TemplateCost"];
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for key in props.keys() {
            if snake.contains(&name.as_str()) {
                assert!(
                    !key.chars().any(|c| c.is_ascii_uppercase()),
                    "{name}.{key} must be snake_case"
                );
            } else {
                assert!(!key.contains('_'), "{name}.{key} must be camelCase");
            }
        }
    }
    let usage = &doc["components"]["schemas"]["UsageAnalytics"]["properties"];
    assert!(usage.get("total_sandboxes").is_some() && usage.get("status_breakdown").is_some());
}

#[test]
fn template_ref_is_an_object_in_requests_and_a_string_in_responses() {
    let doc = spec_json();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CreateSandboxRequest"]["properties"]["templateRef"]["$ref"],
        "#/components/schemas/TemplateRefInput"
    );
    for response in ["CreateSandboxResponse", "SandboxSummary"] {
        assert_eq!(
            schemas[response]["properties"]["templateRef"]["type"], "string",
            "{response}"
        );
    }
}

#[test]
fn spec_avoids_constructs_that_change_generated_types() {
    fn walk(value: &Value, at: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let here = format!("{at}/{key}");
                    if at.ends_with("/properties") {
                        // Property names are data, not keywords.
                        walk(child, &here, problems);
                        continue;
                    }
                    if matches!(key.as_str(), "example" | "examples" | "description") {
                        continue;
                    }
                    match key.as_str() {
                        "pattern" | "minimum" | "maximum" | "exclusiveMinimum"
                        | "exclusiveMaximum" | "default" | "enum" | "minLength" | "maxLength"
                        | "minItems" | "maxItems" | "oneOf" | "anyOf" => {
                            problems.push(format!("{here}: `{key}` is not allowed"))
                        }
                        "format" => {
                            let f = child.as_str().unwrap_or_default();
                            if !matches!(f, "int32" | "int64" | "double" | "binary") {
                                problems.push(format!("{here}: format `{f}` is not allowed"));
                            }
                        }
                        _ => {}
                    }
                    walk(child, &here, problems);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{i}"), problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk(&spec_json(), "", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn path_parameters_are_required_and_binary_bodies_are_string_binary() {
    let doc = spec_json();
    let mut seen_binary = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let mut params: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            params.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
            let bodies = op
                .get("requestBody")
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten();
            for (media, body) in bodies {
                if media == "application/octet-stream" {
                    seen_binary += 1;
                    assert_eq!(
                        body["schema"],
                        serde_json::json!({"type": "string", "format": "binary"}),
                        "{path}"
                    );
                }
            }
        }
        for p in params {
            let p = match p.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    &doc["components"]["parameters"][r.rsplit('/').next().unwrap_or_default()]
                }
                None => p,
            };
            if p["in"] == "path" {
                assert_eq!(
                    p["required"],
                    Value::Bool(true),
                    "{path}: path parameter {} must be required",
                    p["name"]
                );
            }
        }
    }
    assert_eq!(seen_binary, 2, "writeFile and invokeAgent take raw bytes");
}

#[test]
fn scoped_key_action_groups_are_valid_and_only_on_owner_routes() {
    // The Router's action-group vocabulary: `delete` is never valid (the spec's `createApiKey`).
    const GROUPS: &[&str] = &[
        "run-command",
        "files:read",
        "files:write",
        "ports",
        "agent:invoke",
        "agent:configure",
        "resume",
        "stop",
    ];
    let spec = spec();
    let mut used = BTreeSet::new();
    for (path, _, op) in spec.operations() {
        let Some(group) = op.extensions.get("x-scoped-key-action-group") else {
            continue;
        };
        let group = group.as_str().expect("a string");
        let id = op.operation_id.clone().unwrap_or_default();
        assert!(
            GROUPS.contains(&group),
            "{id}: unknown action group {group}"
        );
        assert_eq!(
            op.extensions.get("x-access").and_then(|v| v.as_str()),
            Some("owner"),
            "{id}: scoped keys reach only owner routes"
        );
        assert!(path.starts_with("/api/v1/sandboxes/{id}/"), "{id}: {path}");
        used.insert(group);
    }
    assert_eq!(used.len(), GROUPS.len(), "every group opens some route");
}
