//! The `agenttier-mcp` binary, spawned and driven by rmcp's client over stdio, against an
//! in-process FakeRouter (dev-auth: credentials are accepted and the caller is an admin); and
//! the library's streamable-HTTP transport on loopback.

use std::collections::BTreeSet;
use std::time::Duration;

use agenttier_fake_router::FakeRouter;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The Python MCP server's 53 tools (sdk-anchors §1.16).
const PYTHON_TOOLS: [&str; 53] = [
    "sandbox_create",
    "sandbox_list",
    "sandbox_status",
    "sandbox_stop",
    "sandbox_resume",
    "sandbox_terminate",
    "sandbox_clone",
    "sandbox_run_command",
    "sandbox_list_ports",
    "sandbox_forward_port",
    "sandbox_remove_port",
    "sandbox_update",
    "template_list",
    "template_get",
    "current_user",
    "file_list",
    "file_read",
    "file_write",
    "sharing_list",
    "sharing_grant",
    "sharing_revoke",
    "sharing_create_link",
    "backup_list",
    "backup_create",
    "backup_restore",
    "backup_delete",
    "governance_list_policies",
    "governance_get_policy",
    "governance_set_policy",
    "governance_delete_policy",
    "governance_effective_policy",
    "analytics_usage",
    "analytics_costs",
    "audit_list_events",
    "admin_list_sandboxes",
    "admin_sharing_overview",
    "user_get_preferences",
    "user_set_preferences",
    "apikey_list",
    "apikey_create",
    "apikey_revoke",
    "warmpool_status",
    "warmpool_set_config",
    "cluster_status",
    "cluster_nodes",
    "cluster_get_headroom",
    "cluster_set_headroom",
    "sandbox_create_bulk",
    "sandbox_bulk_action",
    "webhook_create",
    "webhook_delete",
    "webhook_deliveries",
    "webhook_list",
];

/// What the Python server lacks and this one adds.
const EXTRA_TOOLS: [&str; 8] = [
    "sandbox_wait_running",
    "sandbox_wait_stopped",
    "file_upload",
    "file_download",
    "agent_configure",
    "agent_invoke",
    "agent_cancel",
    "agent_install_log",
];

/// The tools that change something: hidden by `--read-only`.
const MUTATING_TOOLS: [&str; 12] = [
    "sandbox_create",
    "sandbox_stop",
    "sandbox_terminate",
    "sandbox_run_command",
    "file_write",
    "file_upload",
    "sharing_grant",
    "backup_delete",
    "apikey_create",
    "webhook_create",
    "agent_invoke",
    "sandbox_bulk_action",
];

type Client = RunningService<RoleClient, ()>;

async fn spawn_server(router: &FakeRouter, flags: &[&str]) -> Client {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenttier-mcp"));
    cmd.arg("--api-url")
        .arg(router.url())
        .arg("--api-key")
        .arg("test-key")
        .args(flags)
        .stderr(std::process::Stdio::inherit());
    let transport = TokioChildProcess::new(cmd).expect("spawn agenttier-mcp");
    ().serve(transport)
        .await
        .expect("MCP handshake with agenttier-mcp")
}

async fn tool_names(client: &Client) -> BTreeSet<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    for tool in &tools {
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{} has an object input schema",
            tool.name
        );
    }
    tools.into_iter().map(|t| t.name.into_owned()).collect()
}

async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
}

/// Calls a tool that must succeed and returns its structured content.
async fn call_ok(client: &Client, name: &str, args: Value) -> Value {
    let result = call(client, name, args).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{name} failed: {:?}",
        result.content
    );
    result.structured_content.expect("structured content")
}

/// Calls a tool that must fail and returns its `error` object and text.
async fn call_err(client: &Client, name: &str, args: Value) -> (Value, String) {
    let result = call(client, name, args).await;
    assert_eq!(result.is_error, Some(true), "{name} should fail");
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("an error text");
    (
        result.structured_content.expect("structured error")["error"].clone(),
        text,
    )
}

#[tokio::test]
async fn with_admin_every_python_tool_and_the_extras_are_listed() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &["--admin"]).await;
    let names = tool_names(&client).await;
    let expected: BTreeSet<String> = PYTHON_TOOLS
        .iter()
        .chain(EXTRA_TOOLS.iter())
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_admin_the_admin_tools_are_hidden() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &[]).await;
    let names = tool_names(&client).await;
    for admin in agenttier_mcp::ADMIN_TOOLS {
        assert!(!names.contains(*admin), "{admin} listed without --admin");
    }
    assert_eq!(
        names.len(),
        PYTHON_TOOLS.len() + EXTRA_TOOLS.len() - agenttier_mcp::ADMIN_TOOLS.len()
    );
    assert!(names.contains("sandbox_create") && names.contains("governance_get_policy"));
    // A hidden tool cannot be called either.
    let err = client
        .call_tool(CallToolRequestParams::new("cluster_nodes"))
        .await
        .expect_err("cluster_nodes is not offered");
    assert!(err.to_string().contains("cluster_nodes"), "{err}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_only_hides_every_mutating_tool() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &["--read-only", "--admin"]).await;
    let names = tool_names(&client).await;
    for tool in MUTATING_TOOLS {
        assert!(!names.contains(tool), "{tool} listed with --read-only");
    }
    for tool in [
        "sandbox_list",
        "sandbox_status",
        "sandbox_wait_running",
        "file_read",
        "file_download",
        "cluster_nodes",
    ] {
        assert!(names.contains(tool), "{tool} missing with --read-only");
    }
    assert!(!names.contains("cluster_set_headroom"));
    let listed = call_ok(&client, "sandbox_list", json!({})).await;
    assert_eq!(listed["sandboxes"], json!([]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn create_wait_exec_write_read_delete_through_the_tools() {
    let router = FakeRouter::builder().manual_clock().start().await;
    let client = spawn_server(&router, &[]).await;

    let created = call_ok(
        &client,
        "sandbox_create",
        json!({"name": "mcp-demo", "template": "general-coding"}),
    )
    .await;
    assert_eq!(created["name"], "mcp-demo");
    router.advance(Duration::from_secs(1)); // past the creating delay: Running

    let running = call_ok(
        &client,
        "sandbox_wait_running",
        json!({"sandbox_id": "mcp-demo"}),
    )
    .await;
    assert_eq!(running["status"], "Running"); // the wire name of the phase

    let out = call_ok(
        &client,
        "sandbox_run_command",
        json!({"sandbox_id": "mcp-demo", "command": "echo hello"}),
    )
    .await;
    assert_eq!(out["stdout"], "hello\n");
    assert_eq!(out["exit_code"], 0);

    call_ok(
        &client,
        "file_write",
        json!({"sandbox_id": "mcp-demo", "path": "/workspace/notes.txt",
               "content": {"encoding": "utf-8", "content": "héllo\n"}}),
    )
    .await;
    let read = call_ok(
        &client,
        "file_read",
        json!({"sandbox_id": "mcp-demo", "path": "/workspace/notes.txt"}),
    )
    .await;
    assert_eq!(read["encoding"], "utf-8");
    assert_eq!(read["content"], "héllo\n");

    // Bytes that are not UTF-8 go both ways as base64.
    call_ok(
        &client,
        "file_upload",
        json!({"sandbox_id": "mcp-demo", "path": "/workspace/blob.bin",
               "content": {"encoding": "base64", "content": "AP8Q"}}),
    )
    .await;
    let blob = call_ok(
        &client,
        "file_download",
        json!({"sandbox_id": "mcp-demo", "path": "/workspace/blob.bin"}),
    )
    .await;
    assert_eq!(blob["encoding"], "base64");
    assert_eq!(blob["content"], "AP8Q");
    assert_eq!(blob["size"], 3);

    let listing = call_ok(
        &client,
        "file_list",
        json!({"sandbox_id": "mcp-demo", "path": "/workspace"}),
    )
    .await;
    let listed: Vec<&str> = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        listed.contains(&"notes.txt") && listed.contains(&"blob.bin"),
        "{listing}"
    );

    let deleted = call_ok(
        &client,
        "sandbox_terminate",
        json!({"sandbox_id": "mcp-demo"}),
    )
    .await;
    assert_eq!(deleted["deleting"], true);
    router.advance(Duration::from_secs(60)); // past the finalizer delay: gone
    let (gone, _) = call_err(&client, "sandbox_status", json!({"sandbox_id": "mcp-demo"})).await;
    assert_eq!(gone["status"], 404);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_router_error_keeps_its_status_and_request_id() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &[]).await;
    let (error, text) = call_err(
        &client,
        "sandbox_status",
        json!({"sandbox_id": "no-such-sandbox"}),
    )
    .await;
    assert_eq!(error["kind"], "api");
    assert_eq!(error["status"], 404);
    let request_id = error["request_id"].as_str().expect("a request id");
    assert!(!request_id.is_empty());
    assert!(text.contains("HTTP 404"), "{text}");
    assert!(text.contains(request_id), "{text}");
    // The id is the one the Router answered with.
    let sent = router
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/no-such-sandbox"))
        .expect("the status request");
    if let Some(id) = sent.headers.get("x-request-id") {
        assert_eq!(id.to_str().unwrap(), request_id);
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_before_any_request() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &[]).await;

    let (missing, text) = call_err(&client, "sandbox_status", json!({})).await;
    assert_eq!(missing["kind"], "arguments");
    assert!(text.contains("sandbox_id"), "{text}");

    let (wrong_type, _) = call_err(
        &client,
        "sandbox_forward_port",
        json!({"sandbox_id": "x", "port": "eighty"}),
    )
    .await;
    assert_eq!(wrong_type["kind"], "arguments");

    let (bad_id, _) = call_err(&client, "sandbox_status", json!({"sandbox_id": "a/b"})).await;
    assert_eq!(bad_id["kind"], "client");
    assert_eq!(bad_id["status"], Value::Null);

    let (both, _) = call_err(
        &client,
        "sandbox_run_command",
        json!({"sandbox_id": "x", "command": "ls", "argv": ["ls"]}),
    )
    .await;
    assert_eq!(both["kind"], "arguments");

    let (bad_b64, _) = call_err(
        &client,
        "file_write",
        json!({"sandbox_id": "x", "path": "/workspace/a", "content": {"encoding": "base64", "content": "%%%"}}),
    )
    .await;
    assert_eq!(bad_b64["kind"], "arguments");

    assert!(
        router
            .requests()
            .iter()
            .all(|r| !r.path.contains("/sandboxes/")),
        "no sandbox request was sent: {:?}",
        router
            .requests()
            .iter()
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn streamable_http_serves_the_tools_on_loopback() {
    use rmcp::transport::StreamableHttpClientTransport;

    let router = FakeRouter::start().await;
    let sdk = agenttier::Client::builder(router.url())
        .auth(agenttier::auth::ApiKey::new("test-key").unwrap())
        .build()
        .unwrap();
    let server = agenttier_mcp::Server::new(sdk, agenttier_mcp::ServerOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = agenttier::CancellationToken::new();
    let serving = tokio::spawn(agenttier_mcp::serve_http_on(
        listener,
        server,
        Default::default(),
        stop.clone(),
    ));

    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let client = ().serve(transport).await.expect("MCP over streamable HTTP");
    let names = tool_names(&client).await;
    assert!(names.contains("sandbox_create") && names.contains("agent_invoke"));
    let user = call_ok(&client, "current_user", json!({})).await;
    assert!(user.get("sub").is_some(), "{user}");
    client.cancel().await.unwrap();

    stop.cancel();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn stop_wait_stopped_resume_wait_running() {
    let router = FakeRouter::builder().manual_clock().start().await;
    let client = spawn_server(&router, &[]).await;
    call_ok(
        &client,
        "sandbox_create",
        json!({"name": "cycle", "template": "general-coding"}),
    )
    .await;
    router.advance(Duration::from_secs(1));
    call_ok(
        &client,
        "sandbox_wait_running",
        json!({"sandbox_id": "cycle"}),
    )
    .await;

    call_ok(&client, "sandbox_stop", json!({"sandbox_id": "cycle"})).await;
    router.advance(Duration::from_secs(1));
    let stopped = call_ok(
        &client,
        "sandbox_wait_stopped",
        json!({"sandbox_id": "cycle"}),
    )
    .await;
    assert_eq!(stopped["status"], "Stopped");

    call_ok(&client, "sandbox_resume", json!({"sandbox_id": "cycle"})).await;
    router.advance(Duration::from_secs(1));
    let running = call_ok(
        &client,
        "sandbox_wait_running",
        json!({"sandbox_id": "cycle"}),
    )
    .await;
    assert_eq!(running["status"], "Running");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn agent_configure_then_invoke_collects_the_output() {
    use agenttier_fake_router::ExecRule;

    let router = FakeRouter::builder().manual_clock().start().await;
    router.on_exec(ExecRule::prefix("my-agent").stdout("thinking\ndone\n"));
    router.on_exec(ExecRule::prefix("pip").stdout("installed tool-x\n"));
    let client = spawn_server(&router, &[]).await;
    call_ok(
        &client,
        "sandbox_create",
        json!({"name": "agent-box", "template": "agent-python"}),
    )
    .await;
    router.advance(Duration::from_secs(1));
    call_ok(
        &client,
        "sandbox_wait_running",
        json!({"sandbox_id": "agent-box"}),
    )
    .await;

    let configured = call_ok(
        &client,
        "agent_configure",
        json!({"sandbox_id": "agent-box",
               "files": [{"path": "/workspace/agent.toml", "content": {"content": "model = \"x\"\n"}}],
               "install_command": ["pip", "install", "tool-x"],
               "entrypoint": ["my-agent", "--json"]}),
    )
    .await;
    assert!(configured.is_object(), "{configured}");
    let log = call_ok(
        &client,
        "agent_install_log",
        json!({"sandbox_id": "agent-box"}),
    )
    .await;
    assert!(
        log["log"].as_str().unwrap().contains("installed tool-x"),
        "{log}"
    );
    let read = call_ok(
        &client,
        "file_read",
        json!({"sandbox_id": "agent-box", "path": "/workspace/agent.toml"}),
    )
    .await;
    assert_eq!(read["content"], "model = \"x\"\n");

    let out = call_ok(
        &client,
        "agent_invoke",
        json!({"sandbox_id": "agent-box", "input": "hello", "timeout_seconds": 60}),
    )
    .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(out["success"], true);
    assert!(out["stdout"].as_str().unwrap().contains("done"), "{out}");
    let invoke_id = out["invoke_id"].as_str().expect("an invoke id");
    let record = router.wait_for_invocation(invoke_id).await;
    assert_eq!(record.stdin.as_ref(), b"hello");

    // The invocation is over: canceling it is a Router error, kept as a tool error.
    let (error, _) = call_err(
        &client,
        "agent_cancel",
        json!({"sandbox_id": "agent-box", "invoke_id": invoke_id}),
    )
    .await;
    assert_eq!(error["status"], 404, "{error}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_read_tool_answers_with_admin() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &["--admin"]).await;
    for tool in [
        "template_list",
        "current_user",
        "governance_list_policies",
        "governance_effective_policy",
        "analytics_usage",
        "analytics_costs",
        "audit_list_events",
        "admin_list_sandboxes",
        "admin_sharing_overview",
        "user_get_preferences",
        "apikey_list",
        "warmpool_status",
        "cluster_status",
        "cluster_nodes",
        "cluster_get_headroom",
        "webhook_list",
    ] {
        call_ok(&client, tool, json!({})).await;
    }
    let template = call_ok(&client, "template_get", json!({"name": "general-coding"})).await;
    assert!(template.is_object());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn admin_writes_go_through_the_sdk_types() {
    let router = FakeRouter::start().await;
    let client = spawn_server(&router, &["--admin"]).await;
    let tools = client.list_all_tools().await.unwrap();
    let set_policy = tools
        .iter()
        .find(|t| t.name == "governance_set_policy")
        .expect("governance_set_policy");
    let schema = serde_json::to_string(&set_policy.input_schema).unwrap();
    assert!(
        schema.contains("maxSandboxesPerUser"),
        "the policy's schema comes from the SDK's wire type: {schema}"
    );

    let set = call_ok(
        &client,
        "governance_set_policy",
        json!({"namespace": "team-a", "policy": {"maxSandboxesPerUser": 3}}),
    )
    .await;
    assert_eq!(set["maxSandboxesPerUser"], 3, "{set}");
    let got = call_ok(
        &client,
        "governance_get_policy",
        json!({"namespace": "team-a"}),
    )
    .await;
    assert_eq!(got["maxSandboxesPerUser"], 3, "{got}");

    let headroom = call_ok(
        &client,
        "cluster_set_headroom",
        json!({"replicas": 2, "cpu": "500m"}),
    )
    .await;
    assert!(headroom.get("headroom").is_some(), "{headroom}");

    let pool = call_ok(
        &client,
        "warmpool_set_config",
        json!({"pools": [{"template": "general-coding", "desiredCount": 1}]}),
    )
    .await;
    assert!(pool.is_object(), "{pool}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn local_files_move_only_under_the_local_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the laptop\n").unwrap();
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    std::fs::write(dir.path().join("tree/a.txt"), "a").unwrap();
    std::fs::write(dir.path().join("tree/b.txt"), "bb").unwrap();

    let router = FakeRouter::builder().manual_clock().start().await;
    let local_dir = dir.path().to_str().unwrap();
    let client = spawn_server(&router, &["--local-dir", local_dir]).await;
    call_ok(
        &client,
        "sandbox_create",
        json!({"name": "files", "template": "general-coding"}),
    )
    .await;
    router.advance(Duration::from_secs(1));

    let up = call_ok(
        &client,
        "file_upload",
        json!({"sandbox_id": "files", "path": "/workspace/in.txt", "local_path": "in.txt"}),
    )
    .await;
    assert_eq!(up["bytes"], 16);
    let tree = call_ok(
        &client,
        "file_upload",
        json!({"sandbox_id": "files", "path": "/workspace/tree", "local_path": "tree"}),
    )
    .await;
    assert_eq!(tree["files"], 2);
    assert_eq!(tree["bytes"], 3);

    call_ok(
        &client,
        "file_download",
        json!({"sandbox_id": "files", "path": "/workspace/in.txt", "local_path": "copy.txt"}),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("copy.txt")).unwrap(),
        "from the laptop\n"
    );
    let back = call_ok(
        &client,
        "file_download",
        json!({"sandbox_id": "files", "path": "/workspace/tree", "local_path": "tree-copy", "directory": true}),
    )
    .await;
    assert_eq!(back["files"], 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tree-copy/b.txt")).unwrap(),
        "bb"
    );

    for escape in ["../outside.txt", "/etc/passwd", ""] {
        let (error, _) = call_err(
            &client,
            "file_download",
            json!({"sandbox_id": "files", "path": "/workspace/in.txt", "local_path": escape}),
        )
        .await;
        assert_eq!(error["kind"], "arguments", "{escape:?}");
    }
    client.cancel().await.unwrap();

    // Without --local-dir, local paths are refused.
    let client = spawn_server(&router, &[]).await;
    let (error, text) = call_err(
        &client,
        "file_upload",
        json!({"sandbox_id": "files", "path": "/workspace/x", "local_path": "in.txt"}),
    )
    .await;
    assert_eq!(error["kind"], "arguments");
    assert!(text.contains("--local-dir"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_binary_serves_streamable_http_with_the_http_flag() {
    use rmcp::transport::StreamableHttpClientTransport;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let router = FakeRouter::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenttier-mcp"))
        .args(["--http", "127.0.0.1:0", "--read-only", "--api-url"])
        .arg(router.url())
        .args(["--api-key", "test-key"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn agenttier-mcp --http");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("a first line");
    let url = first
        .strip_prefix("agenttier-mcp: serving ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();

    let client =
        ().serve(StreamableHttpClientTransport::from_uri(url))
            .await
            .expect("MCP over streamable HTTP");
    let names = tool_names(&client).await;
    assert!(names.contains("sandbox_list") && !names.contains("sandbox_create"));
    let listed = call_ok(&client, "sandbox_list", json!({})).await;
    assert_eq!(listed["sandboxes"], json!([]));
    client.cancel().await.unwrap();
    child.kill().await.unwrap();
}
