//! Progress events, sent on a crossbeam channel the caller chooses, and the cancel token the
//! workers consult as they go. The engine never prints.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::bandwidth::BandwidthCap;
use super::summary::{TransferSummary, TreeAction, TreeSummary};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Part;
use crate::s3::call::Observer;
use crate::s3::http::Http;

/// Bytes a worker moves between two [`Event::Bytes`] reports.
pub(crate) const REPORT_EVERY: usize = 1024 * 1024;

/// What happened in a transfer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The transfer is cut into `parts` parts (or ranges) of `part_size` bytes.
    Planned {
        /// Object size in bytes; 0 for a stream of unknown size (then `parts` is 0 too).
        total_bytes: u64,
        /// Size of every part but the last.
        part_size: u64,
        /// Number of parts (1 for a single PutObject, 0 for an empty download or a stream of
        /// unknown size).
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
    /// Something the user should know that is not an error, e.g. that an interrupted
    /// transfer is being resumed.
    Notice(String),
    /// A tree transfer will copy or delete `path`, `bytes` long (in a dry run: would). The
    /// totals of a tree grow with these as its listings go.
    TreeEntry {
        /// The path relative to the tree's root.
        path: String,
        /// What will be done with it.
        action: TreeAction,
        /// Its size (0 for a deletion).
        bytes: u64,
    },
    /// A tree transfer is done with `path`.
    FileDone {
        /// The path relative to the tree's root.
        path: String,
        /// What was done with it.
        action: TreeAction,
        /// Its size (0 for a deletion).
        bytes: u64,
    },
    /// A tree transfer failed with `path`; the other paths go on.
    FileFailed {
        /// The path relative to the tree's root.
        path: String,
        /// What was being done with it.
        action: TreeAction,
        /// What kind of failure.
        kind: ErrorKind,
        /// The error message (no secrets).
        message: String,
    },
    /// A tree transfer left `path` out.
    FileSkipped {
        /// The path relative to the tree's root (a directory's ends in `/`).
        path: String,
        /// Why.
        reason: String,
    },
    /// The transfer succeeded; the last event.
    Finished(TransferSummary),
    /// The tree transfer ran to its end (some of its paths may have failed); the last event.
    TreeFinished(TreeSummary),
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
/// A transfer given a token gets its own connections, which [`CancelToken::cancel`] shuts down:
/// requests in flight fail at once, even a read blocked on a silent server. Workers also check
/// the token before every request, between retries, and after every MiB. The multipart upload
/// of a cancelled upload is aborted (over fresh connections) and a cancelled download's
/// temporary file removed, as for any failure; the error is [`ErrorKind::Cancelled`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelState>,
}

#[derive(Debug, Default)]
struct CancelState {
    cancelled: AtomicBool,
    /// The agents of the transfers holding this token, to shut down on cancel.
    agents: Mutex<Vec<(u64, Http)>>,
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every transfer holding this token to stop, and fails their requests in flight.
    /// Not async-signal-safe: call it from a thread, not from a signal handler.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let agents = std::mem::take(&mut *lock(&self.inner.agents));
        for (_, http) in agents {
            http.shutdown();
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Registers a transfer's agent until the returned guard drops.
    pub(crate) fn register(&self, http: &Http) -> Registration {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.agents).push((id, http.clone()));
        if self.is_cancelled() {
            self.cancel();
        }
        Registration {
            token: self.clone(),
            id,
        }
    }
}

/// Removes a finished transfer's agent from its token.
#[derive(Debug)]
pub(crate) struct Registration {
    token: CancelToken,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.token.inner.agents).retain(|(id, _)| *id != self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    cancel: Option<CancelToken>,
}

impl Progress {
    pub fn new(sink: EventSink, cancel: Option<CancelToken>) -> Self {
        Self { sink, cancel }
    }

    /// The token that cancels this transfer, if it can be cancelled.
    pub fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }

    /// Fails with [`ErrorKind::Cancelled`] once the transfer was cancelled.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        Ok(())
    }

    /// Reports `part` as already done by an earlier, interrupted run.
    pub fn resumed(&self, part: Part) {
        self.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        self.send(|| Event::Bytes {
            part: part.number,
            bytes: part.len,
        });
        self.send(|| Event::PartDone { part: part.number });
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

    /// Sends the last event of a tree transfer, [`Event::TreeFinished`] or [`Event::Failed`],
    /// and passes `outcome` on.
    pub fn finish_tree(&self, outcome: Result<TreeSummary>) -> Result<TreeSummary> {
        self.send(|| match &outcome {
            Ok(summary) => Event::TreeFinished(summary.clone()),
            Err(err) => Event::Failed {
                kind: err.kind(),
                message: err.to_string(),
            },
        });
        outcome
    }

    /// Sends a notice.
    pub fn notice(&self, message: impl Into<String>) {
        self.send(|| Event::Notice(message.into()));
    }
}

/// A transfer's requests that are not about one part: retries are reported as part 0, and a
/// request cut short by a cancellation ends with the cancellation.
impl Observer for Progress {
    fn before_attempt(&self) -> Result<()> {
        self.check_cancelled()
    }

    fn retrying(&self, attempt: u32, error: &Error, delay: Duration) {
        self.send(|| Event::Retry {
            part: 0,
            attempt,
            reason: error.to_string(),
            delay,
            discarded: 0,
        });
    }

    fn stopped(&self) -> bool {
        self.check_cancelled().is_err()
    }

    fn outcome(&self, error: Error) -> Error {
        match self.check_cancelled() {
            Err(cancelled) if error.kind() != ErrorKind::Cancelled => cancelled,
            _ => error,
        }
    }
}

/// The attempts of one part's request: what each attempt reports in [`Event::Bytes`] is
/// counted, so that a retry can say how many of those bytes it discards.
pub(crate) struct PartAttempts<'a> {
    progress: &'a Progress,
    part: u32,
    bandwidth: Option<&'a BandwidthCap>,
    reported: Cell<u64>,
    /// Whether the last attempt failed on the network (not with a reply from the server).
    network_failed: Cell<bool>,
}

impl<'a> PartAttempts<'a> {
    pub fn new(progress: &'a Progress, part: u32, bandwidth: Option<&'a BandwidthCap>) -> Self {
        Self {
            progress,
            part,
            bandwidth,
            reported: Cell::new(0),
            network_failed: Cell::new(false),
        }
    }

    /// Whether the attempt before this one failed on the network; asking forgets it.
    pub fn take_network_failure(&self) -> bool {
        self.network_failed.take()
    }

    /// Bytes the current attempt reported so far.
    pub fn reported(&self) -> &Cell<u64> {
        &self.reported
    }

    pub fn progress(&self) -> &'a Progress {
        self.progress
    }

    /// How many of the `wanted` bytes may move now (all of them, or a piece of them once the
    /// bandwidth cap gave them their turn).
    pub fn pace(&self, wanted: usize) -> usize {
        match self.bandwidth {
            None => wanted,
            Some(cap) => cap.take(wanted),
        }
    }

    /// Reports `bytes` more of the part moved.
    pub fn moved(&self, bytes: u64) {
        if bytes > 0 {
            self.progress.send(|| Event::Bytes {
                part: self.part,
                bytes,
            });
            self.reported.set(self.reported.get() + bytes);
        }
    }
}

impl Observer for PartAttempts<'_> {
    fn before_attempt(&self) -> Result<()> {
        self.progress.check_cancelled()?;
        self.reported.set(0);
        Ok(())
    }

    fn retrying(&self, attempt: u32, error: &Error, delay: Duration) {
        self.network_failed.set(error.kind() == ErrorKind::Network);
        self.progress.send(|| Event::Retry {
            part: self.part,
            attempt,
            reason: error.to_string(),
            delay,
            discarded: self.reported.get(),
        });
    }

    fn stopped(&self) -> bool {
        self.progress.stopped()
    }

    fn outcome(&self, error: Error) -> Error {
        self.progress.outcome(error)
    }
}
