//! The FakeRouter's WebSocket terminal and preview proxy, driven with tokio-tungstenite and
//! reqwest over loopback. Waits are on the emulator's records, never on sleeps.

use std::time::Duration;

use agenttier_fake_router::{ExecRule, FakeAuth, FakeRouter, FakeRouterBuilder};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CREATING: Duration = Duration::from_millis(10);

/// A router with one Running sandbox `sb`.
async fn running(builder: FakeRouterBuilder) -> FakeRouter {
    let r = builder
        .manual_clock()
        .creating_delay(CREATING)
        .start()
        .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/sandboxes", r.url()))
        .header("X-API-Key", "k-owner-123456")
        .json(&json!({"name": "sb", "templateRef": {"name": "general-coding", "kind": "ClusterSandboxTemplate"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    r.advance(CREATING);
    assert_eq!(r.phase("sb").as_deref(), Some("Running"));
    r
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(r: &FakeRouter, path: &str, key: Option<&str>) -> Result<Ws, (u16, String)> {
    let url = format!("ws://{}{path}", r.addr());
    let mut req = url.into_client_request().unwrap();
    if let Some(k) = key {
        req.headers_mut().insert("X-API-Key", k.parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(r.addr()).await.unwrap();
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            Err((
                resp.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Output frames until `needle` has been seen.
async fn read_until(ws: &mut Ws, needle: &str) -> String {
    let mut out = String::new();
    while !out.contains(needle) {
        let msg = ws.next().await.expect("open").expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "output" {
                out.push_str(v["data"].as_str().unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn terminal_runs_a_stateful_shell_with_local_exec() {
    let r = running(FakeRouter::builder().local_exec(true)).await;
    let mut ws = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    send(
        &mut ws,
        json!({"type": "input", "data": "cd /workspace && export X=42\n"}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "resize", "cols": 0, "rows": 100000}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "input", "data": "echo \"x=$X\"; printf 'bad \\377 end\\n'\n"}),
    )
    .await;
    let out = read_until(&mut ws, "end").await;
    assert!(out.contains("x=42\n"), "{out:?}");
    assert!(out.contains("bad \u{FFFD} end"), "{out:?}");
    // Frames are handled in order: the resize was recorded before the output came.
    assert_eq!(r.terminal("sb").size, Some((1, 65535)));
    send(&mut ws, json!({"type": "ping"})).await;
    loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap()
            && t.as_str() == r#"{"type":"pong"}"#
        {
            break;
        }
    }
    send(&mut ws, json!({"type": "input", "data": "exit 3\n"})).await;
    // The shell ended: the connection closes without a close frame.
    while let Some(Ok(msg)) = ws.next().await {
        assert!(!matches!(msg, Message::Close(_)), "no close frame expected");
    }
    let t = r.wait_for_terminal("sb", |t| t.closed == 1).await;
    assert_eq!(t.opened, 1);
}

/// Output frames until the collected text ends with `tail` (the next prompt, typically).
async fn read_to(ws: &mut Ws, tail: &str) -> String {
    let mut out = String::new();
    while !out.ends_with(tail) {
        let msg = ws.next().await.expect("open").expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "output" {
                out.push_str(v["data"].as_str().unwrap());
            }
        }
    }
    out
}

async fn input(ws: &mut Ws, data: &str) {
    send(ws, json!({"type": "input", "data": data})).await;
}

#[tokio::test]
async fn scripted_terminal_echoes_like_a_pty_until_stty_and_keeps_state() {
    let r = running(FakeRouter::builder()).await;
    let mut ws = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    assert_eq!(read_to(&mut ws, "$ ").await, "$ ");
    // Echo on and CR/LF translation on, as on a fresh PTY.
    input(&mut ws, "echo hi\n").await;
    assert_eq!(read_to(&mut ws, "$ ").await, "echo hi\r\nhi\r\n$ ");
    // An incomplete command asks for more with PS2.
    input(&mut ws, "{ echo one\n").await;
    assert_eq!(read_to(&mut ws, "> ").await, "{ echo one\r\n> ");
    input(&mut ws, "}\n").await;
    assert_eq!(read_to(&mut ws, "$ ").await, "}\r\none\r\n$ ");
    input(&mut ws, "stty -echo -onlcr\n").await;
    assert_eq!(read_to(&mut ws, "$ ").await, "stty -echo -onlcr\r\n$ ");
    // From here on: no echo, no CR.
    input(&mut ws, "cd /tmp && export X=1; PS1='% '\n").await;
    assert_eq!(read_to(&mut ws, "% ").await, "% ");
    input(&mut ws, "echo \"$X $(pwd)\"; nope\n").await;
    assert_eq!(
        read_to(&mut ws, "% ").await,
        "1 /tmp\nsh: nope: not found\n% "
    );
    input(
        &mut ws,
        "echo $?; (exit 7); echo $?; sh -c 'exit 9' || echo \"sh said $?\"\n",
    )
    .await;
    assert_eq!(read_to(&mut ws, "% ").await, "127\n7\nsh said 9\n% ");
    send(&mut ws, json!({"type": "resize", "cols": 100, "rows": 30})).await;
    input(&mut ws, "printf 'no newline'\n").await;
    assert_eq!(read_to(&mut ws, "% ").await, "no newline% ");
    assert_eq!(r.terminal("sb").size, Some((100, 30)));
    // `exit` ends the shell: the connection closes without a close frame.
    input(&mut ws, "exit 3\n").await;
    while let Some(Ok(msg)) = ws.next().await {
        assert!(!matches!(msg, Message::Close(_)), "no close frame expected");
    }
    let t = r.wait_for_terminal("sb", |t| t.closed == 1).await;
    assert_eq!(t.opened, 1);
}

#[tokio::test]
async fn scripted_terminal_commands_see_the_same_files_and_rules_as_exec() {
    let r = running(FakeRouter::builder()).await;
    let http = reqwest::Client::new();
    let put = http
        .put(format!(
            "{}/api/v1/sandboxes/sb/files/workspace/notes.txt",
            r.url()
        ))
        .header("X-API-Key", "k-owner-123456")
        .body("line one\nline two")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    r.on_exec(ExecRule::exact("pip install requests").stdout("Successfully installed\n"));
    let exec = |command: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/v1/sandboxes/sb/exec", r.url());
        async move {
            let v: Value = http
                .post(url)
                .header("X-API-Key", "k-owner-123456")
                .json(&json!({"command": command}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                format!(
                    "{}{}",
                    v["stdout"].as_str().unwrap(),
                    v["stderr"].as_str().unwrap()
                ),
                v["exitCode"].as_i64().unwrap(),
            )
        }
    };
    let mut ws = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    read_to(&mut ws, "$ ").await;
    input(&mut ws, "stty -echo -onlcr; PS1='#'\n").await;
    read_to(&mut ws, "#").await;
    for command in [
        "cat /workspace/notes.txt",
        "ls /workspace",
        "ls -la /workspace",
        "cat /workspace/missing",
        "pip install requests",
    ] {
        input(&mut ws, &format!("{command}; echo \"[$?]\"\n")).await;
        let out = read_to(&mut ws, "]\n#").await;
        let (shown, code) = out.trim_end_matches('#').rsplit_once('[').unwrap();
        let (stdout, exit_code) = exec(command).await;
        assert_eq!(shown, stdout, "{command}");
        assert_eq!(code, format!("{exit_code}]\n"), "{command}");
    }
    // What the terminal writes, exec and the files API read.
    input(
        &mut ws,
        "cd /workspace && mkdir -p out && echo made > out/a.txt; echo more >> out/a.txt\n",
    )
    .await;
    read_to(&mut ws, "#").await;
    assert_eq!(exec("cat /workspace/out/a.txt").await.0, "made\nmore\n");
}

#[tokio::test]
async fn scripted_terminal_ctrl_c_interrupts_a_waiting_command() {
    let r = running(FakeRouter::builder()).await;
    let mut ws = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    read_to(&mut ws, "$ ").await;
    input(&mut ws, "stty -echo; sleep 100000; echo never\n").await;
    input(&mut ws, "\u{3}").await;
    // The interrupted command prints nothing more; the prompt comes back.
    assert_eq!(
        read_to(&mut ws, "$ ").await,
        "stty -echo; sleep 100000; echo never\r\n$ "
    );
    input(&mut ws, "echo $?\n").await;
    assert_eq!(read_to(&mut ws, "$ ").await, "130\r\n$ ");
}

#[tokio::test]
async fn terminal_pre_upgrade_failures_are_plain_text() {
    let r = running(
        FakeRouter::builder()
            .auth(FakeAuth::ApiKeys)
            .api_key("k-owner-123456"),
    )
    .await;
    let fail = |res: Result<Ws, (u16, String)>| match res {
        Ok(_) => panic!("the upgrade was not refused"),
        Err(e) => e,
    };
    assert_eq!(
        fail(connect(&r, "/ws/terminal/sb", None).await),
        (401, "missing authentication\n".to_string())
    );
    assert_eq!(
        fail(connect(&r, "/ws/terminal/sb", Some("wrong")).await),
        (401, "invalid api key\n".to_string())
    );
    // `?token=` is only tried as a JWT, never as an API key.
    let (status, body) = fail(connect(&r, "/ws/terminal/sb?token=k-owner-123456", None).await);
    assert_eq!(status, 401);
    assert!(body.starts_with("invalid token: "), "{body}");
    assert_eq!(
        fail(connect(&r, "/ws/terminal/nope", Some("k-owner-123456")).await),
        (404, "sandbox not found\n".to_string())
    );
    assert_eq!(
        fail(
            connect(
                &r,
                "/ws/terminal/sb?namespace=other",
                Some("k-owner-123456")
            )
            .await
        ),
        (404, "sandbox not found\n".to_string())
    );
    // Past the checks, a request that is not a WebSocket upgrade gets 400.
    let plain = reqwest::Client::new()
        .get(format!("{}/ws/terminal/sb", r.url()))
        .header("X-API-Key", "k-owner-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert!(r.set_phase("sb", "Stopped", ""));
    assert_eq!(
        fail(connect(&r, "/ws/terminal/sb", Some("k-owner-123456")).await),
        (409, "sandbox is not running\n".to_string())
    );
}

#[tokio::test]
async fn terminal_read_deadline_is_reset_only_by_pongs() {
    let r = running(
        FakeRouter::builder()
            .local_exec(true)
            .terminal_read_deadline(Duration::from_millis(300))
            .terminal_heartbeat(Duration::from_millis(50)),
    )
    .await;
    // A client that keeps reading answers the pings: it outlives several deadlines.
    let mut ws = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut heartbeats = 0;
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg
                && t.as_str().contains("\"heartbeat\"")
            {
                heartbeats += 1;
            }
        }
        heartbeats
    });
    let t = r.wait_for_terminal("sb", |t| t.pongs >= 20).await;
    assert_eq!(t.deadline_closes, 0);
    reader.abort();
    // A client that never reads never answers: the deadline closes it.
    let _silent = connect(&r, "/ws/terminal/sb", None).await.unwrap();
    let t = r.wait_for_terminal("sb", |t| t.deadline_closes == 1).await;
    assert!(t.closed >= 1);
}

/// A one-request HTTP upstream on 127.0.0.1 that answers `response` and returns the request.
async fn upstream(response: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        s.write_all(response.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    });
    (port, task)
}

#[tokio::test]
async fn preview_forwards_to_the_port_and_passes_upstream_answers_through() {
    let r = running(
        FakeRouter::builder()
            .auth(FakeAuth::ApiKeys)
            .api_key("k-owner-123456"),
    )
    .await;
    let http = reqwest::Client::new();
    let (port, seen) = upstream(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nX-App: yes\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops",
    )
    .await;
    let url = format!("{}/api/v1/sandboxes/sb/preview/{port}/a/b?q=1", r.url());
    // Not forwarded yet: the proxy's own 404.
    let resp = http
        .get(&url)
        .header("X-API-Key", "k-owner-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.text().await.unwrap(),
        format!("{{\"error\":\"port {port} is not forwarded\"}}\n")
    );
    let fwd = http
        .post(format!("{}/api/v1/sandboxes/sb/ports", r.url()))
        .header("X-API-Key", "k-owner-123456")
        .json(&json!({"port": port}))
        .send()
        .await
        .unwrap();
    assert_eq!(fwd.status(), 201);
    let resp = http
        .get(&url)
        .header("X-API-Key", "k-owner-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-app"], "yes");
    assert_eq!(resp.text().await.unwrap(), "oops");
    let request = seen.await.unwrap();
    assert!(
        request.starts_with("GET /a/b?q=1 HTTP/1.1\r\n"),
        "{request}"
    );
    // The Router forwards the caller's credentials to the workload.
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-api-key: k-owner-123456"),
        "{request}"
    );
    assert!(
        request.contains(&format!("pf-sb-{port}.default.svc.cluster.local:{port}")),
        "{request}"
    );
    // Nothing listens any more: 502 text/plain.
    let resp = http
        .get(&url)
        .header("X-API-Key", "k-owner-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        resp.text()
            .await
            .unwrap()
            .starts_with("port forward upstream unreachable: ")
    );
}

#[tokio::test]
async fn a_scoped_key_gets_a_terminal_but_not_the_preview_proxy() {
    let r = running(
        FakeRouter::builder()
            .local_exec(true)
            .auth(FakeAuth::ApiKeys)
            .api_key("k-owner-123456"),
    )
    .await;
    let minted: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/user/api-keys", r.url()))
        .header("X-API-Key", "k-owner-123456")
        .json(&json!({"name": "ci", "sandboxId": "sb", "scopes": ["files:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = minted["key"].as_str().expect("a minted key").to_owned();
    // The terminal applies no scoped-key rules (any action groups get a shell).
    let mut ws = connect(&r, "/ws/terminal/sb", Some(&scoped)).await.unwrap();
    send(
        &mut ws,
        json!({"type": "input", "data": "echo scoped-ok\n"}),
    )
    .await;
    read_until(&mut ws, "scoped-ok").await;
    // The preview proxy is not in the scoped keys' allow-map.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/sandboxes/sb/preview/3000/", r.url()))
        .header("X-API-Key", &scoped)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.text().await.unwrap(),
        "{\"error\":\"scoped key not permitted for this route\"}\n"
    );
}
