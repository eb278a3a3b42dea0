//! Stop, resume and delete. Each returns as soon as the Router accepted the change (it works
//! asynchronously) with what the Router answered, and a way to wait for the change to finish:
//! `sandbox.stop().await?.wait().await?`.

use super::Sandbox;
use super::wait::WaitOptions;
use crate::Result;
use crate::operations::op;
use crate::types::{SandboxSummary, StatusAck};

impl Sandbox {
    /// Stops a Running sandbox (409 [`Error::Conflict`](crate::Error::Conflict) in any other
    /// phase). The Router answers at once (`stopping`) and deletes the pod later, keeping the
    /// volume: call [`Stopping::wait`] to wait until it is `Stopped`. Safe to retry.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let stopping = sb.stop().await?;
    /// assert_eq!(stopping.ack().status, "stopping");
    /// let summary = stopping.wait().await?; // Stopped
    /// # Ok(()) }
    /// ```
    #[doc(alias = "stopSandbox")]
    pub async fn stop(&self) -> Result<Stopping> {
        let c = &self.client;
        let ack: StatusAck = c.json(c.call(&op::STOP_SANDBOX, &[&self.id])?).await?;
        Ok(Stopping {
            sandbox: self.clone(),
            ack,
        })
    }

    /// Resumes a Stopped (or failed) sandbox (409 in any other phase: stop it and wait until it
    /// is Stopped first). The Router answers at once (`resuming`); call [`Resuming::wait`] to
    /// wait until it is `Running`. Safe to retry.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.stop().await?.wait().await?;
    /// sb.resume().await?.wait().await?; // Running again
    /// # Ok(()) }
    /// ```
    #[doc(alias = "resumeSandbox")]
    pub async fn resume(&self) -> Result<Resuming> {
        let c = &self.client;
        let ack: StatusAck = c.json(c.call(&op::RESUME_SANDBOX, &[&self.id])?).await?;
        Ok(Resuming {
            sandbox: self.clone(),
            ack,
        })
    }

    /// Deletes the sandbox, in any phase. The Router answers at once and removes it later (its
    /// finalizer cleans up the pod, the volume and the scoped keys; reads keep answering until
    /// then): call [`Deleting::wait`] to wait until it is gone.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.delete().await?.wait().await?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "deleteSandbox")]
    pub async fn delete(&self) -> Result<Deleting> {
        let c = &self.client;
        c.empty(c.call(&op::DELETE_SANDBOX, &[&self.id])?).await?;
        Ok(Deleting {
            sandbox: self.clone(),
        })
    }
}

/// A stop the Router accepted. See [`Sandbox::stop`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::WaitOptions;
/// sb.stop().await?.wait_with(WaitOptions::default().timeout(Duration::from_secs(60))).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Stopping {
    sandbox: Sandbox,
    ack: StatusAck,
}

impl Stopping {
    /// What the Router answered (`{"status":"stopping"}`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// println!("{}", sb.stop().await?.ack().status);
    /// # Ok(()) }
    /// ```
    pub fn ack(&self) -> &StatusAck {
        &self.ack
    }

    /// The sandbox being stopped.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let stopping = sb.stop().await?;
    /// assert_eq!(stopping.sandbox().id(), sb.id());
    /// # Ok(()) }
    /// ```
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the sandbox is `Stopped` ([`Sandbox::wait_until_stopped`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.stop().await?.wait().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait(self) -> Result<SandboxSummary> {
        self.sandbox.wait_until_stopped().await
    }

    /// [`Stopping::wait`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.stop().await?.wait_with(agenttier::WaitOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_with(self, options: WaitOptions) -> Result<SandboxSummary> {
        self.sandbox.wait_until_stopped_with(options).await
    }
}

/// A resume the Router accepted. See [`Sandbox::resume`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// let summary = sb.resume().await?.wait().await?;
/// assert_eq!(summary.phase(), agenttier::Phase::Running);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Resuming {
    sandbox: Sandbox,
    ack: StatusAck,
}

impl Resuming {
    /// What the Router answered (`{"status":"resuming"}`).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// println!("{}", sb.resume().await?.ack().status);
    /// # Ok(()) }
    /// ```
    pub fn ack(&self) -> &StatusAck {
        &self.ack
    }

    /// The sandbox being resumed.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let resuming = sb.resume().await?;
    /// assert_eq!(resuming.sandbox().id(), sb.id());
    /// # Ok(()) }
    /// ```
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the sandbox is `Running` ([`Sandbox::wait_until_running`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.resume().await?.wait().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait(self) -> Result<SandboxSummary> {
        self.sandbox.wait_until_running().await
    }

    /// [`Resuming::wait`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.resume().await?.wait_with(agenttier::WaitOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_with(self, options: WaitOptions) -> Result<SandboxSummary> {
        self.sandbox.wait_until_running_with(options).await
    }
}

/// A delete the Router accepted. See [`Sandbox::delete`].
///
/// ```no_run
/// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
/// sb.delete().await?.wait().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Deleting {
    sandbox: Sandbox,
}

impl Deleting {
    /// The sandbox being deleted.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// let deleting = sb.delete().await?;
    /// assert_eq!(deleting.sandbox().id(), sb.id());
    /// # Ok(()) }
    /// ```
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Waits until the Router answers 404 for it ([`Sandbox::wait_until_deleted`]).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.delete().await?.wait().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait(self) -> Result<()> {
        self.sandbox.wait_until_deleted().await
    }

    /// [`Deleting::wait`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.delete().await?.wait_with(agenttier::WaitOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_with(self, options: WaitOptions) -> Result<()> {
        self.sandbox.wait_until_deleted_with(options).await
    }
}
