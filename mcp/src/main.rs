//! `agenttier-mcp`: the AgentTier MCP server, over stdio (default) or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;

use agenttier::Client;
use agenttier::auth::{ApiKey, BearerToken};
use agenttier_mcp::{HttpOptions, Server, ServerOptions};
use clap::Parser;

/// MCP server for the AgentTier Router. It acts with the credentials it is given: the
/// connected agent can do whatever they allow.
#[derive(Parser)]
#[command(name = "agenttier-mcp", version)]
struct Args {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// With --http: also accept this Host header (loopback names only by default). Repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// The Router's URL (default: detected as the SDK does, e.g. AGENTTIER_API_URL).
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// An API key (sent as X-API-Key).
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with = "token",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// A bearer token (OIDC).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Default namespace for creates, lists and the effective policy.
    #[arg(long)]
    namespace: Option<String>,
    /// Also offer the admin tools (governance writes, audit, analytics, cluster, warm pool).
    #[arg(long)]
    admin: bool,
    /// Offer only the tools that change nothing.
    #[arg(long)]
    read_only: bool,
    /// Let file_upload/file_download use local files under DIR (off by default).
    #[arg(long, value_name = "DIR")]
    local_dir: Option<std::path::PathBuf>,
}

fn client(args: &Args) -> Result<Client, String> {
    if args.api_url.is_none() && args.api_key.is_none() && args.token.is_none() {
        return Client::from_env().map_err(|e| e.to_string());
    }
    let url = match &args.api_url {
        Some(url) => url.clone(),
        None => std::env::var(agenttier::ENV_API_URL).map_err(|_| {
            format!(
                "--api-key/--token need --api-url or {}",
                agenttier::ENV_API_URL
            )
        })?,
    };
    let builder = Client::builder(url.clone())
        .application(concat!("agenttier-mcp/", env!("CARGO_PKG_VERSION")));
    let builder = match (&args.api_key, &args.token) {
        (Some(key), _) => builder.auth(ApiKey::new(key.clone()).map_err(|e| e.to_string())?),
        (None, Some(token)) => {
            builder.auth(BearerToken::new(token.clone()).map_err(|e| e.to_string())?)
        }
        // Detected as for AGENTTIER_API_URL=url: credentials bound to another host (a
        // kubeconfig's) are skipped with a warning.
        (None, None) => builder.auth_shared(
            agenttier::auth::detect_with(
                &agenttier::auth::DetectEnv::from_process().var(agenttier::ENV_API_URL, &url),
            )
            .map_err(|e| e.to_string())?,
        ),
    };
    builder.build().map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match client(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agenttier-mcp: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = ServerOptions::default()
        .admin(args.admin)
        .read_only(args.read_only);
    if let Some(ns) = &args.namespace {
        options = options.namespace(ns.clone());
    }
    if let Some(dir) = &args.local_dir {
        options = options.local_dir(dir.clone());
    }
    let server = Server::new(client, options);
    let outcome = match args.http {
        None => agenttier_mcp::serve_stdio(server).await,
        Some(addr) => {
            let http = args
                .allow_hosts
                .iter()
                .fold(HttpOptions::default(), |h, host| {
                    h.allowed_host(host.clone())
                });
            agenttier_mcp::serve_http_until_ctrl_c("agenttier-mcp", addr, server, http).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agenttier-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}
