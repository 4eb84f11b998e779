//! rclone's S3 server (`rclone serve s3`) over a local directory: every identity an
//! `--auth-key`, signatures enforced, the directories under `buckets/` the buckets.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory served: each directory in it is a bucket.
fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("buckets")
}

/// Creates the served root, the cache dir and an empty config file in the (empty) data dir.
pub(super) fn prepare(data_dir: &Path) -> io::Result<()> {
    fs::create_dir_all(root(data_dir))?;
    fs::create_dir_all(data_dir.join("cache"))?;
    fs::write(data_dir.join("rclone.conf"), "")
}

/// `rclone serve s3` on 127.0.0.1:`port`, with a clean environment (no `RCLONE_*` variable
/// of the developer's, no config file of theirs) and an `--auth-key` per identity.
pub(super) fn command(
    rclone: &Path,
    data_dir: &Path,
    port: u16,
    identities: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(rclone);
    cmd.env_clear()
        .env("HOME", data_dir)
        .env("TMPDIR", data_dir.join("cache"))
        // `--auth-key`, repeatable, as a CSV list of quoted pairs: kept out of the command
        // line, which any local user can read.
        .env("RCLONE_AUTH_KEY", auth_keys(identities))
        .arg("serve")
        .arg("s3")
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--config")
        .arg(data_dir.join("rclone.conf"))
        .arg("--cache-dir")
        .arg(data_dir.join("cache"))
        .arg(root(data_dir));
    cmd
}

/// `"AK1,SK1","AK2,SK2"`: the access and secret keys are letters and digits, so no quoting
/// inside a field is needed.
fn auth_keys(identities: &[(String, String)]) -> String {
    let pairs: Vec<String> = identities
        .iter()
        .map(|(access_key, secret_key)| format!("\"{access_key},{secret_key}\""))
        .collect();
    pairs.join(",")
}
