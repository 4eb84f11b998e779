//! What a finished transfer did.

use std::time::Duration;

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
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.bytes as f64 / seconds
        } else {
            0.0
        }
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
