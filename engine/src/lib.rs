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

mod checksum;
mod client;
mod config;
mod credentials;
mod download;
mod environment;
mod error;
mod http;
mod journal;
mod location;
mod mapped;
mod metadata;
mod object_options;
pub mod plan;
mod profile_file;
mod progress;
mod retry;
mod sign;
mod stream_download;
mod stream_upload;
mod upload;
mod xml;

pub use checksum::{ChecksumAlgorithm, Verification};
pub use client::{
    Client, MAX_PRESIGN_EXPIRY, PresignMethod, TransferOptions, TransferSummary, VerifyMode,
};
pub use config::{
    Addressing, Config, ConfigBuilder, DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_REGION, MAX_CONCURRENCY,
};
pub use credentials::{CredentialSource, Credentials, DEFAULT_REFRESH_MARGIN, ProvideCredentials};
pub use environment::{Overrides, parse_addressing};
pub use error::{Error, ErrorKind, Result, ServiceError};
pub use journal::{ResumableUpload, STATE_MAX_AGE, default_state_dir, resumable_uploads};
pub use location::S3Uri;
pub use object_options::{
    DEFAULT_CONTENT_TYPE, ObjectOptions, STORAGE_CLASSES, ServerSideEncryption, guess_content_type,
};
pub use progress::{CancelToken, Event};
pub use xml::{MultipartUpload, ObjectInfo};
