//! The `aws-crt` peer: the pinned awscrt and boto3 packages, and the command line of the
//! script (`aws_crt.py`) that copies with them.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::aws_cli::aws_cli_config;
use super::{Direction, Peer, Target, Tuning, aws_env, python_env, write};

/// Version of the `awscrt` PyPI package: the CRT S3 client behind the `aws-crt` peer,
/// installed with boto3 (which brings botocore and `s3transfer.crt.CRTTransferManager`); the
/// tests share the install.
pub const AWSCRT_VERSION: &str = s3mt_tests::tools::AWSCRT_VERSION;

/// The config file botocore reads in the CRT script (region, path style), in the scratch dir.
const AWS_CRT_CONFIG_FILE: &str = "aws-crt.config";
/// Where [`CRT_SCRIPT`] is written in the scratch dir.
pub(super) const CRT_SCRIPT_FILE: &str = "s3mt_crt_copy.py";

/// The script behind the `aws-crt` peer: copies one file with `s3transfer.crt.CRTTransferManager`
/// on an `awscrt.s3.S3Client`, as boto3 does with `TransferConfig(preferred_transfer_client="crt")`.
/// boto3 itself cannot be used for this: its CRT path builds the request serializer with
/// `endpoint_url=None` and the CRT client with TLS on, so it ignores a custom endpoint.
pub(super) const CRT_SCRIPT: &str = include_str!("aws_crt.py");

/// Sets `cmd` up to copy as [`super::Peer::command`] says: the script and botocore's config
/// file written to `scratch`, credentials in the AWS variables.
pub(super) fn setup(
    cmd: &mut Command,
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
    scratch: &Path,
) -> Result<()> {
    let config = scratch.join(AWS_CRT_CONFIG_FILE);
    write(&config, &aws_cli_config(&target.region, None))?;
    let script = scratch.join(CRT_SCRIPT_FILE);
    write(&script, CRT_SCRIPT)?;
    aws_env(cmd, target, scratch, Some(&config));
    python_env(cmd, &Peer::AwsCrt.install_dir());
    cmd.args(aws_crt_args(&script, direction, target, local, tuning));
    Ok(())
}

/// `python3 -S <script> upload|download --endpoint .. --bucket .. --key .. --file ..
/// [--part-size <bytes> --concurrency <n>]`. Without tuning the CRT keeps its own defaults:
/// 8 MiB parts (s3transfer's `create_s3_crt_client`) and as many connections as its
/// throughput target (10 Gbit/s when it cannot tell the NIC's) calls for.
fn aws_crt_args(
    script: &Path,
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-S".into(), script.as_os_str().to_owned()];
    args.push(
        match direction {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
        .into(),
    );
    for (flag, value) in [
        ("--endpoint", &target.endpoint),
        ("--bucket", &target.bucket),
        ("--key", &target.key),
    ] {
        args.extend([flag.into(), value.into()]);
    }
    args.extend(["--file".into(), local.as_os_str().to_owned()]);
    if let Some(ca) = &target.ca_bundle {
        args.extend(["--ca-bundle".into(), ca.as_os_str().to_owned()]);
    }
    if let Some(t) = tuning {
        args.extend([
            "--part-size".into(),
            t.part_size.to_string().into(),
            "--concurrency".into(),
            t.concurrency.to_string().into(),
        ]);
    }
    args
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::peers::tests::{TUNED, strings, target};

    #[test]
    fn aws_crt_flags() {
        let args = strings(&aws_crt_args(
            Path::new("/s/x.py"),
            Direction::Download,
            &target(),
            Path::new("/tmp/f"),
            Some(TUNED),
        ));
        assert_eq!(
            args,
            [
                "-S",
                "/s/x.py",
                "download",
                "--endpoint",
                "http://127.0.0.1:8333",
                "--bucket",
                "demo",
                "--key",
                "dir/big.bin",
                "--file",
                "/tmp/f",
                "--part-size",
                "16777216",
                "--concurrency",
                "12"
            ]
        );
    }
}
