//! The emulated Router and cluster, with no HTTP in it: state and its lock, settings, the
//! lifecycle clock, identities and keys, the in-memory file tree, the command runner,
//! governance checks, sandbox lookup and lifecycle, the ZIP writer, and the Go-style wire
//! formatting. Nothing here imports the HTTP layer or the areas.

pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod exec;
pub(crate) mod governance;
pub(crate) mod identity;
pub(crate) mod invocations;
pub(crate) mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod ops;
pub(crate) mod policy;
pub(crate) mod sandbox;
pub(crate) mod seed;
pub(crate) mod shell;
pub(crate) mod state;
pub(crate) mod terminal;
pub(crate) mod wire;
pub(crate) mod workspace;
pub(crate) mod zip;
