//! The FakeRouter's wire behaviour, driven with plain reqwest over loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agenttier_fake_router::{
    ExecRule, FakeAuth, FakeIdentity, FakeRouter, Fault, InvocationOutcome, Method, OPERATIONS,
    RouteMatch,
};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAST: Duration = Duration::from_millis(60);
/// Only a guard against a hung test: every wait below is event-driven and ends as soon as
/// the awaited state is reached.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn fast() -> FakeRouter {
    FakeRouter::builder()
        .creating_delay(FAST)
        .finalizer_delay(FAST)
        .start()
        .await
}

/// A router whose phases move only with `advance`.
async fn manual(creating: Duration) -> FakeRouter {
    FakeRouter::builder()
        .manual_clock()
        .creating_delay(creating)
        .finalizer_delay(creating)
        .start()
        .await
}

fn api(r: &FakeRouter, path: &str) -> String {
    format!("{}/api/v1{path}", r.url())
}

async fn get(r: &FakeRouter, path: &str) -> reqwest::Response {
    http().get(api(r, path)).send().await.unwrap()
}

async fn delete(r: &FakeRouter, path: &str) -> reqwest::Response {
    http().delete(api(r, path)).send().await.unwrap()
}

/// POST with no body at all (no Content-Length body to read).
async fn post_empty(r: &FakeRouter, path: &str) -> reqwest::Response {
    http().post(api(r, path)).send().await.unwrap()
}

async fn post(r: &FakeRouter, path: &str, body: Value) -> reqwest::Response {
    http().post(api(r, path)).json(&body).send().await.unwrap()
}

async fn put(r: &FakeRouter, path: &str, body: Value) -> reqwest::Response {
    http().put(api(r, path)).json(&body).send().await.unwrap()
}

async fn patch(r: &FakeRouter, path: &str, body: Value) -> reqwest::Response {
    http().patch(api(r, path)).json(&body).send().await.unwrap()
}

async fn body_json(resp: reqwest::Response) -> Value {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn create_body(name: &str, template: &str) -> Value {
    json!({"name": name, "templateRef": {"name": template, "kind": "ClusterSandboxTemplate"}})
}

async fn create(r: &FakeRouter, name: &str, template: &str) -> reqwest::Response {
    http()
        .post(api(r, "/sandboxes"))
        .json(&create_body(name, template))
        .send()
        .await
        .unwrap()
}

async fn get_sandbox(r: &FakeRouter, name: &str) -> (StatusCode, Value) {
    let resp = http()
        .get(api(r, &format!("/sandboxes/{name}")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, body_json(resp).await)
}

/// Wait until the sandbox is in `phase` (event-driven; the guard only catches a hang).
async fn wait_phase(r: &FakeRouter, name: &str, phase: &str) {
    if tokio::time::timeout(HANG_GUARD, r.wait_for_phase(name, phase))
        .await
        .is_err()
    {
        panic!("{name} never reached {phase:?}; it is {:?}", r.phase(name));
    }
}

/// The phase as GET reports it.
async fn status(r: &FakeRouter, name: &str) -> Value {
    get_sandbox(r, name).await.1["status"].clone()
}

async fn running(r: &FakeRouter, name: &str, template: &str) {
    assert_eq!(create(r, name, template).await.status(), 201);
    wait_phase(r, name, "Running").await;
}

async fn exec(r: &FakeRouter, name: &str, command: &str) -> (StatusCode, Value) {
    let resp = http()
        .post(api(r, &format!("/sandboxes/{name}/exec")))
        .json(&json!({ "command": command }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, body_json(resp).await)
}

async fn put_file(r: &FakeRouter, name: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
    http()
        .put(api(r, &format!("/sandboxes/{name}/files/{path}")))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Read a whole SSE body into (event, data) frames; comments come back as ("", ": ...").
async fn sse_frames(resp: reqwest::Response) -> Vec<(String, String)> {
    let text = resp.text().await.unwrap();
    parse_frames(&text)
}

fn parse_frames(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            if f.starts_with(':') {
                return (String::new(), f.to_string());
            }
            let mut event = String::new();
            let mut data = String::new();
            for line in f.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                }
            }
            (event, data)
        })
        .collect()
}

async fn configure(r: &FakeRouter, name: &str, body: Value) -> Vec<(String, String)> {
    let resp = http()
        .post(api(r, &format!("/sandboxes/{name}/configure")))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    sse_frames(resp).await
}

/// An agent sandbox, Running, configured with `entrypoint`.
async fn agent(r: &FakeRouter, name: &str, entrypoint: &[&str]) {
    running(r, name, "agent-python").await;
    let frames = configure(r, name, json!({ "entrypoint": entrypoint })).await;
    assert_eq!(frames.last().unwrap().0, "result", "{frames:?}");
}

/// Wait until the invocation ended and check how (event-driven; the guard only catches a hang).
async fn wait_outcome(r: &FakeRouter, invoke_id: &str, want: InvocationOutcome) {
    let rec = tokio::time::timeout(HANG_GUARD, r.wait_for_invocation(invoke_id))
        .await
        .unwrap_or_else(|_| panic!("{invoke_id} never ended: {:?}", r.invocations()));
    assert_eq!(rec.outcome, want, "{rec:?}");
}

// ----------------------------------------------------------------------------------------
// Lifecycle

#[tokio::test]
async fn create_answers_creating_then_phase_goes_empty_creating_running() {
    let r = manual(Duration::from_millis(600)).await;
    let resp = create(&r, "demo", "general-coding").await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.text().await.unwrap(),
        "{\"name\":\"demo\",\"namespace\":\"default\",\"sandboxId\":\"demo\",\"status\":\"Creating\",\"templateRef\":\"general-coding\"}\n"
    );
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "");
    assert_eq!(v["templateRef"], "");
    assert_eq!(v["pvcName"], "");
    r.advance(Duration::from_millis(199));
    assert_eq!(status(&r, "demo").await, "");
    r.advance(Duration::from_millis(1));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "Creating");
    assert_eq!(v["pvcName"], "");
    r.advance(Duration::from_millis(400));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "Running");
    assert_eq!(v["pvcName"], "demo-workspace");
    assert_eq!(v["templateRef"], "general-coding");
    assert_eq!(v["mode"], "code");
    assert_eq!(
        v["createdBy"],
        json!({"email": "dev@agenttier.local", "displayName": "Dev User"})
    );
    assert!(v.get("lastActivityAt").is_some());
}

#[tokio::test]
async fn manual_clock_phases_never_advance_on_their_own() {
    let r = manual(Duration::from_millis(3)).await;
    create(&r, "demo", "general-coding").await;
    // Real time passing (far more than the creating delay) changes nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(status(&r, "demo").await, "");
    assert_eq!(r.phase("demo").as_deref(), Some(""));
    r.advance(Duration::from_millis(3));
    assert_eq!(status(&r, "demo").await, "Running");
}

#[tokio::test]
async fn advance_applies_due_transitions_in_time_order_across_sandboxes() {
    let r = manual(Duration::from_millis(300)).await;
    create(&r, "b-first", "general-coding").await;
    r.advance(Duration::from_millis(150));
    create(&r, "a-second", "general-coding").await;
    // Due: b-first Creating@100 (already applied), a-second Creating@250,
    // b-first Running@300, a-second Running@450.
    r.advance(Duration::from_millis(300));
    let v = body_json(get(&r, "/audit/events").await).await;
    let events: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            format!(
                "{} {}",
                e["sandboxId"].as_str().unwrap(),
                e["eventType"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "b-first Creating",
            "a-second Creating",
            "b-first Running",
            "a-second Running"
        ]
    );
    let stamps: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "each event carries the time it fell due: {stamps:?}"
    );
}

#[tokio::test]
async fn wait_for_phase_resolves_when_advance_applies_the_phase() {
    let r = manual(Duration::from_millis(90)).await;
    let waiter = r.wait_for_phase("demo", "Running");
    tokio::pin!(waiter);
    assert!(
        futures::poll!(&mut waiter).is_pending(),
        "no such sandbox yet"
    );
    create(&r, "demo", "general-coding").await;
    r.advance(Duration::from_millis(30));
    assert!(futures::poll!(&mut waiter).is_pending(), "only Creating");
    r.advance(Duration::from_millis(60));
    tokio::time::timeout(HANG_GUARD, waiter)
        .await
        .expect("Running was applied by advance");
}

#[tokio::test]
async fn wait_for_phase_on_the_real_clock_wakes_when_the_transition_falls_due() {
    let r = FakeRouter::builder()
        .creating_delay(Duration::from_millis(30))
        .start()
        .await;
    create(&r, "demo", "general-coding").await;
    // Nothing else touches the router: the wait itself must wake up at the due time.
    wait_phase(&r, "demo", "Running").await;
    post_empty(&r, "/sandboxes/demo/stop").await;
    wait_phase(&r, "demo", "Stopped").await;
}

#[tokio::test]
async fn advance_on_the_real_clock_moves_the_lifecycle_ahead() {
    let r = FakeRouter::builder()
        .creating_delay(Duration::from_secs(3600))
        .start()
        .await;
    create(&r, "demo", "general-coding").await;
    assert_eq!(status(&r, "demo").await, "");
    r.advance(Duration::from_secs(3600));
    assert_eq!(status(&r, "demo").await, "Running");
}

#[tokio::test]
async fn visibility_lag_hides_a_new_sandbox_from_get_and_list_but_it_exists() {
    let r = FakeRouter::builder()
        .manual_clock()
        .creating_delay(FAST)
        .visibility_lag(Duration::from_millis(500))
        .start()
        .await;
    assert_eq!(create(&r, "demo", "general-coding").await.status(), 201);
    let (status, v) = get_sandbox(&r, "demo").await;
    assert_eq!(status, 404);
    assert_eq!(v, json!({"error": "sandbox demo not found"}));
    let v = body_json(get(&r, "/sandboxes").await).await;
    assert_eq!(v, json!({"sandboxes": null}));
    let v = body_json(get(&r, "/admin/sandboxes").await).await;
    assert_eq!(v, json!({"sandboxes": []}));
    let resp = create(&r, "demo", "general-coding").await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "failed to create sandbox: sandboxes.agenttier.io \"demo\" already exists"})
    );
    r.advance(Duration::from_millis(499));
    assert_eq!(get_sandbox(&r, "demo").await.0, 404);
    r.advance(Duration::from_millis(1));
    let (status, v) = get_sandbox(&r, "demo").await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "Running", "the lifecycle ran during the lag");
    let v = body_json(get(&r, "/sandboxes").await).await;
    assert_eq!(v["sandboxes"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn visibility_lag_applies_to_bulk_clone_and_restore() {
    let lag = Duration::from_millis(200);
    let r = FakeRouter::builder()
        .manual_clock()
        .creating_delay(FAST)
        .visibility_lag(lag)
        .start()
        .await;
    create(&r, "src", "general-coding").await;
    r.advance(lag);
    assert_eq!(status(&r, "src").await, "Running");
    let resp = post(
        &r,
        "/sandboxes/bulk",
        json!({"items": [create_body("w1", "general-coding")]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = post(&r, "/sandboxes/src/clone", json!({"name": "copy"})).await;
    assert_eq!(resp.status(), 202);
    let snap = body_json(post_empty(&r, "/sandboxes/src/backups").await).await["name"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = post(
        &r,
        &format!("/sandboxes/src/backups/{snap}/restore"),
        json!({"name": "back"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    for name in ["w1", "copy", "back"] {
        assert_eq!(get_sandbox(&r, name).await.0, 404, "{name}");
    }
    r.advance(lag);
    for name in ["w1", "copy", "back"] {
        assert_eq!(get_sandbox(&r, name).await.0, 200, "{name}");
    }
}

#[tokio::test]
async fn created_at_is_go_time_string_in_utc() {
    let r = fast().await;
    create(&r, "demo", "general-coding").await;
    let (_, v) = get_sandbox(&r, "demo").await;
    let t = v["createdAt"].as_str().unwrap();
    // 2026-07-21 04:16:07 +0000 UTC
    assert_eq!(t.len(), 29, "{t}");
    assert!(t.ends_with(" +0000 UTC"), "{t}");
    assert_eq!(&t[4..5], "-");
    assert_eq!(&t[10..11], " ");
    assert_eq!(&t[13..14], ":");
}

#[tokio::test]
async fn null_sandbox_list_when_empty() {
    let r = fast().await;
    let resp = get(&r, "/sandboxes").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "{\"sandboxes\":null}\n");
    create(&r, "demo", "general-coding").await;
    let v = body_json(get(&r, "/sandboxes").await).await;
    assert_eq!(v["sandboxes"].as_array().unwrap().len(), 1);
    let v = body_json(get(&r, "/sandboxes?status=Stopped").await).await;
    assert_eq!(v["sandboxes"], Value::Null);
}

#[tokio::test]
async fn create_validates_name_template_and_timeouts() {
    let r = fast().await;
    let cases = [
        (
            json!({"templateRef": {"name": "general-coding"}}),
            400,
            "name is required",
        ),
        (json!({"name": "a"}), 400, "templateRef.name is required"),
        (
            json!({"name": "a", "templateRef": {"name": "general-coding"}, "timeout": "1d"}),
            400,
            "invalid timeout: ",
        ),
        (
            json!({"name": "a", "templateRef": {"name": "general-coding"}, "idleTimeout": "-5m"}),
            400,
            "invalid idleTimeout: ",
        ),
        (
            json!({"name": "Bad_Name", "templateRef": {"name": "general-coding"}}),
            500,
            "failed to create sandbox: ",
        ),
    ];
    for (body, status, msg) in cases {
        let resp = post(&r, "/sandboxes", body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let v = body_json(resp).await;
        assert!(
            v["error"].as_str().unwrap().starts_with(msg),
            "{body} -> {v}"
        );
    }
    create(&r, "dup", "general-coding").await;
    let resp = create(&r, "dup", "general-coding").await;
    assert_eq!(resp.status(), 500);
    assert!(
        body_json(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
}

#[tokio::test]
async fn template_ref_without_kind_or_unknown_template_ends_in_error_phase() {
    let r = fast().await;
    let resp = post(
        &r,
        "/sandboxes",
        json!({"name": "nokind", "templateRef": {"name": "general-coding"}}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    create(&r, "missing", "no-such-template").await;
    wait_phase(&r, "nokind", "Error").await;
    wait_phase(&r, "missing", "Error").await;
    let (_, v) = get_sandbox(&r, "missing").await;
    assert!(v["message"].as_str().unwrap().contains("no-such-template"));
}

#[tokio::test]
async fn delete_answers_204_then_reads_back_until_finalizer() {
    let r = FakeRouter::builder()
        .manual_clock()
        .creating_delay(FAST)
        .finalizer_delay(Duration::from_millis(400))
        .start()
        .await;
    create(&r, "demo", "general-coding").await;
    r.advance(FAST);
    let resp = delete(&r, "/sandboxes/demo").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.text().await.unwrap(), "");
    let (status, v) = get_sandbox(&r, "demo").await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "Running", "the phase never becomes Deleting");
    r.advance(Duration::from_millis(399));
    assert_eq!(
        get_sandbox(&r, "demo").await.0,
        200,
        "the finalizer is still running"
    );
    r.advance(Duration::from_millis(1));
    let (status, v) = get_sandbox(&r, "demo").await;
    assert_eq!(status, 404);
    assert_eq!(v, json!({"error": "sandbox demo not found"}));
}

#[tokio::test]
async fn stop_only_from_running_else_409() {
    let r = manual(Duration::from_millis(300)).await;
    create(&r, "demo", "general-coding").await;
    let resp = post_empty(&r, "/sandboxes/demo/stop").await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "cannot stop sandbox in phase "})
    );
    r.advance(Duration::from_millis(300));
    let resp = post_empty(&r, "/sandboxes/demo/stop").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(resp).await, json!({"status": "stopping"}));
    assert_eq!(status(&r, "demo").await, "Running", "stop is asynchronous");
    r.advance(Duration::from_millis(100));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["message"], "User requested stop");
    assert_eq!(v["podName"], "");
    assert_eq!(v["pvcName"], "demo-workspace", "the PVC is kept");
    let resp = post_empty(&r, "/sandboxes/demo/stop").await;
    assert_eq!(
        body_json(resp).await,
        json!({"error": "cannot stop sandbox in phase Stopped"})
    );
}

#[tokio::test]
async fn resume_goes_creating_resuming_then_running() {
    let r = manual(Duration::from_millis(300)).await;
    create(&r, "demo", "general-coding").await;
    r.advance(Duration::from_millis(300));
    let resp = post_empty(&r, "/sandboxes/demo/resume").await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "cannot resume sandbox in phase Running"})
    );
    post_empty(&r, "/sandboxes/demo/stop").await;
    r.advance(Duration::from_millis(100));
    assert_eq!(status(&r, "demo").await, "Stopped");
    let resp = post_empty(&r, "/sandboxes/demo/resume").await;
    assert_eq!(body_json(resp).await, json!({"status": "resuming"}));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "Creating");
    assert_eq!(v["message"], "Resuming");
    r.advance(Duration::from_millis(299));
    assert_eq!(status(&r, "demo").await, "Creating");
    r.advance(Duration::from_millis(1));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "Running");
    assert_eq!(v["message"], "");
}

#[tokio::test]
async fn set_phase_forces_error_and_resume_is_allowed_from_error() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    assert!(r.set_phase("demo", "Error", "Pod failed: OOMKilled"));
    assert!(!r.set_phase("nope", "Error", ""));
    let (_, v) = get_sandbox(&r, "demo").await;
    assert_eq!(v["status"], "Error");
    assert_eq!(v["message"], "Pod failed: OOMKilled");
    assert_eq!(r.phase("demo").as_deref(), Some("Error"));
    let (status, v) = exec(&r, "demo", "true").await;
    assert_eq!(status, 409);
    assert_eq!(v, json!({"error": "sandbox is not running"}));
    let resp = post_empty(&r, "/sandboxes/demo/resume").await;
    assert_eq!(resp.status(), 200);
    wait_phase(&r, "demo", "Running").await;
}

#[tokio::test]
async fn patch_requires_a_field_and_reports_applied() {
    let r = fast().await;
    create(&r, "demo", "general-coding").await;
    let patch = |body: Value| patch(&r, "/sandboxes/demo", body);
    let resp = patch(json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "at least one of idleTimeout, resources, labels, annotations is required"})
    );
    let v = body_json(patch(json!({"labels": {"team": "a"}, "idleTimeout": "1h"})).await).await;
    assert_eq!(
        v,
        json!({"sandboxId": "demo", "applied": {"labels": "immediately", "idleTimeout": "immediately"}, "restartRequired": false})
    );
    let v = body_json(patch(json!({"resources": {"limits": {"cpu": "2"}}})).await).await;
    assert_eq!(v["applied"], json!({"resources": "on-restart"}));
    assert_eq!(v["restartRequired"], true);
    assert_eq!(
        v["message"],
        "resource changes take effect after the sandbox is stopped and resumed"
    );
    let resp = http()
        .patch(api(&r, "/sandboxes/ghost"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "lookup happens before the body decode");
}

#[tokio::test]
async fn clone_answers_202_with_name_and_copies_files() {
    let r = manual(Duration::from_millis(900)).await;
    let resp = post_empty(&r, "/sandboxes/ghost/clone").await;
    assert_eq!(resp.status(), 404);
    create(&r, "src", "general-coding").await;
    let resp = post_empty(&r, "/sandboxes/src/clone").await;
    assert_eq!(resp.status(), 400);
    let msg = body_json(resp).await["error"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("sandbox src has no PVC to clone (phase="),
        "{msg}"
    );
    r.advance(Duration::from_millis(900));
    put_file(&r, "src", "workspace/a.txt", b"hello".to_vec()).await;
    let resp = post(&r, "/sandboxes/src/clone", json!({"name": "Bad Name"})).await;
    assert_eq!(resp.status(), 400);
    let resp = post(&r, "/sandboxes/src/clone", json!({"name": " copy "})).await;
    assert_eq!(resp.status(), 202);
    let v = body_json(resp).await;
    assert_eq!(v["name"], "copy");
    assert_eq!(v["clonedFrom"], "src");
    assert_eq!(v["phase"], "Pending");
    assert!(v.get("sandboxId").is_none());
    assert!(v["snapshot"].as_str().unwrap().starts_with("src-snap-"));
    let (_, c) = get_sandbox(&r, "copy").await;
    assert_eq!(c["status"], "");
    r.advance(Duration::from_millis(900));
    assert_eq!(status(&r, "copy").await, "Running");
    let (_, out) = exec(&r, "copy", "cat /workspace/a.txt").await;
    assert_eq!(out["stdout"], "hello");
}

#[tokio::test]
async fn bulk_create_reports_per_item_results() {
    let r = fast().await;
    let resp = post(&r, "/sandboxes/bulk", json!({"items": []})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "items must be a non-empty array"})
    );
    let resp = post(
        &r,
        "/sandboxes/bulk",
        json!({"items": [
            create_body("w1", "general-coding"),
            {"templateRef": {"name": "general-coding"}},
            create_body("w1", "general-coding"),
        ]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v = body_json(resp).await;
    let results = v["results"].as_array().unwrap();
    assert_eq!(
        results[0],
        json!({"index": 0, "status": "created", "sandboxId": "w1"})
    );
    assert_eq!(
        results[1],
        json!({"index": 1, "status": "error", "error": "name is required"})
    );
    assert_eq!(results[2]["status"], "error");
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("failed to create sandbox: ")
    );
}

#[tokio::test]
async fn bulk_create_checks_quota_up_front_with_409() {
    let r = fast().await;
    put(
        &r,
        "/governance/policies",
        json!({"maxSandboxesPerUser": 2}),
    )
    .await;
    create(&r, "one", "general-coding").await;
    let resp = post(&r, "/sandboxes/bulk", json!({"items": [create_body("two", "general-coding"), create_body("three", "general-coding")]})).await;
    assert_eq!(resp.status(), 409);
    let v = body_json(resp).await;
    assert_eq!(v["error"], "quota_would_exceed");
    assert_eq!(v["namespace"], "default");
    assert_eq!(v["violations"][0]["code"], "user_quota_exceeded");
    assert_eq!(get_sandbox(&r, "two").await.0, 404, "nothing was created");
}

#[tokio::test]
async fn bulk_action_reports_per_item_results() {
    let r = fast().await;
    running(&r, "a", "general-coding").await;
    create(&r, "b", "general-coding").await;
    let resp = post(
        &r,
        "/sandboxes/bulk-action",
        json!({"action": "reboot", "ids": ["a"]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v = body_json(
        post(
            &r,
            "/sandboxes/bulk-action",
            json!({"action": "stop", "ids": ["a", "ghost"]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        v,
        json!({"results": [
            {"id": "a", "status": "ok"},
            {"id": "ghost", "status": "error", "error": "sandbox ghost not found"},
        ]})
    );
}

// ----------------------------------------------------------------------------------------
// The mux and wire details

#[tokio::test]
async fn unknown_route_is_text_plain_mux_404_without_request_id() {
    let r = FakeRouter::builder().auth(FakeAuth::ApiKeys).start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/sandboxez"),
        (reqwest::Method::POST, "/api/v1/templates/x"),
        (reqwest::Method::GET, "/api/v1/sandboxes/"),
        (reqwest::Method::PUT, "/api/v1/sandboxes"),
    ] {
        let resp = http()
            .request(method.clone(), format!("{}{path}", r.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert!(resp.headers().get("x-request-id").is_none());
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(resp.text().await.unwrap(), "404 page not found\n");
    }
}

#[tokio::test]
async fn wrong_method_outside_api_v1_and_on_invoke_cancel_is_empty_405() {
    let r = fast().await;
    for (method, path) in [
        (reqwest::Method::POST, "/healthz"),
        (reqwest::Method::GET, "/api/v2/sandboxes"),
        (reqwest::Method::GET, "/api/v1/sandboxes/demo/invoke/cancel"),
    ] {
        let resp = http()
            .request(method.clone(), format!("{}{path}", r.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert!(resp.headers().get("x-request-id").is_none());
        assert_eq!(resp.text().await.unwrap(), "");
    }
}

#[tokio::test]
async fn files_list_without_trailing_slash_is_mux_404() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    let resp = get(&r, "/sandboxes/demo/files").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "404 page not found\n");
    let resp = get(&r, "/sandboxes/demo/files/").await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn double_slash_path_redirects_301() {
    let r = fast().await;
    let resp = http()
        .get(format!(
            "{}/api/v1/sandboxes/demo/files//workspace/a.txt?x=1",
            r.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        "/api/v1/sandboxes/demo/files/workspace/a.txt?x=1"
    );
    assert!(resp.headers().get("x-request-id").is_none());
    // reqwest normalises `/./` itself, so send this one by hand.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(r.addr()).await.unwrap();
    tcp.write_all(b"GET /api/v1/./sandboxes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert!(raw.starts_with("HTTP/1.1 301"), "{raw}");
    assert!(raw.contains("Location: /api/v1/sandboxes\r\n"), "{raw}");
}

#[tokio::test]
async fn request_id_is_echoed_or_generated_on_matched_routes() {
    let r = fast().await;
    let resp = http()
        .get(api(&r, "/sandboxes"))
        .header("X-Request-ID", "my id 123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "my id 123");
    let resp = get(&r, "/templates").await;
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let resp = http()
        .get(format!("{}/healthz", r.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn healthz_and_readyz_answer_ok_without_newline() {
    let r = FakeRouter::builder().auth(FakeAuth::ApiKeys).start().await;
    for path in ["/healthz", "/readyz"] {
        let resp = http()
            .get(format!("{}{path}", r.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
}

#[tokio::test]
async fn metrics_answers_prometheus_text_without_auth() {
    let r = FakeRouter::builder().auth(FakeAuth::ApiKeys).start().await;
    let resp = http()
        .get(format!("{}/metrics", r.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(resp.headers().get("x-request-id").is_some());
    let text = resp.text().await.unwrap();
    for family in [
        "agenttier_invoke_requests_total counter",
        "agenttier_invoke_duration_seconds histogram",
        "agenttier_invoke_throttled_total counter",
        "agenttier_configure_requests_total counter",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "{family}: {text}"
        );
    }
    let resp = http()
        .post(format!("{}/metrics", r.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.text().await.unwrap(), "");
}

#[tokio::test]
async fn metrics_count_configures_invokes_and_throttles_by_template() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .template(
            "solo-agent",
            json!({"mode": "agent", "harness": {"agent": {"maxConcurrentInvokes": 1}}}),
        )
        .start()
        .await;
    agent_with_template(&r, "bot", "solo-agent").await;
    r.on_exec(ExecRule::exact("agent").exit_code(3));
    sse_frames(post_empty(&r, "/sandboxes/bot/invoke").await).await;
    r.clear_exec_rules();
    r.on_exec(ExecRule::exact("agent").delay(Duration::from_secs(30)));
    let slow = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(post_empty(&r, "/sandboxes/bot/invoke").await.status(), 429);
    // The slow invoke is still in flight: it is not counted yet.
    let text = http()
        .get(format!("{}/metrics", r.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "agenttier_configure_requests_total{outcome=\"success\",template=\"solo-agent\"} 1",
        "agenttier_invoke_requests_total{outcome=\"completed\",template=\"solo-agent\"} 1",
        "agenttier_invoke_duration_seconds_count{template=\"solo-agent\"} 1",
        "agenttier_invoke_throttled_total{template=\"solo-agent\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing in:\n{text}"
        );
    }
    drop(slow);
}

#[tokio::test]
async fn json_bodies_escape_html_characters_like_go() {
    let r = fast().await;
    let resp = post(
        &r,
        "/templates",
        json!({"name": "t1", "spec": {"description": "a<b>&c"}}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#""description":"a\u003cb\u003e\u0026c""#),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
}

#[tokio::test]
async fn every_operation_in_the_table_is_served() {
    let r = fast().await;
    assert_eq!(OPERATIONS.len(), 64);
    for (op, method, template) in OPERATIONS {
        let path = template
            .replace("{id}", "nosuch")
            .replace("{snapshotName}", "snap")
            .replace("{path}", "workspace/x")
            .replace("{port}", "8080")
            .replace("{userId}", "bob")
            .replace("{name}", "nosuch")
            .replace("{namespace}", "team-a")
            .replace("{keyId}", "nosuch");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = http()
            .request(method, format!("{}{path}", r.url()))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            resp.headers().get("x-request-id").is_some(),
            "{op} {template} was not routed: {}",
            resp.status()
        );
    }
}

// ----------------------------------------------------------------------------------------
// Auth

#[tokio::test]
async fn api_key_mode_401_is_text_plain() {
    let r = FakeRouter::builder()
        .auth(FakeAuth::ApiKeys)
        .api_key("atk_good")
        .start()
        .await;
    let cases: [(Option<(&str, &str)>, &str); 4] = [
        (None, "{\"error\":\"missing_authorization\"}\n"),
        (
            Some(("x-api-key", "atk_bad")),
            "{\"error\":\"invalid_api_key\"}\n",
        ),
        (
            Some(("authorization", "Token abc")),
            "{\"error\":\"invalid_authorization_format\"}\n",
        ),
        (
            Some(("authorization", "Bearer abc")),
            "{\"error\":\"invalid_token\",\"message\":\"OIDC authentication is not configured on this server\"}\n",
        ),
    ];
    for (header, body) in cases {
        let mut req = http().get(api(&r, "/sandboxes"));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert!(resp.headers().get("x-request-id").is_some());
        assert_eq!(resp.text().await.unwrap(), body);
    }
    let resp = http()
        .get(api(&r, "/sandboxes"))
        .header("x-api-key", "atk_good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn api_key_callers_are_never_admin() {
    let r = FakeRouter::builder()
        .auth(FakeAuth::ApiKeys)
        .api_key_for("atk_admin", FakeIdentity::admin("boss", "boss@example.com"))
        .start()
        .await;
    let resp = http()
        .get(api(&r, "/audit/events"))
        .header("x-api-key", "atk_admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        resp.text().await.unwrap(),
        "{\"error\":\"admin_required\"}\n"
    );
    let me = body_json(
        http()
            .get(api(&r, "/user/me"))
            .header("x-api-key", "atk_admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        me,
        json!({"sub": "boss", "email": "boss@example.com", "name": "registered", "groups": null, "isAdmin": false})
    );
}

#[tokio::test]
async fn dev_auth_is_the_admin_dev_user_and_ignores_credentials() {
    let r = fast().await;
    let me = body_json(
        http()
            .get(api(&r, "/user/me"))
            .header("x-api-key", "atk_whatever")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        me,
        json!({"sub": "dev-user", "email": "dev@agenttier.local", "name": "Dev User", "groups": ["agenttier-admins"], "isAdmin": true})
    );
}

#[tokio::test]
async fn bearer_mode_uses_the_test_check() {
    let check = Arc::new(|token: &str| {
        (token == "alice-token").then(|| FakeIdentity::user("alice", "alice@example.com"))
    });
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .auth(FakeAuth::Bearer(check))
        .start()
        .await;
    let resp = http()
        .get(api(&r, "/user/me"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.text()
            .await
            .unwrap()
            .starts_with("{\"error\":\"invalid_token\"")
    );
    let resp = http()
        .post(api(&r, "/sandboxes"))
        .bearer_auth("alice-token")
        .json(&create_body("mine", "general-coding"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = http()
        .get(api(&r, "/admin/sandboxes"))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn non_owners_get_404_and_their_list_excludes_others() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .auth(FakeAuth::ApiKeys)
        .api_key_for(
            "atk_alice",
            FakeIdentity::user("alice", "alice@example.com"),
        )
        .api_key_for("atk_bob", FakeIdentity::user("bob", "bob@example.com"))
        .start()
        .await;
    http()
        .post(api(&r, "/sandboxes"))
        .header("x-api-key", "atk_alice")
        .json(&create_body("alice-box", "general-coding"))
        .send()
        .await
        .unwrap();
    let v = body_json(
        http()
            .get(api(&r, "/sandboxes"))
            .header("x-api-key", "atk_bob")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["sandboxes"], Value::Null);
    let resp = http()
        .delete(api(&r, "/sandboxes/alice-box"))
        .header("x-api-key", "atk_bob")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "access denied to sandbox alice-box"})
    );
    // Sharing routes map every lookup failure to 403.
    let resp = http()
        .get(api(&r, "/sandboxes/alice-box/share"))
        .header("x-api-key", "atk_bob")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A share lets bob read it by id, but it still is not listed for him.
    http()
        .post(api(&r, "/sandboxes/alice-box/share"))
        .header("x-api-key", "atk_alice")
        .json(&json!({"identity": "bob@example.com", "level": "viewer"}))
        .send()
        .await
        .unwrap();
    let resp = http()
        .get(api(&r, "/sandboxes/alice-box"))
        .header("x-api-key", "atk_bob")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn scoped_key_denied_on_other_sandbox() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .auth(FakeAuth::ApiKeys)
        .api_key("atk_owner")
        .start()
        .await;
    for name in ["mine", "other"] {
        let resp = http()
            .post(api(&r, "/sandboxes"))
            .header("x-api-key", "atk_owner")
            .json(&create_body(name, "general-coding"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let resp = http()
        .post(api(&r, "/user/api-keys"))
        .header("x-api-key", "atk_owner")
        .json(&json!({"name": "ci", "sandboxId": "mine", "scopes": ["run-command"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let minted = body_json(resp).await;
    assert_eq!(minted["actionGroups"], json!(["run-command"]));
    let key = minted["key"].as_str().unwrap().to_string();
    let call = |method: reqwest::Method, path: &str| {
        http()
            .request(method, api(&r, path))
            .header("x-api-key", key.clone())
            .json(&json!({"command": "echo hi"}))
            .send()
    };
    let resp = call(reqwest::Method::POST, "/sandboxes/other/exec")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        body_json(resp).await,
        json!({"error": "scoped key is not bound to this sandbox"})
    );
    let resp = call(reqwest::Method::GET, "/sandboxes/mine").await.unwrap();
    assert_eq!(
        body_json(resp).await,
        json!({"error": "scoped key not permitted for this route"})
    );
    let resp = call(reqwest::Method::POST, "/sandboxes/mine/stop")
        .await
        .unwrap();
    assert_eq!(
        body_json(resp).await,
        json!({"error": "scoped key lacks the \"stop\" action group"})
    );
    wait_phase(&r, "mine", "Running").await;
    let resp = call(reqwest::Method::POST, "/sandboxes/mine/exec")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(resp).await["stdout"], "hi\n");
}

#[tokio::test]
async fn api_key_mint_list_and_revoke() {
    let r = fast().await;
    let mint = |body: Value| post(&r, "/user/api-keys", body);
    let resp = mint(json!({"name": "x", "actionGroups": ["run-command"]})).await;
    assert_eq!(resp.status(), 400);
    assert!(
        body_json(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("unknown field \"actionGroups\"")
    );
    create(&r, "demo", "general-coding").await;
    let resp = mint(json!({"sandboxId": "demo", "scopes": ["delete"]})).await;
    assert_eq!(resp.status(), 400);
    assert!(
        body_json(resp).await["error"]
            .as_str()
            .unwrap()
            .starts_with("\"delete\" is not a valid action group")
    );
    let resp = mint(json!({"scopes": ["stop"]})).await;
    assert_eq!(resp.status(), 400);
    let resp = mint(json!({"sandboxId": "ghost"})).await;
    assert_eq!(resp.status(), 404);

    let user_key = body_json(mint(json!({"name": "ci", "expiresIn": "720h"})).await).await;
    let key = user_key["key"].as_str().unwrap();
    assert!(key.starts_with("atk_") && key.len() == 47, "{key}");
    assert!(
        user_key["id"]
            .as_str()
            .unwrap()
            .starts_with("agenttier-apikey-")
    );
    assert_eq!(user_key["sandboxId"], "");
    assert_eq!(user_key["actionGroups"], Value::Null);
    assert!(user_key["expiresAt"].is_string());
    let scoped = body_json(mint(json!({"sandboxId": "demo"})).await).await;
    assert_eq!(scoped["actionGroups"].as_array().unwrap().len(), 8);

    let list = body_json(get(&r, "/user/api-keys").await).await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].get("key").is_none());
    assert_eq!(keys[0]["userId"], "dev-user");
    let id = user_key["id"].as_str().unwrap();
    let resp = delete(&r, &format!("/user/api-keys/{id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        body_json(resp).await,
        json!({"status": "revoked", "id": id})
    );
    let resp = delete(&r, &format!("/user/api-keys/{id}")).await;
    assert_eq!(resp.status(), 404);
}

// ----------------------------------------------------------------------------------------
// Exec and files

#[tokio::test]
async fn exec_rules_first_match_wins_and_echo_is_emulated() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    r.on_exec(ExecRule::contains("pip install").stdout("ok\n"));
    r.on_exec(ExecRule::prefix("pip").stderr("never\n").exit_code(9));
    r.on_exec(ExecRule::exact("make test").stderr("boom\n").exit_code(2));
    let (status, v) = exec(&r, "demo", "pip install requests").await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"stdout": "ok\n", "stderr": "", "exitCode": 0}));
    let (_, v) = exec(&r, "demo", "make test").await;
    assert_eq!(v, json!({"stdout": "", "stderr": "boom\n", "exitCode": 2}));
    let (_, v) = exec(&r, "demo", "echo 'hello world'").await;
    assert_eq!(v["stdout"], "hello world\n");
    let (_, v) = exec(&r, "demo", "something else").await;
    assert_eq!(v, json!({"stdout": "", "stderr": "", "exitCode": 0}));
    r.clear_exec_rules();
    let (_, v) = exec(&r, "demo", "make test").await;
    assert_eq!(v["exitCode"], 0);
}

#[tokio::test]
async fn exec_without_local_exec_interprets_shell_syntax_against_the_files() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    for (i, part) in ["hello ", "big ", "world"].iter().enumerate() {
        let path = format!("workspace/.f.agenttier-1.p{i:08}");
        assert_eq!(
            put_file(&r, "demo", &path, part.as_bytes().to_vec())
                .await
                .status(),
            201
        );
    }
    // The shape of the SDK's chunked-upload join.
    let join = "n=0; if cat '/workspace/.f.agenttier-1'.p* > '/workspace/.f.agenttier-1.join' \
        && n=$(($(wc -c < '/workspace/.f.agenttier-1.join'))) && [ \"$n\" -eq 15 ] \
        && mv -f '/workspace/.f.agenttier-1.join' '/workspace/f.txt'; then r=0; else r=1; fi; \
        rm -f '/workspace/.f.agenttier-1'.p* '/workspace/.f.agenttier-1.join'; echo \"$n\"; exit $r";
    let (status, v) = exec(&r, "demo", join).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"stdout": "15\n", "stderr": "", "exitCode": 0}));
    let (_, v) = exec(&r, "demo", "cat f.txt; ls -A /workspace").await;
    assert_eq!(v["stdout"], "hello big worldf.txt\n");
    // Unknown commands still succeed silently, inside scripts too; rules keep priority.
    let (_, v) = exec(&r, "demo", "pip install x && echo installed").await;
    assert_eq!(
        v,
        json!({"stdout": "installed\n", "stderr": "", "exitCode": 0})
    );
    r.on_exec(ExecRule::contains("exit 9").stdout("canned\n"));
    let (_, v) = exec(&r, "demo", "echo real; exit 9").await;
    assert_eq!(
        v,
        json!({"stdout": "canned\n", "stderr": "", "exitCode": 0})
    );
    let (_, v) = exec(
        &r,
        "demo",
        "if [ -e nope ]; then echo yes; else echo no >&2; exit 3; fi",
    )
    .await;
    assert_eq!(v, json!({"stdout": "", "stderr": "no\n", "exitCode": 3}));
}

#[tokio::test]
async fn exec_checks_running_then_body_then_command() {
    let r = manual(FAST).await;
    create(&r, "demo", "general-coding").await;
    let (status, v) = exec(&r, "demo", "true").await;
    assert_eq!(status, 409);
    assert_eq!(v, json!({"error": "sandbox is not running"}));
    let (status, _) = exec(&r, "ghost", "true").await;
    assert_eq!(status, 404);
    r.set_phase("demo", "Running", "");
    let (status, v) = exec(&r, "demo", "").await;
    assert_eq!(status, 400);
    assert_eq!(v, json!({"error": "command is required"}));
    let resp = http()
        .post(api(&r, "/sandboxes/demo/exec"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_json(resp).await,
        json!({"error": "invalid request body"})
    );
}

#[tokio::test]
async fn files_write_list_read_round_trip() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    let resp = put_file(&r, "demo", "workspace/src/main.py", b"print(1)\n".to_vec()).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        body_json(resp).await,
        json!({"path": "/workspace/src/main.py", "bytes": 9})
    );
    let v = body_json(get(&r, "/sandboxes/demo/files/").await).await;
    assert_eq!(v["path"], "/workspace");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["name"], "src");
    assert_eq!(entries[0]["isDir"], true);
    assert_eq!(entries[0]["mode"], "drwxr-xr-x");
    assert!(entries[0]["modifiedAt"].as_i64().unwrap() > 1_700_000_000);
    let v = body_json(get(&r, "/sandboxes/demo/files/?path=/workspace/src").await).await;
    assert_eq!(v["entries"][0]["name"], "main.py");
    assert_eq!(v["entries"][0]["size"], 9);
    assert_eq!(v["entries"][0]["isDir"], false);
    assert_eq!(v["entries"][0]["mode"], "-rw-r--r--");
    let resp = get(&r, "/sandboxes/demo/files/workspace/src/main.py").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"main.py\""
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"print(1)\n");
    let resp = get(&r, "/sandboxes/demo/files/workspace/nope.txt").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "file not found: /workspace/nope.txt"})
    );
    let resp = get(&r, "/sandboxes/demo/files/?path=/nowhere").await;
    assert_eq!(
        body_json(resp).await,
        json!({"error": "path not found: /nowhere"})
    );
    let resp = put_file(&r, "demo", "workspace/it's.txt", b"x".to_vec()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "path contains disallowed characters"})
    );
}

#[tokio::test]
async fn upload_over_practical_limit_fails_500() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    let resp = put_file(&r, "demo", "workspace/ok.bin", vec![7u8; 98_304]).await;
    assert_eq!(resp.status(), 201);
    let resp = put_file(&r, "demo", "workspace/big.bin", vec![7u8; 98_305]).await;
    assert_eq!(resp.status(), 500);
    let v = body_json(resp).await;
    assert!(
        v["error"].as_str().unwrap().starts_with("write failed: "),
        "{v}"
    );
}

#[tokio::test]
async fn upload_over_32_mib_is_413() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .upload_limit(64 << 20)
        .start()
        .await;
    running(&r, "demo", "general-coding").await;
    let resp = put_file(&r, "demo", "workspace/huge.bin", vec![0u8; 33_554_433]).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "payload exceeds 33554432 bytes"})
    );
}

/// Names and contents of the stored entries of a ZIP (local headers walk).
fn unzip(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let mut out = Vec::new();
    let mut i = 0;
    while u32_at(i) == 0x0403_4b50 {
        assert_eq!(u16_at(i + 8), 0, "stored");
        let size = u32_at(i + 18) as usize;
        let name_len = u16_at(i + 26);
        let extra = u16_at(i + 28);
        let name = String::from_utf8(data[i + 30..i + 30 + name_len].to_vec()).unwrap();
        let start = i + 30 + name_len + extra;
        let content = data[start..start + size].to_vec();
        out.push((name, content));
        i = start + size;
    }
    // End of central directory at the very end.
    assert_eq!(u32_at(data.len() - 22), 0x0605_4b50);
    out
}

#[tokio::test]
async fn archive_is_a_zip_with_the_files() {
    let r = fast().await;
    running(&r, "demo", "general-coding").await;
    put_file(&r, "demo", "workspace/a.txt", b"alpha".to_vec()).await;
    put_file(&r, "demo", "workspace/sub/b.txt", b"beta".to_vec()).await;
    let resp = get(&r, "/sandboxes/demo/archive").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"demo-workspace.zip\""
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(resp.headers().get("content-length").is_none());
    let zip = resp.bytes().await.unwrap();
    let entries = unzip(&zip);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a.txt", "sub/", "sub/b.txt"]);
    assert_eq!(entries[0].1, b"alpha");
    assert_eq!(entries[2].1, b"beta");
    let resp = get(&r, "/sandboxes/demo/archive?path=/etc").await;
    assert_eq!(resp.status(), 400);
    let resp = get(&r, "/sandboxes/demo/archive?path=/workspace/none").await;
    assert_eq!(
        body_json(resp).await,
        json!({"error": "directory not found: /workspace/none"})
    );
}

#[cfg(unix)]
#[tokio::test]
async fn local_exec_sees_files_written_through_api() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .local_exec(true)
        .start()
        .await;
    running(&r, "demo", "general-coding").await;
    put_file(&r, "demo", "workspace/in.txt", b"from api\n".to_vec()).await;
    let (_, v) = exec(
        &r,
        "demo",
        "cat /workspace/in.txt && pwd | grep -c workspace",
    )
    .await;
    assert_eq!(v["stdout"], "from api\n1\n", "{v}");
    assert_eq!(v["exitCode"], 0);
    let (_, v) = exec(&r, "demo", "echo from-shell > /workspace/out.txt; exit 3").await;
    assert_eq!(v["exitCode"], 3);
    let resp = get(&r, "/sandboxes/demo/files/workspace/out.txt").await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"from-shell\n");
    let (_, v) = exec(&r, "demo", "echo oops >&2; false").await;
    assert_eq!(v["stderr"], "oops\n");
    assert_eq!(v["exitCode"], 1);
    // Output is returned byte for byte: a last line without `\n` gets none added.
    let (_, v) = exec(&r, "demo", "printf 'a\\nb'; printf 'no newline' >&2").await;
    assert_eq!(v["stdout"], "a\nb", "{v}");
    assert_eq!(v["stderr"], "no newline", "{v}");
}

// ----------------------------------------------------------------------------------------
// Faults and recording

#[tokio::test]
async fn fail_next_status_then_succeeds() {
    let r = fast().await;
    r.fail_next(
        2,
        RouteMatch::new(Method::GET, "/api/v1/sandboxes"),
        Fault::status(503, r#"{"error":"unavailable"}"#).with_header("Retry-After", "1"),
    );
    for _ in 0..2 {
        let resp = get(&r, "/sandboxes").await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert!(resp.headers().get("x-request-id").is_some());
        assert_eq!(resp.text().await.unwrap(), r#"{"error":"unavailable"}"#);
    }
    let resp = get(&r, "/sandboxes").await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn fault_matches_method_and_prefix_only() {
    let r = fast().await;
    r.fail_next(
        1,
        RouteMatch::prefix(Method::POST, "/api/v1/sandboxes/demo/"),
        Fault::status(500, ""),
    );
    let resp = get(&r, "/sandboxes/demo/ports").await;
    assert_eq!(resp.status(), 404, "GET does not match a POST fault");
    let resp = post_empty(&r, "/sandboxes/demo/stop").await;
    assert_eq!(resp.status(), 500);
    let resp = post_empty(&r, "/sandboxes/demo/stop").await;
    assert_eq!(resp.status(), 404, "the fault was used up");
}

#[tokio::test]
async fn reset_fault_drops_connection() {
    let r = fast().await;
    r.fail_next(1, RouteMatch::any(), Fault::Reset);
    let err = http()
        .get(api(&r, "/sandboxes"))
        .send()
        .await
        .expect_err("the connection is closed without a response");
    assert!(!err.is_status(), "{err:?}");
    let resp = get(&r, "/sandboxes").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.requests().len(), 2, "faulted requests are recorded");
}

#[tokio::test]
async fn delay_fault_and_latency_slow_responses() {
    let r = fast().await;
    r.fail_next(
        1,
        RouteMatch::new(Method::GET, "/healthz"),
        Fault::Delay(Duration::from_millis(300)),
    );
    let t = Instant::now();
    let resp = http()
        .get(format!("{}/healthz", r.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    r.set_latency(Duration::from_millis(200));
    let t = Instant::now();
    http()
        .get(format!("{}/healthz", r.url()))
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    r.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn requests_are_recorded_with_method_path_query_headers_body() {
    let r = fast().await;
    http()
        .post(api(&r, "/sandboxes?dry=1"))
        .header("x-custom", "yes")
        .json(&create_body("demo", "general-coding"))
        .send()
        .await
        .unwrap();
    get(&r, "/nope").await;
    let reqs = r.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, Method::POST);
    assert_eq!(reqs[0].path, "/api/v1/sandboxes");
    assert_eq!(reqs[0].query.as_deref(), Some("dry=1"));
    assert_eq!(reqs[0].headers["x-custom"], "yes");
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["name"], "demo");
    assert_eq!(reqs[1].path, "/api/v1/nope");
    r.clear_requests();
    assert!(r.requests().is_empty());
}

#[tokio::test]
async fn dropping_the_router_stops_serving() {
    let r = fast().await;
    let url = format!("{}/healthz", r.url());
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
    r.shutdown().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(client.get(&url).send().await.is_err());
}

// ----------------------------------------------------------------------------------------
// Agent mode

#[tokio::test]
async fn configure_streams_logs_and_result_and_saves_entrypoint() {
    let r = fast().await;
    running(&r, "bot", "agent-python").await;
    r.on_exec(ExecRule::contains("pip install").stdout("Collecting x\nInstalled x\n"));
    let frames = configure(
        &r,
        "bot",
        json!({
            "files": [{"path": "/workspace/agent.py", "content": "print('hi')\n"}],
            "installCommand": ["pip", "install", "x"],
            "entrypoint": ["python", "/workspace/agent.py"],
        }),
    )
    .await;
    let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(events, ["log", "log", "log", "log", "result"], "{frames:?}");
    assert_eq!(
        frames[0].1,
        r#"{"data":"[configure] uploading /workspace/agent.py","stream":"stdout"}"#
    );
    assert_eq!(
        frames[1].1,
        r#"{"data":"[configure] running install: pip install x","stream":"stdout"}"#
    );
    assert_eq!(frames[2].1, r#"{"data":"Collecting x","stream":"stdout"}"#);
    let result: Value = serde_json::from_str(&frames[4].1).unwrap();
    assert_eq!(result["installExitCode"], 0);
    assert_eq!(result["skipped"], false);
    assert_eq!(
        result["entrypoint"],
        json!(["python", "/workspace/agent.py"])
    );
    assert_eq!(result["installCommandHash"].as_str().unwrap().len(), 64);
    let log = get(&r, "/sandboxes/bot/configure/install-log")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(log, r#"{"log":"Collecting x\nInstalled x\n"}"#);
    let (_, v) = exec(&r, "bot", "cat /workspace/agent.py").await;
    assert_eq!(v["stdout"], "print('hi')\n");
    // The same files and install again: skipped, and the install log is gone.
    let frames = configure(
        &r,
        "bot",
        json!({
            "files": [{"path": "/workspace/agent.py", "content": "print('hi')\n"}],
            "installCommand": ["pip", "install", "x"],
            "entrypoint": ["python", "/workspace/agent.py"],
        }),
    )
    .await;
    assert_eq!(frames.len(), 1);
    let result: Value = serde_json::from_str(&frames[0].1).unwrap();
    assert_eq!(result["skipped"], true);
    let resp = get(&r, "/sandboxes/bot/configure/install-log").await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn configure_without_entrypoint_clears_it() {
    let r = fast().await;
    agent(&r, "bot", &["python", "/workspace/agent.py"]).await;
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    configure(
        &r,
        "bot",
        json!({"files": [{"path": "/workspace/x", "content": "1"}]}),
    )
    .await;
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 424);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "sandbox bot has no entrypoint — call POST /configure first to set one"})
    );
}

#[tokio::test]
async fn configure_failed_install_saves_nothing() {
    let r = fast().await;
    running(&r, "bot", "agent-python").await;
    r.on_exec(ExecRule::prefix("npm").stderr("ERR!\n").exit_code(1));
    let frames = configure(
        &r,
        "bot",
        json!({"installCommand": ["npm", "ci"], "entrypoint": ["node", "a.js"]}),
    )
    .await;
    let (event, data) = frames.last().unwrap();
    assert_eq!(event, "result");
    let result: Value = serde_json::from_str(data).unwrap();
    assert_eq!(result["installExitCode"], 1);
    assert!(
        frames
            .iter()
            .any(|(_, d)| d == r#"{"data":"ERR!","stream":"stderr"}"#)
    );
    let resp = get(&r, "/sandboxes/bot/configure/install-log").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "no install log available for this sandbox"})
    );
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 424);
}

#[tokio::test]
async fn configure_checks_mode_phase_and_body() {
    let r = fast().await;
    running(&r, "code", "general-coding").await;
    let resp = post(
        &r,
        "/sandboxes/code/configure",
        json!({"entrypoint": ["x"]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        body_json(resp).await["error"]
            .as_str()
            .unwrap()
            .starts_with(
                "sandbox code is in mode \"code\" — /configure is only valid for mode: agent"
            )
    );
    running(&r, "bot", "agent-python").await;
    for (body, msg) in [
        (
            json!({}),
            "at least one of files, installCommand, or entrypoint is required",
        ),
        (
            json!({"files": [{"path": "rel.py", "content": "x"}]}),
            "files[0].path must be absolute (got \"rel.py\")",
        ),
        (
            json!({"files": [{"path": "/a", "content": "x", "contentBase64": "eA=="}]}),
            "files[0]: set content OR contentBase64, not both",
        ),
    ] {
        let resp = post(&r, "/sandboxes/bot/configure", body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(body_json(resp).await, json!({"error": msg}));
    }
}

#[tokio::test]
async fn invoke_streams_start_log_keepalive_exit() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .keepalive_interval(Duration::from_millis(50))
        .start()
        .await;
    agent(&r, "bot", &["python", "/workspace/agent.py"]).await;
    r.on_exec(
        ExecRule::contains("agent.py")
            .stdout("thinking\n\ndone")
            .stderr("warn\n")
            .exit_code(0)
            .delay(Duration::from_millis(180)),
    );
    let resp = http()
        .post(api(&r, "/sandboxes/bot/invoke?prompt=hello%20there"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    let frames = sse_frames(resp).await;
    assert_eq!(frames[0].0, "start");
    let start: Value = serde_json::from_str(&frames[0].1).unwrap();
    let id = start["invokeId"].as_str().unwrap();
    assert!(id.starts_with("inv-") && id.len() == 28, "{id}");
    assert!(start["startedAt"].as_i64().unwrap() > 1_700_000_000_000);
    let logs: Vec<&str> = frames
        .iter()
        .filter(|(e, _)| e == "log")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(
        logs,
        [
            r#"{"data":"thinking","stream":"stdout"}"#,
            r#"{"data":"","stream":"stdout"}"#,
            r#"{"data":"done","stream":"stdout"}"#,
            r#"{"data":"warn","stream":"stderr"}"#,
        ]
    );
    assert!(
        frames
            .iter()
            .any(|(e, d)| e.is_empty() && d == ": keepalive"),
        "{frames:?}"
    );
    let (event, data) = frames.last().unwrap();
    assert_eq!(event, "exit");
    let exit: Value = serde_json::from_str(data).unwrap();
    assert_eq!(exit["invokeId"], id);
    assert_eq!(exit["exitCode"], 0);
    assert_eq!(exit["reason"], "completed");
    assert!(exit["durationMs"].as_i64().unwrap() >= 150);
    let rec = r.invocations().pop().unwrap();
    assert_eq!(rec.outcome, InvocationOutcome::Completed);
    assert_eq!(rec.prompt.as_deref(), Some("hello there"));
    assert_eq!(
        rec.stdin.as_ref(),
        b"hello there",
        "the prompt is stdin when the body is empty"
    );
}

#[tokio::test]
async fn dropping_invoke_stream_cancels_it() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .keepalive_interval(Duration::from_millis(50))
        .start()
        .await;
    agent(&r, "bot", &["agent"]).await;
    r.on_exec(ExecRule::exact("agent").delay(Duration::from_secs(30)));
    let resp = http()
        .post(api(&r, "/sandboxes/bot/invoke"))
        .body("input")
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let frames = parse_frames(std::str::from_utf8(&first).unwrap());
    let start: Value = serde_json::from_str(&frames[0].1).unwrap();
    let id = start["invokeId"].as_str().unwrap().to_string();
    assert_eq!(r.invocations()[0].outcome, InvocationOutcome::InFlight);
    drop(stream);
    wait_outcome(&r, &id, InvocationOutcome::Canceled).await;
    let rec = r.invocations().pop().unwrap();
    assert!(rec.client_disconnected);
    assert_eq!(rec.exit_code, Some(-1));
    assert_eq!(rec.stdin.as_ref(), b"input");
}

#[tokio::test]
async fn cancel_endpoint_cancels_an_in_flight_invoke() {
    let r = fast().await;
    agent(&r, "bot", &["agent"]).await;
    r.on_exec(ExecRule::exact("agent").delay(Duration::from_secs(30)));
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let frames = parse_frames(std::str::from_utf8(&first).unwrap());
    let id = serde_json::from_str::<Value>(&frames[0].1).unwrap()["invokeId"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = post(&r, "/sandboxes/bot/invoke/cancel", json!({"invokeId": id})).await;
    assert_eq!(resp.status(), 204);
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let frames = parse_frames(std::str::from_utf8(&rest).unwrap());
    let exit: Value = serde_json::from_str(&frames.last().unwrap().1).unwrap();
    assert_eq!(exit["reason"], "canceled");
    assert_eq!(exit["exitCode"], -1);
    wait_outcome(&r, &id, InvocationOutcome::Canceled).await;
    let resp = post(&r, "/sandboxes/bot/invoke/cancel", json!({"invokeId": id})).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": format!("invoke {id} not in flight")})
    );
    let resp = post(&r, "/sandboxes/bot/invoke/cancel", json!({})).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn invoke_timeout_query_lowers_the_timeout() {
    let r = fast().await;
    agent(&r, "bot", &["agent"]).await;
    r.on_exec(ExecRule::exact("agent").delay(Duration::from_secs(30)));
    let resp = post_empty(&r, "/sandboxes/bot/invoke?timeout=200ms").await;
    let frames = sse_frames(resp).await;
    let exit: Value = serde_json::from_str(&frames.last().unwrap().1).unwrap();
    assert_eq!(exit["reason"], "timeout");
    assert_eq!(exit["exitCode"], -1);
    assert_eq!(r.invocations()[0].outcome, InvocationOutcome::TimedOut);
}

#[tokio::test]
async fn invoke_over_concurrency_cap_is_429_with_retry_after() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .template(
            "solo-agent",
            json!({"mode": "agent", "harness": {"agent": {"maxConcurrentInvokes": 1}}}),
        )
        .start()
        .await;
    agent_with_template(&r, "bot", "solo-agent").await;
    r.on_exec(ExecRule::exact("agent").delay(Duration::from_secs(30)));
    let first = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(first.status(), 200);
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(
        body_json(resp).await,
        json!({"error": "concurrency_exceeded", "limit": 1, "inflight": 1, "message": "sandbox bot already has 1 concurrent invokes (max 1)"})
    );
    drop(first);
}

async fn agent_with_template(r: &FakeRouter, name: &str, template: &str) {
    running(r, name, template).await;
    configure(r, name, json!({"entrypoint": ["agent"]})).await;
}

#[tokio::test]
async fn invoke_in_code_mode_is_400_and_not_running_is_409() {
    let r = manual(FAST).await;
    create(&r, "bot", "agent-python").await;
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "sandbox is in phase \"\" — must be Running to invoke"})
    );
    create(&r, "code", "general-coding").await;
    r.set_phase("code", "Running", "");
    let resp = post_empty(&r, "/sandboxes/code/invoke").await;
    assert_eq!(resp.status(), 400);
}

#[cfg(unix)]
#[tokio::test]
async fn local_exec_invoke_runs_entrypoint_with_stdin_and_prompt() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .local_exec(true)
        .start()
        .await;
    running(&r, "bot", "agent-python").await;
    put_file(
        &r,
        "bot",
        "workspace/agent.sh",
        b"echo \"args: $*\"\ncat\necho err >&2\nexit 4\n".to_vec(),
    )
    .await;
    configure(
        &r,
        "bot",
        json!({"entrypoint": ["sh", "/workspace/agent.sh"]}),
    )
    .await;
    let resp = http()
        .post(api(&r, "/sandboxes/bot/invoke?prompt=hi"))
        .body("line1\nline2")
        .send()
        .await
        .unwrap();
    let frames = sse_frames(resp).await;
    let logs: Vec<&str> = frames
        .iter()
        .filter(|(e, _)| e == "log")
        .map(|(_, d)| d.as_str())
        .collect();
    assert!(
        logs.contains(&r#"{"data":"args: --prompt=hi","stream":"stdout"}"#),
        "{logs:?}"
    );
    assert!(logs.contains(&r#"{"data":"line1","stream":"stdout"}"#));
    assert!(logs.contains(&r#"{"data":"line2","stream":"stdout"}"#));
    assert!(logs.contains(&r#"{"data":"err","stream":"stderr"}"#));
    let exit: Value = serde_json::from_str(&frames.last().unwrap().1).unwrap();
    assert_eq!(exit["exitCode"], 4);
    assert_eq!(exit["reason"], "completed");
}

// ----------------------------------------------------------------------------------------
// Templates, ports, sharing, backups

#[tokio::test]
async fn templates_crud_and_delete_409_while_running() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .without_default_templates()
        .start()
        .await;
    let v = body_json(get(&r, "/templates").await).await;
    assert_eq!(v, json!({"templates": null}));
    let resp = post(
        &r,
        "/templates",
        json!({"name": "py", "spec": {"description": "Python", "image": {"repository": "python"}}}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let t = body_json(resp).await;
    assert_eq!(t["name"], "py");
    assert_eq!(t["description"], "Python");
    assert_eq!(t["image"], "python");
    assert!(t["resourceVersion"].is_string());
    let resp = post(&r, "/templates", json!({"name": "py", "spec": {}})).await;
    assert_eq!(resp.status(), 500);
    let t = body_json(put(&r, "/templates/py", json!({"spec": {"mode": "code"}})).await).await;
    assert_eq!(t["description"], "", "PUT replaces the whole spec");
    assert_eq!(t["spec"], json!({"mode": "code"}));
    running(&r, "user", "py").await;
    let resp = delete(&r, "/templates/py").await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "cannot delete template: sandbox \"user\" is still using it"})
    );
    r.set_phase("user", "Stopped", "");
    let resp = delete(&r, "/templates/py").await;
    assert_eq!(resp.status(), 204);
    let resp = get(&r, "/templates/py").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "template not found"})
    );
}

#[tokio::test]
async fn ports_upsert_and_list_protocol_http() {
    let r = fast().await;
    create(&r, "demo", "general-coding").await;
    let resp = post(
        &r,
        "/sandboxes/demo/ports",
        json!({"port": 8080, "protocol": "grpc"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let p = body_json(resp).await;
    assert_eq!(p["protocol"], "grpc");
    assert_eq!(
        p["internalUrl"],
        "http://pf-demo-8080.default.svc.cluster.local:8080"
    );
    let resp = post(&r, "/sandboxes/demo/ports", json!({"port": 8080})).await;
    assert_eq!(resp.status(), 201, "re-create is still 201");
    let v = body_json(get(&r, "/sandboxes/demo/ports").await).await;
    assert_eq!(v["ports"].as_array().unwrap().len(), 1);
    assert_eq!(v["ports"][0]["protocol"], "http");
    for (port, status) in [(0, 400), (70000, 500)] {
        let resp = post(&r, "/sandboxes/demo/ports", json!({ "port": port })).await;
        assert_eq!(resp.status(), status);
    }
    let resp = delete(&r, "/sandboxes/demo/ports/abc").await;
    assert_eq!(body_json(resp).await, json!({"error": "invalid port: abc"}));
    for _ in 0..2 {
        let resp = delete(&r, "/sandboxes/demo/ports/8080").await;
        assert_eq!(resp.status(), 204);
    }
    let v = body_json(get(&r, "/sandboxes/demo/ports").await).await;
    assert_eq!(v, json!({"ports": []}));
}

#[tokio::test]
async fn sharing_is_403_for_missing_sandbox_and_upserts() {
    let r = fast().await;
    let resp = get(&r, "/sandboxes/ghost/share").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "sandbox ghost not found"})
    );
    let resp = post(
        &r,
        "/sandboxes/ghost/share",
        json!({"identity": "a", "level": "owner"}),
    )
    .await;
    assert_eq!(resp.status(), 400, "validation comes before the lookup");
    create(&r, "demo", "general-coding").await;
    let v = body_json(get(&r, "/sandboxes/demo/share").await).await;
    assert_eq!(v, json!({"users": [], "groups": [], "shareLinks": []}));
    for level in ["viewer", "collaborator"] {
        post(
            &r,
            "/sandboxes/demo/share",
            json!({"identity": "alice@example.com", "level": level}),
        )
        .await;
    }
    let v = body_json(
        post(
            &r,
            "/sandboxes/demo/share",
            json!({"identity": "eng", "level": "viewer", "kind": "group"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["users"],
        json!([{"identity": "alice@example.com", "level": "collaborator"}])
    );
    assert_eq!(v["groups"], json!([{"identity": "eng", "level": "viewer"}]));
    let resp = delete(&r, "/sandboxes/demo/share/alice@example.com").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        body_json(resp).await,
        json!({"status": "revoked", "identity": "alice@example.com"})
    );
    let resp = post(
        &r,
        "/sandboxes/demo/share-links",
        json!({"expiresIn": "24h", "maxUses": 3}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let link = body_json(resp).await;
    assert_eq!(link["level"], "viewer");
    assert_eq!(link["id"].as_str().unwrap().len(), 16);
    assert_eq!(link["token"].as_str().unwrap().len(), 43);
    assert!(link["expiresAt"].as_str().unwrap().ends_with('Z'));
    let v = body_json(get(&r, "/sandboxes/demo/share").await).await;
    assert_eq!(v["shareLinks"][0]["usedCount"], 0);
    assert!(v["shareLinks"][0].get("token").is_none());
}

#[tokio::test]
async fn backups_create_list_restore_delete() {
    let r = manual(FAST).await;
    create(&r, "demo", "general-coding").await;
    let resp = post_empty(&r, "/sandboxes/demo/backups").await;
    assert_eq!(resp.status(), 400);
    let msg = body_json(resp).await["error"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("sandbox demo has no PVC to back up (phase="),
        "{msg}"
    );
    r.advance(FAST);
    put_file(&r, "demo", "workspace/keep.txt", b"v1".to_vec()).await;
    let resp = post_empty(&r, "/sandboxes/demo/backups").await;
    assert_eq!(resp.status(), 201);
    let b = body_json(resp).await;
    let snap = b["name"].as_str().unwrap().to_string();
    assert!(snap.starts_with("demo-workspace-backup-"));
    assert_eq!(b["kind"], "scheduled-backup");
    assert_eq!(b["readyToUse"], false);
    let v = body_json(get(&r, "/sandboxes/demo/backups").await).await;
    assert_eq!(v["backups"].as_array().unwrap().len(), 1);
    let resp = post_empty(&r, "/sandboxes/demo/backups/nope/restore").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "snapshot not found (it may have been pruned)"})
    );
    let resp = post(
        &r,
        &format!("/sandboxes/demo/backups/{snap}/restore"),
        json!({"name": "demo-back"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let v = body_json(resp).await;
    assert_eq!(v["name"], "demo-back");
    assert_eq!(v["restoredFrom"], "demo");
    assert_eq!(v["phase"], "Pending");
    assert_eq!(status(&r, "demo-back").await, "");
    r.advance(FAST);
    assert_eq!(status(&r, "demo-back").await, "Running");
    let v = body_json(get(&r, "/sandboxes/demo/backups").await).await;
    assert_eq!(v["backups"][0]["readyToUse"], true);
    assert_eq!(v["backups"][0]["restoreSize"], "10Gi");
    let (_, out) = exec(&r, "demo-back", "cat /workspace/keep.txt").await;
    assert_eq!(out["stdout"], "v1");
    let resp = delete(&r, &format!("/sandboxes/demo/backups/{snap}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        body_json(resp).await,
        json!({"status": "deleted", "name": snap})
    );
    let resp = delete(&r, &format!("/sandboxes/demo/backups/{snap}")).await;
    assert_eq!(resp.status(), 404);
}

// ----------------------------------------------------------------------------------------
// Webhooks, governance, user, admin, cluster

#[tokio::test]
async fn webhooks_https_only_and_zero_created_at_on_create() {
    // No DNS lookups in tests; IP literals and localhost are still judged.
    let r = FakeRouter::builder()
        .resolve_webhook_hosts(false)
        .start()
        .await;
    let hook = |body: Value| post(&r, "/webhooks", body);
    for (body, msg) in [
        (
            json!({"eventTypes": ["sandbox.running"]}),
            "url is required",
        ),
        (
            json!({"url": "https://h.example.com", "eventTypes": []}),
            "eventTypes must contain at least one event type",
        ),
        (
            json!({"url": "https://h.example.com", "eventTypes": ["sandbox.exploded"]}),
            "unknown event type \"sandbox.exploded\"",
        ),
        (
            json!({"url": "http://h.example.com", "eventTypes": ["sandbox.running"]}),
            "invalid url: url must use https://",
        ),
        (
            json!({"url": "https://localhost/x", "eventTypes": ["sandbox.running"]}),
            "invalid url: host \"localhost\" resolves to a disallowed address range (127.0.0.1)",
        ),
        (
            json!({"url": "https://192.168.1.10/x", "eventTypes": ["sandbox.running"]}),
            "invalid url: host \"192.168.1.10\" resolves to a disallowed address range (192.168.1.10)",
        ),
    ] {
        let resp = hook(body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(body_json(resp).await, json!({"error": msg}));
    }
    let resp = hook(json!({"url": "https://h.example.com/in", "eventTypes": ["sandbox.running"], "sandboxId": "ghost"})).await;
    assert_eq!(resp.status(), 404);
    let resp = hook(json!({"url": "https://h.example.com/in", "eventTypes": ["sandbox.running", "backup.created"]})).await;
    assert_eq!(resp.status(), 201);
    let w = body_json(resp).await;
    assert_eq!(w["createdAt"], "0001-01-01T00:00:00Z");
    assert_eq!(w["disabled"], false);
    assert_eq!(w["id"].as_str().unwrap().len(), 32);
    assert_eq!(w["secret"].as_str().unwrap().len(), 43);
    assert!(w.get("sandboxId").is_none());
    let id = w["id"].as_str().unwrap();
    let list = body_json(get(&r, "/webhooks").await).await;
    let listed = &list["webhooks"][0];
    assert_ne!(listed["createdAt"], "0001-01-01T00:00:00Z");
    assert!(listed.get("secret").is_none());
    let v = body_json(get(&r, &format!("/webhooks/{id}/deliveries")).await).await;
    assert_eq!(v, json!({"deliveries": []}));
    let resp = delete(&r, &format!("/webhooks/{id}")).await;
    assert_eq!(resp.status(), 204);
    let resp = delete(&r, &format!("/webhooks/{id}")).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn webhook_host_that_does_not_resolve_is_400_failed_to_resolve() {
    // `.invalid` never resolves (RFC 6761): answered without a query, online or offline.
    let r = fast().await;
    let resp = post(
        &r,
        "/webhooks",
        json!({"url": "https://hooks.invalid/in", "eventTypes": ["sandbox.running"]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v = body_json(resp).await;
    let msg = v["error"].as_str().unwrap();
    assert_eq!(
        msg,
        "invalid url: failed to resolve host \"hooks.invalid\": lookup hooks.invalid: no such host"
    );
    assert!(
        body_json(get(&r, "/webhooks").await).await["webhooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn webhook_host_table_resolves_names_without_dns() {
    let r = FakeRouter::builder()
        .webhook_host(
            "hooks.corp.example",
            [std::net::IpAddr::from([10, 0, 0, 7])],
        )
        .webhook_host("Gone.Example.", [])
        .resolve_webhook_hosts(false)
        .start()
        .await;
    let hook = |url: &str| {
        post(
            &r,
            "/webhooks",
            json!({"url": url, "eventTypes": ["sandbox.running"]}),
        )
    };
    let resp = hook("https://hooks.corp.example/in").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "invalid url: host \"hooks.corp.example\" resolves to a disallowed address range (10.0.0.7)"})
    );
    let resp = hook("https://gone.example/in").await;
    assert_eq!(
        body_json(resp).await,
        json!({"error": "invalid url: failed to resolve host \"gone.example\": lookup gone.example: no such host"})
    );
    // A name outside the table counts as public.
    assert_eq!(hook("https://hooks.example.com/in").await.status(), 201);
}

#[tokio::test]
async fn webhook_to_a_private_address_is_400_disallowed_range() {
    let r = fast().await;
    let resp = post(
        &r,
        "/webhooks",
        json!({"url": "https://10.1.2.3/hook", "eventTypes": ["sandbox.running"]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "invalid url: host \"10.1.2.3\" resolves to a disallowed address range (10.1.2.3)"})
    );
}

#[tokio::test]
async fn webhook_without_sandbox_needs_admin() {
    let r = FakeRouter::builder()
        .resolve_webhook_hosts(false)
        .auth(FakeAuth::ApiKeys)
        .api_key("atk_user")
        .start()
        .await;
    let resp = http()
        .post(api(&r, "/webhooks"))
        .header("x-api-key", "atk_user")
        .json(&json!({"url": "https://h.example.com", "eventTypes": ["sandbox.running"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "sandboxId is required for non-admin subscriptions"})
    );
}

#[tokio::test]
async fn create_enforces_policy_violations_with_403() {
    let r = fast().await;
    put(
        &r,
        "/governance/policies",
        json!({"allowedTemplates": ["general-coding"], "maxSandboxesPerUser": 1}),
    )
    .await;
    let resp = create(&r, "bot", "agent-python").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "policy_violation", "violations": [{
            "code": "template_not_allowed",
            "message": "template \"agent-python\" is not permitted in this namespace (allowed: general-coding)",
        }]})
    );
    assert_eq!(create(&r, "one", "general-coding").await.status(), 201);
    let resp = create(&r, "two", "general-coding").await;
    assert_eq!(resp.status(), 403);
    let v = body_json(resp).await;
    assert_eq!(v["violations"][0]["code"], "user_quota_exceeded");
}

#[tokio::test]
async fn governance_policies_store_replace_and_merge() {
    let r = fast().await;
    let v = body_json(get(&r, "/governance/policies").await).await;
    assert_eq!(v, json!({"cluster": null, "namespaces": []}));
    let v = body_json(
        put(
            &r,
            "/governance/policies",
            json!({"maxCpu": "4", "maxAgentSandboxes": 3, "bogus": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(
        v,
        json!({"scope": "cluster", "policy": {"maxCpu": "4", "maxAgentSandboxes": 3}})
    );
    put(
        &r,
        "/governance/policies/team-a",
        json!({"maxCpu": "8", "maxAgentSandboxes": 9, "description": "A"}),
    )
    .await;
    let v = body_json(get(&r, "/governance/effective?namespace=team-a").await).await;
    assert_eq!(
        v,
        json!({"namespace": "team-a", "policy": {"maxCpu": "8", "maxAgentSandboxes": 3, "description": "A"}})
    );
    let v = body_json(get(&r, "/governance/policies/nobody").await).await;
    assert_eq!(v, json!({"namespace": "nobody", "policy": {}}));
    let resp = delete(&r, "/governance/policies/team-a").await;
    assert_eq!(resp.status(), 204);
    let v = body_json(get(&r, "/governance/effective").await).await;
    assert_eq!(v["namespace"], "default");
    assert_eq!(v["policy"]["maxCpu"], "4");
}

#[tokio::test]
async fn preferences_put_replaces_the_object() {
    let r = fast().await;
    let v = body_json(get(&r, "/user/preferences").await).await;
    assert_eq!(v, json!({}));
    put(
        &r,
        "/user/preferences",
        json!({"theme": "dark", "font": 12}),
    )
    .await;
    let v = body_json(put(&r, "/user/preferences", json!({"theme": "light"})).await).await;
    assert_eq!(v, json!({"theme": "light"}));
    let v = body_json(get(&r, "/user/preferences").await).await;
    assert_eq!(v, json!({"theme": "light"}));
    let resp = put(&r, "/user/preferences", json!([1])).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn warm_pool_status_is_empty_object_until_configured() {
    let r = fast().await;
    let resp = get(&r, "/warmpool/status").await;
    assert_eq!(resp.text().await.unwrap(), "{}\n");
    let resp = put(
        &r,
        "/warmpool/config",
        json!({"pools": [{"template": "general-coding", "desiredCount": 11}]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await,
        json!({"error": "pools[0].desiredCount must be 0-10"})
    );
    let v = body_json(
        put(
            &r,
            "/warmpool/config",
            json!({"template": "general-coding", "desiredCount": 2}),
        )
        .await,
    )
    .await;
    assert_eq!(
        v,
        json!({"status": "updated", "pools": [{"template": "general-coding", "desiredCount": 2}]})
    );
    let v = body_json(get(&r, "/warmpool/status").await).await;
    assert_eq!(v["desiredCount"], 2);
    assert_eq!(v["template"], "general-coding");
    assert!(v.get("pendingCount").is_none(), "zero values are left out");
    let v = body_json(put(&r, "/warmpool/config", json!({"desiredCount": 0})).await).await;
    assert_eq!(v, json!({"status": "updated", "pools": null}));
}

#[tokio::test]
async fn cluster_status_nodes_and_headroom() {
    let r = fast().await;
    let v = body_json(get(&r, "/cluster/status").await).await;
    for k in [
        "nodes",
        "nodesReady",
        "pods",
        "sandboxPods",
        "headroomReady",
        "autoscalerEnabled",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    let v = body_json(get(&r, "/cluster/nodes").await).await;
    assert_eq!(v["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(v["summary"]["total"], 1);
    let v = body_json(get(&r, "/cluster/headroom").await).await;
    assert_eq!(v["replicas"], 0);
    assert!(v.get("readyReplicas").is_none(), "omitted when 0: {v}");
    let resp = put(&r, "/cluster/headroom", json!({"replicas": 51})).await;
    assert_eq!(
        body_json(resp).await,
        json!({"error": "replicas must be in [0, 50]"})
    );
    let resp = put(
        &r,
        "/cluster/headroom",
        json!({"replicas": 1, "cpu": "lots"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v = body_json(
        put(
            &r,
            "/cluster/headroom",
            json!({"replicas": 2, "cpu": "500m"}),
        )
        .await,
    )
    .await;
    assert_eq!(v["replicas"], 2);
    assert_eq!(v["readyReplicas"], 2);
    assert_eq!(v["cpu"], "500m");
}

#[tokio::test]
async fn audit_events_are_null_then_follow_the_lifecycle() {
    let r = fast().await;
    let resp = get(&r, "/audit/events").await;
    assert_eq!(resp.text().await.unwrap(), "{\"events\":null}\n");
    running(&r, "demo", "general-coding").await;
    let v = body_json(get(&r, "/audit/events").await).await;
    let events = v["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Running", "Creating"], "newest first");
    assert_eq!(events[0]["sandboxId"], "demo");
    assert_eq!(events[0]["sandboxName"], "demo");
    assert_eq!(events[0]["userEmail"], "");
    assert!(events[0]["details"]["reason"].is_string());
}

#[tokio::test]
async fn analytics_are_snake_case() {
    let r = manual(FAST).await;
    let v = body_json(get(&r, "/analytics/costs").await).await;
    assert_eq!(v["per_template"], Value::Null);
    create(&r, "demo", "general-coding").await;
    r.set_phase("demo", "Running", "");
    create(&r, "later", "general-coding").await;
    let v = body_json(get(&r, "/analytics/usage").await).await;
    assert_eq!(v["total_sandboxes"], 2);
    assert_eq!(v["status_breakdown"]["Running"], 1);
    assert_eq!(v["status_breakdown"]["creating"], 1);
    assert_eq!(v["template_breakdown"]["unknown"], 1);
    assert_eq!(v["startup_sample_count"], 1);
    let v = body_json(get(&r, "/analytics/costs").await).await;
    assert_eq!(v["running_sandboxes"], 1);
    assert_eq!(v["per_template"][0]["template"], "general-coding");
    assert!(v["total_estimated_monthly"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn admin_lists_are_arrays_and_sharing_is_empty_object() {
    let r = fast().await;
    let resp = get(&r, "/admin/sandboxes").await;
    assert_eq!(resp.text().await.unwrap(), "{\"sandboxes\":[]}\n");
    let resp = get(&r, "/admin/sharing").await;
    assert_eq!(resp.text().await.unwrap(), "{}\n");
    create(&r, "demo", "general-coding").await;
    post(
        &r,
        "/user/api-keys",
        json!({"sandboxId": "demo", "scopes": ["files:read"]}),
    )
    .await;
    let v = body_json(get(&r, "/admin/sandboxes").await).await;
    assert_eq!(
        v["sandboxes"][0]["scopedApiKeys"][0]["actionGroups"],
        json!(["files:read"])
    );
}

#[tokio::test]
async fn dropping_configure_stream_abandons_the_install() {
    let r = fast().await;
    running(&r, "bot", "agent-python").await;
    r.on_exec(ExecRule::prefix("pip").delay(Duration::from_secs(30)));
    let resp = post(
        &r,
        "/sandboxes/bot/configure",
        json!({"installCommand": ["pip", "install", "x"], "entrypoint": ["agent"]}),
    )
    .await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        std::str::from_utf8(&first)
            .unwrap()
            .starts_with("event: log\n")
    );
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    assert_eq!(resp.status(), 424, "nothing was saved");
}

#[cfg(unix)]
#[tokio::test]
async fn local_exec_configure_runs_the_install_argv_in_the_workspace() {
    let r = FakeRouter::builder()
        .creating_delay(FAST)
        .local_exec(true)
        .start()
        .await;
    running(&r, "bot", "agent-python").await;
    let frames = configure(
        &r,
        "bot",
        json!({
            "files": [{"path": "/workspace/req.txt", "contentBase64": "cmVxdWVzdHMK"}],
            "installCommand": ["sh", "-c", "echo installing; cat req.txt > /workspace/installed.txt"],
            "entrypoint": ["sh", "-c", "cat /workspace/installed.txt"],
        }),
    )
    .await;
    assert!(
        frames
            .iter()
            .any(|(_, d)| d == r#"{"data":"installing","stream":"stdout"}"#),
        "{frames:?}"
    );
    let result: Value = serde_json::from_str(&frames.last().unwrap().1).unwrap();
    assert_eq!(result["installExitCode"], 0);
    let resp = post_empty(&r, "/sandboxes/bot/invoke").await;
    let frames = sse_frames(resp).await;
    assert!(
        frames
            .iter()
            .any(|(_, d)| d == r#"{"data":"requests","stream":"stdout"}"#),
        "{frames:?}"
    );
}
