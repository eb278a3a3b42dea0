//! The `agenttier` command line, as a library: the binary's `main` is [`main`].
//!
//! A thin layer over the `agenttier` SDK's async facade: every family and leaf of the Python
//! CLI (names as there), `sandbox shell`, directory transfers and shell completions.
//!
//! Exit codes: 0 success; 1 an error, printed as `agenttier: <message>` on stderr; 2 a usage
//! error; 130 interrupted (Ctrl-C); `sandbox exec` and `invoke` exit with the remote command's
//! code.
//!
//! ```
//! let tree = agenttier_cli::command_tree();
//! assert!(tree.lines().any(|l| l.starts_with("agenttier sandbox files upload ")));
//! ```

pub mod args;
mod config;
pub mod output;
mod progress;
mod run;
mod shell;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

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

/// Parses the process's arguments, runs the command and says how to exit.
pub fn main() -> ExitCode {
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

/// The command tree, one line per leaf: its path, then its positional arguments and its flags
/// (global flags left out). The tests pin it in `tests/command-tree.txt`.
pub fn command_tree() -> String {
    let mut out = String::new();
    let mut cmd = args::Cli::command();
    cmd.build();
    walk(&cmd, "agenttier", &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &str, out: &mut String) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        let mut line = path.to_owned();
        for a in cmd.get_arguments().filter(|a| !a.is_global_set()) {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let takes_value = a.get_num_args().is_some_and(|n| n.takes_values());
            let value = match a.get_value_names() {
                Some(names) if takes_value => format!(" <{}>", names.join(" ")),
                _ if takes_value => format!(" <{}>", id.to_uppercase()),
                _ => String::new(),
            };
            match a.get_long() {
                Some(long) if a.is_required_set() => line.push_str(&format!(" --{long}{value}")),
                Some(long) => line.push_str(&format!(" [--{long}{value}]")),
                None if a.is_last_set() => {
                    line.push_str(&format!(" -- <{}>...", id.to_uppercase()))
                }
                None => line.push_str(&format!(" <{}>", id.to_uppercase())),
            }
        }
        out.push_str(&line);
        out.push('\n');
        return;
    }
    for s in subs {
        walk(s, &format!("{path} {}", s.get_name()), out);
    }
}

/// What [`leaf_for`] answers for an operation nobody has decided about yet.
pub const UNDECIDED: &str = "no decision yet: map it to a leaf or say why it has none";

/// The leaf (its path below `agenttier`) that calls `op`, or why no leaf does. Every operation
/// of the spec gets an answer: a test fails on [`UNDECIDED`], so a new operation in
/// `openapi.yaml` forces a decision here.
///
/// ```
/// use agenttier::operations::op;
/// assert_eq!(agenttier_cli::leaf_for(&op::EXEC_COMMAND), Ok("sandbox exec"));
/// assert!(agenttier_cli::leaf_for(&op::HEALTHZ).is_err());
/// ```
pub fn leaf_for(op: &agenttier::operations::Operation) -> Result<&'static str, &'static str> {
    Ok(match op.name {
        "list_sandboxes" => "sandbox list",
        "create_sandbox" => "sandbox create",
        "get_sandbox" => "sandbox get",
        "delete_sandbox" => "sandbox delete",
        "update_sandbox" => "sandbox patch",
        "stop_sandbox" => "sandbox stop",
        "resume_sandbox" => "sandbox resume",
        "clone_sandbox" => "sandbox clone",
        "bulk_create_sandboxes" => "sandbox bulk-create",
        "bulk_sandbox_action" => "sandbox bulk-action",
        "list_backups" => "sandbox backups list",
        "create_backup" => "sandbox backups create",
        "restore_backup" => "sandbox backups restore",
        "delete_backup" => "sandbox backups delete",
        "exec_command" => "sandbox exec",
        "list_files" => "sandbox files ls",
        "read_file" => "sandbox files cat",
        "write_file" => "sandbox files write",
        "download_archive" => "sandbox files archive",
        "list_ports" => "sandbox ports list",
        "forward_port" => "sandbox ports forward",
        "remove_port" => "sandbox ports remove",
        "get_sharing" => "sandbox sharing list",
        "share_sandbox" => "sandbox sharing grant",
        "revoke_share" => "sandbox sharing revoke",
        "create_share_link" => "sandbox sharing create-link",
        "configure_agent" => "configure",
        "invoke_agent" | "cancel_invoke" => "invoke",
        "list_templates" => "template list",
        "get_template" => "template get",
        "list_webhooks" => "webhooks list",
        "create_webhook" => "webhooks create",
        "delete_webhook" => "webhooks delete",
        "list_webhook_deliveries" => "webhooks deliveries",
        "list_policies" => "governance list",
        "set_cluster_policy" | "set_namespace_policy" => "governance set",
        "get_namespace_policy" => "governance get",
        "delete_namespace_policy" => "governance delete",
        "get_effective_policy" => "governance effective",
        "list_audit_events" => "audit list",
        "get_usage_analytics" => "analytics usage",
        "get_cost_estimates" => "analytics costs",
        "admin_list_sandboxes" => "admin sandboxes",
        "admin_get_sharing" => "admin sharing",
        "get_current_user" => "whoami",
        "get_preferences" => "user preferences-get",
        "set_preferences" => "user preferences-set",
        "list_api_keys" => "apikeys list",
        "create_api_key" => "apikeys create",
        "revoke_api_key" => "apikeys revoke",
        "get_warm_pool_status" => "warmpool status",
        "set_warm_pool_config" => "warmpool config",
        "get_cluster_status" => "cluster status",
        "get_cluster_nodes" => "cluster nodes",
        "get_headroom" => "cluster headroom-get",
        "set_headroom" => "cluster headroom-set",
        "healthz" | "readyz" => return Err("probes for load balancers; not in the Python CLI"),
        "create_template" | "update_template" | "delete_template" => {
            return Err(
                "the Python CLI's template family is list|get; template writes are the SDK's",
            );
        }
        "get_install_log" => {
            return Err("not in the Python CLI; configure prints the install log as it runs");
        }
        _ => return Err(UNDECIDED),
    })
}
