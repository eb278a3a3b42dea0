//! The lifecycle's clock: when phase changes, finalizers and snapshots fall due, and the wall
//! time stamped on what the emulator writes.

use std::ops::Add;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A point on the emulator's clock: the time since the FakeRouter started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(Duration);

impl Add<Duration> for Tick {
    type Output = Tick;

    fn add(self, d: Duration) -> Tick {
        Tick(self.0.saturating_add(d))
    }
}

/// Real time, read from tokio's clock (a test that pauses tokio time pauses it too).
#[derive(Debug)]
pub(crate) struct Clock {
    base: Instant,
    wall_base: SystemTime,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            base: Instant::now(),
            wall_base: SystemTime::now(),
        }
    }

    /// The current point on the clock.
    pub(crate) fn now(&self) -> Tick {
        Tick(self.base.elapsed())
    }

    /// The wall time of a point on the clock.
    pub(crate) fn wall(&self, t: Tick) -> SystemTime {
        self.wall_base + t.0
    }

    /// The wall time now.
    pub(crate) fn wall_now(&self) -> SystemTime {
        self.wall(self.now())
    }
}
