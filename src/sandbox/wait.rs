//! Waiting for a sandbox to reach a phase, by polling `GET /api/v1/sandboxes/{id}` (the
//! Router has no watch endpoint).
//!
//! The poll schedule is described on [`WaitOptions`].

use std::time::{Duration, Instant};

use rand::Rng;

use super::{Phase, Sandbox};
use crate::schedule::Schedule;
use crate::types::SandboxSummary;
use crate::{Error, Result};

/// How long and how often a waiter polls.
///
/// The first poll is immediate; the deadline (120 s by default) covers everything. Dropping
/// the waiter's future stops the polling. A zero interval, rate or burst is refused with
/// [`Error::InvalidInput`] before any request.
///
/// # The poll schedule
///
/// Uniform polling cannot give both a short detection lag and few polls: at 40 polls a
/// minute the expected lag is 0.75 s. So a waiter spends its polls where the transition is
/// likely, learning from the sandboxes its [`Client`](crate::Client) has already seen start:
///
/// - **Learning.** When a waiter for `Running` sees a sandbox go from another phase to
///   `Running`, it records when (between its last two polls, measured from the moment it
///   began waiting) under the sandbox's template (as the create's answer gave it, for a
///   handle from `create_sandbox`; else as the Router reports it). Every handle and clone of one `Client`
///   shares these records (the 16 most recent per template); separate `Client`s learn
///   separately.
/// - **The window.** From the records of a template: from the earliest start seen minus
///   0.5 s to the latest plus 0.5 s (once 4 records were seen by polls at most 1 s apart,
///   only those count). With fewer than 4 records the spread is not known yet,
///   and the window is at least 2.5 s wide (the Router's controller checks readiness every
///   second, so starts of one template spread over a second or two).
/// - **Before the window**, polls are sparse (every [`WaitOptions::max_interval`], 2 s by
///   default), and one lands on the window's start. **Inside it**, the polls the budget
///   allows until its end are spread evenly (never closer than
///   [`WaitOptions::initial_interval`], 250 ms by default). **After it** (a start later than
///   ever seen), or with no record yet, the gap doubles from the initial interval to the
///   maximum, jittered so that many waiters do not poll in step.
/// - **A wave teaches itself.** A new record wakes every waiter of the same template at once
///   to re-plan: when eight sandboxes of one template start together, the first one seen
///   running tells the other seven that theirs is near, even on a cold client.
/// - **The budget.** Polls are rationed by a token bucket: at most
///   [`WaitOptions::poll_burst`] (10) at once plus [`WaitOptions::max_polls_per_minute`] (40)
///   per minute, so a wait of `m` minutes polls at most `10 + 40 × m` times. Sparse polls
///   keep half the burst in reserve for the dense ones. The first poll is immediate; the
///   deadline bounds everything.
///
/// ```no_run
/// # async fn demo(client: agenttier::Client) -> agenttier::Result<()> {
/// use std::time::Duration;
/// use agenttier::WaitOptions;
/// // At most 12 polls a minute after the first 5, never closer than 1 s.
/// let frugal = WaitOptions::default()
///     .max_polls_per_minute(12)
///     .poll_burst(5)
///     .initial_interval(Duration::from_secs(1));
/// let sb = client.create_sandbox("demo").template("general-coding").await?;
/// sb.wait_until_running_with(frugal).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WaitOptions {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
    burst: u32,
    per_minute: u32,
    learn: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(2),
            burst: 10,
            per_minute: 40,
            learn: true,
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

    /// The smallest interval between polls, and the first one before anything is learned
    /// (default 250 ms). Zero is refused.
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

    /// The largest interval between polls (default 2 s). Zero is refused.
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

    /// The sustained poll rate cap, in polls per minute (default 40). Zero is refused.
    ///
    /// ```
    /// // A waiter that never polls more than once every 6 s after its first 10 polls.
    /// let opts = agenttier::WaitOptions::default().max_polls_per_minute(10);
    /// # let _ = opts;
    /// ```
    pub fn max_polls_per_minute(mut self, polls: u32) -> Self {
        self.per_minute = polls;
        self
    }

    /// Polls allowed at once before the rate cap applies (default 10). Zero is refused.
    ///
    /// ```
    /// let opts = agenttier::WaitOptions::default().poll_burst(4);
    /// # let _ = opts;
    /// ```
    pub fn poll_burst(mut self, polls: u32) -> Self {
        self.burst = polls;
        self
    }

    /// Learn from and plan on the start times this client has seen (default on). Off polls
    /// on the doubling schedule alone (still within the budget).
    ///
    /// ```
    /// let opts = agenttier::WaitOptions::default().learn(false);
    /// # let _ = opts;
    /// ```
    pub fn learn(mut self, on: bool) -> Self {
        self.learn = on;
        self
    }

    fn schedule(&self) -> Result<Schedule> {
        if self.initial_interval.is_zero() {
            return Err(Error::invalid("initial_interval", "must be above zero"));
        }
        if self.max_interval.is_zero() {
            return Err(Error::invalid("max_interval", "must be above zero"));
        }
        if self.per_minute == 0 {
            return Err(Error::invalid("max_polls_per_minute", "must be above zero"));
        }
        if self.burst == 0 {
            return Err(Error::invalid("poll_burst", "must be above zero"));
        }
        Ok(Schedule {
            min_gap: self.initial_interval,
            max_gap: self.max_interval.max(self.initial_interval),
            burst: self.burst,
            per_minute: self.per_minute,
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
        let schedule = options.schedule()?;
        let started = Instant::now();
        let deadline = started.checked_add(options.timeout);
        let mut polls = 0u32;
        let learn = options.learn && target == "Running";
        let mut starts = None;
        // When the last poll that saw another phase was sent (a start happened after it).
        let mut not_yet: Option<Duration> = None;
        let mut last: Option<SandboxSummary> = None;
        loop {
            let sent = started.elapsed();
            // A poll never outlives the waiter's deadline, whatever the client's timeout.
            let poll = self.status();
            let summary = match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), poll).await {
                    Ok(answer) => answer?,
                    Err(_) => {
                        return Err(Error::WaitTimeout {
                            sandbox_id: self.id.to_string(),
                            target,
                            waited: started.elapsed(),
                            last: last.map(Box::new),
                        });
                    }
                },
                None => poll.await?,
            };
            polls += 1;
            tracing::debug!(sandbox = %self.id, phase = %summary.status, target, polls, "poll");
            if learn {
                // The Router may leave `templateRef` empty until the sandbox runs: the
                // create's answer (kept on the handle) knows the template asked for.
                if starts.is_none()
                    && let Some(template) = self
                        .summary
                        .as_ref()
                        .and_then(|s| s.template_ref.as_deref())
                        .into_iter()
                        .chain(summary.template_ref.as_deref())
                        .find(|t| !t.is_empty())
                {
                    starts = Some(self.client.pipeline().starts.template(template));
                }
                if summary.phase() == Phase::Running {
                    if let (Some(history), Some(lo)) = (&starts, not_yet) {
                        history.record(lo, started.elapsed());
                    }
                } else {
                    not_yet = Some(sent);
                }
            }
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
            if deadline.is_some_and(|d| now >= d) {
                return Err(Error::WaitTimeout {
                    sandbox_id: self.id.to_string(),
                    target,
                    waited: now - started,
                    last: Some(Box::new(summary)),
                });
            }
            last = Some(summary);
            let jitter: f64 = rand::rng().random();
            // Sleep until the planned poll; a new start of the template re-plans at once.
            loop {
                let changed = starts.as_ref().map(|s| s.changed());
                let window = starts.as_ref().and_then(|s| s.window());
                let at = schedule.next(sent, polls, window, jitter);
                let mut wake = started
                    .checked_add(at)
                    .unwrap_or(now + Duration::from_secs(3600));
                if let Some(d) = deadline {
                    wake = wake.min(d);
                }
                if Instant::now() >= wake {
                    break;
                }
                match changed {
                    Some(changed) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(wake.into()) => break,
                            _ = changed => continue,
                        }
                    }
                    None => {
                        tokio::time::sleep_until(wake.into()).await;
                        break;
                    }
                }
            }
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
