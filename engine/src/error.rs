//! The engine's one error type: a kind for callers to match on, a message with context, a source.

use std::fmt;

/// What went wrong, coarsely: enough to pick an exit code or decide to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting or argument is invalid (part size, concurrency, URL, key ...).
    InvalidInput,
    /// A local file or directory could not be read, created or written.
    LocalIo,
    /// The local disk has no room for the download.
    DiskFull,
    /// The bucket or key does not exist (404).
    NotFound,
    /// The server refused the credentials or the request's signature (403).
    AccessDenied,
    /// The object changed while it was being downloaded (412 on `If-Match`).
    PreconditionFailed,
    /// The object exists and the upload was asked not to replace it (412 on `If-None-Match`).
    AlreadyExists,
    /// No credentials were found, or they could not be fetched (from an instance-metadata or
    /// container endpoint) or used as configured.
    Credentials,
    /// The local source file changed while it was being uploaded.
    SourceChanged,
    /// The server answered with an error status this client does not retry.
    Service,
    /// The server is overloaded or failing (5xx, SlowDown); retryable.
    ServerBusy,
    /// The connection failed, was reset, or stalled past a timeout; retryable.
    Network,
    /// The TLS handshake failed: a certificate not trusted, not for the host's name, expired,
    /// or a server that does not speak TLS. Not retried: only a change of settings helps.
    Tls,
    /// The server's reply did not match what was asked for (wrong range, bad XML); retryable.
    Protocol,
    /// The data did not match its checksum, or (when verification is required) the object
    /// carries no integrity data to check it against.
    Integrity,
    /// The transfer was cancelled by the caller.
    Cancelled,
}

impl ErrorKind {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::ServerBusy | Self::Network | Self::Protocol)
    }

    /// Whether a later run of the same transfer may get past the failure: then a resumable
    /// transfer keeps its multipart upload or partial download for that run.
    pub fn is_resumable(self) -> bool {
        self.is_retryable() || self == Self::Cancelled
    }

    /// A stable name for machine-readable output: `invalid_input`, `not_found`, `network` ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::LocalIo => "local_io",
            Self::DiskFull => "disk_full",
            Self::NotFound => "not_found",
            Self::AccessDenied => "access_denied",
            Self::PreconditionFailed => "precondition_failed",
            Self::AlreadyExists => "already_exists",
            Self::Credentials => "credentials",
            Self::SourceChanged => "source_changed",
            Self::Service => "service",
            Self::ServerBusy => "server_busy",
            Self::Network => "network",
            Self::Tls => "tls",
            Self::Protocol => "protocol",
            Self::Integrity => "integrity",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code and message of an S3 error reply (`<Error><Code>..</Code>..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// HTTP status of the reply.
    pub status: u16,
    /// S3 error code such as `NoSuchKey` or `SlowDown`, when the body carried one.
    pub code: Option<String>,
    /// The server's human-readable message, when it sent one.
    pub message: Option<String>,
}

/// The most characters of a server's error code or message shown in an error.
const MAX_SHOWN: usize = 300;

impl fmt::Display for ServiceError {
    /// `HTTP 503 SlowDown: message`. The code and message are the server's words: shown at
    /// most 300 characters each, control characters escaped, so that a hostile
    /// reply can neither flood the output nor write terminal escapes into it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {}", Shown(code))?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {}", Shown(message))?;
        }
        Ok(())
    }
}

/// A server's text as an error shows it: control characters escaped, cut after [`MAX_SHOWN`]
/// characters with a count of the rest.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars().take(MAX_SHOWN) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        let rest = self.0.chars().skip(MAX_SHOWN).count();
        if rest > 0 {
            write!(f, "... ({rest} more characters)")?;
        }
        Ok(())
    }
}

/// An engine error: a [`ErrorKind`], a message naming what was being done, and the cause.
///
/// As usual for Rust errors, `Display` shows the message alone and [`std::error::Error::source`]
/// the cause (for local I/O errors, the operating system's reason): print the whole chain, e.g.
/// with `anyhow`'s `{:#}`. Messages never contain credentials or presigned URLs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Boxed: errors travel in every `Result`, and most have no reply behind them.
    service: Option<Box<ServiceError>>,
    /// The bucket's region, when a server refused a request signed for another and named it.
    bucket_region: Option<Box<str>>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            service: None,
            bucket_region: None,
            source: None,
        }
    }

    /// An invalid argument or setting.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A local I/O failure on `path`, classified (a full disk has its own kind).
    pub(crate) fn local_io(what: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorKind::DiskFull,
            _ => ErrorKind::LocalIo,
        };
        // The OS's reason is the source, shown after the message by error reporters.
        Self::new(kind, what.to_string()).with_source(err)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_bucket_region(mut self, region: String) -> Self {
        self.bucket_region = Some(region.into_boxed_str());
        self
    }

    /// The region a server named as its bucket's, refusing a request signed for another.
    pub(crate) fn bucket_region(&self) -> Option<&str> {
        self.bucket_region.as_deref()
    }

    pub(crate) fn with_service(mut self, service: ServiceError) -> Self {
        self.service = Some(Box::new(service));
        self
    }

    /// Prefixes the message with what was being done, e.g. `upload part 3 of s3://b/k`.
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Appends what became of the transfer, e.g. `(the multipart upload was aborted)`.
    pub(crate) fn note(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{} ({what})", self.message);
        self
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The S3 error reply behind this error, if the server sent one.
    pub fn service_error(&self) -> Option<&ServiceError> {
        self.service.as_deref()
    }

    /// Whether the server's error reply has this S3 error code (e.g. `NoSuchUpload`).
    pub(crate) fn has_code(&self, code: &str) -> bool {
        self.service
            .as_ref()
            .and_then(|service| service.code.as_deref())
            == Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumable_failures_are_the_retryable_ones_and_cancellation() {
        assert!(ErrorKind::Cancelled.is_resumable() && ErrorKind::Network.is_resumable());
        assert!(ErrorKind::ServerBusy.is_resumable() && ErrorKind::Protocol.is_resumable());
        assert!(
            !ErrorKind::SourceChanged.is_resumable() && !ErrorKind::AccessDenied.is_resumable()
        );
        assert!(!ErrorKind::Cancelled.is_retryable());
        assert!(!ErrorKind::Tls.is_retryable() && !ErrorKind::Tls.is_resumable());
    }

    #[test]
    fn a_servers_words_are_shown_short_and_without_control_characters() {
        let service = ServiceError {
            status: 500,
            code: Some("Bad\x1b[2J".into()),
            message: Some(format!("line\r\n{}", "x".repeat(10 * 1024 * 1024))),
        };
        let shown = service.to_string();
        assert!(shown.len() < 400, "{} bytes", shown.len());
        assert!(
            shown.starts_with("HTTP 500 Bad\\u{1b}[2J: line\\r\\nxxx"),
            "{shown}"
        );
        assert!(
            shown.ends_with("x... (10485466 more characters)"),
            "{shown}"
        );
        assert!(!shown.chars().any(char::is_control), "{shown}");
        let plain = ServiceError {
            status: 404,
            code: Some("NoSuchKey".into()),
            message: Some("The specified key does not exist.".into()),
        };
        assert_eq!(
            plain.to_string(),
            "HTTP 404 NoSuchKey: The specified key does not exist."
        );
    }

    #[test]
    fn kinds_have_snake_case_names() {
        assert_eq!(
            ErrorKind::PreconditionFailed.as_str(),
            "precondition_failed"
        );
        assert_eq!(ErrorKind::Network.to_string(), "network");
    }
}
