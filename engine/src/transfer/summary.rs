//! What a finished transfer did: of one object, or of a tree.

use std::fmt;
use std::time::Duration;

use crate::error::ErrorKind;
use crate::integrity::Verification;

/// What a finished transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferSummary {
    /// Object size in bytes.
    pub bytes: u64,
    /// Parts uploaded or ranges downloaded (1 for a single PutObject).
    pub parts: u64,
    /// Wall time of the whole transfer.
    pub elapsed: Duration,
    /// How the bytes were checked.
    pub verification: Verification,
}

impl TransferSummary {
    /// The average rate over the whole transfer, in bytes per second (0 for an instant one).
    pub fn bytes_per_second(&self) -> f64 {
        rate(self.bytes, self.elapsed)
    }
}

/// Bytes per second (0 for no time at all).
fn rate(bytes: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        bytes as f64 / seconds
    } else {
        0.0
    }
}

/// What a tree transfer does with one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeAction {
    /// A local file goes up to its object.
    Upload,
    /// An object comes down to its local file.
    Download,
    /// An object is copied to a key of another prefix, inside S3.
    Copy,
    /// What exists only at the destination is deleted (`sync --delete`).
    Delete,
}

impl fmt::Display for TreeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Upload => "upload",
            Self::Download => "download",
            Self::Copy => "copy",
            Self::Delete => "delete",
        })
    }
}

/// A path a tree transfer left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The path relative to the tree's root (a directory's ends in `/`).
    pub path: String,
    /// Why, e.g. `not a regular file`.
    pub reason: String,
}

/// A path a tree transfer failed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    /// The path relative to the tree's root.
    pub path: String,
    /// What was being done.
    pub action: TreeAction,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The error message (no secrets).
    pub message: String,
}

/// What a finished tree transfer did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TreeSummary {
    /// Files copied (in a dry run: that would be).
    pub copied: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Paths deleted (in a dry run: that would be).
    pub deleted: u64,
    /// Files found up to date, and not copied.
    pub unchanged: u64,
    /// Paths left out, with the reason.
    pub skipped: Vec<SkippedEntry>,
    /// Paths that failed, with the error; the others went on.
    pub failed: Vec<FailedEntry>,
    /// Wall time of the whole tree.
    pub elapsed: Duration,
    /// Nothing was changed: the counts say what would have been.
    pub dry_run: bool,
}

impl TreeSummary {
    /// The average rate of the bytes copied over the whole tree, in bytes per second.
    pub fn bytes_per_second(&self) -> f64 {
        rate(self.bytes, self.elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_bytes_over_the_elapsed_time() {
        let summary = |bytes, elapsed| TransferSummary {
            bytes,
            parts: 1,
            elapsed,
            verification: Verification::Unverified,
        };
        assert_eq!(
            summary(3_000_000, Duration::from_millis(1500)).bytes_per_second(),
            2e6
        );
        assert_eq!(summary(5, Duration::ZERO).bytes_per_second(), 0.0);
    }
}
