//! The events of configure and invoke streams, typed, and the stream that parses them.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::operations::op;
use crate::sse::{SseEnd, SseEvent, SseParser};
use crate::types::{
    ConfigureErrorEvent, ConfigureResult, InvokeExitEvent, InvokeStartEvent, LogEvent,
};
use crate::{Error, Result};

/// An event of a configure stream.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// use agenttier::ConfigureEvent;
/// let mut events = sb
///     .agent()
///     .configure()
///     .install_command(["npm", "ci"])
///     .entrypoint(["node", "/workspace/agent.js"])
///     .stream()
///     .await?;
/// while let Some(ev) = events.next().await {
///     match ev? {
///         ConfigureEvent::Log(line) => println!("{}", line.data),
///         ConfigureEvent::Error(e) => eprintln!("{} failed: {}", e.phase, e.message),
///         ConfigureEvent::Result(r) => println!("install exited {}", r.install_exit_code),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigureEvent {
    /// A line of progress or install output.
    Log(LogEvent),
    /// The install failed; the stream ends and no result follows.
    Error(ConfigureErrorEvent),
    /// The final result. A non-zero `install_exit_code` means nothing was saved.
    Result(ConfigureResult),
    /// An event this SDK does not know, kept as is.
    Unknown {
        /// The event name.
        event: String,
        /// Its data.
        data: String,
    },
}

/// An event of an invoke stream. Keepalive comments are skipped.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// use agenttier::InvokeEvent;
/// let mut events = sb.agent().invoke("hello").stream().await?;
/// while let Some(ev) = events.next().await {
///     match ev? {
///         InvokeEvent::Start(s) => println!("started {}", s.invoke_id),
///         InvokeEvent::Log(l) => println!("[{}] {}", l.stream, l.data),
///         InvokeEvent::Exit(e) => println!("exit {} after {} ms", e.exit_code, e.duration_ms),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InvokeEvent {
    /// The invocation started.
    Start(InvokeStartEvent),
    /// A line of stdout or stderr.
    Log(LogEvent),
    /// The invocation ended.
    Exit(InvokeExitEvent),
    /// An event this SDK does not know, kept as is.
    Unknown {
        /// The event name.
        event: String,
        /// Its data.
        data: String,
    },
}

pub(super) trait FromSse: Sized {
    const OPERATION: &'static str;
    fn from_sse(ev: SseEvent) -> Result<Self>;
}

fn parse<T: DeserializeOwned>(op: &'static str, ev: &SseEvent) -> Result<T> {
    serde_json::from_str(&ev.data).map_err(|e| {
        Error::decode(
            op,
            Some(200),
            None,
            format!("`{}` event: {e}", ev.event),
            ev.data.as_bytes(),
        )
    })
}

impl FromSse for ConfigureEvent {
    const OPERATION: &'static str = op::CONFIGURE_AGENT.name;
    fn from_sse(ev: SseEvent) -> Result<Self> {
        Ok(match ev.event.as_str() {
            "log" => ConfigureEvent::Log(parse(Self::OPERATION, &ev)?),
            "error" => ConfigureEvent::Error(parse(Self::OPERATION, &ev)?),
            "result" => ConfigureEvent::Result(parse(Self::OPERATION, &ev)?),
            _ => ConfigureEvent::Unknown {
                event: ev.event,
                data: ev.data,
            },
        })
    }
}

impl FromSse for InvokeEvent {
    const OPERATION: &'static str = op::INVOKE_AGENT.name;
    fn from_sse(ev: SseEvent) -> Result<Self> {
        Ok(match ev.event.as_str() {
            "start" => InvokeEvent::Start(parse(Self::OPERATION, &ev)?),
            "log" => InvokeEvent::Log(parse(Self::OPERATION, &ev)?),
            "exit" => InvokeEvent::Exit(parse(Self::OPERATION, &ev)?),
            _ => InvokeEvent::Unknown {
                event: ev.event,
                data: ev.data,
            },
        })
    }
}

/// A stream of typed events from the Router. Dropping it closes the connection; for invoke,
/// the Router then cancels the invocation.
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use futures::StreamExt;
/// let events = sb.agent().invoke("hello").stream().await?;
/// // The first ten events; the stream is then dropped, which cancels the invocation.
/// let first: Vec<_> = events.take(10).collect().await;
/// # Ok(()) }
/// ```
pub struct EventStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T>> + Send>>,
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventStream")
    }
}

impl<T> EventStream<T> {
    /// The next event, `None` once the stream ended (no extra import needed; the type is also a
    /// `futures::Stream`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use agenttier::InvokeEvent;
    /// let mut events = sb.agent().invoke("hello").stream().await?;
    /// while let Some(event) = events.next().await {
    ///     if let InvokeEvent::Log(line) = event? {
    ///         println!("{}", line.data);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Option<Result<T>> {
        futures::StreamExt::next(&mut self.inner).await
    }
}

impl<T> Stream for EventStream<T> {
    type Item = Result<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct SseState {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: SseParser,
    queue: VecDeque<SseEvent>,
    done: bool,
}

/// Turns a streamed response into typed events, after checking it really is an event stream.
pub(super) fn event_stream<T: FromSse + Send + 'static>(
    resp: reqwest::Response,
    max_event: usize,
) -> Result<EventStream<T>> {
    {
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !ct.starts_with("text/event-stream") {
            return Err(Error::decode(
                T::OPERATION,
                Some(resp.status().as_u16()),
                crate::error::request_id(resp.headers()),
                format!("expected text/event-stream, got {ct:?}"),
                b"",
            ));
        }
        let request_id = crate::error::request_id(resp.headers());
        let state = SseState {
            body: Box::pin(resp.bytes_stream()),
            parser: SseParser::with_limit(max_event),
            queue: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(state, move |mut st| {
            let request_id = request_id.clone();
            async move {
                loop {
                    if let Some(ev) = st.queue.pop_front() {
                        return Some((T::from_sse(ev), st));
                    }
                    if st.done {
                        return None;
                    }
                    match st.body.next().await {
                        Some(Ok(chunk)) => match st.parser.push(&chunk) {
                            Ok(events) => st.queue.extend(events),
                            Err(too_large) => {
                                st.done = true;
                                return Some((
                                    Err(Error::BodyTooLarge {
                                        operation: T::OPERATION,
                                        limit: too_large.limit,
                                        status: Some(200),
                                        request_id: request_id.clone(),
                                    }),
                                    st,
                                ));
                            }
                        },
                        Some(Err(e)) => {
                            st.done = true;
                            return Some((Err(Error::from_reqwest(T::OPERATION, e)), st));
                        }
                        None => {
                            st.done = true;
                            match st.parser.finish() {
                                SseEnd::Clean(Some(ev)) => st.queue.push_back(ev),
                                SseEnd::Clean(None) => {}
                                SseEnd::Truncated => {
                                    return Some((
                                        Err(Error::Agent {
                                            operation: if T::OPERATION == op::INVOKE_AGENT.name {
                                                "invoke"
                                            } else {
                                                "configure"
                                            },
                                            phase: None,
                                            message:
                                                "the event stream was cut in the middle of an event"
                                                    .into(),
                                        }),
                                        st,
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok(EventStream {
            inner: Box::pin(stream),
        })
    }
}
