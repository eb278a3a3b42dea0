//! The blocking client (`agenttier::blocking`, feature `blocking`): the tutorial's flow from a
//! plain thread, the typed refusal inside a Tokio runtime, one runtime thread per client, and
//! a twin for every method of the async facade.
#![cfg(feature = "blocking")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use agenttier::auth::{AuthProvider, BoxFuture, Credential};
use agenttier::blocking::Client;
use agenttier::testing::FakeRouter;
use agenttier::{Error, InvokeEvent, Phase};

/// An embedded FakeRouter on a runtime of its own (the test thread drives no runtime), with
/// phases that change at once.
fn router() -> (tokio::runtime::Runtime, FakeRouter) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let router = rt.block_on(
        FakeRouter::builder()
            .creating_delay(Duration::ZERO)
            .finalizer_delay(Duration::ZERO)
            .local_exec(true)
            .start(),
    );
    (rt, router)
}

fn client(router: &FakeRouter) -> Client {
    Client::builder(router.url()).build().unwrap()
}

#[test]
fn the_tutorial_flow_works_from_a_plain_thread() {
    let (_rt, router) = router();
    let url = router.url().to_owned();
    std::thread::spawn(move || {
        let client = Client::builder(url).build().unwrap();
        client.healthz().unwrap();
        let mut sb = client
            .create_sandbox("blocking-flow")
            .template("general-coding")
            .send()
            .unwrap();
        assert_eq!(sb.wait_until_running().unwrap().phase(), Phase::Running);
        assert_eq!(sb.refresh().unwrap().phase(), Phase::Running);

        let out = sb.exec("echo hello").unwrap();
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.exit_code, 0);

        let written = sb
            .files()
            .write("/workspace/hello.txt", "Hello!\n")
            .unwrap();
        assert_eq!(written.bytes, 7);
        assert_eq!(
            sb.files().read_to_string("/workspace/hello.txt").unwrap(),
            "Hello!\n"
        );
        let names: Vec<String> = sb
            .files()
            .list("/workspace")
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.contains(&"hello.txt".to_owned()), "{names:?}");

        // Agent mode (an agent template): the event stream is an iterator.
        let agent = client
            .create_sandbox("blocking-agent")
            .template("agent-python")
            .wait_until_running()
            .send()
            .unwrap();
        agent
            .agent()
            .configure()
            .file("/workspace/agent.sh", "read line\necho \"got $line\"\n")
            .entrypoint(["sh", "/workspace/agent.sh"])
            .send()
            .unwrap();
        let events: Vec<InvokeEvent> = agent
            .agent()
            .invoke("blocking\n")
            .stream()
            .unwrap()
            .collect::<agenttier::Result<_>>()
            .unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, InvokeEvent::Log(l) if l.data.contains("got blocking"))),
            "{events:?}"
        );
        assert!(matches!(events.last(), Some(InvokeEvent::Exit(e)) if e.exit_code == 0));
        agent.delete().unwrap();

        sb.stop().unwrap().wait().unwrap();
        sb.resume().unwrap().wait().unwrap();
        let listed = client.list_sandboxes().unwrap();
        assert!(listed.iter().any(|s| s.name == "blocking-flow"));
        sb.delete().unwrap().wait().unwrap();
        assert!(
            client
                .get_sandbox("blocking-flow")
                .unwrap_err()
                .is_not_found()
        );
    })
    .join()
    .unwrap();
}

#[test]
fn threads_sharing_one_client_call_at_the_same_time() {
    let (_rt, router) = router();
    let client = client(&router);
    let sb = client
        .create_sandbox("blocking-threads")
        .template("general-coding")
        .wait_until_running()
        .send()
        .unwrap();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let sb = sb.clone();
                scope.spawn(move || {
                    let path = format!("/workspace/t{i}.txt");
                    sb.files().write(&path, format!("thread {i}\n")).unwrap();
                    sb.exec(&format!("cat {path}")).unwrap().stdout
                })
            })
            .collect();
        for (i, w) in workers.into_iter().enumerate() {
            assert_eq!(w.join().unwrap(), format!("thread {i}\n"));
        }
    });
    sb.delete().unwrap();
}

#[test]
fn a_guard_and_with_sandbox_delete_their_sandbox() {
    let (_rt, router) = router();
    let client = client(&router);
    let guard = client
        .create_sandbox("blocking-guard")
        .template("general-coding")
        .guarded()
        .unwrap();
    guard.wait_until_running().unwrap();
    // Dropped while armed: the delete is sent before drop returns.
    drop(guard);
    client
        .sandbox("blocking-guard")
        .unwrap()
        .wait_until_deleted()
        .unwrap();

    let id = client
        .with_sandbox(
            client
                .create_sandbox("blocking-with")
                .template("general-coding")
                .wait_until_running(),
            |sb| Ok::<_, Error>(sb.exec("echo inside")?.stdout),
        )
        .unwrap();
    assert_eq!(id, "inside\n");
    client
        .sandbox("blocking-with")
        .unwrap()
        .wait_until_deleted()
        .unwrap();
}

#[test]
fn a_terminal_shell_keeps_its_state_and_its_events_are_an_iterator() {
    let (_rt, router) = router();
    // A bound for a session that would never show the output (a failure, not a wait).
    let client = client(&router).with_deadline(std::time::Instant::now() + Duration::from_secs(60));
    let sb = client
        .create_sandbox("blocking-term")
        .template("general-coding")
        .wait_until_running()
        .send()
        .unwrap();
    let mut shell = sb.terminal().size(100, 30).shell().unwrap();
    shell.run("cd /workspace && export GREETING=hi").unwrap();
    let out = shell.run("echo $GREETING").unwrap();
    assert_eq!((out.stdout.as_str(), out.exit_code), ("hi\n", 0));
    assert_eq!(shell.run("false").unwrap().exit_code, 1);
    shell.close().unwrap();

    // The raw session: write, then read events until the output shows up.
    let mut terminal = sb.terminal().connect().unwrap();
    terminal.write("echo raw-$((40+2))\n").unwrap();
    let mut seen = String::new();
    for event in terminal.by_ref() {
        if let agenttier::terminal::TerminalEvent::Output(text) = event.unwrap() {
            seen.push_str(&text);
            if seen.contains("raw-42") {
                break;
            }
        }
    }
    assert!(seen.contains("raw-42"), "{seen:?}");
    terminal.close();
}

fn assert_refused<T: std::fmt::Debug>(result: agenttier::Result<T>, method: &str) {
    match result {
        Err(Error::BlockingInRuntime { operation }) => assert_eq!(operation, method),
        other => panic!("{method}: expected BlockingInRuntime, got {other:?}"),
    }
}

/// Every kind of blocking entry point, called where it must refuse.
fn calls_inside_a_runtime_are_refused(client: &Client, url: &str) {
    assert_refused(client.healthz(), "Client::healthz");
    assert_refused(client.list_sandboxes(), "Client::list_sandboxes");
    assert_refused(Client::builder(url).build(), "ClientBuilder::build");
    assert_refused(Client::from_env(), "Client::from_env");
    let sb = client.sandbox("anything").unwrap();
    assert_refused(sb.exec("true"), "Sandbox::exec");
    assert_refused(sb.files().read("/x"), "Files::read");
    assert_refused(client.create_sandbox("x").send(), "CreateSandbox::send");
}

#[test]
fn calling_inside_a_current_thread_runtime_is_a_typed_error() {
    let (_rt, router) = router();
    let client = client(&router);
    let inner = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    inner.block_on(async { calls_inside_a_runtime_are_refused(&client, router.url()) });
    // A task on that runtime too.
    let (c, url) = (client.clone(), router.url().to_owned());
    inner.block_on(async move {
        tokio::spawn(async move { calls_inside_a_runtime_are_refused(&c, &url) })
            .await
            .unwrap();
    });
    // Outside again: the same client works.
    client.healthz().unwrap();
}

#[test]
fn an_event_stream_iterated_inside_a_runtime_yields_the_refusal_once_then_ends() {
    let (_rt, router) = router();
    let client = client(&router);
    let sb = client
        .create_sandbox("blocking-stream")
        .template("agent-python")
        .wait_until_running()
        .send()
        .unwrap();
    sb.agent()
        .configure()
        // An agent that ends by itself (one that waits for more input would outlive the test).
        .file("/workspace/agent.sh", "read line\necho \"got $line\"\n")
        .entrypoint(["sh", "/workspace/agent.sh"])
        .send()
        .unwrap();
    let events = sb.agent().invoke("x\n").stream().unwrap();
    let inner = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let seen: Vec<_> = inner.block_on(async move { events.collect() });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(matches!(
        seen[0],
        Err(Error::BlockingInRuntime {
            operation: "EventStream::next"
        })
    ));
    sb.delete().unwrap();
}

#[test]
fn calling_inside_a_multi_thread_runtime_is_a_typed_error() {
    let (rt, router) = router();
    let client = client(&router);
    let (c, url) = (client.clone(), router.url().to_owned());
    rt.block_on(async move {
        calls_inside_a_runtime_are_refused(&c, &url);
        // In a task and on a blocking-pool thread of that runtime.
        let (c2, url2) = (c.clone(), url.clone());
        tokio::spawn(async move { calls_inside_a_runtime_are_refused(&c2, &url2) })
            .await
            .unwrap();
        tokio::task::spawn_blocking(move || calls_inside_a_runtime_are_refused(&c, &url))
            .await
            .unwrap();
    });
    client.healthz().unwrap();
}

/// Records the thread each credential lookup runs on, and plants a thread-local on it that
/// reports when the thread exits.
#[derive(Debug, Default)]
struct ThreadSpy {
    seen: Mutex<Vec<ThreadId>>,
    exited: Mutex<Option<mpsc::Sender<ThreadId>>>,
}

struct ExitSignal(mpsc::Sender<ThreadId>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(std::thread::current().id());
    }
}

thread_local! {
    static EXIT: std::cell::RefCell<Option<ExitSignal>> = const { std::cell::RefCell::new(None) };
}

impl AuthProvider for ThreadSpy {
    fn credential(&self) -> BoxFuture<'_, agenttier::Result<Option<Credential>>> {
        self.seen.lock().unwrap().push(std::thread::current().id());
        EXIT.with(|e| {
            let mut planted = e.borrow_mut();
            if planted.is_none() {
                *planted = self.exited.lock().unwrap().clone().map(ExitSignal);
            }
        });
        Box::pin(async { Ok(None) })
    }
}

#[test]
fn clones_share_one_runtime_thread_and_dropping_the_last_one_stops_it() {
    let (_rt, router) = router();
    let (tx, exited) = mpsc::channel();
    let spy = Arc::new(ThreadSpy {
        exited: Mutex::new(Some(tx)),
        ..Default::default()
    });
    let client = Client::builder(router.url())
        .auth_shared(spy.clone())
        .build()
        .unwrap();
    let clone = client.clone();
    let other_options = client.with_timeout(Duration::from_secs(5));
    let sandbox_handle = client.sandbox("nothing-here").unwrap();
    client.list_sandboxes().unwrap();
    clone.list_sandboxes().unwrap();
    other_options.list_sandboxes().unwrap();
    assert!(sandbox_handle.status().unwrap_err().is_not_found());
    let seen = spy.seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "{seen:?}");
    let runtime_thread = seen[0];
    assert!(seen.iter().all(|t| *t == runtime_thread), "{seen:?}");
    assert_ne!(runtime_thread, std::thread::current().id());

    // Nothing stops while a clone or a handle is alive.
    drop(client);
    drop(clone);
    drop(other_options);
    assert!(exited.try_recv().is_err());
    // The last one joins the thread: its thread-locals are gone by the time drop returns.
    drop(sandbox_handle);
    assert_eq!(exited.try_recv().unwrap(), runtime_thread);
}

#[test]
fn a_deadline_in_the_options_bounds_the_call() {
    let (_rt, router) = router();
    let client = client(&router).with_deadline(std::time::Instant::now());
    match client.list_sandboxes() {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// The methods in tests/public-api.txt (`impl Type :: pub fn name` lines), by type, of the
/// async facade (`blocking == false`) or of `src/blocking/` (`blocking == true`).
fn methods(api: &str, blocking: bool) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in api.lines() {
        let Some((file, rest)) = line.split_once(": ") else {
            continue;
        };
        if file.starts_with("src/blocking/") != blocking {
            continue;
        }
        let Some((context, item)) = rest.split_once(" :: ") else {
            continue;
        };
        // The async side's methods are its inherent `pub` ones; a blocking twin may also be a
        // trait method (`Iterator::next` for `EventStream::next`).
        if !blocking && !item.starts_with("pub ") {
            continue;
        }
        let item = item.trim_start_matches("pub ").trim_start_matches("async ");
        let Some(name) = item.strip_prefix("fn ") else {
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // `impl Type`, `impl super::Type`, `impl<T> Type<T>`, `impl Trait for Type<T>`.
        let context = context.strip_prefix("impl").unwrap_or(context);
        let context = if context.starts_with('<') {
            context.split_once("> ").map_or(context, |(_, t)| t)
        } else {
            context.trim_start()
        };
        let ty = context.rsplit(" for ").next().unwrap_or(context);
        let ty = ty.rsplit("::").next().unwrap_or(ty);
        let ty: String = ty
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        out.entry(ty).or_default().insert(name);
    }
    out
}

#[test]
fn every_async_facade_method_has_a_blocking_twin() {
    let api =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt"))
            .unwrap();
    // The async handles: every type with an `async fn` or an `IntoFuture` impl, the client's
    // builder, and the result types that carry a sandbox handle.
    let mut handles: BTreeSet<String> = ["Client", "ClientBuilder", "Cloned", "Restored"]
        .map(String::from)
        .into();
    for line in api.lines().filter(|l| !l.starts_with("src/blocking/")) {
        if let Some((_, rest)) = line.split_once(" :: pub async fn ") {
            let _ = rest;
            let ty = methods(line, false).into_keys().next().unwrap();
            handles.insert(ty);
        }
        if let Some(rest) = line.split_once("IntoFuture for ").map(|(_, r)| r) {
            handles.insert(rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    // Left out on purpose, with the reason.
    let exempt: BTreeMap<(&str, &str), &str> = [(
        ("Client", "raw"),
        "the generated client is async only: blocking::Client::as_async().raw()",
    )]
    .into();

    let asynchronous = methods(&api, false);
    let blocking = methods(&api, true);
    let structs: BTreeSet<&str> = api
        .lines()
        .filter(|l| l.starts_with("src/blocking/"))
        .filter_map(|l| l.split_once(": pub struct "))
        .map(|(_, s)| s.split(['<', ' ', '(']).next().unwrap())
        .collect();
    let mut missing = Vec::new();
    for ty in &handles {
        if !structs.contains(ty.as_str()) {
            missing.push(format!("pub struct {ty}"));
        }
        for name in asynchronous.get(ty).into_iter().flatten() {
            if exempt.contains_key(&(ty.as_str(), name.as_str())) {
                continue;
            }
            if !blocking.get(ty).is_some_and(|m| m.contains(name)) {
                missing.push(format!("{ty}::{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "async facade items without a blocking twin in src/blocking/ (add them, or exempt \
         them here with a reason): {missing:#?}"
    );
    // The list is not empty by accident.
    assert!(handles.len() > 30, "{handles:?}");
}
