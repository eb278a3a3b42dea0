//! Serves the in-process FakeRouter (`agenttier::testing::FakeRouter`) until killed.
//!
//! ```sh
//! cargo run --example fake-router -- --listen 127.0.0.1:8089
//! # prints: listening on http://127.0.0.1:8089
//! ```
//!
//! `--listen` takes `HOST:PORT` (port 0: any free one; default `127.0.0.1:0`). With
//! `--kubectl-forwarding REMOTE_PORT` it prints, instead of the `listening on` line, exactly
//! what `kubectl port-forward` prints once it forwards (`Forwarding from 127.0.0.1:PORT ->
//! REMOTE_PORT`), so that a stand-in `kubectl` script can `exec` it: the SDK's tunnel tests
//! do, and so can yours. Dev-auth; serves until the process is killed.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use agenttier::testing::FakeRouter;

const USAGE: &str = "usage: fake-router [--listen HOST:PORT] [--kubectl-forwarding REMOTE_PORT]";

fn parse_args() -> Result<(SocketAddr, Option<u16>), String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut kubectl = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
            }
            "--kubectl-forwarding" => {
                let v = value("--kubectl-forwarding")?;
                kubectl = Some(
                    v.parse()
                        .map_err(|e| format!("--kubectl-forwarding {v:?}: {e}"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((listen, kubectl))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (listen, kubectl) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("fake-router: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let router = match FakeRouter::builder().listen(listen).try_start().await {
        Ok(router) => router,
        Err(e) => {
            // kubectl's words when the local port is taken.
            eprintln!("Unable to listen on port {}: {e}", listen.port());
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = match kubectl {
        Some(remote) => writeln!(out, "Forwarding from {} -> {remote}", router.addr()),
        None => writeln!(out, "listening on {}", router.url()),
    };
    let _ = out.flush();
    drop(out);
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
