//! Uploads vs downloads through the FakeRouter (real `sh` in its sandbox, loopback).
//!
//! ```text
//! cargo bench -p agenttier --bench transfers                   # 5 rounds of 32 MiB each way
//! cargo bench -p agenttier --bench transfers -- --rounds 3 --big   # and a 512 MiB upload from disk
//! ```
//!
//! The parent process runs the FakeRouter (with `local_exec`, so parts are joined by a real
//! `sh`) and one Running sandbox. Every transfer runs in a child process of this same binary,
//! so its peak RSS growth is its own: the child sets up its client and makes one small call,
//! reads `VmHWM` from `/proc/self/status`, transfers, and reads `VmHWM` again. Within a round
//! the upload child (a 32 MiB file streamed from disk with `Files::upload`) and the download
//! child (`Files::download` to a file) alternate in order. Printed: MiB/s each way, the
//! upload/download ratio per round, and the RSS growth, as min / median / max over rounds.
//! `--big` adds a 512 MiB file uploaded from disk (one run per round; it needs about 1.5 GiB
//! of free disk in the temporary folder).
//!
//! Files live in `/dev/shm` when it exists (unless `TMPDIR` is set): the sandbox folders of
//! the emulator, the source and the destination. On a disk mounted with `discard`, removing
//! the few hundred parts of a 32 MiB upload takes over a second of TRIMs, which measures the
//! disk, not the SDK (a real sandbox's filesystem is another matter).
//!
//! `--concurrency N` sets the parts in flight of uploads (default: the SDK's default, 4).
//!
//! `--child MODE URL SANDBOX LOCAL CONCURRENCY` runs one transfer (`upload` or `download`)
//! and prints `seconds peak_rss_growth_kib`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agenttier::testing::FakeRouter;
use agenttier::{Client, DEFAULT_CONCURRENCY, TransferOptions, WaitOptions};

const MIB: u64 = 1024 * 1024;
const REMOTE: &str = "/workspace/bench.bin";

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn child(mode: &str, url: &str, sandbox: &str, local: &str, concurrency: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let client = Client::builder(url).build().expect("a client");
        let sb = client.sandbox(sandbox).expect("a sandbox handle");
        let files = sb.files();
        // Warm up: connection pool, TLS-free loopback connection, allocator arenas.
        files.list("/workspace").await.expect("a listing");
        let base = peak_rss_kib();
        let t = Instant::now();
        match mode {
            "upload" => {
                let opts = TransferOptions::default().concurrency(concurrency);
                files
                    .upload_with(local, REMOTE, opts)
                    .await
                    .expect("the upload");
            }
            "download" => {
                files.download(REMOTE, local).await.expect("the download");
            }
            other => panic!("unknown mode {other}"),
        }
        let secs = t.elapsed().as_secs_f64();
        println!("{secs} {}", peak_rss_kib().saturating_sub(base));
    });
}

fn run_child(
    exe: &Path,
    mode: &str,
    url: &str,
    sandbox: &str,
    local: &Path,
    concurrency: usize,
) -> (f64, u64) {
    let out = Command::new(exe)
        .args(["--child", mode, url, sandbox])
        .arg(local)
        .arg(concurrency.to_string())
        .output()
        .expect("the child runs");
    assert!(
        out.status.success(),
        "{mode} child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let secs: f64 = words.next().and_then(|w| w.parse().ok()).expect("seconds");
    let kib: u64 = words.next().and_then(|w| w.parse().ok()).expect("kib");
    (secs, kib)
}

fn write_source(path: &Path, size: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("a source file"));
    let mut block = vec![0u8; MIB as usize];
    for i in 0..size / MIB {
        for (j, b) in block.iter_mut().enumerate() {
            *b = ((j as u64).wrapping_mul(2_654_435_761).wrapping_add(i) >> 7) as u8;
        }
        f.write_all(&block).expect("write");
    }
    f.flush().expect("flush");
}

fn stats(label: &str, unit: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let median = v[v.len() / 2];
    println!(
        "{label:<34} min {:>9.2}  median {:>9.2}  max {:>9.2} {unit}",
        v[0],
        median,
        v[v.len() - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let concurrency = args[6].parse().expect("a concurrency");
        child(&args[2], &args[3], &args[4], &args[5], concurrency);
        return;
    }
    if std::env::var_os("TMPDIR").is_none() && Path::new("/dev/shm").is_dir() {
        // SAFETY: no other thread exists yet (the runtime is built below).
        unsafe { std::env::set_var("TMPDIR", "/dev/shm") };
    }
    let mut rounds = 5usize;
    let mut big = false;
    let mut concurrency = DEFAULT_CONCURRENCY;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--rounds" => {
                rounds = args[i + 1].parse().expect("--rounds N");
                i += 1;
            }
            "--big" => big = true,
            "--concurrency" => {
                concurrency = args[i + 1].parse().expect("--concurrency N");
                i += 1;
            }
            _ => {} // `cargo bench` passes `--bench`
        }
        i += 1;
    }
    let exe = std::env::current_exe().expect("this binary");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (router, id) = rt.block_on(async {
        let router = FakeRouter::builder()
            .creating_delay(Duration::from_millis(10))
            .local_exec(true)
            .start()
            .await;
        let sb = Client::builder(router.url())
            .build()
            .expect("a client")
            .create_sandbox("bench")
            .template("general-coding")
            .await
            .expect("a sandbox");
        sb.wait_until_running_with(
            WaitOptions::default().initial_interval(Duration::from_millis(10)),
        )
        .await
        .expect("Running");
        (router, sb.id().to_string())
    });
    let url = router.url().to_string();

    let src = dir.path().join("src.bin");
    let dst = dir.path().join("dst.bin");
    write_source(&src, 32 * MIB);
    let (mut up, mut down, mut ratio, mut up_rss, mut down_rss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // The emulator's request log keeps bodies: forget them between transfers, so the parent
    // does not grow by every part sent.
    let run = |mode: &str, local: &Path| {
        router.clear_requests();
        run_child(&exe, mode, &url, &id, local, concurrency)
    };
    for round in 0..rounds {
        let (u, d) = if round % 2 == 0 {
            let u = run("upload", &src);
            (u, run("download", &dst))
        } else {
            let d = run("download", &dst);
            (run("upload", &src), d)
        };
        if round == 0 {
            assert!(
                std::fs::read(&src).expect("src") == std::fs::read(&dst).expect("dst"),
                "the download differs from the upload"
            );
        }
        let (ut, dt) = (32.0 / u.0, 32.0 / d.0);
        up.push(ut);
        down.push(dt);
        ratio.push(ut / dt);
        up_rss.push(u.1 as f64 / 1024.0);
        down_rss.push(d.1 as f64 / 1024.0);
    }
    println!(
        "32 MiB through the FakeRouter, {rounds} rounds (upload from disk, {concurrency} parts in flight; download to disk)"
    );
    stats("upload", "MiB/s", up);
    stats("download", "MiB/s", down);
    stats("upload / download", "×", ratio);
    stats("upload peak RSS growth", "MiB", up_rss);
    stats("download peak RSS growth", "MiB", down_rss);

    if big {
        let _ = std::fs::remove_file(&dst);
        let big_src = dir.path().join("big.bin");
        write_source(&big_src, 512 * MIB);
        let (mut speed, mut rss) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (secs, kib) = run("upload", &big_src);
            speed.push(512.0 / secs);
            rss.push(kib as f64 / 1024.0);
        }
        println!("512 MiB upload streamed from disk, {rounds} rounds");
        stats("upload", "MiB/s", speed);
        stats("upload peak RSS growth", "MiB", rss);
    }
    drop(router);
}
