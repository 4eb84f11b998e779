//! The parts of a server that depend on its kind: the installed program, the ports, the
//! files it needs, its command line, readiness, and leftovers to clean. Dispatches to
//! `seaweedfs`, `rclone` and `moto`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ServerKind, moto, probe, rclone, seaweedfs};
use crate::tools;

/// A server kind with its program installed and (once [`Backend::pick_ports`] ran) its ports.
#[derive(Debug, Clone)]
pub(super) enum Backend {
    SeaweedFs {
        weed: PathBuf,
        ports: seaweedfs::Ports,
        /// Serving S3 over HTTPS, with the test CA's certificate.
        tls: bool,
    },
    Rclone {
        rclone: PathBuf,
        port: u16,
    },
    Moto {
        python: PathBuf,
        install_dir: PathBuf,
        port: u16,
    },
}

impl Backend {
    /// Installs the program of `kind` if needed (SeaweedFS serving HTTPS when `tls`); the
    /// ports are not picked yet.
    pub fn install(kind: ServerKind, tls: bool) -> io::Result<Backend> {
        if tls && kind != ServerKind::SeaweedFs {
            return Err(io::Error::other(format!(
                "only SeaweedFS is started over HTTPS here, not {kind}"
            )));
        }
        Ok(match kind {
            ServerKind::SeaweedFs => Backend::SeaweedFs {
                weed: tools::weed_binary()?,
                ports: seaweedfs::Ports::default(),
                tls,
            },
            ServerKind::Rclone => Backend::Rclone {
                rclone: tools::rclone_binary()?,
                port: 0,
            },
            ServerKind::Moto => Backend::Moto {
                python: tools::python()?.to_path_buf(),
                install_dir: tools::moto_dir()?,
                port: 0,
            },
        })
    }

    /// Whether S3 is served over HTTPS.
    pub fn tls(&self) -> bool {
        matches!(self, Backend::SeaweedFs { tls: true, .. })
    }

    pub fn kind(&self) -> ServerKind {
        match self {
            Backend::SeaweedFs { .. } => ServerKind::SeaweedFs,
            Backend::Rclone { .. } => ServerKind::Rclone,
            Backend::Moto { .. } => ServerKind::Moto,
        }
    }

    /// The installed program: the `weed` or `rclone` binary, or moto's install dir.
    pub fn program(&self) -> &Path {
        match self {
            Backend::SeaweedFs { weed, .. } => weed,
            Backend::Rclone { rclone, .. } => rclone,
            Backend::Moto { install_dir, .. } => install_dir,
        }
    }

    /// Picks fresh free ports.
    pub fn pick_ports(&mut self) -> io::Result<()> {
        match self {
            Backend::SeaweedFs { ports, .. } => *ports = seaweedfs::Ports::pick()?,
            Backend::Rclone { port, .. } | Backend::Moto { port, .. } => {
                *port = probe::free_ports(1)?[0];
            }
        }
        Ok(())
    }

    /// The port S3 is served on.
    pub fn s3_port(&self) -> u16 {
        match self {
            Backend::SeaweedFs { ports, .. } => ports.s3,
            Backend::Rclone { port, .. } | Backend::Moto { port, .. } => *port,
        }
    }

    /// SeaweedFS's master port; the other kinds have no master.
    pub fn master_port(&self) -> Option<u16> {
        match self {
            Backend::SeaweedFs { ports, .. } => Some(ports.master),
            _ => None,
        }
    }

    /// Socket files the server leaves outside its data dir.
    pub fn sockets(&self) -> Vec<PathBuf> {
        match self {
            Backend::SeaweedFs { ports, .. } => ports.sockets(),
            _ => Vec::new(),
        }
    }

    /// The file name of the server's log in its data dir.
    pub fn log_name(&self) -> &'static str {
        match self {
            Backend::SeaweedFs { .. } => "weed.log",
            Backend::Rclone { .. } => "rclone.log",
            Backend::Moto { .. } => "moto.log",
        }
    }

    /// Writes what the server needs into its fresh, empty data dir.
    pub fn prepare(&self, data_dir: &Path, identities: &[(String, String)]) -> io::Result<()> {
        match self {
            Backend::SeaweedFs { .. } => seaweedfs::prepare(data_dir, identities),
            Backend::Rclone { .. } => rclone::prepare(data_dir),
            Backend::Moto { .. } => Ok(()),
        }
    }

    /// The command that runs the server itself (no shell in between), in `data_dir`.
    pub fn command(&self, data_dir: &Path, identities: &[(String, String)]) -> Command {
        let mut cmd = match self {
            Backend::SeaweedFs { weed, ports, tls } => {
                seaweedfs::command(weed, data_dir, ports, *tls)
            }
            Backend::Rclone { rclone, port } => {
                rclone::command(rclone, data_dir, *port, identities)
            }
            Backend::Moto {
                python,
                install_dir,
                port,
            } => moto::command(python, install_dir, data_dir, *port),
        };
        cmd.current_dir(data_dir);
        cmd
    }

    /// One readiness check: `Err` says what is still awaited.
    pub fn ready(&self) -> Result<(), String> {
        match self {
            Backend::SeaweedFs { ports, tls, .. } => seaweedfs::ready(ports, *tls),
            Backend::Rclone { port, .. } | Backend::Moto { port, .. } => probe::answers_http(*port),
        }
    }
}
