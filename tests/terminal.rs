//! Terminal sessions and the stateful shell against the FakeRouter's WebSocket terminal
//! (loopback): with local exec a real `sh` over pipes, without it the emulator's scripted
//! shell (a pretend PTY in front of a small `sh` subset); the `Shell` tests run on both.
//! Waits are on the emulator's records and on the session's own output, never on sleeps.

use std::time::Duration;

use agenttier::auth::{ApiKey, BearerToken, NoAuth};
use agenttier::terminal::{Shell, TerminalEvent};
use agenttier::testing::{ExecRule, FakeAuth, FakeIdentity, FakeRouter, FakeRouterBuilder};
use agenttier::{Client, Error};
use futures::StreamExt;

const OWNER_KEY: &str = "atk_terminal-owner-key-0123456789";
const OTHER_KEY: &str = "atk_terminal-other-key-0123456789";
const CREATING: Duration = Duration::from_millis(10);

fn client(router: &FakeRouter, key: &str) -> Client {
    Client::builder(router.url())
        .auth(ApiKey::new(key).unwrap())
        .build()
        .unwrap()
}

/// A router (API-key auth) with a Running sandbox `sb` owned by `OWNER_KEY`'s user.
async fn running(builder: FakeRouterBuilder) -> (FakeRouter, Client) {
    let router = builder
        .manual_clock()
        .creating_delay(CREATING)
        .auth(FakeAuth::ApiKeys)
        .api_key(OWNER_KEY)
        .api_key_for(
            OTHER_KEY,
            FakeIdentity::user("someone-else", "else@example.com"),
        )
        .start()
        .await;
    let c = client(&router, OWNER_KEY);
    c.create_sandbox("sb")
        .template("general-coding")
        .await
        .unwrap();
    router.advance(CREATING);
    (router, c)
}

async fn shell(c: &Client) -> Shell {
    c.sandbox("sb").unwrap().terminal().shell().await.unwrap()
}

/// The two kinds of terminal the FakeRouter serves.
fn local() -> FakeRouterBuilder {
    FakeRouter::builder().local_exec(true)
}

fn scripted() -> FakeRouterBuilder {
    FakeRouter::builder()
}

async fn state_persists(builder: FakeRouterBuilder) {
    let (_router, c) = running(builder).await;
    let mut sh = shell(&c).await;
    let first = sh
        .run("cd /workspace && export X=1 && mkdir -p sub")
        .await
        .unwrap();
    assert_eq!((first.stdout.as_str(), first.exit_code), ("", 0));
    let out = sh.run("echo \"X=$X\"; cd sub; pwd").await.unwrap();
    assert!(out.stdout.starts_with("X=1\n"), "{:?}", out.stdout);
    assert!(out.stdout.ends_with("/workspace/sub\n"), "{:?}", out.stdout);
    // A function defined in one run is there in the next.
    sh.run("greet() { printf 'hi %s' \"$1\"; }").await.unwrap();
    assert_eq!(sh.run("greet you").await.unwrap().stdout, "hi you");
    sh.close().await.unwrap();
}

#[tokio::test]
async fn session_state_persists_across_runs() {
    state_persists(local()).await;
}

#[tokio::test]
async fn scripted_shell_state_persists_across_runs() {
    state_persists(scripted()).await;
}

async fn exact(builder: FakeRouterBuilder) {
    let (_router, c) = running(builder).await;
    let mut sh = shell(&c).await;
    let cases: [(&str, &str, i32); 8] = [
        // No trailing newline: nothing is added.
        ("printf abc", "abc", 0),
        ("false", "", 1),
        ("(exit 7)", "", 7),
        ("sh -c 'exit 7'", "", 7),
        ("printf 'two\\nlines\\n\\n'", "two\nlines\n\n", 0),
        // Control bytes, tabs, CR and ANSI colours come through untouched.
        (
            "printf 'a\\tb\\001\\r\\033[31mred\\033[0m'",
            "a\tb\u{1}\r\u{1b}[31mred\u{1b}[0m",
            0,
        ),
        // stderr is merged into the output, as on a PTY.
        ("echo oops >&2; exit_code=3; (exit $exit_code)", "oops\n", 3),
        // Invalid UTF-8 arrives as U+FFFD, as the Router sends it.
        ("printf 'x\\377y'", "x\u{FFFD}y", 0),
    ];
    for (command, stdout, code) in cases {
        let out = sh.run(command).await.unwrap();
        assert_eq!(out.stdout, stdout, "{command}");
        assert_eq!(out.exit_code, code, "{command}");
    }
    let out = sh.run("printf 'caf\\303\\251'").await.unwrap();
    assert_eq!(out.bytes(), "café".as_bytes());
    assert!(matches!(
        sh.run("false").await.unwrap().check(),
        Err(Error::CommandFailed { exit_code: 1, .. })
    ));
}

#[tokio::test]
async fn exit_codes_and_output_are_exact() {
    exact(local()).await;
}

#[tokio::test]
async fn scripted_shell_exit_codes_and_output_are_exact() {
    exact(scripted()).await;
    // An unknown command fails as on the exec API (dash would add a line number).
    let (_router, c) = running(scripted()).await;
    let out = shell(&c).await.run("no-such-command --flag").await.unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.exit_code),
        ("sh: no-such-command: not found\n", 127)
    );
}

#[tokio::test]
async fn scripted_shell_sees_the_files_and_rules_exec_sees() {
    let (router, c) = running(scripted()).await;
    let sb = c.sandbox("sb").unwrap();
    sb.files()
        .write("/workspace/notes.txt", "line one\nline two")
        .await
        .unwrap();
    router.on_exec(ExecRule::prefix("pip install").stdout("Successfully installed\n"));
    let mut sh = shell(&c).await;
    sh.run("cd /workspace").await.unwrap();
    for command in [
        "cat /workspace/notes.txt",
        "ls -la /workspace",
        "pip install requests",
    ] {
        let out = sh.run(command).await.unwrap();
        let exec = sb.exec(command).await.unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.exit_code),
            (exec.stdout.as_str(), exec.exit_code),
            "{command}"
        );
    }
    // What the shell writes, the files API reads.
    sh.run("mkdir -p out && printf made > out/a.txt")
        .await
        .unwrap();
    assert_eq!(
        sb.files().read("/workspace/out/a.txt").await.unwrap(),
        "made".as_bytes()
    );
}

async fn marker_lookalikes(builder: FakeRouterBuilder) {
    let (_router, c) = running(builder).await;
    let mut sh = shell(&c).await;
    let out = sh
        .run("echo __agenttier_e_0000000000000000__:0; printf '%s' __agenttier_s_")
        .await
        .unwrap();
    assert_eq!(
        out.stdout,
        "__agenttier_e_0000000000000000__:0\n__agenttier_s_"
    );
}

#[tokio::test]
async fn output_that_looks_like_a_marker_does_not_end_a_run() {
    marker_lookalikes(local()).await;
    marker_lookalikes(scripted()).await;
}

#[tokio::test]
async fn resize_reaches_the_router() {
    resize(local()).await;
    resize(scripted()).await;
}

async fn resize(builder: FakeRouterBuilder) {
    let (router, c) = running(builder).await;
    let sb = c.sandbox("sb").unwrap();
    let sh = Shell::start(sb.terminal().size(100, 30).await.unwrap())
        .await
        .unwrap();
    // The size is sent before anything the shell answered.
    assert_eq!(router.terminal("sb").size, Some((100, 30)));
    let mut sh = sh;
    sh.resize(132, 43).await.unwrap();
    sh.run("true").await.unwrap();
    // Frames are handled in order: the resize came before the run's output.
    assert_eq!(router.terminal("sb").size, Some((132, 43)));
}

#[tokio::test]
async fn ping_pong_keeps_an_idle_session_alive_past_the_read_deadline() {
    ping_pong(local()).await;
    ping_pong(scripted()).await;
}

async fn ping_pong(builder: FakeRouterBuilder) {
    let (router, c) = running(
        builder
            .terminal_read_deadline(Duration::from_millis(300))
            .terminal_heartbeat(Duration::from_millis(30)),
    )
    .await;
    let mut sh = shell(&c).await;
    sh.run("export KEPT=yes").await.unwrap();
    // Nobody reads the session while the Router pings it: the background task answers.
    // 20 pongs at 30 ms are far more than the 300 ms deadline.
    let t = router.wait_for_terminal("sb", |t| t.pongs >= 20).await;
    assert_eq!(t.deadline_closes, 0);
    assert_eq!(t.closed, 0);
    assert_eq!(sh.run("echo $KEPT").await.unwrap().stdout, "yes\n");
    // The raw terminal sees the heartbeat frames.
    let mut term = sh.into_terminal();
    loop {
        match term.next().await.unwrap().unwrap() {
            TerminalEvent::Heartbeat { ts } => {
                assert!(ts.unwrap() > 0);
                break;
            }
            TerminalEvent::Output(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_pre_upgrade_failure_is_typed_with_its_status() {
    let (router, owner) = running(FakeRouter::builder().local_exec(true)).await;
    let open = |c: Client, ns: Option<&'static str>| async move {
        let mut b = c.sandbox("sb").unwrap().terminal();
        if let Some(ns) = ns {
            b = b.namespace(ns);
        }
        b.connect().await.unwrap_err()
    };
    let message = |e: &Error| e.api().unwrap().message().to_owned();

    let e = open(client(&router, "atk_not-a-key-at-all-000000"), None).await;
    assert!(matches!(e, Error::Authentication(_)), "{e:?}");
    assert_eq!(
        (e.status(), message(&e).as_str()),
        (Some(401), "invalid api key")
    );

    let anonymous = Client::builder(router.url()).auth(NoAuth).build().unwrap();
    let e = open(anonymous, None).await;
    assert!(matches!(e, Error::Authentication(_)), "{e:?}");
    assert_eq!(message(&e), "missing authentication");

    let bearer = Client::builder(router.url())
        .auth(BearerToken::new("eyJhbGciOiJSUzI1NiJ9.e30.sig").unwrap())
        .build()
        .unwrap();
    let e = open(bearer, None).await;
    assert!(matches!(e, Error::Authentication(_)), "{e:?}");
    assert!(message(&e).starts_with("invalid token: "), "{e}");

    let e = open(client(&router, OTHER_KEY), None).await;
    assert!(matches!(e, Error::Authorization(_)), "{e:?}");
    assert_eq!(
        (e.status(), message(&e).as_str()),
        (Some(403), "access denied")
    );

    let e = open(owner.clone(), Some("elsewhere")).await;
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert_eq!(
        (e.status(), message(&e).as_str()),
        (Some(404), "sandbox not found")
    );

    let e = owner
        .sandbox("missing")
        .unwrap()
        .terminal()
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    assert!(router.set_phase("sb", "Stopped", ""));
    let e = open(owner.clone(), None).await;
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    assert_eq!(
        (e.status(), message(&e).as_str()),
        (Some(409), "sandbox is not running")
    );
    // Never a secret in what an error shows.
    assert!(!format!("{e} {e:?}").contains(OWNER_KEY));
}

#[tokio::test]
async fn the_namespace_pins_the_lookup() {
    let (router, c) = running(FakeRouter::builder().local_exec(true)).await;
    let mut sh = Shell::start(
        c.sandbox("sb")
            .unwrap()
            .terminal()
            .namespace("default")
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(sh.run("echo ok").await.unwrap().stdout, "ok\n");
    let recorded = router.requests();
    let upgrade = recorded
        .iter()
        .find(|r| r.path == "/ws/terminal/sb")
        .expect("the upgrade was recorded");
    assert_eq!(upgrade.query.as_deref(), Some("namespace=default"));
    // The API key travels in its header, never in the URL.
    assert_eq!(upgrade.headers["x-api-key"], OWNER_KEY);
}

async fn close_ends(builder: FakeRouterBuilder) {
    let (router, c) = running(builder).await;
    let mut sh = shell(&c).await;
    sh.run("true").await.unwrap();
    sh.close().await.unwrap();
    let t = router.wait_for_terminal("sb", |t| t.closed == 1).await;
    assert_eq!(t.opened, 1);
}

#[tokio::test]
async fn closing_the_session_ends_the_shell() {
    close_ends(local()).await;
}

#[tokio::test]
async fn scripted_shell_closing_the_session_ends_the_shell() {
    close_ends(scripted()).await;
}

async fn exit_ends(builder: FakeRouterBuilder) {
    let (router, c) = running(builder).await;
    let mut sh = shell(&c).await;
    let e = sh.run("exit 3").await.unwrap_err();
    assert!(matches!(e, Error::TerminalClosed { .. }), "{e:?}");
    router.wait_for_terminal("sb", |t| t.closed == 1).await;
}

#[tokio::test]
async fn a_run_that_exits_the_shell_ends_the_session() {
    exit_ends(local()).await;
    exit_ends(scripted()).await;
}

#[tokio::test]
async fn a_run_times_out_while_its_command_waits() {
    let (_router, c) = running(local()).await;
    let mut sh = shell(&c).await;
    // `read` waits for input that never comes.
    let e = sh
        .run_with_timeout("read line", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Timeout {
                operation: "terminal_run",
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn scripted_shell_run_times_out_and_an_interrupt_gets_the_shell_back() {
    let (_router, c) = running(scripted()).await;
    let mut sh = shell(&c).await;
    sh.run("export KEPT=yes").await.unwrap();
    let e = sh
        .run_with_timeout("sleep 100000", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Timeout {
                operation: "terminal_run",
                ..
            }
        ),
        "{e:?}"
    );
    sh.interrupt().await.unwrap();
    assert_eq!(sh.run("echo $KEPT").await.unwrap().stdout, "yes\n");
}

#[tokio::test]
async fn a_bearer_token_goes_in_the_header_or_on_request_in_the_query() {
    use std::sync::Arc;
    let check: agenttier::testing::BearerCheck = Arc::new(|t: &str| {
        (t == "good.jwt.token").then(|| FakeIdentity::admin("admin", "admin@example.com"))
    });
    let router = FakeRouter::builder()
        .manual_clock()
        .creating_delay(CREATING)
        .local_exec(true)
        .auth(FakeAuth::Bearer(check))
        .start()
        .await;
    let c = Client::builder(router.url())
        .auth(BearerToken::new("good.jwt.token").unwrap())
        .build()
        .unwrap();
    c.create_sandbox("sb")
        .template("general-coding")
        .await
        .unwrap();
    router.advance(CREATING);
    let sb = c.sandbox("sb").unwrap();
    for in_query in [false, true] {
        router.clear_requests();
        let mut sh = Shell::start(sb.terminal().token_in_query(in_query).await.unwrap())
            .await
            .unwrap();
        assert_eq!(sh.run("echo in").await.unwrap().stdout, "in\n");
        let upgrade = router
            .requests()
            .into_iter()
            .find(|r| r.path == "/ws/terminal/sb")
            .unwrap();
        assert_eq!(upgrade.headers["authorization"], "Bearer good.jwt.token");
        let expected = in_query.then(|| "token=good.jwt.token".to_owned());
        assert_eq!(upgrade.query, expected);
    }
    // An API key is never put in the query.
    let (router, owner) = running(FakeRouter::builder().local_exec(true)).await;
    router.clear_requests();
    let term = owner
        .sandbox("sb")
        .unwrap()
        .terminal()
        .token_in_query(true)
        .await
        .unwrap();
    drop(term);
    let upgrade = router
        .requests()
        .into_iter()
        .find(|r| r.path == "/ws/terminal/sb")
        .unwrap();
    assert_eq!(upgrade.query, None);
}
