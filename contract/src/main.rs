//! `agenttier-contract`: the contract scenarios against the in-process FakeRouter or a Router.
//!
//! ```text
//! agenttier-contract [--url URL] [--template NAME] [--agent-template NAME] [--junit PATH]
//!                    [--only NAME[,NAME]] [--skip NAME[,NAME]] [--prefix PREFIX] [--webhook-url URL]
//!                    [--wait-timeout SECS] [--verbose] [--list]
//! ```
//!
//! Target: `--url`, else `AGENTTIER_API_URL` (with the SDK's credential detection), else an
//! in-process FakeRouter. Exit status: 0 passed, 1 failed (or something left behind),
//! 2 usage error, 130 cancelled by Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agenttier::{CancellationToken, Client};
use agenttier_contract::{Options, SCENARIOS, check_prefix, in_process_router, run};

const USAGE: &str = "usage: agenttier-contract [--url URL] [--template NAME] [--agent-template NAME] [--junit PATH] [--only NAME[,NAME]] [--skip NAME[,NAME]] [--prefix PREFIX] [--webhook-url URL] [--wait-timeout SECS] [--verbose] [--list]

Runs the contract scenarios against --url, else $AGENTTIER_API_URL (credentials detected as
Client::from_env does: AGENTTIER_API_KEY, AGENTTIER_TOKEN, service-account token, kubeconfig),
else an in-process FakeRouter. Exit 0 passed, 1 failed or left something behind, 2 usage,
130 cancelled (Ctrl-C).";

#[derive(Debug)]
struct Args {
    url: Option<String>,
    template: Option<String>,
    agent_template: Option<String>,
    junit: Option<PathBuf>,
    only: Vec<String>,
    skip: Vec<String>,
    prefix: Option<String>,
    webhook_url: Option<String>,
    wait_timeout: Option<Duration>,
    verbose: bool,
    list: bool,
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        url: None,
        template: None,
        agent_template: None,
        junit: None,
        only: Vec::new(),
        skip: Vec::new(),
        prefix: None,
        webhook_url: None,
        wait_timeout: None,
        verbose: false,
        list: false,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let names = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match flag.as_str() {
            "--url" => a.url = Some(value()?),
            "--template" => a.template = Some(value()?),
            "--agent-template" => a.agent_template = Some(value()?),
            "--junit" => a.junit = Some(PathBuf::from(value()?)),
            "--only" => a.only.extend(names(value()?)),
            "--skip" => a.skip.extend(names(value()?)),
            "--prefix" => a.prefix = Some(value()?),
            "--webhook-url" => a.webhook_url = Some(value()?),
            "--wait-timeout" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--wait-timeout {v:?}: want whole seconds"))?;
                a.wait_timeout = Some(Duration::from_secs(secs));
            }
            "-v" | "--verbose" => a.verbose = true,
            "--list" => a.list = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    for n in a.only.iter().chain(&a.skip) {
        if !SCENARIOS.iter().any(|s| s.name == n) {
            return Err(format!("unknown scenario {n:?} (see --list)"));
        }
    }
    if let Some(p) = &a.prefix {
        check_prefix(p)?;
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("agenttier-contract: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for s in SCENARIOS {
            let admin = if s.admin { " (admin)" } else { "" };
            println!("{:<18} {}{admin}", s.name, s.about);
        }
        return ExitCode::SUCCESS;
    }

    let env_url = std::env::var(agenttier::ENV_API_URL)
        .ok()
        .filter(|v| !v.is_empty());
    let mut router = None;
    let (client, mut options) = match (&args.url, env_url) {
        (Some(url), _) => {
            // Detected as for AGENTTIER_API_URL=url, so credentials bound to another host (a
            // kubeconfig's) are skipped with a warning rather than refused.
            let env = agenttier::auth::DetectEnv::from_process().var(agenttier::ENV_API_URL, url);
            let client = Client::from_env_with(&env);
            (client, Options::default())
        }
        (None, Some(_)) => (Client::from_env(), Options::default()),
        (None, None) => {
            let r = in_process_router().await;
            println!(
                "no --url and AGENTTIER_API_URL unset: in-process FakeRouter at {}",
                r.url()
            );
            let client = Client::builder(r.url()).build();
            router = Some(r);
            (client, Options::in_process())
        }
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agenttier-contract: cannot build the client: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(t) = args.template {
        options.template = t;
    }
    if let Some(t) = args.agent_template {
        options.agent_template = t;
    }
    if let Some(d) = args.wait_timeout {
        options.wait = options.wait.timeout(d);
        options.backup_timeout = d;
    }
    options.only = args.only;
    options.skip = args.skip;
    options.prefix = Some(args.prefix.unwrap_or_else(agenttier_contract::new_prefix));
    options.webhook_url = args.webhook_url;
    options.verbose = args.verbose;
    println!(
        "running {} scenarios against {} with template {:?}, prefix {}",
        SCENARIOS.len(),
        client.base_url(),
        options.template,
        options.prefix.as_deref().unwrap_or_default()
    );

    // First Ctrl-C: cancel the running scenario, clean up, report. Second: leave at once.
    // The handler is registered before any scenario starts.
    let cancel = CancellationToken::new();
    let mut interrupts = match Interrupts::register() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("agenttier-contract: cannot handle Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if interrupts.next().await {
            eprintln!(
                "\nCtrl-C: cancelling; cleaning up what the run created (Ctrl-C again to leave without cleanup)"
            );
            on_signal.cancel();
            if interrupts.next().await {
                eprintln!("second Ctrl-C: leaving without cleanup");
                std::process::exit(130);
            }
        }
    });

    let report = run(&client, &options, cancel).await;
    print!("{report}");
    if let Some(path) = &args.junit {
        let written = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(path, report.to_junit()));
        match written {
            Ok(()) => println!("JUnit report written to {}", path.display()),
            Err(e) => {
                eprintln!("agenttier-contract: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    drop(router);
    if report.cancelled {
        ExitCode::from(130)
    } else if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ctrl-C, registered at once (a `ctrl_c()` future registers only when first polled).
#[cfg(unix)]
struct Interrupts(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Interrupts {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::interrupt()).map(Interrupts)
    }

    /// Resolves `true` on the next Ctrl-C.
    async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// Ctrl-C where there are no Unix signals.
#[cfg(not(unix))]
struct Interrupts;

#[cfg(not(unix))]
impl Interrupts {
    fn register() -> std::io::Result<Self> {
        Ok(Interrupts)
    }

    /// Resolves `true` on the next Ctrl-C.
    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn args(v: &[&str]) -> Result<super::Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags_and_inline_values() {
        let a = args(&[
            "--url=http://x",
            "--only",
            "health,files",
            "--junit",
            "r.xml",
        ])
        .unwrap();
        assert_eq!(a.url.as_deref(), Some("http://x"));
        assert_eq!(a.only, ["health", "files"]);
        assert_eq!(a.junit.unwrap().to_str(), Some("r.xml"));
    }

    #[test]
    fn refuses_unknown_scenarios_flags_and_prefixes() {
        assert!(
            args(&["--only", "nope"])
                .unwrap_err()
                .contains("unknown scenario")
        );
        assert!(
            args(&["--frobnicate"])
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(
            args(&["--prefix", "CT_1"])
                .unwrap_err()
                .contains("invalid prefix")
        );
        assert!(args(&["--url"]).unwrap_err().contains("needs a value"));
    }
}
