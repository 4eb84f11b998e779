//! Progress events, sent on a crossbeam channel the caller chooses, and the cancel token the
//! workers consult as they go. The engine never prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::client::TransferSummary;
use crate::error::{Error, ErrorKind, Result};

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
    /// Work on `part` began (once per part: retried requests do not repeat it; a download
    /// fetched again after a checksum mismatch does).
    PartStarted {
        /// 1-based part number.
        part: u32,
        /// The part's length in bytes.
        bytes: u64,
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
    /// The transfer succeeded; the last event.
    Finished(TransferSummary),
    /// The transfer failed; the last event.
    Failed {
        /// What kind of failure.
        kind: ErrorKind,
        /// The error message (no secrets).
        message: String,
    },
}

/// Asks running transfers to stop. Clones share the request.
///
/// Workers check it before every request, between retries, and after every MiB they move, so a
/// transfer stops within about a MiB per worker (a read blocked on a silent server ends at the
/// I/O timeout). The multipart upload of a cancelled upload is aborted and a cancelled
/// download's temporary file removed, as for any failure; the error is [`ErrorKind::Cancelled`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every transfer holding this token to stop. Async-signal-safe: only sets a flag.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The flag itself, for signal handlers that set an `AtomicBool` (e.g. `signal-hook`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }
}

/// Where a transfer's events go.
#[derive(Clone, Default)]
pub(crate) enum EventSink {
    /// Nowhere.
    #[default]
    None,
    /// A channel.
    Channel(Sender<Event>),
    /// A function, called on the worker that made the event.
    Callback(Arc<dyn Fn(&Event) + Send + Sync>),
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Channel(_) => "Channel",
            Self::Callback(_) => "Callback",
        })
    }
}

/// What a transfer's workers consult as they go: where events go, and whether to stop.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    sink: EventSink,
    cancel: CancelToken,
}

impl Progress {
    pub fn new(sink: EventSink, cancel: CancelToken) -> Self {
        Self { sink, cancel }
    }

    /// Fails with [`ErrorKind::Cancelled`] once the transfer was cancelled.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        Ok(())
    }

    /// Sends an event. A receiver that has gone away does not stop the transfer.
    pub fn send(&self, event: impl FnOnce() -> Event) {
        match &self.sink {
            EventSink::None => {}
            EventSink::Channel(sender) => {
                let _ = sender.send(event());
            }
            EventSink::Callback(callback) => callback(&event()),
        }
    }

    /// Sends the last event, [`Event::Finished`] or [`Event::Failed`], and passes `outcome` on.
    pub fn finish(&self, outcome: Result<TransferSummary>) -> Result<TransferSummary> {
        self.send(|| match &outcome {
            Ok(summary) => Event::Finished(summary.clone()),
            Err(err) => Event::Failed {
                kind: err.kind(),
                message: err.to_string(),
            },
        });
        outcome
    }
}
