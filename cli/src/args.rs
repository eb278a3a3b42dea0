//! The command tree (clap derive). Names follow the Python CLI where the two peers differ.

use std::path::PathBuf;

use agenttier::user::ActionGroup;
use agenttier::{BulkAction, ShareKind, ShareLevel};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The `agenttier` command line: sandboxes for AI agents on the AgentTier Router.
///
/// Credentials are detected as the SDK does (AGENTTIER_API_KEY, then AGENTTIER_TOKEN, then the
/// in-cluster service-account token, then kubeconfig), after the flags and before the file
/// `agenttier login` saves.
#[derive(Debug, Parser)]
#[command(
    name = "agenttier",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes. Its `Debug` leaves the credentials out.
#[derive(Args)]
pub struct Global {
    /// The Router's URL (default: $AGENTTIER_API_URL, then the saved login).
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// An API key, sent as X-API-Key (default: $AGENTTIER_API_KEY).
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// A bearer token (default: $AGENTTIER_TOKEN).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The namespace for commands that take one (list filter, create, governance, admin...).
    #[arg(long, short = 'n', global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Output format: readable text, or JSON (the SDK's types, stable for scripts).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Global")
            .field("api_url", &self.api_url)
            .field("api_key", &redacted(&self.api_key))
            .field("token", &redacted(&self.token))
            .field("namespace", &self.namespace)
            .field("output", &self.output)
            .finish()
    }
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and lines for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// The families.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CLI's version (and the SDK's user agent).
    Version,
    /// Check the credentials (GET /user/me) and save the URL and credentials for later commands.
    Login,
    /// Show who the credentials belong to.
    Whoami,
    /// Sandboxes: lifecycle, commands, files, ports, sharing, backups.
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// Sandbox templates.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Configure a sandbox's agent (files, install command, entrypoint).
    Configure(ConfigureArgs),
    /// Invoke a sandbox's agent (or cancel an invocation) and return its exit code.
    Invoke(InvokeArgs),
    /// Governance policies (admin).
    #[command(subcommand)]
    Governance(GovernanceCmd),
    /// The audit log (admin).
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Usage and cost analytics (admin).
    #[command(subcommand)]
    Analytics(AnalyticsCmd),
    /// Fleet views (admin).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The current user's preferences.
    #[command(subcommand)]
    User(UserCmd),
    /// API keys.
    #[command(subcommand)]
    Apikeys(ApiKeysCmd),
    /// The warm pool (admin).
    #[command(subcommand)]
    Warmpool(WarmPoolCmd),
    /// Cluster capacity and headroom (admin).
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Webhook subscriptions.
    #[command(subcommand)]
    Webhooks(WebhooksCmd),
    /// Serve the Router to AI agents as MCP tools (stdio, or streamable HTTP with --http), with
    /// these credentials: the connected agent can do whatever they allow.
    #[cfg(feature = "mcp")]
    Mcp(McpArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `sandbox ...`.
#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// List sandboxes (in --namespace when given).
    List {
        /// Only this phase (Running, Stopped, ...).
        #[arg(long)]
        phase: Option<String>,
        /// Only this template.
        #[arg(long)]
        template: Option<String>,
    },
    /// Show one sandbox.
    Get {
        /// Sandbox id.
        id: String,
    },
    /// Create a sandbox.
    Create(CreateArgs),
    /// Stop a sandbox.
    Stop {
        /// Sandbox id.
        id: String,
        /// Wait until it is Stopped.
        #[arg(long)]
        wait: bool,
    },
    /// Resume a stopped sandbox.
    Resume {
        /// Sandbox id.
        id: String,
        /// Wait until it is Running.
        #[arg(long)]
        wait: bool,
    },
    /// Delete a sandbox.
    Delete {
        /// Sandbox id.
        id: String,
        /// Wait until it is gone.
        #[arg(long)]
        wait: bool,
    },
    /// Clone a sandbox (snapshot of its volume, then a new sandbox).
    Clone {
        /// Source sandbox id.
        id: String,
        /// The new sandbox's name (default: chosen by the Router).
        #[arg(long)]
        name: Option<String>,
        /// VolumeSnapshotClass to use.
        #[arg(long)]
        snapshot_class: Option<String>,
    },
    /// Run a command; exits with the command's exit code.
    Exec(ExecArgs),
    /// Wait until a sandbox reaches a state.
    Wait {
        /// Sandbox id.
        id: String,
        /// The state to wait for.
        #[arg(long = "for", value_enum, default_value_t = WaitFor::Running)]
        until: WaitFor,
        /// Give up after this long (seconds, or 90s/5m/1h).
        #[arg(long, default_value = "180", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Change a sandbox's idle timeout, resources, labels or annotations.
    Patch(PatchArgs),
    /// Create many sandboxes from a JSON file: `[{"name": .., "template": ..}, ..]`.
    BulkCreate {
        /// The JSON file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Stop, resume or delete many sandboxes.
    BulkAction {
        /// What to do.
        #[arg(long, value_parser = parse_bulk_action)]
        action: BulkAction,
        /// Sandbox ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// An interactive terminal in a running sandbox (pipes stdin when it is not a terminal).
    Shell {
        /// Sandbox id.
        id: String,
    },
    /// Who the sandbox is shared with.
    #[command(subcommand)]
    Sharing(SharingCmd),
    /// Volume snapshots of a sandbox.
    #[command(subcommand)]
    Backups(BackupsCmd),
    /// Files in a sandbox.
    #[command(subcommand)]
    Files(FilesCmd),
    /// Forwarded ports.
    #[command(subcommand)]
    Ports(PortsCmd),
}

/// What `sandbox wait` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Deleted.
    Deleted,
}

/// `sandbox create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new sandbox's name (an RFC 1123 label).
    pub name: String,
    /// Cluster template name.
    #[arg(long, short = 't', default_value = "general-coding")]
    pub template: String,
    /// Maximum lifetime (seconds, or 90s/5m/1h).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Idle timeout (seconds, or 90s/5m/1h).
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<std::time::Duration>,
    /// Volume size, e.g. 5Gi.
    #[arg(long)]
    pub storage_size: Option<String>,
    /// Wait until it is Running.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (seconds, or 90s/5m/1h).
    #[arg(long, default_value = "180", value_parser = parse_duration)]
    pub wait_timeout: std::time::Duration,
}

/// `sandbox exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Sandbox id.
    pub id: String,
    /// Command timeout (seconds, or 90s/5m/1h).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Environment variable NAME=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Working directory.
    #[arg(long, short = 'w')]
    pub workdir: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// `sandbox patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// Sandbox id.
    pub id: String,
    /// Idle timeout (seconds, or 90s/5m/1h).
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<std::time::Duration>,
    /// CPU limit, e.g. 2.
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// Memory limit, e.g. 4Gi.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// CPU request.
    #[arg(long)]
    pub cpu_request: Option<String>,
    /// Memory request.
    #[arg(long)]
    pub memory_request: Option<String>,
    /// Label KEY=VALUE (repeatable).
    #[arg(long = "label", value_parser = parse_key_value)]
    pub labels: Vec<(String, String)>,
    /// Annotation KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_parser = parse_key_value)]
    pub annotations: Vec<(String, String)>,
}

/// `sandbox sharing ...`.
#[derive(Debug, Subcommand)]
pub enum SharingCmd {
    /// The users and groups a sandbox is shared with.
    List {
        /// Sandbox id.
        id: String,
    },
    /// Share a sandbox with a user or group.
    Grant {
        /// Sandbox id.
        id: String,
        /// User (email) or group name.
        identity: String,
        /// Access level.
        #[arg(long, default_value = "viewer")]
        level: ShareLevel,
        /// Whether the identity is a user or a group.
        #[arg(long, default_value = "user")]
        kind: ShareKind,
    },
    /// Stop sharing a sandbox with a user or group.
    Revoke {
        /// Sandbox id.
        id: String,
        /// User (email) or group name.
        identity: String,
    },
    /// Create a share link.
    CreateLink {
        /// Sandbox id.
        id: String,
        /// Access level.
        #[arg(long, default_value = "viewer")]
        level: ShareLevel,
        /// Lifetime (seconds, or 90s/5m/1h); default: never expires.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// How many times it may be used (default unlimited).
        #[arg(long)]
        max_uses: Option<u32>,
    },
}

/// `sandbox backups ...`.
#[derive(Debug, Subcommand)]
pub enum BackupsCmd {
    /// List a sandbox's backups.
    List {
        /// Sandbox id.
        id: String,
    },
    /// Snapshot a sandbox's volume.
    Create {
        /// Sandbox id.
        id: String,
        /// VolumeSnapshotClass to use.
        #[arg(long)]
        snapshot_class: Option<String>,
    },
    /// Restore a backup into a new sandbox.
    Restore {
        /// Sandbox id.
        id: String,
        /// Snapshot name.
        snapshot: String,
        /// The new sandbox's name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete a backup.
    Delete {
        /// Sandbox id.
        id: String,
        /// Snapshot name.
        snapshot: String,
    },
}

/// `sandbox files ...`.
#[derive(Debug, Subcommand)]
pub enum FilesCmd {
    /// List a directory.
    Ls {
        /// Sandbox id.
        id: String,
        /// Directory.
        #[arg(default_value = "/workspace")]
        path: String,
    },
    /// Print a file.
    Cat {
        /// Sandbox id.
        id: String,
        /// File path.
        path: String,
    },
    /// Upload a local file or directory (recursively).
    Upload {
        /// Sandbox id.
        id: String,
        /// Local file or directory.
        local: PathBuf,
        /// Remote path.
        remote: String,
    },
    /// Download a remote file, or a directory with --recursive.
    Download {
        /// Sandbox id.
        id: String,
        /// Remote path.
        remote: String,
        /// Local path.
        local: PathBuf,
        /// The remote path is a directory: download the tree.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Download a directory as a tar.gz archive.
    Archive {
        /// Sandbox id.
        id: String,
        /// Remote directory.
        path: String,
        /// Local archive file.
        #[arg(long = "dest", short = 'o', visible_alias = "output-file")]
        dest: PathBuf,
    },
    /// Write a file from --data or --file.
    Write {
        /// Sandbox id.
        id: String,
        /// Remote path.
        path: String,
        /// The content.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        data: Option<String>,
        /// A local file with the content (`-` for stdin).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// `sandbox ports ...`.
#[derive(Debug, Subcommand)]
pub enum PortsCmd {
    /// List forwarded ports.
    List {
        /// Sandbox id.
        id: String,
    },
    /// Forward a port (and print its preview URL).
    Forward {
        /// Sandbox id.
        id: String,
        /// Port (1-65535).
        #[arg(value_parser = clap::value_parser!(u32).range(1..=65535))]
        port: u32,
        /// Protocol.
        #[arg(long)]
        protocol: Option<String>,
    },
    /// Stop forwarding a port.
    Remove {
        /// Sandbox id.
        id: String,
        /// Port (1-65535).
        #[arg(value_parser = clap::value_parser!(u32).range(1..=65535))]
        port: u32,
    },
}

/// `template ...`.
#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// List templates.
    List,
    /// Show a template.
    Get {
        /// Template name.
        name: String,
    },
}

/// `configure`.
#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Sandbox id.
    pub id: String,
    /// A file to place in the sandbox, REMOTE=LOCAL (repeatable).
    #[arg(long = "file", value_parser = parse_key_value)]
    pub files: Vec<(String, String)>,
    /// Install command (split like a shell does).
    #[arg(long)]
    pub install: Option<String>,
    /// Entrypoint command (split like a shell does).
    #[arg(long)]
    pub entrypoint: Option<String>,
}

/// `invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Sandbox id.
    pub id: String,
    /// A prompt (sent as {"prompt": ...}).
    #[arg(long, conflicts_with = "input")]
    pub prompt: Option<String>,
    /// The payload: a string, @FILE, or - for stdin.
    #[arg(long)]
    pub input: Option<String>,
    /// Give up after this long (seconds, or 90s/5m/1h).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Cancel this running invocation instead (inv-...).
    #[arg(long, value_name = "INVOKE_ID", conflicts_with_all = ["prompt", "input"])]
    pub cancel: Option<String>,
}

/// `governance ...`.
#[derive(Debug, Subcommand)]
pub enum GovernanceCmd {
    /// List policies.
    List,
    /// Show a namespace's policy.
    Get {
        /// Namespace.
        namespace: String,
    },
    /// Set a namespace's policy (or the cluster's with `cluster`) from a JSON file.
    Set {
        /// Namespace, or `cluster`.
        namespace: String,
        /// The policy as JSON (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete a namespace's policy.
    Delete {
        /// Namespace.
        namespace: String,
    },
    /// The effective policy of a namespace (default: your own).
    Effective {
        /// Namespace.
        namespace: Option<String>,
    },
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recent audit events.
    List,
}

/// `analytics ...`.
#[derive(Debug, Subcommand)]
pub enum AnalyticsCmd {
    /// Usage analytics.
    Usage,
    /// Cost estimates.
    Costs,
}

/// `admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Every sandbox (in --namespace when given).
    Sandboxes,
    /// Every sharing setting.
    Sharing,
}

/// `user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Show your preferences.
    PreferencesGet,
    /// Replace your preferences from a JSON object file.
    PreferencesSet {
        /// The JSON file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
}

/// `apikeys ...`.
#[derive(Debug, Subcommand)]
pub enum ApiKeysCmd {
    /// List your API keys.
    List,
    /// Create an API key (the secret is shown once).
    Create {
        /// A name for the key.
        name: String,
        /// Bind the key to one sandbox.
        #[arg(long)]
        sandbox_id: Option<String>,
        /// An action group the sandbox-scoped key may use (repeatable; needs --sandbox-id).
        #[arg(long = "action-group", requires = "sandbox_id")]
        action_groups: Vec<ActionGroup>,
        /// Expire after this long (seconds, or 90s/5m/1h/720h).
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// Revoke an API key.
    Revoke {
        /// Key id.
        id: String,
    },
}

/// `warmpool ...`.
#[derive(Debug, Subcommand)]
pub enum WarmPoolCmd {
    /// The warm pool's state.
    Status,
    /// Replace the pools from a JSON file: `[{"template": .., "desiredCount": ..}]`.
    Config {
        /// The JSON file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
}

/// `cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Cluster status.
    Status,
    /// Node capacity.
    Nodes,
    /// The headroom setting.
    HeadroomGet,
    /// Set the headroom.
    HeadroomSet {
        /// Placeholder replicas (0-50).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=50))]
        replicas: u32,
        /// CPU per replica.
        #[arg(long)]
        cpu: Option<String>,
        /// Memory per replica.
        #[arg(long)]
        memory: Option<String>,
    },
}

/// `webhooks ...`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// Subscribe a URL to events.
    Create {
        /// The https URL to deliver to.
        url: String,
        /// An event type (repeatable), e.g. sandbox.created.
        #[arg(long = "event-type", required = true)]
        event_types: Vec<String>,
        /// Only events of this sandbox.
        #[arg(long)]
        sandbox_id: Option<String>,
    },
    /// List subscriptions.
    List,
    /// Delete a subscription.
    Delete {
        /// Subscription id.
        id: String,
    },
    /// Recent deliveries of a subscription.
    Deliveries {
        /// Subscription id.
        id: String,
    },
}

/// `90`, `90s`, `5m`, `2h`, `1h30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{s:?} is not a duration (want e.g. 90, 90s, 5m, 1h30m)"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let d = match &rest[..unit_len] {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
            "h" => std::time::Duration::from_secs(n.saturating_mul(3600)),
            other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
        };
        total = total.saturating_add(d);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `KEY=VALUE`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn parse_bulk_action(s: &str) -> Result<BulkAction, String> {
    s.parse::<BulkAction>()
        .map_err(|_| format!("{s:?} is not one of stop, resume, delete"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_take_plain_seconds_and_go_like_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
    }

    #[test]
    fn debug_output_leaves_the_credentials_out() {
        let cli = Cli::parse_from([
            "agenttier",
            "--api-key",
            "atk_secret",
            "--token",
            "jwt_secret",
            "whoami",
        ]);
        let debug = format!("{cli:?}");
        assert!(
            !debug.contains("atk_secret") && !debug.contains("jwt_secret"),
            "{debug}"
        );
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// `mcp`: the `agenttier-mcp` server, with this command line's credentials and namespace.
#[cfg(feature = "mcp")]
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// With --http: also accept this Host header (loopback names only by default). Repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Also offer the admin tools (governance writes, audit, analytics, cluster, warm pool).
    #[arg(long)]
    pub admin: bool,
    /// Offer only the tools that change nothing.
    #[arg(long)]
    pub read_only: bool,
    /// Let file_upload/file_download use local files under DIR (off by default).
    #[arg(long, value_name = "DIR")]
    pub local_dir: Option<std::path::PathBuf>,
}
