//! The runtime thread behind every blocking handle.
//!
//! One thread per [`Client`](super::Client) (shared by its clones and by every handle made from
//! it) runs a current-thread Tokio runtime. A call boxes the async facade's future, sends it
//! over a channel, and parks on a reply channel until the future is done. Giving up (the
//! caller's deadline) aborts the task on the runtime thread. The last owner to go away closes
//! the channel and joins the thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Instant;

use futures::future::{AbortHandle, Abortable};
use tokio::sync::mpsc as async_mpsc;

use crate::{Error, Result};

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A cheap handle on the runtime thread (an `Arc`).
#[derive(Clone)]
pub(crate) struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("thread", &self.inner.thread_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    jobs: Mutex<Option<async_mpsc::UnboundedSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

/// The name of the runtime thread.
const THREAD_NAME: &str = "agenttier-blocking";

impl Runtime {
    /// Starts the runtime thread. Fails inside a Tokio runtime (see [`check_outside`]) and
    /// when the OS refuses a thread.
    pub(crate) fn start(operation: &'static str) -> Result<Runtime> {
        check_outside(operation)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("", e))?;
        let (tx, mut rx) = async_mpsc::unbounded_channel::<Job>();
        let thread = thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job);
                    }
                });
                // Every handle is gone: calls still running have no one to answer to.
                runtime.shutdown_background();
            })
            .map_err(|e| Error::io("", e))?;
        let thread_id = thread.thread().id();
        Ok(Runtime {
            inner: Arc::new(Inner {
                jobs: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                thread_id,
            }),
        })
    }

    /// Runs `future` on the runtime thread and parks until it is done, or until `deadline`
    /// (then the task is dropped and the call is [`Error::Timeout`]).
    pub(crate) fn call<F>(
        &self,
        operation: &'static str,
        deadline: Option<Instant>,
        future: F,
    ) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit(operation, future)?.wait(deadline)
    }

    /// Starts `future` on the runtime thread without waiting for it.
    pub(crate) fn submit<F>(&self, operation: &'static str, future: F) -> Result<Pending<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        check_outside(operation)?;
        let (reply, answer) = mpsc::sync_channel(1);
        let (abort, registration) = AbortHandle::new_pair();
        let job: Job = Box::pin(async move {
            if let Ok(out) = Abortable::new(future, registration).await {
                let _ = reply.send(out);
            }
        });
        let sent = match &*lock(&self.inner.jobs) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(stopped(operation));
        }
        Ok(Pending {
            operation,
            answer,
            abort,
        })
    }
}

/// A call running on the runtime thread.
pub(crate) struct Pending<T> {
    operation: &'static str,
    answer: mpsc::Receiver<T>,
    abort: AbortHandle,
}

impl<T> Pending<T> {
    /// Parks until the call is done, or until `deadline`.
    pub(crate) fn wait(self, deadline: Option<Instant>) -> Result<T> {
        let got = match deadline {
            None => self.answer.recv().map_err(|_| None),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                self.answer.recv_timeout(left).map_err(|e| match e {
                    mpsc::RecvTimeoutError::Timeout => Some(left),
                    mpsc::RecvTimeoutError::Disconnected => None,
                })
            }
        };
        match got {
            Ok(out) => Ok(out),
            Err(after) => {
                self.abort.abort();
                Err(match after {
                    Some(after) => Error::Timeout {
                        operation: self.operation,
                        after: Some(after),
                        source: None,
                    },
                    None => stopped(self.operation),
                })
            }
        }
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        // A caller that stops waiting (an error, a panic) cancels the call.
        self.abort.abort();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the runtime thread's loop.
        drop(lock(&self.jobs).take());
        let Some(thread) = lock(&self.thread).take() else {
            return;
        };
        // Joining from the runtime thread itself, or from inside another runtime, could block
        // forever or stall that runtime: the thread then finishes on its own.
        if thread::current().id() == self.thread_id || tokio::runtime::Handle::try_current().is_ok()
        {
            return;
        }
        let _ = thread.join();
    }
}

/// The typed refusal to park a thread that drives a Tokio runtime.
pub(crate) fn check_outside(operation: &'static str) -> Result<()> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Err(Error::BlockingInRuntime { operation }),
        Err(_) => Ok(()),
    }
}

fn stopped(operation: &'static str) -> Error {
    Error::Io {
        path: Default::default(),
        source: std::io::Error::other(format!(
            "{operation}: the call ended without an answer (it panicked, or the blocking \
             client's runtime thread stopped)"
        )),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
