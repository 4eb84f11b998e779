//! Per-transfer options: where events go, cancellation, verification, object options, a
//! stream's expected size.

use std::sync::Arc;

use crossbeam_channel::Sender;

use super::progress::{CancelToken, Event, EventSink, Progress};
use crate::s3::ObjectOptions;

/// Whether a download may finish without verifying its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// Verify against whatever integrity data the object has; report when there is none.
    #[default]
    Auto,
    /// Fail (before writing anything) when the object has no integrity data to verify against.
    Require,
}

/// Per-transfer options.
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    events: EventSink,
    cancel: Option<CancelToken>,
    pub(crate) verify: VerifyMode,
    pub(crate) object: ObjectOptions,
    pub(crate) expected_size: Option<u64>,
}

impl TransferOptions {
    /// Stops the transfer when `token` is cancelled. Default: not cancellable. A cancellable
    /// transfer opens its own connections (so cancelling can cut them) instead of reusing the
    /// client's.
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// How strictly downloads are verified. Default: [`VerifyMode::Auto`].
    pub fn verify(mut self, mode: VerifyMode) -> Self {
        self.verify = mode;
        self
    }

    /// What uploads store with the object (storage class, content type, metadata ...) and
    /// whether they may replace an existing one. Default: [`ObjectOptions::default`]. Ignored
    /// by downloads.
    pub fn object(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }

    /// The size of a stream to upload, when known up front: the part size is then chosen
    /// for it, as for a file, instead of growing as the stream goes. Default: unknown.
    pub fn expected_size(mut self, bytes: u64) -> Self {
        self.expected_size = Some(bytes);
        self
    }

    /// Sends the transfer's [`Event`]s to `sender`. Default: no events.
    ///
    /// Workers send as they go, so a bounded channel whose receiver falls behind slows the
    /// transfer down (a zero-capacity channel runs it in lockstep with the receiver).
    pub fn progress(mut self, sender: Sender<Event>) -> Self {
        self.events = EventSink::Channel(sender);
        self
    }

    /// Calls `callback` with each [`Event`], on the worker thread that made it; it must be
    /// quick. Replaces [`TransferOptions::progress`].
    pub fn on_event(mut self, callback: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = EventSink::Callback(Arc::new(callback));
        self
    }

    /// What the transfer's workers report to and consult.
    pub(crate) fn to_progress(&self) -> Progress {
        Progress::new(self.events.clone(), self.cancel.clone())
    }
}
