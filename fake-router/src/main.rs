//! Run the in-process Router emulator as a standalone server.
//!
//! ```text
//! cargo run -p agenttier-fake-router -- --listen 127.0.0.1:8089 [--api-key KEY] [--local-exec]
//! ```
//!
//! Prints `listening on http://ADDR` (its only line on stdout) once it accepts connections,
//! then serves until killed. Dev-auth by default (no credentials at all); `--api-key KEY`
//! switches to API-key auth and registers KEY. Without `--local-exec`, exec and the terminal
//! are emulated (the terminal is the scripted shell of the crate docs) and nothing runs on this
//! machine; `--local-exec` runs commands for real with `sh -c` (the terminal with `sh`) in
//! temporary directories, as this user, with no isolation.
//!
//! Listening on an address that is not loopback prints a warning on stderr. `--local-exec` on
//! such an address is refused (exit 2) unless `--api-key` is given and `--allow-remote-exec`
//! says the risk is accepted: whoever reaches the port could otherwise run any command.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use agenttier_fake_router::{FakeAuth, FakeRouter};

const USAGE: &str = "usage: agenttier-fake-router [--listen ADDR] [--api-key KEY] [--local-exec [--allow-remote-exec]]   (default ADDR 127.0.0.1:8089)";

struct Args {
    listen: SocketAddr,
    api_key: Option<String>,
    local_exec: bool,
    allow_remote_exec: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8089)),
        api_key: None,
        local_exec: false,
        allow_remote_exec: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                args.listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: {e} (want HOST:PORT)"))?;
            }
            "--api-key" => args.api_key = Some(value("--api-key")?),
            "--local-exec" => args.local_exec = true,
            "--allow-remote-exec" => args.allow_remote_exec = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Warn about a non-loopback listen address; `Err` is the refusal for `--local-exec` on one.
fn check_exposure(args: &Args) -> Result<(), String> {
    if args.listen.ip().is_loopback() {
        return Ok(());
    }
    let auth = if args.api_key.is_some() {
        "anyone who can reach it and holds the API key can use the API"
    } else {
        "anyone who can reach it can use the API: dev-auth checks no credentials at all"
    };
    eprintln!(
        "agenttier-fake-router: warning: {} is not a loopback address; {auth}",
        args.listen
    );
    if args.local_exec && !(args.api_key.is_some() && args.allow_remote_exec) {
        return Err(format!(
            "refusing --local-exec on {}: it runs any shell command a client sends, as this user, with no isolation. Listen on a loopback address (127.0.0.1, [::1]), or pass both --api-key KEY and --allow-remote-exec to accept the risk.",
            args.listen
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("agenttier-fake-router: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(refusal) = check_exposure(&args) {
        eprintln!("agenttier-fake-router: {refusal}");
        return ExitCode::from(2);
    }
    let mut builder = FakeRouter::builder()
        .listen(args.listen)
        .local_exec(args.local_exec);
    if let Some(key) = args.api_key {
        builder = builder.auth(FakeAuth::ApiKeys).api_key(key);
    }
    let router = match builder.try_start().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "agenttier-fake-router: cannot listen on {}: {e}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", router.url());
    let _ = out.flush();
    drop(out);
    // Serve until the process is killed.
    std::future::pending::<()>().await;
    drop(router);
    ExitCode::SUCCESS
}
