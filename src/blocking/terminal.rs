//! Terminal sessions (blocking, with feature `terminal`): the raw session as an [`Iterator`]
//! of events, and the stateful shell.

use std::time::Duration;

use super::runtime::check_outside;
use super::{Client, Sandbox};
use crate::terminal::{ShellOutput, TerminalEvent};
use crate::{Error, Result};

impl Sandbox {
    /// Options for a terminal session; see [`crate::Sandbox::terminal`].
    ///
    /// ```no_run
    /// # fn demo(sb: agenttier::blocking::Sandbox) -> agenttier::Result<()> {
    /// let mut shell = sb.terminal().size(120, 40).shell()?;
    /// shell.run("cd /workspace && export X=1")?;
    /// assert_eq!(shell.run("echo $X")?.stdout, "1\n");
    /// shell.close()?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
    pub fn terminal(&self) -> TerminalBuilder {
        TerminalBuilder {
            inner: self.inner.terminal(),
            client: self.client.clone(),
        }
    }
}

/// Options for a terminal session (blocking); see [`crate::terminal::TerminalBuilder`].
#[derive(Clone, Debug)]
#[must_use = "a terminal builder does nothing until it connects"]
pub struct TerminalBuilder {
    inner: crate::terminal::TerminalBuilder,
    client: Client,
}

impl TerminalBuilder {
    /// See [`crate::terminal::TerminalBuilder::token_in_query`].
    pub fn token_in_query(mut self, yes: bool) -> Self {
        self.inner = self.inner.token_in_query(yes);
        self
    }

    /// See [`crate::terminal::TerminalBuilder::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.inner = self.inner.namespace(namespace);
        self
    }

    /// See [`crate::terminal::TerminalBuilder::size`].
    pub fn size(mut self, cols: u16, rows: u16) -> Self {
        self.inner = self.inner.size(cols, rows);
        self
    }

    /// Opens the session; see [`crate::terminal::TerminalBuilder::connect`].
    pub fn connect(self) -> Result<Terminal> {
        let b = self.inner;
        let t = self
            .client
            .block("TerminalBuilder::connect", async move { b.connect().await })?;
        Ok(Terminal {
            inner: Some(t),
            client: self.client,
        })
    }

    /// Opens the session as a stateful shell; see [`crate::terminal::TerminalBuilder::shell`].
    pub fn shell(self) -> Result<Shell> {
        let b = self.inner;
        let s = self
            .client
            .block("TerminalBuilder::shell", async move { b.shell().await })?;
        Ok(Shell {
            inner: Some(s),
            client: self.client,
        })
    }
}

/// A terminal session (blocking); see [`crate::terminal::Terminal`]. Its events are an
/// [`Iterator`]; [`Terminal::write`], [`Terminal::resize`] and [`Terminal::ping`] only queue
/// a frame and never park. A call cut off by the options' deadline, or refused inside a Tokio
/// runtime, ends the session (the error is yielded once, then the iterator ends).
pub struct Terminal {
    inner: Option<crate::terminal::Terminal>,
    client: Client,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Terminal")
            .field("open", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

fn ended() -> Error {
    Error::TerminalClosed {
        message: "the terminal session has ended".to_owned(),
    }
}

impl Terminal {
    /// Sends input; see [`crate::terminal::Terminal::write`].
    pub fn write(&self, data: impl Into<String>) -> Result<()> {
        check_outside("Terminal::write")?;
        let t = self.inner.as_ref().ok_or_else(ended)?;
        // Queues a frame for the session's task: ready at once, no runtime needed.
        futures::executor::block_on(t.write(data))
    }

    /// Resizes the terminal; see [`crate::terminal::Terminal::resize`].
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        check_outside("Terminal::resize")?;
        let t = self.inner.as_ref().ok_or_else(ended)?;
        futures::executor::block_on(t.resize(cols, rows))
    }

    /// Sends a ping; see [`crate::terminal::Terminal::ping`].
    pub fn ping(&self) -> Result<()> {
        check_outside("Terminal::ping")?;
        let t = self.inner.as_ref().ok_or_else(ended)?;
        futures::executor::block_on(t.ping())
    }

    /// The next event, `None` once the session ended; see
    /// [`crate::terminal::Terminal::next_event`].
    pub fn next_event(&mut self) -> Option<Result<TerminalEvent>> {
        let mut t = self.inner.take()?;
        if let Err(e) = check_outside("Terminal::next_event") {
            // Yielded once, then the session ends: a `collect` inside a runtime terminates.
            return Some(Err(e));
        }
        match self.client.run("Terminal::next_event", async move {
            let event = t.next_event().await;
            (t, event)
        }) {
            Ok((t, event)) => {
                self.inner = Some(t);
                event
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Closes the session and waits for the socket to close; see
    /// [`crate::terminal::Terminal::close`]. Inside a Tokio runtime the session is dropped
    /// instead (its socket is cut).
    pub fn close(mut self) {
        if let Some(t) = self.inner.take() {
            let _ = self
                .client
                .run("Terminal::close", async move { t.close().await });
        }
    }
}

impl Iterator for Terminal {
    type Item = Result<TerminalEvent>;

    /// [`Terminal::next_event`].
    fn next(&mut self) -> Option<Result<TerminalEvent>> {
        self.next_event()
    }
}

/// A stateful shell on a terminal session (blocking); see [`crate::terminal::Shell`].
#[derive(Debug)]
pub struct Shell {
    inner: Option<crate::terminal::Shell>,
    client: Client,
}

impl Shell {
    /// Starts a shell on an open session; see [`crate::terminal::Shell::start`].
    pub fn start(terminal: Terminal) -> Result<Shell> {
        let mut terminal = terminal;
        let t = terminal.inner.take().ok_or_else(ended)?;
        let client = terminal.client.clone();
        let s = client.block("Shell::start", async move {
            crate::terminal::Shell::start(t).await
        })?;
        Ok(Shell {
            inner: Some(s),
            client,
        })
    }

    /// The time a [`Shell::run`] may take; see [`crate::terminal::Shell::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.map(|s| s.timeout(timeout));
        self
    }

    /// Runs a command; see [`crate::terminal::Shell::run`].
    pub fn run(&mut self, command: &str) -> Result<ShellOutput> {
        let command = command.to_owned();
        self.with_shell("Shell::run", move |mut s| async move {
            let out = s.run(&command).await;
            (s, out)
        })
    }

    /// Runs a command with its own timeout; see [`crate::terminal::Shell::run_with_timeout`].
    pub fn run_with_timeout(&mut self, command: &str, timeout: Duration) -> Result<ShellOutput> {
        let command = command.to_owned();
        self.with_shell("Shell::run_with_timeout", move |mut s| async move {
            let out = s.run_with_timeout(&command, timeout).await;
            (s, out)
        })
    }

    /// Sends Ctrl-C; see [`crate::terminal::Shell::interrupt`].
    pub fn interrupt(&self) -> Result<()> {
        check_outside("Shell::interrupt")?;
        let s = self.inner.as_ref().ok_or_else(ended)?;
        // Queues a frame for the session's task: ready at once, no runtime needed.
        futures::executor::block_on(s.interrupt())
    }

    /// Resizes the terminal; see [`crate::terminal::Shell::resize`].
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        check_outside("Shell::resize")?;
        let s = self.inner.as_ref().ok_or_else(ended)?;
        futures::executor::block_on(s.resize(cols, rows))
    }

    /// Exits the shell and closes the session; see [`crate::terminal::Shell::close`].
    pub fn close(mut self) -> Result<()> {
        check_outside("Shell::close")?;
        let s = self.inner.take().ok_or_else(ended)?;
        self.client
            .block("Shell::close", async move { s.close().await })
    }

    /// The session under the shell; see [`crate::terminal::Shell::into_terminal`].
    pub fn into_terminal(self) -> Terminal {
        Terminal {
            inner: self.inner.map(crate::terminal::Shell::into_terminal),
            client: self.client,
        }
    }

    fn with_shell<F, Fut>(&mut self, operation: &'static str, call: F) -> Result<ShellOutput>
    where
        F: FnOnce(crate::terminal::Shell) -> Fut,
        Fut: Future<Output = (crate::terminal::Shell, Result<ShellOutput>)> + Send + 'static,
    {
        check_outside(operation)?;
        let s = self.inner.take().ok_or_else(ended)?;
        let (s, out) = self.client.run(operation, call(s))?;
        self.inner = Some(s);
        out
    }
}
