//! Transfers: the session the flows share and the context of one object's transfer, the
//! options and summary, progress events and cancellation, the bandwidth cap, the resume journals, the multipart
//! and ranged request layers, the four flows (file and stream, up and down), and the
//! server-side copy.
//! Above `s3`, `integrity` and `settings`; below the `Client` façade, which nothing here
//! imports.

pub(crate) mod bandwidth;
pub(crate) mod copy_object;
pub(crate) mod download_file;
pub(crate) mod download_stream;
pub(crate) mod journal;
pub(crate) mod multipart;
pub(crate) mod options;
pub(crate) mod part_body;
pub(crate) mod part_layout;
pub(crate) mod progress;
pub(crate) mod ranged;
pub(crate) mod resume;
pub(crate) mod session;
pub(crate) mod summary;
pub(crate) mod upload_file;
pub(crate) mod upload_stream;

pub use journal::{ResumableUpload, STATE_MAX_AGE, default_state_dir, resumable_uploads};
pub use options::{TransferOptions, VerifyMode};
pub use progress::{CancelToken, Event};
pub use summary::{FailedEntry, SkippedEntry, TransferSummary, TreeAction, TreeSummary};
