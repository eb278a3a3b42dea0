//! The Python SDK tutorial, flow by flow, in Rust: the migration guide.
//!
//! ```sh
//! cargo run --example tutorial            # every flow, on an embedded FakeRouter
//! cargo run --example tutorial -- files   # one flow (connect, create, exec, files, lifecycle,
//!                                         # ports, find, async, errors, cleanup)
//! ```
//!
//! With `AGENTTIER_API_URL` set it runs against that Router instead (credentials detected as
//! `Client::from_env` does; template from `AGENTTIER_TEMPLATE`, default `general-coding`).
//! Every flow cleans up what it creates, also when it fails.

use std::time::Duration;

use agenttier::testing::FakeRouter;
use agenttier::{Client, Error, ExecOptions, Phase, SandboxFilter, WaitOptions};

/// 2. Connect: `AgentTierClient(api_url=..., api_key=..., timeout=30)`.
///
/// Python's `with AgentTierClient(...)` has no Rust counterpart to write: the client closes its
/// connections when the last clone is dropped.
async fn connect() -> agenttier::Result<(Client, Option<FakeRouter>)> {
    if std::env::var_os(agenttier::ENV_API_URL).is_some_and(|v| !v.is_empty()) {
        // Credentials: AGENTTIER_API_KEY, AGENTTIER_TOKEN, the service-account token, kubeconfig.
        let client = Client::from_env()?;
        println!("connected to {}", client.base_url());
        return Ok((client, None));
    }
    let router = FakeRouter::builder()
        .creating_delay(Duration::from_millis(300))
        .local_exec(true)
        .start()
        .await;
    // What production code writes, with a key and a timeout:
    //   Client::builder("https://agenttier.example.com")
    //       .auth(agenttier::auth::ApiKey::new("atk_...")?)
    //       .timeout(Duration::from_secs(30))
    //       .build()?
    let client = Client::builder(router.url())
        .timeout(Duration::from_secs(30))
        .build()?;
    println!(
        "connected to an embedded FakeRouter at {} (health: {})",
        router.url(),
        client.healthz().await?
    );
    Ok((client, Some(router)))
}

fn template() -> String {
    std::env::var("AGENTTIER_TEMPLATE").unwrap_or_else(|_| "general-coding".into())
}

/// A unique name per flow and run, so flows never collide.
fn name(flow: &str) -> String {
    format!("tutorial-{flow}-{:x}", std::process::id() % 0xffff)
}

/// 3. Create a sandbox: `client.create_sandbox(name=..., template=...)`, then
///    `sandbox.wait_until_running(timeout=120)`. One call here, and it cleans up after itself.
async fn create(client: &Client) -> agenttier::Result<()> {
    let sb = client
        .create_sandbox(name("create"))
        .template(template())
        .namespace("default")
        .wait_until_running_with(WaitOptions::default().timeout(Duration::from_secs(120)))
        .guarded()
        .await?;
    println!("{} is {:?}", sb.id(), sb.phase());
    sb.close().await
}

/// 4. Run commands: `sandbox.exec("...")`, the list form, and a timeout.
async fn exec(client: &Client) -> agenttier::Result<()> {
    let create = client
        .create_sandbox(name("exec"))
        .template(template())
        .wait_until_running();
    client
        .with_sandbox(create, |sb| async move {
            let out = sb
                .exec("python3 -c 'print(2+2)' 2>/dev/null || echo 4")
                .await?;
            println!("stdout {:?}, exit {}", out.stdout, out.exit_code);
            // The list form: each argument quoted for the shell.
            let out = sb.exec_argv(&["sh", "-c", "echo $0", "argv form"]).await?;
            println!("argv: {}", out.stdout.trim());
            let bounded = ExecOptions::default().timeout(Duration::from_secs(30));
            sb.exec_with("true", bounded).await?.check()?;
            Ok(())
        })
        .await
}

/// 5. File transfer: `sandbox.files.upload/write/read/list/download`.
async fn files(client: &Client) -> agenttier::Result<()> {
    let create = client
        .create_sandbox(name("files"))
        .template(template())
        .wait_until_running();
    client
        .with_sandbox(create, |sb| async move {
            let files = sb.files();
            let local = std::env::temp_dir().join(format!("tutorial-{}.py", std::process::id()));
            std::fs::write(&local, "print('hello')\n")?;
            files.upload(&local, "/workspace/script.py").await?;
            files
                .write("/workspace/data.txt", b"hello from rust")
                .await?;
            let content = files.read("/workspace/data.txt").await?;
            println!("read back {:?}", String::from_utf8_lossy(&content));
            for entry in files.list("/workspace").await? {
                println!("  {} {} dir={}", entry.name, entry.size, entry.is_dir);
            }
            files.download("/workspace/data.txt", &local).await?;
            std::fs::remove_file(&local)?;
            Ok(())
        })
        .await
}

/// 6. Lifecycle: `stop()`, `resume()`, `refresh()`, `delete()`; each answers at once, and
///    `.wait()` waits for the change.
async fn lifecycle(client: &Client) -> agenttier::Result<()> {
    let mut sb = client
        .create_sandbox(name("lifecycle"))
        .template(template())
        .wait_until_running()
        .await?;
    sb.stop().await?.wait().await?; // pod gone, volume kept
    sb.resume().await?.wait().await?; // Running again on the same volume
    let summary = sb.refresh().await?; // the latest status
    println!("{} is {}", summary.name, summary.phase());
    sb.delete().await?.wait().await?; // permanent
    Ok(())
}

/// 7. Port forwarding: `sandbox.port_forwards.create(port=8000)`, `.list()`, `.delete()`.
async fn ports(client: &Client) -> agenttier::Result<()> {
    let create = client
        .create_sandbox(name("ports"))
        .template(template())
        .wait_until_running();
    client
        .with_sandbox(create, |sb| async move {
            let ports = sb.ports();
            let forward = ports.forward(8000).await?;
            println!(
                "forwarded {}: preview {:?}, in-Router path {}",
                forward.port,
                forward.preview_url,
                ports.preview_url(8000)?
            );
            for p in ports.list().await? {
                println!("  {} {}", p.port, p.protocol);
            }
            ports.remove(8000).await?;
            Ok(())
        })
        .await
}

/// 8. Find existing sandboxes: `client.list_sandboxes(status=..., template=...)`,
///    `client.get_sandbox(name)`.
async fn find(client: &Client) -> agenttier::Result<()> {
    let create = client
        .create_sandbox(name("find"))
        .template(template())
        .wait_until_running();
    client
        .with_sandbox(create, |sb| async move {
            let client = sb.client();
            for s in client.list_sandboxes().await? {
                println!("  {} {} {:?}", s.name, s.status, s.template_ref);
            }
            let running = SandboxFilter::default()
                .phase(Phase::Running)
                .template(template());
            println!(
                "{} running",
                client.list_sandboxes_with(running).await?.len()
            );
            let existing = client.get_sandbox(sb.id()).await?;
            existing.exec("ls /workspace").await?;
            Ok(())
        })
        .await
}

/// 9. Async: Rust is async already. Several sandboxes at once, each in its own task (handles
///    are owned and cheap to clone).
async fn concurrent(client: &Client) -> agenttier::Result<()> {
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let create = client
                    .create_sandbox(name(&format!("async{i}")))
                    .template(template())
                    .wait_until_running();
                client
                    .with_sandbox(create, |sb| async move {
                        Ok::<_, Error>(sb.exec("uname -s").await?.stdout)
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        let out = task
            .await
            .map_err(|e| Error::from(std::io::Error::other(e)))??;
        println!("  {}", out.trim());
    }
    Ok(())
}

/// 10. Error handling: typed errors, with the status, the request id and what to do.
async fn errors(client: &Client) -> agenttier::Result<()> {
    match client.get_sandbox("does-not-exist").await {
        Err(e) if e.is_not_found() => println!("not there ({e})"),
        Err(e) => return Err(e),
        Ok(_) => println!("unexpectedly there"),
    }
    match client
        .create_sandbox("Not_A_Valid_Name")
        .template(template())
        .await
    {
        Err(Error::InvalidInput { field, message }) => {
            println!("refused before sending: {field}: {message}")
        }
        Err(Error::PolicyViolation { violations, .. }) => {
            for v in violations {
                println!("policy: {} ({})", v.message, v.code);
            }
        }
        Err(e) => return Err(e),
        Ok(sb) => {
            sb.delete().await?;
        }
    }
    Ok(())
}

/// 11. Clean up: `sandbox.delete()`, `client.close()`. A guard deletes on every way out; the
///     client needs no closing.
async fn cleanup(client: &Client) -> agenttier::Result<()> {
    let sb = client
        .create_sandbox(name("cleanup"))
        .template(template())
        .guarded()
        .await?;
    // An early `?` here would still delete the sandbox (in the background, with a warning).
    sb.close().await
}

/// One flow of the tutorial, run against a connected client.
type Flow = fn(&Client) -> futures::future::BoxFuture<'_, agenttier::Result<()>>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let only = std::env::args().nth(1);
    let (client, _router) = match connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let flows: [(&str, Flow); 9] = [
        ("create", |c| Box::pin(create(c))),
        ("exec", |c| Box::pin(exec(c))),
        ("files", |c| Box::pin(files(c))),
        ("lifecycle", |c| Box::pin(lifecycle(c))),
        ("ports", |c| Box::pin(ports(c))),
        ("find", |c| Box::pin(find(c))),
        ("async", |c| Box::pin(concurrent(c))),
        ("errors", |c| Box::pin(errors(c))),
        ("cleanup", |c| Box::pin(cleanup(c))),
    ];
    for (flow, run) in flows {
        if only.as_deref().is_some_and(|o| o != flow && o != "connect") {
            continue;
        }
        println!("== {flow}");
        if let Err(e) = run(&client).await {
            eprintln!("{flow} failed: {e}");
            if let Some(id) = e.request_id() {
                eprintln!("  request id: {id}");
            }
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("== done");
    std::process::ExitCode::SUCCESS
}
