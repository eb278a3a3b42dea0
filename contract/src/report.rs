//! What a run found: per-scenario outcomes, leftovers, and the text summary.

use std::fmt;
use std::time::Duration;

/// Where and why a scenario failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The step that failed (e.g. `exec`), or `cleanup`.
    pub step: String,
    /// What went wrong.
    pub message: String,
    /// The Router's `X-Request-Id` of the failing request, when a request failed.
    pub request_id: Option<String>,
    /// The HTTP status of the failing request, when there was one.
    pub status: Option<u16>,
}

impl Failure {
    /// A failure that is not a failed request (a check, a cancellation).
    pub fn check(step: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            step: step.into(),
            message: message.into(),
            request_id: None,
            status: None,
        }
    }

    /// A failed request in `step`.
    pub fn request(step: impl Into<String>, err: &agenttier::Error) -> Self {
        Failure {
            step: step.into(),
            message: err.to_string(),
            request_id: err.request_id().map(str::to_owned),
            status: err.status(),
        }
    }
}

impl fmt::Display for Failure {
    /// `step "exec": <message>`, plus the status and request id when the message does not
    /// already say them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {:?}: {}", self.step, self.message)?;
        let mut extra = Vec::new();
        if let Some(status) = self.status.map(|s| format!("HTTP {s}"))
            && !self.message.contains(&status)
        {
            extra.push(status);
        }
        if let Some(id) = &self.request_id
            && !self.message.contains(id.as_str())
        {
            extra.push(format!("request id {id}"));
        }
        if extra.is_empty() {
            Ok(())
        } else {
            write!(f, " [{}]", extra.join(", "))
        }
    }
}

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step passed and everything it created was removed.
    Passed,
    /// A step failed (or cleanup did).
    Failed(Failure),
    /// Not run, with the reason (not selected, needs admin, run cancelled).
    Skipped(String),
}

/// One scenario's result.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: &'static str,
    /// What it checks.
    pub about: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// Steps that completed, in order.
    pub steps: Vec<String>,
    /// Cleanup problems (a failed cleanup also fails the scenario; these are all of them).
    pub cleanup_errors: Vec<String>,
    /// Time taken, cleanup included.
    pub duration: Duration,
}

/// Something with the run prefix still present at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// `sandbox`, `api key`, `webhook`, `share grant`, `template`, `policy`, `preference`,
    /// or `check` when a listing itself failed.
    pub kind: &'static str,
    /// Its name or id (and where, for a share grant).
    pub name: String,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Where it ran (the Router URL).
    pub target: String,
    /// The run prefix of every name created.
    pub prefix: String,
    /// Whether the credentials are admin (`None`: could not be determined).
    pub admin: Option<bool>,
    /// One entry per scenario, in suite order (skipped ones too).
    pub results: Vec<ScenarioResult>,
    /// What was left with the prefix after every cleanup.
    pub leftovers: Vec<Leftover>,
    /// Whether the run was cancelled (Ctrl-C).
    pub cancelled: bool,
    /// Time taken.
    pub duration: Duration,
}

impl Report {
    /// No scenario failed, nothing was left behind, and the run was not cancelled.
    pub fn passed(&self) -> bool {
        !self.cancelled && self.leftovers.is_empty() && self.failed().next().is_none()
    }

    /// The failed scenarios.
    pub fn failed(&self) -> impl Iterator<Item = &ScenarioResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// The result of scenario `name`.
    pub fn result(&self, name: &str) -> Option<&ScenarioResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// Counts of (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Passed => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
            }
        }
        c
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "contract suite against {} (prefix {})",
            self.target, self.prefix
        )?;
        for r in &self.results {
            let secs = r.duration.as_secs_f64();
            match &r.outcome {
                Outcome::Passed => writeln!(f, "  PASS  {:<18} {secs:>6.2}s", r.name)?,
                Outcome::Skipped(why) => writeln!(f, "  SKIP  {:<18}          {why}", r.name)?,
                Outcome::Failed(fail) => {
                    writeln!(f, "  FAIL  {:<18} {secs:>6.2}s  {fail}", r.name)?;
                    for e in r
                        .cleanup_errors
                        .iter()
                        .skip(usize::from(fail.step == "cleanup"))
                    {
                        writeln!(f, "        cleanup: {e}")?;
                    }
                }
            }
        }
        if self.leftovers.is_empty() {
            writeln!(f, "  left behind with prefix {}: nothing", self.prefix)?;
        } else {
            writeln!(f, "  LEFT BEHIND with prefix {}:", self.prefix)?;
            for l in &self.leftovers {
                writeln!(f, "        {} {}", l.kind, l.name)?;
            }
        }
        let (pass, fail, skip) = self.counts();
        let verdict = if self.cancelled {
            "CANCELLED"
        } else if self.passed() {
            "PASSED"
        } else {
            "FAILED"
        };
        writeln!(
            f,
            "{verdict}: {pass} passed, {fail} failed, {skip} skipped, {} left behind in {:.1}s",
            self.leftovers.len(),
            self.duration.as_secs_f64()
        )
    }
}
