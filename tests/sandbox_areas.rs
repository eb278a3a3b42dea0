//! Contract tests for the sandbox-scoped areas: PATCH, clone, backups, ports, preview,
//! sharing and bulk. Each test pins one Router behaviour (as openapi.yaml describes it)
//! or one client rule.

use std::collections::BTreeMap;
use std::time::Duration;

use agenttier::types::ResourceRequirements;
use agenttier::{BulkAction, BulkItem, Client, Error, ShareKind, ShareLevel, ShareLinkOptions};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod common;
use common::{assert_invalid, client, no_requests, requests_to};

fn demo(server: &MockServer) -> agenttier::Sandbox {
    client(server).sandbox("demo").unwrap()
}

// ---------------------------------------------------------------------------------------
// PATCH /api/v1/sandboxes/{id}
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn patch_requires_at_least_one_field_before_any_request() {
    let server = MockServer::start().await;
    let sb = demo(&server);
    let err = sb.update().await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidInput {
                field: "update",
                ..
            }
        ),
        "{err:?}"
    );
    // Empty maps count as not set.
    assert_invalid(
        sb.update()
            .labels(BTreeMap::new())
            .annotations(BTreeMap::new())
            .await
            .unwrap_err(),
    );
    no_requests(&server).await;
}

#[tokio::test]
async fn patch_sends_only_given_fields_and_reads_applied() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/sandboxes/demo"))
        .and(body_json(
            json!({"idleTimeout":"1h30m","labels":{"team":"search"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sandboxId":"demo",
            "applied":{"idleTimeout":"immediately","labels":"immediately"},
            "restartRequired":false})))
        .expect(1)
        .mount(&server)
        .await;
    let res = demo(&server)
        .update()
        .idle_timeout(Duration::from_secs(90 * 60))
        .label("team", "search")
        .await
        .unwrap();
    assert_eq!(res.sandbox_id, "demo");
    assert_eq!(res.applied["idleTimeout"], "immediately");
    assert_eq!(res.applied["labels"], "immediately");
    assert!(!res.applied.contains_key("resources"));
    assert!(!res.restart_required);
    assert_eq!(res.message, None);
}

#[tokio::test]
async fn patch_resources_are_on_restart_and_conveniences_build_the_maps() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/sandboxes/demo"))
        .and(body_json(json!({
            "resources":{"limits":{"cpu":"2","memory":"4Gi"},"requests":{"cpu":"500m"}},
            "annotations":{"example.com/ticket":"OPS-42"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sandboxId":"demo",
            "applied":{"resources":"on-restart","annotations":"immediately"},
            "restartRequired":true,
            "message":"resource changes take effect after the sandbox is stopped and resumed"})))
        .expect(1)
        .mount(&server)
        .await;
    let res = demo(&server)
        .update()
        .cpu_limit("2")
        .memory_limit("4Gi")
        .cpu_request("500m")
        .annotation("example.com/ticket", "OPS-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.applied["resources"], "on-restart");
    assert!(res.restart_required);
    assert!(res.message.unwrap().contains("stopped and resumed"));
}

#[tokio::test]
async fn patch_with_empty_resources_sends_an_empty_object_to_clear_them() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(body_json(json!({"resources":{}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sandboxId":"demo","applied":{"resources":"on-restart"},"restartRequired":true})))
        .expect(1)
        .mount(&server)
        .await;
    demo(&server)
        .update()
        .resources(ResourceRequirements::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn patch_refuses_bad_values_before_any_request() {
    let server = MockServer::start().await;
    let sb = demo(&server);
    let cases = [
        sb.update().idle_timeout(Duration::ZERO).await.unwrap_err(),
        sb.update().label("Bad Key", "v").await.unwrap_err(),
        sb.update().label("team", "not ok!").await.unwrap_err(),
        sb.update().annotation("/x", "anything").await.unwrap_err(),
        sb.update().cpu_limit("").await.unwrap_err(),
    ];
    for err in cases {
        assert_invalid(err);
    }
    no_requests(&server).await;
}

#[tokio::test]
async fn patch_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = demo(&server).update().label("a", "b").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        requests_to(&server, "PATCH", "/api/v1/sandboxes/demo").await,
        1
    );
}

#[tokio::test]
async fn patch_policy_violation_403_is_typed() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error":"policy_violation",
            "violations":[{"code":"cpu_limit_exceeded","message":"cpu limit 64 exceeds 8"}]})))
        .mount(&server)
        .await;
    let err = demo(&server).update().cpu_limit("64").await.unwrap_err();
    match err {
        Error::PolicyViolation { violations, .. } => {
            assert_eq!(violations[0].code, "cpu_limit_exceeded")
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// POST /api/v1/sandboxes/{id}/clone
// ---------------------------------------------------------------------------------------

fn clone_202() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({
        "name":"demo-copy","namespace":"team-a","snapshot":"demo-snap-1721234567",
        "clonedFrom":"demo","phase":"Pending",
        "message":"Clone in progress. Poll GET /api/v1/sandboxes/demo-copy for status"}))
}

#[tokio::test]
async fn clone_202_builds_handle_from_name_not_sandbox_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/clone"))
        .and(body_json(
            json!({"name":"demo-copy","snapshotClass":"csi-aws-vsc"}),
        ))
        .respond_with(clone_202())
        .expect(1)
        .mount(&server)
        .await;
    let copy = demo(&server)
        .clone_sandbox()
        .name("demo-copy")
        .snapshot_class("csi-aws-vsc")
        .await
        .unwrap();
    assert_eq!(copy.sandbox.id(), "demo-copy");
    assert_eq!(copy.sandbox.name(), "demo-copy");
    assert_eq!(copy.sandbox.namespace(), Some("team-a"));
    // The handle talks about the new sandbox.
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo-copy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sandboxId":"demo-copy","name":"demo-copy","namespace":"team-a","status":""})))
        .expect(1)
        .mount(&server)
        .await;
    copy.sandbox.status().await.unwrap();
}

#[tokio::test]
async fn clone_refuses_a_non_rfc1123_name_before_any_request() {
    let server = MockServer::start().await;
    let sb = demo(&server);
    assert_invalid(sb.clone_sandbox().name("Demo_Copy").await.unwrap_err());
    assert_invalid(sb.clone_sandbox().snapshot_class(" ").await.unwrap_err());
    no_requests(&server).await;
}

#[tokio::test]
async fn clone_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = demo(&server).clone_sandbox().await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/clone").await,
        1
    );
}

/// The Router reads the optional bodies of clone, backup create and restore only when
/// Content-Length > 0: an empty body must still be sent as a sized `{}`.
#[tokio::test]
async fn empty_optional_bodies_are_sent_sized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/clone"))
        .and(header("content-length", "2"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({})))
        .respond_with(clone_202())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/backups"))
        .and(header("content-length", "2"))
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name":"demo-workspace-backup-1","kind":"scheduled-backup","readyToUse":false,
            "createdAt":"2026-07-21T04:16:07Z"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/api/v1/sandboxes/demo/backups/demo-workspace-backup-1/restore",
        ))
        .and(header("content-length", "2"))
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "name":"demo-restore-1","namespace":"default","restoredFrom":"demo",
            "snapshot":"demo-workspace-backup-1","phase":"Pending","message":"Restore in progress."})))
        .expect(1)
        .mount(&server)
        .await;
    let sb = demo(&server);
    sb.clone_sandbox().send().await.unwrap();
    sb.backups().create().await.unwrap();
    sb.backups()
        .restore("demo-workspace-backup-1")
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Backups
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn backups_list_reads_backups_of_both_kinds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/backups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"backups":[
            {"name":"demo-workspace-backup-1","kind":"scheduled-backup","readyToUse":true,
             "createdAt":"2026-07-21T04:16:07Z","restoreSize":"10Gi"},
            {"name":"demo-snap-2","kind":"clone","readyToUse":false}]})))
        .expect(1)
        .mount(&server)
        .await;
    let list = demo(&server).backups().list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].restore_size.as_deref(), Some("10Gi"));
    assert!(list[0].ready_to_use);
    assert_eq!(list[1].kind, "clone");
    assert_eq!(list[1].created_at, None);
}

#[tokio::test]
async fn backup_create_sends_snapshot_class_and_reads_201() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/backups"))
        .and(body_json(json!({"snapshotClass":"csi-aws-vsc"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name":"demo-workspace-backup-1721","kind":"scheduled-backup","readyToUse":false,
            "createdAt":"2026-07-21T04:16:07Z"})))
        .expect(1)
        .mount(&server)
        .await;
    let b = demo(&server)
        .backups()
        .create()
        .snapshot_class("csi-aws-vsc")
        .await
        .unwrap();
    assert_eq!(b.name, "demo-workspace-backup-1721");
    assert!(!b.ready_to_use);
}

#[tokio::test]
async fn restore_202_builds_handle_from_name() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/backups/snap-1/restore"))
        .and(body_json(json!({"name":"demo-restored"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "name":"demo-restored","namespace":"team-a","restoredFrom":"demo",
            "snapshot":"snap-1","phase":"Pending","message":"Restore in progress."})))
        .expect(1)
        .mount(&server)
        .await;
    let restored = demo(&server)
        .backups()
        .restore("snap-1")
        .name("demo-restored")
        .await
        .unwrap();
    assert_eq!(restored.sandbox.id(), "demo-restored");
    assert_eq!(restored.sandbox.namespace(), Some("team-a"));
}

#[tokio::test]
async fn restore_of_a_pruned_snapshot_is_not_found_and_a_deleting_one_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/backups/gone/restore"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error":"snapshot not found (it may have been pruned)"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/backups/going/restore"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(json!({"error":"snapshot is being deleted"})),
        )
        .mount(&server)
        .await;
    let sb = demo(&server);
    let err = sb.backups().restore("gone").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = sb.backups().restore("going").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn backup_delete_answers_200_not_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sandboxes/demo/backups/snap-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status":"deleted","name":"snap-1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    demo(&server).backups().delete("snap-1").await.unwrap();
}

#[tokio::test]
async fn backup_names_are_checked_before_any_request() {
    let server = MockServer::start().await;
    let sb = demo(&server);
    for bad in ["", " ", "a/b", ".", "..", "x\ny"] {
        assert_invalid(sb.backups().delete(bad).await.unwrap_err());
        assert_invalid(sb.backups().restore(bad).await.unwrap_err());
    }
    assert_invalid(
        sb.backups()
            .restore("snap-1")
            .name("Not_A_Label")
            .await
            .unwrap_err(),
    );
    assert_invalid(sb.backups().create().snapshot_class("").await.unwrap_err());
    no_requests(&server).await;
}

// ---------------------------------------------------------------------------------------
// Ports and preview
// ---------------------------------------------------------------------------------------

fn forwarded(port: u16, protocol: &str) -> Value {
    json!({"port":port,"protocol":protocol,
           "internalUrl":format!("http://pf-demo-{port}.default.svc.cluster.local:{port}"),
           "previewUrl":format!("https://sandbox-demo-{port}.preview.example.com/")})
}

#[tokio::test]
async fn ports_list_reads_ports() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/ports"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ports":[forwarded(8080, "http")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ports = demo(&server).ports().list().await.unwrap();
    assert_eq!(ports[0].port, 8080);
    assert_eq!(ports[0].protocol, "http");
    assert_eq!(
        ports[0].internal_url.as_deref(),
        Some("http://pf-demo-8080.default.svc.cluster.local:8080")
    );
}

#[tokio::test]
async fn forward_port_sends_port_and_optional_protocol() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/ports"))
        .and(body_json(json!({"port":8080})))
        .respond_with(ResponseTemplate::new(201).set_body_json(forwarded(8080, "http")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/ports"))
        .and(body_json(json!({"port":8443,"protocol":"https"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(forwarded(8443, "https")))
        .expect(1)
        .mount(&server)
        .await;
    let sb = demo(&server);
    let p = sb.ports().forward(8080).await.unwrap();
    assert_eq!(
        p.preview_url.as_deref(),
        Some("https://sandbox-demo-8080.preview.example.com/")
    );
    let p = sb.ports().forward_as(8443, "https").await.unwrap();
    assert_eq!(p.protocol, "https");
}

#[tokio::test]
async fn forward_port_rejects_0_and_65536_before_any_request() {
    let server = MockServer::start().await;
    let ports = demo(&server);
    let ports = ports.ports();
    for bad in [0, 65_536, u32::MAX] {
        assert_invalid(ports.forward(bad).await.unwrap_err());
        assert_invalid(ports.forward_as(bad, "http").await.unwrap_err());
        assert_invalid(ports.remove(bad).await.unwrap_err());
        assert_invalid(ports.preview_url(bad).unwrap_err());
    }
    assert_invalid(ports.forward_as(8080, "").await.unwrap_err());
    no_requests(&server).await;
}

#[tokio::test]
async fn forward_port_is_retried_on_503_because_it_is_an_upsert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(forwarded(3000, "http")))
        .mount(&server)
        .await;
    let p = demo(&server).ports().forward(3000).await.unwrap();
    assert_eq!(p.port, 3000);
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/ports").await,
        2
    );
}

#[tokio::test]
async fn remove_port_answers_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sandboxes/demo/ports/3000"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    demo(&server).ports().remove(3000).await.unwrap();
}

#[tokio::test]
async fn preview_url_is_the_authenticated_router_path() {
    let server = MockServer::start().await;
    let url = demo(&server).ports().preview_url(8080).unwrap();
    assert_eq!(
        url.as_str(),
        format!("{}/api/v1/sandboxes/demo/preview/8080/", server.uri())
    );
    // Under a path prefix, and with a trailing /api/v1 on the base URL (dropped by the client).
    let c = Client::builder("https://router.example.com/agenttier/api/v1")
        .build()
        .unwrap();
    let url = c
        .sandbox("my box")
        .unwrap()
        .ports()
        .preview_url(3000)
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://router.example.com/agenttier/api/v1/sandboxes/my%20box/preview/3000/"
    );
    assert_eq!(
        url.join("api/health?x=1").unwrap().as_str(),
        "https://router.example.com/agenttier/api/v1/sandboxes/my%20box/preview/3000/api/health?x=1"
    );
    // No request is made.
    no_requests(&server).await;
}

// ---------------------------------------------------------------------------------------
// Sharing
// ---------------------------------------------------------------------------------------

fn sharing_json() -> Value {
    json!({"users":[{"identity":"alice@example.com","level":"collaborator"}],
           "groups":[{"identity":"eng","level":"viewer"}],
           "shareLinks":[{"id":"a1b2c3d4e5f60718","level":"viewer","expiresAt":null,
                          "maxUses":0,"usedCount":0}]})
}

#[tokio::test]
async fn share_get_reads_users_groups_and_links() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sandboxes/demo/share"))
        .respond_with(ResponseTemplate::new(200).set_body_json(sharing_json()))
        .expect(1)
        .mount(&server)
        .await;
    let s = demo(&server).sharing().get().await.unwrap();
    assert_eq!(s.users[0].identity, "alice@example.com");
    assert_eq!(s.groups[0].level, "viewer");
    assert_eq!(s.share_links[0].expires_at, None);
}

#[tokio::test]
async fn share_grant_sends_identity_level_and_kind() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/share"))
        .and(body_json(
            json!({"identity":"alice@example.com","level":"collaborator","kind":"user"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(sharing_json()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/share"))
        .and(body_json(
            json!({"identity":"eng","level":"viewer","kind":"group"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(sharing_json()))
        .expect(1)
        .mount(&server)
        .await;
    let sb = demo(&server);
    let s = sb
        .sharing()
        .grant(
            "alice@example.com",
            ShareLevel::Collaborator,
            ShareKind::User,
        )
        .await
        .unwrap();
    assert_eq!(s.users[0].level, "collaborator");
    sb.sharing()
        .grant("eng", ShareLevel::Viewer, ShareKind::Group)
        .await
        .unwrap();
    assert_invalid(
        sb.sharing()
            .grant(" ", ShareLevel::Viewer, ShareKind::User)
            .await
            .unwrap_err(),
    );
}

#[tokio::test]
async fn share_grant_is_retried_on_503_because_it_is_an_upsert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(sharing_json()))
        .mount(&server)
        .await;
    demo(&server)
        .sharing()
        .grant("eng", ShareLevel::Viewer, ShareKind::Group)
        .await
        .unwrap();
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/share").await,
        2
    );
}

#[tokio::test]
async fn share_routes_403_for_missing_sandbox_is_authorization() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-request-id", "r-403")
                .set_body_json(json!({"error":"sandbox ghost not found"})),
        )
        .mount(&server)
        .await;
    let sb = client(&server).sandbox("ghost").unwrap();
    let sharing = sb.sharing();
    let errs = [
        sharing.get().await.unwrap_err(),
        sharing
            .grant("a@b.c", ShareLevel::Viewer, ShareKind::User)
            .await
            .unwrap_err(),
        sharing.revoke("a@b.c").await.unwrap_err(),
        sharing
            .create_link(ShareLinkOptions::default())
            .await
            .unwrap_err(),
    ];
    for err in errs {
        assert!(matches!(err, Error::Authorization(_)), "{err:?}");
        assert!(!err.is_not_found());
        assert_eq!(err.request_id(), Some("r-403"));
        assert_eq!(err.api().unwrap().message(), "sandbox ghost not found");
    }
}

#[tokio::test]
async fn share_link_sends_level_go_duration_and_max_uses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/share-links"))
        .and(body_json(
            json!({"level":"collaborator","expiresIn":"24h","maxUses":5}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id":"a1b2c3d4e5f60718","token":"tok-abc","level":"collaborator",
            "expiresAt":"2026-07-22T10:00:00Z","maxUses":5,
            "warning":"Store this token now — it is shown only once."})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/share-links"))
        .and(body_json(json!({"level":"viewer"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id":"0011223344556677","token":"tok-def","level":"viewer",
            "expiresAt":null,"maxUses":0,"warning":"Store this token now."})))
        .expect(1)
        .mount(&server)
        .await;
    let sb = demo(&server);
    let link = sb
        .sharing()
        .create_link(ShareLinkOptions {
            level: ShareLevel::Collaborator,
            expires_in: Some(Duration::from_secs(24 * 3600)),
            max_uses: Some(5),
        })
        .await
        .unwrap();
    assert_eq!(link.token.expose(), "tok-abc");
    assert_eq!(link.expires_at.as_deref(), Some("2026-07-22T10:00:00Z"));
    assert_eq!(link.max_uses, 5);
    let link = sb
        .sharing()
        .create_link(ShareLinkOptions::default())
        .await
        .unwrap();
    assert_eq!(link.expires_at, None);
}

#[tokio::test]
async fn share_link_refuses_bad_options_before_any_request() {
    let server = MockServer::start().await;
    let sb = demo(&server);
    let zero = ShareLinkOptions {
        expires_in: Some(Duration::ZERO),
        ..Default::default()
    };
    assert_invalid(sb.sharing().create_link(zero).await.unwrap_err());
    let huge = ShareLinkOptions {
        max_uses: Some(u32::MAX),
        ..Default::default()
    };
    assert_invalid(sb.sharing().create_link(huge).await.unwrap_err());
    no_requests(&server).await;
}

#[tokio::test]
async fn share_link_token_is_redacted_in_debug() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/demo/share-links"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id":"a1b2c3d4e5f60718","token":"super-secret-token-value","level":"viewer",
            "expiresAt":null,"maxUses":0,"warning":"shown once"})))
        .mount(&server)
        .await;
    let link = demo(&server)
        .sharing()
        .create_link(ShareLinkOptions::default())
        .await
        .unwrap();
    let debug = format!("{link:?}");
    assert!(!debug.contains("super-secret-token-value"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert!(debug.contains("a1b2c3d4e5f60718"), "{debug}");
    assert_eq!(link.token.expose(), "super-secret-token-value");
}

#[tokio::test]
async fn share_link_create_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    demo(&server)
        .sharing()
        .create_link(ShareLinkOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/demo/share-links").await,
        1
    );
}

#[tokio::test]
async fn revoke_share_encodes_identity_as_one_segment() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sandboxes/demo/share/alice%40example.com"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status":"revoked","identity":"alice@example.com"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Characters that would end or split the path (space, #, ?, %) are percent-encoded.
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sandboxes/demo/share/Team%20A%20%231%3F%25"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status":"revoked","identity":"Team A #1?%"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sb = demo(&server);
    sb.sharing().revoke("alice@example.com").await.unwrap();
    sb.sharing().revoke("Team A #1?%").await.unwrap();
    let seen = server.received_requests().await.unwrap();
    assert!(seen.iter().all(|r| r.url.query().is_none()));
    // `/` (the Router decodes %2F and would not match the route) and dot segments (URL
    // parsing would resolve them to another route) are refused.
    for bad in ["a/b", "", ".", ".."] {
        assert_invalid(sb.sharing().revoke(bad).await.unwrap_err());
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Bulk
// ---------------------------------------------------------------------------------------

/// Answers a bulk create like the Router: one result per item, `index` relative to the
/// request, `sandboxId` = the item's name; names starting with `bad` fail.
fn bulk_router(req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let results: Vec<Value> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item["name"].as_str().unwrap();
            if name.starts_with("bad") {
                json!({"index":i,"status":"error","error":"failed to create sandbox: already exists"})
            } else {
                json!({"index":i,"status":"created","sandboxId":name})
            }
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({ "results": results }))
}

fn bulk_action_router(req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let results: Vec<Value> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap();
            if id.starts_with("ghost") {
                json!({"id":id,"status":"error","error":format!("sandbox {id} not found")})
            } else {
                json!({"id":id,"status":"ok"})
            }
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({ "results": results }))
}

async fn bodies(server: &MockServer, p: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn bulk_create_sends_items_like_create_sandbox() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .and(body_json(json!({"items":[
            {"name":"w1","templateRef":{"name":"general-coding","kind":"ClusterSandboxTemplate"}},
            {"name":"w2","namespace":"team-a",
             "templateRef":{"name":"general-coding","kind":"ClusterSandboxTemplate"},
             "timeout":"8h","idleTimeout":"30m","storage":{"size":"5Gi"}}]})))
        .respond_with(bulk_router)
        .expect(1)
        .mount(&server)
        .await;
    let results = client(&server)
        .create_sandboxes(vec![
            BulkItem::new("w1").template("general-coding"),
            BulkItem::new("w2")
                .template("general-coding")
                .namespace("team-a")
                .timeout(Duration::from_secs(8 * 3600))
                .idle_timeout(Duration::from_secs(30 * 60))
                .storage_size("5Gi"),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.is_created()));
    assert_eq!(results[1].sandbox_id.as_deref(), Some("w2"));
}

#[tokio::test]
async fn bulk_create_reports_an_invalid_item_per_item_and_sends_the_rest() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results":[
            {"index":0,"status":"created","sandboxId":"w0"},
            {"index":1,"status":"created","sandboxId":"w2"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let items = vec![
        BulkItem::new("w0").template("general-coding"),
        BulkItem::new("Not_A_Label").template("general-coding"),
        BulkItem::new("w2").template("general-coding"),
    ];
    let results = c.create_sandboxes(items).await.unwrap();
    let summary: Vec<(i32, &str, Option<&str>)> = results
        .iter()
        .map(|r| (r.index, r.status.as_str(), r.sandbox_id.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "created", Some("w0")),
            (1, "error", None),
            (2, "created", Some("w2"))
        ]
    );
    assert!(results[1].error.as_deref().unwrap().contains("RFC 1123"));
    // Only the valid items went out, in order.
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    let names: Vec<&str> = sent["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w0", "w2"]);
}

#[tokio::test]
async fn bulk_create_with_only_invalid_items_sends_nothing() {
    let server = MockServer::start().await;
    let c = client(&server);
    assert_invalid(c.create_sandboxes(vec![]).await.unwrap_err());
    let results = c
        .create_sandboxes(vec![
            BulkItem::new("w1").template(""),
            BulkItem::new("w2")
                .template("t")
                .idle_timeout(Duration::ZERO),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r.status == "error" && r.sandbox_id.is_none())
    );
    assert!(results[0].error.as_deref().unwrap().contains("template"));
    assert!(
        results[1]
            .error
            .as_deref()
            .unwrap()
            .contains("idle_timeout")
    );
    no_requests(&server).await;
}

#[tokio::test]
async fn bulk_create_splits_batches_over_100() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .expect(3)
        .mount(&server)
        .await;
    let items = (0..250)
        .map(|i| BulkItem::new(format!("w{i}")).template("general-coding"))
        .collect();
    let results = client(&server).create_sandboxes(items).await.unwrap();
    let sent = bodies(&server, "/api/v1/sandboxes/bulk").await;
    let sizes: Vec<usize> = sent
        .iter()
        .map(|b| b["items"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    // Consecutive, in order.
    assert_eq!(sent[1]["items"][0]["name"], "w100");
    assert_eq!(sent[2]["items"][49]["name"], "w249");
    // Results are concatenated and `index` is the caller's position.
    assert_eq!(results.len(), 250);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.index, i as i32);
        assert_eq!(r.sandbox_id.as_deref(), Some(format!("w{i}").as_str()));
    }
}

#[tokio::test]
async fn bulk_create_exactly_100_is_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .expect(1)
        .mount(&server)
        .await;
    let items = (0..100)
        .map(|i| BulkItem::new(format!("w{i}")).template("general-coding"))
        .collect();
    let results = client(&server).create_sandboxes(items).await.unwrap();
    assert_eq!(results.len(), 100);
}

#[tokio::test]
async fn bulk_create_one_bad_item_does_not_fail_siblings() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .mount(&server)
        .await;
    let results = client(&server)
        .create_sandboxes(vec![
            BulkItem::new("w1").template("general-coding"),
            BulkItem::new("bad-1").template("general-coding"),
            BulkItem::new("w3").template("general-coding"),
        ])
        .await
        .unwrap();
    let created: Vec<bool> = results.iter().map(|r| r.is_created()).collect();
    assert_eq!(created, [true, false, true]);
    assert_eq!(results[1].index, 1);
    assert_eq!(results[1].sandbox_id, None);
    assert!(
        results[1]
            .error
            .as_deref()
            .unwrap()
            .contains("already exists")
    );
}

#[tokio::test]
async fn bulk_create_quota_409_is_typed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "error":"quota_would_exceed","namespace":"team-a",
            "violations":[{"code":"namespace_quota_exceeded","message":"namespace team-a allows 10 sandboxes"}]})))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_sandboxes(vec![
            BulkItem::new("w1")
                .template("general-coding")
                .namespace("team-a"),
        ])
        .await
        .unwrap_err();
    match &err {
        Error::QuotaWouldExceed {
            namespace,
            violations,
            ..
        } => {
            assert_eq!(namespace, "team-a");
            assert_eq!(violations[0].code, "namespace_quota_exceeded");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(409));
}

#[tokio::test]
async fn bulk_create_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_sandboxes(vec![BulkItem::new("w1").template("general-coding")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/bulk").await,
        1
    );
}

/// The rate limiter charges one token per item and answers 429 before the handler runs, so
/// nothing was created: the next batch waits out `Retry-After` and is sent again.
#[tokio::test]
async fn bulk_create_waits_out_429_between_batches() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"error":"rate_limited","retryAfter":1,
                                      "message":"too many requests; retry after 1 seconds"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .mount(&server)
        .await;
    let items = (0..150)
        .map(|i| BulkItem::new(format!("w{i}")).template("general-coding"))
        .collect();
    let started = std::time::Instant::now();
    let results = client(&server).create_sandboxes(items).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(results.len(), 150);
    assert!(results.iter().all(|r| r.is_created()));
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/bulk").await,
        3
    );
}

#[tokio::test]
async fn bulk_create_429_beyond_the_retry_after_limit_is_returned() {
    let server = MockServer::start().await;
    // More items than the burst: the Router asks for ~292 years.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "9223372037"))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_sandboxes(vec![BulkItem::new("w1").template("general-coding")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/bulk").await,
        1
    );
}

#[tokio::test]
async fn bulk_create_later_batch_failure_keeps_earlier_results() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(bulk_router)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "error":"quota_would_exceed","namespace":"default","violations":[]})))
        .mount(&server)
        .await;
    let items = (0..250)
        .map(|i| BulkItem::new(format!("w{i}")).template("general-coding"))
        .collect();
    let results = client(&server).create_sandboxes(items).await.unwrap();
    assert_eq!(results.len(), 250);
    assert!(results[..100].iter().all(|r| r.is_created()));
    for (i, r) in results.iter().enumerate().skip(100) {
        assert_eq!(r.index, i as i32);
        assert!(!r.is_created());
        assert_eq!(r.sandbox_id, None);
    }
    assert!(results[100].error.as_deref().unwrap().contains("quota"));
    assert!(
        results[249]
            .error
            .as_deref()
            .unwrap()
            .starts_with("not sent")
    );
    // The third batch is not sent after the second failed.
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/bulk").await,
        2
    );
}

#[tokio::test]
async fn bulk_action_results_use_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk-action"))
        .and(body_json(
            json!({"action":"stop","ids":["w1","ghost-2","w3"]}),
        ))
        .respond_with(bulk_action_router)
        .expect(1)
        .mount(&server)
        .await;
    let results = client(&server)
        .bulk_action(BulkAction::Stop, &["w1", "ghost-2", "w3"])
        .await
        .unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["w1", "ghost-2", "w3"]);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(!results[1].is_ok());
    assert_eq!(
        results[1].error.as_deref(),
        Some("sandbox ghost-2 not found")
    );
}

#[tokio::test]
async fn bulk_action_sends_each_action_name() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk-action"))
        .respond_with(bulk_action_router)
        .mount(&server)
        .await;
    let c = client(&server);
    for action in [BulkAction::Stop, BulkAction::Resume, BulkAction::Delete] {
        c.bulk_action(action, &[String::from("w1")]).await.unwrap();
    }
    let actions: Vec<Value> = bodies(&server, "/api/v1/sandboxes/bulk-action")
        .await
        .into_iter()
        .map(|b| b["action"].clone())
        .collect();
    assert_eq!(actions, [json!("stop"), json!("resume"), json!("delete")]);
}

#[tokio::test]
async fn bulk_action_splits_ids_over_100() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sandboxes/bulk-action"))
        .respond_with(bulk_action_router)
        .expect(2)
        .mount(&server)
        .await;
    let ids: Vec<String> = (0..101).map(|i| format!("w{i}")).collect();
    let results = client(&server)
        .bulk_action(BulkAction::Delete, &ids)
        .await
        .unwrap();
    let sizes: Vec<usize> = bodies(&server, "/api/v1/sandboxes/bulk-action")
        .await
        .iter()
        .map(|b| b["ids"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 1]);
    assert_eq!(results.len(), 101);
    assert_eq!(results[100].id, "w100");
}

#[tokio::test]
async fn bulk_action_refuses_bad_ids_before_any_request() {
    let server = MockServer::start().await;
    let c = client(&server);
    let none: [&str; 0] = [];
    assert_invalid(c.bulk_action(BulkAction::Stop, &none).await.unwrap_err());
    assert_invalid(
        c.bulk_action(BulkAction::Stop, &["w1", ""])
            .await
            .unwrap_err(),
    );
    assert_invalid(
        c.bulk_action(BulkAction::Stop, &["w1", "a/b"])
            .await
            .unwrap_err(),
    );
    no_requests(&server).await;
}

#[tokio::test]
async fn bulk_action_is_not_retried_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server)
        .bulk_action(BulkAction::Delete, &["w1"])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        requests_to(&server, "POST", "/api/v1/sandboxes/bulk-action").await,
        1
    );
}
