//! Integrity: the checksum algorithms and their hashers, s3mt's record, what a download is
//! checked against, and the in-order check of bytes as they arrive. Pure: no I/O, no clock.
//! Knows nothing of requests or transfers.

pub(crate) mod algorithm;
pub(crate) mod expected;
pub(crate) mod in_order;
pub(crate) mod parts;
pub(crate) mod record;

pub use algorithm::{ChecksumAlgorithm, ChecksumType};
pub use expected::Verification;
