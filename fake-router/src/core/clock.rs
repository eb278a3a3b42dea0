//! The lifecycle's clock: when phase changes, finalizers, snapshots and visibility fall due,
//! and the wall time stamped on what the emulator writes.
//!
//! Real time (the default) reads tokio's clock, so a test that pauses tokio time pauses the
//! lifecycle too. A manual clock (`FakeRouterBuilder::manual_clock`) stands still until
//! `FakeRouter::advance` moves it. Both can be moved forward by `advance`.

use std::ops::Add;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A point on the emulator's clock: the time since the FakeRouter started, plus every
/// `advance`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(Duration);

impl Add<Duration> for Tick {
    type Output = Tick;

    fn add(self, d: Duration) -> Tick {
        Tick(self.0.saturating_add(d))
    }
}

/// The lifecycle clock.
#[derive(Debug)]
pub(crate) struct Clock {
    /// `Some(start)` for real time, `None` for a manual clock.
    real: Option<Instant>,
    /// Everything `advance` added.
    advanced: Duration,
    wall_base: SystemTime,
}

impl Clock {
    /// A clock that follows real time (tokio's).
    pub(crate) fn real() -> Clock {
        Clock {
            real: Some(Instant::now()),
            advanced: Duration::ZERO,
            wall_base: SystemTime::now(),
        }
    }

    /// A clock that moves only when advanced.
    pub(crate) fn manual() -> Clock {
        Clock {
            real: None,
            advanced: Duration::ZERO,
            wall_base: SystemTime::now(),
        }
    }

    /// The current point on the clock.
    pub(crate) fn now(&self) -> Tick {
        let real = self.real.map(|start| start.elapsed()).unwrap_or_default();
        Tick(real.saturating_add(self.advanced))
    }

    /// Move the clock forward.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.advanced = self.advanced.saturating_add(by);
    }

    /// When real time will reach `t` on its own: `None` for a manual clock, which never does,
    /// and for a point too far away to name.
    pub(crate) fn instant_of(&self, t: Tick) -> Option<Instant> {
        self.real?.checked_add(t.0.saturating_sub(self.advanced))
    }

    /// The wall time of a point on the clock (clamped to the start for a point too far away
    /// to name, rather than overflowing).
    pub(crate) fn wall(&self, t: Tick) -> SystemTime {
        self.wall_base.checked_add(t.0).unwrap_or(self.wall_base)
    }

    /// The wall time now.
    pub(crate) fn wall_now(&self) -> SystemTime {
        self.wall(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let mut c = Clock::manual();
        assert_eq!(c.now(), Tick::default());
        assert_eq!(c.instant_of(Tick::default() + Duration::from_secs(1)), None);
        c.advance(Duration::from_millis(250));
        assert_eq!(c.now(), Tick::default() + Duration::from_millis(250));
        assert_eq!(
            c.wall_now()
                .duration_since(c.wall(Tick::default()))
                .unwrap(),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn advancing_a_real_clock_adds_to_real_time() {
        let mut c = Clock::real();
        c.advance(Duration::from_secs(3600));
        assert!(c.now() >= Tick::default() + Duration::from_secs(3600));
        // A point already passed thanks to the advance is due at the start instant.
        let start = c.instant_of(Tick::default()).unwrap();
        assert_eq!(
            c.instant_of(Tick::default() + Duration::from_secs(60)),
            Some(start)
        );
    }

    #[test]
    fn points_too_far_away_do_not_overflow() {
        let mut c = Clock::real();
        let far = Tick::default() + Duration::MAX;
        assert_eq!(c.instant_of(far), None);
        c.advance(Duration::MAX);
        let _ = (c.now(), c.wall_now());
    }
}
