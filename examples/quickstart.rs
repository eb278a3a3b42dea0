//! The main flow of the SDK, step by step.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With `AGENTTIER_API_URL` unset it starts the embedded FakeRouter (with local exec, so the
//! command output is real; the FakeRouter gives no isolation). With it set, it talks to that
//! Router with the usual credential detection (`AGENTTIER_API_KEY`, `AGENTTIER_TOKEN`, the
//! service-account token, kubeconfig) and the template in `AGENTTIER_TEMPLATE`
//! (default `general-coding`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use agenttier::testing::FakeRouter;
use agenttier::{Client, Phase, Sandbox};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nquickstart failed: {err}");
            if let Some(id) = err.request_id() {
                eprintln!("  request id: {id}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> agenttier::Result<()> {
    // Keep the embedded Router alive for the whole run.
    let (client, _router) = match std::env::var(agenttier::ENV_API_URL)
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => {
            println!("Using the Router at {url}");
            (Client::from_env()?, None)
        }
        None => {
            let router = FakeRouter::builder().local_exec(true).start().await;
            println!(
                "AGENTTIER_API_URL is not set: started an embedded FakeRouter at {}",
                router.url()
            );
            println!(
                "(local exec: commands run on this machine in a temporary directory, without isolation)"
            );
            (Client::builder(router.url()).build()?, Some(router))
        }
    };
    client.healthz().await?;
    let template = std::env::var("AGENTTIER_TEMPLATE").unwrap_or_else(|_| "general-coding".into());
    let name = format!("quickstart-{:x}", std::process::id());

    step(
        1,
        &format!("create sandbox {name} from template {template}"),
    );
    let mut sb = client
        .create_sandbox(&name)
        .template(&template)
        .idle_timeout(Duration::from_secs(15 * 60))
        .await?;
    println!(
        "   created {} in namespace {}",
        sb.id(),
        sb.namespace().unwrap_or("?")
    );
    watch_phases(&mut sb, Phase::Running).await?;

    step(2, "run a command");
    let out = sb
        .exec("echo \"hello from $(uname -s)\" && echo 6*7 = $((6*7))")
        .await?;
    print!("{}", indent(&out.stdout));
    println!("   exit code {} in {:?}", out.exit_code, out.duration);

    step(3, "write a file, read it back, list the directory");
    let written = sb
        .files()
        .write("/workspace/hello.txt", "Hello, sandbox!\n")
        .await?;
    println!("   wrote {} bytes to {}", written.bytes, written.path);
    let back = sb.files().read("/workspace/hello.txt").await?;
    print!("   read back: {}", String::from_utf8_lossy(&back));
    let out = sb.exec("cat /workspace/hello.txt | tr a-z A-Z").await?;
    print!("   seen by exec: {}", out.stdout);
    for entry in sb.files().list("/workspace").await?.entries {
        println!("   {} {:>6} {}", entry.mode, entry.size, entry.name);
    }

    step(4, "forward a port");
    let port = sb.ports().forward(8000).await?;
    println!("   port {} ({})", port.port, port.protocol);
    println!("   through the Router: {}", sb.ports().preview_url(8000)?);

    step(5, "stop, resume and delete");
    sb.stop().await?;
    watch_phases(&mut sb, Phase::Stopped).await?;
    sb.resume().await?;
    watch_phases(&mut sb, Phase::Running).await?;
    sb.delete().await?;
    sb.wait_until_deleted().await?;
    println!("   deleted");

    println!("\nDone.");
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("\n{n}. {what}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   | {l}\n")).collect()
}

/// Polls until `target`, printing each phase change as it happens.
async fn watch_phases(sb: &mut Sandbox, target: Phase) -> agenttier::Result<()> {
    let started = Instant::now();
    let mut last: Option<String> = None;
    loop {
        let summary = sb.refresh().await?.clone();
        if last.as_deref() != Some(summary.status.as_str()) {
            let shown = if summary.status.is_empty() {
                "\"\" (not reconciled yet)"
            } else {
                summary.status.as_str()
            };
            println!(
                "   {:>6.1}s  phase {shown}",
                started.elapsed().as_secs_f64()
            );
            last = Some(summary.status.clone());
        }
        match summary.phase() {
            p if p == target => return Ok(()),
            Phase::Error => {
                return Err(agenttier::Error::SandboxFailed {
                    sandbox_id: sb.id().to_owned(),
                    message: summary.message.clone().unwrap_or_default(),
                    last: Box::new(summary),
                });
            }
            _ if started.elapsed() > Duration::from_secs(300) => {
                return Err(agenttier::Error::WaitTimeout {
                    sandbox_id: sb.id().to_owned(),
                    target: if target == Phase::Running {
                        "Running"
                    } else {
                        "Stopped"
                    },
                    waited: started.elapsed(),
                    last: Some(Box::new(summary)),
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
