//! The tools: one method per tool, each a thin call into the SDK's facade.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use agenttier::{BulkAction, BulkItem, ExecOptions, ShareKind, ShareLevel, ShareLinkOptions};
use agenttier::{SandboxFilter, WaitOptions};
use base64::Engine as _;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Server;
use crate::args::*;
use crate::error::{Failure, failure_result};

/// Default wait for `wait` flags and the wait tools.
const DEFAULT_WAIT: Duration = Duration::from_secs(180);
/// Default client-side bound on an invoke.
const DEFAULT_INVOKE: Duration = Duration::from_secs(300);

type Out = Result<Value, Failure>;

/// Runs a tool body and turns its outcome into a tool result: JSON structured content, or
/// an error result that keeps the HTTP status and request id.
async fn run(body: impl Future<Output = Out>) -> CallToolResult {
    match body.await {
        Ok(Value::Object(map)) => CallToolResult::structured(Value::Object(map)),
        Ok(other) => CallToolResult::structured(json!({ "result": other })),
        Err(failure) => failure_result(&failure),
    }
}

fn to_json(value: impl Serialize) -> Out {
    serde_json::to_value(value).map_err(|e| Failure::Internal(format!("encoding the result: {e}")))
}

fn secs(s: Option<u64>) -> Option<Duration> {
    s.map(Duration::from_secs)
}

fn wait_options(timeout: Option<u64>) -> WaitOptions {
    WaitOptions::default().timeout(secs(timeout).unwrap_or(DEFAULT_WAIT))
}

/// Decodes `{encoding, content}` into bytes.
fn decode(content: &FileContent) -> Result<Vec<u8>, Failure> {
    match content.encoding {
        Encoding::Utf8 => Ok(content.content.clone().into_bytes()),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(content.content.trim())
            .map_err(|e| Failure::Arguments(format!("content is not valid base64: {e}"))),
    }
}

/// Encodes bytes as `{encoding, content}`: UTF-8 when asked or when valid, else base64.
fn encode(path: &str, bytes: &[u8], wanted: Option<Encoding>) -> Out {
    let as_text = match wanted {
        Some(Encoding::Base64) => None,
        Some(Encoding::Utf8) => Some(std::str::from_utf8(bytes).map_err(|_| {
            Failure::Arguments(format!(
                "{path} is not valid UTF-8; ask for encoding \"base64\""
            ))
        })?),
        None => std::str::from_utf8(bytes).ok(),
    };
    Ok(match as_text {
        Some(text) => {
            json!({"path": path, "size": bytes.len(), "encoding": "utf-8", "content": text})
        }
        None => json!({
            "path": path,
            "size": bytes.len(),
            "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    })
}

fn level(l: Level) -> ShareLevel {
    match l {
        Level::Viewer => ShareLevel::Viewer,
        Level::Collaborator => ShareLevel::Collaborator,
    }
}

impl Server {
    /// A `local_path` argument, resolved under the server's local directory: relative, with
    /// no `..`, and refused when the server was started without one.
    fn local_path(&self, given: &str) -> Result<PathBuf, Failure> {
        let Some(root) = &self.options.local_dir else {
            return Err(Failure::Arguments(
                "local paths are off: start the server with --local-dir DIR to allow them".into(),
            ));
        };
        let path = Path::new(given);
        if given.is_empty()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Failure::Arguments(format!(
                "local_path {given:?} must be relative to the local directory, without `..`"
            )));
        }
        Ok(root.join(path))
    }
}

fn summary_json(sb: &agenttier::Sandbox) -> Out {
    match sb.summary() {
        Some(s) => to_json(s),
        None => Ok(json!({"id": sb.id(), "name": sb.name(), "namespace": sb.namespace()})),
    }
}

#[tool_router(router = tool_router, vis = "pub(crate)")]
impl Server {
    // ---- sandboxes -------------------------------------------------------------------

    #[tool(
        description = "Create a sandbox from a cluster template; with `wait`, answer once it is Running."
    )]
    async fn sandbox_create(&self, Parameters(a): Parameters<CreateArgs>) -> CallToolResult {
        run(async {
            let c = &self.client;
            let mut b = match a.name {
                Some(name) => c.create_sandbox(name),
                None => c.new_sandbox(),
            };
            b = b.template(a.template);
            if let Some(ns) = a.namespace.or_else(|| self.options.namespace.clone()) {
                b = b.namespace(ns);
            }
            if let Some(d) = secs(a.timeout_seconds) {
                b = b.timeout(d);
            }
            if let Some(d) = secs(a.idle_timeout_seconds) {
                b = b.idle_timeout(d);
            }
            if let Some(size) = a.storage_size {
                b = b.storage_size(size);
            }
            if a.wait {
                b = b.wait_until_running_with(wait_options(a.wait_timeout_seconds));
            }
            let sb = b.send().await?;
            summary_json(&sb)
        })
        .await
    }

    #[tool(
        description = "List your sandboxes (filter by namespace, phase, template).",
        annotations(read_only_hint = true)
    )]
    async fn sandbox_list(&self, Parameters(a): Parameters<ListArgs>) -> CallToolResult {
        run(async {
            let mut f = SandboxFilter::default();
            if let Some(ns) = a.namespace.or_else(|| self.options.namespace.clone()) {
                f = f.namespace(ns);
            }
            if let Some(p) = a.phase {
                f = f.phase(agenttier::Phase::from_wire(&p));
            }
            if let Some(t) = a.template {
                f = f.template(t);
            }
            let list = self.client.list_sandboxes_with(f).await?;
            Ok(json!({ "sandboxes": to_json(list)? }))
        })
        .await
    }

    #[tool(
        description = "A sandbox's current status (phase, template, URLs, ...).",
        annotations(read_only_hint = true)
    )]
    async fn sandbox_status(&self, Parameters(a): Parameters<SandboxArgs>) -> CallToolResult {
        run(async { to_json(self.client.sandbox(&a.sandbox_id)?.status().await?) }).await
    }

    #[tool(
        description = "Stop a sandbox (its workspace is kept); with `wait`, answer once Stopped."
    )]
    async fn sandbox_stop(&self, Parameters(a): Parameters<LifecycleArgs>) -> CallToolResult {
        run(async {
            let stopping = self.client.sandbox(&a.sandbox_id)?.stop().await?;
            if a.wait {
                to_json(
                    stopping
                        .wait_with(wait_options(a.wait_timeout_seconds))
                        .await?,
                )
            } else {
                to_json(stopping.ack())
            }
        })
        .await
    }

    #[tool(description = "Resume a stopped sandbox; with `wait`, answer once Running.")]
    async fn sandbox_resume(&self, Parameters(a): Parameters<LifecycleArgs>) -> CallToolResult {
        run(async {
            let resuming = self.client.sandbox(&a.sandbox_id)?.resume().await?;
            if a.wait {
                to_json(
                    resuming
                        .wait_with(wait_options(a.wait_timeout_seconds))
                        .await?,
                )
            } else {
                to_json(resuming.ack())
            }
        })
        .await
    }

    #[tool(
        description = "Delete a sandbox and its workspace; with `wait`, answer once it is gone.",
        annotations(destructive_hint = true)
    )]
    async fn sandbox_terminate(&self, Parameters(a): Parameters<LifecycleArgs>) -> CallToolResult {
        run(async {
            let deleting = self.client.sandbox(&a.sandbox_id)?.delete().await?;
            if a.wait {
                deleting
                    .wait_with(wait_options(a.wait_timeout_seconds))
                    .await?;
                Ok(json!({"id": a.sandbox_id, "deleted": true}))
            } else {
                Ok(json!({"id": a.sandbox_id, "deleting": true}))
            }
        })
        .await
    }

    #[tool(description = "Copy a sandbox (workspace included) into a new one.")]
    async fn sandbox_clone(&self, Parameters(a): Parameters<CloneArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.sandbox(&a.sandbox_id)?.clone_sandbox();
            if let Some(n) = a.name {
                b = b.name(n);
            }
            if let Some(c) = a.snapshot_class {
                b = b.snapshot_class(c);
            }
            let cloned = b.send().await?;
            Ok(json!({"sandbox_id": cloned.sandbox.id(), "response": to_json(cloned.response)?}))
        })
        .await
    }

    #[tool(
        description = "Run a command in a sandbox (`command` through sh -c, or `argv`); returns stdout, stderr and the exit code."
    )]
    async fn sandbox_run_command(
        &self,
        Parameters(a): Parameters<RunCommandArgs>,
    ) -> CallToolResult {
        run(async {
            let sb = self.client.sandbox(&a.sandbox_id)?;
            let mut opts = ExecOptions::default();
            for (k, v) in a.env {
                opts = opts.env(k, v);
            }
            if let Some(w) = a.workdir {
                opts = opts.workdir(w);
            }
            if let Some(d) = secs(a.timeout_seconds) {
                opts = opts.timeout(d);
            }
            let out = match (a.command, a.argv) {
                (Some(cmd), None) => sb.exec_with(&cmd, opts).await?,
                (None, Some(argv)) => sb.exec_argv_with(&argv, opts).await?,
                _ => {
                    return Err(Failure::Arguments(
                        "give exactly one of `command` and `argv`".into(),
                    ));
                }
            };
            Ok(json!({
                "stdout": out.stdout,
                "stderr": out.stderr,
                "exit_code": out.exit_code,
                "duration_ms": u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX),
            }))
        })
        .await
    }

    #[tool(
        description = "List a sandbox's forwarded ports.",
        annotations(read_only_hint = true)
    )]
    async fn sandbox_list_ports(&self, Parameters(a): Parameters<SandboxArgs>) -> CallToolResult {
        run(async {
            let ports = self.client.sandbox(&a.sandbox_id)?.ports().list().await?;
            Ok(json!({"ports": to_json(ports)?}))
        })
        .await
    }

    #[tool(description = "Expose a port of a sandbox (a preview URL through the Router).")]
    async fn sandbox_forward_port(&self, Parameters(a): Parameters<PortArgs>) -> CallToolResult {
        run(async {
            let ports = self.client.sandbox(&a.sandbox_id)?.ports();
            to_json(match a.protocol {
                Some(p) => ports.forward_as(a.port, &p).await?,
                None => ports.forward(a.port).await?,
            })
        })
        .await
    }

    #[tool(description = "Stop exposing a port of a sandbox.")]
    async fn sandbox_remove_port(&self, Parameters(a): Parameters<PortArgs>) -> CallToolResult {
        run(async {
            self.client
                .sandbox(&a.sandbox_id)?
                .ports()
                .remove(a.port)
                .await?;
            Ok(json!({"id": a.sandbox_id, "port": a.port, "removed": true}))
        })
        .await
    }

    #[tool(
        description = "Change a sandbox in place: labels, annotations, idle timeout, CPU and memory."
    )]
    async fn sandbox_update(&self, Parameters(a): Parameters<UpdateArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.sandbox(&a.sandbox_id)?.update();
            if let Some(l) = a.labels {
                b = b.labels(l);
            }
            if let Some(an) = a.annotations {
                b = b.annotations(an);
            }
            if let Some(d) = secs(a.idle_timeout_seconds) {
                b = b.idle_timeout(d);
            }
            if let Some(q) = a.cpu_request {
                b = b.cpu_request(q);
            }
            if let Some(q) = a.cpu_limit {
                b = b.cpu_limit(q);
            }
            if let Some(q) = a.memory_request {
                b = b.memory_request(q);
            }
            if let Some(q) = a.memory_limit {
                b = b.memory_limit(q);
            }
            to_json(b.send().await?)
        })
        .await
    }

    #[tool(
        description = "Wait until a sandbox is Running (fails early if it goes to Error).",
        annotations(read_only_hint = true)
    )]
    async fn sandbox_wait_running(&self, Parameters(a): Parameters<WaitArgs>) -> CallToolResult {
        run(async {
            let sb = self.client.sandbox(&a.sandbox_id)?;
            to_json(
                sb.wait_until_running_with(wait_options(a.timeout_seconds))
                    .await?,
            )
        })
        .await
    }

    #[tool(
        description = "Wait until a sandbox is Stopped.",
        annotations(read_only_hint = true)
    )]
    async fn sandbox_wait_stopped(&self, Parameters(a): Parameters<WaitArgs>) -> CallToolResult {
        run(async {
            let sb = self.client.sandbox(&a.sandbox_id)?;
            to_json(
                sb.wait_until_stopped_with(wait_options(a.timeout_seconds))
                    .await?,
            )
        })
        .await
    }

    #[tool(description = "Create many sandboxes in one call (each item answered on its own).")]
    async fn sandbox_create_bulk(
        &self,
        Parameters(a): Parameters<BulkCreateArgs>,
    ) -> CallToolResult {
        run(async {
            let items = a
                .items
                .into_iter()
                .map(|i| {
                    let mut item = BulkItem::new(i.name).template(i.template);
                    if let Some(ns) = i.namespace.or_else(|| self.options.namespace.clone()) {
                        item = item.namespace(ns);
                    }
                    if let Some(d) = secs(i.timeout_seconds) {
                        item = item.timeout(d);
                    }
                    if let Some(d) = secs(i.idle_timeout_seconds) {
                        item = item.idle_timeout(d);
                    }
                    if let Some(s) = i.storage_size {
                        item = item.storage_size(s);
                    }
                    item
                })
                .collect();
            Ok(json!({"results": to_json(self.client.create_sandboxes(items).await?)?}))
        })
        .await
    }

    #[tool(
        description = "Stop, resume or delete many sandboxes in one call (each answered on its own).",
        annotations(destructive_hint = true)
    )]
    async fn sandbox_bulk_action(
        &self,
        Parameters(a): Parameters<BulkActionArgs>,
    ) -> CallToolResult {
        run(async {
            let action = match a.action {
                Action::Stop => BulkAction::Stop,
                Action::Resume => BulkAction::Resume,
                Action::Delete => BulkAction::Delete,
            };
            let results = self.client.bulk_action(action, &a.sandbox_ids).await?;
            Ok(json!({"results": to_json(results)?}))
        })
        .await
    }

    // ---- templates and the caller -------------------------------------------------------

    #[tool(
        description = "List the cluster sandbox templates.",
        annotations(read_only_hint = true)
    )]
    async fn template_list(&self) -> CallToolResult {
        run(async { Ok(json!({"templates": to_json(self.client.templates().list().await?)?})) })
            .await
    }

    #[tool(
        description = "One cluster sandbox template.",
        annotations(read_only_hint = true)
    )]
    async fn template_get(&self, Parameters(a): Parameters<NameArgs>) -> CallToolResult {
        run(async { to_json(self.client.templates().get(&a.name).await?) }).await
    }

    #[tool(
        description = "Who the server acts as (the caller's identity).",
        annotations(read_only_hint = true)
    )]
    async fn current_user(&self) -> CallToolResult {
        run(async { to_json(self.client.user().me().await?) }).await
    }

    // ---- files --------------------------------------------------------------------------

    #[tool(
        description = "List a directory of a sandbox (default /workspace).",
        annotations(read_only_hint = true)
    )]
    async fn file_list(&self, Parameters(a): Parameters<ListFilesArgs>) -> CallToolResult {
        run(async {
            let dir = a.path.unwrap_or_else(|| "/workspace".into());
            to_json(
                self.client
                    .sandbox(&a.sandbox_id)?
                    .files()
                    .list(&dir)
                    .await?,
            )
        })
        .await
    }

    #[tool(
        description = "Read a file of a sandbox: {path, size, encoding: utf-8|base64, content}.",
        annotations(read_only_hint = true)
    )]
    async fn file_read(&self, Parameters(a): Parameters<ReadFileArgs>) -> CallToolResult {
        run(async {
            let bytes = self
                .client
                .sandbox(&a.sandbox_id)?
                .files()
                .read(&a.path)
                .await?;
            encode(&a.path, &bytes, a.encoding)
        })
        .await
    }

    #[tool(
        description = "Write a file in a sandbox from {encoding: utf-8|base64, content} (parents created)."
    )]
    async fn file_write(&self, Parameters(a): Parameters<WriteFileArgs>) -> CallToolResult {
        run(async {
            let sb = self.client.sandbox(&a.sandbox_id)?;
            let bytes = decode(&a.content)?;
            to_json(sb.files().write(&a.path, bytes).await?)
        })
        .await
    }

    #[tool(
        description = "Upload to a sandbox: inline {encoding, content}, or a local file or directory (`local_path`, relative to the server's --local-dir). Large files go in parts and land atomically."
    )]
    async fn file_upload(&self, Parameters(a): Parameters<UploadArgs>) -> CallToolResult {
        run(async {
            let files = self.client.sandbox(&a.sandbox_id)?.files();
            match (a.content, a.local_path) {
                (Some(content), None) => {
                    let bytes = decode(&content)?;
                    let size = bytes.len();
                    files.write(&a.path, bytes).await?;
                    Ok(json!({"path": a.path, "files": 1, "bytes": size}))
                }
                (None, Some(given)) => {
                    let local = self.local_path(&given)?;
                    let meta = tokio::fs::metadata(&local)
                        .await
                        .map_err(|e| Failure::Arguments(format!("local_path {given}: {e}")))?;
                    if meta.is_dir() {
                        let t = files.upload_dir(&local, &a.path).await?;
                        Ok(json!({"path": a.path, "files": t.files, "bytes": t.bytes}))
                    } else {
                        let n = files.upload(&local, &a.path).await?;
                        Ok(json!({"path": a.path, "files": 1, "bytes": n}))
                    }
                }
                _ => Err(Failure::Arguments(
                    "give exactly one of `content` and `local_path`".into(),
                )),
            }
        })
        .await
    }

    #[tool(
        description = "Download from a sandbox: the content inline ({encoding, content}), or into `local_path` under the server's --local-dir (a whole directory with `directory`).",
        annotations(read_only_hint = true)
    )]
    async fn file_download(&self, Parameters(a): Parameters<DownloadArgs>) -> CallToolResult {
        run(async {
            let files = self.client.sandbox(&a.sandbox_id)?.files();
            match (a.local_path, a.directory) {
                (Some(given), true) => {
                    let t = files.download_dir(&a.path, self.local_path(&given)?).await?;
                    Ok(json!({"path": a.path, "local_path": given, "files": t.files, "bytes": t.bytes}))
                }
                (Some(given), false) => {
                    let n = files.download(&a.path, self.local_path(&given)?).await?;
                    Ok(json!({"path": a.path, "local_path": given, "files": 1, "bytes": n}))
                }
                (None, true) => Err(Failure::Arguments(
                    "`directory` needs a `local_path` to download into".into(),
                )),
                (None, false) => {
                    let bytes = files.read(&a.path).await?;
                    encode(&a.path, &bytes, a.encoding)
                }
            }
        })
        .await
    }

    // ---- sharing ------------------------------------------------------------------------

    #[tool(
        description = "Who a sandbox is shared with.",
        annotations(read_only_hint = true)
    )]
    async fn sharing_list(&self, Parameters(a): Parameters<SandboxArgs>) -> CallToolResult {
        run(async { to_json(self.client.sandbox(&a.sandbox_id)?.sharing().get().await?) }).await
    }

    #[tool(description = "Share a sandbox with a user or group (viewer or collaborator).")]
    async fn sharing_grant(&self, Parameters(a): Parameters<GrantArgs>) -> CallToolResult {
        run(async {
            let kind = match a.kind {
                Kind::User => ShareKind::User,
                Kind::Group => ShareKind::Group,
            };
            let sharing = self.client.sandbox(&a.sandbox_id)?.sharing();
            to_json(sharing.grant(&a.identity, level(a.level), kind).await?)
        })
        .await
    }

    #[tool(description = "Stop sharing a sandbox with a user or group.")]
    async fn sharing_revoke(&self, Parameters(a): Parameters<RevokeArgs>) -> CallToolResult {
        run(async {
            to_json(
                self.client
                    .sandbox(&a.sandbox_id)?
                    .sharing()
                    .revoke(&a.identity)
                    .await?,
            )
        })
        .await
    }

    #[tool(description = "Create a share link for a sandbox.")]
    async fn sharing_create_link(
        &self,
        Parameters(a): Parameters<ShareLinkArgs>,
    ) -> CallToolResult {
        run(async {
            let opts = ShareLinkOptions {
                level: level(a.level),
                expires_in: secs(a.expires_in_seconds),
                max_uses: a.max_uses,
            };
            to_json(
                self.client
                    .sandbox(&a.sandbox_id)?
                    .sharing()
                    .create_link(opts)
                    .await?,
            )
        })
        .await
    }

    // ---- backups ------------------------------------------------------------------------

    #[tool(
        description = "List a sandbox's backups (volume snapshots).",
        annotations(read_only_hint = true)
    )]
    async fn backup_list(&self, Parameters(a): Parameters<SandboxArgs>) -> CallToolResult {
        run(async {
            let list = self.client.sandbox(&a.sandbox_id)?.backups().list().await?;
            Ok(json!({"backups": to_json(list)?}))
        })
        .await
    }

    #[tool(description = "Back up a sandbox's workspace (a volume snapshot).")]
    async fn backup_create(&self, Parameters(a): Parameters<BackupCreateArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.sandbox(&a.sandbox_id)?.backups().create();
            if let Some(c) = a.snapshot_class {
                b = b.snapshot_class(c);
            }
            to_json(b.send().await?)
        })
        .await
    }

    #[tool(description = "Restore a backup into a new sandbox.")]
    async fn backup_restore(&self, Parameters(a): Parameters<BackupArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.sandbox(&a.sandbox_id)?.backups().restore(a.snapshot);
            if let Some(n) = a.name {
                b = b.name(n);
            }
            let restored = b.send().await?;
            Ok(json!({"sandbox_id": restored.sandbox.id(), "response": to_json(restored.response)?}))
        })
        .await
    }

    #[tool(description = "Delete a backup.", annotations(destructive_hint = true))]
    async fn backup_delete(&self, Parameters(a): Parameters<BackupArgs>) -> CallToolResult {
        run(async {
            to_json(
                self.client
                    .sandbox(&a.sandbox_id)?
                    .backups()
                    .delete(&a.snapshot)
                    .await?,
            )
        })
        .await
    }

    // ---- governance ---------------------------------------------------------------------

    #[tool(
        description = "List the governance policies (cluster and per namespace).",
        annotations(read_only_hint = true)
    )]
    async fn governance_list_policies(&self) -> CallToolResult {
        run(async { to_json(self.client.governance().list().await?) }).await
    }

    #[tool(
        description = "A namespace's stored governance policy.",
        annotations(read_only_hint = true)
    )]
    async fn governance_get_policy(
        &self,
        Parameters(a): Parameters<NamespaceRequiredArgs>,
    ) -> CallToolResult {
        run(async { to_json(self.client.governance().get(&a.namespace).await?) }).await
    }

    #[tool(
        description = "Replace a namespace's (or, without namespace, the cluster's) governance policy. Admin."
    )]
    async fn governance_set_policy(
        &self,
        Parameters(a): Parameters<SetPolicyArgs>,
    ) -> CallToolResult {
        run(async {
            let g = self.client.governance();
            to_json(match a.namespace {
                Some(ns) => g.set(&ns, &a.policy).await?,
                None => g.set_cluster(&a.policy).await?,
            })
        })
        .await
    }

    #[tool(
        description = "Delete a namespace's governance policy. Admin.",
        annotations(destructive_hint = true)
    )]
    async fn governance_delete_policy(
        &self,
        Parameters(a): Parameters<NamespaceRequiredArgs>,
    ) -> CallToolResult {
        run(async {
            self.client.governance().delete(&a.namespace).await?;
            Ok(json!({"namespace": a.namespace, "deleted": true}))
        })
        .await
    }

    #[tool(
        description = "The policy in force for a namespace (cluster and namespace merged).",
        annotations(read_only_hint = true)
    )]
    async fn governance_effective_policy(
        &self,
        Parameters(a): Parameters<NamespaceArgs>,
    ) -> CallToolResult {
        run(async {
            let g = self.client.governance();
            to_json(
                match a.namespace.or_else(|| self.options.namespace.clone()) {
                    Some(ns) => g.effective_in(&ns).await?,
                    None => g.effective().await?,
                },
            )
        })
        .await
    }

    // ---- analytics, audit, admin ----------------------------------------------------------

    #[tool(
        description = "Usage analytics. Admin.",
        annotations(read_only_hint = true)
    )]
    async fn analytics_usage(&self) -> CallToolResult {
        run(async { to_json(self.client.admin().usage().await?) }).await
    }

    #[tool(
        description = "Cost estimates per template. Admin.",
        annotations(read_only_hint = true)
    )]
    async fn analytics_costs(&self) -> CallToolResult {
        run(async { to_json(self.client.admin().costs().await?) }).await
    }

    #[tool(
        description = "The audit log's recent events. Admin.",
        annotations(read_only_hint = true)
    )]
    async fn audit_list_events(&self) -> CallToolResult {
        run(async { Ok(json!({"events": to_json(self.client.admin().audit_events().await?)?})) })
            .await
    }

    #[tool(
        description = "Every user's sandboxes (optionally one namespace). Admin.",
        annotations(read_only_hint = true)
    )]
    async fn admin_list_sandboxes(
        &self,
        Parameters(a): Parameters<NamespaceArgs>,
    ) -> CallToolResult {
        run(async {
            let admin = self.client.admin();
            let list = match a.namespace {
                Some(ns) => admin.sandboxes_in(&ns).await?,
                None => admin.sandboxes().await?,
            };
            Ok(json!({"sandboxes": to_json(list)?}))
        })
        .await
    }

    #[tool(
        description = "Sharing across the cluster. Admin.",
        annotations(read_only_hint = true)
    )]
    async fn admin_sharing_overview(&self) -> CallToolResult {
        run(async { to_json(self.client.admin().sharing().await?) }).await
    }

    // ---- the caller's preferences and keys ------------------------------------------------

    #[tool(
        description = "The caller's stored preferences.",
        annotations(read_only_hint = true)
    )]
    async fn user_get_preferences(&self) -> CallToolResult {
        run(async { to_json(self.client.user().preferences().await?) }).await
    }

    #[tool(description = "Replace the caller's preferences.")]
    async fn user_set_preferences(
        &self,
        Parameters(a): Parameters<PreferencesArgs>,
    ) -> CallToolResult {
        run(async { to_json(self.client.user().set_preferences(&a.preferences).await?) }).await
    }

    #[tool(
        description = "The caller's API keys (metadata only).",
        annotations(read_only_hint = true)
    )]
    async fn apikey_list(&self) -> CallToolResult {
        run(async { Ok(json!({"keys": to_json(self.client.api_keys().list().await?)?})) }).await
    }

    #[tool(
        description = "Mint an API key (user-level, or scoped to one sandbox and action groups). The answer holds the key once."
    )]
    async fn apikey_create(&self, Parameters(a): Parameters<ApiKeyCreateArgs>) -> CallToolResult {
        run(async {
            let mut req = match a.sandbox_id {
                Some(id) => {
                    let groups = a
                        .action_groups
                        .iter()
                        .map(|g| g.parse::<agenttier::user::ActionGroup>())
                        .collect::<Result<Vec<_>, _>>()?;
                    agenttier::user::ApiKeyRequest::sandbox_scoped(a.name, id, &groups)
                }
                None if !a.action_groups.is_empty() => {
                    return Err(Failure::Arguments(
                        "`action_groups` needs a `sandbox_id`".into(),
                    ));
                }
                None => agenttier::user::ApiKeyRequest::user(a.name),
            };
            if let Some(d) = secs(a.expires_in_seconds) {
                req = req.expires_in(d);
            }
            to_json(self.client.api_keys().create(req).await?)
        })
        .await
    }

    #[tool(
        description = "Revoke one of the caller's API keys.",
        annotations(destructive_hint = true)
    )]
    async fn apikey_revoke(&self, Parameters(a): Parameters<IdArgs>) -> CallToolResult {
        run(async { to_json(self.client.api_keys().revoke(&a.id).await?) }).await
    }

    // ---- warm pool and cluster ------------------------------------------------------------

    #[tool(
        description = "The warm pool's state.",
        annotations(read_only_hint = true)
    )]
    async fn warmpool_status(&self) -> CallToolResult {
        run(async { to_json(self.client.warm_pool().status().await?) }).await
    }

    #[tool(description = "Replace the warm pool's configuration (an empty list clears it). Admin.")]
    async fn warmpool_set_config(&self, Parameters(a): Parameters<WarmPoolArgs>) -> CallToolResult {
        run(async {
            let pool = self.client.warm_pool();
            to_json(if a.pools.is_empty() {
                pool.clear().await?
            } else {
                pool.configure(&a.pools).await?
            })
        })
        .await
    }

    #[tool(
        description = "The cluster's state (capacity, sandboxes).",
        annotations(read_only_hint = true)
    )]
    async fn cluster_status(&self) -> CallToolResult {
        run(async { to_json(self.client.cluster().status().await?) }).await
    }

    #[tool(
        description = "The cluster's nodes and their capacity. Admin.",
        annotations(read_only_hint = true)
    )]
    async fn cluster_nodes(&self) -> CallToolResult {
        run(async { to_json(self.client.cluster().nodes().await?) }).await
    }

    #[tool(
        description = "The cluster's headroom (placeholder capacity).",
        annotations(read_only_hint = true)
    )]
    async fn cluster_get_headroom(&self) -> CallToolResult {
        run(async { to_json(self.client.cluster().headroom().await?) }).await
    }

    #[tool(description = "Set the cluster's headroom (0-50 placeholder replicas). Admin.")]
    async fn cluster_set_headroom(
        &self,
        Parameters(a): Parameters<HeadroomArgs>,
    ) -> CallToolResult {
        run(async {
            let mut b = self.client.cluster().set_headroom(a.replicas);
            if let Some(c) = a.cpu {
                b = b.cpu(c);
            }
            if let Some(m) = a.memory {
                b = b.memory(m);
            }
            Ok(json!({"headroom": to_json(b.send().await?)?}))
        })
        .await
    }

    // ---- webhooks -----------------------------------------------------------------------

    #[tool(
        description = "Subscribe an https URL to sandbox events. The answer holds the signing secret once."
    )]
    async fn webhook_create(&self, Parameters(a): Parameters<WebhookCreateArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.webhooks().create(a.url).events(
                a.events
                    .iter()
                    .map(|e| agenttier::webhooks::WebhookEvent::from_wire(e)),
            );
            if let Some(id) = a.sandbox_id {
                b = b.sandbox(id);
            }
            if let Some(ns) = a.namespace {
                b = b.namespace(ns);
            }
            to_json(b.send().await?)
        })
        .await
    }

    #[tool(
        description = "Delete a webhook subscription.",
        annotations(destructive_hint = true)
    )]
    async fn webhook_delete(&self, Parameters(a): Parameters<IdArgs>) -> CallToolResult {
        run(async {
            self.client.webhooks().delete(&a.id).await?;
            Ok(json!({"id": a.id, "deleted": true}))
        })
        .await
    }

    #[tool(
        description = "Recent deliveries of a webhook.",
        annotations(read_only_hint = true)
    )]
    async fn webhook_deliveries(&self, Parameters(a): Parameters<IdArgs>) -> CallToolResult {
        run(async {
            Ok(json!({"deliveries": to_json(self.client.webhooks().deliveries(&a.id).await?)?}))
        })
        .await
    }

    #[tool(
        description = "The caller's webhook subscriptions.",
        annotations(read_only_hint = true)
    )]
    async fn webhook_list(&self) -> CallToolResult {
        run(async { Ok(json!({"webhooks": to_json(self.client.webhooks().list().await?)?})) }).await
    }

    // ---- agent mode ---------------------------------------------------------------------

    #[tool(
        description = "Configure the sandbox's agent: write files, run an install command, set the entrypoint. Answers when the install is done."
    )]
    async fn agent_configure(&self, Parameters(a): Parameters<ConfigureArgs>) -> CallToolResult {
        run(async {
            let mut b = self.client.sandbox(&a.sandbox_id)?.agent().configure();
            for f in &a.files {
                b = b.file(f.path.clone(), decode(&f.content)?);
            }
            if let Some(argv) = a.install_command {
                b = b.install_command(argv);
            }
            if let Some(argv) = a.entrypoint {
                b = b.entrypoint(argv);
            }
            to_json(b.send().await?)
        })
        .await
    }

    #[tool(
        description = "Invoke the sandbox's agent with an input (and prompt); collects its output, exit code and reason, within a timeout."
    )]
    async fn agent_invoke(&self, Parameters(a): Parameters<InvokeArgs>) -> CallToolResult {
        run(async {
            let limit = secs(a.timeout_seconds).unwrap_or(DEFAULT_INVOKE);
            let mut b = self
                .client
                .sandbox(&a.sandbox_id)?
                .agent()
                .invoke(a.input)
                .timeout(limit);
            if let Some(p) = a.prompt {
                b = b.prompt(p);
            }
            let out = tokio::time::timeout(limit + Duration::from_secs(30), b.collect())
                .await
                .map_err(|_| Failure::Timeout(limit))??;
            Ok(json!({
                "invoke_id": out.invoke_id,
                "stdout": out.stdout,
                "stderr": out.stderr,
                "exit_code": out.exit_code,
                "reason": out.reason,
                "success": out.success(),
                "duration_ms": u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX),
            }))
        })
        .await
    }

    #[tool(
        description = "The log of the agent's last install command (from agent_configure).",
        annotations(read_only_hint = true)
    )]
    async fn agent_install_log(&self, Parameters(a): Parameters<SandboxArgs>) -> CallToolResult {
        run(async {
            let log = self
                .client
                .sandbox(&a.sandbox_id)?
                .agent()
                .install_log()
                .await?;
            Ok(json!({"log": String::from_utf8_lossy(&log)}))
        })
        .await
    }

    #[tool(description = "Cancel a running invocation of the sandbox's agent.")]
    async fn agent_cancel(&self, Parameters(a): Parameters<CancelArgs>) -> CallToolResult {
        run(async {
            self.client
                .sandbox(&a.sandbox_id)?
                .agent()
                .cancel(&a.invoke_id)
                .await?;
            Ok(json!({"invoke_id": a.invoke_id, "canceled": true}))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_in_both_encodings() {
        let text = FileContent {
            encoding: Encoding::Utf8,
            content: "héllo".into(),
        };
        assert_eq!(decode(&text).unwrap(), "héllo".as_bytes());
        let b64 = FileContent {
            encoding: Encoding::Base64,
            content: "AP8Q".into(),
        };
        assert_eq!(decode(&b64).unwrap(), vec![0, 255, 16]);
        let out = encode("/a", &[0, 255, 16], None).unwrap();
        assert_eq!(out["encoding"], "base64");
        assert_eq!(out["content"], "AP8Q");
        let out = encode("/a", "héllo".as_bytes(), None).unwrap();
        assert_eq!(out["encoding"], "utf-8");
        let out = encode("/a", b"hi", Some(Encoding::Base64)).unwrap();
        assert_eq!(out["content"], "aGk=");
    }

    #[test]
    fn bad_content_is_an_argument_error() {
        let bad = FileContent {
            encoding: Encoding::Base64,
            content: "%%%".into(),
        };
        assert!(matches!(decode(&bad), Err(Failure::Arguments(_))));
        assert!(matches!(
            encode("/a", &[0xff], Some(Encoding::Utf8)),
            Err(Failure::Arguments(_))
        ));
    }
}
