//! When a waiter polls: start times learned per template, and the poll schedule built on them.
//!
//! A leaf module (std and tokio only): the pipeline holds one [`StartHistory`] per `Client`
//! (shared by every clone, every `with_options` copy and every sandbox handle), and the
//! waiters in `sandbox::wait` read and feed it. The schedule itself is described for users
//! on [`WaitOptions`](crate::WaitOptions).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Observations kept per template (the most recent ones).
const KEPT: usize = 16;

/// With fewer observations than this, the spread of start times is not known yet and is
/// assumed to be [`ASSUMED_SPREAD`].
const FEW: usize = 4;

/// The Router's controller checks pod readiness every second, so the starts of one template
/// spread over a second or two.
const ASSUMED_SPREAD: Duration = Duration::from_millis(2_500);

/// Observations whose two polls were at most this far apart are precise.
const PRECISE: Duration = Duration::from_secs(1);

/// Margin on each side of the learned window.
const MARGIN: Duration = Duration::from_millis(500);

/// One start seen by a waiter: it happened after `lo` and by `hi`, both measured from the
/// moment the waiter began.
#[derive(Clone, Copy, Debug)]
struct Observation {
    lo: Duration,
    hi: Duration,
}

/// Start observations of one template, and a wake-up for the waiters planning on them.
#[derive(Debug, Default)]
pub(crate) struct TemplateStarts {
    seen: Mutex<VecDeque<Observation>>,
    changed: Notify,
}

impl TemplateStarts {
    /// Records a start seen between `lo` and `hi` after a waiter began, and wakes every
    /// waiter of the template so they re-plan (the first start of a wave tells the others
    /// theirs is near).
    pub(crate) fn record(&self, lo: Duration, hi: Duration) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() == KEPT {
                seen.pop_front();
            }
            seen.push_back(Observation { lo, hi });
        }
        self.changed.notify_waiters();
    }

    /// The window (from a waiter's beginning) where a start is expected, once any start of
    /// this template was seen.
    pub(crate) fn window(&self) -> Option<(Duration, Duration)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // A start seen by polls far apart says little about when it happened: plan on the
        // precise observations when there are enough of them.
        let precise = seen.iter().filter(|o| o.hi - o.lo <= PRECISE).count();
        let usable = |o: &&Observation| precise < FEW || o.hi - o.lo <= PRECISE;
        let lo = seen.iter().filter(usable).map(|o| o.lo).min()?;
        let mut hi = seen.iter().filter(usable).map(|o| o.hi).max()?;
        if seen.iter().filter(usable).count() < FEW {
            hi = hi.max(lo + ASSUMED_SPREAD);
        }
        Some((lo.saturating_sub(MARGIN), hi + MARGIN))
    }

    /// Resolves on the next [`TemplateStarts::record`].
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// Start observations per template, for one `Client`.
#[derive(Debug, Default)]
pub(crate) struct StartHistory {
    templates: Mutex<HashMap<String, Arc<TemplateStarts>>>,
}

impl StartHistory {
    /// The observations of `template` (created empty).
    pub(crate) fn template(&self, template: &str) -> Arc<TemplateStarts> {
        let mut map = self.templates.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(template.to_owned()).or_default().clone()
    }
}

/// The knobs of a schedule (from `WaitOptions`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    /// The smallest gap between polls.
    pub min_gap: Duration,
    /// The largest gap between polls.
    pub max_gap: Duration,
    /// Polls allowed at once.
    pub burst: u32,
    /// Polls allowed per minute after the burst.
    pub per_minute: u32,
}

impl Schedule {
    /// The earliest moment (from the beginning) poll number `polls + 1` is allowed: a token
    /// bucket of `burst` tokens refilled at `per_minute`, so a wait of `m` minutes polls at
    /// most `burst + per_minute × m` times.
    pub(crate) fn allowed_at(&self, polls: u32) -> Duration {
        self.allowed_with(polls, self.burst)
    }

    /// [`Schedule::allowed_at`] with a burst of `burst`.
    fn allowed_with(&self, polls: u32, burst: u32) -> Duration {
        let over = (polls + 1).saturating_sub(burst);
        if over == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(over as f64 * 60.0 / self.per_minute as f64)
    }

    /// Polls allowed from the beginning to `at`.
    fn tokens_until(&self, at: Duration) -> f64 {
        self.burst as f64 + self.per_minute as f64 * at.as_secs_f64() / 60.0
    }

    /// When to poll next (from the beginning), given the last poll at `last`, `polls` made
    /// so far and the learned window, if any. `jitter` in `[0, 1)` spreads sparse polls of
    /// many waiters.
    pub(crate) fn next(
        &self,
        last: Duration,
        polls: u32,
        window: Option<(Duration, Duration)>,
        jitter: f64,
    ) -> Duration {
        let sparse = |n: u32| {
            // Doubling from the smallest gap to the largest, jittered into its upper half.
            let ceiling = self
                .min_gap
                .saturating_mul(1u32 << n.min(16))
                .min(self.max_gap);
            ceiling / 2 + ceiling.mul_f64(0.5 * jitter)
        };
        // Sparse polls keep half the burst for the dense ones.
        let reserve = self.allowed_with(polls, self.burst.div_ceil(2));
        let planned = match window {
            None => (last + sparse(polls.saturating_sub(1))).max(reserve),
            Some((from, _)) if last < from => {
                // Before the window: sparse, but land on its start.
                let to_window = from - last;
                if to_window > self.max_gap {
                    (last + self.max_gap).max(reserve).min(from)
                } else {
                    from
                }
            }
            Some((_, to)) if last < to => {
                // In the window: the polls the bucket allows until its end, spread evenly.
                let tokens = (self.tokens_until(to) - polls as f64).max(1.0);
                let gap = (to - last).div_f64(tokens).max(self.min_gap);
                last + gap
            }
            Some((_, to)) => {
                // Later than ever seen: back off again from the window's end (no reserve
                // here: the dense polls may have used it, and this start is near).
                let late = last - to;
                let n = (late.as_secs_f64() / self.max_gap.as_secs_f64().max(1e-3) * 4.0) as u32;
                last + sparse(n)
            }
        };
        planned.max(self.allowed_at(polls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Schedule {
        Schedule {
            min_gap: Duration::from_millis(250),
            max_gap: Duration::from_secs(2),
            burst: 10,
            per_minute: 40,
        }
    }

    #[test]
    fn the_bucket_caps_polls_to_burst_plus_rate() {
        let s = s();
        let mut at = Duration::ZERO;
        let mut polls = 1;
        // Always in a window: as dense as allowed.
        let window = Some((Duration::ZERO, Duration::from_secs(600)));
        while at < Duration::from_secs(120) {
            at = s.next(at, polls, window, 0.0);
            polls += 1;
            let budget = 10.0 + 40.0 * at.as_secs_f64() / 60.0;
            assert!(polls as f64 <= budget + 1e-9, "{polls} polls at {at:?}");
        }
    }

    #[test]
    fn polls_land_on_the_window_and_are_dense_inside_it() {
        let s = s();
        let window = Some((Duration::from_secs(10), Duration::from_secs(13)));
        let mut at = Duration::ZERO;
        let mut polls = 1;
        let mut times = vec![at];
        while at < Duration::from_secs(13) {
            at = s.next(at, polls, window, 0.0);
            polls += 1;
            times.push(at);
        }
        assert!(times.contains(&Duration::from_secs(10)), "{times:?}");
        let before = times
            .iter()
            .filter(|t| **t < Duration::from_secs(10))
            .count();
        let inside = times
            .iter()
            .filter(|t| **t >= Duration::from_secs(10))
            .count();
        assert!(before <= 6, "{times:?}");
        assert!(inside >= 8, "{times:?}");
    }

    #[test]
    fn imprecise_observations_give_way_to_precise_ones() {
        let t = TemplateStarts::default();
        // Seen 6 s late by a starved waiter.
        t.record(Duration::from_secs(30), Duration::from_secs(36));
        for i in 0..4 {
            let lo = Duration::from_millis(30_000 + 400 * i);
            t.record(lo, lo + Duration::from_millis(300));
        }
        let (from, to) = t.window().unwrap();
        assert_eq!(from, Duration::from_millis(29_500));
        assert_eq!(to, Duration::from_millis(31_500 + 500));
    }

    #[test]
    fn a_start_later_than_the_window_is_not_held_back_by_the_reserve() {
        let s = s();
        let window = Some((Duration::from_secs(2), Duration::from_secs(5)));
        // 14 polls made by 6 s: the bucket holds 10 + 4 - 14 = 0 tokens, so the next poll waits
        // for the bucket only (1.5 s), not for a reserve of 5 (7.5 s).
        let next = s.next(Duration::from_secs(6), 14, window, 0.0);
        assert!(next <= Duration::from_millis(7_600), "{next:?}");
    }

    #[test]
    fn a_few_observations_assume_the_usual_spread() {
        let t = TemplateStarts::default();
        assert!(t.window().is_none());
        t.record(Duration::from_secs(3), Duration::from_millis(3_200));
        let (from, to) = t.window().unwrap();
        assert_eq!(from, Duration::from_millis(2_500));
        assert_eq!(to, Duration::from_millis(6_000));
    }
}
