//! Running commands in a sandbox.

use std::time::{Duration, Instant};

use super::Sandbox;
use crate::operations::op;
use crate::types::{ExecRequest, ExecResult};
use crate::{Error, Result, wire};

/// The Router's exec timeout when none is given.
const ROUTER_DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack on top of the command timeout for the HTTP request (as the Python SDK does).
const HTTP_SLACK: Duration = Duration::from_secs(10);
/// Longest command: the Router runs `sh -c <command>` in the container, and Linux refuses one
/// argument longer than 128 KiB (`MAX_ARG_STRLEN`, its terminating NUL included).
const MAX_COMMAND: usize = 128 * 1024 - 1;
/// The longest command timeout accepted (a day; the Router's HTTP-exec path caps at 30 min).
pub(super) const MAX_EXEC_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Options for [`Sandbox::exec_with`].
///
/// ```
/// use std::time::Duration;
/// use agenttier::ExecOptions;
///
/// let long = ExecOptions::default().timeout(Duration::from_secs(15 * 60));
/// # let _ = long;
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ExecOptions {
    timeout: Option<Duration>,
    env: Vec<(String, String)>,
    workdir: Option<String>,
}

impl ExecOptions {
    /// The command timeout, sent to the Router in whole seconds (rounded up). The HTTP
    /// request is given 10 s more. The Router enforces it only on the HTTP-exec path; on the
    /// default path the client's deadline is what bounds the call.
    ///
    /// ```
    /// use std::time::Duration;
    /// // The Router is sent 2 (whole seconds, rounded up).
    /// let opts = agenttier::ExecOptions::default().timeout(Duration::from_millis(1500));
    /// # let _ = opts;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sets an environment variable for the command. The Router's exec has no field for it,
    /// so it is put in front of the command, quoted for the shell (`export NAME='value' && ...`);
    /// names must be `[A-Za-z_][A-Za-z0-9_]*` (checked before sending).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::ExecOptions;
    /// let opts = ExecOptions::default().env("GREETING", "it's $5").workdir("/workspace/app");
    /// let out = sb.exec_with("echo \"$GREETING\" from $(pwd)", opts).await?;
    /// assert_eq!(out.stdout, "it's $5 from /workspace/app\n");
    /// # Ok(()) }
    /// ```
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Runs the command in `dir` (an absolute sandbox path), with `cd` in front of it, quoted.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let opts = agenttier::ExecOptions::default().workdir("/workspace/app");
    /// sb.exec_with("make test", opts).await?;
    /// # Ok(()) }
    /// ```
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// `command` with the working directory and environment in front of it.
    fn wrap(&self, command: &str) -> Result<String> {
        if self.workdir.is_none() && self.env.is_empty() {
            return Ok(command.to_owned());
        }
        let mut out = String::new();
        if let Some(dir) = &self.workdir {
            wire::remote_path(dir)?;
            out.push_str("cd ");
            out.push_str(&wire::shell_quote(dir));
            out.push_str(" && ");
        }
        for (name, value) in &self.env {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::invalid(
                    "env",
                    format!("{name:?} is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*)"),
                ));
            }
            if value.contains('\0') {
                return Err(Error::invalid(
                    "env",
                    format!("the value of {name} contains NUL"),
                ));
            }
            out.push_str("export ");
            out.push_str(name);
            out.push('=');
            out.push_str(&wire::shell_quote(value));
            out.push_str(" && ");
        }
        // A subshell, so that `exit` in the command ends it with its own status.
        out.push_str("( ");
        out.push_str(command);
        out.push_str("\n)");
        Ok(out)
    }
}

/// The outcome of a command. A non-zero exit code is not an error.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let out = sb.exec("pytest -q").await?;
/// if !out.success() {
///     eprintln!("exit {} after {:?}:\n{}", out.exit_code, out.duration, out.stderr);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// Standard output (the Router cuts each stream at 1 MiB on its default path).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code. `-1` means the Router's HTTP-exec path timed out; `1` may also mean a
    /// transport failure on its default path.
    pub exit_code: i32,
    /// Wall time measured by the client, request included.
    pub duration: Duration,
}

impl ExecOutput {
    /// True when the exit code is 0.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.exec("grep -q needle /workspace/haystack").await?;
    /// if !out.success() {
    ///     println!("not found (exit {})", out.exit_code); // a failed command is not an Err
    /// }
    /// # Ok(()) }
    /// ```
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// The output when the exit code is 0, else [`Error::CommandFailed`] carrying the exit code,
    /// stdout and stderr.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let built = sb.exec("cargo build").await?.check()?; // a failed build is an Err
    /// # Ok(()) }
    /// ```
    pub fn check(self) -> Result<ExecOutput> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::CommandFailed {
                exit_code: self.exit_code,
                stdout: self.stdout,
                stderr: self.stderr,
            })
        }
    }
}

impl Sandbox {
    /// Runs `command` with `/bin/sh -c` in the sandbox (it must be Running).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.exec("python3 --version").await?;
    /// println!("{} (exit {}, {:?})", out.stdout.trim(), out.exit_code, out.duration);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "execCommand")]
    pub async fn exec(&self, command: &str) -> Result<ExecOutput> {
        self.exec_with(command, ExecOptions::default()).await
    }

    /// Runs an argument vector, each argument quoted for the shell, so spaces, quotes and
    /// `$` reach the program unchanged.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.exec_argv(&["grep", "-rn", "it's here", "/workspace"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn exec_argv<S: AsRef<str>>(&self, argv: &[S]) -> Result<ExecOutput> {
        self.exec_argv_with(argv, ExecOptions::default()).await
    }

    /// [`Sandbox::exec_argv`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::ExecOptions;
    /// let opts = ExecOptions::default().workdir("/workspace");
    /// let out = sb.exec_argv_with(&["ls", "-la", "my dir"], opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn exec_argv_with<S: AsRef<str>>(
        &self,
        argv: &[S],
        options: ExecOptions,
    ) -> Result<ExecOutput> {
        let command = wire::shell_join(argv)?;
        self.exec_with(&command, options).await
    }

    /// [`Sandbox::exec`], then [`ExecOutput::check`]: a non-zero exit is
    /// [`Error::CommandFailed`].
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.exec_checked("pip install -r /workspace/requirements.txt").await?;
    /// # Ok(()) }
    /// ```
    pub async fn exec_checked(&self, command: &str) -> Result<ExecOutput> {
        self.exec(command).await?.check()
    }

    /// Runs `command` with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::ExecOptions;
    /// let opts = ExecOptions::default().timeout(Duration::from_secs(600));
    /// let out = sb.exec_with("cd /workspace && make test", opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn exec_with(&self, command: &str, options: ExecOptions) -> Result<ExecOutput> {
        wire::non_empty("command", command)?;
        let command = options.wrap(command)?;
        let command = command.as_str();
        if command.contains('\0') {
            return Err(Error::invalid(
                "command",
                "contains NUL, which no shell argument can carry",
            ));
        }
        if command.len() > MAX_COMMAND {
            return Err(Error::invalid(
                "command",
                format!(
                    "is {} bytes (with its environment and working directory); `sh -c` takes at most {MAX_COMMAND}: upload a script instead",
                    command.len()
                ),
            ));
        }
        let timeout = options
            .timeout
            .map(|d| wire::positive("timeout", d))
            .transpose()?;
        if let Some(d) = timeout
            && d > MAX_EXEC_TIMEOUT
        {
            return Err(Error::invalid(
                "timeout",
                format!("{d:?} is longer than the {MAX_EXEC_TIMEOUT:?} an exec may run"),
            ));
        }
        let seconds = timeout.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let body = ExecRequest {
            command: command.to_owned(),
            timeout: seconds.map(|s| s as i64),
        };
        // The call waits for the command (and 10 s), unless the caller set its own timeout.
        let needs = timeout.unwrap_or(ROUTER_DEFAULT_EXEC_TIMEOUT) + HTTP_SLACK;
        let c = &self.client;
        let call = c
            .call(&op::EXEC_COMMAND, &[&self.id])?
            .json(&body)?
            .at_least(needs);
        let started = Instant::now();
        let result: ExecResult = c.json(call).await?;
        Ok(ExecOutput {
            stdout: result.stdout,
            stderr: result.stderr,
            exit_code: result.exit_code,
            duration: started.elapsed(),
        })
    }
}
