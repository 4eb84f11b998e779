//! The one table from outcomes to exit codes (documented in the README).

use s3mt_engine::ErrorKind;

/// Exit codes, in the order the README lists them.
pub const SUCCESS: u8 = 0;
/// An error the table below does not name.
pub const UNEXPECTED: u8 = 1;
/// Bad arguments, settings or addresses.
pub const USAGE: u8 = 2;
/// A local file or directory problem, a full disk included.
pub const LOCAL_FILE: u8 = 3;
/// No such bucket or key.
pub const NOT_FOUND: u8 = 4;
/// Access denied (credentials, signature, permissions), or no usable credentials.
pub const ACCESS_DENIED: u8 = 5;
/// The object or the source file changed during the transfer.
pub const CHANGED: u8 = 6;
/// Network or server failure that outlasted the retries.
pub const TRANSIENT: u8 = 7;
/// The data did not match its checksum, or could not be verified under `--verify require`.
pub const INTEGRITY: u8 = 8;
/// The destination object exists and `--no-overwrite` was given.
pub const ALREADY_EXISTS: u8 = 9;
/// Some files of a tree failed (the others went on); the summary names each.
pub const SOME_FAILED: u8 = 10;
/// Some entries of a tree were skipped and named (not regular files, names or keys that cannot
/// be copied safely); nothing failed.
pub const SOME_SKIPPED: u8 = 11;
/// A TLS handshake failed: the server's certificate is not trusted, not for its name, or
/// expired, or the server does not speak TLS.
pub const TLS: u8 = 12;
/// Interrupted (Ctrl-C) or cancelled.
pub const INTERRUPTED: u8 = 130;
/// Standard output was closed by its reader (e.g. `| head`): what a process killed by SIGPIPE
/// reports. Printed as nothing.
pub const BROKEN_PIPE: u8 = 141;

/// The exit code for an engine error kind.
pub fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => USAGE,
        ErrorKind::LocalIo | ErrorKind::DiskFull => LOCAL_FILE,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::AccessDenied | ErrorKind::Credentials => ACCESS_DENIED,
        ErrorKind::PreconditionFailed | ErrorKind::SourceChanged => CHANGED,
        ErrorKind::ServerBusy | ErrorKind::Network | ErrorKind::Protocol | ErrorKind::Service => {
            TRANSIENT
        }
        ErrorKind::Integrity => INTEGRITY,
        ErrorKind::Tls => TLS,
        ErrorKind::AlreadyExists => ALREADY_EXISTS,
        ErrorKind::Cancelled => INTERRUPTED,
        _ => UNEXPECTED,
    }
}

/// The exit code for any error reaching `main`: a closed output pipe, else the first usage or
/// engine error in the chain.
pub fn for_error(err: &anyhow::Error) -> u8 {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return BROKEN_PIPE;
    }
    err.chain()
        .find_map(|cause| {
            if cause.is::<UsageError>() {
                Some(USAGE)
            } else if cause.is::<SourceKept>() {
                Some(INTEGRITY)
            } else if let Some(tree) = cause.downcast_ref::<TreeIncomplete>() {
                Some(if tree.failed > 0 {
                    SOME_FAILED
                } else {
                    SOME_SKIPPED
                })
            } else if cause.is::<std::io::Error>() {
                // A local file the command itself reads or removes (a --files-from list, a
                // moved file).
                Some(LOCAL_FILE)
            } else {
                cause
                    .downcast_ref::<s3mt_engine::Error>()
                    .map(|err| for_kind(err.kind()))
            }
        })
        .unwrap_or(UNEXPECTED)
}

/// A command line that cannot be carried out as given.
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    /// A usage error with a message saying what to change.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A tree transfer that ran to its end with paths failed or skipped (each already named).
#[derive(Debug)]
pub struct TreeIncomplete {
    pub failed: usize,
    pub skipped: usize,
}

impl std::fmt::Display for TreeIncomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.failed, self.skipped) {
            (0, skipped) => write!(f, "{skipped} path(s) skipped (named above)"),
            (failed, 0) => write!(f, "{failed} file(s) failed (named above)"),
            (failed, skipped) => {
                write!(
                    f,
                    "{failed} file(s) failed and {skipped} skipped (named above)"
                )
            }
        }
    }
}

impl std::error::Error for TreeIncomplete {}

/// A move whose copy finished but could not be verified: its source was kept.
#[derive(Debug)]
pub struct SourceKept;

impl std::fmt::Display for SourceKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the copy is complete but could not be verified (the source carries no checksum to \
             compare), so the source was kept: delete it yourself once you have checked the copy",
        )
    }
}

impl std::error::Error for SourceKept {}
