//! The scenarios, in the order they run.

use std::time::{Duration, Instant};

use agenttier::auth::ApiKey;
use agenttier::types::Policy;
use agenttier::user::{ActionGroup, ApiKeyRequest};
use agenttier::webhooks::WebhookEvent;
use agenttier::{
    BulkAction, Client, Sandbox, SandboxSpec, ShareKind, ShareLevel, ShareLinkOptions,
};
use serde_json::{Value, json};

use crate::report::Failure;
use crate::runner::{Ctx, Resource, Scenario, StepError, ensure};

/// Every scenario, in run order.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "health",
        about: "GET /healthz, /readyz and /api/v1/user/me answer",
        admin: false,
        run: |c| Box::pin(health(c)),
    },
    Scenario {
        name: "sandbox",
        about: "create, wait, get, list, exec, stop, resume, delete, 404 after delete",
        admin: false,
        run: |c| Box::pin(sandbox(c)),
    },
    Scenario {
        name: "files",
        about: "small write/read/list, a 200 KiB split upload joined in the sandbox",
        admin: false,
        run: |c| Box::pin(files(c)),
    },
    Scenario {
        name: "ports",
        about: "forward, list, preview URL, remove",
        admin: false,
        run: |c| Box::pin(ports(c)),
    },
    Scenario {
        name: "sharing",
        about: "grant a user and a group, share link, revoke",
        admin: false,
        run: |c| Box::pin(sharing(c)),
    },
    Scenario {
        name: "backups",
        about: "backup, wait until ready, restore into a new sandbox, files survive, delete",
        admin: false,
        run: |c| Box::pin(backups(c)),
    },
    Scenario {
        name: "bulk",
        about: "bulk create two sandboxes, bulk stop, bulk delete",
        admin: false,
        run: |c| Box::pin(bulk(c)),
    },
    Scenario {
        name: "agent",
        about: "agent mode: configure a script and entrypoint, invoke, collect the output",
        admin: false,
        run: |c| Box::pin(agent(c)),
    },
    Scenario {
        name: "templates",
        about: "list and get the template the suite uses",
        admin: false,
        run: |c| Box::pin(templates(c)),
    },
    Scenario {
        name: "api-keys",
        about: "create a user key, it authenticates, list, revoke",
        admin: false,
        run: |c| Box::pin(api_keys(c)),
    },
    Scenario {
        name: "scoped-key",
        about: "a sandbox-scoped key runs commands there, is refused elsewhere, dies when revoked",
        admin: false,
        run: |c| Box::pin(scoped_key(c)),
    },
    Scenario {
        name: "webhooks",
        about: "subscribe for a sandbox, list, deliveries, delete",
        admin: false,
        run: |c| Box::pin(webhooks(c)),
    },
    Scenario {
        name: "preferences",
        about: "read, set a key, read back, restore the original",
        admin: false,
        run: |c| Box::pin(preferences(c)),
    },
    Scenario {
        name: "governance",
        about: "list policies and the effective policy",
        admin: false,
        run: |c| Box::pin(governance(c)),
    },
    Scenario {
        name: "admin-audit",
        about: "audit events",
        admin: true,
        run: |c| Box::pin(admin_audit(c)),
    },
    Scenario {
        name: "admin-analytics",
        about: "usage analytics and cost estimates",
        admin: true,
        run: |c| Box::pin(admin_analytics(c)),
    },
    Scenario {
        name: "admin-sandboxes",
        about: "the admin list shows a new sandbox; the admin sharing view",
        admin: true,
        run: |c| Box::pin(admin_sandboxes(c)),
    },
    Scenario {
        name: "admin-governance",
        about: "set, get, effective and delete a policy on a run-prefixed namespace",
        admin: true,
        run: |c| Box::pin(admin_governance(c)),
    },
    Scenario {
        name: "admin-templates",
        about: "create, get, update and delete a run-prefixed template",
        admin: true,
        run: |c| Box::pin(admin_templates(c)),
    },
    Scenario {
        name: "admin-cluster",
        about: "cluster status, nodes and headroom (read only)",
        admin: true,
        run: |c| Box::pin(admin_cluster(c)),
    },
    Scenario {
        name: "admin-warm-pool",
        about: "warm pool status (read only)",
        admin: true,
        run: |c| Box::pin(admin_warm_pool(c)),
    },
];

type R = Result<(), Failure>;

/// A step whose answer only has to arrive (its shape is checked by the SDK's decoding).
fn done<T>(_answer: T) -> Result<(), StepError> {
    Ok(())
}

/// Creates `<prefix>-<suffix>` from the suite's template (recorded for cleanup), and waits
/// until it is `Running` when asked.
async fn new_sandbox(ctx: &Ctx, suffix: &str, wait: bool) -> Result<Sandbox, Failure> {
    let name = ctx.name(suffix);
    ctx.track(Resource::Sandbox(name.clone()));
    let sb = ctx
        .step("create sandbox", async {
            let sb = ctx
                .client
                .create_sandbox(&name)
                .template(&ctx.options.template)
                // A sandbox that somehow outlives the run stops itself.
                .idle_timeout(Duration::from_secs(30 * 60))
                .send()
                .await?;
            ensure!(sb.id() == name, "created {:?}, asked for {name:?}", sb.id());
            Ok(sb)
        })
        .await?;
    if wait {
        ctx.step("wait until running", async {
            sb.wait_until_running_with(ctx.options.wait.clone()).await?;
            Ok(())
        })
        .await?;
    }
    Ok(sb)
}

async fn health(ctx: &Ctx) -> R {
    let c = &ctx.client;
    ctx.step("healthz", async { done(c.healthz().await?) })
        .await?;
    ctx.step("readyz", async { done(c.readyz().await?) })
        .await?;
    ctx.step("user/me", async { done(c.user().me().await?) })
        .await
}

async fn sandbox(ctx: &Ctx) -> R {
    let c = &ctx.client;
    let w = || ctx.options.wait.clone();
    let sb = new_sandbox(ctx, "life", true).await?;
    let name = sb.id().to_string();
    ctx.step("get", async {
        let got = c.get_sandbox(&name).await?;
        ensure!(got.id() == name, "get answered {:?}", got.id());
        Ok(())
    })
    .await?;
    ctx.step("list", async {
        let list = c.list_sandboxes().await?;
        ensure!(
            list.iter().any(|s| s.name == name),
            "{name} is not in the list of {} sandboxes",
            list.len()
        );
        Ok(())
    })
    .await?;
    ctx.step("exec", async {
        let out = sb.exec("echo contract-ok").await?;
        ensure!(
            out.stdout == "contract-ok\n" && out.exit_code == 0,
            "echo gave stdout {:?}, exit {}",
            out.stdout,
            out.exit_code
        );
        Ok(())
    })
    .await?;
    ctx.step("exec exit code", async {
        let out = sb.exec("exit 3").await?;
        ensure!(
            out.exit_code == 3,
            "`exit 3` gave exit code {}",
            out.exit_code
        );
        Ok(())
    })
    .await?;
    ctx.step("exec argv", async {
        let out = sb.exec_argv(&["echo", "it's a test"]).await?;
        ensure!(
            out.stdout == "it's a test\n",
            "argv echo gave {:?}",
            out.stdout
        );
        Ok(())
    })
    .await?;
    ctx.step("stop", async { done(sb.stop().await?) }).await?;
    ctx.step("wait until stopped", async {
        done(sb.wait_until_stopped_with(w()).await?)
    })
    .await?;
    ctx.step("resume", async { done(sb.resume().await?) })
        .await?;
    ctx.step("wait until running again", async {
        done(sb.wait_until_running_with(w()).await?)
    })
    .await?;
    ctx.step("delete", async { done(sb.delete().await?) })
        .await?;
    ctx.step("wait until deleted", async {
        Ok(sb.wait_until_deleted_with(w()).await?)
    })
    .await?;
    ctx.untrack(&Resource::Sandbox(name.clone()));
    ctx.step("get after delete is 404", async {
        match c.get_sandbox(&name).await {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(StepError::Api(e)),
            Ok(_) => Err(StepError::Check(format!("{name} still reads back"))),
        }
    })
    .await
}

/// 200 KiB of deterministic, incompressible-looking bytes.
fn big_payload() -> Vec<u8> {
    (0..200 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

async fn files(ctx: &Ctx) -> R {
    let sb = new_sandbox(ctx, "files", true).await?;
    let files = sb.files();
    let small = "hello from the contract suite\n";
    ctx.step("write small file", async {
        let put = files.write("/workspace/contract/hello.txt", small).await?;
        ensure!(
            put.bytes as usize == small.len(),
            "wrote {} bytes, sent {}",
            put.bytes,
            small.len()
        );
        Ok(())
    })
    .await?;
    ctx.step("read small file", async {
        let back = files.read("/workspace/contract/hello.txt").await?;
        ensure!(&back[..] == small.as_bytes(), "read back {:?}", back);
        Ok(())
    })
    .await?;
    ctx.step("list directory", async {
        let list = files.list("/workspace/contract").await?;
        let entry = list.entries.iter().find(|e| e.name == "hello.txt");
        ensure!(
            entry.is_some_and(|e| e.size as usize == small.len() && !e.is_dir),
            "hello.txt not listed with its size: {:?}",
            list.entries
        );
        Ok(())
    })
    .await?;
    let big = big_payload();
    ctx.step("split upload 200 KiB", async {
        let put = files
            .write("/workspace/contract/big.bin", big.clone())
            .await?;
        ensure!(
            put.bytes as usize == big.len(),
            "wrote {} bytes, sent {}",
            put.bytes,
            big.len()
        );
        Ok(())
    })
    .await?;
    ctx.step("read split upload back", async {
        let back = files.read("/workspace/contract/big.bin").await?;
        ensure!(
            back.len() == big.len() && back[..] == big[..],
            "read back {} bytes that differ from the {} sent",
            back.len(),
            big.len()
        );
        Ok(())
    })
    .await?;
    ctx.step("exec sees the file", async {
        let out = sb.exec("wc -c < /workspace/contract/big.bin").await?;
        ensure!(
            out.stdout.trim() == big.len().to_string(),
            "wc -c gave {:?} (exit {}, stderr {:?})",
            out.stdout,
            out.exit_code,
            out.stderr
        );
        Ok(())
    })
    .await?;
    ctx.step("no upload parts left", async {
        let list = files.list("/workspace/contract").await?;
        let parts: Vec<_> = list
            .entries
            .iter()
            .filter(|e| e.name.contains(".agenttier-"))
            .map(|e| e.name.clone())
            .collect();
        ensure!(parts.is_empty(), "parts left: {parts:?}");
        Ok(())
    })
    .await
}

async fn ports(ctx: &Ctx) -> R {
    let sb = new_sandbox(ctx, "ports", true).await?;
    let ports = sb.ports();
    ctx.step("forward 8000", async {
        let p = ports.forward(8000).await?;
        ensure!(p.port == 8000, "forwarded port {}", p.port);
        Ok(())
    })
    .await?;
    ctx.step("list shows 8000", async {
        let list = ports.list().await?;
        ensure!(list.iter().any(|p| p.port == 8000), "listed {list:?}");
        Ok(())
    })
    .await?;
    ctx.step("preview url", async {
        let url = ports.preview_url(8000)?;
        ensure!(url.as_str().contains("8000"), "preview url {url}");
        Ok(())
    })
    .await?;
    ctx.step("remove 8000", async { Ok(ports.remove(8000).await?) })
        .await?;
    ctx.step("list no longer shows 8000", async {
        let list = ports.list().await?;
        ensure!(
            list.iter().all(|p| p.port != 8000),
            "still listed: {list:?}"
        );
        Ok(())
    })
    .await
}

async fn sharing(ctx: &Ctx) -> R {
    let sb = new_sandbox(ctx, "share", true).await?;
    let sharing = sb.sharing();
    let user = format!("{}-user@example.com", ctx.prefix);
    let group = ctx.name("group");
    let share = |identity: &str| Resource::Share {
        sandbox: sb.id().to_string(),
        identity: identity.to_string(),
    };
    ctx.track(share(&user));
    ctx.step("grant a user", async {
        done(
            sharing
                .grant(&user, ShareLevel::Viewer, ShareKind::User)
                .await?,
        )
    })
    .await?;
    ctx.track(share(&group));
    ctx.step("grant a group", async {
        done(
            sharing
                .grant(&group, ShareLevel::Collaborator, ShareKind::Group)
                .await?,
        )
    })
    .await?;
    ctx.step("get shows both", async {
        let now = sharing.get().await?;
        ensure!(
            now.users
                .iter()
                .any(|p| p.identity == user && p.level == "viewer"),
            "user grant missing: {:?}",
            now.users
        );
        ensure!(
            now.groups
                .iter()
                .any(|p| p.identity == group && p.level == "collaborator"),
            "group grant missing: {:?}",
            now.groups
        );
        Ok(())
    })
    .await?;
    let link = ctx
        .step("create share link", async {
            let opts = ShareLinkOptions {
                expires_in: Some(Duration::from_secs(600)),
                max_uses: Some(1),
                ..ShareLinkOptions::default()
            };
            let link = sharing.create_link(opts).await?;
            ensure!(!link.id.is_empty(), "share link without an id");
            Ok(link.id)
        })
        .await?;
    ctx.step("get shows the link", async {
        let now = sharing.get().await?;
        ensure!(
            now.share_links.iter().any(|l| l.id == link),
            "link {link} missing: {:?}",
            now.share_links
        );
        Ok(())
    })
    .await?;
    for (what, identity) in [("revoke the user", &user), ("revoke the group", &group)] {
        ctx.step(what, async { done(sharing.revoke(identity).await?) })
            .await?;
        ctx.untrack(&share(identity));
    }
    ctx.step("get shows no grants", async {
        let now = sharing.get().await?;
        ensure!(
            !now.users.iter().any(|p| p.identity == user)
                && !now.groups.iter().any(|p| p.identity == group),
            "still granted: users {:?}, groups {:?}",
            now.users,
            now.groups
        );
        Ok(())
    })
    .await
}

async fn backups(ctx: &Ctx) -> R {
    let c = &ctx.client;
    let sb = new_sandbox(ctx, "backup", true).await?;
    let marker = format!("backed up by {}\n", ctx.prefix);
    ctx.step("write a file", async {
        done(
            sb.files()
                .write("/workspace/marker.txt", marker.as_str())
                .await?,
        )
    })
    .await?;
    let snapshot = ctx
        .step("create backup", async {
            let b = sb.backups().create().send().await?;
            ensure!(!b.name.is_empty(), "backup without a name");
            Ok(b.name)
        })
        .await?;
    let backup = Resource::Backup {
        sandbox: sb.id().to_string(),
        snapshot: snapshot.clone(),
    };
    ctx.track(backup.clone());
    ctx.step("wait until the backup is ready", async {
        let deadline = Instant::now() + ctx.options.backup_timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            let list = sb.backups().list().await?;
            match list.iter().find(|b| b.name == snapshot) {
                Some(b) if b.ready_to_use => return Ok(()),
                Some(_) => {}
                None => return Err(StepError::Check(format!("{snapshot} is not listed"))),
            }
            ensure!(
                Instant::now() < deadline,
                "{snapshot} not ready after {:?}",
                ctx.options.backup_timeout
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    })
    .await?;
    let restored_name = ctx.name("restored");
    ctx.track(Resource::Sandbox(restored_name.clone()));
    ctx.step("restore into a new sandbox", async {
        let r = sb
            .backups()
            .restore(&snapshot)
            .name(&restored_name)
            .send()
            .await?;
        ensure!(
            r.sandbox.id() == restored_name,
            "restored as {:?}",
            r.sandbox.id()
        );
        Ok(())
    })
    .await?;
    let restored = c
        .sandbox(restored_name.as_str())
        .map_err(|e| Failure::request("restore", &e))?;
    ctx.step("wait until the restored sandbox runs", async {
        done(
            restored
                .wait_until_running_with(ctx.options.wait.clone())
                .await?,
        )
    })
    .await?;
    ctx.step("the file survived", async {
        let back = restored.files().read("/workspace/marker.txt").await?;
        ensure!(&back[..] == marker.as_bytes(), "read back {back:?}");
        Ok(())
    })
    .await?;
    ctx.step("delete backup", async {
        done(sb.backups().delete(&snapshot).await?)
    })
    .await?;
    ctx.untrack(&backup);
    Ok(())
}

async fn bulk(ctx: &Ctx) -> R {
    let c = &ctx.client;
    let names = [ctx.name("bulk-0"), ctx.name("bulk-1")];
    for n in &names {
        ctx.track(Resource::Sandbox(n.clone()));
    }
    ctx.step("bulk create", async {
        let items = names
            .iter()
            .map(|n| {
                SandboxSpec::new(n)
                    .template(&ctx.options.template)
                    .idle_timeout(Duration::from_secs(30 * 60))
            })
            .collect();
        let res = c.create_sandboxes(items).await?;
        ensure!(
            res.len() == 2 && res.iter().all(|r| r.is_created()),
            "bulk create answered {res:?}"
        );
        Ok(())
    })
    .await?;
    let handles: Vec<Sandbox> = names
        .iter()
        .map(|n| c.sandbox(n.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::request("handles", &e))?;
    ctx.step("wait until both run", async {
        for sb in &handles {
            sb.wait_until_running_with(ctx.options.wait.clone()).await?;
        }
        Ok(())
    })
    .await?;
    bulk_action(ctx, c, BulkAction::Stop, &names).await?;
    ctx.step("wait until both stopped", async {
        for sb in &handles {
            sb.wait_until_stopped_with(ctx.options.wait.clone()).await?;
        }
        Ok(())
    })
    .await?;
    bulk_action(ctx, c, BulkAction::Delete, &names).await?;
    ctx.step("wait until both deleted", async {
        for sb in &handles {
            sb.wait_until_deleted_with(ctx.options.wait.clone()).await?;
        }
        Ok(())
    })
    .await?;
    for n in &names {
        ctx.untrack(&Resource::Sandbox(n.clone()));
    }
    Ok(())
}

async fn bulk_action(ctx: &Ctx, c: &Client, action: BulkAction, names: &[String]) -> R {
    ctx.step(&format!("bulk {action}"), async {
        let res = c.bulk_action(action, names).await?;
        ensure!(
            res.len() == names.len() && res.iter().all(|r| r.is_ok()),
            "bulk {action} answered {res:?}"
        );
        Ok(())
    })
    .await
}

async fn agent(ctx: &Ctx) -> R {
    let t = &ctx.options.agent_template;
    let exists = ctx
        .step("agent template exists", async {
            match ctx.client.templates().get(t).await {
                Ok(_) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(StepError::Api(e)),
            }
        })
        .await?;
    if !exists {
        ctx.skip(format!(
            "no agent template {t:?} on this Router (--agent-template)"
        ));
        return Ok(());
    }
    let name = ctx.name("agent");
    ctx.track(Resource::Sandbox(name.clone()));
    let sb = ctx
        .step("create sandbox", async {
            Ok(ctx
                .client
                .create_sandbox(&name)
                .template(t)
                .idle_timeout(Duration::from_secs(30 * 60))
                .send()
                .await?)
        })
        .await?;
    ctx.step("wait until running", async {
        done(sb.wait_until_running_with(ctx.options.wait.clone()).await?)
    })
    .await?;
    ctx.step("configure", async {
        let r = sb
            .agent()
            .configure()
            .file(
                "/workspace/contract-agent.sh",
                "read line\necho \"got $line\"\n",
            )
            .entrypoint(["sh", "/workspace/contract-agent.sh"])
            .send()
            .await?;
        ensure!(
            r.entrypoint == ["sh", "/workspace/contract-agent.sh"],
            "configured entrypoint {:?}",
            r.entrypoint
        );
        Ok(())
    })
    .await?;
    ctx.step("invoke", async {
        let out = sb.agent().invoke("contract\n").collect().await?;
        ensure!(
            out.exit_code == 0 && out.stdout.contains("got contract"),
            "invoke gave exit {} ({}), stdout {:?}, stderr {:?}",
            out.exit_code,
            out.reason,
            out.stdout,
            out.stderr
        );
        Ok(())
    })
    .await
}

async fn templates(ctx: &Ctx) -> R {
    let t = &ctx.options.template;
    let templates = ctx.client.templates();
    ctx.step("list", async {
        let list = templates.list().await?;
        ensure!(
            list.iter().any(|x| &x.name == t),
            "template {t} is not listed (have: {:?})",
            list.iter().map(|x| &x.name).collect::<Vec<_>>()
        );
        Ok(())
    })
    .await?;
    ctx.step("get", async {
        let got = templates.get(t).await?;
        ensure!(&got.name == t, "get {t} answered {}", got.name);
        Ok(())
    })
    .await
}

async fn api_keys(ctx: &Ctx) -> R {
    let c = &ctx.client;
    let keys = c.api_keys();
    let name = ctx.name("key");
    let created = ctx
        .step("create a user key", async {
            let k = keys
                .create(ApiKeyRequest::user(&name).expires_in(Duration::from_secs(3600)))
                .await?;
            ensure!(k.name == name, "created key named {:?}", k.name);
            ensure!(!k.key.expose().is_empty(), "no secret in the answer");
            Ok(k)
        })
        .await?;
    ctx.track(Resource::ApiKey(created.id.clone()));
    ctx.step("the key authenticates", async {
        let with_key = client_with_key(c, created.key.expose())?;
        done(with_key.user().me().await?)
    })
    .await?;
    ctx.step("list shows the key", async {
        let list = keys.list().await?;
        ensure!(
            list.iter().any(|k| k.id == created.id && k.name == name),
            "key {} not listed",
            created.id
        );
        Ok(())
    })
    .await?;
    ctx.step("revoke", async { done(keys.revoke(&created.id).await?) })
        .await?;
    ctx.untrack(&Resource::ApiKey(created.id.clone()));
    ctx.step("list no longer shows it", async {
        let list = keys.list().await?;
        ensure!(
            list.iter().all(|k| k.id != created.id),
            "revoked key {} still listed",
            created.id
        );
        Ok(())
    })
    .await
}

/// A client that sends `key` as its API key.
fn client_with_key(base: &Client, key: &str) -> Result<Client, StepError> {
    Ok(Client::builder(base.base_url())
        .auth(ApiKey::new(key)?)
        .build()?)
}

async fn scoped_key(ctx: &Ctx) -> R {
    let c = &ctx.client;
    let sb = new_sandbox(ctx, "scoped", true).await?;
    // Whether this Router checks API keys at all (a dev-auth Router ignores them): an
    // unknown key must be refused with 401 where they are checked.
    let enforced = ctx
        .step("does the Router check keys", async {
            let bogus = client_with_key(c, "atk_agenttier_contract_not_a_key")?;
            match bogus.user().me().await {
                Ok(_) => Ok(false),
                Err(e) if e.status() == Some(401) => Ok(true),
                Err(e) => Err(StepError::Api(e)),
            }
        })
        .await?;
    let name = ctx.name("scoped-key");
    let created = ctx
        .step("create a key scoped to the sandbox", async {
            let k = c
                .api_keys()
                .create(
                    ApiKeyRequest::sandbox_scoped(&name, sb.id(), &[ActionGroup::RunCommand])
                        .expires_in(Duration::from_secs(3600)),
                )
                .await?;
            ensure!(k.sandbox_id == sb.id(), "bound to {:?}", k.sandbox_id);
            let groups: Vec<String> = k
                .action_groups()
                .iter()
                .map(|g| g.as_str().to_string())
                .collect();
            ensure!(
                groups == [ActionGroup::RunCommand.as_str()],
                "action groups {groups:?}"
            );
            Ok(k)
        })
        .await?;
    ctx.track(Resource::ApiKey(created.id.clone()));
    let scoped = ctx
        .step("client with the scoped key", async {
            client_with_key(c, created.key.expose())
        })
        .await?;
    ctx.step("exec with the scoped key", async {
        let out = scoped.sandbox(sb.id())?.exec("echo scoped").await?;
        ensure!(out.stdout == "scoped\n", "exec gave {:?}", out.stdout);
        Ok(())
    })
    .await?;
    if enforced {
        ctx.step("files outside its action groups are refused", async {
            match scoped.sandbox(sb.id())?.files().list("/workspace").await {
                Err(e) if e.status() == Some(403) => Ok(()),
                Err(e) => Err(StepError::Api(e)),
                Ok(_) => Err(StepError::Check(
                    "a run_command-only key listed files".to_string(),
                )),
            }
        })
        .await?;
    }
    ctx.step("revoke", async {
        done(c.api_keys().revoke(&created.id).await?)
    })
    .await?;
    ctx.untrack(&Resource::ApiKey(created.id.clone()));
    if enforced {
        ctx.step("the revoked key is refused", async {
            match scoped.sandbox(sb.id())?.exec("echo scoped").await {
                Err(e) if e.status() == Some(401) => Ok(()),
                Err(e) => Err(StepError::Api(e)),
                Ok(_) => Err(StepError::Check(
                    "a revoked key still runs commands".to_string(),
                )),
            }
        })
        .await?;
    }
    Ok(())
}

async fn webhooks(ctx: &Ctx) -> R {
    // Non-admin subscriptions must name a sandbox the caller owns. The event chosen never
    // happens to it (no backup is made), so nothing is ever delivered.
    let sb = new_sandbox(ctx, "hook", false).await?;
    let hooks = ctx.client.webhooks();
    let url = ctx
        .options
        .webhook_url
        .as_deref()
        .unwrap_or("https://example.com/agenttier-contract/{prefix}")
        .replace("{prefix}", &ctx.prefix);
    let created = ctx
        .step("create", async {
            let w = hooks
                .create(&url)
                .event(WebhookEvent::BackupCreated)
                .sandbox(sb.id())
                .send()
                .await?;
            ensure!(w.url == url, "created with url {:?}", w.url);
            ensure!(
                !w.secret.expose().is_empty(),
                "no signing secret in the answer"
            );
            Ok(w)
        })
        .await?;
    ctx.track(Resource::Webhook(created.id.clone()));
    ctx.step("list shows it", async {
        let list = hooks.list().await?;
        ensure!(
            list.iter()
                .any(|w| w.id == created.id && w.event_types == ["backup.created"]),
            "webhook {} not listed as created",
            created.id
        );
        Ok(())
    })
    .await?;
    ctx.step("deliveries", async {
        done(hooks.deliveries(&created.id).await?)
    })
    .await?;
    ctx.step("delete", async { Ok(hooks.delete(&created.id).await?) })
        .await?;
    ctx.untrack(&Resource::Webhook(created.id.clone()));
    ctx.step("list no longer shows it", async {
        let list = hooks.list().await?;
        ensure!(
            list.iter().all(|w| w.id != created.id),
            "deleted webhook {} still listed",
            created.id
        );
        Ok(())
    })
    .await
}

async fn preferences(ctx: &Ctx) -> R {
    let user = ctx.client.user();
    let key = ctx.name("pref");
    let original = ctx
        .step("read", async { Ok(user.preferences().await?) })
        .await?;
    ctx.track(Resource::Preferences(original.clone()));
    ctx.step("set a key", async {
        let mut prefs = original.clone();
        prefs.insert(key.clone(), json!({"contract": true, "n": 42}));
        let answer = user.set_preferences(&prefs).await?;
        ensure!(
            answer.contains_key(&key),
            "the answer lacks {key}: {answer:?}"
        );
        Ok(())
    })
    .await?;
    ctx.step("read back", async {
        let now = user.preferences().await?;
        ensure!(
            now.get(&key) == Some(&json!({"contract": true, "n": 42})),
            "read back {:?}",
            now.get(&key)
        );
        Ok(())
    })
    .await?;
    ctx.step("restore the original", async {
        done(user.set_preferences(&original).await?)
    })
    .await?;
    ctx.untrack(&Resource::Preferences(original.clone()));
    ctx.step("the key is gone", async {
        let now = user.preferences().await?;
        ensure!(!now.contains_key(&key), "{key} still set");
        Ok(())
    })
    .await
}

async fn governance(ctx: &Ctx) -> R {
    let g = ctx.client.governance();
    ctx.step("list policies", async { done(g.list().await?) })
        .await?;
    ctx.step("effective policy", async { done(g.effective().await?) })
        .await
}

async fn admin_audit(ctx: &Ctx) -> R {
    ctx.step("audit events", async {
        done(ctx.client.admin().audit_events().await?)
    })
    .await
}

async fn admin_analytics(ctx: &Ctx) -> R {
    let a = ctx.client.admin();
    ctx.step("usage", async { done(a.usage().await?) }).await?;
    ctx.step("costs", async { done(a.costs().await?) }).await
}

async fn admin_sandboxes(ctx: &Ctx) -> R {
    let sb = new_sandbox(ctx, "admin", false).await?;
    let a = ctx.client.admin();
    ctx.step("admin list shows it", async {
        let list = a.sandboxes().await?;
        ensure!(
            list.iter().any(|s| s.name == sb.id()),
            "{} not in the admin list of {} sandboxes",
            sb.id(),
            list.len()
        );
        Ok(())
    })
    .await?;
    ctx.step("admin sharing view", async { done(a.sharing().await?) })
        .await
}

async fn admin_governance(ctx: &Ctx) -> R {
    let g = ctx.client.governance();
    let ns = ctx.name("ns");
    let policy: Policy = serde_json::from_value(json!({
        "description": format!("agenttier-contract {}", ctx.prefix),
        "maxSandboxesPerUser": 3,
    }))
    .map_err(|e| Failure::check("build policy", e.to_string()))?;
    ctx.track(Resource::Policy(ns.clone()));
    ctx.step("set namespace policy", async {
        done(g.set(&ns, &policy).await?)
    })
    .await?;
    ctx.step("get it back", async {
        let got = g.get(&ns).await?;
        ensure!(
            got.max_sandboxes_per_user == Some(3),
            "maxSandboxesPerUser read back as {:?}",
            got.max_sandboxes_per_user
        );
        Ok(())
    })
    .await?;
    ctx.step("effective policy there", async {
        done(g.effective_in(&ns).await?)
    })
    .await?;
    ctx.step("delete it", async { Ok(g.delete(&ns).await?) })
        .await?;
    ctx.untrack(&Resource::Policy(ns.clone()));
    ctx.step("list no longer shows it", async {
        let list = g.list().await?;
        ensure!(
            list.namespaces.iter().all(|p| p.namespace != ns),
            "{ns} still has a policy"
        );
        Ok(())
    })
    .await
}

async fn admin_templates(ctx: &Ctx) -> R {
    let t = ctx.client.templates();
    let name = ctx.name("tpl");
    let spec = ctx
        .step("read the suite's template", async {
            Ok(Value::Object(t.get(&ctx.options.template).await?.spec))
        })
        .await?;
    ctx.track(Resource::Template(name.clone()));
    ctx.step("create a copy", async {
        let created = t.create(&name, spec.clone()).await?;
        ensure!(created.name == name, "created {:?}", created.name);
        Ok(())
    })
    .await?;
    ctx.step("get it", async { done(t.get(&name).await?) })
        .await?;
    ctx.step("update it", async {
        done(t.update(&name, spec.clone()).await?)
    })
    .await?;
    ctx.step("delete it", async { Ok(t.delete(&name).await?) })
        .await?;
    ctx.untrack(&Resource::Template(name.clone()));
    ctx.step("list no longer shows it", async {
        let list = t.list().await?;
        ensure!(list.iter().all(|x| x.name != name), "{name} still listed");
        Ok(())
    })
    .await
}

async fn admin_cluster(ctx: &Ctx) -> R {
    let c = ctx.client.cluster();
    ctx.step("status", async { done(c.status().await?) })
        .await?;
    ctx.step("nodes", async { done(c.nodes().await?) }).await?;
    ctx.step("headroom", async { done(c.headroom().await?) })
        .await
}

async fn admin_warm_pool(ctx: &Ctx) -> R {
    ctx.step("status", async {
        done(ctx.client.warm_pool().status().await?)
    })
    .await
}
