//! What the events add up to: bytes done (retried bytes counted once), retries, and each
//! part's progress for the parts grid.

use std::collections::{BTreeMap, VecDeque};

use s3mt_engine::{Event, TreeAction};

/// Finished parts remembered for the grid of a transfer with too many parts to show them all.
const RECENT: usize = 64;

/// The totals and per-part progress of one transfer, from its events.
#[derive(Debug, Default)]
pub struct Tally {
    /// Object size, once planned.
    pub total: Option<u64>,
    /// Number of parts, once planned.
    pub parts: u64,
    /// Bytes done: every `Bytes` event less what `Retry` events discarded.
    pub done: u64,
    /// Bytes moved, retried ones included (for the rate).
    pub moved: u64,
    /// Requests that failed and were retried.
    pub retries: u64,
    /// A tree's files: planned, done and failed (none for one file).
    pub files: Option<Files>,
    each: BTreeMap<u32, Part>,
    recent: VecDeque<u32>,
}

/// The files of a tree transfer, as its events count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Files {
    /// Files to copy, as far as the listings have gone.
    pub planned: u64,
    /// Files copied.
    pub done: u64,
    /// Files that failed.
    pub failed: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Part {
    len: u64,
    done: u64,
    finished: bool,
}

/// One cell of the parts grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// 1-based part number.
    pub part: u32,
    /// Percent done, floored: 100 only once the part is done.
    pub percent: u8,
}

impl Tally {
    /// Adds `event` to the totals.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Planned {
                total_bytes, parts, ..
            } => {
                self.total = Some(*total_bytes);
                self.parts = *parts;
            }
            Event::PartStarted { part, bytes } => {
                let entry = self.each.entry(*part).or_default();
                entry.len = *bytes;
                entry.finished = false;
            }
            Event::Bytes { part, bytes } => {
                self.done += bytes;
                self.moved += bytes;
                self.each.entry(*part).or_default().done += bytes;
            }
            Event::Retry {
                part, discarded, ..
            } => {
                self.retries += 1;
                self.done = self.done.saturating_sub(*discarded);
                if *part == 0 && *discarded > 0 {
                    // The whole transfer starts over (an upload restarted, a download fetched
                    // again after a checksum mismatch).
                    self.each.clear();
                    self.recent.clear();
                } else if let Some(entry) = self.each.get_mut(part) {
                    entry.done = entry.done.saturating_sub(*discarded);
                }
            }
            Event::TreeEntry { action, bytes, .. } => {
                let files = self.files.get_or_insert_default();
                if *action != TreeAction::Delete {
                    files.planned += 1;
                    *self.total.get_or_insert(0) += bytes;
                }
            }
            Event::FileDone { action, .. } if *action != TreeAction::Delete => {
                self.files.get_or_insert_default().done += 1;
            }
            Event::FileFailed { .. } => self.files.get_or_insert_default().failed += 1,
            Event::PartDone { part } => {
                let entry = self.each.entry(*part).or_default();
                entry.finished = true;
                self.recent.retain(|number| number != part);
                self.recent.push_front(*part);
                self.recent.truncate(RECENT);
            }
            _ => {}
        }
    }

    /// Percent of the object done (100 for an empty one).
    pub fn percent(&self) -> f64 {
        match self.total {
            Some(total) if total > 0 => (self.done as f64 / total as f64 * 100.0).min(100.0),
            _ => 100.0,
        }
    }

    /// Parts finished.
    pub fn parts_done(&self) -> usize {
        self.each.values().filter(|part| part.finished).count()
    }

    /// Parts started and not finished.
    pub fn parts_in_flight(&self) -> usize {
        self.each.values().filter(|part| !part.finished).count()
    }

    /// The parts to show in at most `cells` cells, in part order: all of them when they fit,
    /// else those in flight and then the most recently finished.
    pub fn grid(&self, cells: usize) -> Vec<Cell> {
        if self.parts as usize <= cells {
            return (1..=u32::try_from(self.parts).unwrap_or(u32::MAX))
                .map(|part| self.cell(part))
                .collect();
        }
        let mut shown: Vec<u32> = self
            .each
            .iter()
            .filter(|(_, part)| !part.finished)
            .map(|(&number, _)| number)
            .take(cells)
            .collect();
        let room = cells - shown.len();
        shown.extend(self.recent.iter().take(room));
        shown.sort_unstable();
        shown.into_iter().map(|part| self.cell(part)).collect()
    }

    fn cell(&self, number: u32) -> Cell {
        let percent = match self.each.get(&number) {
            Some(part) if part.finished => 100,
            Some(part) if part.len > 0 => (part.done.min(part.len) * 100 / part.len).min(99) as u8,
            _ => 0,
        };
        Cell {
            part: number,
            percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn planned(total_bytes: u64, parts: u64) -> Event {
        Event::Planned {
            total_bytes,
            part_size: 10,
            parts,
        }
    }

    fn retry(part: u32, discarded: u64) -> Event {
        Event::Retry {
            part,
            attempt: 1,
            reason: "reset".into(),
            delay: Duration::ZERO,
            discarded,
        }
    }

    #[test]
    fn retried_bytes_count_once() {
        let mut tally = Tally::default();
        for event in [
            planned(25, 3),
            Event::PartStarted { part: 1, bytes: 10 },
            Event::Bytes { part: 1, bytes: 6 },
            retry(1, 6),
            Event::Bytes { part: 1, bytes: 10 },
            Event::PartDone { part: 1 },
            Event::PartStarted { part: 2, bytes: 10 },
            Event::Bytes { part: 2, bytes: 4 },
        ] {
            tally.apply(&event);
        }
        assert_eq!((tally.done, tally.moved, tally.retries), (14, 20, 1));
        assert!((tally.percent() - 56.0).abs() < 1e-9);
        let percents: Vec<u8> = tally.grid(8).iter().map(|cell| cell.percent).collect();
        assert_eq!(percents, [100, 40, 0]);
        assert_eq!((tally.parts_done(), tally.parts_in_flight()), (1, 1));
    }

    #[test]
    fn a_restart_resets_every_part() {
        let mut tally = Tally::default();
        for event in [
            planned(20, 2),
            Event::PartStarted { part: 1, bytes: 10 },
            Event::Bytes { part: 1, bytes: 10 },
            Event::PartDone { part: 1 },
            retry(0, 20),
        ] {
            tally.apply(&event);
        }
        assert_eq!(tally.done, 0);
        assert_eq!(tally.parts_done(), 0);
        assert!(tally.grid(8).iter().all(|cell| cell.percent == 0));
    }

    #[test]
    fn many_parts_show_those_in_flight_and_the_latest_done() {
        let mut tally = Tally::default();
        tally.apply(&planned(1000, 100));
        for part in 1..=10 {
            tally.apply(&Event::PartStarted { part, bytes: 10 });
        }
        for part in [3, 1, 2] {
            tally.apply(&Event::PartDone { part });
        }
        let shown: Vec<u32> = tally.grid(9).iter().map(|cell| cell.part).collect();
        // Seven in flight (4..=10), then the two finished last.
        assert_eq!(shown, [1, 2, 4, 5, 6, 7, 8, 9, 10]);
    }
}
