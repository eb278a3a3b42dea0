//! One function per family: each leaf is a call (or two) on the SDK's facade and a print.

use std::io::{Read, Write};
use std::path::Path;

use agenttier::types::Policy;
use agenttier::types::PoolConfig;
use agenttier::user::ApiKeyRequest;
use agenttier::webhooks::WebhookEvent;
use agenttier::{
    BulkItem, Client, ExecOptions, InvokeEvent, Sandbox, SandboxFilter, ShareLinkOptions,
    WaitOptions,
};
use clap::CommandFactory;
use serde_json::{Value, json};

use crate::Failure;
use crate::args::*;
use crate::output::{emit, emit_value};
use crate::{config, progress};

const SANDBOX_COLUMNS: &[&str] = &[
    "sandboxId",
    "namespace",
    "status",
    "templateRef",
    "createdAt",
];

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    let out = g.output;
    match cli.command {
        Command::Version => {
            let v = json!({
                "version": env!("CARGO_PKG_VERSION"),
                "userAgent": agenttier::USER_AGENT,
            });
            match out {
                Output::Json => emit_value(out, &v, &[])?,
                Output::Text => println!(
                    "agenttier {} ({})",
                    env!("CARGO_PKG_VERSION"),
                    agenttier::USER_AGENT
                ),
            }
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "agenttier", &mut std::io::stdout());
        }
        #[cfg(feature = "mcp")]
        Command::Mcp(args) => mcp(config::client(g)?, g, args).await?,
        Command::Login => {
            let client = config::client(g)?;
            let me = client.user().me().await?;
            let path = config::save(g, client.base_url())?;
            match out {
                Output::Json => emit_value(
                    out,
                    &json!({"user": me, "apiUrl": client.base_url(), "config": path}),
                    &[],
                )?,
                Output::Text => println!(
                    "Logged in to {} as {}; saved to {}",
                    client.base_url(),
                    display_user(&me),
                    path.display()
                ),
            }
        }
        Command::Whoami => {
            let me = config::client(g)?.user().me().await?;
            emit(out, &me, &[])?;
        }
        Command::Sandbox(cmd) => sandbox(&config::client(g)?, g, cmd).await?,
        Command::Template(cmd) => {
            let t = config::client(g)?.templates();
            match cmd {
                TemplateCmd::List => {
                    emit(out, &t.list().await?, &["name", "image", "description"])?
                }
                TemplateCmd::Get { name } => emit(out, &t.get(&name).await?, &[])?,
            }
        }
        Command::Configure(a) => configure(&config::client(g)?, out, a).await?,
        Command::Invoke(a) => invoke(&config::client(g)?, out, a).await?,
        Command::Governance(cmd) => {
            let gov = config::client(g)?.governance();
            match cmd {
                GovernanceCmd::List => emit(out, &gov.list().await?, &[])?,
                GovernanceCmd::Get { namespace } => emit(out, &gov.get(&namespace).await?, &[])?,
                GovernanceCmd::Set { namespace, file } => {
                    let policy: Policy = read_json(&file).await?;
                    let saved = if namespace == "cluster" {
                        gov.set_cluster(&policy).await?
                    } else {
                        gov.set(&namespace, &policy).await?
                    };
                    emit(out, &saved, &[])?;
                }
                GovernanceCmd::Delete { namespace } => {
                    gov.delete(&namespace).await?;
                    done(out, json!({"namespace": namespace, "status": "deleted"}))?;
                }
                GovernanceCmd::Effective { namespace } => {
                    let p = match namespace.or_else(|| g.namespace.clone()) {
                        Some(ns) => gov.effective_in(&ns).await?,
                        None => gov.effective().await?,
                    };
                    emit(out, &p, &[])?;
                }
            }
        }
        Command::Audit(AuditCmd::List) => {
            let events = config::client(g)?.admin().audit_events().await?;
            emit(
                out,
                &events,
                &["timestamp", "eventType", "namespace", "sandboxId"],
            )?;
        }
        Command::Analytics(cmd) => {
            let admin = config::client(g)?.admin();
            match cmd {
                AnalyticsCmd::Usage => emit(out, &admin.usage().await?, &[])?,
                AnalyticsCmd::Costs => emit(out, &admin.costs().await?, &[])?,
            }
        }
        Command::Admin(cmd) => {
            let admin = config::client(g)?.admin();
            match cmd {
                AdminCmd::Sandboxes => {
                    let list = match &g.namespace {
                        Some(ns) => admin.sandboxes_in(ns).await?,
                        None => admin.sandboxes().await?,
                    };
                    emit(out, &list, SANDBOX_COLUMNS)?;
                }
                AdminCmd::Sharing => emit(out, &admin.sharing().await?, &[])?,
            }
        }
        Command::User(cmd) => {
            let user = config::client(g)?.user();
            match cmd {
                UserCmd::PreferencesGet => emit(out, &user.preferences().await?, &[])?,
                UserCmd::PreferencesSet { file } => {
                    let prefs: serde_json::Map<String, Value> = read_json(&file).await?;
                    emit(out, &user.set_preferences(&prefs).await?, &[])?;
                }
            }
        }
        Command::Apikeys(cmd) => {
            let keys = config::client(g)?.api_keys();
            match cmd {
                ApiKeysCmd::List => emit(
                    out,
                    &keys.list().await?,
                    &["id", "name", "sandboxId", "createdAt", "expiresAt"],
                )?,
                ApiKeysCmd::Create {
                    name,
                    sandbox_id,
                    action_groups,
                    expires_in,
                } => {
                    let mut req = match sandbox_id {
                        Some(sb) if action_groups.is_empty() => ApiKeyRequest::sandbox_scoped(
                            name,
                            sb,
                            &agenttier::user::ActionGroup::ALL,
                        ),
                        Some(sb) => ApiKeyRequest::sandbox_scoped(name, sb, &action_groups),
                        None => ApiKeyRequest::user(name),
                    };
                    if let Some(d) = expires_in {
                        req = req.expires_in(d);
                    }
                    emit(out, &keys.create(req).await?, &[])?;
                }
                ApiKeysCmd::Revoke { id } => emit(out, &keys.revoke(&id).await?, &[])?,
            }
        }
        Command::Warmpool(cmd) => {
            let pool = config::client(g)?.warm_pool();
            match cmd {
                WarmPoolCmd::Status => emit(out, &pool.status().await?, &[])?,
                WarmPoolCmd::Config { file } => {
                    let pools: Vec<PoolConfig> = read_json(&file).await?;
                    emit(out, &pool.configure(&pools).await?, &[])?;
                }
            }
        }
        Command::Cluster(cmd) => {
            let cluster = config::client(g)?.cluster();
            match cmd {
                ClusterCmd::Status => emit(out, &cluster.status().await?, &[])?,
                ClusterCmd::Nodes => emit(out, &cluster.nodes().await?, &[])?,
                ClusterCmd::HeadroomGet => emit(out, &cluster.headroom().await?, &[])?,
                ClusterCmd::HeadroomSet {
                    replicas,
                    cpu,
                    memory,
                } => {
                    let mut set = cluster.set_headroom(replicas);
                    if let Some(c) = cpu {
                        set = set.cpu(c);
                    }
                    if let Some(m) = memory {
                        set = set.memory(m);
                    }
                    match set.send().await? {
                        Some(h) => emit(out, &h, &[])?,
                        None => done(out, json!({"replicas": replicas, "status": "saved"}))?,
                    }
                }
            }
        }
        Command::Webhooks(cmd) => {
            let hooks = config::client(g)?.webhooks();
            match cmd {
                WebhooksCmd::Create {
                    url,
                    event_types,
                    sandbox_id,
                } => {
                    let events = event_types.iter().map(|e| WebhookEvent::from_wire(e));
                    let mut create = hooks.create(url).events(events);
                    if let Some(id) = sandbox_id {
                        create = create.sandbox(id);
                    }
                    if let Some(ns) = &g.namespace {
                        create = create.namespace(ns.clone());
                    }
                    emit(out, &create.send().await?, &[])?;
                }
                WebhooksCmd::List => emit(
                    out,
                    &hooks.list().await?,
                    &["id", "url", "eventTypes", "disabled"],
                )?,
                WebhooksCmd::Delete { id } => {
                    hooks.delete(&id).await?;
                    done(out, json!({"id": id, "status": "deleted"}))?;
                }
                WebhooksCmd::Deliveries { id } => emit(out, &hooks.deliveries(&id).await?, &[])?,
            }
        }
    }
    Ok(())
}

fn display_user(me: &agenttier::types::CurrentUser) -> String {
    if me.email.is_empty() {
        me.name.clone()
    } else {
        me.email.clone()
    }
}

/// A confirmation: the JSON object, or its `status` and the first field in text.
fn done(out: Output, v: Value) -> Result<(), Failure> {
    match out {
        Output::Json => emit_value(out, &v, &[])?,
        Output::Text => {
            let obj = v.as_object();
            let subject = obj
                .and_then(|m| m.iter().find(|(k, _)| *k != "status"))
                .map(|(_, v)| crate::output::scalar(v))
                .unwrap_or_default();
            let status = obj
                .and_then(|m| m.get("status"))
                .map(crate::output::scalar)
                .unwrap_or_default();
            println!("{subject}: {status}");
        }
    }
    Ok(())
}

fn summary_json(sb: &Sandbox) -> Value {
    match sb.summary() {
        Some(s) => serde_json::to_value(s).unwrap_or(Value::Null),
        None => json!({"sandboxId": sb.id(), "name": sb.name()}),
    }
}

async fn sandbox(client: &Client, g: &Global, cmd: SandboxCmd) -> Result<(), Failure> {
    let out = g.output;
    match cmd {
        SandboxCmd::List { phase, template } => {
            let mut filter = SandboxFilter::default();
            if let Some(ns) = &g.namespace {
                filter = filter.namespace(ns.clone());
            }
            if let Some(p) = phase {
                filter = filter.phase(agenttier::Phase::from_wire(&p));
            }
            if let Some(t) = template {
                filter = filter.template(t);
            }
            let list = client.list_sandboxes_with(filter).await?;
            emit(out, &list, SANDBOX_COLUMNS)?;
        }
        SandboxCmd::Get { id } => {
            let sb = client.get_sandbox(&id).await?;
            emit_value(out, &summary_json(&sb), &[])?;
        }
        SandboxCmd::Create(a) => {
            let mut create = client.create_sandbox(a.name).template(a.template);
            if let Some(ns) = &g.namespace {
                create = create.namespace(ns.clone());
            }
            if let Some(d) = a.timeout {
                create = create.timeout(d);
            }
            if let Some(d) = a.idle_timeout {
                create = create.idle_timeout(d);
            }
            if let Some(s) = a.storage_size {
                create = create.storage_size(s);
            }
            if a.wait {
                create =
                    create.wait_until_running_with(WaitOptions::default().timeout(a.wait_timeout));
            }
            let spin = if a.wait {
                progress::spinner("waiting for Running")
            } else {
                None
            };
            let sb = create.send().await;
            progress::finish(spin);
            emit_value(out, &summary_json(&sb?), &[])?;
        }
        SandboxCmd::Stop { id, wait } => {
            let stopping = client.sandbox(&id)?.stop().await?;
            if wait {
                let spin = progress::spinner("waiting for Stopped");
                let s = stopping.wait().await;
                progress::finish(spin);
                emit(out, &s?, &[])?;
            } else {
                done(
                    out,
                    json!({"sandboxId": id, "status": stopping.ack().status}),
                )?;
            }
        }
        SandboxCmd::Resume { id, wait } => {
            let resuming = client.sandbox(&id)?.resume().await?;
            if wait {
                let spin = progress::spinner("waiting for Running");
                let s = resuming.wait().await;
                progress::finish(spin);
                emit(out, &s?, &[])?;
            } else {
                done(
                    out,
                    json!({"sandboxId": id, "status": resuming.ack().status}),
                )?;
            }
        }
        SandboxCmd::Delete { id, wait } => {
            let deleting = client.sandbox(&id)?.delete().await?;
            if wait {
                let spin = progress::spinner("waiting until deleted");
                let r = deleting.wait().await;
                progress::finish(spin);
                r?;
                done(out, json!({"sandboxId": id, "status": "deleted"}))?;
            } else {
                done(out, json!({"sandboxId": id, "status": "deleting"}))?;
            }
        }
        SandboxCmd::Clone {
            id,
            name,
            snapshot_class,
        } => {
            let mut c = client.sandbox(&id)?.clone_sandbox();
            if let Some(n) = name {
                c = c.name(n);
            }
            if let Some(s) = snapshot_class {
                c = c.snapshot_class(s);
            }
            emit(out, &c.send().await?.response, &[])?;
        }
        SandboxCmd::Exec(a) => {
            let mut options = ExecOptions::default();
            if let Some(d) = a.timeout {
                options = options.timeout(d);
            }
            for (k, v) in a.env {
                options = options.env(k, v);
            }
            if let Some(w) = a.workdir {
                options = options.workdir(w);
            }
            let sb = client.sandbox(&a.id)?;
            let r = sb.exec_argv_with(&a.command, options).await?;
            match out {
                Output::Json => emit_value(
                    out,
                    &json!({
                        "stdout": r.stdout,
                        "stderr": r.stderr,
                        "exitCode": r.exit_code,
                        "durationMs": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
                    }),
                    &[],
                )?,
                Output::Text => {
                    std::io::stdout().write_all(r.stdout.as_bytes())?;
                    std::io::stdout().flush()?;
                    std::io::stderr().write_all(r.stderr.as_bytes())?;
                }
            }
            exit_with(r.exit_code)?;
        }
        SandboxCmd::Wait { id, until, timeout } => {
            let sb = client.sandbox(&id)?;
            let options = WaitOptions::default().timeout(timeout);
            let spin = progress::spinner(&format!("waiting for {id}"));
            let r = match until {
                WaitFor::Running => sb.wait_until_running_with(options).await.map(Some),
                WaitFor::Stopped => sb.wait_until_stopped_with(options).await.map(Some),
                WaitFor::Deleted => sb.wait_until_deleted_with(options).await.map(|()| None),
            };
            progress::finish(spin);
            match r? {
                Some(s) => emit(out, &s, &[])?,
                None => done(out, json!({"sandboxId": id, "status": "deleted"}))?,
            }
        }
        SandboxCmd::Patch(a) => {
            let mut u = client.sandbox(&a.id)?.update();
            if let Some(d) = a.idle_timeout {
                u = u.idle_timeout(d);
            }
            if let Some(q) = a.cpu_limit {
                u = u.cpu_limit(q);
            }
            if let Some(q) = a.memory_limit {
                u = u.memory_limit(q);
            }
            if let Some(q) = a.cpu_request {
                u = u.cpu_request(q);
            }
            if let Some(q) = a.memory_request {
                u = u.memory_request(q);
            }
            for (k, v) in a.labels {
                u = u.label(k, v);
            }
            for (k, v) in a.annotations {
                u = u.annotation(k, v);
            }
            emit(out, &u.send().await?, &[])?;
        }
        SandboxCmd::BulkCreate { file } => {
            let raw: Vec<Value> = read_json(&file).await?;
            let mut items = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                items.push(
                    bulk_item(v, g.namespace.as_deref()).map_err(|m| {
                        Failure::Message(format!("{}: item {i}: {m}", file.display()))
                    })?,
                );
            }
            let results = client.create_sandboxes(items).await?;
            let failed = results.iter().any(|r| !r.is_created());
            emit(out, &results, &["index", "status", "sandboxId", "error"])?;
            if failed {
                return Err(Failure::Exit(1));
            }
        }
        SandboxCmd::BulkAction { action, ids } => {
            let results = client.bulk_action(action, &ids).await?;
            let failed = results.iter().any(|r| !r.is_ok());
            emit(out, &results, &["id", "status", "error"])?;
            if failed {
                return Err(Failure::Exit(1));
            }
        }
        SandboxCmd::Shell { id } => {
            crate::shell::run(client.sandbox(&id)?, g.namespace.clone()).await?;
        }
        SandboxCmd::Sharing(cmd) => sharing(client, out, cmd).await?,
        SandboxCmd::Backups(cmd) => backups(client, out, cmd).await?,
        SandboxCmd::Files(cmd) => files(client, out, cmd).await?,
        SandboxCmd::Ports(cmd) => ports(client, out, cmd).await?,
    }
    Ok(())
}

/// One bulk-create item: `name`, `template` or `templateRef.name`, optional `namespace`,
/// `timeout`, `idleTimeout` (seconds or 90s/5m/1h) and `storageSize`.
fn bulk_item(v: &Value, namespace: Option<&str>) -> Result<BulkItem, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let name = s("name").ok_or("missing \"name\"")?;
    let template = s("template")
        .or_else(|| {
            v.get("templateRef")
                .and_then(|t| t.get("name"))
                .and_then(Value::as_str)
        })
        .ok_or("missing \"template\" (or \"templateRef\": {\"name\": ...})")?;
    let mut item = BulkItem::new(name).template(template);
    if let Some(ns) = s("namespace").or(namespace) {
        item = item.namespace(ns);
    }
    if let Some(t) = s("timeout") {
        item = item.timeout(parse_duration(t)?);
    }
    if let Some(t) = s("idleTimeout") {
        item = item.idle_timeout(parse_duration(t)?);
    }
    if let Some(size) = s("storageSize") {
        item = item.storage_size(size);
    }
    Ok(item)
}

async fn sharing(client: &Client, out: Output, cmd: SharingCmd) -> Result<(), Failure> {
    match cmd {
        SharingCmd::List { id } => emit(out, &client.sandbox(&id)?.sharing().get().await?, &[])?,
        SharingCmd::Grant {
            id,
            identity,
            level,
            kind,
        } => {
            let s = client
                .sandbox(&id)?
                .sharing()
                .grant(&identity, level, kind)
                .await?;
            emit(out, &s, &[])?;
        }
        SharingCmd::Revoke { id, identity } => emit(
            out,
            &client.sandbox(&id)?.sharing().revoke(&identity).await?,
            &[],
        )?,
        SharingCmd::CreateLink {
            id,
            level,
            expires_in,
            max_uses,
        } => {
            let options = ShareLinkOptions {
                level,
                expires_in,
                max_uses,
            };
            emit(
                out,
                &client.sandbox(&id)?.sharing().create_link(options).await?,
                &[],
            )?;
        }
    }
    Ok(())
}

async fn backups(client: &Client, out: Output, cmd: BackupsCmd) -> Result<(), Failure> {
    match cmd {
        BackupsCmd::List { id } => emit(
            out,
            &client.sandbox(&id)?.backups().list().await?,
            &["name", "kind", "readyToUse", "createdAt", "restoreSize"],
        )?,
        BackupsCmd::Create { id, snapshot_class } => {
            let mut c = client.sandbox(&id)?.backups().create();
            if let Some(s) = snapshot_class {
                c = c.snapshot_class(s);
            }
            emit(out, &c.send().await?, &[])?;
        }
        BackupsCmd::Restore { id, snapshot, name } => {
            let mut r = client.sandbox(&id)?.backups().restore(snapshot);
            if let Some(n) = name {
                r = r.name(n);
            }
            emit(out, &r.send().await?.response, &[])?;
        }
        BackupsCmd::Delete { id, snapshot } => emit(
            out,
            &client.sandbox(&id)?.backups().delete(&snapshot).await?,
            &[],
        )?,
    }
    Ok(())
}

async fn files(client: &Client, out: Output, cmd: FilesCmd) -> Result<(), Failure> {
    match cmd {
        FilesCmd::Ls { id, path } => {
            let list = client.sandbox(&id)?.files().list(&path).await?;
            match out {
                Output::Json => emit(out, &list, &[])?,
                Output::Text => emit(out, &list.entries, &["mode", "size", "modifiedAt", "name"])?,
            }
        }
        FilesCmd::Cat { id, path } => {
            let data = client.sandbox(&id)?.files().read(&path).await?;
            match out {
                Output::Json => match std::str::from_utf8(&data) {
                    Ok(text) => emit_value(out, &json!({"path": path, "content": text}), &[])?,
                    Err(_) => {
                        use base64::Engine;
                        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
                        emit_value(out, &json!({"path": path, "contentBase64": b64}), &[])?
                    }
                },
                Output::Text => {
                    let mut o = std::io::stdout().lock();
                    o.write_all(&data)?;
                    o.flush()?;
                }
            }
        }
        FilesCmd::Upload { id, local, remote } => {
            let f = client.sandbox(&id)?.files();
            let (options, bar) = progress::transfer(&format!("upload {}", local.display()));
            let is_dir = std::fs::metadata(&local)
                .map_err(|e| Failure::Message(format!("{}: {e}", local.display())))?
                .is_dir();
            let moved = if is_dir {
                f.upload_dir_with(&local, &remote, options)
                    .await
                    .map(|t| (t.files, t.bytes))
            } else {
                f.upload_with(&local, &remote, options)
                    .await
                    .map(|b| (1, b))
            };
            progress::finish(bar);
            let (files, bytes) = moved?;
            transferred(out, "uploaded", &remote, files, bytes)?;
        }
        FilesCmd::Download {
            id,
            remote,
            local,
            recursive,
        } => {
            let f = client.sandbox(&id)?.files();
            let (options, bar) = progress::transfer(&format!("download {remote}"));
            let moved = if recursive || remote.ends_with('/') {
                f.download_dir_with(&remote, &local, options)
                    .await
                    .map(|t| (t.files, t.bytes))
            } else {
                f.download_with(&remote, &local, options)
                    .await
                    .map(|b| (1, b))
            };
            progress::finish(bar);
            let (files, bytes) = moved?;
            transferred(
                out,
                "downloaded",
                &local.display().to_string(),
                files,
                bytes,
            )?;
        }
        FilesCmd::Archive { id, path, dest } => {
            let (options, bar) = progress::transfer(&format!("archive {path}"));
            let r = client
                .sandbox(&id)?
                .files()
                .archive_with(&path, &dest, options)
                .await;
            progress::finish(bar);
            transferred(out, "archived", &dest.display().to_string(), 1, r?)?;
        }
        FilesCmd::Write {
            id,
            path,
            data,
            file,
        } => {
            let bytes: Vec<u8> = match (data, file) {
                (Some(d), _) => d.into_bytes(),
                (None, Some(f)) => read_input(&f).await?,
                (None, None) => Vec::new(),
            };
            let written = client.sandbox(&id)?.files().write(&path, bytes).await?;
            emit(out, &written, &[])?;
        }
    }
    Ok(())
}

fn transferred(
    out: Output,
    verb: &str,
    target: &str,
    files: u64,
    bytes: u64,
) -> Result<(), Failure> {
    match out {
        Output::Json => emit_value(
            out,
            &json!({"path": target, "files": files, "bytes": bytes}),
            &[],
        )?,
        Output::Text => println!("{verb} {target}: {files} file(s), {bytes} bytes"),
    }
    Ok(())
}

async fn ports(client: &Client, out: Output, cmd: PortsCmd) -> Result<(), Failure> {
    match cmd {
        PortsCmd::List { id } => emit(
            out,
            &client.sandbox(&id)?.ports().list().await?,
            &["port", "protocol", "previewUrl"],
        )?,
        PortsCmd::Forward { id, port, protocol } => {
            let p = client.sandbox(&id)?.ports();
            let fwd = match protocol {
                Some(proto) => p.forward_as(port, &proto).await?,
                None => p.forward(port).await?,
            };
            emit(out, &fwd, &[])?;
        }
        PortsCmd::Remove { id, port } => {
            client.sandbox(&id)?.ports().remove(port).await?;
            done(out, json!({"port": port, "status": "removed"}))?;
        }
    }
    Ok(())
}

async fn configure(client: &Client, out: Output, a: ConfigureArgs) -> Result<(), Failure> {
    let mut c = client.sandbox(&a.id)?.agent().configure();
    for (remote, local) in a.files {
        let content =
            std::fs::read(&local).map_err(|e| Failure::Message(format!("{local}: {e}")))?;
        c = c.file(remote, content);
    }
    if let Some(cmd) = a.install {
        c = c.install_command(split("--install", &cmd)?);
    }
    if let Some(cmd) = a.entrypoint {
        c = c.entrypoint(split("--entrypoint", &cmd)?);
    }
    let result = c
        .send_logging(|l| {
            if out == Output::Text {
                eprintln!("{}", l.data);
            }
        })
        .await?;
    emit(out, &result, &[])?;
    Ok(())
}

fn split(flag: &str, cmd: &str) -> Result<Vec<String>, Failure> {
    shlex::split(cmd)
        .ok_or_else(|| Failure::Message(format!("{flag}: unbalanced quotes in {cmd:?}")))
}

async fn invoke(client: &Client, out: Output, a: InvokeArgs) -> Result<(), Failure> {
    let agent = client.sandbox(&a.id)?.agent();
    if let Some(invoke_id) = a.cancel {
        agent.cancel(&invoke_id).await?;
        return done(out, json!({"invokeId": invoke_id, "status": "canceled"}));
    }
    let payload: Vec<u8> = match &a.input {
        Some(s) if s == "-" => read_input(Path::new("-")).await?,
        Some(s) if s.starts_with('@') => read_input(Path::new(&s[1..])).await?,
        Some(s) => s.clone().into_bytes(),
        None => Vec::new(),
    };
    let mut inv = agent.invoke(payload);
    if let Some(p) = a.prompt {
        inv = inv.prompt(p);
    }
    if let Some(t) = a.timeout {
        inv = inv.timeout(t);
    }
    if out == Output::Text {
        // Lines as they come: stdout's to stdout, stderr's to stderr.
        let mut events = inv.stream().await?;
        while let Some(ev) = events.next().await {
            match ev? {
                InvokeEvent::Log(l) if l.stream == "stderr" => eprintln!("{}", l.data),
                InvokeEvent::Log(l) => println!("{}", l.data),
                InvokeEvent::Exit(e) => return exit_with(e.exit_code),
                _ => {}
            }
        }
        return Err(Failure::Message(
            "invoke: the stream ended without an exit event".into(),
        ));
    }
    let r = inv.collect().await?;
    emit_value(
        out,
        &json!({
            "invokeId": r.invoke_id,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "exitCode": r.exit_code,
            "durationMs": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            "reason": r.reason,
        }),
        &[],
    )?;
    exit_with(r.exit_code)
}

/// A remote exit code as ours: 0 is success, anything else exits with it (negative codes,
/// such as the Router's -1 for a timeout, and codes above 255 become 1).
fn exit_with(code: i32) -> Result<(), Failure> {
    match code {
        0 => Ok(()),
        c => Err(Failure::Exit(
            u8::try_from(c).ok().filter(|c| *c != 0).unwrap_or(1),
        )),
    }
}

/// A file's bytes, or stdin's for `-` (read on a blocking thread, so Ctrl-C still works).
async fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    if path == Path::new("-") {
        return tokio::task::spawn_blocking(|| {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        })
        .await
        .map_err(|e| Failure::Message(format!("reading stdin: {e}")))?
        .map_err(|e| Failure::Message(format!("reading stdin: {e}")));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| Failure::Message(format!("{}: {e}", path.display())))
}

async fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let bytes = read_input(path).await?;
    serde_json::from_slice(&bytes).map_err(|e| Failure::Message(format!("{}: {e}", path.display())))
}

/// `agenttier mcp`: the MCP server of `agenttier-mcp` on this command line's client.
#[cfg(feature = "mcp")]
async fn mcp(client: Client, g: &Global, args: McpArgs) -> Result<(), Failure> {
    use agenttier_mcp::{HttpOptions, Server, ServerOptions};
    let mut options = ServerOptions::default()
        .admin(args.admin)
        .read_only(args.read_only);
    if let Some(ns) = &g.namespace {
        options = options.namespace(ns.clone());
    }
    if let Some(dir) = args.local_dir {
        options = options.local_dir(dir);
    }
    let server = Server::new(client, options);
    let served = match args.http {
        None => agenttier_mcp::serve_stdio(server).await,
        Some(addr) => {
            let http = args
                .allow_hosts
                .into_iter()
                .fold(HttpOptions::default(), HttpOptions::allowed_host);
            agenttier_mcp::serve_http_until_ctrl_c("agenttier mcp", addr, server, http).await
        }
    };
    served.map_err(|e| Failure::Message(format!("mcp server: {e}")))
}
