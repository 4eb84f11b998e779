//! The `aws-cli` peer: the pinned AWS CLI v1 package, its config file and its `s3 cp` command
//! line.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Direction, Peer, Target, Tree, TreeOp, Tuning, aws_env, python_env, s3_url, write};

/// Version of the `awscli` PyPI package (AWS CLI v1, which vendors botocore and s3transfer).
pub const AWSCLI_VERSION: &str = "1.46.3";

/// The AWS CLI's config file (`AWS_CONFIG_FILE`), in the scratch dir.
pub(super) const AWS_CLI_CONFIG_FILE: &str = "aws-cli.config";

/// Sets `cmd` up to copy as [`super::Peer::command`] says: region, addressing and tuning in
/// the config file, credentials in the AWS variables.
pub(super) fn setup(
    cmd: &mut Command,
    direction: Direction,
    target: &Target,
    local: &Path,
    tuning: Option<Tuning>,
    scratch: &Path,
) -> Result<()> {
    let config = scratch.join(AWS_CLI_CONFIG_FILE);
    write(&config, &aws_cli_config(&target.region, tuning))?;
    aws_env(cmd, target, scratch, Some(&config));
    python_env(cmd, &Peer::AwsCli.install_dir());
    cmd.args(aws_cli_args(direction, target, local));
    Ok(())
}

/// Sets `cmd` up for a tree: `aws s3 cp --recursive|sync <src> <dst>`, with
/// `max_concurrent_requests` (default 10) in the config file when given.
pub(super) fn tree_setup(cmd: &mut Command, tree: &Tree<'_>, scratch: &Path) -> Result<()> {
    let config = scratch.join(AWS_CLI_CONFIG_FILE);
    let mut text = aws_cli_config(&tree.target.region, None);
    if let Some(concurrency) = tree.concurrency {
        text += &format!("    max_concurrent_requests = {concurrency}\n");
    }
    write(&config, &text)?;
    aws_env(cmd, tree.target, scratch, Some(&config));
    python_env(cmd, &Peer::AwsCli.install_dir());
    let command = match tree.op {
        TreeOp::Copy => "cp",
        TreeOp::Sync => "sync",
    };
    cmd.args([
        "-S",
        "-m",
        "awscli",
        "s3",
        command,
        "--endpoint-url",
        &tree.target.endpoint,
    ]);
    cmd.arg("--only-show-errors");
    if tree.op == TreeOp::Copy {
        cmd.arg("--recursive");
    }
    let url = OsString::from(s3_url(tree.target));
    match tree.direction {
        Direction::Upload => cmd.args([tree.local.as_os_str().to_owned(), url]),
        Direction::Download => cmd.args([url, tree.local.as_os_str().to_owned()]),
    };
    Ok(())
}

/// The AWS config file (`AWS_CONFIG_FILE`) for the AWS CLI: region, path-style addressing and,
/// when tuned, `max_concurrent_requests` (requests in flight over all files, so parts of the
/// one file here), `multipart_chunksize` and `multipart_threshold`, in bytes.
pub(super) fn aws_cli_config(region: &str, tuning: Option<Tuning>) -> String {
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::peers::tests::TUNED;

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
}
