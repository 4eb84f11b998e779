//! Objects written and read as AWS's SDKs write and read them: boto3 (pinned, with awscrt for
//! CRC-64/NVME, installed from PyPI on first use) running `boto3_objects.py`, pointed at the
//! test server, a fault proxy in front of it, or any endpoint (the benchmark's).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::{TestBucket, run};
use crate::tools;

/// The script, run with `python3 -S -c`.
const SCRIPT: &str = include_str!("boto3_objects.py");

/// boto3 against one bucket at one endpoint.
#[derive(Debug, Clone)]
pub struct Boto3 {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    region: String,
    ca_bundle: Option<PathBuf>,
}

/// What a failed boto3 run printed on standard error (botocore's checksum error, say).
pub type Failed = String;

impl Boto3 {
    /// boto3 against `bucket` on its server.
    pub fn new(bucket: &TestBucket) -> Self {
        Self::through(bucket, bucket.server().endpoint())
    }

    /// boto3 against `bucket` through `endpoint` (a fault proxy in front of its server).
    pub fn through(bucket: &TestBucket, endpoint: &str) -> Self {
        let server = bucket.server();
        Self {
            endpoint: endpoint.to_owned(),
            bucket: bucket.name().to_owned(),
            access_key: server.access_key().to_owned(),
            secret_key: server.secret_key().to_owned(),
            region: server.region().to_owned(),
            ca_bundle: crate::tls::enabled().then(|| crate::tls::shared().ca_path().to_owned()),
        }
    }

    /// boto3 against `bucket` at `endpoint` with these credentials (and CA bundle, for an
    /// https endpoint of a private CA).
    pub fn at(
        endpoint: &str,
        bucket: &str,
        (access_key, secret_key): (&str, &str),
        region: &str,
        ca_bundle: Option<&Path>,
    ) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            bucket: bucket.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            ca_bundle: ca_bundle.map(Path::to_path_buf),
        }
    }

    /// One PutObject of `file` with `algorithm`'s checksum (`CRC32`, `CRC32C`, `CRC64NVME`,
    /// `SHA256`, or `NONE`).
    pub fn put(&self, key: &str, file: &Path, algorithm: &str) -> Result<(), Failed> {
        self.ok(&["put", key, path(file), algorithm])
    }

    /// A multipart upload of `file` in parts of `part_sizes` bytes (the last size repeated for
    /// the rest), each with `algorithm`'s checksum (or `NONE`), stored as `kind`
    /// (`FULL_OBJECT` or `COMPOSITE`).
    pub fn multipart(
        &self,
        key: &str,
        file: &Path,
        algorithm: &str,
        kind: &str,
        part_sizes: &[u64],
    ) -> Result<(), Failed> {
        let sizes: Vec<String> = part_sizes.iter().map(u64::to_string).collect();
        self.ok(&[
            "multipart",
            key,
            path(file),
            algorithm,
            kind,
            &sizes.join(","),
        ])
    }

    /// GetObject with checksum mode on, the body read to its end: the JSON line the script
    /// prints (`checked_by_botocore`, `checksums`, `checksum_type`, `bytes`, `sha256`).
    pub fn get(&self, key: &str) -> Result<String, Failed> {
        let (output, stdout, stderr) = run(&mut self.command(&["get", key])?);
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(stderr)
        }
    }

    fn ok(&self, args: &[&str]) -> Result<(), Failed> {
        let (output, _, stderr) = run(&mut self.command(args)?);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("boto3 {args:?}: {stderr}"))
        }
    }

    fn command(&self, args: &[&str]) -> Result<Command, Failed> {
        let install = tools::boto3_dir().map_err(|err| format!("install boto3: {err}"))?;
        let python = tools::python().map_err(|err| err.to_string())?;
        let mut command = Command::new(python);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PYTHONPATH", install)
            .env("S3MT_ENDPOINT", &self.endpoint)
            .env("S3MT_BUCKET", &self.bucket)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", &self.region)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["-S", "-c", SCRIPT])
            .args(args);
        if let Some(ca) = &self.ca_bundle {
            command.env("AWS_CA_BUNDLE", ca);
        }
        Ok(command)
    }
}

fn path(file: &Path) -> &str {
    file.to_str().expect("a UTF-8 path")
}
