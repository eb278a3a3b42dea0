//! Agent mode (blocking): configure, invoke, and their event streams as iterators.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Client;
use crate::types::{ConfigureResult, LogEvent};
use crate::{ConfigureEvent, InvokeEvent, InvokeOutput, Result};

/// A sandbox's agent mode (blocking); see [`crate::Agent`].
///
/// ```no_run
/// # fn demo(sb: agenttier::blocking::Sandbox) -> agenttier::Result<()> {
/// sb.agent().configure().entrypoint(["python3", "/workspace/agent.py"]).send()?;
/// let out = sb.agent().invoke("hello").collect()?;
/// println!("{}", out.stdout);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Agent {
    pub(crate) inner: crate::Agent,
    pub(crate) client: Client,
}

impl Agent {
    /// Starts a configure call; see [`crate::Agent::configure`].
    pub fn configure(&self) -> Configure {
        Configure {
            inner: self.inner.configure(),
            client: self.client.clone(),
        }
    }

    /// Starts an invocation; see [`crate::Agent::invoke`].
    pub fn invoke(&self, payload: impl Into<Bytes>) -> Invoke {
        Invoke {
            inner: self.inner.invoke(payload),
            client: self.client.clone(),
        }
    }

    /// Cancels an invocation; see [`crate::Agent::cancel`].
    pub fn cancel(&self, invoke_id: &str) -> Result<()> {
        let (a, id) = (self.inner.clone(), invoke_id.to_owned());
        self.client
            .block("Agent::cancel", async move { a.cancel(&id).await })
    }

    /// The last install's log; see [`crate::Agent::install_log`].
    pub fn install_log(&self) -> Result<Bytes> {
        let a = self.inner.clone();
        self.client
            .block("Agent::install_log", async move { a.install_log().await })
    }
}

/// A configure call being built (blocking); see [`crate::Configure`].
#[derive(Debug)]
#[must_use = "a Configure does nothing until sent"]
pub struct Configure {
    inner: crate::Configure,
    client: Client,
}

impl Configure {
    /// See [`crate::Configure::file`].
    pub fn file(mut self, path: impl Into<String>, content: impl Into<Bytes>) -> Self {
        self.inner = self.inner.file(path, content);
        self
    }

    /// See [`crate::Configure::install_command`].
    pub fn install_command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.inner = self.inner.install_command(argv);
        self
    }

    /// See [`crate::Configure::entrypoint`].
    pub fn entrypoint<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.inner = self.inner.entrypoint(argv);
        self
    }

    /// Sends the call and returns its events as an iterator; see
    /// [`crate::Configure::stream`].
    pub fn stream(self) -> Result<EventStream<ConfigureEvent>> {
        let c = self.inner;
        let stream = self
            .client
            .block("Configure::stream", async move { c.stream().await })?;
        Ok(EventStream::new(stream, self.client))
    }

    /// Sends the call, handing each log line to `on_log` on this thread as it arrives; see
    /// [`crate::Configure::send_logging`].
    pub fn send_logging(self, mut on_log: impl FnMut(&LogEvent)) -> Result<ConfigureResult> {
        let (tx, logs) = mpsc::channel::<LogEvent>();
        let c = self.inner;
        let pending = self.client.submit("Configure::send_logging", async move {
            c.send_logging(move |log| {
                let _ = tx.send(log.clone());
            })
            .await
        })?;
        let deadline = self.client.deadline();
        // The sender goes away with the call's future: the loop ends when the call does.
        loop {
            let got = match deadline {
                None => logs.recv().map_err(|_| ()),
                Some(at) => logs
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                    .map_err(|_| ()),
            };
            match got {
                Ok(log) => on_log(&log),
                Err(()) => break,
            }
        }
        pending.wait(deadline)?
    }

    /// Sends the call and returns the result; see [`crate::Configure::send`].
    pub fn send(self) -> Result<ConfigureResult> {
        let c = self.inner;
        self.client
            .block("Configure::send", async move { c.send().await })
    }
}

/// An invocation being built (blocking); see [`crate::Invoke`].
#[derive(Debug)]
#[must_use = "an Invoke does nothing until sent"]
pub struct Invoke {
    inner: crate::Invoke,
    client: Client,
}

impl Invoke {
    /// See [`crate::Invoke::prompt`].
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.inner = self.inner.prompt(prompt);
        self
    }

    /// See [`crate::Invoke::timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.inner = self.inner.timeout(d);
        self
    }

    /// See [`crate::Invoke::json`].
    pub fn json(mut self, value: &impl serde::Serialize) -> Result<Self> {
        self.inner = self.inner.json(value)?;
        Ok(self)
    }

    /// Sends the invocation and returns its events as an iterator; see
    /// [`crate::Invoke::stream`]. Dropping the iterator cancels the invocation.
    pub fn stream(self) -> Result<EventStream<InvokeEvent>> {
        let i = self.inner;
        let stream = self
            .client
            .block("Invoke::stream", async move { i.stream().await })?;
        Ok(EventStream::new(stream, self.client))
    }

    /// Sends the invocation and collects its output; see [`crate::Invoke::collect`].
    pub fn collect(self) -> Result<InvokeOutput> {
        let i = self.inner;
        self.client
            .block("Invoke::collect", async move { i.collect().await })
    }
}

/// The events of a configure or invoke call, as a blocking [`Iterator`]; see
/// [`crate::EventStream`]. Each `next` parks until the next event (or the end). An error
/// that ends the stream (the refusal inside a Tokio runtime, the options' deadline) is yielded
/// once, and the iterator then ends.
///
/// ```no_run
/// # fn demo(sb: agenttier::blocking::Sandbox) -> agenttier::Result<()> {
/// use agenttier::InvokeEvent;
/// for event in sb.agent().invoke("hello").stream()? {
///     if let InvokeEvent::Log(line) = event? {
///         println!("{}", line.data);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct EventStream<T> {
    inner: Option<crate::EventStream<T>>,
    client: Client,
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("blocking::EventStream")
    }
}

impl<T> EventStream<T> {
    fn new(inner: crate::EventStream<T>, client: Client) -> Self {
        Self {
            inner: Some(inner),
            client,
        }
    }
}

impl<T: Send + 'static> Iterator for EventStream<T> {
    type Item = Result<T>;

    /// The next event, `None` once the stream ended; see [`crate::EventStream::next`].
    fn next(&mut self) -> Option<Result<T>> {
        let mut stream = self.inner.take()?;
        if let Err(e) = super::runtime::check_outside("EventStream::next") {
            // Yielded once, then the iterator ends: a `collect` inside a runtime terminates.
            return Some(Err(e));
        }
        let next = self.client.run("EventStream::next", async move {
            let item = stream.next().await;
            (stream, item)
        });
        match next {
            Ok((stream, item)) => {
                if item.is_some() {
                    self.inner = Some(stream);
                }
                item
            }
            // The stream went with the call (its deadline passed): report it once, then end.
            Err(e) => Some(Err(e)),
        }
    }
}
