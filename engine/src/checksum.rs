//! Integrity data: per-part SHA-256 digests, their composite, the user-metadata record s3mt
//! stores at upload, and what a download can be verified against. Pure.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

/// The user-metadata header holding s3mt's integrity record.
pub(crate) const METADATA_HEADER: &str = "x-amz-meta-s3mt-sha256";

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// The composite digest of a list of part digests: SHA-256 of their concatenation, as S3's
/// `COMPOSITE` checksums are built.
pub(crate) fn composite(parts: &[Digest]) -> Digest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Base64, as `x-amz-checksum-*` headers carry digests.
pub(crate) fn to_base64(digest: &Digest) -> String {
    BASE64.encode(digest)
}

/// The integrity record s3mt stores in an object's user metadata: the part size, the part count
/// and the composite SHA-256 of the parts, so any server can be checked without its help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub part_size: u64,
    pub parts: u64,
    pub composite: Digest,
}

impl Record {
    /// The metadata value: `v1 part-size=N parts=M sha256=BASE64`.
    pub fn to_metadata(&self) -> String {
        format!(
            "v1 part-size={} parts={} sha256={}",
            self.part_size,
            self.parts,
            to_base64(&self.composite)
        )
    }

    /// Reads a metadata value written by [`Record::to_metadata`].
    pub fn from_metadata(value: &str) -> Option<Self> {
        let mut fields = value.split_whitespace();
        (fields.next()? == "v1").then_some(())?;
        let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
        let part_size: u64 = field("part-size")?.parse().ok()?;
        let parts: u64 = field("parts")?.parse().ok()?;
        let composite = BASE64.decode(field("sha256")?).ok()?.try_into().ok()?;
        (part_size > 0).then_some(Self {
            part_size,
            parts,
            composite,
        })
    }

    /// Whether an object of `size` bytes has exactly this record's number of parts.
    pub fn fits(&self, size: u64) -> bool {
        size.div_ceil(self.part_size) == self.parts
    }
}

/// What a download can be checked against, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// s3mt's record: per-part digests hashed as ranges land, then their composite.
    Record(Record),
    /// The server's full-object SHA-256 (`x-amz-checksum-sha256` without a `-N` suffix).
    ObjectSha256(Digest),
    /// A single-part object's ETag, which is the MD5 of its bytes.
    Md5([u8; 16]),
    /// Nothing to check against.
    Nothing,
}

impl Expected {
    /// Picks the best integrity data among an object's HEAD headers. A record that disagrees
    /// with the reported size means the reply is wrong (retryable), not that the data is.
    pub fn from_headers(
        size: u64,
        record: Option<&str>,
        checksum_sha256: Option<&str>,
        etag: Option<&str>,
        kms_encrypted: bool,
    ) -> Result<Self> {
        if let Some(record) = record.and_then(Record::from_metadata) {
            if !record.fits(size) {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the server reports {size} bytes, but the object's s3mt record says \
                         {} parts of {} bytes",
                        record.parts, record.part_size
                    ),
                ));
            }
            return Ok(Self::Record(record));
        }
        let full_object = checksum_sha256
            .filter(|value| !value.contains('-'))
            .and_then(|value| BASE64.decode(value.trim()).ok()?.try_into().ok());
        if let Some(digest) = full_object {
            return Ok(Self::ObjectSha256(digest));
        }
        // Multipart ETags end in `-N`; SSE-KMS ETags are not MD5s of the content.
        let md5 = etag
            .map(|etag| etag.trim().trim_matches('"'))
            .filter(|etag| etag.len() == 32 && !kms_encrypted)
            .and_then(|etag| hex::decode(etag).ok()?.try_into().ok());
        Ok(md5.map_or(Self::Nothing, Self::Md5))
    }
}

/// How a transfer's bytes were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Upload: every part was sent with its SHA-256 for the server to check, and s3mt's record
    /// (part size and composite SHA-256) was stored in the object's metadata.
    SentWithSha256,
    /// Download: every part's SHA-256 matched the record s3mt stored at upload.
    S3mtRecord,
    /// Download: the whole object matched the server's SHA-256 checksum.
    ServerSha256,
    /// Download: the whole object matched its single-part ETag (an MD5).
    EtagMd5,
    /// Download: the object carries no integrity data s3mt can use.
    Unverified,
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SentWithSha256 => "SHA-256 per part, checked by the server on arrival",
            Self::S3mtRecord => "verified: SHA-256 per part, against s3mt's upload record",
            Self::ServerSha256 => "verified: SHA-256 of the whole object, from the server",
            Self::EtagMd5 => "verified: MD5 of the whole object, from its ETag",
            Self::Unverified => "NOT verified: the object carries no integrity data",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_base64_match_known_values() {
        let digest = sha256(b"abc");
        assert_eq!(
            hex::encode(digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            to_base64(&digest),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn composite_is_the_digest_of_the_concatenated_part_digests() {
        let parts = [sha256(b"part one"), sha256(b"part two")];
        let mut joined = Vec::new();
        joined.extend_from_slice(&parts[0]);
        joined.extend_from_slice(&parts[1]);
        assert_eq!(composite(&parts), sha256(&joined));
        assert_ne!(
            composite(&parts),
            composite(&[parts[1], parts[0]]),
            "order matters"
        );
    }

    #[test]
    fn record_round_trips_through_metadata_and_checks_the_size() {
        let record = Record {
            part_size: 5 << 20,
            parts: 3,
            composite: sha256(b"x"),
        };
        let value = record.to_metadata();
        assert!(
            value.starts_with("v1 part-size=5242880 parts=3 sha256="),
            "{value}"
        );
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        assert!(record.fits((10 << 20) + 1));
        assert!(!record.fits(10 << 20), "2 parts, not 3");
        for bad in [
            "",
            "v2 part-size=1 parts=1 sha256=AA==",
            "v1 parts=3",
            "v1 part-size=0 parts=0 sha256=AA==",
        ] {
            assert_eq!(Record::from_metadata(bad), None, "{bad}");
        }
    }

    #[test]
    fn expected_prefers_the_record_then_server_sha256_then_md5_etag() {
        let record = Record {
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
        }
        .to_metadata();
        let sha = to_base64(&sha256(b"whole"));
        let etag = "\"900150983cd24fb0d6963f7d28e17f72\"";
        let expected = |size, record, sha, etag, kms| {
            Expected::from_headers(size, record, sha, etag, kms).unwrap()
        };
        assert!(matches!(
            expected(8, Some(&record), Some(&sha), Some(etag), false),
            Expected::Record(_)
        ));
        assert_eq!(
            expected(8, None, Some(&sha), Some(etag), false),
            Expected::ObjectSha256(sha256(b"whole"))
        );
        let md5 = expected(8, None, Some("abc-2"), Some(etag), false);
        assert!(
            matches!(md5, Expected::Md5(bytes) if hex::encode(bytes) == "900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            expected(8, None, None, Some("\"abc-3\""), false),
            Expected::Nothing
        );
        assert_eq!(expected(8, None, None, Some(etag), true), Expected::Nothing);
    }

    #[test]
    fn a_size_that_disagrees_with_the_record_is_a_bad_reply() {
        let record = Record {
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
        }
        .to_metadata();
        let err = Expected::from_headers(0, Some(&record), None, None, false).unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
