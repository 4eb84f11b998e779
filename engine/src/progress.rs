//! Progress events, sent on a crossbeam channel the caller chooses. The engine never prints.

use std::time::Duration;

use crossbeam_channel::Sender;

/// Bytes a worker moves between two [`Event::Bytes`] reports.
pub(crate) const REPORT_EVERY: usize = 1024 * 1024;

/// What happened in a transfer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The transfer is cut into `parts` parts (or ranges) of `part_size` bytes.
    Planned {
        /// Object size in bytes.
        total_bytes: u64,
        /// Size of every part but the last.
        part_size: u64,
        /// Number of parts (1 for a single PutObject, 0 for an empty download).
        parts: u64,
    },
    /// `bytes` more bytes of `part` reached the server or the file.
    Bytes {
        /// 1-based part number.
        part: u32,
        /// Bytes since the last report for this part.
        bytes: u64,
    },
    /// A request of `part` failed and will be retried after `delay`; the `discarded` bytes
    /// already reported for it will be sent again, so subtract them from the total done.
    Retry {
        /// 1-based part number (0 for requests that are not about a part).
        part: u32,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// Why it failed.
        reason: String,
        /// Wait before the next attempt.
        delay: Duration,
        /// Bytes of the failed attempt already reported in [`Event::Bytes`].
        discarded: u64,
    },
    /// `part` is done.
    PartDone {
        /// 1-based part number.
        part: u32,
    },
}

/// Where a transfer's events go: a channel, or nowhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    sender: Option<Sender<Event>>,
}

impl Progress {
    pub fn new(sender: Option<Sender<Event>>) -> Self {
        Self { sender }
    }

    /// Sends an event. A receiver that has gone away does not stop the transfer.
    pub fn send(&self, event: impl FnOnce() -> Event) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(event());
        }
    }
}
