//! How fast `wait_until_running` notices a start, and how many GETs it spends.
//!
//! ```text
//! cargo bench -p agenttier --bench waiter                       # T = 3, 10, 30 s; 3 waves each
//! cargo bench -p agenttier --bench waiter -- --waves 4 --t 3,10
//! ```
//!
//! One `Client` against the FakeRouter on loopback, with the default `WaitOptions`. For each
//! T, waves of 8 sandboxes of one template (one template per T, so each T starts cold): all
//! 8 are created together and stay `Creating` (the emulator's own start is an hour away)
//! until the benchmark switches each to `Running` with `FakeRouter::set_phase` at a known
//! instant, T + U(0, 2 s) after its creation. Each waiter begins right after its create.
//!
//! Printed per T and wave: the detection lag (the waiter's return minus the switch) as mean
//! and min / median / max over the 8 waits, and the GETs per wait (min / median / max) with
//! the budget check: every wait within 10 GETs + 40 GETs per minute waited. Targets: from
//! the second wave on, mean lag ≤ 0.3 s; the first (cold) wave ≤ 0.75 s.

use std::time::{Duration, Instant};

use agenttier::testing::{FakeRouter, Method};
use agenttier::{Client, WaitOptions};
use rand::Rng;
use serde_json::json;

const PER_WAVE: usize = 8;

fn spec() -> serde_json::Value {
    json!({
        "mode": "code",
        "description": "benchmark template",
        "image": {"repository": "ghcr.io/agenttier/sandbox-general", "pullPolicy": "IfNotPresent"},
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
        "storage": {"size": "10Gi", "mountPath": "/workspace"},
        "timeout": "8h0m0s",
        "idleTimeout": "30m0s",
    })
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (mean, v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut waves = 3usize;
    let mut ts: Vec<u64> = vec![3, 10, 30];
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--waves" => {
                waves = args[i + 1].parse().expect("--waves N");
                i += 1;
            }
            "--t" => {
                ts = args[i + 1]
                    .split(',')
                    .map(|t| t.parse().expect("--t 3,10,30"))
                    .collect();
                i += 1;
            }
            _ => {} // `cargo bench` passes `--bench`
        }
        i += 1;
    }
    let mut builder = FakeRouter::builder()
        .creating_delay(Duration::from_secs(3600))
        .finalizer_delay(Duration::from_millis(10));
    for t in &ts {
        builder = builder.template(format!("start-{t}s"), spec());
    }
    let router = std::sync::Arc::new(builder.start().await);
    let client = Client::builder(router.url()).build().expect("a client");
    println!(
        "waves of {PER_WAVE} sandboxes starting T + U(0, 2 s) after create; lag and GETs per wait"
    );
    println!(
        "{:>4} {:>4}  {:>9} {:>21}  {:>13}  {:>7}",
        "T", "wave", "mean lag", "lag min/median/max", "GETs min/med/max", "budget"
    );
    let mut all_ok = true;
    for &t in &ts {
        let template = format!("start-{t}s");
        for wave in 0..waves {
            router.clear_requests();
            let mut tasks = Vec::new();
            for n in 0..PER_WAVE {
                let name = format!("w{t}-{wave}-{n}");
                let sb = client
                    .create_sandbox(&name)
                    .template(&template)
                    .await
                    .expect("a create");
                let created = Instant::now();
                let delay = Duration::from_secs(t)
                    + Duration::from_secs_f64(rand::rng().random_range(0.0..2.0));
                let switcher = router.clone();
                let id = name.clone();
                let switch = tokio::spawn(async move {
                    tokio::time::sleep_until((created + delay).into()).await;
                    let at = Instant::now();
                    assert!(switcher.set_phase(&id, "Running", ""));
                    at
                });
                let waiter = tokio::spawn(async move {
                    let began = Instant::now();
                    sb.wait_until_running_with(WaitOptions::default())
                        .await
                        .expect("Running");
                    (began, Instant::now())
                });
                tasks.push((name, switch, waiter));
            }
            let mut lags = Vec::new();
            let mut gets = Vec::new();
            let mut over = 0;
            let mut waited = Vec::new();
            for (name, switch, waiter) in tasks {
                let switched = switch.await.expect("the switch");
                let (began, seen) = waiter.await.expect("the waiter");
                lags.push(seen.saturating_duration_since(switched).as_secs_f64());
                waited.push((name, seen - began));
            }
            let log = router.requests();
            for (name, took) in &waited {
                let path = format!("/api/v1/sandboxes/{name}");
                let n = log
                    .iter()
                    .filter(|r| r.method == Method::GET && r.path == path)
                    .count();
                let budget = 10.0 + 40.0 * took.as_secs_f64() / 60.0;
                if n as f64 > budget {
                    over += 1;
                }
                gets.push(n as f64);
            }
            let (mean, lo, med, hi) = quantiles(lags);
            let (_, glo, gmed, ghi) = quantiles(gets);
            let target = if wave == 0 { 0.75 } else { 0.3 };
            let ok = mean <= target && over == 0;
            all_ok &= ok;
            println!(
                "{t:>3}s {:>4}  {mean:>8.3}s {lo:>6.3}/{med:>6.3}/{hi:>6.3}s  {glo:>4}/{gmed:>3}/{ghi:>3}  {:>7}{}",
                wave + 1,
                if over == 0 {
                    "ok".to_string()
                } else {
                    format!("{over} over")
                },
                if ok { "" } else { "  (target missed)" }
            );
            for (name, _) in &waited {
                let _ = client.sandbox(name).expect("a handle").delete().await;
            }
        }
    }
    println!(
        "{}",
        if all_ok {
            "all targets met"
        } else {
            "some targets missed"
        }
    );
}
