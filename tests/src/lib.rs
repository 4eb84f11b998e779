//! Test support for s3mt: a real S3 server (SeaweedFS, rclone or moto) to run integration tests
//! and `cargo xtask` against.

pub mod boto3;
pub mod connect_proxy;
pub mod fixture;
mod loopback;
pub mod metadata;
pub mod proxy;
pub mod server;
pub mod sts;
pub mod tls;
pub mod tools;
