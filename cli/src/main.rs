//! `agenttier`: the AgentTier Router from a shell, a thin layer over the `agenttier` SDK's async
//! facade.
//!
//! Exit codes: 0 success; 1 an error, printed as `agenttier: <message>` on stderr; 2 a usage
//! error; 130 interrupted (Ctrl-C); `sandbox exec` and `invoke` exit with the remote command's
//! code.

mod args;
mod config;
mod output;
mod progress;
mod run;
mod shell;

use std::process::ExitCode;

use clap::Parser;

/// What a command ends with, besides success.
#[derive(Debug)]
pub enum Failure {
    /// An SDK error (printed, exit 1).
    Sdk(agenttier::Error),
    /// A local error (bad file, bad JSON, I/O on stdout...; printed, exit 1).
    Message(String),
    /// Exit with this code, printing nothing more (a remote exit code).
    Exit(u8),
}

impl From<agenttier::Error> for Failure {
    fn from(e: agenttier::Error) -> Self {
        Failure::Sdk(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Message(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agenttier: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = run::run(cli) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Whatever the command left running (a transfer, a terminal) is abandoned here.
    runtime.shutdown_background();
    match outcome {
        None => {
            eprintln!("agenttier: interrupted");
            ExitCode::from(130)
        }
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(Failure::Exit(code))) => ExitCode::from(code),
        Some(Err(Failure::Sdk(e))) => {
            eprintln!("agenttier: {e}");
            ExitCode::FAILURE
        }
        Some(Err(Failure::Message(m))) => {
            eprintln!("agenttier: {m}");
            ExitCode::FAILURE
        }
    }
}
