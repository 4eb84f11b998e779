//! What a download is checked against, chosen from an object's HEAD reply (s3mt's record, a
//! full-object checksum, a composite checksum, a single-part MD5 ETag), the verdict, and how a
//! transfer's bytes were checked (`Verification`). Pure.

use std::fmt;

use super::algorithm::{ChecksumAlgorithm, Digest, parse_checksum, record_composite};
use super::parts::PartSizes;
use super::record::Record;
use crate::error::{Error, ErrorKind, Result};

/// What a download can be checked against, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// s3mt's record: per-part checksums computed as ranges land, then their composite.
    Record(Record),
    /// The server's full-object checksum (`x-amz-checksum-type: FULL_OBJECT`, or a single-part
    /// object's): for the CRCs, combined from the checksums of ranges as they land.
    Object(ChecksumAlgorithm, Digest),
    /// The server's composite checksum of a multipart object (`...-N`): per-part checksums,
    /// then theirs.
    Composite(Composite),
    /// A single-part object's ETag, which is the MD5 of its bytes.
    Md5([u8; 16]),
    /// Nothing to check against.
    Nothing,
}

/// A composite checksum: `algorithm` over the checksums of the object's `parts` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Composite {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Digest,
    pub parts: u32,
    /// Where the parts end, once learnt from the server (`None` until then: a composite
    /// cannot be checked without it).
    pub sizes: Option<PartSizes>,
}

/// What [`Expected::from_headers`] chose, and why s3mt's record was not used when the object
/// has one that cannot be.
#[derive(Debug)]
pub(crate) struct Choice {
    pub expected: Expected,
    pub ignored_record: Option<String>,
}

impl Expected {
    /// Picks the best integrity data among an object's HEAD headers (`checksum` reads the
    /// `x-amz-checksum-*` header of an algorithm, `checksum_type` is `x-amz-checksum-type`).
    /// s3mt's record is input from whoever wrote the object: one that cannot describe an
    /// object of `size` bytes is ignored, and the choice says why.
    pub fn from_headers<'a>(
        size: u64,
        record: Option<&str>,
        checksum: impl Fn(ChecksumAlgorithm) -> Option<&'a str>,
        checksum_type: Option<&str>,
        etag: Option<&str>,
        kms_encrypted: bool,
    ) -> Choice {
        let mut ignored_record = None;
        if let Some(value) = record {
            match Record::from_metadata(value) {
                Some(record) => match record.implausible(size) {
                    None => {
                        return Choice {
                            expected: Self::Record(record),
                            ignored_record,
                        };
                    }
                    Some(why) => ignored_record = Some(why),
                },
                None => ignored_record = Some("it is not a record this s3mt can read".into()),
            }
        }
        let etag = etag.map(|etag| etag.trim().trim_matches('"'));
        let expected = ChecksumAlgorithm::ALL
            .into_iter()
            .find_map(|algorithm| {
                server_checksum(algorithm, checksum(algorithm)?, checksum_type, etag)
            })
            .or_else(|| {
                // Multipart ETags end in `-N`; SSE-KMS ETags are not MD5s of the content.
                etag.filter(|etag| etag.len() == 32 && !kms_encrypted)
                    .and_then(|etag| hex::decode(etag).ok()?.try_into().ok())
                    .map(Self::Md5)
            })
            .unwrap_or(Self::Nothing);
        Choice {
            expected,
            ignored_record,
        }
    }

    /// The algorithm and part layout of a check made part by part (s3mt's record, or a
    /// composite whose layout is known).
    pub fn per_part(&self) -> Option<(ChecksumAlgorithm, PartSizes)> {
        match self {
            Self::Record(record) => Some((record.algorithm, record.part_sizes())),
            Self::Composite(Composite {
                algorithm,
                sizes: Some(sizes),
                ..
            }) => Some((*algorithm, sizes.clone())),
            _ => None,
        }
    }

    /// Whether the checksums of every part, in order, match (a check made part by part).
    pub fn parts_match(&self, parts: &[Digest]) -> bool {
        match self {
            Self::Record(record) => {
                parts.len() as u64 == record.parts && record_composite(parts) == record.composite
            }
            Self::Composite(composite) => {
                parts.len() == composite.parts as usize
                    && composite.algorithm.composite(parts) == composite.digest
            }
            _ => false,
        }
    }

    /// How the bytes were checked, or the integrity error when they did not match.
    pub fn verdict(&self, matches: bool) -> Result<Verification> {
        if !matches {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "the downloaded bytes do not match the object's checksum ({})",
                    self.describe()
                ),
            ));
        }
        Ok(match self {
            Self::Record(record) => Verification::S3mtRecord(record.algorithm),
            Self::Object(algorithm, _) => Verification::ServerChecksum(*algorithm),
            Self::Composite(composite) => Verification::ServerComposite(composite.algorithm),
            Self::Md5(_) => Verification::EtagMd5,
            Self::Nothing => Verification::Unverified,
        })
    }

    /// What the bytes are checked against, in words.
    fn describe(&self) -> String {
        match self {
            Self::Record(record) => format!("{} per part, s3mt's record", record.algorithm),
            Self::Object(algorithm, _) => format!("{algorithm} of the whole object"),
            Self::Composite(composite) => format!(
                "{} of each of {} parts, composite",
                composite.algorithm, composite.parts
            ),
            Self::Md5(_) => "MD5 ETag".to_owned(),
            Self::Nothing => "none".to_owned(),
        }
    }
}

/// What one `x-amz-checksum-*` header `value` can be checked as: a full-object checksum
/// (typed so, or a single-part object's), or a composite (`...-N`, or typed so beside a
/// multipart ETag that gives the number of parts). Some servers (moto) drop both the suffix
/// and the type of a composite: beside a multipart ETag, an untyped, unsuffixed checksum could
/// be either, and is not used.
fn server_checksum(
    algorithm: ChecksumAlgorithm,
    value: &str,
    checksum_type: Option<&str>,
    etag: Option<&str>,
) -> Option<Expected> {
    let kind = checksum_type.map(|kind| kind.trim().to_ascii_uppercase());
    let etag_parts = etag.and_then(multipart_etag_parts);
    let (value, suffix_parts) = match value.trim().rsplit_once('-') {
        Some((digest, parts)) => (digest, Some(parts.parse::<u32>().ok()?)),
        None => (value, None),
    };
    let digest = parse_checksum(algorithm, value)?;
    let composite = |parts: u32| {
        (parts > 0).then_some(Expected::Composite(Composite {
            algorithm,
            digest,
            parts,
            sizes: None,
        }))
    };
    match (kind.as_deref(), suffix_parts) {
        (Some("FULL_OBJECT"), None) => Some(Expected::Object(algorithm, digest)),
        (Some("FULL_OBJECT"), Some(_)) => None,
        (_, Some(parts)) => composite(parts),
        (Some("COMPOSITE"), None) => composite(etag_parts?),
        (_, None) if etag_parts.is_none() => Some(Expected::Object(algorithm, digest)),
        (_, None) => None,
    }
}

/// The number of parts a multipart upload's ETag (`<hex>-<parts>`) names.
fn multipart_etag_parts(etag: &str) -> Option<u32> {
    let (_, parts) = etag.rsplit_once('-')?;
    parts
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| parts.parse().ok())
        .flatten()
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
    /// Download: every part's checksum, combined, matched the server's composite checksum.
    ServerComposite(ChecksumAlgorithm),
    /// Download: the whole object matched its single-part ETag (an MD5).
    EtagMd5,
    /// Download: the object carries no integrity data s3mt can use.
    Unverified,
    /// Server-side copy: the copy's full-object checksum, asked of the server, matches the
    /// source's.
    CopyMatched(ChecksumAlgorithm),
    /// Server-side copy: the copy's single-part MD5 ETag matches the source's.
    CopyMatchedEtag,
    /// Server-side copy: the server copied the bytes, and the two objects carry no checksum of
    /// the same kind to compare.
    CopyUnchecked,
}

impl Verification {
    /// Whether something checked the bytes: what `mv` requires before it removes a source.
    pub fn checked(&self) -> bool {
        !matches!(self, Self::Unverified | Self::CopyUnchecked)
    }

    /// A short name of what was checked against, for JSON (`s3mt_record`, `full_object`,
    /// `composite`, `etag_md5`, `none`; uploads: `sent_with_checksums`,
    /// `sent_without_record`; copies: `copy_full_object`, `copy_etag_md5`, `copy_unchecked`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SentWithChecksums(_) => "sent_with_checksums",
            Self::SentWithoutRecord(_) => "sent_without_record",
            Self::S3mtRecord(_) => "s3mt_record",
            Self::ServerChecksum(_) => "full_object",
            Self::ServerComposite(_) => "composite",
            Self::EtagMd5 => "etag_md5",
            Self::Unverified => "none",
            Self::CopyMatched(_) => "copy_full_object",
            Self::CopyMatchedEtag => "copy_etag_md5",
            Self::CopyUnchecked => "copy_unchecked",
        }
    }

    /// The checksum algorithm used, if any (the MD5 of an ETag is not one).
    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        match self {
            Self::SentWithChecksums(algorithm)
            | Self::SentWithoutRecord(algorithm)
            | Self::S3mtRecord(algorithm)
            | Self::ServerChecksum(algorithm)
            | Self::ServerComposite(algorithm)
            | Self::CopyMatched(algorithm) => Some(*algorithm),
            Self::EtagMd5 | Self::Unverified | Self::CopyMatchedEtag | Self::CopyUnchecked => None,
        }
    }
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
                    "verified: {algorithm} of the whole object, against the server's \
                     full-object checksum"
                )
            }
            Self::ServerComposite(algorithm) => {
                write!(
                    f,
                    "verified: {algorithm} per part, against the server's composite checksum"
                )
            }
            Self::EtagMd5 => f.write_str("verified: MD5 of the whole object, from its ETag"),
            Self::Unverified => f.write_str(
                "NOT verified: the object carries no integrity data (no s3mt record, no \
                 checksum, no single-part MD5 ETag)",
            ),
            Self::CopyMatched(algorithm) => write!(
                f,
                "copied by the server; verified: the copy's {algorithm} matches the source's"
            ),
            Self::CopyMatchedEtag => f.write_str(
                "copied by the server; verified: the copy's MD5 ETag matches the source's",
            ),
            Self::CopyUnchecked => f.write_str(
                "copied by the server; NOT verified: the two carry no checksum of one kind to \
                 compare",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::algorithm::{sha256, to_base64};

    const MIB: u64 = 1 << 20;

    fn record(part_size: u64, parts: u64) -> Record {
        Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size,
            parts,
            composite: sha256(b"r"),
            doubling_every: None,
            modified: None,
        }
    }

    /// The choice for an object with one algorithm's checksum header.
    fn choose(
        size: u64,
        record: Option<&str>,
        header: Option<(ChecksumAlgorithm, &str)>,
        kind: Option<&str>,
        etag: Option<&str>,
    ) -> Choice {
        let checksum = |algorithm| header.filter(|(a, _)| *a == algorithm).map(|(_, v)| v);
        Expected::from_headers(size, record, checksum, kind, etag, false)
    }

    #[test]
    fn expected_prefers_the_record_then_server_checksums_then_md5_etag() {
        let record = record(5 * MIB, 2).to_metadata();
        let crc = ChecksumAlgorithm::Crc64Nvme;
        let whole = to_base64(&crc.digest(b"whole"));
        let etag = "\"900150983cd24fb0d6963f7d28e17f72\"";
        let size = 6 * MIB;
        let header = Some((crc, whole.as_str()));
        assert!(matches!(
            choose(size, Some(&record), header, None, Some(etag)).expected,
            Expected::Record(_)
        ));
        assert_eq!(
            choose(size, None, header, None, Some(etag)).expected,
            Expected::Object(crc, crc.digest(b"whole"))
        );
        let md5 = choose(size, None, None, None, Some(etag)).expected;
        assert!(
            matches!(md5, Expected::Md5(bytes) if hex::encode(bytes) == "900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            choose(size, None, None, None, Some("\"abc-3\"")).expected,
            Expected::Nothing
        );
        let kms = Expected::from_headers(size, None, |_| None, None, Some(etag), true);
        assert_eq!(kms.expected, Expected::Nothing);
    }

    #[test]
    fn full_object_and_composite_checksums_are_told_apart() {
        let crc32 = ChecksumAlgorithm::Crc32;
        let value = to_base64(&crc32.digest(b"parts"));
        let digest = crc32.digest(b"parts");
        let single = "\"900150983cd24fb0d6963f7d28e17f72\"";
        let with = |value: &str, kind: Option<&str>, etag: &str| {
            choose(8, None, Some((crc32, value)), kind, Some(etag)).expected
        };
        let whole = Expected::Object(crc32, digest);
        let composite = |parts| {
            Expected::Composite(Composite {
                algorithm: crc32,
                digest,
                parts,
                sizes: None,
            })
        };
        // aws-cli's multipart default: `...-6` typed COMPOSITE.
        assert_eq!(
            with(&format!("{value}-6"), Some("COMPOSITE"), "\"abc-6\""),
            composite(6)
        );
        assert_eq!(with(&format!("{value}-6"), None, "\"abc-6\""), composite(6));
        assert_eq!(with(&value, Some("COMPOSITE"), "\"abc-6\""), composite(6));
        assert_eq!(with(&value, Some("FULL_OBJECT"), "\"abc-2\""), whole);
        assert_eq!(with(&value, None, single), whole);
        // moto: a composite without its `-N` suffix or a type, beside a multipart ETag.
        assert_eq!(with(&value, None, "\"abc-2\""), Expected::Nothing);
        assert!(matches!(
            with(&value, Some("COMPOSITE"), single),
            Expected::Md5(_)
        ));
        assert_eq!(with("AAAA-x", None, "\"abc-2\""), Expected::Nothing);
        assert!(
            multipart_etag_parts("abc-12") == Some(12)
                && multipart_etag_parts("abc-").is_none()
                && multipart_etag_parts("abc").is_none()
        );
    }

    #[test]
    fn a_record_outside_s3s_limits_or_the_objects_size_is_ignored_and_says_why() {
        let size = 10 * MIB;
        for (bad, why) in [
            (record(1, size), "over S3's 10,000"),
            (record(1024, size.div_ceil(1024)), "over S3's 10,000"),
            (record(MIB, 10), "outside S3's 5 MiB to 5 GiB"),
            (record(5 * MIB, 3), "do not add up"),
        ] {
            let choice = choose(size, Some(&bad.to_metadata()), None, None, None);
            assert_eq!(choice.expected, Expected::Nothing, "{bad:?}");
            let reason = choice.ignored_record.expect("a reason");
            assert!(reason.contains(why), "{reason}");
        }
        let garbage = choose(size, Some("v1 part-size=x"), None, None, None);
        assert!(garbage.ignored_record.is_some());
        let good = choose(
            size,
            Some(&record(5 * MIB, 2).to_metadata()),
            None,
            None,
            None,
        );
        assert!(matches!(good.expected, Expected::Record(_)) && good.ignored_record.is_none());
        let one_part = choose(3, Some(&record(3, 1).to_metadata()), None, None, None);
        assert!(matches!(one_part.expected, Expected::Record(_)));
    }

    #[test]
    fn part_by_part_checks_need_every_part_and_the_right_composite() {
        let crc = ChecksumAlgorithm::Crc32c;
        let parts = [crc.digest(b"one"), crc.digest(b"two")];
        let composite = Expected::Composite(Composite {
            algorithm: crc,
            digest: crc.composite(&parts),
            parts: 2,
            sizes: Some(PartSizes::Uniform(3)),
        });
        assert!(composite.parts_match(&parts));
        assert!(!composite.parts_match(&parts[..1]));
        assert!(!composite.parts_match(&[parts[1], parts[0]]));
        assert_eq!(composite.per_part(), Some((crc, PartSizes::Uniform(3))));
        assert_eq!(
            composite.verdict(true).unwrap(),
            Verification::ServerComposite(crc)
        );
        let err = composite.verdict(false).unwrap_err();
        assert!(err.to_string().contains("composite"), "{err}");
        assert_eq!(Verification::ServerComposite(crc).kind(), "composite");
    }
}
