//! Every leaf of `agenttier`, run as a process against an in-process FakeRouter, in both output
//! formats, with its exit code; plus the usage/error/interrupt exit codes, credentials and the
//! command-tree snapshot.
//!
//! One FakeRouter (dev-auth, no creating or finalizer delay, so phases move at once and no
//! test waits on the clock) is shared by the whole binary; each test uses its own sandbox
//! names.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use agenttier::testing::{ExecRule, FakeRouter, FakeRouterExt};
use agenttier::{Client, InvokeEvent};
use serde_json::{Value, json};

struct Shared {
    rt: tokio::runtime::Runtime,
    router: FakeRouter,
    home: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let router = rt.block_on(
            FakeRouter::builder()
                .creating_delay(Duration::ZERO)
                .finalizer_delay(Duration::ZERO)
                .resolve_webhook_hosts(false)
                .start(),
        );
        let home = tempfile::tempdir().expect("temp home");
        Shared { rt, router, home }
    })
}

fn client() -> Client {
    shared().router.client()
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    shared().rt.block_on(f)
}

/// A Running sandbox named `name`, made through the SDK.
fn sandbox(name: &str) -> String {
    block(
        client()
            .create_sandbox(name)
            .template("general-coding")
            .wait_until_running()
            .send(),
    )
    .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    name.to_owned()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr);
        self
    }

    #[track_caller]
    fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// The binary with a clean environment: no AGENTTIER_* variables, an empty home (no
/// kubeconfig, no saved login).
fn base_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agenttier"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AGENTTIER_") || k.starts_with("KUBERNETES_") || k == "KUBECONFIG" {
            cmd.env_remove(k);
        }
    }
    let home = shared().home.path();
    cmd.env("HOME", home)
        .env("AGENTTIER_CONFIG", home.join("no-login.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn agenttier");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("agenttier output");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `agenttier --api-url <router> ARGS` in text.
fn text(args: &[&str]) -> Run {
    let mut cmd = base_command();
    cmd.arg("--api-url").arg(shared().router.url()).args(args);
    finish(&mut cmd, None)
}

/// The same with `--output json`.
fn json(args: &[&str]) -> Run {
    let mut cmd = base_command();
    cmd.args(["--output", "json", "--api-url", shared().router.url()])
        .args(args);
    finish(&mut cmd, None)
}

fn with_stdin(args: &[&str], input: &[u8]) -> Run {
    let mut cmd = base_command();
    cmd.arg("--api-url").arg(shared().router.url()).args(args);
    finish(&mut cmd, Some(input))
}

fn temp_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(content.as_bytes()).expect("write temp file");
    f
}

fn path(f: &tempfile::NamedTempFile) -> &str {
    f.path().to_str().expect("utf-8 temp path")
}

// ---------------------------------------------------------------- top level

#[test]
fn version_prints_the_crate_version() {
    let t = text(&["version"]).ok();
    assert!(
        t.stdout
            .starts_with(&format!("agenttier {}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        json(&["version"]).ok().json()["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn login_checks_the_credentials_and_saves_them_for_later_commands() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("agenttier").join("config.json");
    let mut cmd = base_command();
    cmd.env("AGENTTIER_CONFIG", &config)
        .args(["login", "--api-url", shared().router.url()]);
    let t = finish(&mut cmd, None).ok();
    assert!(t.stdout.contains("Logged in to"), "{}", t.stdout);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&config).expect("saved")).expect("json");
    assert_eq!(saved["api_url"], shared().router.url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A later command finds the Router through the saved login alone.
    let mut cmd = base_command();
    cmd.env("AGENTTIER_CONFIG", &config)
        .args(["--output", "json", "whoami"]);
    assert_eq!(finish(&mut cmd, None).ok().json()["isAdmin"], true);
    let mut cmd = base_command();
    cmd.env("AGENTTIER_CONFIG", dir.path().join("again.json"))
        .args([
            "--output",
            "json",
            "login",
            "--api-url",
            shared().router.url(),
        ]);
    assert_eq!(
        finish(&mut cmd, None).ok().json()["apiUrl"],
        shared().router.url()
    );
}

#[test]
fn whoami_shows_the_dev_user() {
    assert!(
        text(&["whoami"])
            .ok()
            .stdout
            .contains("dev@agenttier.local")
    );
    assert_eq!(
        json(&["whoami"]).ok().json()["email"],
        "dev@agenttier.local"
    );
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let r = text(&["completions", shell]).ok();
        assert!(r.stdout.contains("agenttier"), "{shell}");
        assert!(r.stdout.contains("bulk-create"), "{shell}");
    }
}

// ---------------------------------------------------------------- sandbox

#[test]
fn sandbox_list_prints_a_table_and_json_summaries() {
    sandbox("list-a");
    let t = text(&["sandbox", "list"]).ok();
    assert!(t.stdout.starts_with("SANDBOX_ID"), "{}", t.stdout);
    assert!(
        t.stdout
            .lines()
            .any(|l| l.starts_with("list-a ") && l.contains("Running"))
    );
    let j = json(&["sandbox", "list", "--phase", "Running"]).ok().json();
    assert!(
        j.as_array()
            .expect("array")
            .iter()
            .any(|s| s["sandboxId"] == "list-a")
    );
    let j = json(&["--namespace", "elsewhere", "sandbox", "list"])
        .ok()
        .json();
    assert_eq!(j, json!([]));
}

#[test]
fn sandbox_get_shows_one_sandbox() {
    sandbox("get-a");
    let t = text(&["sandbox", "get", "get-a"]).ok();
    assert!(
        t.stdout
            .lines()
            .any(|l| l.starts_with("status") && l.ends_with("Running"))
    );
    let j = json(&["sandbox", "get", "get-a"]).ok().json();
    assert_eq!(j["sandboxId"], "get-a");
    assert_eq!(j["templateRef"], "general-coding");
}

#[test]
fn sandbox_create_with_wait_returns_a_running_sandbox() {
    let t = text(&[
        "sandbox",
        "create",
        "create-a",
        "--wait",
        "--wait-timeout",
        "30s",
    ])
    .ok();
    assert!(t.stdout.contains("Running"), "{}", t.stdout);
    let j = json(&[
        "sandbox",
        "create",
        "create-b",
        "--template",
        "general-coding",
        "--idle-timeout",
        "30m",
    ])
    .ok()
    .json();
    assert_eq!(j["sandboxId"], "create-b");
}

#[test]
fn sandbox_stop_and_resume_wait_for_their_phase() {
    sandbox("stop-a");
    let t = text(&["sandbox", "stop", "stop-a"]).ok();
    assert!(t.stdout.starts_with("stop-a: "), "{}", t.stdout);
    let j = json(&["sandbox", "wait", "stop-a", "--for", "stopped"])
        .ok()
        .json();
    assert_eq!(j["status"], "Stopped");
    let j = json(&["sandbox", "resume", "stop-a", "--wait"]).ok().json();
    assert_eq!(j["status"], "Running");
    let j = json(&["sandbox", "stop", "stop-a", "--wait"]).ok().json();
    assert_eq!(j["status"], "Stopped");
    let t = text(&["sandbox", "resume", "stop-a"]).ok();
    assert!(t.stdout.starts_with("stop-a: "), "{}", t.stdout);
}

#[test]
fn sandbox_resume_of_a_running_sandbox_is_an_error() {
    sandbox("resume-a");
    let r = text(&["sandbox", "resume", "resume-a"]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
}

#[test]
fn sandbox_delete_and_wait_until_deleted() {
    sandbox("delete-a");
    sandbox("delete-b");
    let t = text(&["sandbox", "delete", "delete-a", "--wait"]).ok();
    assert_eq!(t.stdout, "delete-a: deleted\n");
    let j = json(&["sandbox", "delete", "delete-b"]).ok().json();
    assert_eq!(j, json!({"sandboxId": "delete-b", "status": "deleting"}));
    let j = json(&["sandbox", "wait", "delete-b", "--for", "deleted"])
        .ok()
        .json();
    assert_eq!(j["status"], "deleted");
    text(&["sandbox", "get", "delete-b"]).code(1);
}

#[test]
fn sandbox_clone_makes_a_new_sandbox() {
    // Clone snapshots carry the second they were taken in, so each source clones once.
    sandbox("clone-src");
    sandbox("clone-src2");
    let t = text(&["sandbox", "clone", "clone-src2", "--name", "clone-a"]).ok();
    assert!(t.stdout.contains("clone-a"), "{}", t.stdout);
    let j = json(&["sandbox", "clone", "clone-src", "--name", "clone-b"])
        .ok()
        .json();
    assert_eq!(j["name"], "clone-b");
    assert_eq!(j["clonedFrom"], "clone-src");
}

#[test]
fn sandbox_exec_prints_output_and_returns_the_remote_exit_code() {
    sandbox("exec-a");
    // --env and --workdir wrap the command, which the emulator's `echo` does not follow.
    shared()
        .router
        .on_exec(ExecRule::contains("exec-a-marker").stdout("x\n"));
    let t = text(&["sandbox", "exec", "exec-a", "--", "echo", "hello"]).ok();
    assert_eq!(t.stdout, "hello\n");
    let r = text(&["sandbox", "exec", "exec-a", "--", "exit", "7"]);
    assert_eq!(r.code, Some(7));
    let j = json(&["sandbox", "exec", "exec-a", "--", "exit", "3"])
        .code(3)
        .json();
    assert_eq!(j["exitCode"], 3);
    let j = json(&[
        "sandbox",
        "exec",
        "exec-a",
        "--timeout",
        "30s",
        "--env",
        "A=b",
        "--workdir",
        "/workspace",
        "--",
        "exec-a-marker",
    ])
    .ok()
    .json();
    assert_eq!(j["stdout"], "x\n");
    assert_eq!(j["exitCode"], 0);
}

#[test]
fn sandbox_wait_returns_the_running_summary() {
    sandbox("wait-a");
    assert!(
        text(&["sandbox", "wait", "wait-a", "--timeout", "30"])
            .ok()
            .stdout
            .contains("Running")
    );
    assert_eq!(
        json(&["sandbox", "wait", "wait-a"]).ok().json()["status"],
        "Running"
    );
}

#[test]
fn sandbox_patch_applies_labels_and_idle_timeout() {
    sandbox("patch-a");
    let t = text(&["sandbox", "patch", "patch-a", "--label", "team=ml"]).ok();
    assert!(t.stdout.contains("sandboxId"), "{}", t.stdout);
    let j = json(&[
        "sandbox",
        "patch",
        "patch-a",
        "--idle-timeout",
        "45m",
        "--annotation",
        "a=b",
    ])
    .ok()
    .json();
    assert_eq!(j["sandboxId"], "patch-a");
}

#[test]
fn sandbox_patch_without_fields_is_refused_before_any_request() {
    let r = text(&["sandbox", "patch", "patch-nothing"]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
}

#[test]
fn sandbox_bulk_create_creates_every_item_of_the_file() {
    let f = temp_file(
        r#"[{"name": "bulk-a", "template": "general-coding"},
            {"name": "bulk-b", "templateRef": {"name": "general-coding", "kind": "ClusterSandboxTemplate"}}]"#,
    );
    let t = text(&["sandbox", "bulk-create", "--file", path(&f)]).ok();
    assert!(t.stdout.starts_with("INDEX"), "{}", t.stdout);
    assert_eq!(t.stdout.matches("created").count(), 2, "{}", t.stdout);
    let f = temp_file(r#"[{"name": "bulk-c", "template": "general-coding"}]"#);
    let j = json(&["sandbox", "bulk-create", "--file", path(&f)])
        .ok()
        .json();
    assert_eq!(j[0]["sandboxId"], "bulk-c");
    let bad = temp_file(r#"[{"template": "general-coding"}]"#);
    let r = text(&["sandbox", "bulk-create", "--file", path(&bad)]).code(1);
    assert!(r.stderr.contains("missing \"name\""), "{}", r.stderr);
}

#[test]
fn sandbox_bulk_action_reports_each_sandbox() {
    sandbox("bulkact-a");
    sandbox("bulkact-b");
    let t = text(&[
        "sandbox",
        "bulk-action",
        "--action",
        "stop",
        "bulkact-a",
        "bulkact-b",
    ])
    .ok();
    assert_eq!(t.stdout.matches(" ok").count(), 2, "{}", t.stdout);
    let j = json(&["sandbox", "bulk-action", "--action", "delete", "bulkact-a"])
        .ok()
        .json();
    assert_eq!(j[0]["status"], "ok");
    let r = text(&["sandbox", "bulk-action", "--action", "explode", "x"]).code(2);
    assert!(r.stderr.contains("stop, resume, delete"), "{}", r.stderr);
}

#[test]
fn sandbox_shell_pipes_stdin_to_the_terminal_and_output_back() {
    let router = block(
        FakeRouter::builder()
            .creating_delay(Duration::ZERO)
            .local_exec(true)
            .start(),
    );
    block(
        router
            .client()
            .create_sandbox("shell-a")
            .template("general-coding")
            .wait_until_running()
            .send(),
    )
    .expect("create");
    let mut cmd = base_command();
    cmd.args(["--api-url", router.url(), "sandbox", "shell", "shell-a"]);
    let r = finish(&mut cmd, Some(b"echo from-the-shell\n")).ok();
    assert!(r.stdout.contains("from-the-shell"), "{}", r.stdout);
    drop(router);
}

#[test]
fn ctrl_c_exits_with_130() {
    let router = block(
        FakeRouter::builder()
            .creating_delay(Duration::ZERO)
            .local_exec(true)
            .start(),
    );
    block(
        router
            .client()
            .create_sandbox("ctrlc-a")
            .template("general-coding")
            .wait_until_running()
            .send(),
    )
    .expect("create");
    let mut cmd = base_command();
    cmd.args(["--api-url", router.url(), "sandbox", "shell", "ctrlc-a"])
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"echo ready\n").expect("write");
    // Once the remote echo arrives the command is inside its run loop (the handler is set).
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert_eq!(first.trim(), "ready");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "agenttier: interrupted\n"
    );
    drop(stdin);
}

// ---------------------------------------------------------------- sandbox sharing

#[test]
fn sandbox_sharing_grant_list_revoke_and_create_link() {
    sandbox("share-a");
    let t = text(&[
        "sandbox",
        "sharing",
        "grant",
        "share-a",
        "bob@example.com",
        "--level",
        "collaborator",
    ])
    .ok();
    assert!(t.stdout.contains("bob@example.com"), "{}", t.stdout);
    let j = json(&[
        "sandbox", "sharing", "grant", "share-a", "eng", "--kind", "group",
    ])
    .ok()
    .json();
    assert_eq!(j["groups"][0]["identity"], "eng");
    let j = json(&["sandbox", "sharing", "list", "share-a"]).ok().json();
    assert_eq!(j["users"][0]["level"], "collaborator");
    assert!(
        text(&["sandbox", "sharing", "list", "share-a"])
            .ok()
            .stdout
            .contains("users")
    );
    let t = text(&["sandbox", "sharing", "revoke", "share-a", "eng"]).ok();
    assert!(t.stdout.contains("revoked"), "{}", t.stdout);
    let j = json(&["sandbox", "sharing", "revoke", "share-a", "bob@example.com"])
        .ok()
        .json();
    assert_eq!(j["status"], "revoked");
    let j = json(&[
        "sandbox",
        "sharing",
        "create-link",
        "share-a",
        "--max-uses",
        "2",
        "--expires-in",
        "1h",
    ])
    .ok()
    .json();
    assert_eq!(j["maxUses"], 2);
    assert!(
        text(&["sandbox", "sharing", "create-link", "share-a"])
            .ok()
            .stdout
            .contains("token")
    );
    let r = text(&[
        "sandbox", "sharing", "grant", "share-a", "x", "--level", "owner",
    ])
    .code(2);
    assert!(r.stderr.contains("owner"), "{}", r.stderr);
}

// ---------------------------------------------------------------- sandbox backups

#[test]
fn sandbox_backups_create_list_restore_delete() {
    // Snapshot names carry the second they were taken in, so each sandbox takes one.
    sandbox("backup-a");
    sandbox("backup-b");
    let j = json(&["sandbox", "backups", "create", "backup-a"])
        .ok()
        .json();
    let snap = j["name"].as_str().expect("name").to_owned();
    let t = text(&["sandbox", "backups", "create", "backup-b"]).ok();
    assert!(t.stdout.contains("scheduled-backup"), "{}", t.stdout);
    let t = text(&["sandbox", "backups", "list", "backup-a"]).ok();
    assert!(t.stdout.starts_with("NAME"), "{}", t.stdout);
    assert!(t.stdout.contains(&snap));
    let j = json(&["sandbox", "backups", "list", "backup-b"])
        .ok()
        .json();
    let other = j[0]["name"].as_str().expect("name").to_owned();
    let j = json(&[
        "sandbox",
        "backups",
        "restore",
        "backup-a",
        &snap,
        "--name",
        "backup-r1",
    ])
    .ok()
    .json();
    assert_eq!(j["name"], "backup-r1");
    let t = text(&[
        "sandbox",
        "backups",
        "restore",
        "backup-b",
        &other,
        "--name",
        "backup-r2",
    ])
    .ok();
    assert!(t.stdout.contains("backup-r2"), "{}", t.stdout);
    let t = text(&["sandbox", "backups", "delete", "backup-a", &snap]).ok();
    assert!(!t.stdout.is_empty());
    json(&["sandbox", "backups", "delete", "backup-b", &other])
        .ok()
        .json();
    assert_eq!(
        json(&["sandbox", "backups", "list", "backup-a"])
            .ok()
            .json(),
        json!([])
    );
}

// ---------------------------------------------------------------- sandbox files

#[test]
fn sandbox_files_write_cat_and_ls() {
    sandbox("files-a");
    let t = text(&[
        "sandbox",
        "files",
        "write",
        "files-a",
        "/workspace/a.txt",
        "--data",
        "hello\n",
    ])
    .ok();
    assert!(t.stdout.contains("/workspace/a.txt"));
    let f = temp_file("from a file");
    let j = json(&[
        "sandbox",
        "files",
        "write",
        "files-a",
        "/workspace/b.txt",
        "--file",
        path(&f),
    ])
    .ok()
    .json();
    assert_eq!(j["bytes"], 11);
    let r = with_stdin(
        &[
            "sandbox",
            "files",
            "write",
            "files-a",
            "/workspace/c.txt",
            "--file",
            "-",
        ],
        b"piped",
    )
    .ok();
    assert!(r.stdout.contains("5"), "{}", r.stdout);
    assert_eq!(
        text(&["sandbox", "files", "cat", "files-a", "/workspace/a.txt"])
            .ok()
            .stdout,
        "hello\n"
    );
    let j = json(&["sandbox", "files", "cat", "files-a", "/workspace/c.txt"])
        .ok()
        .json();
    assert_eq!(j["content"], "piped");
    let t = text(&["sandbox", "files", "ls", "files-a"]).ok();
    assert!(t.stdout.starts_with("MODE"), "{}", t.stdout);
    assert!(
        t.stdout.lines().any(|l| l.ends_with(" a.txt")),
        "{}",
        t.stdout
    );
    let j = json(&["sandbox", "files", "ls", "files-a", "/workspace"])
        .ok()
        .json();
    assert_eq!(j["entries"].as_array().expect("entries").len(), 3);
    let r = text(&["sandbox", "files", "write", "files-a", "/workspace/x"]).code(2);
    assert!(r.stderr.contains("--data"), "{}", r.stderr);
}

#[test]
fn sandbox_files_upload_and_download_files_and_directories() {
    sandbox("tree-a");
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("one.txt"), "1").expect("write");
    std::fs::write(src.join("sub").join("two.txt"), "22").expect("write");
    let s = src.to_str().expect("utf-8");
    let t = text(&["sandbox", "files", "upload", "tree-a", s, "/workspace/proj"]).ok();
    assert_eq!(t.stdout, "uploaded /workspace/proj: 2 file(s), 3 bytes\n");
    let one = src.join("one.txt");
    let j = json(&[
        "sandbox",
        "files",
        "upload",
        "tree-a",
        one.to_str().expect("utf-8"),
        "/workspace/single.txt",
    ])
    .ok()
    .json();
    assert_eq!(
        j,
        json!({"path": "/workspace/single.txt", "files": 1, "bytes": 1})
    );

    let back = dir.path().join("back");
    let j = json(&[
        "sandbox",
        "files",
        "download",
        "tree-a",
        "/workspace/proj",
        back.to_str().expect("utf-8"),
        "-r",
    ])
    .ok()
    .json();
    assert_eq!(j["files"], 2);
    assert_eq!(
        std::fs::read_to_string(back.join("sub").join("two.txt")).expect("read"),
        "22"
    );
    let single = dir.path().join("single.txt");
    let t = text(&[
        "sandbox",
        "files",
        "download",
        "tree-a",
        "/workspace/single.txt",
        single.to_str().expect("utf-8"),
    ])
    .ok();
    assert!(t.stdout.starts_with("downloaded "), "{}", t.stdout);
    assert_eq!(std::fs::read_to_string(&single).expect("read"), "1");
    let missing = dir.path().join("nope");
    let r = text(&[
        "sandbox",
        "files",
        "upload",
        "tree-a",
        missing.to_str().expect("utf-8"),
        "/workspace/x",
    ])
    .code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
}

#[test]
fn sandbox_files_archive_writes_a_tarball() {
    sandbox("archive-a");
    text(&[
        "sandbox",
        "files",
        "write",
        "archive-a",
        "/workspace/a.txt",
        "--data",
        "x",
    ])
    .ok();
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("ws.tar.gz");
    let d = dest.to_str().expect("utf-8");
    let t = text(&[
        "sandbox",
        "files",
        "archive",
        "archive-a",
        "/workspace",
        "--dest",
        d,
    ])
    .ok();
    assert!(t.stdout.starts_with("archived "), "{}", t.stdout);
    let j = json(&[
        "sandbox",
        "files",
        "archive",
        "archive-a",
        "/workspace",
        "-o",
        d,
    ])
    .ok()
    .json();
    assert_eq!(
        j["bytes"].as_u64(),
        Some(std::fs::metadata(&dest).expect("meta").len())
    );
}

#[test]
fn transfers_and_waits_print_nothing_on_stderr_when_it_is_not_a_terminal() {
    // Chunked uploads are joined by a shell command in the sandbox: a router that runs them.
    let router = block(
        FakeRouter::builder()
            .creating_delay(Duration::ZERO)
            .local_exec(true)
            .start(),
    );
    let on = |args: &[&str]| {
        let mut cmd = base_command();
        cmd.args(["--api-url", router.url()]).args(args);
        finish(&mut cmd, None).ok()
    };
    let dir = tempfile::tempdir().expect("dir");
    let big = dir.path().join("big.bin");
    // Above the chunk threshold: the upload goes up in parts, each reporting progress.
    std::fs::write(&big, vec![b'x'; 300 * 1024]).expect("write");
    on(&["sandbox", "create", "quiet-a", "--wait"]);
    let r = on(&[
        "sandbox",
        "files",
        "upload",
        "quiet-a",
        big.to_str().expect("utf-8"),
        "/workspace/big.bin",
    ]);
    assert_eq!(
        r.stdout,
        "uploaded /workspace/big.bin: 1 file(s), 307200 bytes\n"
    );
    let back = dir.path().join("back.bin");
    on(&[
        "sandbox",
        "files",
        "download",
        "quiet-a",
        "/workspace/big.bin",
        back.to_str().expect("utf-8"),
    ]);
    assert_eq!(std::fs::metadata(&back).expect("meta").len(), 300 * 1024);
    on(&["sandbox", "stop", "quiet-a", "--wait"]);
    drop(router);
}

// ---------------------------------------------------------------- sandbox ports

#[test]
fn sandbox_ports_forward_list_remove() {
    sandbox("ports-a");
    let t = text(&["sandbox", "ports", "forward", "ports-a", "8080"]).ok();
    assert!(t.stdout.contains("8080"));
    let j = json(&[
        "sandbox",
        "ports",
        "forward",
        "ports-a",
        "9090",
        "--protocol",
        "http",
    ])
    .ok()
    .json();
    assert_eq!(j["port"], 9090);
    let t = text(&["sandbox", "ports", "list", "ports-a"]).ok();
    assert!(t.stdout.starts_with("PORT"), "{}", t.stdout);
    assert_eq!(
        json(&["sandbox", "ports", "list", "ports-a"])
            .ok()
            .json()
            .as_array()
            .expect("array")
            .len(),
        2
    );
    assert_eq!(
        text(&["sandbox", "ports", "remove", "ports-a", "8080"])
            .ok()
            .stdout,
        "8080: removed\n"
    );
    assert_eq!(
        json(&["sandbox", "ports", "remove", "ports-a", "9090"])
            .ok()
            .json(),
        json!({"port": 9090, "status": "removed"})
    );
    let r = text(&["sandbox", "ports", "forward", "ports-a", "0"]).code(2);
    assert!(r.stderr.contains("0"), "{}", r.stderr);
}

// ---------------------------------------------------------------- template

#[test]
fn template_list_and_get() {
    let t = text(&["template", "list"]).ok();
    assert!(t.stdout.starts_with("NAME"), "{}", t.stdout);
    assert!(t.stdout.contains("general-coding"));
    let j = json(&["template", "list"]).ok().json();
    assert!(
        j.as_array()
            .expect("array")
            .iter()
            .any(|t| t["name"] == "general-coding")
    );
    assert!(
        text(&["template", "get", "general-coding"])
            .ok()
            .stdout
            .contains("image")
    );
    assert_eq!(
        json(&["template", "get", "general-coding"]).ok().json()["name"],
        "general-coding"
    );
    text(&["template", "get", "no-such-template"]).code(1);
}

// ---------------------------------------------------------------- configure and invoke

fn agent_sandbox(name: &str) -> tempfile::NamedTempFile {
    block(
        client()
            .create_sandbox(name)
            .template("agent-python")
            .wait_until_running()
            .send(),
    )
    .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    temp_file("print('hi')\n")
}

#[test]
fn configure_uploads_files_and_sets_the_entrypoint() {
    let script = agent_sandbox("configure-a");
    let file = format!("/workspace/agent.py={}", path(&script));
    let t = text(&[
        "configure",
        "configure-a",
        "--file",
        &file,
        "--install",
        "echo installing",
        "--entrypoint",
        "echo 'agent says hi'",
    ])
    .code(0);
    assert!(t.stdout.contains("installCommandHash"), "{}", t.stdout);
    let j = json(&["configure", "configure-a", "--entrypoint", "echo again"])
        .ok()
        .json();
    assert_eq!(j["entrypoint"], json!(["echo", "again"]));
    let r = json(&["configure", "configure-a", "--install", "exit 4"]).code(1);
    assert!(
        r.stderr.contains("install exited with code 4"),
        "{}",
        r.stderr
    );
    let r = text(&[
        "configure",
        "configure-a",
        "--entrypoint",
        "echo 'unbalanced",
    ])
    .code(1);
    assert!(r.stderr.contains("unbalanced quotes"), "{}", r.stderr);
}

#[test]
fn invoke_prints_the_agent_output_and_returns_its_exit_code() {
    agent_sandbox("invoke-a");
    json(&["configure", "invoke-a", "--entrypoint", "echo agent-output"]).ok();
    let t = text(&["invoke", "invoke-a", "--prompt", "hello"]).ok();
    assert!(t.stdout.contains("agent-output"), "{}", t.stdout);
    let j = json(&["invoke", "invoke-a", "--input", "{\"x\":1}"])
        .ok()
        .json();
    assert_eq!(j["exitCode"], 0);
    assert_eq!(j["reason"], "completed");
    let input = temp_file("{\"from\": \"a file\"}");
    let at = format!("@{}", path(&input));
    assert!(
        text(&["invoke", "invoke-a", "--input", &at])
            .ok()
            .stdout
            .contains("agent-output")
    );
    let r = with_stdin(&["invoke", "invoke-a", "--input", "-"], b"from stdin").ok();
    assert!(r.stdout.contains("agent-output"));
    json(&["configure", "invoke-a", "--entrypoint", "exit 5"]).ok();
    let j = json(&["invoke", "invoke-a", "--prompt", "x"])
        .code(5)
        .json();
    assert_eq!(j["exitCode"], 5);
    text(&["invoke", "invoke-a", "--prompt", "x", "--timeout", "1m"]).code(5);
}

#[test]
fn invoke_cancel_stops_a_running_invocation() {
    agent_sandbox("cancel-a");
    shared()
        .router
        .on_exec(ExecRule::contains("slow-agent-cancel-a").delay(Duration::from_secs(600)));
    json(&[
        "configure",
        "cancel-a",
        "--entrypoint",
        "slow-agent-cancel-a",
    ])
    .ok();
    let sb = client().sandbox("cancel-a").expect("handle");
    let mut events = block(sb.agent().invoke("{}").stream()).expect("stream");
    let id = match block(events.next()) {
        Some(Ok(InvokeEvent::Start(s))) => s.invoke_id,
        other => panic!("expected a start event, got {other:?}"),
    };
    let t = text(&["invoke", "cancel-a", "--cancel", &id]).ok();
    assert_eq!(t.stdout, format!("{id}: canceled\n"));
    let record = block(shared().router.wait_for_invocation(&id));
    assert!(
        format!("{record:?}").to_lowercase().contains("cancel"),
        "{record:?}"
    );
    let r = json(&["invoke", "cancel-a", "--cancel", &id]).code(1);
    assert!(r.stderr.contains("not in flight"), "{}", r.stderr);
}

// ---------------------------------------------------------------- governance

#[test]
fn governance_set_get_list_effective_delete() {
    let policy = temp_file(r#"{"maxSandboxesTotal": 5}"#);
    let t = text(&["governance", "set", "gov-ns", "--file", path(&policy)]).ok();
    assert!(t.stdout.contains("5"), "{}", t.stdout);
    let j = json(&["governance", "get", "gov-ns"]).ok().json();
    assert_eq!(j["maxSandboxesTotal"], 5);
    assert!(
        text(&["governance", "get", "gov-ns"])
            .ok()
            .stdout
            .contains("maxSandboxesTotal")
    );
    let j = json(&["governance", "list"]).ok().json();
    let listed = j["namespaces"].as_array().expect("namespaces");
    assert!(
        listed
            .iter()
            .any(|p| p["namespace"] == "gov-ns" && p["policy"]["maxSandboxesTotal"] == 5)
    );
    assert!(text(&["governance", "list"]).ok().stdout.contains("gov-ns"));
    let j = json(&["governance", "effective", "gov-ns"]).ok().json();
    assert_eq!(j["namespace"], "gov-ns");
    assert!(
        text(&["--namespace", "gov-ns", "governance", "effective"])
            .ok()
            .stdout
            .contains("gov-ns")
    );
    assert_eq!(
        text(&["governance", "delete", "gov-ns"]).ok().stdout,
        "gov-ns: deleted\n"
    );
    let j = json(&["governance", "set", "gov-ns2", "--file", path(&policy)])
        .ok()
        .json();
    assert_eq!(j["maxSandboxesTotal"], 5);
    assert_eq!(
        json(&["governance", "delete", "gov-ns2"]).ok().json()["status"],
        "deleted"
    );
    let bad = temp_file("{not json");
    let r = text(&["governance", "set", "gov-ns", "--file", path(&bad)]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
}

// ---------------------------------------------------------------- admin and fleet groups

#[test]
fn audit_list_shows_events() {
    sandbox("audit-a");
    let t = text(&["audit", "list"]).ok();
    assert!(t.stdout.starts_with("TIMESTAMP"), "{}", t.stdout);
    assert!(json(&["audit", "list"]).ok().json().is_array());
}

#[test]
fn analytics_usage_and_costs() {
    sandbox("analytics-a");
    assert!(
        text(&["analytics", "usage"])
            .ok()
            .stdout
            .contains("total_sandboxes")
    );
    assert!(json(&["analytics", "usage"]).ok().json()["total_sandboxes"].is_number());
    assert!(
        text(&["analytics", "costs"])
            .ok()
            .stdout
            .contains("running_sandboxes")
    );
    assert!(json(&["analytics", "costs"]).ok().json()["per_template"].is_array());
}

#[test]
fn admin_sandboxes_and_sharing() {
    sandbox("admin-a");
    let t = text(&["admin", "sandboxes"]).ok();
    assert!(
        t.stdout.lines().any(|l| l.starts_with("admin-a ")),
        "{}",
        t.stdout
    );
    let j = json(&["--namespace", "default", "admin", "sandboxes"])
        .ok()
        .json();
    assert!(
        j.as_array()
            .expect("array")
            .iter()
            .any(|s| s["sandboxId"] == "admin-a")
    );
    text(&["admin", "sharing"]).ok();
    assert!(json(&["admin", "sharing"]).ok().json().is_object());
}

#[test]
fn user_preferences_set_and_get() {
    let prefs = temp_file(r#"{"theme": "dark"}"#);
    let t = text(&["user", "preferences-set", "--file", path(&prefs)]).ok();
    assert!(t.stdout.contains("dark"), "{}", t.stdout);
    assert_eq!(
        json(&["user", "preferences-get"]).ok().json()["theme"],
        "dark"
    );
    assert!(
        text(&["user", "preferences-get"])
            .ok()
            .stdout
            .contains("theme")
    );
    let j = json(&["user", "preferences-set", "--file", path(&prefs)])
        .ok()
        .json();
    assert_eq!(j["theme"], "dark");
}

#[test]
fn apikeys_create_list_revoke() {
    sandbox("keys-a");
    let j = json(&["apikeys", "create", "ci-key", "--expires-in", "720h"])
        .ok()
        .json();
    let id = j["id"].as_str().expect("id").to_owned();
    assert!(j["key"].as_str().is_some_and(|k| !k.is_empty()), "{j}");
    let t = text(&[
        "apikeys",
        "create",
        "scoped-key",
        "--sandbox-id",
        "keys-a",
        "--action-group",
        "run-command",
    ])
    .ok();
    assert!(t.stdout.contains("keys-a"), "{}", t.stdout);
    let t = text(&["apikeys", "list"]).ok();
    assert!(t.stdout.starts_with("ID"), "{}", t.stdout);
    assert!(t.stdout.contains("ci-key"));
    assert!(
        json(&["apikeys", "list"])
            .ok()
            .json()
            .as_array()
            .expect("array")
            .iter()
            .any(|k| k["id"] == id.as_str())
    );
    assert!(
        text(&["apikeys", "revoke", &id])
            .ok()
            .stdout
            .contains("revoked")
    );
    let other = json(&["apikeys", "list"]).ok().json()[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    json(&["apikeys", "revoke", &other]).ok().json();
    let r = text(&["apikeys", "create", "x", "--action-group", "run-command"]).code(2);
    assert!(r.stderr.contains("--sandbox-id"), "{}", r.stderr);
}

#[test]
fn warmpool_config_and_status() {
    let pools = temp_file(r#"[{"template": "general-coding", "desiredCount": 2}]"#);
    let t = text(&["warmpool", "config", "--file", path(&pools)]).ok();
    assert!(!t.stdout.is_empty());
    let j = json(&["warmpool", "config", "--file", path(&pools)])
        .ok()
        .json();
    assert!(j.is_object());
    assert!(!text(&["warmpool", "status"]).ok().stdout.is_empty());
    assert!(json(&["warmpool", "status"]).ok().json().is_object());
    let bad = temp_file(r#"[{"template": "general-coding", "desiredCount": 11}]"#);
    text(&["warmpool", "config", "--file", path(&bad)]).code(1);
}

#[test]
fn cluster_status_nodes_and_headroom() {
    assert!(text(&["cluster", "status"]).ok().stdout.contains("nodes"));
    assert_eq!(json(&["cluster", "status"]).ok().json()["nodes"], 1);
    assert!(text(&["cluster", "nodes"]).ok().stdout.contains("summary"));
    assert!(json(&["cluster", "nodes"]).ok().json()["nodes"].is_array());
    let t = text(&[
        "cluster",
        "headroom-set",
        "--replicas",
        "2",
        "--cpu",
        "1",
        "--memory",
        "1Gi",
    ])
    .ok();
    assert!(t.stdout.contains("replicas"), "{}", t.stdout);
    assert!(
        json(&["cluster", "headroom-set", "--replicas", "2"])
            .ok()
            .json()
            .is_object()
    );
    assert!(
        text(&["cluster", "headroom-get"])
            .ok()
            .stdout
            .contains("replicas")
    );
    assert_eq!(
        json(&["cluster", "headroom-get"]).ok().json()["replicas"],
        2
    );
    let r = text(&["cluster", "headroom-set", "--replicas", "51"]).code(2);
    assert!(r.stderr.contains("51"), "{}", r.stderr);
}

#[test]
fn webhooks_create_list_deliveries_delete() {
    let j = json(&[
        "webhooks",
        "create",
        "https://hooks.example.com/a",
        "--event-type",
        "sandbox.running",
    ])
    .ok()
    .json();
    let id = j["id"].as_str().expect("id").to_owned();
    let t = text(&[
        "webhooks",
        "create",
        "https://hooks.example.com/b",
        "--event-type",
        "sandbox.stopped",
        "--event-type",
        "backup.created",
    ])
    .ok();
    assert!(t.stdout.contains("hooks.example.com/b"), "{}", t.stdout);
    let t = text(&["webhooks", "list"]).ok();
    assert!(t.stdout.starts_with("ID"), "{}", t.stdout);
    assert!(
        json(&["webhooks", "list"])
            .ok()
            .json()
            .as_array()
            .expect("array")
            .iter()
            .any(|w| w["id"] == id.as_str())
    );
    assert_eq!(
        text(&["webhooks", "deliveries", &id]).ok().stdout,
        "(none)\n"
    );
    assert_eq!(
        json(&["webhooks", "deliveries", &id]).ok().json(),
        json!([])
    );
    assert_eq!(
        text(&["webhooks", "delete", &id]).ok().stdout,
        format!("{id}: deleted\n")
    );
    let other = json(&["webhooks", "list"]).ok().json()[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        json(&["webhooks", "delete", &other]).ok().json()["status"],
        "deleted"
    );
    let r = text(&[
        "webhooks",
        "create",
        "https://hooks.example.com/c",
        "--event-type",
        "no.such.event",
    ])
    .code(1);
    assert!(r.stderr.contains("no.such.event"), "{}", r.stderr);
}

// ---------------------------------------------------------------- exit codes and credentials

#[test]
fn usage_errors_exit_with_2() {
    let r = text(&["sandbox", "frobnicate"]).code(2);
    assert!(r.stderr.contains("frobnicate"));
    text(&["sandbox", "exec", "x"]).code(2);
    text(&["--output", "yaml", "version"]).code(2);
    text(&["sandbox", "create", "x", "--timeout", "5 minutes"]).code(2);
}

#[test]
fn api_errors_exit_with_1_and_print_agenttier_colon_message() {
    let r = text(&["sandbox", "get", "does-not-exist"]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
    assert!(r.stderr.contains("404"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let before = shared().router.requests().len();
    let r = text(&["sandbox", "create", "Not_A_Label"]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
    assert!(
        !shared().router.requests()[before..]
            .iter()
            .any(|q| format!("{q:?}").contains("Not_A_Label")),
        "a request was sent"
    );
}

#[test]
fn no_router_url_is_an_error_naming_the_variable() {
    let mut cmd = base_command();
    cmd.args(["whoami"]);
    let r = finish(&mut cmd, None).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
    assert!(r.stderr.contains("AGENTTIER_API_URL"), "{}", r.stderr);
}

#[test]
fn api_keys_come_from_the_flag_or_the_environment_and_the_flag_wins() {
    let router = block(FakeRouter::builder().api_key("atk_cli_test").start());
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = base_command();
        cmd.envs(envs.iter().copied())
            .args(["--output", "json", "--api-url", router.url()])
            .args(args)
            .arg("whoami");
        finish(&mut cmd, None)
    };
    assert_eq!(
        run(&[], &["--api-key", "atk_cli_test"]).ok().json()["email"],
        "test-user@agenttier.local"
    );
    run(&[("AGENTTIER_API_KEY", "atk_cli_test")], &[]).ok();
    run(
        &[("AGENTTIER_API_KEY", "wrong")],
        &["--api-key", "atk_cli_test"],
    )
    .ok();
    let r = run(&[], &[]).code(1);
    assert!(r.stderr.starts_with("agenttier: "), "{}", r.stderr);
    // A --token flag beats an API key from the environment (so the key is not sent).
    let r = run(
        &[("AGENTTIER_API_KEY", "atk_cli_test")],
        &["--token", "jwt"],
    )
    .code(1);
    assert!(r.stderr.contains("401"), "{}", r.stderr);
    let mut cmd = base_command();
    cmd.env("AGENTTIER_API_URL", router.url())
        .env("AGENTTIER_API_KEY", "atk_cli_test")
        .arg("whoami");
    finish(&mut cmd, None).ok();
    drop(router);
}

// ---------------------------------------------------------------- the command tree

/// Every leaf, as `agenttier_cli::command_tree` names them; each one is exercised above.
const LEAVES: &[&str] = &[
    "version",
    "login",
    "whoami",
    "sandbox list",
    "sandbox get",
    "sandbox create",
    "sandbox stop",
    "sandbox resume",
    "sandbox delete",
    "sandbox clone",
    "sandbox exec",
    "sandbox wait",
    "sandbox patch",
    "sandbox bulk-create",
    "sandbox bulk-action",
    "sandbox shell",
    "sandbox sharing list",
    "sandbox sharing grant",
    "sandbox sharing revoke",
    "sandbox sharing create-link",
    "sandbox backups list",
    "sandbox backups create",
    "sandbox backups restore",
    "sandbox backups delete",
    "sandbox files ls",
    "sandbox files cat",
    "sandbox files upload",
    "sandbox files download",
    "sandbox files archive",
    "sandbox files write",
    "sandbox ports list",
    "sandbox ports forward",
    "sandbox ports remove",
    "template list",
    "template get",
    "configure",
    "invoke",
    "governance list",
    "governance get",
    "governance set",
    "governance delete",
    "governance effective",
    "audit list",
    "analytics usage",
    "analytics costs",
    "admin sandboxes",
    "admin sharing",
    "user preferences-get",
    "user preferences-set",
    "apikeys list",
    "apikeys create",
    "apikeys revoke",
    "warmpool status",
    "warmpool config",
    "cluster status",
    "cluster nodes",
    "cluster headroom-get",
    "cluster headroom-set",
    "webhooks create",
    "webhooks list",
    "webhooks delete",
    "webhooks deliveries",
    "mcp",
    "completions",
];

#[test]
fn the_command_tree_matches_the_checked_in_snapshot() {
    let tree = agenttier_cli::command_tree();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/command-tree.txt");
    if std::env::var_os("UPDATE_CLI_TREE").is_some() {
        std::fs::write(&file, &tree).expect("write the snapshot");
    }
    let want = std::fs::read_to_string(&file)
        .expect("tests/command-tree.txt (UPDATE_CLI_TREE=1 writes it)");
    assert_eq!(
        tree, want,
        "the command tree changed: review, then rerun with UPDATE_CLI_TREE=1"
    );
}

#[test]
fn every_leaf_of_the_tree_is_in_the_tested_list() {
    let leaves: Vec<String> = agenttier_cli::command_tree()
        .lines()
        .map(|l| {
            l.split(' ')
                .skip(1)
                .take_while(|w| !w.starts_with('<') && !w.starts_with('[') && !w.starts_with('-'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        leaves, LEAVES,
        "a leaf was added or removed: give it a test and list it here"
    );
    // The Python CLI's 61 leaves, plus shell, mcp and completions.
    assert_eq!(LEAVES.len(), 64);
}

#[test]
fn every_operation_of_the_spec_has_a_leaf_or_a_reason() {
    let tree = agenttier_cli::command_tree();
    for op in agenttier::operations::OPERATIONS {
        match agenttier_cli::leaf_for(op) {
            Ok(leaf) => assert!(
                tree.lines().any(|l| l == format!("agenttier {leaf}")
                    || l.starts_with(&format!("agenttier {leaf} "))),
                "{} maps to `{leaf}`, which is not a leaf",
                op.name
            ),
            Err(reason) => assert_ne!(reason, agenttier_cli::UNDECIDED, "{}", op.name),
        }
    }
}

#[test]
fn help_lists_every_family() {
    let help = text(&["--help"]).ok().stdout;
    for family in [
        "version",
        "login",
        "whoami",
        "sandbox",
        "template",
        "configure",
        "invoke",
        "governance",
        "audit",
        "analytics",
        "admin",
        "user",
        "apikeys",
        "warmpool",
        "cluster",
        "webhooks",
        "mcp",
        "completions",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{family} "))),
            "{family} missing:\n{help}"
        );
    }
    let sandbox_help = text(&["sandbox", "--help"]).ok().stdout;
    for group in ["sharing", "backups", "files", "ports", "shell"] {
        assert!(sandbox_help.contains(group), "{group}");
    }
}

#[test]
fn mcp_serves_the_tools_over_stdio_with_the_command_lines_client() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;

    let id = sandbox("mcp-a");
    block(async {
        // The clean environment of every test; the transport pipes stdin and stdout itself.
        let mut cmd = tokio::process::Command::from(base_command());
        cmd.args(["--api-url", shared().router.url(), "mcp", "--read-only"])
            .stderr(std::process::Stdio::inherit());
        let transport = rmcp::transport::TokioChildProcess::new(cmd).expect("spawn agenttier mcp");
        let client = ().serve(transport).await.expect("MCP handshake");
        let names: Vec<String> = client
            .list_all_tools()
            .await
            .expect("tools/list")
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        // --read-only: the reading tools only; no admin tools without --admin.
        assert!(names.iter().any(|n| n == "sandbox_list"), "{names:?}");
        assert!(!names.iter().any(|n| n == "sandbox_create"), "{names:?}");
        assert!(
            !names.iter().any(|n| n == "admin_list_sandboxes"),
            "{names:?}"
        );
        // A call reaches the Router through the command line's client.
        let Value::Object(args) = json!({}) else {
            unreachable!()
        };
        let listed = client
            .call_tool(CallToolRequestParams::new("sandbox_list".to_string()).with_arguments(args))
            .await
            .expect("sandbox_list");
        assert_ne!(listed.is_error, Some(true), "{:?}", listed.content);
        let listed = listed.structured_content.expect("structured content");
        assert!(listed.to_string().contains(&id), "{listed}");
        client.cancel().await.expect("close");
    });
}
