//! Agent mode: configure a sandbox's agent and invoke it, with the Router's event streams.
//!
//! One file per concern: the event types and their stream ([`events`]), the configure call
//! ([`configure`]) and the invoke call ([`invoke`]); the [`Agent`] handle, cancel and the install
//! log live here.

mod configure;
mod events;
mod invoke;

use std::time::Duration;

use bytes::Bytes;

pub use self::configure::Configure;
pub use self::events::{ConfigureEvent, EventStream, InvokeEvent};
pub use self::invoke::{Invoke, InvokeOutput};

use super::Sandbox;
use crate::operations::{Operation, op};
use crate::types::{CancelInvokeRequest, ConfigureRequest};
use crate::{Error, Result, wire};

/// HTTP timeout of a configure stream (the Router's install runs up to 15 minutes).
const CONFIGURE_TIMEOUT: Duration = Duration::from_secs(900);
/// HTTP timeout of an invoke stream without a caller timeout (the Router's default is 30 min).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(1830);

/// Agent-mode calls of one sandbox: `sandbox.agent()`.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let agent = sb.agent();
/// agent.configure().entrypoint(["python3", "/workspace/agent.py"]).send().await?;
/// let out = agent.invoke("hello").collect().await?;
/// println!("{}", out.stdout);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Agent {
    sandbox: Sandbox,
}

impl Sandbox {
    /// Agent mode (the sandbox's template must have `mode: agent`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let out = sb.agent().invoke(r#"{"task":"summarize"}"#).collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn agent(&self) -> Agent {
        Agent {
            sandbox: self.clone(),
        }
    }
}

impl Agent {
    /// The largest event an event stream may hold: the client's body limit.
    fn max_event(&self) -> usize {
        self.sandbox.client.pipeline().defaults.max_body
    }

    async fn post_stream(
        &self,
        op: &'static Operation,
        body: Vec<u8>,
        content_type: &'static str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<reqwest::Response> {
        let client = &self.sandbox.client;
        let mut call = client
            .call(op, &[&self.sandbox.id])?
            .bytes(Bytes::from(body), content_type)
            .accept("text/event-stream")
            .at_least(timeout);
        for (name, value) in query {
            call = call.query(name, value);
        }
        client.stream(call).await
    }

    /// Configures the agent: files to write, an install command and the entrypoint.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let result = sb
    ///     .agent()
    ///     .configure()
    ///     .file("/workspace/agent.py", "print(input())\n")
    ///     .install_command(["pip", "install", "requests"])
    ///     .entrypoint(["python3", "/workspace/agent.py"])
    ///     .send_logging(|log| println!("[{}] {}", log.stream, log.data))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "configureAgent")]
    pub fn configure(&self) -> Configure {
        Configure {
            agent: self.clone(),
            request: ConfigureRequest {
                files: Vec::new(),
                install_command: Vec::new(),
                entrypoint: Vec::new(),
            },
        }
    }

    /// Invokes the entrypoint with `payload` on stdin (raw bytes, at most 16 MiB).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::InvokeEvent;
    /// let mut events = sb.agent().invoke("hello").prompt("be brief").stream().await?;
    /// while let Some(ev) = events.next().await {
    ///     match ev? {
    ///         InvokeEvent::Log(line) => println!("{}", line.data),
    ///         InvokeEvent::Exit(exit) => println!("exit {}", exit.exit_code),
    ///         _ => {}
    ///     }
    /// }
    /// let out = sb.agent().invoke("hello").collect().await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "invokeAgent")]
    pub fn invoke(&self, payload: impl Into<Bytes>) -> Invoke {
        Invoke {
            agent: self.clone(),
            payload: payload.into(),
            content_type: "application/octet-stream",
            prompt: None,
            timeout: None,
        }
    }

    /// Cancels an invocation in flight. Only the Router replica serving the stream knows it;
    /// dropping the stream is the reliable way to cancel.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use futures::StreamExt;
    /// use agenttier::InvokeEvent;
    /// let agent = sb.agent();
    /// let mut events = agent.invoke("long task").stream().await?;
    /// if let Some(Ok(InvokeEvent::Start(start))) = events.next().await {
    ///     agent.cancel(&start.invoke_id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[doc(alias = "cancelInvoke")]
    pub async fn cancel(&self, invoke_id: &str) -> Result<()> {
        wire::non_empty("invoke_id", invoke_id)?;
        let c = &self.sandbox.client;
        let body = CancelInvokeRequest {
            invoke_id: invoke_id.to_owned(),
        };
        c.empty(
            c.call(&crate::operations::op::CANCEL_INVOKE, &[&self.sandbox.id])?
                .json(&body)?,
        )
        .await
        .map(drop)
    }

    /// The last install log (up to 8 KiB), byte for byte. The Router writes this body with Go's
    /// `%q`, so ANSI colours and invalid UTF-8 make it invalid JSON; it is decoded here into the
    /// exact bytes the install printed.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let log = sb.agent().install_log().await?;
    /// println!("{}", String::from_utf8_lossy(&log));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "getInstallLog")]
    pub async fn install_log(&self) -> Result<Bytes> {
        let c = &self.sandbox.client;
        let answer = c
            .buffered(c.call(&op::GET_INSTALL_LOG, &[&self.sandbox.id])?)
            .await?;
        read_install_log(&answer.body).ok_or_else(|| {
            Error::decode(
                op::GET_INSTALL_LOG.name,
                Some(answer.status.as_u16()),
                answer.request_id(),
                "not an install-log body",
                &answer.body,
            )
        })
    }
}

/// Reads `{"log": "..."}`. The Router writes it with Go's `fmt.Fprintf(w, `{"log": %q}`)`, so
/// the string is a Go quoted literal (control bytes and invalid UTF-8 as `\xNN`), which is
/// not JSON whenever the log holds such bytes.
pub(crate) fn read_install_log(body: &[u8]) -> Option<Bytes> {
    if let Ok(v) = serde_json::from_slice::<crate::types::InstallLog>(body) {
        return Some(Bytes::from(v.log));
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let rest = text
        .strip_prefix('{')?
        .trim_start()
        .strip_prefix("\"log\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let inner = rest
        .strip_prefix('"')?
        .strip_suffix('}')?
        .trim_end()
        .strip_suffix('"')?;
    wire::unquote_go(inner).map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoted_install_log_is_read_leniently() {
        let body = br#"{"log":"\x1b[32mok\x1b[0m caf\xc3\xa9 \u00e9 \"q\"\n"}"#;
        assert_eq!(
            read_install_log(body).unwrap(),
            "\u{1b}[32mok\u{1b}[0m café é \"q\"\n".as_bytes()
        );
        assert_eq!(read_install_log(br#"{"log":"plain"}"#).unwrap(), "plain");
        // What the Router really writes: `{"log": %q}`, a space after the colon; invalid UTF-8
        // comes back as the exact byte.
        assert_eq!(
            read_install_log(b"{\"log\": \"pip \\x1b[1mok\\x1b[0m \\xff\\n\"}").unwrap(),
            b"pip \x1b[1mok\x1b[0m \xff\n".as_slice()
        );
        assert!(read_install_log(b"<html>").is_none());
    }
}
