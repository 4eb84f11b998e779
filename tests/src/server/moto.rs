//! moto's server (`python -m moto.server`): an in-memory S3 that checks no signatures and
//! keeps nothing across a restart.

use std::path::Path;
use std::process::Command;

/// moto's server on 127.0.0.1:`port`, run by the `python` that installed it into
/// `install_dir`, with a clean environment (no `AWS_*` or `MOTO_*` variable of the
/// developer's).
pub(super) fn command(python: &Path, install_dir: &Path, data_dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(python);
    cmd.env_clear()
        .env("HOME", data_dir)
        .env("TMPDIR", data_dir)
        .env("PYTHONPATH", install_dir)
        .env("PYTHONNOUSERSITE", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
        .arg(port.to_string());
    cmd
}
