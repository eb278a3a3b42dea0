//! The tutorial's main flow with the blocking client (feature `blocking`): no async, no
//! runtime to set up.
//!
//! ```sh
//! cargo run --example blocking
//! ```
//!
//! With `AGENTTIER_API_URL` unset it starts the embedded FakeRouter (with local exec, so the
//! command output is real; the FakeRouter gives no isolation). With it set, it talks to that
//! Router with the usual credential detection (`AGENTTIER_API_KEY`, `AGENTTIER_TOKEN`, the
//! service-account token, kubeconfig) and the template in `AGENTTIER_TEMPLATE`
//! (default `general-coding`).

use std::process::ExitCode;
use std::time::Duration;

use agenttier::blocking::Client;
use agenttier::testing::FakeRouter;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nblocking example failed: {err}");
            if let Some(id) = err.request_id() {
                eprintln!("  request id: {id}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> agenttier::Result<()> {
    // The embedded Router is async: it runs on a small runtime of its own, kept alive for the
    // whole run. The blocking client is built outside it (this thread drives no runtime).
    let embedded = match std::env::var(agenttier::ENV_API_URL)
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => {
            println!("Using the Router at {url}");
            None
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| agenttier::Error::Io {
                    path: Default::default(),
                    source: e,
                })?;
            let router = runtime.block_on(FakeRouter::builder().local_exec(true).start());
            println!(
                "AGENTTIER_API_URL is not set: started an embedded FakeRouter at {}",
                router.url()
            );
            println!(
                "(local exec: commands run on this machine in a temporary directory, without isolation)"
            );
            Some((runtime, router))
        }
    };
    let client = match &embedded {
        Some((_, router)) => Client::builder(router.url())
            .timeout(Duration::from_secs(30))
            .build()?,
        None => Client::from_env()?,
    };
    client.healthz()?;
    let template = std::env::var("AGENTTIER_TEMPLATE").unwrap_or_else(|_| "general-coding".into());
    let name = format!("blocking-{:x}", std::process::id());

    step(
        1,
        &format!("create sandbox {name} from template {template}"),
    );
    let sb = client
        .create_sandbox(&name)
        .template(&template)
        .idle_timeout(Duration::from_secs(15 * 60))
        .send()?;
    println!(
        "   created {} in namespace {}",
        sb.id(),
        sb.namespace().unwrap_or("?")
    );

    step(2, "wait until it is running");
    let summary = sb.wait_until_running()?;
    println!("   phase {}", summary.status);

    step(3, "run a command");
    let out = sb.exec("echo \"hello from $(uname -s)\" && echo 6*7 = $((6*7))")?;
    for line in out.stdout.lines() {
        println!("   | {line}");
    }
    println!("   exit code {} in {:?}", out.exit_code, out.duration);

    step(4, "write a file and read it back");
    let written = sb
        .files()
        .write("/workspace/hello.txt", "Hello, sandbox!\n")?;
    println!("   wrote {} bytes to {}", written.bytes, written.path);
    let back = sb.files().read_to_string("/workspace/hello.txt")?;
    print!("   read back: {back}");
    for entry in sb.files().list("/workspace")?.entries {
        println!("   {} {:>6} {}", entry.mode, entry.size, entry.name);
    }

    step(5, "delete it and wait until it is gone");
    sb.delete()?.wait()?;
    println!("   deleted");

    println!("\nDone.");
    // The client's runtime thread stops with its last handle; then the embedded Router.
    drop((sb, client));
    drop(embedded);
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("\n{n}. {what}");
}
