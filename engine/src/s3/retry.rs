//! The one bounded retry loop: exponential backoff with full jitter, no sleep after the last try.
//! Pure: the clock it sleeps on is passed in.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result};

/// How often a wait between attempts wakes to see whether to give up early.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// How many times to try, and how long to wait between tries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Runs `attempt(n)` (n from 1) until it succeeds, fails with an error that is not
    /// retryable, `max_attempts` are used, or `stopped()` turns true. Returns the last real
    /// error. `on_retry` hears of each failure that will be retried, with the delay before the
    /// next try; the delay, slept on `clock`, is cut short when `stopped()` turns true.
    pub fn run<T>(
        &self,
        clock: &dyn Clock,
        mut attempt: impl FnMut(u32) -> Result<T>,
        mut on_retry: impl FnMut(u32, &Error, Duration),
        stopped: impl Fn() -> bool,
    ) -> Result<T> {
        let mut number = 1;
        loop {
            match attempt(number) {
                Err(err) if err.is_retryable() && number < self.max_attempts && !stopped() => {
                    let delay = backoff_delay(self.base, self.max, number, random_fraction());
                    on_retry(number, &err, delay);
                    sleep_unless(clock, delay, &stopped);
                    number += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Sleeps for `delay`, waking every [`STOP_CHECK`] to give up early once `stopped()`.
fn sleep_unless(clock: &dyn Clock, delay: Duration, stopped: &impl Fn() -> bool) {
    let mut left = delay;
    while !left.is_zero() && !stopped() {
        let step = left.min(STOP_CHECK);
        clock.sleep(step);
        left -= step;
    }
}

/// Full jitter: a delay drawn from `[0, min(max, base * 2^(attempt-1))]`, `fraction` in `[0, 1)`.
pub(crate) fn backoff_delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    fraction: f64,
) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    ceiling.mul_f64(fraction.clamp(0.0, 1.0))
}

/// A fraction in `[0, 1)` from std's randomly keyed hasher: enough for jitter, no extra crate.
fn random_fraction() -> f64 {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let bits = RandomState::new().hash_one(DRAWS.fetch_add(1, Ordering::Relaxed)) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::testing::ManualClock;
    use crate::error::ErrorKind;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base: Duration::from_secs(1),
            max: Duration::from_secs(2),
        }
    }

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff_delay(base, max, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(base, max, 3, 1.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(base, max, 9, 1.0), max);
        assert_eq!(backoff_delay(base, max, 60, 0.5), max / 2);
        assert_eq!(backoff_delay(base, max, 2, 0.0), Duration::ZERO);
        let fraction = random_fraction();
        assert!((0.0..1.0).contains(&fraction));
    }

    #[test]
    fn retries_retryable_errors_and_returns_the_last_one() {
        let mut retries = Vec::new();
        let outcome: Result<()> = policy(3).run(
            &ManualClock::new(),
            |n| Err(Error::new(ErrorKind::Network, format!("reset {n}"))),
            |n, _, _| retries.push(n),
            || false,
        );
        assert_eq!(outcome.unwrap_err().to_string(), "reset 3");
        assert_eq!(
            retries,
            [1, 2],
            "no retry announced (or slept) after the last attempt"
        );
    }

    #[test]
    fn stops_at_once_on_errors_that_are_not_retryable() {
        let mut calls = 0;
        let outcome: Result<()> = policy(5).run(
            &ManualClock::new(),
            |_| {
                calls += 1;
                Err(Error::new(ErrorKind::AccessDenied, "403"))
            },
            |_, _, _| {},
            || false,
        );
        assert!(outcome.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn succeeds_after_transient_failures() {
        let outcome = policy(5).run(
            &ManualClock::new(),
            |n| {
                if n < 3 {
                    Err(Error::new(ErrorKind::ServerBusy, "503"))
                } else {
                    Ok(n)
                }
            },
            |_, _, _| {},
            || false,
        );
        assert_eq!(outcome.unwrap(), 3);
    }

    #[test]
    fn a_stop_request_ends_retrying_with_the_last_error() {
        let mut calls = 0;
        let outcome: Result<()> = policy(5).run(
            &ManualClock::new(),
            |_| {
                calls += 1;
                Err(Error::new(ErrorKind::Network, "reset"))
            },
            |_, _, _| {},
            || true,
        );
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Network);
        assert_eq!(calls, 1);
    }

    #[test]
    fn waits_are_slept_on_the_given_clock_in_steps_that_can_stop() {
        let clock = ManualClock::new();
        let mut delays = Vec::new();
        let outcome: Result<()> = policy(4).run(
            &clock,
            |_| Err(Error::new(ErrorKind::ServerBusy, "503")),
            |_, _, delay| delays.push(delay),
            || false,
        );
        assert!(outcome.is_err());
        assert_eq!(delays.len(), 3);
        let slept: Duration = clock.sleeps().iter().sum();
        assert_eq!(slept, delays.iter().sum::<Duration>());
        assert!(clock.sleeps().iter().all(|step| *step <= STOP_CHECK));
    }
}
