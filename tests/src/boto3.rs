//! Objects written and read as AWS's SDKs write and read them: boto3 (pinned, with awscrt for
//! CRC-64/NVME, installed from PyPI on first use) running `boto3_objects.py`, pointed at the
//! test server or at a fault proxy in front of it.

use std::path::Path;
use std::process::Command;

use crate::fixture::{TestBucket, run};
use crate::tools;

/// The script, run with `python3 -S -c`.
const SCRIPT: &str = include_str!("boto3_objects.py");

/// boto3 against one bucket, through `endpoint`.
#[derive(Debug)]
pub struct Boto3<'a> {
    bucket: &'a TestBucket,
    endpoint: String,
}

impl<'a> Boto3<'a> {
    /// boto3 against `bucket` on its server.
    pub fn new(bucket: &'a TestBucket) -> Self {
        Self::through(bucket, bucket.server().endpoint())
    }

    /// boto3 against `bucket` through `endpoint` (a fault proxy in front of its server).
    pub fn through(bucket: &'a TestBucket, endpoint: &str) -> Self {
        Self {
            bucket,
            endpoint: endpoint.to_owned(),
        }
    }

    /// One PutObject of `file` with `algorithm`'s checksum (`CRC32`, `CRC32C`, `CRC64NVME`,
    /// `SHA256`, or `NONE`).
    pub fn put(&self, key: &str, file: &Path, algorithm: &str) {
        self.ok(&["put", key, path(file), algorithm]);
    }

    /// A multipart upload of `file` in parts of `part_sizes` bytes (the last size repeated for
    /// the rest), each with `algorithm`'s checksum, stored as `kind` (`FULL_OBJECT` or
    /// `COMPOSITE`).
    pub fn multipart(
        &self,
        key: &str,
        file: &Path,
        algorithm: &str,
        kind: &str,
        part_sizes: &[u64],
    ) {
        let sizes: Vec<String> = part_sizes.iter().map(u64::to_string).collect();
        self.ok(&[
            "multipart",
            key,
            path(file),
            algorithm,
            kind,
            &sizes.join(","),
        ]);
    }

    /// GetObject with checksum mode on, the body read to its end: the JSON line the script
    /// prints (`checked_by_botocore`, `checksums`, `checksum_type`, `bytes`, `sha256`), or
    /// what it printed on standard error when it failed (botocore's checksum error, say).
    pub fn get(&self, key: &str) -> Result<String, String> {
        let (output, stdout, stderr) = run(&mut self.command(&["get", key]));
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(stderr)
        }
    }

    fn ok(&self, args: &[&str]) {
        let (output, _, stderr) = run(&mut self.command(args));
        assert!(output.status.success(), "boto3 {args:?}: {stderr}");
    }

    fn command(&self, args: &[&str]) -> Command {
        let install = tools::boto3_dir().expect("install boto3");
        let server = self.bucket.server();
        let mut command = Command::new(tools::python().expect("python3"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PYTHONPATH", install)
            .env("S3MT_ENDPOINT", &self.endpoint)
            .env("S3MT_BUCKET", self.bucket.name())
            .env("AWS_ACCESS_KEY_ID", server.access_key())
            .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
            .env("AWS_REGION", server.region())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["-S", "-c", SCRIPT])
            .args(args);
        if crate::tls::enabled() {
            command.env("AWS_CA_BUNDLE", crate::tls::shared().ca_path());
        }
        command
    }
}

fn path(file: &Path) -> &str {
    file.to_str().expect("a UTF-8 test path")
}
