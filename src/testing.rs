//! The FakeRouter, an in-process emulator of the AgentTier Router, for your tests (feature
//! `testing`).
//!
//! Everything here is re-exported from the `agenttier-fake-router` crate, which does not depend
//! on this SDK: it keeps its own wire types and its own copy of the Router's rules, so it checks
//! the client rather than sharing its assumptions. [`FakeRouterExt::client`] adds the one
//! convenience that needs the SDK.
//!
//! ```no_run
//! # async fn demo() -> agenttier::Result<()> {
//! use agenttier::testing::{FakeRouter, FakeRouterExt};
//!
//! let router = FakeRouter::start().await;
//! let sandboxes = router.client().list_sandboxes().await?;
//! assert!(sandboxes.is_empty());
//! # Ok(()) }
//! ```

pub use agenttier_fake_router::*;

use crate::Client;

/// SDK conveniences on [`FakeRouter`].
pub trait FakeRouterExt {
    /// A [`Client`] for this router, without credentials (right for dev-auth; in the API-key
    /// and bearer modes build one with `Client::builder(router.url()).auth(..)`).
    ///
    /// ```no_run
    /// # async fn demo() -> agenttier::Result<()> {
    /// use agenttier::testing::{FakeRouter, FakeRouterExt};
    /// let router = FakeRouter::start().await;
    /// let client = router.client();
    /// assert_eq!(client.base_url(), router.url());
    /// # Ok(()) }
    /// ```
    fn client(&self) -> Client;
}

impl FakeRouterExt for FakeRouter {
    fn client(&self) -> Client {
        // Only a malformed URL fails to build, and this one is always http://127.0.0.1:PORT.
        Client::builder(self.url())
            .build()
            .expect("the FakeRouter URL is a valid http URL")
    }
}
