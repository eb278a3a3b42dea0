//! A stateful shell over the Router's WebSocket terminal.
//!
//! ```sh
//! cargo run --example terminal                    # the FakeRouter's scripted shell
//! cargo run --example terminal -- --local-exec    # a real `sh` on this machine
//! ```
//!
//! With `AGENTTIER_API_URL` unset it starts the embedded FakeRouter. By default its terminal
//! is the scripted shell (a small `sh` subset on the sandbox's in-memory files: nothing runs
//! on this machine); with `--local-exec` it is a real `sh` in a temporary directory, over
//! pipes, **without isolation**. With `AGENTTIER_API_URL` set, it talks to that Router with the
//! usual credential detection and the template in `AGENTTIER_TEMPLATE` (default
//! `general-coding`).

use std::process::ExitCode;
use std::time::Duration;

use agenttier::Client;
use agenttier::testing::FakeRouter;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nterminal example failed: {err}");
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
            let local_exec = std::env::args().any(|a| a == "--local-exec");
            let router = FakeRouter::builder().local_exec(local_exec).start().await;
            println!(
                "AGENTTIER_API_URL is not set: started an embedded FakeRouter at {} ({})",
                router.url(),
                if local_exec {
                    "local exec: a real sh on this machine, without isolation"
                } else {
                    "scripted shell; --local-exec for a real sh"
                }
            );
            (Client::builder(router.url()).build()?, Some(router))
        }
    };
    let template = std::env::var("AGENTTIER_TEMPLATE").unwrap_or_else(|_| "general-coding".into());
    let name = format!("terminal-{:x}", std::process::id());
    let sb = client
        .create_sandbox(&name)
        .template(&template)
        .idle_timeout(Duration::from_secs(15 * 60))
        .await?;
    sb.wait_until_running().await?;
    println!("sandbox {} is Running; opening a shell", sb.id());

    let result = async {
        let mut shell = sb
            .terminal()
            .size(120, 40)
            .shell()
            .await?
            .timeout(Duration::from_secs(60));
        // Each run goes to the same shell: the directory and the variables persist.
        for command in [
            "cd /workspace && mkdir -p demo && cd demo",
            "export GREETING=hello && echo \"$GREETING from $(basename \"$(pwd)\")\"",
            "printf 'no newline at the end'",
            "echo $GREETING again; false",
        ] {
            let out = shell.run(command).await?;
            println!("$ {command}");
            println!("  stdout {:?}, exit code {}", out.stdout, out.exit_code);
        }
        shell.close().await
    }
    .await;

    sb.delete().await?;
    println!("deleted {}", sb.id());
    result
}
