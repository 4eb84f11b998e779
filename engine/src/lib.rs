//! The s3mt engine: fast, synchronous multipart transfers between files and S3.
//!
//! Files are memory-mapped and cut into parts; a dedicated thread pool sends each part to a URL
//! presigned by rusty-s3 with a blocking HTTP call, and downloads land straight in a memory map
//! of a preallocated temporary file that replaces the destination only when complete.
//!
//! ```no_run
//! use s3mt_engine::{Client, Config, Credentials, S3Uri};
//!
//! # fn main() -> Result<(), s3mt_engine::Error> {
//! let config = Config::builder(Credentials::new("ACCESS_KEY", "SECRET_KEY"))
//!     .endpoint("http://127.0.0.1:8333")
//!     .concurrency(16)
//!     .build()?;
//! let client = Client::new(config)?;
//! let object: S3Uri = "s3://my-bucket/backups/data.bin".parse()?;
//! let summary = client.upload_file("data.bin".as_ref(), &object)?;
//! println!("{} bytes in {:?}", summary.bytes, summary.elapsed);
//! client.download_file(&object, "copy.bin".as_ref())?;
//! # Ok(())
//! # }
//! ```
//!
//! # Memory
//! Resident memory does not grow with the file: each worker drops the pages it has sent or
//! written from the process every MiB, so the mapped pages resident at once stay under about
//! `concurrency` MiB (twice that when a download's file system maps 2 MiB pages at a time),
//! plus the connection buffers.
//!
//! # Limits
//! A source file truncated by another process during an upload makes reading the map raise
//! SIGBUS; size and modification time are checked before the upload completes.
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod client;
mod clock;
mod error;
mod integrity;
mod mapped;
pub mod plan;
#[cfg(test)]
mod properties;
mod s3;
mod settings;
mod sigv4;
pub mod size;
mod transfer;
mod tree;

pub use client::Client;
pub use error::{Error, ErrorKind, Result, ServiceError};
pub use integrity::{ChecksumAlgorithm, ChecksumType, Verification};
pub use s3::{
    DEFAULT_CONTENT_TYPE, MAX_PRESIGN_EXPIRY, MetadataDirective, MultipartUpload, ObjectInfo,
    ObjectOptions, PresignMethod, S3Uri, STORAGE_CLASSES, ServerSideEncryption, guess_content_type,
};
pub use settings::{
    Addressing, Config, ConfigBuilder, CredentialSource, Credentials, DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD, DEFAULT_REFRESH_MARGIN, DEFAULT_REGION, MAX_CONCURRENCY,
    Overrides, ProvideCredentials, parse_addressing,
};
pub use transfer::{
    CancelToken, Event, FailedEntry, ResumableUpload, STATE_MAX_AGE, SkippedEntry, TransferOptions,
    TransferSummary, TreeAction, TreeSummary, VerifyMode, default_state_dir, resumable_uploads,
};
pub use tree::{Compare, Filters, Rule, Shard, TreeOptions};
