//! Contract scenarios for an AgentTier Router.
//!
//! The same end-to-end scenarios run against the in-process FakeRouter (the default) or a
//! deployed Router by URL, so a team can check that its deployment honours the contract the
//! SDK relies on, and that the FakeRouter behaves like the Router.
//!
//! ```no_run
//! # async fn demo() -> agenttier::Result<()> {
//! use agenttier_contract::{Options, run};
//!
//! let router = agenttier_contract::in_process_router().await;
//! let client = agenttier::Client::builder(router.url()).build()?;
//! let options = Options::in_process();
//! let report = run(&client, &options, agenttier::CancellationToken::new()).await;
//! print!("{report}");
//! assert!(report.passed());
//! # Ok(()) }
//! ```
//!
//! Every scenario creates only names that start with the run prefix (`ct-<8 hex>`), records
//! what it creates, and deletes it afterwards whether it passed, failed or was cancelled. At
//! the end the suite lists what is left with the prefix (sandboxes, API keys, webhooks, share
//! grants, and for admins templates and policies); anything left fails the run.

#![warn(missing_docs)]

mod junit;
mod report;
mod runner;
mod scenarios;

use std::time::Duration;

use agenttier::WaitOptions;
use agenttier::testing::FakeRouter;

pub use report::{Failure, Leftover, Outcome, Report, ScenarioResult};
pub use runner::Scenario;
pub use scenarios::SCENARIOS;

/// Runs the suite against `client` and returns the report. Never panics on a Router's
/// answer; every failure is in the report.
///
/// Cancelling `cancel` (the binary does on Ctrl-C) stops the running scenario at its current
/// step, skips the rest, and still runs every cleanup and the leftover check.
pub async fn run(
    client: &agenttier::Client,
    options: &Options,
    cancel: agenttier::CancellationToken,
) -> Report {
    runner::run_scenarios(SCENARIOS, client, options, cancel).await
}

/// The template the scenarios create sandboxes from by default (the FakeRouter seeds it).
pub const DEFAULT_TEMPLATE: &str = "general-coding";

/// The agent-mode template of the agent scenario by default (the FakeRouter seeds it).
pub const DEFAULT_AGENT_TEMPLATE: &str = "agent-python";

/// What a run does: template, selection, names and timeouts.
#[derive(Clone, Debug)]
pub struct Options {
    /// Template of every sandbox the scenarios create (default [`DEFAULT_TEMPLATE`]).
    pub template: String,
    /// Agent-mode template for the agent scenario (default [`DEFAULT_AGENT_TEMPLATE`]); the
    /// scenario is skipped when the Router has no template of that name.
    pub agent_template: String,
    /// Run only these scenarios (empty: all). The others are reported as skipped.
    pub only: Vec<String>,
    /// Do not run these scenarios (reported as skipped).
    pub skip: Vec<String>,
    /// The run prefix every created name starts with. `None`: `ct-` and 8 random hex digits.
    /// It must be a valid RFC 1123 label prefix (lowercase letters, digits, `-`), at most
    /// 24 characters.
    pub prefix: Option<String>,
    /// Webhook URL for the webhooks scenario; `{prefix}` is replaced with the run prefix.
    /// The Router resolves its host and refuses private addresses. Default
    /// `https://example.com/agenttier-contract/{prefix}`.
    pub webhook_url: Option<String>,
    /// How the scenarios wait for phases (timeout and polling intervals).
    pub wait: WaitOptions,
    /// How long a snapshot may take to become ready to use.
    pub backup_timeout: Duration,
    /// Print each step as it starts (on stderr).
    pub verbose: bool,
}

impl Default for Options {
    /// Defaults for a deployed Router: 5 minute waits with the SDK's polling.
    fn default() -> Self {
        Options {
            template: DEFAULT_TEMPLATE.to_string(),
            agent_template: DEFAULT_AGENT_TEMPLATE.to_string(),
            only: Vec::new(),
            skip: Vec::new(),
            prefix: None,
            webhook_url: None,
            wait: WaitOptions::default().timeout(Duration::from_secs(300)),
            backup_timeout: Duration::from_secs(300),
            verbose: false,
        }
    }
}

impl Options {
    /// Defaults for the in-process FakeRouter ([`in_process_router`]): short waits, fast polls.
    pub fn in_process() -> Self {
        Options {
            wait: WaitOptions::default()
                .timeout(Duration::from_secs(30))
                .initial_interval(Duration::from_millis(10))
                .max_interval(Duration::from_millis(50)),
            backup_timeout: Duration::from_secs(30),
            ..Options::default()
        }
    }
}

/// Starts the FakeRouter the suite uses when no URL is given: loopback only, dev-auth (an
/// admin), local exec (so a split upload is really joined by `cat` in a temporary directory;
/// the suite's own fixed commands only), webhook hosts never sent to DNS, short delays.
pub async fn in_process_router() -> FakeRouter {
    in_process_builder().start().await
}

/// The builder behind [`in_process_router`], for tests that add faults or settings.
pub fn in_process_builder() -> agenttier::testing::FakeRouterBuilder {
    FakeRouter::builder()
        .local_exec(true)
        .resolve_webhook_hosts(false)
        .creating_delay(Duration::from_millis(60))
        .finalizer_delay(Duration::from_millis(20))
}

/// A fresh run prefix: `ct-` and 8 random lowercase hex digits.
pub fn new_prefix() -> String {
    format!("ct-{:08x}", rand::random::<u32>())
}

/// Checks a run prefix: lowercase letters, digits and `-`, starting with a letter, at most
/// 24 characters, so that every name built from it is a valid RFC 1123 label.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 24
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && !prefix.ends_with('-')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid prefix {prefix:?}: use 1 to 24 lowercase letters, digits and '-', starting with a letter and not ending with '-'"
        ))
    }
}
