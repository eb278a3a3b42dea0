//! Waiting for a sandbox to reach a phase, by polling `GET /api/v1/sandboxes/{id}` (the
//! Router has no watch endpoint).

use std::time::{Duration, Instant};

use rand::Rng;

use super::{Phase, Sandbox};
use crate::types::SandboxSummary;
use crate::{Error, Result};

/// How long and how often a waiter polls.
///
/// The first poll is immediate; then the interval grows from about 250 ms to a 2 s cap, with
/// jitter so that many waiters do not poll in step. The deadline (120 s by default) covers
/// everything. Dropping the waiter's future stops the polling.
///
/// ```
/// use std::time::Duration;
/// use agenttier::WaitOptions;
/// let patient = WaitOptions::default().timeout(Duration::from_secs(600));
/// # let _ = patient;
/// ```
#[derive(Clone, Debug)]
pub struct WaitOptions {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(2),
        }
    }
}

impl WaitOptions {
    /// The overall deadline (default 120 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = agenttier::WaitOptions::default().timeout(Duration::from_secs(600));
    /// # let _ = opts;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The first interval between polls (default 250 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = agenttier::WaitOptions::default().initial_interval(Duration::from_millis(100));
    /// # let _ = opts;
    /// ```
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.initial_interval = d;
        self
    }

    /// The largest interval between polls (default 2 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// // Poll at most every 10 s while waiting up to 15 minutes.
    /// let opts = agenttier::WaitOptions::default()
    ///     .timeout(Duration::from_secs(15 * 60))
    ///     .max_interval(Duration::from_secs(10));
    /// # let _ = opts;
    /// ```
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }

    /// The pause before poll `n` (1-based): doubling from the initial interval, capped, and
    /// jittered into its upper half.
    fn pause(&self, n: u32) -> Duration {
        let ceiling = self
            .initial_interval
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max_interval);
        let half = ceiling / 2;
        let nanos = half.as_nanos().min(u64::MAX as u128) as u64;
        half + Duration::from_nanos(if nanos == 0 {
            0
        } else {
            rand::rng().random_range(0..=nanos)
        })
    }
}

/// What a poll decided.
enum Verdict {
    Done,
    Fail(String),
    Continue,
}

impl Sandbox {
    /// Waits until the phase is `Running`, with [`WaitOptions::default`] (120 s); fails at once
    /// if it becomes `Error` ([`Error::SandboxFailed`], with the server's message), and with
    /// [`Error::WaitTimeout`] (carrying the last summary) when the deadline passes.
    ///
    /// ```no_run
    /// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
    /// let sb = client.create_sandbox("demo").template("general-coding").await?;
    /// let summary = sb.wait_until_running().await?;
    /// assert_eq!(summary.phase(), agenttier::Phase::Running);
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_running(&self) -> Result<SandboxSummary> {
        self.wait_until_running_with(WaitOptions::default()).await
    }

    /// [`Sandbox::wait_until_running`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::WaitOptions;
    /// sb.wait_until_running_with(WaitOptions::default().timeout(Duration::from_secs(600))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_running_with(&self, options: WaitOptions) -> Result<SandboxSummary> {
        self.wait_for("Running", options, |s| match s.phase() {
            Phase::Running => Verdict::Done,
            Phase::Error => Verdict::Fail(s.message.clone().unwrap_or_default()),
            _ => Verdict::Continue,
        })
        .await
    }

    /// Waits until the phase is `Stopped`; fails at once on `Error`.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.stop().await?;
    /// let summary = sb.wait_until_stopped().await?;
    /// assert_eq!(summary.phase(), agenttier::Phase::Stopped);
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_stopped(&self) -> Result<SandboxSummary> {
        self.wait_until_stopped_with(WaitOptions::default()).await
    }

    /// [`Sandbox::wait_until_stopped`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.wait_until_stopped_with(agenttier::WaitOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_stopped_with(&self, options: WaitOptions) -> Result<SandboxSummary> {
        self.wait_for("Stopped", options, |s| match s.phase() {
            Phase::Stopped => Verdict::Done,
            Phase::Error => Verdict::Fail(s.message.clone().unwrap_or_default()),
            _ => Verdict::Continue,
        })
        .await
    }

    /// Waits until the sandbox is gone (the Router answers 404 once its finalizer ran).
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// sb.delete().await?;
    /// sb.wait_until_deleted().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_deleted(&self) -> Result<()> {
        self.wait_until_deleted_with(WaitOptions::default()).await
    }

    /// [`Sandbox::wait_until_deleted`] with options.
    ///
    /// ```no_run
    /// # async fn demo(sb: agenttier::Sandbox) -> agenttier::Result<()> {
    /// use std::time::Duration;
    /// use agenttier::WaitOptions;
    /// sb.delete().await?;
    /// sb.wait_until_deleted_with(WaitOptions::default().timeout(Duration::from_secs(300))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_deleted_with(&self, options: WaitOptions) -> Result<()> {
        match self
            .wait_for("deleted", options, |_| Verdict::Continue)
            .await
        {
            Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => unreachable_done(),
        }
    }

    async fn wait_for(
        &self,
        target: &'static str,
        options: WaitOptions,
        verdict: impl Fn(&SandboxSummary) -> Verdict,
    ) -> Result<SandboxSummary> {
        let started = Instant::now();
        let deadline = started + options.timeout;
        let mut polls = 0u32;
        loop {
            let summary = self.status().await?;
            polls += 1;
            tracing::debug!(sandbox = %self.id, phase = %summary.status, target, "poll");
            match verdict(&summary) {
                Verdict::Done => return Ok(summary),
                Verdict::Fail(message) => {
                    let message = if message.is_empty() {
                        format!("sandbox {} entered Error", self.id)
                    } else {
                        message
                    };
                    return Err(Error::SandboxFailed {
                        sandbox_id: self.id.to_string(),
                        message,
                        last: Box::new(summary),
                    });
                }
                Verdict::Continue => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::WaitTimeout {
                    sandbox_id: self.id.to_string(),
                    target,
                    waited: now - started,
                    last: Some(Box::new(summary)),
                });
            }
            tokio::time::sleep(options.pause(polls).min(deadline - now)).await;
        }
    }
}

/// `wait_for` with a verdict that never says done only ends in an error.
fn unreachable_done() -> Result<()> {
    Err(Error::invalid(
        "wait",
        "the deletion waiter ended without a 404",
    ))
}
