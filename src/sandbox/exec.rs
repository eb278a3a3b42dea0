//! Running commands in a sandbox.

use std::time::{Duration, Instant};

use super::Sandbox;
use crate::types::ExecRequest;
use crate::{Result, wire};

/// The Router's exec timeout when none is given.
const ROUTER_DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack on top of the command timeout for the HTTP request (as the Python SDK does).
const HTTP_SLACK: Duration = Duration::from_secs(10);

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
pub struct ExecOptions {
    timeout: Option<Duration>,
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
    /// ```
    /// use std::time::Duration;
    /// use agenttier::ExecOutput;
    ///
    /// let out = ExecOutput {
    ///     stdout: String::new(),
    ///     stderr: "grep: no match\n".into(),
    ///     exit_code: 1,
    ///     duration: Duration::from_millis(40),
    /// };
    /// assert!(!out.success()); // a failed command is not an Err
    /// ```
    pub fn success(&self) -> bool {
        self.exit_code == 0
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
        let command = wire::shell_join(argv)?;
        self.exec(&command).await
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
        let timeout = options
            .timeout
            .map(|d| wire::positive("timeout", d))
            .transpose()?;
        let seconds = timeout.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let body = ExecRequest {
            command: command.to_owned(),
            timeout: seconds.map(|s| s as i64),
        };
        let http_timeout = timeout.unwrap_or(ROUTER_DEFAULT_EXEC_TIMEOUT) + HTTP_SLACK;
        let client = self.client.with_timeout(
            self.client
                .options()
                .timeout
                .map_or(http_timeout, |t| t.max(http_timeout)),
        );
        let started = Instant::now();
        let result = client
            .json::<crate::types::ExecResult>(
                client
                    .call(&crate::operations::op::EXEC_COMMAND, &[&self.id])?
                    .json(&body)?,
            )
            .await?;
        Ok(ExecOutput {
            stdout: result.stdout,
            stderr: result.stderr,
            exit_code: result.exit_code,
            duration: started.elapsed(),
        })
    }
}
