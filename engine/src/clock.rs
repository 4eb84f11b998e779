//! The time, as the pure core gets it: passed in, never read by the code that uses it, so the
//! retry loop and the credential cache are tested without waiting.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

/// Tells the time and waits.
pub(crate) trait Clock: Send + Sync + fmt::Debug {
    /// The time now.
    fn now(&self) -> Timestamp;

    /// Waits `duration`.
    fn sleep(&self, duration: Duration);
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use super::*;

    /// A clock that only moves when told to, or when slept on; it records every sleep.
    #[derive(Debug)]
    pub struct ManualClock {
        now: Mutex<Timestamp>,
        slept: Mutex<Vec<Duration>>,
    }

    impl ManualClock {
        pub fn new() -> Self {
            Self {
                now: Mutex::new("2026-01-01T00:00:00Z".parse().expect("a valid time")),
                slept: Mutex::new(Vec::new()),
            }
        }

        pub fn advance(&self, by: Duration) {
            let mut now = self.now.lock().expect("not poisoned");
            *now += by;
        }

        /// Every sleep so far.
        pub fn sleeps(&self) -> Vec<Duration> {
            self.slept.lock().expect("not poisoned").clone()
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Timestamp {
            *self.now.lock().expect("not poisoned")
        }

        fn sleep(&self, duration: Duration) {
            self.slept.lock().expect("not poisoned").push(duration);
            self.advance(duration);
        }
    }
}
