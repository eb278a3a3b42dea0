//! The contract suite against the in-process FakeRouter: it passes, a fault is reported with
//! scenario, step and request id, cancellation cleans up, the JUnit report is well-formed, and
//! nothing is left behind. Loopback only; no sleeps.

use std::time::Duration;

use agenttier::testing::{Fault, Method, RouteMatch};
use agenttier::{CancellationToken, Client};
use agenttier_contract::{
    Options, Outcome, Report, SCENARIOS, in_process_builder, in_process_router, run,
};

fn client(url: &str) -> Client {
    Client::builder(url).build().unwrap()
}

/// Asks the Router itself (not the report) whether anything with `prefix` is left.
async fn assert_nothing_left(c: &Client, prefix: &str) {
    let sandboxes = c.list_sandboxes().await.unwrap();
    assert!(
        sandboxes.iter().all(|s| !s.name.starts_with(prefix)),
        "sandboxes left: {:?}",
        sandboxes.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let keys = c.api_keys().list().await.unwrap();
    assert!(keys.iter().all(|k| !k.name.starts_with(prefix)));
    let hooks = c.webhooks().list().await.unwrap();
    assert!(hooks.iter().all(|w| !w.url.contains(prefix)));
    let templates = c.templates().list().await.unwrap();
    assert!(templates.iter().all(|t| !t.name.starts_with(prefix)));
    let policies = c.governance().list().await.unwrap();
    assert!(
        policies
            .namespaces
            .iter()
            .all(|p| !p.namespace.starts_with(prefix))
    );
    let prefs = c.user().preferences().await.unwrap();
    assert!(prefs.keys().all(|k| !k.starts_with(prefix)));
}

fn with_prefix(prefix: &str) -> Options {
    Options {
        prefix: Some(prefix.to_string()),
        ..Options::in_process()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_in_process_and_leaves_nothing_behind() {
    let router = in_process_router().await;
    let c = client(router.url());
    let report = run(&c, &with_prefix("ct-0000a11a"), CancellationToken::new()).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.results.len(), SCENARIOS.len());
    // Dev-auth is the admin dev user, so the admin scenarios ran too.
    assert_eq!(report.admin, Some(true));
    for r in &report.results {
        assert_eq!(r.outcome, Outcome::Passed, "{}: {report}", r.name);
        assert!(!r.steps.is_empty(), "{} ran no step", r.name);
    }
    assert!(report.leftovers.is_empty());
    assert_nothing_left(&c, "ct-0000a11a").await;
    // The scenarios really went over the wire, e.g. the split upload in parts.
    let parts = router
        .requests()
        .iter()
        .filter(|r| r.method == Method::PUT && r.path.contains(".agenttier-"))
        .count();
    assert!(parts >= 3, "a 200 KiB upload went up in {parts} parts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_exec_fails_that_scenario_naming_step_and_request_id() {
    let router = in_process_router().await;
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/ct-0000fa11-life/exec"),
        Fault::status(500, r#"{"error":"injected by the test"}"#),
    );
    let c = client(router.url());
    let report = run(&c, &with_prefix("ct-0000fa11"), CancellationToken::new()).await;
    println!("{report}");
    assert!(!report.passed());
    let failed: Vec<_> = report.failed().map(|r| r.name).collect();
    assert_eq!(failed, ["sandbox"], "{report}");
    let Outcome::Failed(f) = &report.result("sandbox").unwrap().outcome else {
        unreachable!()
    };
    assert_eq!(f.step, "exec");
    assert_eq!(f.status, Some(500));
    let id = f.request_id.as_deref().expect("the failing request's id");
    assert!(!id.is_empty());
    assert!(f.message.contains("injected by the test"), "{f}");
    let text = report.to_string();
    assert!(text.contains("FAIL  sandbox"), "{text}");
    assert!(text.contains("step \"exec\""), "{text}");
    assert!(text.contains(id), "{text}");
    // The failed scenario still cleaned up after itself.
    assert!(report.leftovers.is_empty(), "{report}");
    assert_nothing_left(&c, "ct-0000fa11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admin_credentials_skip_the_admin_scenarios() {
    let router = in_process_builder().api_key("atk_contract").start().await;
    let c = Client::builder(router.url())
        .auth(agenttier::auth::ApiKey::new("atk_contract").unwrap())
        .build()
        .unwrap();
    let report = run(&c, &with_prefix("ct-0000b0b0"), CancellationToken::new()).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.admin, Some(false));
    // This Router checks keys, so the scoped key's refusals were checked too.
    let scoped = &report.result("scoped-key").unwrap().steps;
    for step in [
        "files outside its action groups are refused",
        "the revoked key is refused",
    ] {
        assert!(scoped.iter().any(|s| s == step), "{scoped:?}");
    }
    for sc in SCENARIOS {
        let r = report.result(sc.name).unwrap();
        if sc.admin {
            assert!(matches!(&r.outcome, Outcome::Skipped(why) if why.contains("admin")));
        } else {
            assert_eq!(r.outcome, Outcome::Passed, "{}: {report}", sc.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_scenario_cleans_up_and_skips_the_rest() {
    let router = in_process_router().await;
    // The exec never answers in time: the scenario is cancelled while it waits.
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/ct-0000ca9c-life/exec"),
        Fault::Delay(Duration::from_secs(600)),
    );
    let c = client(router.url());
    let cancel = CancellationToken::new();
    let options = with_prefix("ct-0000ca9c");
    let suite = tokio::spawn({
        let (c, cancel) = (c.clone(), cancel.clone());
        async move { run(&c, &options, cancel).await }
    });
    router.wait_for_phase("ct-0000ca9c-life", "Running").await;
    cancel.cancel();
    let report: Report = tokio::time::timeout(Duration::from_secs(60), suite)
        .await
        .expect("the suite ends soon after cancellation")
        .unwrap();
    assert!(report.cancelled && !report.passed());
    let Outcome::Failed(f) = &report.result("sandbox").unwrap().outcome else {
        panic!("{report}")
    };
    assert!(f.message.contains("cancelled"), "{f}");
    assert!(
        report
            .results
            .iter()
            .skip_while(|r| r.name != "sandbox")
            .skip(1)
            .all(|r| r.outcome == Outcome::Skipped("run cancelled".into())),
        "{report}"
    );
    assert!(report.leftovers.is_empty(), "{report}");
    assert_nothing_left(&c, "ct-0000ca9c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_junit_report_is_well_formed_and_lists_every_scenario() {
    let router = in_process_router().await;
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/ct-0000d0c5-ports/ports"),
        Fault::status(500, r#"{"error":"bad & \"broken\" <gateway>"}"#),
    );
    let c = client(router.url());
    let options = Options {
        skip: vec!["backups".into()],
        ..with_prefix("ct-0000d0c5")
    };
    let report = run(&c, &options, CancellationToken::new()).await;
    let xml = report.to_junit();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().map(|n| n.attribute("name").unwrap()).collect();
    let mut expected: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    expected.push("leftovers");
    assert_eq!(names, expected);
    assert_eq!(
        suite.attribute("tests"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(suite.attribute("failures"), Some("1"), "{xml}");
    assert_eq!(suite.attribute("skipped"), Some("1"), "{xml}");
    let ports = cases
        .iter()
        .find(|n| n.attribute("name") == Some("ports"))
        .unwrap();
    let failure = ports
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("ports failed");
    assert_eq!(failure.attribute("type"), Some("forward 8000"));
    assert!(failure.attribute("message").unwrap().contains("request id"));
    assert!(
        failure
            .text()
            .unwrap()
            .contains("bad & \"broken\" <gateway>"),
        "{xml}"
    );
    let backups = cases
        .iter()
        .find(|n| n.attribute("name") == Some("backups"))
        .unwrap();
    assert!(backups.children().any(|n| n.has_tag_name("skipped")));
    assert_nothing_left(&c, "ct-0000d0c5").await;
}

/// The binary against a Router by `--url`: a fault makes it exit 1 naming scenario, step
/// and request id, and its JUnit file lists every scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_non_zero_on_a_failure_and_writes_junit() {
    let router = in_process_router().await;
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/ct-0000b1a0-life/exec"),
        Fault::status(500, r#"{"error":"injected by the test"}"#),
    );
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let out = binary(dir.path())
        .args(["--url", router.url(), "--prefix", "ct-0000b1a0", "--junit"])
        .arg(&junit)
        .args(["--wait-timeout", "30"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  sandbox"), "{stdout}");
    assert!(stdout.contains("step \"exec\""), "{stdout}");
    assert!(stdout.contains("request id "), "{stdout}");
    assert!(
        stdout.contains("left behind with prefix ct-0000b1a0: nothing"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, SCENARIOS.len() + 1);
    assert_nothing_left(&client(router.url()), "ct-0000b1a0").await;
}

/// Ctrl-C (SIGINT) cancels, cleans up and exits 130.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_cleans_up_and_exits_130_on_ctrl_c() {
    let router = in_process_router().await;
    router.fail_next(
        1,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes/ct-0000c7c0-life/exec"),
        Fault::Delay(Duration::from_secs(600)),
    );
    let dir = tempfile::tempdir().unwrap();
    let child = binary(dir.path())
        .args(["--url", router.url(), "--prefix", "ct-0000c7c0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    router.wait_for_phase("ct-0000c7c0-life", "Running").await;
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the binary ends soon after Ctrl-C")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("CANCELLED"), "{stdout}");
    assert!(
        stdout.contains("left behind with prefix ct-0000c7c0: nothing"),
        "{stdout}"
    );
    assert_nothing_left(&client(router.url()), "ct-0000c7c0").await;
}

#[tokio::test]
async fn the_binary_lists_its_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary(dir.path()).arg("--list").output().await.unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for s in SCENARIOS {
        assert!(stdout.contains(s.name), "{stdout}");
    }
    let bad = binary(dir.path())
        .args(["--only", "nope"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The binary with no credentials from the environment (HOME is an empty directory).
fn binary(home: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenttier-contract"));
    for var in [
        "AGENTTIER_API_URL",
        "AGENTTIER_API_KEY",
        "AGENTTIER_TOKEN",
        "AGENTTIER_BEARER_TOKEN",
        "KUBECONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_scenario_is_skipped_when_the_router_lacks_the_agent_template() {
    let router = in_process_router().await;
    let c = client(router.url());
    let options = Options {
        only: vec!["agent".into()],
        agent_template: "no-such-agent-template".into(),
        ..with_prefix("ct-0000a9e7")
    };
    let report = run(&c, &options, CancellationToken::new()).await;
    assert!(report.passed(), "{report}");
    let Outcome::Skipped(why) = &report.result("agent").unwrap().outcome else {
        panic!("{report}")
    };
    assert!(why.contains("no-such-agent-template"), "{why}");
    assert_nothing_left(&c, "ct-0000a9e7").await;
}
