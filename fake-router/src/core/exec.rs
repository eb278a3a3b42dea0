//! The command runner behind exec, configure's install command and the invoke entrypoint:
//! test-registered [`ExecRule`]s, a tiny built-in emulation, or (opt-in) a real `sh -c`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::wire;
use super::workspace::Workspace;

/// The Router caps exec stdout and stderr at 1 MiB each (SPDY path).
pub(crate) const EXEC_OUTPUT_CAP: usize = 1 << 20;

/// Invoke's stdin cap (16 MiB).
pub(crate) const INVOKE_BODY_CAP: usize = 16 << 20;

#[derive(Clone, Debug)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Contains(String),
    Any,
}

/// A canned answer for commands run in a sandbox (exec, configure's install command, the
/// invoke entrypoint, and each command of the scripted terminal or of a script exec
/// interprets, matched against its expanded words joined by spaces), registered with
/// [`FakeRouter::on_exec`](crate::FakeRouter::on_exec). The first matching rule wins.
///
/// ```
/// use agenttier_fake_router::ExecRule;
/// let rule = ExecRule::contains("pip install").stdout("ok\n").exit_code(0);
/// let failing = ExecRule::prefix("make").stderr("boom\n").exit_code(2);
/// # let _ = (rule, failing);
/// ```
#[derive(Clone, Debug)]
pub struct ExecRule {
    matcher: Matcher,
    stdout: String,
    stderr: String,
    exit_code: i32,
    delay: Duration,
}

impl ExecRule {
    fn new(matcher: Matcher) -> Self {
        ExecRule {
            matcher,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 0,
            delay: Duration::ZERO,
        }
    }

    /// Commands equal to `command`.
    pub fn exact(command: impl Into<String>) -> Self {
        Self::new(Matcher::Exact(command.into()))
    }

    /// Commands starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::new(Matcher::Prefix(prefix.into()))
    }

    /// Commands containing `needle`.
    pub fn contains(needle: impl Into<String>) -> Self {
        Self::new(Matcher::Contains(needle.into()))
    }

    /// Every command.
    pub fn any() -> Self {
        Self::new(Matcher::Any)
    }

    /// Standard output to answer with.
    pub fn stdout(mut self, out: impl Into<String>) -> Self {
        self.stdout = out.into();
        self
    }

    /// Standard error to answer with.
    pub fn stderr(mut self, err: impl Into<String>) -> Self {
        self.stderr = err.into();
        self
    }

    /// Exit code to answer with (default 0).
    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }

    /// How long the command "runs" before it exits (default none). For invoke the output is
    /// streamed first, then the delay passes, then the exit event follows.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn matches(&self, command: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => command == s,
            Matcher::Prefix(s) => command.starts_with(s.as_str()),
            Matcher::Contains(s) => command.contains(s.as_str()),
            Matcher::Any => true,
        }
    }

    pub(crate) fn output(&self) -> Output {
        Output {
            stdout: self.stdout.clone().into_bytes(),
            stderr: self.stderr.clone().into_bytes(),
            exit_code: self.exit_code,
        }
    }

    pub(crate) fn wait(&self) -> Duration {
        self.delay
    }
}

/// What a finished command produced.
#[derive(Clone, Debug, Default)]
pub(crate) struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// The first rule matching `command`, if any.
pub(crate) fn find_rule<'a>(rules: &'a [ExecRule], command: &str) -> Option<&'a ExecRule> {
    rules.iter().find(|r| r.matches(command))
}

impl ExecRule {
    /// The rule's answer and how long the command "runs".
    pub(crate) fn answer(&self) -> (Output, Duration) {
        (self.output(), self.wait())
    }
}

/// Answer a command with no rule and no local execution: `echo`, `cat`, `ls`, `true`,
/// `false` and `exit N` are emulated; anything else exits 0 with no output.
fn builtin(workspace: &Workspace, command: &str) -> Output {
    let cmd = command.trim();
    let simple = !cmd.contains(['|', ';', '&', '>', '<', '$', '`', '(', ')', '\n', '*', '?']);
    if !simple {
        return Output::default();
    }
    let words = split_words(cmd);
    if words.first().map(String::as_str) == Some("exit") {
        return Output {
            exit_code: words
                .get(1)
                .and_then(|n| n.parse::<i32>().ok())
                .unwrap_or(0),
            ..Output::default()
        };
    }
    file_command(workspace, "/workspace", &words, b"", EXEC_OUTPUT_CAP).unwrap_or_default()
}

/// The commands the emulator answers itself, shared by exec and the scripted terminal:
/// `echo [-n]`, `cat [file…]` (standard input without files, or for `-`),
/// `wc [-c|-l|-w] [file…]`, `ls [-a|-A|-l|-1] [path…]`, `true` and `false`. Relative paths
/// are resolved against `cwd`; `cat` stops with a write error past `limit` bytes. `None`
/// for any other command.
pub(crate) fn file_command(
    workspace: &Workspace,
    cwd: &str,
    words: &[String],
    stdin: &[u8],
    limit: usize,
) -> Option<Output> {
    let mut ok = Output::default();
    match words.first().map(String::as_str)? {
        "echo" => {
            let (newline, args) = match words.get(1).map(String::as_str) {
                Some("-n") => (false, &words[2..]),
                _ => (true, &words[1..]),
            };
            ok.stdout = args.join(" ").into_bytes();
            if newline {
                ok.stdout.push(b'\n');
            }
        }
        "cat" => {
            if words.len() == 1 {
                ok.stdout = stdin.to_vec();
            }
            for path in &words[1..] {
                let data = if path == "-" {
                    Ok(bytes::Bytes::copy_from_slice(stdin))
                } else {
                    workspace.read(&resolve(cwd, path))
                };
                match data {
                    Ok(data) if ok.stdout.len() + data.len() > limit => {
                        ok.stderr
                            .extend_from_slice(b"cat: write error: No space left on device\n");
                        ok.exit_code = 1;
                        break;
                    }
                    Ok(data) => ok.stdout.extend_from_slice(&data),
                    Err(_) => {
                        ok.stderr.extend_from_slice(
                            format!("cat: can't open '{path}': No such file or directory\n")
                                .as_bytes(),
                        );
                        ok.exit_code = 1;
                    }
                }
            }
        }
        "ls" => ls(workspace, cwd, &words[1..], &mut ok),
        "wc" => wc(workspace, cwd, &words[1..], stdin, &mut ok),
        "true" => {}
        "false" => ok.exit_code = 1,
        _ => return None,
    }
    Some(ok)
}

/// `wc`: counts of lines (`-l`), words (`-w`) and bytes (`-c`), all three without flags;
/// of standard input (the counts alone) or of each file (with its name, and a total).
fn wc(workspace: &Workspace, cwd: &str, args: &[String], stdin: &[u8], out: &mut Output) {
    let (mut lines, mut words, mut bytes) = (false, false, false);
    let mut paths = Vec::new();
    for a in args {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                lines |= flags.contains('l');
                words |= flags.contains('w');
                bytes |= flags.contains('c') || flags.contains('m');
            }
            _ => paths.push(a.as_str()),
        }
    }
    if !(lines || words || bytes) {
        (lines, words, bytes) = (true, true, true);
    }
    let count = |data: &[u8]| {
        let mut row = Vec::new();
        if lines {
            row.push(data.iter().filter(|&&b| b == b'\n').count());
        }
        if words {
            row.push(
                data.split(|b| b.is_ascii_whitespace())
                    .filter(|w| !w.is_empty())
                    .count(),
            );
        }
        if bytes {
            row.push(data.len());
        }
        row
    };
    let show = |row: &[usize]| {
        row.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    if paths.is_empty() {
        out.stdout
            .extend_from_slice(format!("{}\n", show(&count(stdin))).as_bytes());
        return;
    }
    let mut total = vec![0; count(b"").len()];
    for path in &paths {
        let data = if *path == "-" {
            Ok(bytes::Bytes::copy_from_slice(stdin))
        } else {
            workspace.read(&resolve(cwd, path))
        };
        match data {
            Ok(data) => {
                let row = count(&data);
                for (t, n) in total.iter_mut().zip(&row) {
                    *t += n;
                }
                out.stdout
                    .extend_from_slice(format!("{} {path}\n", show(&row)).as_bytes());
            }
            Err(_) => {
                out.stderr.extend_from_slice(
                    format!("wc: {path}: No such file or directory\n").as_bytes(),
                );
                out.exit_code = 1;
            }
        }
    }
    if paths.len() > 1 {
        out.stdout
            .extend_from_slice(format!("{} total\n", show(&total)).as_bytes());
    }
}

/// `ls`: one name per line, sorted; `-a` adds `.` and `..` and dot files, `-A` dot files,
/// `-l` rows of mode, size and name.
fn ls(workspace: &Workspace, cwd: &str, args: &[String], out: &mut Output) {
    let (mut all, mut almost, mut long) = (false, false, false);
    let mut paths = Vec::new();
    for a in args {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                all |= flags.contains('a');
                almost |= flags.contains('A');
                long |= flags.contains('l');
            }
            _ => paths.push(a.as_str()),
        }
    }
    if paths.is_empty() {
        paths.push(".");
    }
    let row = |mode: &str, size: u64, name: &str| {
        if long {
            format!("{mode} {size:>8} {name}\n")
        } else {
            format!("{name}\n")
        }
    };
    let several = paths.len() > 1;
    for (i, path) in paths.iter().enumerate() {
        let full = resolve(cwd, path);
        match workspace.list(&full) {
            Some(entries) => {
                if several {
                    let gap = if i > 0 { "\n" } else { "" };
                    out.stdout
                        .extend_from_slice(format!("{gap}{path}:\n").as_bytes());
                }
                if all {
                    for dot in [".", ".."] {
                        out.stdout
                            .extend_from_slice(row("drwxr-xr-x", 4096, dot).as_bytes());
                    }
                }
                for e in entries {
                    if e.name.starts_with('.') && !(all || almost) {
                        continue;
                    }
                    out.stdout
                        .extend_from_slice(row(&e.mode, e.size, &e.name).as_bytes());
                }
            }
            None => match workspace.read(&full) {
                Ok(data) => out
                    .stdout
                    .extend_from_slice(row("-rw-r--r--", data.len() as u64, path).as_bytes()),
                Err(_) => {
                    out.stderr.extend_from_slice(
                        format!("ls: cannot access '{path}': No such file or directory\n")
                            .as_bytes(),
                    );
                    out.exit_code = 2;
                }
            },
        }
    }
}

/// `path` made absolute against `cwd`, and cleaned.
pub(crate) fn resolve(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        wire::clean_path(path)
    } else {
        wire::clean_path(&format!("{cwd}/{path}"))
    }
}

/// Split a simple shell word list, honouring single and double quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Rewrite the literal `/workspace` prefix to the sandbox's local directory.
pub(crate) fn localize(text: &str, root: &Path) -> String {
    text.replace("/workspace", &format!("{}/workspace", root.display()))
}

/// Quote one argv element for `sh -c` (the Router's shell-quoting of the entrypoint).
pub(crate) fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A line of output from a streamed process.
pub(crate) struct Line {
    pub stderr: bool,
    pub data: Vec<u8>,
    /// Whether the line ended with `\n` (the last line of a stream may not).
    pub ended: bool,
}

async fn pump<R: AsyncRead + Unpin>(reader: R, stderr: bool, tx: mpsc::Sender<Line>) {
    let mut reader = BufReader::new(reader);
    loop {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let ended = buf.last() == Some(&b'\n');
                if ended {
                    buf.pop();
                }
                let line = Line {
                    stderr,
                    data: buf,
                    ended,
                };
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Run a real process (local mode), streaming its output lines; returns the exit code.
/// `argv` is run directly; the process is killed when the returned future is dropped.
pub(crate) async fn run_streaming(
    argv: &[String],
    cwd: &Path,
    stdin: Option<Vec<u8>>,
    lines: mpsc::Sender<Line>,
) -> std::io::Result<i32> {
    let Some((prog, args)) = argv.split_first() else {
        return Ok(0);
    };
    let mut child = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = pipe.write_all(&data).await;
            let _ = pipe.shutdown().await;
        });
    }
    let out = child.stdout.take().map(|o| pump(o, false, lines.clone()));
    let err = child.stderr.take().map(|e| pump(e, true, lines.clone()));
    drop(lines);
    let pumps = async {
        if let Some(o) = out {
            o.await
        }
    };
    let pumps_err = async {
        if let Some(e) = err {
            e.await
        }
    };
    let (_, _, status) = tokio::join!(pumps, pumps_err, child.wait());
    Ok(status?.code().unwrap_or(-1))
}

/// Run a shell command for real and collect its output (capped like the Router's).
pub(crate) async fn run_collect(command: &str, cwd: &Path) -> Output {
    let (tx, mut rx) = mpsc::channel(64);
    let argv = vec!["sh".to_string(), "-c".to_string(), command.to_string()];
    let cwd: PathBuf = cwd.to_path_buf();
    let run = async move { run_streaming(&argv, &cwd, None, tx).await };
    let collect = async {
        let mut out = Output::default();
        while let Some(line) = rx.recv().await {
            let buf = if line.stderr {
                &mut out.stderr
            } else {
                &mut out.stdout
            };
            if buf.len() < EXEC_OUTPUT_CAP {
                buf.extend_from_slice(&line.data);
                if line.ended {
                    buf.push(b'\n');
                }
                buf.truncate(EXEC_OUTPUT_CAP);
            }
        }
        out
    };
    let (code, mut out) = tokio::join!(run, collect);
    out.exit_code = match code {
        Ok(c) => c,
        Err(e) => {
            out.stderr
                .extend_from_slice(format!("sh: {e}\n").as_bytes());
            1
        }
    };
    out
}

/// What to do for one command, decided under the lock.
pub(crate) enum Plan {
    /// Answer with this output after this delay.
    Canned(Output, Duration),
    /// Run it for real with this directory as the container root.
    Local(PathBuf),
}

/// Decide how `command` runs in a sandbox with this filesystem (configure's install command
/// and the invoke entrypoint): the first matching rule, else the local directory
/// (`local_exec`), else the built-in emulation of simple commands.
pub(crate) fn plan(rules: &[ExecRule], workspace: &Workspace, command: &str) -> Plan {
    if let Some(rule) = find_rule(rules, command) {
        return Plan::Canned(rule.output(), rule.wait());
    }
    match workspace.local_root() {
        Some(root) => Plan::Local(root),
        None => Plan::Canned(builtin(workspace, command), Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_words("echo 'a b' \"c\" d"),
            vec!["echo", "a b", "c", "d"]
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("/workspace/a.py"), "/workspace/a.py");
    }
}
