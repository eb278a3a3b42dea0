//! Facade vs bare `reqwest` + `serde`, side by side against one loopback server.
//!
//! ```text
//! cargo bench -p agenttier --bench pipeline               # 5 rounds of every case
//! cargo bench -p agenttier --bench pipeline -- --rounds 3 --ops get --concurrency 64
//! ```
//!
//! The parent process serves a minimal HTTP/1.1 Router stand-in (hyper, fixed bodies, no
//! work) on loopback. Every measurement runs in a child process of this same binary, so each
//! has its own peak RSS (`VmHWM`); bare and facade children alternate within a round (the
//! order flips every round), which cancels most of the drift of a noisy machine. Printed per
//! case: calls per second and peak RSS, min / median / max over the rounds, and the ratio of
//! the facade's median to bare's.
//!
//! Both sides decode into the same generated types and send the same API key, so the
//! difference is the SDK's own work: building the request, credentials, the retry engine,
//! tracing, classification and bounded reading.
//!
//! `--child MODE OP CONCURRENCY CALLS URL` runs one measurement and prints
//! `calls_per_sec peak_rss_kib cpu_us_per_call`. With `--serve` the parent only serves and
//! prints its URL. Together they count instructions per call: run two children under
//! `valgrind --tool=callgrind` with different call counts and divide the difference
//! (`benches/instructions.sh` does exactly that).

use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const API_KEY: &str = "atk_bench_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

fn summary_json(name: &str) -> String {
    format!(
        r#"{{"createdAt":"2026-07-21 04:16:07 +0000 UTC","createdBy":{{"displayName":"Dev User","email":"dev@agenttier.local"}},"lastActivityAt":"2026-07-21 04:16:09 +0000 UTC","message":"","mode":"code","name":"{name}","namespace":"default","podName":"{name}","pvcName":"{name}-workspace","sandboxId":"{name}","status":"Running","templateRef":"general-coding"}}"#
    )
}

struct Bodies {
    get: Bytes,
    list: Bytes,
    exec: Bytes,
}

fn answer(bodies: &Bodies, method: &hyper::Method, path: &str, id: usize) -> Response<Full<Bytes>> {
    let body = if method == hyper::Method::POST && path.ends_with("/exec") {
        bodies.exec.clone()
    } else if path == "/api/v1/sandboxes" {
        bodies.list.clone()
    } else {
        bodies.get.clone()
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-request-id", format!("{id:016x}"))
        .body(Full::new(body))
        .expect("a valid response")
}

async fn serve(listener: tokio::net::TcpListener) {
    let list: Vec<String> = (0..10)
        .map(|i| summary_json(&format!("worker-{i}")))
        .collect();
    let bodies = Arc::new(Bodies {
        get: Bytes::from(summary_json("demo")),
        list: Bytes::from(format!(r#"{{"sandboxes":[{}]}}"#, list.join(","))),
        exec: Bytes::from_static(br#"{"exitCode":0,"stderr":"","stdout":"hello\n"}"#),
    });
    let next_id = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let bodies = bodies.clone();
        let next_id = next_id.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let bodies = bodies.clone();
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                async move {
                    let method = req.method().clone();
                    let path = req.uri().path().to_owned();
                    // Read the request body (exec sends one) before answering.
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(answer(&bodies, &method, &path, id))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Bare,
    Facade,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Get,
    Exec,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get_sandbox",
            Op::Exec => "exec",
            Op::List => "list_sandboxes",
        }
    }
    fn parse(s: &str) -> Op {
        match s {
            "get" | "get_sandbox" => Op::Get,
            "exec" => Op::Exec,
            "list" | "list_sandboxes" => Op::List,
            other => panic!("unknown op {other:?} (get, exec, list)"),
        }
    }
}

/// One bare call, written the way a reqwest user would.
async fn bare_call(http: &reqwest::Client, base: &str, op: Op) {
    match op {
        Op::Get => {
            let s: agenttier::types::SandboxSummary = http
                .get(format!("{base}/api/v1/sandboxes/demo"))
                .header("x-api-key", API_KEY)
                .send()
                .await
                .expect("send")
                .error_for_status()
                .expect("status")
                .json()
                .await
                .expect("decode");
            assert_eq!(s.sandbox_id, "demo");
        }
        Op::Exec => {
            let r: agenttier::types::ExecResult = http
                .post(format!("{base}/api/v1/sandboxes/demo/exec"))
                .header("x-api-key", API_KEY)
                .json(&agenttier::types::ExecRequest {
                    command: "echo hello".into(),
                    timeout: Some(30),
                })
                .send()
                .await
                .expect("send")
                .error_for_status()
                .expect("status")
                .json()
                .await
                .expect("decode");
            assert_eq!(r.exit_code, 0);
        }
        Op::List => {
            let l: agenttier::types::SandboxList = http
                .get(format!("{base}/api/v1/sandboxes"))
                .header("x-api-key", API_KEY)
                .send()
                .await
                .expect("send")
                .error_for_status()
                .expect("status")
                .json()
                .await
                .expect("decode");
            assert_eq!(l.sandboxes.map(|s| s.len()), Some(10));
        }
    }
}

async fn facade_call(client: &agenttier::Client, op: Op) {
    match op {
        Op::Get => {
            let sb = client.get_sandbox("demo").await.expect("get_sandbox");
            assert_eq!(sb.id(), "demo");
        }
        Op::Exec => {
            let out = client
                .sandbox("demo")
                .expect("id")
                .exec("echo hello")
                .await
                .expect("exec");
            assert_eq!(out.exit_code, 0);
        }
        Op::List => {
            let list = client.list_sandboxes().await.expect("list");
            assert_eq!(list.len(), 10);
        }
    }
}

/// CPU time of this process so far, in seconds: the sum over its threads of the nanosecond
/// run time the scheduler reports in `/proc/self/task/*/schedstat`.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut nanos = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        nanos += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    nanos as f64 / 1e9
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `calls` calls with `concurrency` in flight; returns calls per second.
fn child(mode: Mode, op: Op, concurrency: usize, calls: usize, url: &str) {
    // One client thread and one server thread: on a 2-core machine the two sides do not
    // compete, so a difference in the client's work shows as a difference in calls/s.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rate: (f64, f64) = rt.block_on(async move {
        let http = reqwest::Client::builder().build().expect("reqwest client");
        let facade = agenttier::Client::builder(url)
            .auth(agenttier::auth::ApiKey::new(API_KEY).expect("key"))
            .build()
            .expect("client");
        let base: Arc<str> = Arc::from(url);
        let run = |n: usize| {
            let remaining = Arc::new(AtomicUsize::new(n));
            let mut tasks = Vec::with_capacity(concurrency);
            for _ in 0..concurrency.min(n) {
                let remaining = remaining.clone();
                let http = http.clone();
                let facade = facade.clone();
                let base = base.clone();
                tasks.push(tokio::spawn(async move {
                    while remaining
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1))
                        .is_ok()
                    {
                        match mode {
                            Mode::Bare => bare_call(&http, &base, op).await,
                            Mode::Facade => facade_call(&facade, op).await,
                        }
                    }
                }));
            }
            async move {
                for t in tasks {
                    t.await.expect("task");
                }
            }
        };
        // Warm up: open the connections and fault in the allocator.
        run(concurrency.max(200)).await;
        let cpu = cpu_seconds();
        let started = Instant::now();
        run(calls).await;
        let rate = calls as f64 / started.elapsed().as_secs_f64();
        (rate, (cpu_seconds() - cpu) * 1e6 / calls as f64)
    });
    println!("{:.1} {} {:.2}", rate.0, peak_rss_kib(), rate.1);
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let median = if values.len() % 2 == 1 {
        values[values.len() / 2]
    } else {
        (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
    };
    (values[0], median, values[values.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let mode = match args[i + 1].as_str() {
            "bare" => Mode::Bare,
            "facade" => Mode::Facade,
            other => panic!("unknown mode {other:?}"),
        };
        let op = Op::parse(&args[i + 2]);
        let concurrency: usize = args[i + 3].parse().expect("concurrency");
        let calls: usize = args[i + 4].parse().expect("calls");
        child(mode, op, concurrency, calls, &args[i + 5]);
        return;
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rounds: usize = flag("--rounds").map_or(5, |v| v.parse().expect("--rounds N"));
    let ops: Vec<Op> = flag("--ops")
        .map(|v| v.split(',').map(Op::parse).collect())
        .unwrap_or_else(|| vec![Op::Get, Op::Exec, Op::List]);
    let concurrencies: Vec<usize> = flag("--concurrency")
        .map(|v| {
            v.split(',')
                .map(|c| c.parse().expect("--concurrency N,M"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 64, 2048]);

    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    server.spawn(serve(listener));

    if args.iter().any(|a| a == "--serve") {
        // Serve only (for measuring a child under valgrind by hand).
        println!("{url}");
        loop {
            std::thread::park();
        }
    }
    let exe = std::env::current_exe().expect("current exe");
    println!("pipeline benchmark: {rounds} rounds, server {url}");
    println!(
        "{:<15} {:>6} {:>7} | {:>26} | {:>6} | {:>20} | {:>6} | {:>6} | {:>6}",
        "op",
        "flight",
        "client",
        "calls/s min / med / max",
        "ratio",
        "peak RSS MiB",
        "ratio",
        "CPU us",
        "ratio"
    );
    for &op in &ops {
        for &concurrency in &concurrencies {
            let calls = match concurrency {
                1 => 10_000,
                c if c <= 64 => 60_000,
                _ => 100_000,
            };
            let mut rates = [Vec::new(), Vec::new()];
            let mut rss = [Vec::new(), Vec::new()];
            let mut cpu = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                let order = if round % 2 == 0 {
                    [Mode::Bare, Mode::Facade]
                } else {
                    [Mode::Facade, Mode::Bare]
                };
                for mode in order {
                    let out = Command::new(&exe)
                        .args([
                            "--child",
                            if mode == Mode::Bare { "bare" } else { "facade" },
                            op.name(),
                            &concurrency.to_string(),
                            &calls.to_string(),
                            &url,
                        ])
                        .output()
                        .expect("run a child");
                    assert!(
                        out.status.success(),
                        "child failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let text = String::from_utf8_lossy(&out.stdout);
                    let mut it = text.split_whitespace();
                    let rate: f64 = it.next().and_then(|v| v.parse().ok()).expect("rate");
                    let kib: f64 = it.next().and_then(|v| v.parse().ok()).expect("rss");
                    let us: f64 = it.next().and_then(|v| v.parse().ok()).expect("cpu");
                    let slot = usize::from(mode == Mode::Facade);
                    rates[slot].push(rate);
                    rss[slot].push(kib / 1024.0);
                    cpu[slot].push(us);
                }
            }
            let [mut bare_rate, mut facade_rate] = rates;
            let [mut bare_rss, mut facade_rss] = rss;
            let br = stats(&mut bare_rate);
            let fr = stats(&mut facade_rate);
            let bm = stats(&mut bare_rss);
            let fm = stats(&mut facade_rss);
            let [mut bare_cpu, mut facade_cpu] = cpu;
            let bc = stats(&mut bare_cpu);
            let fc = stats(&mut facade_cpu);
            println!(
                "{:<15} {:>6} {:>7} | {:>8.0} {:>8.0} {:>8.0} | {:>6} | {:>6.1} {:>6.1} {:>6.1} | {:>6} | {:>6.1} | {:>6}",
                op.name(),
                concurrency,
                "bare",
                br.0,
                br.1,
                br.2,
                "",
                bm.0,
                bm.1,
                bm.2,
                "",
                bc.1,
                ""
            );
            println!(
                "{:<15} {:>6} {:>7} | {:>8.0} {:>8.0} {:>8.0} | {:>5.2}x | {:>6.1} {:>6.1} {:>6.1} | {:>5.2}x | {:>6.1} | {:>5.2}x",
                "",
                "",
                "facade",
                fr.0,
                fr.1,
                fr.2,
                fr.1 / br.1,
                fm.0,
                fm.1,
                fm.2,
                fm.1 / bm.1,
                fc.1,
                fc.1 / bc.1
            );
        }
    }
}
