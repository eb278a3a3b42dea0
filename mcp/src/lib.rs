//! An MCP server for the AgentTier Router: sandboxes as tools for AI agents.
//!
//! [`Server`] wraps an [`agenttier::Client`] and exposes the Router as Model Context
//! Protocol tools (the official Rust MCP SDK, `rmcp`): every tool of the Python SDK's MCP
//! server under the same snake_case names, plus waiting for a sandbox's phase, file
//! upload/download and the agent mode (configure, invoke, cancel, install log). Each tool is a thin call
//! into the SDK's async facade; results are JSON (structured content), failures are tool
//! errors (`isError: true`) that keep the Router's HTTP status and request id.
//!
//! Serve it over stdio ([`serve_stdio`]) for a local agent, or over streamable HTTP
//! ([`serve_http`]). The `agenttier-mcp` binary does both.
//!
//! **The server acts with the credentials it was given.** Anything those credentials may do,
//! the connected agent may do; use a sandbox-scoped API key, [`ServerOptions::read_only`],
//! and leave [`ServerOptions::admin`] off unless the agent needs it.
//!
//! ```no_run
//! use agenttier_mcp::{Server, ServerOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = agenttier::Client::from_env()?;
//! let server = Server::new(client, ServerOptions::default().read_only(true));
//! assert!(server.tool_names().contains(&"sandbox_list".to_string()));
//! agenttier_mcp::serve_stdio(server).await?;
//! # Ok(()) }
//! ```

mod args;
mod error;
mod tools;

use std::io;
use std::net::SocketAddr;

use agenttier::{CancellationToken, Client};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolRequestParams, CallToolResponse, ErrorCode};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool_handler};

pub use args::{Encoding, FileContent};

use crate::error::{Failure, failure_result};

/// The tools that need an admin on the Router (its `requireAdmin` routes); listed only with
/// [`ServerOptions::admin`].
///
/// ```
/// assert!(agenttier_mcp::ADMIN_TOOLS.contains(&"cluster_set_headroom"));
/// ```
pub const ADMIN_TOOLS: &[&str] = &[
    "governance_set_policy",
    "governance_delete_policy",
    "audit_list_events",
    "analytics_usage",
    "analytics_costs",
    "admin_list_sandboxes",
    "admin_sharing_overview",
    "warmpool_set_config",
    "cluster_nodes",
    "cluster_set_headroom",
];

/// What the server exposes.
///
/// ```
/// let opts = agenttier_mcp::ServerOptions::default().admin(true).namespace("team-a");
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ServerOptions {
    admin: bool,
    read_only: bool,
    namespace: Option<String>,
    local_dir: Option<std::path::PathBuf>,
}

impl ServerOptions {
    /// List the admin tools ([`ADMIN_TOOLS`]) too. Off by default.
    ///
    /// ```
    /// let opts = agenttier_mcp::ServerOptions::default().admin(true);
    /// # let _ = opts;
    /// ```
    pub fn admin(mut self, on: bool) -> Self {
        self.admin = on;
        self
    }

    /// List only the tools that change nothing (those annotated `readOnlyHint`). Off by
    /// default.
    ///
    /// ```
    /// let opts = agenttier_mcp::ServerOptions::default().read_only(true);
    /// # let _ = opts;
    /// ```
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    /// The default namespace for creates, lists and the effective policy.
    ///
    /// ```
    /// let opts = agenttier_mcp::ServerOptions::default().namespace("team-a");
    /// # let _ = opts;
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Let `file_upload` and `file_download` use local files, relative to `dir` (paths with
    /// `..` or absolute paths are refused). Off by default: without it, only inline content
    /// moves, and the agent cannot touch the server machine's files.
    ///
    /// ```
    /// let opts = agenttier_mcp::ServerOptions::default().local_dir("/srv/agent-files");
    /// # let _ = opts;
    /// ```
    pub fn local_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.local_dir = Some(dir.into());
        self
    }
}

/// The MCP server: an [`agenttier::Client`], the options, and the tools they allow.
///
/// ```no_run
/// # fn demo(client: agenttier::Client) {
/// let server = agenttier_mcp::Server::new(client, Default::default());
/// assert!(!server.tool_names().contains(&"cluster_nodes".to_string())); // admin only
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    client: Client,
    options: ServerOptions,
    tool_router: ToolRouter<Server>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("base_url", &self.client.base_url())
            .field("options", &self.options)
            .field("tools", &self.tool_router.list_all().len())
            .finish()
    }
}

impl Server {
    /// A server acting through `client`, with the tools `options` allow.
    ///
    /// ```no_run
    /// # fn demo(client: agenttier::Client) {
    /// let server = agenttier_mcp::Server::new(client, agenttier_mcp::ServerOptions::default());
    /// # let _ = server;
    /// # }
    /// ```
    pub fn new(client: Client, options: ServerOptions) -> Self {
        let mut tool_router = Self::tool_router();
        for tool in tool_router.list_all() {
            let read_only = tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            let hidden = (ADMIN_TOOLS.contains(&tool.name.as_ref()) && !options.admin)
                || (options.read_only && !read_only);
            if hidden {
                tool_router.remove_route(&tool.name);
            }
        }
        Server {
            client,
            options,
            tool_router,
        }
    }

    /// The names of the tools this server lists, sorted.
    ///
    /// ```no_run
    /// # fn demo(server: agenttier_mcp::Server) {
    /// for name in server.tool_names() {
    ///     println!("{name}");
    /// }
    /// # }
    /// ```
    pub fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        names.sort();
        names
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "agenttier",
    instructions = "Tools for AgentTier sandboxes: isolated, persistent Linux workspaces on Kubernetes. Create one (sandbox_create with wait=true), run commands (sandbox_run_command), read and write files (file_*), and delete it when done (sandbox_terminate). Errors keep the Router's HTTP status and request id."
)]
impl ServerHandler for Server {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tool_router.has_route(&request.name) {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool named {:?} here (unknown, or hidden by --read-only / without --admin)",
                    request.name
                ),
                None,
            ));
        }
        let call = ToolCallContext::new(self, request, context);
        match self.tool_router.call(call).await {
            // Arguments that do not match the tool's schema: a tool error the model can read
            // and correct, not a protocol failure, in the same shape as every other failure
            // (rmcp reports them as a bare text error; ours always carry structured content).
            Ok(CallToolResponse::Complete(result))
                if result.is_error == Some(true) && result.structured_content.is_none() =>
            {
                let text = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok(failure_result(&Failure::Arguments(text)).into())
            }
            Err(e) if e.code == ErrorCode::INVALID_PARAMS => {
                Ok(failure_result(&Failure::Arguments(e.message.into_owned())).into())
            }
            other => other,
        }
    }
}

/// Serves `server` over stdin/stdout until the client disconnects.
///
/// ```no_run
/// # async fn demo(server: agenttier_mcp::Server) -> std::io::Result<()> {
/// agenttier_mcp::serve_stdio(server).await
/// # }
/// ```
pub async fn serve_stdio(server: Server) -> io::Result<()> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(io::Error::other)?;
    running.waiting().await.map_err(io::Error::other)?;
    Ok(())
}

/// Options of the streamable-HTTP transport.
///
/// ```
/// let http = agenttier_mcp::HttpOptions::default().allowed_host("mcp.internal");
/// # let _ = http;
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct HttpOptions {
    allowed_hosts: Vec<String>,
}

impl HttpOptions {
    /// Also accept requests whose `Host` is `host` (only loopback names are accepted by
    /// default, against DNS rebinding).
    ///
    /// ```
    /// let http = agenttier_mcp::HttpOptions::default().allowed_host("10.0.0.5:8765");
    /// # let _ = http;
    /// ```
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }
}

/// Serves `server` over streamable HTTP at `http://addr/mcp` until `shutdown` is cancelled.
///
/// ```no_run
/// # async fn demo(server: agenttier_mcp::Server) -> std::io::Result<()> {
/// let stop = agenttier::CancellationToken::new();
/// let addr = "127.0.0.1:8765".parse().unwrap();
/// agenttier_mcp::serve_http(addr, server, Default::default(), stop).await
/// # }
/// ```
pub async fn serve_http(
    addr: SocketAddr,
    server: Server,
    options: HttpOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_http_on(listener, server, options, shutdown).await
}

/// What the binaries run for `--http ADDR`: binds `addr`, says on stderr where it serves
/// (`{name}: serving http://ADDR/mcp`, the bound port when `addr` has port 0), and serves
/// until Ctrl-C.
///
/// ```no_run
/// # async fn demo(server: agenttier_mcp::Server) -> std::io::Result<()> {
/// let addr = "127.0.0.1:8765".parse().unwrap();
/// agenttier_mcp::serve_http_until_ctrl_c("my-app", addr, server, Default::default()).await
/// # }
/// ```
pub async fn serve_http_until_ctrl_c(
    name: &str,
    addr: SocketAddr,
    server: Server,
    options: HttpOptions,
) -> io::Result<()> {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The bound address (port 0 picks a free one), for scripts and tests.
    if let Ok(bound) = listener.local_addr() {
        eprintln!("{name}: serving http://{bound}/mcp");
    }
    serve_http_on(listener, server, options, stop).await
}

/// [`serve_http`] on a listener already bound (e.g. to port 0, to learn the port first).
///
/// ```no_run
/// # async fn demo(server: agenttier_mcp::Server) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("http://{}/mcp", listener.local_addr()?);
/// let stop = agenttier::CancellationToken::new();
/// agenttier_mcp::serve_http_on(listener, server, Default::default(), stop).await
/// # }
/// ```
pub async fn serve_http_on(
    listener: tokio::net::TcpListener,
    server: Server,
    options: HttpOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token());
    if !options.allowed_hosts.is_empty() {
        let mut hosts = config.allowed_hosts.clone();
        hosts.extend(options.allowed_hosts);
        config = config.with_allowed_hosts(hosts);
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        // No request is made: these tests only look at the tool list.
        Client::builder("http://127.0.0.1:9").build().unwrap()
    }

    #[test]
    fn every_admin_tool_name_is_a_tool() {
        let all = Server::new(client(), ServerOptions::default().admin(true)).tool_names();
        for name in ADMIN_TOOLS {
            assert!(all.iter().any(|t| t == name), "{name} is not a tool");
        }
    }

    #[test]
    fn options_decide_the_tool_list() {
        let all = Server::new(client(), ServerOptions::default().admin(true)).tool_names();
        let user = Server::new(client(), ServerOptions::default()).tool_names();
        let read_only = Server::new(client(), ServerOptions::default().read_only(true));
        assert_eq!(all.len(), 61);
        assert_eq!(user.len(), all.len() - ADMIN_TOOLS.len());
        assert!(!read_only.tool_names().iter().any(|t| t == "sandbox_create"));
        // A read-only server without --admin hides admin reads too.
        assert!(!read_only.tool_names().iter().any(|t| t == "cluster_nodes"));
        for tool in read_only.tool_router.list_all() {
            assert_eq!(
                tool.annotations.and_then(|a| a.read_only_hint),
                Some(true),
                "{} is listed read-only",
                tool.name
            );
        }
    }

    #[test]
    fn debug_shows_no_credentials() {
        let sdk = Client::builder("http://127.0.0.1:9")
            .auth(agenttier::auth::ApiKey::new("super-secret-key").unwrap())
            .build()
            .unwrap();
        let server = Server::new(sdk, ServerOptions::default());
        assert!(!format!("{server:?}").contains("super-secret-key"));
    }
}
