//! Contract tests for the client-level areas: templates, governance, admin, user, API keys, warm
//! pool and cluster. Each test pins one route's request and response, or one Router quirk
//! (as openapi.yaml describes them) the facade absorbs.

use std::time::Duration;

use agenttier::auth::{AuthProvider, BoxFuture, Credential};
use agenttier::types::{Policy, PoolConfig};
use agenttier::user::{ActionGroup, ActionGroupOrUnknown, ApiKeyRequest};
use agenttier::{Client, Error, SecretString};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod common;
use common::{assert_invalid, client, no_requests};

#[derive(Debug)]
struct Jwt;

impl AuthProvider for Jwt {
    fn credential(&self) -> BoxFuture<'_, agenttier::Result<Option<Credential>>> {
        Box::pin(async { Ok(Some(Credential::Bearer(SecretString::new("admin-jwt")))) })
    }
}

fn admin_client(server: &MockServer) -> Client {
    Client::builder(server.uri()).auth(Jwt).build().unwrap()
}

fn template_json(name: &str) -> serde_json::Value {
    json!({"name": name, "description": "General coding", "image": "ghcr.io/agenttier/general:1",
           "resourceVersion": "123",
           "spec": {"description": "General coding", "image": {"repository": "ghcr.io/agenttier/general:1"},
                    "timeout": "30m0s"}})
}

async fn only_request(server: &MockServer) -> Request {
    let mut reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    reqs.remove(0)
}

// ------------------------------------------------------------------ templates

#[tokio::test]
async fn template_list_null_reads_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"templates": null})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).templates().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn template_list_reads_templates() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/templates"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"templates": [template_json("general-coding")]})),
        )
        .mount(&server)
        .await;
    let list = client(&server).templates().list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "general-coding");
    assert_eq!(list[0].resource_version, "123");
    assert_eq!(list[0].spec["timeout"], "30m0s");
}

#[tokio::test]
async fn template_get_reads_one_by_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/templates/general-coding"))
        .respond_with(ResponseTemplate::new(200).set_body_json(template_json("general-coding")))
        .expect(1)
        .mount(&server)
        .await;
    let t = client(&server)
        .templates()
        .get("general-coding")
        .await
        .unwrap();
    assert_eq!(t.image, "ghcr.io/agenttier/general:1");
}

#[tokio::test]
async fn template_get_missing_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/templates/nope"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": "template not found"})),
        )
        .mount(&server)
        .await;
    let err = client(&server).templates().get("nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.api().unwrap().operation(), "get_template");
}

#[tokio::test]
async fn template_create_sends_name_and_spec() {
    let server = MockServer::start().await;
    let spec = json!({"description": "Python", "image": {"repository": "python:3.12"}});
    Mock::given(method("POST"))
        .and(path("/api/v1/templates"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"name": "python-small", "spec": spec})))
        .respond_with(ResponseTemplate::new(201).set_body_json(template_json("python-small")))
        .expect(1)
        .mount(&server)
        .await;
    let t = client(&server)
        .templates()
        .create("python-small", spec.clone())
        .await
        .unwrap();
    assert_eq!(t.name, "python-small");
}

#[tokio::test]
async fn template_update_replaces_whole_spec_body() {
    let server = MockServer::start().await;
    // The body is `{"spec": <the whole new spec>}` and nothing else: the Router replaces the
    // stored spec with it, so there is no partial form to send.
    let spec = json!({"description": "only this"});
    Mock::given(method("PUT"))
        .and(path("/api/v1/templates/python-small"))
        .and(body_json(json!({"spec": {"description": "only this"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(template_json("python-small")))
        .expect(1)
        .mount(&server)
        .await;
    let map = spec.as_object().unwrap().clone();
    client(&server)
        .templates()
        .update("python-small", map)
        .await
        .unwrap();
}

#[tokio::test]
async fn template_delete_answers_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/templates/python-small"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .templates()
        .delete("python-small")
        .await
        .unwrap();
}

#[tokio::test]
async fn template_delete_in_use_is_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/templates/general-coding"))
        .respond_with(ResponseTemplate::new(409).set_body_json(
            json!({"error": "cannot delete template: sandbox \"demo\" is still using it"}),
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .templates()
        .delete("general-coding")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn template_bad_input_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let t = client(&server).templates();
    assert_invalid(t.create("python-small", json!([1, 2])).await.unwrap_err());
    assert_invalid(
        t.create("python-small", serde_json::Value::Null)
            .await
            .unwrap_err(),
    );
    assert_invalid(t.create("Python_Small", json!({})).await.unwrap_err());
    assert_invalid(t.update("x", json!("spec")).await.unwrap_err());
    assert_invalid(t.get("a/b").await.unwrap_err());
    assert_invalid(t.delete("").await.unwrap_err());
    no_requests(&server).await;
}

// ------------------------------------------------------------------ governance

#[tokio::test]
async fn governance_list_reads_null_cluster_and_namespaces() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/governance/policies"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "cluster": null,
            "namespaces": [{"namespace": "team-a", "policy": {"maxSandboxesPerUser": 3, "allowedTemplates": ["general-coding"]}}]
        })))
        .mount(&server)
        .await;
    let list = client(&server).governance().list().await.unwrap();
    assert!(list.cluster.is_none());
    assert_eq!(list.namespaces[0].namespace, "team-a");
    assert_eq!(list.namespaces[0].policy.max_sandboxes_per_user, Some(3));
    assert_eq!(
        list.namespaces[0].policy.allowed_templates,
        vec!["general-coding"]
    );
}

#[tokio::test]
async fn governance_get_unwraps_the_namespace_envelope() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/governance/policies/team-a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"namespace": "team-a", "policy": {"maxCpu": "4", "maxTimeout": "2h"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let p = client(&server).governance().get("team-a").await.unwrap();
    assert_eq!(p.max_cpu.as_deref(), Some("4"));
    assert_eq!(p.max_timeout.as_deref(), Some("2h"));
}

#[tokio::test]
async fn governance_get_with_nothing_stored_is_an_empty_policy() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/governance/policies/team-b"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"namespace": "team-b", "policy": {}})),
        )
        .mount(&server)
        .await;
    let p = client(&server).governance().get("team-b").await.unwrap();
    assert_eq!(p, Policy::default());
}

#[tokio::test]
async fn governance_set_cluster_puts_the_whole_policy_and_unwraps() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/governance/policies"))
        .and(body_json(
            json!({"maxSandboxesTotal": 200, "approvedRegistries": ["ghcr.io/agenttier/"]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "scope": "cluster",
            "policy": {"maxSandboxesTotal": 200, "approvedRegistries": ["ghcr.io/agenttier/"]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let policy = Policy {
        max_sandboxes_total: Some(200),
        approved_registries: vec!["ghcr.io/agenttier/".into()],
        ..Default::default()
    };
    let stored = client(&server)
        .governance()
        .set_cluster(&policy)
        .await
        .unwrap();
    assert_eq!(stored, policy);
}

#[tokio::test]
async fn governance_field_can_be_set_to_zero_explicitly() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/governance/policies/frozen"))
        .and(body_json(json!({"maxSandboxesPerUser": 0})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"namespace": "frozen", "policy": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let policy = Policy {
        max_sandboxes_per_user: Some(0),
        ..Default::default()
    };
    client(&server)
        .governance()
        .set("frozen", &policy)
        .await
        .unwrap();
}

#[tokio::test]
async fn governance_set_sends_only_the_fields_given() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/governance/policies/team-a"))
        .and(body_json(json!({
            "maxCpu": "4", "maxMemory": "8Gi", "maxIdleTimeout": "30m",
            "allowedTemplates": ["general-coding"], "maxConcurrentInvokesPerSandbox": 2,
            "description": "team a"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "namespace": "team-a", "policy": {"maxCpu": "4"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let policy = Policy {
        max_cpu: Some("4".into()),
        max_memory: Some("8Gi".into()),
        max_idle_timeout: Some("30m".into()),
        allowed_templates: vec!["general-coding".into()],
        max_concurrent_invokes_per_sandbox: Some(2),
        description: Some("team a".into()),
        ..Default::default()
    };
    let stored = client(&server)
        .governance()
        .set("team-a", &policy)
        .await
        .unwrap();
    assert_eq!(stored.max_cpu.as_deref(), Some("4"));
}

#[tokio::test]
async fn governance_delete_answers_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/governance/policies/team-a"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).governance().delete("team-a").await.unwrap();
}

#[tokio::test]
async fn effective_policy_sends_namespace_query_only_when_given() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/governance/effective"))
        .respond_with(|req: &Request| {
            let ns = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "namespace")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| "default".into());
            ResponseTemplate::new(200)
                .set_body_json(json!({"namespace": ns, "policy": {"maxSandboxesPerUser": 5}}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let g = client(&server).governance();
    let given = g.effective_in("team-a").await.unwrap();
    assert_eq!(given.namespace, "team-a");
    assert_eq!(given.policy.max_sandboxes_per_user, Some(5));
    let defaulted = g.effective().await.unwrap();
    assert_eq!(defaulted.namespace, "default");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs[0].url.query(), Some("namespace=team-a"));
    assert_eq!(reqs[1].url.query(), None);
}

#[tokio::test]
async fn governance_namespace_must_be_one_path_segment() {
    let server = MockServer::start().await;
    let g = client(&server).governance();
    assert_invalid(g.get("team/a").await.unwrap_err());
    assert_invalid(g.set("", &Policy::default()).await.unwrap_err());
    assert_invalid(g.delete("a/../b").await.unwrap_err());
    assert_invalid(g.effective_in(" ").await.unwrap_err());
    no_requests(&server).await;
}

// ------------------------------------------------------------------ admin

#[tokio::test]
async fn audit_events_null_reads_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/audit/events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": null})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(
        client(&server)
            .admin()
            .audit_events()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn audit_events_keep_the_wire_naming() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/audit/events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": [{
            "timestamp": "2026-07-21T04:16:07.123456789Z", "eventType": "Running",
            "sandboxId": "demo", "sandboxName": "demo", "namespace": "default", "userEmail": "",
            "details": {"reason": "Sandbox is running"}
        }]})))
        .mount(&server)
        .await;
    let events = client(&server).admin().audit_events().await.unwrap();
    assert_eq!(events[0].event_type, "Running");
    assert_eq!(events[0].details.reason, "Sandbox is running");
    assert_eq!(events[0].sandbox_id, "demo");
}

#[tokio::test]
async fn usage_analytics_snake_case_wire() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/analytics/usage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_sandboxes": 3, "status_breakdown": {"Running": 2, "creating": 1},
            "template_breakdown": {"general-coding": 2, "unknown": 1},
            "avg_startup_ms": 8123, "startup_sample_count": 2
        })))
        .expect(1)
        .mount(&server)
        .await;
    let u = client(&server).admin().usage().await.unwrap();
    assert_eq!(u.total_sandboxes, Some(3));
    assert_eq!(u.status_breakdown["creating"], 1);
    assert_eq!(u.template_breakdown["unknown"], 1);
    assert_eq!(u.avg_startup_ms, Some(8123));
    assert_eq!(u.startup_sample_count, Some(2));
}

#[tokio::test]
async fn usage_analytics_empty_object_after_router_failure_decodes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/analytics/usage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let u = client(&server).admin().usage().await.unwrap();
    assert_eq!(u.total_sandboxes, None);
    assert!(u.status_breakdown.is_empty());
}

#[tokio::test]
async fn costs_per_template_null() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/analytics/costs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "running_sandboxes": 0, "stopped_sandboxes": 2, "total_hourly_compute": 0.0,
            "total_hourly_storage": 0.0666, "total_estimated_monthly": 48.0, "per_template": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server).admin().costs().await.unwrap();
    assert!(c.per_template().is_empty());
    assert_eq!(c.stopped_sandboxes, Some(2));
    assert_eq!(c.total_estimated_monthly, Some(48.0));
}

#[tokio::test]
async fn costs_snake_case_wire_with_templates_and_empty_object() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/analytics/costs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "running_sandboxes": 1, "stopped_sandboxes": 0, "total_hourly_compute": 0.1,
            "total_hourly_storage": 0.0333, "total_estimated_monthly": 96.0,
            "per_template": [{"template": "general-coding", "hourly_cost": 0.1, "count": 1}]
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/analytics/costs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let admin = client(&server).admin();
    let c = admin.costs().await.unwrap();
    assert_eq!(c.running_sandboxes, Some(1));
    assert_eq!(c.per_template()[0].template, "general-coding");
    assert_eq!(c.per_template()[0].hourly_cost, 0.1);
    let failed = admin.costs().await.unwrap();
    assert!(failed.per_template().is_empty());
    assert_eq!(failed.running_sandboxes, None);
}

#[tokio::test]
async fn admin_sandboxes_carry_scoped_api_keys_and_namespace_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/admin/sandboxes"))
        .and(query_param("namespace", "team-a"))
        .and(header("authorization", "Bearer admin-jwt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sandboxes": [{
            "sandboxId": "demo", "name": "demo", "namespace": "team-a", "status": "Running",
            "podName": "demo", "pvcName": "demo-workspace", "templateRef": "general-coding",
            "mode": "code", "createdAt": "2026-07-21 04:16:07 +0000 UTC", "message": "",
            "scopedApiKeys": [{"id": "agenttier-apikey-1", "userId": "alice",
                "name": "sandbox-scoped: demo", "sandboxId": "demo",
                "actionGroups": ["run-command", "files:read"], "createdAt": "2026-07-21T04:16:07Z"}]
        }, {
            "sandboxId": "other", "name": "other", "namespace": "team-a", "status": "Stopped",
            "podName": "", "pvcName": "other-workspace", "templateRef": "general-coding",
            "mode": "code", "createdAt": "2026-07-21 04:16:07 +0000 UTC", "message": ""
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    let list = admin_client(&server)
        .admin()
        .sandboxes_in("team-a")
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].scoped_api_keys[0].name, "sandbox-scoped: demo");
    assert_eq!(
        list[0].scoped_api_keys[0].action_groups(),
        vec![
            ActionGroupOrUnknown::Known(ActionGroup::RunCommand),
            ActionGroupOrUnknown::Known(ActionGroup::FilesRead)
        ]
    );
    assert!(list[1].scoped_api_keys.is_empty());
}

#[tokio::test]
async fn admin_sandboxes_without_namespace_sends_no_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/admin/sandboxes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sandboxes": []})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(
        client(&server)
            .admin()
            .sandboxes()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(only_request(&server).await.url.query(), None);
}

#[tokio::test]
async fn admin_sharing_is_an_empty_object_placeholder() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/admin/sharing"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).admin().sharing().await.unwrap().is_empty());
}

#[tokio::test]
async fn admin_403_text_plain_is_authorization() {
    let server = MockServer::start().await;
    // requireAdmin answers text/plain with a JSON-looking body and a trailing newline.
    Mock::given(method("GET"))
        .and(path("/api/v1/audit/events"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .set_body_string("{\"error\":\"admin_required\"}\n"),
        )
        .mount(&server)
        .await;
    let err = client(&server).admin().audit_events().await.unwrap_err();
    assert!(matches!(err, Error::Authorization(_)), "{err:?}");
    let api = err.api().unwrap();
    assert_eq!(api.status(), 403);
    assert_eq!(api.message(), "admin_required");
    assert_eq!(api.operation(), "list_audit_events");
}

// ------------------------------------------------------------------ user

#[tokio::test]
async fn me_reads_the_current_user_with_null_groups() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/user/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "alice", "email": "alice@example.com", "name": "ci", "groups": null, "isAdmin": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    let me = client(&server).user().me().await.unwrap();
    assert_eq!(me.sub, "alice");
    assert_eq!(me.groups, None);
    assert!(!me.is_admin);
}

#[tokio::test]
async fn preferences_unset_read_as_empty_object() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/user/preferences"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(
        client(&server)
            .user()
            .preferences()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn preferences_stored_null_reads_as_empty_object() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/user/preferences"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("null\n"),
        )
        .mount(&server)
        .await;
    assert!(
        client(&server)
            .user()
            .preferences()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn preferences_read_the_stored_object() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/user/preferences"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"theme": "dark", "editor": {"tabs": 4}})),
        )
        .mount(&server)
        .await;
    let prefs = client(&server).user().preferences().await.unwrap();
    assert_eq!(prefs["theme"], "dark");
    assert_eq!(prefs["editor"]["tabs"], 4);
}

#[tokio::test]
async fn set_preferences_replaces_the_whole_object() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/user/preferences"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"theme": "dark"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"theme": "dark"})))
        .expect(1)
        .mount(&server)
        .await;
    let prefs = json!({"theme": "dark"}).as_object().unwrap().clone();
    let stored = client(&server)
        .user()
        .set_preferences(&prefs)
        .await
        .unwrap();
    assert_eq!(stored, prefs);
}

// ------------------------------------------------------------------ API keys

fn created_json(sandbox_id: &str, groups: serde_json::Value) -> serde_json::Value {
    json!({"id": "agenttier-apikey-27f2b25396137aa5befc72898724063aa7ac7d3d",
           "key": "atk_g0AdcPUXQAP0eTiSB1BOKxpKeCGTtioK_EzXdiuF3AA", "name": "ci",
           "sandboxId": sandbox_id, "actionGroups": groups,
           "createdAt": "2026-07-21T04:16:07.123456789Z", "expiresAt": null,
           "warning": "Store this key now — it cannot be retrieved again."})
}

#[tokio::test]
async fn api_key_list_reads_metadata() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/user/api-keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [
            {"id": "agenttier-apikey-1", "userId": "alice", "name": "ci",
             "createdAt": "2026-07-21T04:16:07.123456789Z", "expiresAt": "2026-08-20T04:16:07.123456789Z"},
            {"id": "agenttier-apikey-2", "userId": "alice", "name": "runner", "sandboxId": "demo",
             "actionGroups": ["stop", "snapshot"], "createdAt": "2026-07-21T04:16:07Z"}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let keys = client(&server).api_keys().list().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[0].expires_at.as_deref(),
        Some("2026-08-20T04:16:07.123456789Z")
    );
    assert!(keys[0].action_groups().is_empty());
    assert_eq!(keys[1].sandbox_id.as_deref(), Some("demo"));
    assert_eq!(
        keys[1].action_groups(),
        vec![
            ActionGroupOrUnknown::Known(ActionGroup::Stop),
            ActionGroupOrUnknown::Unknown("snapshot".into())
        ]
    );
}

#[tokio::test]
async fn api_key_mint_sends_scopes_not_action_groups() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/user/api-keys"))
        .and(body_json(json!({
            "name": "runner", "sandboxId": "demo", "scopes": ["run-command", "files:read", "agent:invoke"]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(created_json(
            "demo",
            json!(["run-command", "files:read", "agent:invoke"]),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let req = ApiKeyRequest::sandbox_scoped(
        "runner",
        "demo",
        &[
            ActionGroup::RunCommand,
            ActionGroup::FilesRead,
            ActionGroup::AgentInvoke,
        ],
    );
    let created = client(&server).api_keys().create(req).await.unwrap();
    assert_eq!(created.sandbox_id, "demo");
    assert_eq!(
        created.action_groups(),
        vec![
            ActionGroupOrUnknown::Known(ActionGroup::RunCommand),
            ActionGroupOrUnknown::Known(ActionGroup::FilesRead),
            ActionGroupOrUnknown::Known(ActionGroup::AgentInvoke)
        ]
    );
    let sent: serde_json::Value = only_request(&server).await.body_json().unwrap();
    assert!(sent.get("actionGroups").is_none());
}

#[tokio::test]
async fn api_key_mint_body_has_no_unknown_fields() {
    let server = MockServer::start().await;
    // The mint route is the Router's one decoder with DisallowUnknownFields: the body must be
    // exactly these keys, sized (it is read only when Content-Length > 0) and JSON.
    Mock::given(method("POST"))
        .and(path("/api/v1/user/api-keys"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"name": "ci", "expiresIn": "720h"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(created_json("", json!(null))))
        .expect(1)
        .mount(&server)
        .await;
    let created = client(&server)
        .api_keys()
        .create(ApiKeyRequest::user("ci").expires_in(Duration::from_secs(30 * 86_400)))
        .await
        .unwrap();
    assert!(created.action_groups().is_empty());
    assert_eq!(created.expires_at, None);
    let req = only_request(&server).await;
    let sent: serde_json::Value = req.body_json().unwrap();
    let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["name", "expiresIn", "sandboxId", "scopes"].contains(&k.as_str())),
        "{keys:?}"
    );
    assert_eq!(
        req.headers.get("content-length").unwrap().to_str().unwrap(),
        req.body.len().to_string()
    );
}

#[tokio::test]
async fn api_key_scoped_with_every_group_sends_all_eight() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/user/api-keys"))
        .and(body_json(json!({
            "name": "all", "sandboxId": "demo", "expiresIn": "1h30m",
            "scopes": ["run-command", "files:read", "files:write", "ports", "agent:invoke",
                       "agent:configure", "resume", "stop"]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(created_json(
            "demo",
            json!([
                "run-command",
                "files:read",
                "files:write",
                "ports",
                "agent:invoke",
                "agent:configure",
                "resume",
                "stop"
            ]),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let req = ApiKeyRequest::sandbox_scoped("all", "demo", &ActionGroup::ALL)
        .expires_in(Duration::from_secs(90 * 60));
    let created = client(&server).api_keys().create(req).await.unwrap();
    assert_eq!(created.action_groups().len(), 8);
}

#[tokio::test]
async fn api_key_bad_requests_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let keys = client(&server).api_keys();
    // No scopes would make the Router grant all eight groups: ask for that explicitly instead.
    assert_invalid(
        keys.create(ApiKeyRequest::sandbox_scoped("k", "demo", &[]))
            .await
            .unwrap_err(),
    );
    assert_invalid(
        keys.create(ApiKeyRequest::sandbox_scoped(
            "k",
            "a/b",
            &[ActionGroup::Stop],
        ))
        .await
        .unwrap_err(),
    );
    assert_invalid(
        keys.create(ApiKeyRequest::user("k").expires_in(Duration::ZERO))
            .await
            .unwrap_err(),
    );
    assert_invalid(keys.create(ApiKeyRequest::user(" ")).await.unwrap_err());
    assert_invalid(keys.revoke("").await.unwrap_err());
    assert_invalid("delete".parse::<ActionGroup>().unwrap_err());
    no_requests(&server).await;
}

#[tokio::test]
async fn api_key_revoke_answers_200_not_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(
            "/api/v1/user/api-keys/agenttier-apikey-27f2b25396137aa5befc72898724063aa7ac7d3d",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "revoked", "id": "agenttier-apikey-27f2b25396137aa5befc72898724063aa7ac7d3d"
        })))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .api_keys()
        .revoke("agenttier-apikey-27f2b25396137aa5befc72898724063aa7ac7d3d")
        .await
        .unwrap();
}

#[tokio::test]
async fn api_key_revoke_of_someone_elses_key_is_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/user/api-keys/agenttier-apikey-9"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": "you do not own this API key"})),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .api_keys()
        .revoke("agenttier-apikey-9")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authorization(_)), "{err:?}");
}

#[tokio::test]
async fn api_key_is_redacted_in_debug() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/user/api-keys"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created_json("", json!(null))))
        .mount(&server)
        .await;
    let created = client(&server)
        .api_keys()
        .create(ApiKeyRequest::user("ci"))
        .await
        .unwrap();
    let shown = format!("{created:?} {created:#?} {}", created.key);
    assert!(!shown.contains("atk_"), "{shown}");
    assert!(shown.contains("[redacted]"));
    assert_eq!(
        created.key.expose(),
        "atk_g0AdcPUXQAP0eTiSB1BOKxpKeCGTtioK_EzXdiuF3AA"
    );
}

// ------------------------------------------------------------------ warm pool

#[tokio::test]
async fn warm_pool_status_with_omitted_fields() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/warmpool/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let s = client(&server).warm_pool().status().await.unwrap();
    assert!(s.pools.is_empty());
    assert_eq!(s.desired_count, None);
    assert_eq!(s.template, None);
}

#[tokio::test]
async fn warm_pool_status_reads_pools_and_legacy_fields() {
    let server = MockServer::start().await;
    // One pool: the legacy top-level fields copy it, with the zero count left out.
    Mock::given(method("GET"))
        .and(path("/api/v1/warmpool/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pools": [{"template": "general-coding", "desiredCount": 2, "readyCount": 2, "pendingCount": 0}],
            "desiredCount": 2, "readyCount": 2, "template": "general-coding"
        })))
        .mount(&server)
        .await;
    let s = client(&server).warm_pool().status().await.unwrap();
    assert_eq!(s.pools[0].template, "general-coding");
    assert_eq!(s.pools[0].ready_count, 2);
    assert_eq!(s.pending_count, None);
    assert_eq!(s.desired_count, Some(2));
}

#[tokio::test]
async fn warm_pool_configure_sends_the_pools_shape() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/warmpool/config"))
        .and(body_json(json!({"pools": [
            {"template": "general-coding", "desiredCount": 2},
            {"template": "python-small", "desiredCount": 0}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "updated",
            "pools": [{"template": "general-coding", "desiredCount": 2},
                      {"template": "python-small", "desiredCount": 0}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let stored = client(&server)
        .warm_pool()
        .configure(&[
            PoolConfig::new("general-coding", 2),
            PoolConfig::new("python-small", 0),
        ])
        .await
        .unwrap();
    assert_eq!(stored.status, "updated");
    assert_eq!(stored.stored().len(), 2);
    assert_eq!(stored.stored()[0], PoolConfig::new("general-coding", 2));
}

#[tokio::test]
async fn warm_pool_configure_null_pools_reads_as_empty() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/warmpool/config"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "updated", "pools": null})),
        )
        .mount(&server)
        .await;
    let stored = client(&server)
        .warm_pool()
        .configure(&[PoolConfig::new("general-coding", 1)])
        .await
        .unwrap();
    assert!(stored.stored().is_empty());
}

#[tokio::test]
async fn warm_pool_clear_sends_the_legacy_zero_body() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/warmpool/config"))
        .and(body_json(json!({"desiredCount": 0})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "updated", "pools": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    client(&server).warm_pool().clear().await.unwrap();
}

#[tokio::test]
async fn warm_pool_desired_count_over_10_rejected_before_any_request() {
    let server = MockServer::start().await;
    let pool = client(&server).warm_pool();
    assert_invalid(
        pool.configure(&[PoolConfig::new("general-coding", 11)])
            .await
            .unwrap_err(),
    );
    assert_invalid(
        pool.configure(&[PoolConfig::new("general-coding", u32::MAX)])
            .await
            .unwrap_err(),
    );
    assert_invalid(
        pool.configure(&[PoolConfig {
            template: "general-coding".into(),
            desired_count: -1,
        }])
        .await
        .unwrap_err(),
    );
    assert_invalid(pool.configure(&[PoolConfig::new("", 1)]).await.unwrap_err());
    assert_invalid(pool.configure(&[]).await.unwrap_err());
    no_requests(&server).await;
}

#[tokio::test]
async fn warm_pool_desired_count_of_10_is_accepted() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/warmpool/config"))
        .and(body_json(
            json!({"pools": [{"template": "t", "desiredCount": 10}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"status": "updated", "pools": [{"template": "t", "desiredCount": 10}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .warm_pool()
        .configure(&[PoolConfig::new("t", 10)])
        .await
        .unwrap();
}

// ------------------------------------------------------------------ cluster

#[tokio::test]
async fn cluster_status_reads_counts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/cluster/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "nodes": 3, "nodesReady": 2, "pods": 40, "sandboxPods": 7, "headroomReady": 1,
            "autoscalerEnabled": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let s = client(&server).cluster().status().await.unwrap();
    assert_eq!((s.nodes, s.nodes_ready, s.pods), (3, 2, 40));
    assert_eq!((s.sandbox_pods, s.headroom_ready), (7, 1));
    assert!(s.autoscaler_enabled);
}

#[tokio::test]
async fn cluster_nodes_read_capacity_and_summary() {
    let server = MockServer::start().await;
    let res = |c: i64, m: i64| json!({"cpuMillis": c, "memBytes": m});
    Mock::given(method("GET"))
        .and(path("/api/v1/cluster/nodes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "nodes": [{"name": "node-1", "ready": true, "instanceType": "m5.xlarge",
                       "allocatable": res(4000, 16_000_000_000), "requests": res(1000, 4_000_000_000)},
                      {"name": "node-2", "ready": false,
                       "allocatable": res(4000, 16_000_000_000), "requests": res(0, 0)}],
            "summary": {"ready": 1, "total": 2, "cpuSaturationPct": 12.5, "memSaturationPct": 12.5,
                        "allocatable": res(8000, 32_000_000_000), "requests": res(1000, 4_000_000_000)}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let n = client(&server).cluster().nodes().await.unwrap();
    assert_eq!(n.nodes[0].instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(n.nodes[1].node_group, None);
    assert_eq!(n.summary.cpu_saturation_pct, 12.5);
    assert_eq!(n.summary.allocatable.mem_bytes, 32_000_000_000);
}

#[tokio::test]
async fn headroom_without_ready_replicas() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/cluster/headroom"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"replicas": 2, "cpu": "1", "memory": "2Gi", "enabled": true}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let h = client(&server).cluster().headroom().await.unwrap();
    assert_eq!(h.replicas, 2);
    assert_eq!(h.ready_replicas, None);
    assert_eq!(h.memory, "2Gi");
}

#[tokio::test]
async fn set_headroom_always_sends_replicas_even_zero() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/cluster/headroom"))
        .and(body_json(json!({"replicas": 0})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"replicas": 0, "cpu": "1", "memory": "2Gi", "enabled": true}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let h = client(&server)
        .cluster()
        .set_headroom(0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.replicas, 0);
    assert_eq!(h.cpu, "1");
}

#[tokio::test]
async fn set_headroom_sends_quantities_when_given() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/cluster/headroom"))
        .and(body_json(
            json!({"replicas": 50, "cpu": "500m", "memory": "1Gi"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "replicas": 50, "cpu": "500m", "memory": "1Gi", "readyReplicas": 3, "enabled": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let h = client(&server)
        .cluster()
        .set_headroom(50)
        .cpu("500m")
        .memory("1Gi")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.ready_replicas, Some(3));
}

#[tokio::test]
async fn set_headroom_reread_failure_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/cluster/headroom"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "updated"})))
        .mount(&server)
        .await;
    let h = client(&server).cluster().set_headroom(1).await.unwrap();
    assert_eq!(h, None);
}

#[tokio::test]
async fn set_headroom_missing_deployment_is_a_500_api_error() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/cluster/headroom"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": "failed to update headroom: headroom Deployment not found"
        })))
        .mount(&server)
        .await;
    let err = client(&server).cluster().set_headroom(1).await.unwrap_err();
    assert_eq!(err.api().unwrap().status(), 500);
    assert_eq!(err.api().unwrap().operation(), "set_headroom");
}

#[tokio::test]
async fn headroom_replicas_over_50_rejected_before_any_request() {
    let server = MockServer::start().await;
    let cluster = client(&server).cluster();
    assert_invalid(cluster.set_headroom(51).await.unwrap_err());
    assert_invalid(cluster.set_headroom(u32::MAX).await.unwrap_err());
    assert_invalid(cluster.set_headroom(1).cpu("").await.unwrap_err());
    assert_invalid(cluster.set_headroom(1).memory(" ").await.unwrap_err());
    no_requests(&server).await;
}
