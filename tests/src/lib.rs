//! Test support for s3mt: a real SeaweedFS S3 server to run integration tests and `cargo xtask` against.

pub mod fixture;
pub mod metadata;
pub mod proxy;
pub mod server;
pub mod tools;
