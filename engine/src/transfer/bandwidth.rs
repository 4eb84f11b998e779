//! `--max-bandwidth`: one cap on the bytes per second that all of a client's connections move,
//! uploads and downloads alike (aws-cli's `max_bandwidth`).
//!
//! Bytes are granted in pieces of about 1/50 s at the rate, each given the next free slot of a
//! schedule the whole session shares (the generic cell rate algorithm): a connection waits
//! for its slot, then moves its piece. An idle link banks at most [`BURST`] of credit (a new
//! one none), so no second ever carries much more than the rate: at most the rate times
//! `1 s + BURST`, plus one piece per connection in flight.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;

/// Credit an idle link may bank: how far a piece's slot may lie in the past. It is also what a
/// link that fell behind (the machine or the server busy elsewhere) may catch up: at a cap
/// near the machine's limit, 20 ms held downloads to 0.91-0.95 of the cap, 100 ms let them
/// reach it but let single seconds carry 1.10x (measured).
const BURST: Duration = Duration::from_millis(50);
/// Pieces granted per second at the rate: small enough for a smooth rate, few enough for cheap
/// bookkeeping.
const PIECES_PER_SECOND: u64 = 50;
/// Bounds of a piece, in bytes; pieces are whole multiples of the smaller, so that a
/// download's pages are released whole.
const PIECE_BYTES: (u64, u64) = (4 * 1024, 1024 * 1024);

/// A rate cap shared by every connection of a session.
#[derive(Debug)]
pub(crate) struct BandwidthCap {
    schedule: Mutex<Schedule>,
    clock: Arc<dyn Clock>,
}

impl BandwidthCap {
    /// A cap of `bytes_per_second` (more than zero), timed by `clock`.
    pub fn new(bytes_per_second: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            schedule: Mutex::new(Schedule::new(bytes_per_second)),
            clock,
        }
    }

    /// Waits until up to `wanted` bytes may move, and says how many (at least one when
    /// `wanted` is not zero, at most a piece).
    pub fn take(&self, wanted: usize) -> usize {
        if wanted == 0 {
            return 0;
        }
        let (granted, wait) = self
            .schedule
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .grant(wanted as u64, self.clock.now());
        if !wait.is_zero() {
            self.clock.sleep(wait);
        }
        granted as usize
    }
}

/// When the next piece may move. Pure: the time is given.
#[derive(Debug)]
struct Schedule {
    bytes_per_second: u64,
    piece: u64,
    /// The theoretical time the next byte may move.
    next: Option<Timestamp>,
}

impl Schedule {
    fn new(bytes_per_second: u64) -> Self {
        let bytes_per_second = bytes_per_second.max(1);
        Self {
            bytes_per_second,
            piece: (bytes_per_second / PIECES_PER_SECOND / PIECE_BYTES.0 * PIECE_BYTES.0)
                .clamp(PIECE_BYTES.0, PIECE_BYTES.1),
            next: None,
        }
    }

    /// Grants up to `wanted` bytes asked for at `now`: how many, and how long to wait before
    /// moving them.
    fn grant(&mut self, wanted: u64, now: Timestamp) -> (u64, Duration) {
        let granted = wanted.min(self.piece);
        // A new schedule has banked nothing yet: its first piece starts now.
        let earliest = now - BURST;
        let start = match self.next {
            Some(next) => next.max(earliest),
            None => now,
        };
        let nanos = u128::from(granted) * 1_000_000_000 / u128::from(self.bytes_per_second);
        let length = SignedDuration::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX));
        self.next = Some(start.saturating_add(length).unwrap_or(start));
        let wait = start
            .duration_since(now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        (granted, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::testing::ManualClock;

    fn at(seconds: f64) -> Timestamp {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        start + SignedDuration::from_secs_f64(seconds)
    }

    #[test]
    fn pieces_are_a_fiftieth_of_a_second_within_bounds() {
        assert_eq!(Schedule::new(10_000_000).piece, 196_608);
        assert_eq!(Schedule::new(1000).piece, 4096);
        assert_eq!(Schedule::new(1 << 40).piece, 1 << 20);
    }

    #[test]
    fn back_to_back_pieces_are_spaced_at_the_rate() {
        let mut schedule = Schedule::new(1_024_000);
        // 1000 KiB/s, pieces of 20 KiB: 20 ms each. A new schedule has no credit.
        let (granted, wait) = schedule.grant(1 << 20, at(0.0));
        assert_eq!((granted, wait), (20_480, Duration::ZERO));
        let (_, wait) = schedule.grant(1 << 20, at(0.0));
        assert_eq!(wait, Duration::from_millis(20));
        let (_, wait) = schedule.grant(1 << 20, at(0.0));
        assert_eq!(wait, Duration::from_millis(40));
    }

    #[test]
    fn idle_time_banks_no_more_than_the_burst() {
        let mut schedule = Schedule::new(1_024_000);
        schedule.grant(20_480, at(0.0));
        // Ten idle seconds later, only BURST (50 ms: two and a half pieces) goes at once:
        // the pieces' slots start 50, 30 and 10 ms back, the next 10 ms ahead.
        for _ in 0..3 {
            assert_eq!(schedule.grant(20_480, at(10.0)).1, Duration::ZERO);
        }
        assert_eq!(
            schedule.grant(20_480, at(10.0)).1,
            Duration::from_millis(10)
        );
    }

    #[test]
    fn any_second_carries_at_most_the_rate_and_the_burst() {
        // Eight greedy connections for five seconds of a manual clock: the bytes granted in
        // every window of one second stay within the rate, the burst and one piece each.
        let rate = 10_000_000u64;
        let clock = Arc::new(ManualClock::new());
        let cap = BandwidthCap::new(rate, clock.clone());
        let start = clock.now();
        let mut granted = Vec::new();
        while clock.now() < start + SignedDuration::from_secs(5) {
            for _ in 0..8 {
                let n = cap.take(1 << 20);
                granted.push((clock.now(), n as u64));
            }
        }
        let total: u64 = granted.iter().map(|(_, n)| n).sum();
        let elapsed = clock.now().duration_since(start).as_secs_f64();
        let average = total as f64 / elapsed;
        assert!(
            (average / rate as f64 - 1.0).abs() < 0.02,
            "{average} B/s against {rate}"
        );
        for (from, _) in &granted {
            let window: u64 = granted
                .iter()
                .filter(|(t, _)| t >= from && *t < *from + SignedDuration::from_secs(1))
                .map(|(_, n)| n)
                .sum();
            assert!(
                window as f64 <= rate as f64 * 1.03,
                "{window} bytes in one second at {from}"
            );
        }
    }
}
