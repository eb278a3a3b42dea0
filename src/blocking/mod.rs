//! A blocking client (feature `blocking`): the async facade mirrored one to one, the way
//! `reqwest::blocking` mirrors `reqwest`.
//!
//! Same names and the same argument and result types as the async API ([`crate::Client`],
//! [`crate::Sandbox`], ...); only the handles differ, and the event streams of agent mode
//! and of terminal sessions (feature `terminal`) are [`Iterator`]s. Every `async fn` of the facade has a twin here that parks the calling
//! thread until the call is done:
//!
//! - each [`Client`] starts one background thread running a current-thread Tokio runtime.
//!   Its clones and every handle made from it (sandboxes, files, builders, ...) share that
//!   thread, which stops (and is joined) when the last of them goes away;
//! - a call sends its future to that thread and parks until it is done. The async call's own
//!   timeouts (the client's timeout, a waiter's or a transfer's deadline) end it; a
//!   [deadline](crate::CallOptions::deadline) in the client's options also bounds the park,
//!   after which the call is dropped and [`Error::Timeout`](crate::Error::Timeout) returned;
//! - on a thread that drives a Tokio runtime (inside `#[tokio::main]`, a task,
//!   `spawn_blocking` or a `Runtime::enter` guard), every method returns
//!   [`Error::BlockingInRuntime`](crate::Error::BlockingInRuntime) instead of blocking the
//!   runtime or panicking: use the async [`crate::Client`] there, or a plain
//!   `std::thread`. Dropping the last handle inside a runtime does not join the runtime
//!   thread (it ends by itself).
//!
//! ```no_run
//! # fn main() -> agenttier::Result<()> {
//! use agenttier::blocking::Client;
//!
//! let client = Client::from_env()?;
//! let sandbox = client.create_sandbox("demo").template("general-coding").send()?;
//! sandbox.wait_until_running()?;
//! let out = sandbox.exec("echo hello")?;
//! assert_eq!(out.stdout, "hello\n");
//! sandbox.files().write("/workspace/hello.txt", "hi\n")?;
//! println!("{}", sandbox.files().read_to_string("/workspace/hello.txt")?);
//! sandbox.delete()?.wait()?;
//! # Ok(()) }
//! ```

mod agent;
mod client;
mod files;
mod runtime;
mod sandbox;
#[cfg(feature = "terminal")]
mod terminal;

pub use agent::{Agent, Configure, EventStream, Invoke};
pub use client::{
    Admin, ApiKeys, Client, ClientBuilder, Cluster, CreateWebhook, Governance, SetHeadroom,
    Templates, User, WarmPool, Webhooks,
};
pub use files::{Files, Ports, Preview, PreviewRequest, Sharing};
pub use sandbox::{
    Backups, CloneSandbox, Cloned, CreateBackup, CreateSandbox, Deleting, RestoreBackup, Restored,
    Resuming, Sandbox, SandboxGuard, Stopping, UpdateSandbox,
};
#[cfg(feature = "terminal")]
#[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
pub use terminal::{Shell, Terminal, TerminalBuilder};
