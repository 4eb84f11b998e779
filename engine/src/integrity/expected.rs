//! What a download is checked against, chosen from an object's HEAD reply (s3mt's record, a
//! whole-object checksum, a single-part MD5 ETag), the verdict, and how a transfer's bytes were
//! checked (`Verification`). Pure.

use std::fmt;

use super::algorithm::{ChecksumAlgorithm, Digest, from_base64};
use super::record::Record;
use crate::error::{Error, ErrorKind, Result};

/// What a download can be checked against, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// s3mt's record: per-part checksums computed as ranges land, then their composite.
    Record(Record),
    /// The server's full-object checksum (`x-amz-checksum-sha256` or `-crc64nvme` without a
    /// `-N` suffix).
    Object(ChecksumAlgorithm, Digest),
    /// A single-part object's ETag, which is the MD5 of its bytes.
    Md5([u8; 16]),
    /// Nothing to check against.
    Nothing,
}

impl Expected {
    /// Picks the best integrity data among an object's HEAD headers (`checksum` reads the
    /// `x-amz-checksum-*` header of an algorithm, `checksum_type` is `x-amz-checksum-type`). A
    /// record that disagrees with the reported size means the reply is wrong (retryable), not
    /// that the data is.
    pub fn from_headers<'a>(
        size: u64,
        record: Option<&str>,
        checksum: impl Fn(ChecksumAlgorithm) -> Option<&'a str>,
        checksum_type: Option<&str>,
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
        let etag = etag.map(|etag| etag.trim().trim_matches('"'));
        // Composite checksums (of multipart objects) end in `-N`, or say so in their type; some
        // servers (moto) drop the suffix and the type, and only a multipart ETag gives them
        // away. Only whole-object checksums can be used.
        let whole = match checksum_type {
            Some(kind) => kind.trim().eq_ignore_ascii_case("FULL_OBJECT"),
            None => !etag.is_some_and(is_multipart_etag),
        };
        let full_object = ChecksumAlgorithm::ALL
            .into_iter()
            .filter(|_| whole)
            .find_map(|algorithm| {
                let value = checksum(algorithm).filter(|value| !value.contains('-'))?;
                let bytes = from_base64(value)?;
                (bytes.len() == algorithm.len()).then(|| (algorithm, Digest::from_bytes(&bytes)))
            });
        if let Some((algorithm, digest)) = full_object {
            return Ok(Self::Object(algorithm, digest));
        }
        // Multipart ETags end in `-N`; SSE-KMS ETags are not MD5s of the content.
        let md5 = etag
            .filter(|etag| etag.len() == 32 && !kms_encrypted)
            .and_then(|etag| hex::decode(etag).ok()?.try_into().ok());
        Ok(md5.map_or(Self::Nothing, Self::Md5))
    }

    /// How the bytes were checked, or the integrity error when they did not match.
    pub fn verdict(&self, matches: bool) -> Result<Verification> {
        if !matches {
            return Err(Error::new(
                ErrorKind::Integrity,
                "the downloaded bytes do not match the object's checksum",
            ));
        }
        Ok(match self {
            Self::Record(record) => Verification::S3mtRecord(record.algorithm),
            Self::Object(algorithm, _) => Verification::ServerChecksum(*algorithm),
            Self::Md5(_) => Verification::EtagMd5,
            Self::Nothing => Verification::Unverified,
        })
    }
}

/// A multipart upload's ETag: `<hex>-<number of parts>`.
fn is_multipart_etag(etag: &str) -> bool {
    etag.rsplit_once('-')
        .is_some_and(|(_, parts)| !parts.is_empty() && parts.bytes().all(|b| b.is_ascii_digit()))
}

/// How a transfer's bytes were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Upload: every part was sent with its checksum for the server to check, and s3mt's
    /// record (part size and composite of the part checksums) was stored in the object's
    /// metadata (or, for a stream, its tag).
    SentWithChecksums(ChecksumAlgorithm),
    /// Upload of a stream: every part was sent with its checksum for the server to check, but
    /// the server refused the tag holding s3mt's record (or implements no object tagging), so
    /// later downloads cannot use it.
    SentWithoutRecord(ChecksumAlgorithm),
    /// Download: every part's checksum matched the record s3mt stored at upload.
    S3mtRecord(ChecksumAlgorithm),
    /// Download: the whole object matched the server's full-object checksum.
    ServerChecksum(ChecksumAlgorithm),
    /// Download: the whole object matched its single-part ETag (an MD5).
    EtagMd5,
    /// Download: the object carries no integrity data s3mt can use.
    Unverified,
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SentWithChecksums(algorithm) => {
                write!(f, "{algorithm} per part, checked by the server on arrival")
            }
            Self::SentWithoutRecord(algorithm) => write!(
                f,
                "{algorithm} per part, checked by the server on arrival; s3mt's record not \
                 stored (the server refused the object tag, or has no object tagging)"
            ),
            Self::S3mtRecord(algorithm) => {
                write!(
                    f,
                    "verified: {algorithm} per part, against s3mt's upload record"
                )
            }
            Self::ServerChecksum(algorithm) => {
                write!(
                    f,
                    "verified: {algorithm} of the whole object, from the server"
                )
            }
            Self::EtagMd5 => f.write_str("verified: MD5 of the whole object, from its ETag"),
            Self::Unverified => f.write_str("NOT verified: the object carries no integrity data"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::algorithm::{sha256, to_base64};

    #[test]
    fn expected_prefers_the_record_then_server_sha256_then_md5_etag() {
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
            doubling_every: None,
            modified: None,
        }
        .to_metadata();
        let sha = to_base64(&sha256(b"whole"));
        let crc = to_base64(&ChecksumAlgorithm::Crc64Nvme.digest(b"whole"));
        let etag = "\"900150983cd24fb0d6963f7d28e17f72\"";
        let expected = |size, record, sha: Option<&str>, etag, kms| {
            let checksum = |algorithm| match algorithm {
                ChecksumAlgorithm::Sha256 => sha,
                _ => Some(crc.as_str()).filter(|_| sha.is_none()),
            };
            Expected::from_headers(size, record, checksum, None, etag, kms).unwrap()
        };
        assert!(matches!(
            expected(8, Some(&record), Some(&sha), Some(etag), false),
            Expected::Record(_)
        ));
        assert_eq!(
            expected(8, None, Some(&sha), Some(etag), false),
            Expected::Object(ChecksumAlgorithm::Sha256, sha256(b"whole"))
        );
        assert_eq!(
            expected(8, None, None, Some(etag), false),
            Expected::Object(
                ChecksumAlgorithm::Crc64Nvme,
                ChecksumAlgorithm::Crc64Nvme.digest(b"whole")
            ),
            "a whole-object CRC-64/NVME when there is no SHA-256"
        );
        let md5 = expected(8, None, Some("abc-2"), Some(etag), false);
        assert!(
            matches!(md5, Expected::Md5(bytes) if hex::encode(bytes) == "900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            expected(8, None, Some("abc-3"), Some("\"abc-3\""), false),
            Expected::Nothing
        );
        assert_eq!(
            expected(8, None, Some("abc-3"), Some(etag), true),
            Expected::Nothing
        );
    }

    #[test]
    fn a_composite_checksum_is_never_taken_for_a_whole_object_one() {
        let sha = to_base64(&sha256(b"parts"));
        let with = |kind: Option<&str>, etag: &str| {
            let checksum =
                |algorithm| (algorithm == ChecksumAlgorithm::Sha256).then_some(sha.as_str());
            Expected::from_headers(8, None, checksum, kind, Some(etag), false).unwrap()
        };
        let whole = Expected::Object(ChecksumAlgorithm::Sha256, sha256(b"parts"));
        let single = "\"900150983cd24fb0d6963f7d28e17f72\"";
        assert_eq!(with(None, single), whole);
        assert_eq!(with(Some("FULL_OBJECT"), "\"abc-2\""), whole);
        // moto: a composite without its `-N` suffix or a type, beside a multipart ETag.
        assert_eq!(with(None, "\"abc-2\""), Expected::Nothing);
        assert!(matches!(with(Some("COMPOSITE"), single), Expected::Md5(_)));
        assert!(
            is_multipart_etag("abc-12") && !is_multipart_etag("abc-") && !is_multipart_etag("abc")
        );
    }

    #[test]
    fn a_size_that_disagrees_with_the_record_is_a_bad_reply() {
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
            doubling_every: None,
            modified: None,
        }
        .to_metadata();
        let err =
            Expected::from_headers(0, Some(&record), |_| None, None, None, false).unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
