//! Load under injected faults through the FakeRouter: idempotent calls that must all succeed,
//! and concurrent creates whose answers are lost that must neither duplicate nor conflict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agenttier::testing::{FakeRouter, Fault, Method, RouteMatch};
use agenttier::{Client, Error};
use futures::StreamExt;

use super::fast_retries;

/// The faults of the idempotent run: a gateway's 503, the rate limiter's 429, a connection
/// closed without an answer.
fn transient_faults() -> Vec<Fault> {
    vec![
        Fault::status(503, ""),
        Fault::status(429, r#"{"error":"rate_limited","message":"slow down"}"#)
            .with_header("Retry-After", "0"),
        Fault::Reset,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idempotent_calls_under_twenty_percent_faults_all_succeed() {
    let router = FakeRouter::builder()
        .creating_delay(Duration::ZERO)
        .start()
        .await;
    // Four tries (the default) lose about 0.2^4 of calls; ten retries make a loss
    // vanishingly rare (0.2^11 per call) while every other setting stays the default.
    let client = Client::builder(router.url())
        .retry(fast_retries().max_retries(10))
        .build()
        .unwrap();
    let sb = client
        .create_sandbox("load")
        .template("general-coding")
        .await
        .unwrap();
    router.wait_for_phase("load", "Running").await;
    sb.files().write("/workspace/a.txt", "hello").await.unwrap();
    router.clear_requests();
    router.fail_randomly(0.2, RouteMatch::any(), transient_faults(), 20_261_130);

    const CALLS: usize = 1_000;
    let results: Vec<(&'static str, agenttier::Result<()>)> = futures::stream::iter(0..CALLS)
        .map(|i| {
            let client = client.clone();
            let sb = sb.clone();
            async move {
                let (kind, outcome): (&'static str, agenttier::Result<()>) = match i % 8 {
                    0 => ("get_sandbox", client.get_sandbox("load").await.map(drop)),
                    1 => ("list_sandboxes", client.list_sandboxes().await.map(drop)),
                    2 => ("list_templates", client.templates().list().await.map(drop)),
                    3 => (
                        "read_file",
                        sb.files().read("/workspace/a.txt").await.map(drop),
                    ),
                    4 => (
                        "write_file",
                        sb.files()
                            .write("/workspace/b.txt", format!("{i}"))
                            .await
                            .map(drop),
                    ),
                    5 => ("me", client.user().me().await.map(drop)),
                    6 => ("list_ports", sb.ports().list().await.map(drop)),
                    _ => ("status", sb.status().await.map(drop)),
                };
                (kind, outcome)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let requests = router.requests();
    let faulted = requests.len().saturating_sub(CALLS);
    let mut failures: HashMap<&str, Vec<String>> = HashMap::new();
    for (kind, outcome) in &results {
        if let Err(e) = outcome {
            failures.entry(kind).or_default().push(e.to_string());
        }
    }
    let failed: usize = failures.values().map(Vec::len).sum();
    println!(
        "idempotent calls under faults: {CALLS} calls, 8 kinds, fault rate 20 % (503/429/reset), \
         {} requests ({faulted} retried after a fault), failures {failed}",
        requests.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(faulted > CALLS / 10, "the faults did not fire: {faulted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates_with_lost_answers_make_no_duplicate_and_no_false_conflict()
{
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(50))
        .visibility_lag(Duration::from_millis(800))
        .start()
        .await;
    let client = Client::builder(router.url())
        .retry(
            fast_retries()
                .max_retries(8)
                .read_back_window(Duration::from_secs(3)),
        )
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Half of the creates are answered by a fault: processed with the answer lost, closed
    // before processing, or a gateway's 503 without processing.
    router.fail_randomly(
        0.5,
        RouteMatch::new(Method::POST, "/api/v1/sandboxes"),
        vec![
            Fault::ResetAfter,
            Fault::ResetAfter,
            Fault::Reset,
            Fault::status(503, ""),
        ],
        7,
    );
    const CREATES: usize = 200;
    let client = Arc::new(client);
    let mut tasks = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .create_sandbox(format!("amb-{i}"))
                .template("general-coding")
                .await
        }));
    }
    let (mut ok, mut false_conflicts, mut other) = (0, 0, Vec::new());
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("no panic") {
            Ok(sb) => {
                assert_eq!(sb.id(), format!("amb-{i}"));
                ok += 1;
            }
            Err(e @ (Error::AlreadyExists(_) | Error::Conflict(_))) => {
                false_conflicts += 1;
                other.push(e.to_string());
            }
            Err(e) => other.push(e.to_string()),
        }
    }
    router.clear_faults();
    let posts = router
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST && r.path == "/api/v1/sandboxes")
        .count();
    let existing = (0..CREATES)
        .filter(|i| router.phase(&format!("amb-{i}")).is_some())
        .count();
    // Every create is in the emulator exactly once (a name cannot be created twice: a
    // duplicate would be a second sandbox under another name, and only these names exist).
    // The lag runs on the emulator's clock from each create: moved past it for the last
    // one (no waiting), the list shows everything.
    router.advance(Duration::from_secs(1));
    let listed = client.list_sandboxes().await.unwrap().len();
    let duplicates = listed.saturating_sub(CREATES);
    println!(
        "ambiguous creates: {CREATES} concurrent, 50 % of POSTs faulted (lost answer / reset / 503), \
         visibility lag 800 ms, {posts} POSTs, created {ok}, in the emulator {existing}, listed {listed}, \
         duplicates {duplicates}, false conflicts {false_conflicts}, other errors {}",
        other.len() - false_conflicts
    );
    assert!(other.is_empty(), "{other:#?}");
    assert_eq!(ok, CREATES);
    assert_eq!(existing, CREATES);
    assert_eq!(duplicates, 0);
}
