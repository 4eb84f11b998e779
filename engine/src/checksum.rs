//! Integrity data: per-part checksums (SHA-256, or CRC-64/NVME when the user picks it), their
//! composite, the user-metadata record s3mt stores at upload, and what a download can be
//! verified against. Pure.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::plan;

/// The checksum s3mt computes for every part it sends, which the server checks on arrival and
/// s3mt's record keeps for downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// SHA-256: a cryptographic digest (about 1.1 GB/s per core with SHA-NI).
    #[default]
    Sha256,
    /// CRC-64/NVME, S3's `CRC64NVME`: catches corruption, not tampering, at a tenth of
    /// SHA-256's CPU cost (carry-less multiplication, several GB/s per core).
    Crc64Nvme,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in order of preference when a server offers several.
    pub const ALL: [Self; 2] = [Self::Sha256, Self::Crc64Nvme];

    /// S3's name, as in `x-amz-checksum-algorithm` (`SHA256`, `CRC64NVME`).
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Crc64Nvme => "CRC64NVME",
        }
    }

    /// The request header carrying a part's checksum.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Sha256 => "x-amz-checksum-sha256",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// The CompleteMultipartUpload element carrying a part's checksum.
    pub(crate) fn complete_element(self) -> &'static str {
        match self {
            Self::Sha256 => "ChecksumSHA256",
            Self::Crc64Nvme => "ChecksumCRC64NVME",
        }
    }

    /// A checksum's length in bytes.
    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Crc64Nvme => 8,
        }
    }

    /// The field naming the part checksums in s3mt's record.
    fn record_field(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Crc64Nvme => "crc64nvme",
        }
    }

    /// The checksum of `bytes`.
    pub(crate) fn digest(self, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(self);
        hasher.update(bytes);
        hasher.finalize()
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256 => "SHA-256",
            Self::Crc64Nvme => "CRC-64/NVME",
        })
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = Error;

    /// S3's names, in any case (`sha256`, `CRC64NVME`).
    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.s3_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("unknown checksum algorithm {name:?} (use SHA256 or CRC64NVME)"),
                )
            })
    }
}

/// A checksum's bytes: 32 for SHA-256, 8 for CRC-64/NVME (big-endian, as S3 encodes it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest {
    bytes: [u8; 32],
    len: u8,
}

impl Digest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn new<const N: usize>(array: [u8; N]) -> Self {
        const { assert!(N <= 32) };
        let mut bytes = [0; 32];
        bytes[..N].copy_from_slice(&array);
        Self {
            bytes,
            len: N as u8,
        }
    }
}

impl Digest {
    /// At most 32 bytes (longer input is cut).
    fn from_bytes(bytes: &[u8]) -> Self {
        let len = bytes.len().min(32);
        let mut digest = Self::new([0; 32]);
        digest.bytes[..len].copy_from_slice(&bytes[..len]);
        digest.len = len as u8;
        digest
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

/// A checksum being computed over bytes fed in pieces.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Crc(crc_fast::Digest),
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            ChecksumAlgorithm::Crc64Nvme => {
                Self::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme))
            }
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Crc(hasher) => hasher.update(bytes),
        }
    }

    pub fn finalize(self) -> Digest {
        match self {
            Self::Sha256(hasher) => Digest::new::<32>(hasher.finalize().into()),
            Self::Crc(hasher) => Digest::new(hasher.finalize().to_be_bytes()),
        }
    }
}

/// The user-metadata header holding s3mt's integrity record (named for its composite, which is
/// a SHA-256 whatever the part checksums are).
pub(crate) const METADATA_HEADER: &str = "x-amz-meta-s3mt-sha256";

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    ChecksumAlgorithm::Sha256.digest(bytes)
}

/// The composite digest of a list of part checksums: SHA-256 of their concatenation, as S3's
/// `COMPOSITE` SHA-256 checksums are built.
pub(crate) fn composite(parts: &[Digest]) -> Digest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    Digest::new::<32>(hasher.finalize().into())
}

/// The object tag holding s3mt's record when it could not go in the metadata (streams).
pub(crate) const RECORD_TAG: &str = "s3mt-sha256";

/// Base64, as `x-amz-checksum-*` headers carry checksums.
pub(crate) fn to_base64(digest: &Digest) -> String {
    to_base64_bytes(digest.as_bytes())
}

/// Base64 of any digest (e.g. `Content-MD5`).
pub(crate) fn to_base64_bytes(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// The integrity record s3mt stores with an object (in its user metadata, or for a stream in
/// a tag): the part size, the part count, the part checksum algorithm and the composite (SHA-256
/// of the part checksums), so any server can be checked without its help. A stream's parts may
/// grow: then the first part has `part_size` and the size doubles every `doubling_every` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub algorithm: ChecksumAlgorithm,
    pub part_size: u64,
    pub parts: u64,
    pub composite: Digest,
    pub doubling_every: Option<u32>,
}

impl Record {
    /// The value: `v1 part-size=N parts=M sha256=BASE64` (`crc64nvme=` for CRC-64/NVME parts),
    /// then ` doubling-every=K` when parts grow.
    pub fn to_metadata(&self) -> String {
        let mut value = format!(
            "v1 part-size={} parts={} {}={}",
            self.part_size,
            self.parts,
            self.algorithm.record_field(),
            to_base64(&self.composite)
        );
        if let Some(every) = self.doubling_every {
            value.push_str(&format!(" doubling-every={every}"));
        }
        value
    }

    /// The size of part `number` (1-based; the last part may be shorter).
    pub fn part_size_of(&self, number: u32) -> u64 {
        plan::grown_part_size(self.part_size, self.doubling_every, number)
    }

    /// Reads a metadata value written by [`Record::to_metadata`].
    pub fn from_metadata(value: &str) -> Option<Self> {
        let mut fields = value.split_whitespace();
        (fields.next()? == "v1").then_some(())?;
        let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
        let part_size: u64 = field("part-size")?.parse().ok()?;
        let parts: u64 = field("parts")?.parse().ok()?;
        let (name, composite) = fields.next()?.split_once('=')?;
        let algorithm = ChecksumAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.record_field() == name)?;
        let composite = Digest::new::<32>(BASE64.decode(composite).ok()?.try_into().ok()?);
        let doubling_every = match fields.next() {
            None => None,
            Some(field) => Some(field.strip_prefix("doubling-every=")?.parse().ok()?),
        };
        (part_size > 0 && doubling_every != Some(0)).then_some(Self {
            algorithm,
            part_size,
            parts,
            composite,
            doubling_every,
        })
    }

    /// Whether an object of `size` bytes has exactly this record's number of parts.
    pub fn fits(&self, size: u64) -> bool {
        if self.doubling_every.is_none() {
            return size.div_ceil(self.part_size) == self.parts;
        }
        // Parts before the last are full: walk them (at most 10,000).
        let (mut covered, mut parts) = (0, 0);
        while covered < size && parts <= plan::MAX_PARTS {
            parts += 1;
            covered += self.part_size_of(parts as u32);
        }
        parts == self.parts
    }
}

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
                let bytes = BASE64.decode(value.trim()).ok()?;
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
}

/// A multipart upload's ETag: `<hex>-<number of parts>`.
fn is_multipart_etag(etag: &str) -> bool {
    etag.rsplit_once('-')
        .is_some_and(|(_, parts)| !parts.is_empty() && parts.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks bytes that arrive in order (a download to a stream) against what is expected:
/// per-part checksums cut at the record's part boundaries, or one checksum of the whole.
pub(crate) struct InOrder {
    expected: Expected,
    part: Option<(Hasher, u64)>,
    parts: Vec<Digest>,
    whole: Option<Hasher>,
    whole_md5: Option<md5::Md5>,
}

impl InOrder {
    pub fn new(expected: Expected) -> Self {
        Self {
            part: None,
            parts: Vec::new(),
            whole: match expected {
                Expected::Object(algorithm, _) => Some(Hasher::new(algorithm)),
                _ => None,
            },
            whole_md5: matches!(expected, Expected::Md5(_)).then(md5::Md5::new),
            expected,
        }
    }

    /// Feeds the next bytes of the object.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if let Some(hasher) = &mut self.whole {
            hasher.update(bytes);
        }
        if let Some(hasher) = &mut self.whole_md5 {
            md5::Digest::update(hasher, bytes);
        }
        let Expected::Record(record) = &self.expected else {
            return;
        };
        let (first, doubling_every) = (record.part_size, record.doubling_every);
        let algorithm = record.algorithm;
        while !bytes.is_empty() {
            let number = self.parts.len() as u32 + 1;
            let (hasher, left) = self.part.get_or_insert_with(|| {
                let size = plan::grown_part_size(first, doubling_every, number);
                (Hasher::new(algorithm), size)
            });
            let take = bytes
                .len()
                .min(usize::try_from(*left).unwrap_or(usize::MAX));
            hasher.update(&bytes[..take]);
            *left -= take as u64;
            bytes = &bytes[take..];
            if *left == 0 {
                self.finish_part();
            }
        }
    }

    fn finish_part(&mut self) {
        if let Some((hasher, _)) = self.part.take() {
            self.parts.push(hasher.finalize());
        }
    }

    /// The verdict once every byte was fed.
    pub fn finish(mut self) -> Result<Verification> {
        self.finish_part();
        let matches = match &self.expected {
            Expected::Record(record) => composite(&self.parts) == record.composite,
            Expected::Object(_, digest) => self
                .whole
                .take()
                .is_some_and(|hasher| hasher.finalize() == *digest),
            Expected::Md5(digest) => self
                .whole_md5
                .take()
                .is_some_and(|hasher| md5::Digest::finalize(hasher).as_slice() == digest),
            Expected::Nothing => true,
        };
        self.expected.verdict(matches)
    }
}

impl Expected {
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

    #[test]
    fn sha256_and_base64_match_known_values() {
        let digest = sha256(b"abc");
        assert_eq!(
            hex::encode(digest.as_bytes()),
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
        joined.extend_from_slice(parts[0].as_bytes());
        joined.extend_from_slice(parts[1].as_bytes());
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
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 5 << 20,
            parts: 3,
            composite: sha256(b"x"),
            doubling_every: None,
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
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
            doubling_every: None,
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
    fn in_order_checks_parts_at_record_boundaries_whatever_the_pieces() {
        let data: Vec<u8> = (0..10u8).collect();
        let parts: Vec<Digest> = data.chunks(4).map(sha256).collect();
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 3,
            composite: composite(&parts),
            doubling_every: None,
        };
        let feed = |expected: Expected, pieces: &[&[u8]]| {
            let mut check = InOrder::new(expected);
            for piece in pieces {
                check.update(piece);
            }
            check.finish()
        };
        let pieces: [&[u8]; 3] = [&data[..3], &data[3..9], &data[9..]];
        assert_eq!(
            feed(Expected::Record(record.clone()), &pieces).unwrap(),
            Verification::S3mtRecord(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(
            feed(
                Expected::Object(ChecksumAlgorithm::Sha256, sha256(&data)),
                &pieces
            )
            .unwrap(),
            Verification::ServerChecksum(ChecksumAlgorithm::Sha256)
        );
        let md5: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&data[..]).into();
        assert_eq!(
            feed(Expected::Md5(md5), &pieces).unwrap(),
            Verification::EtagMd5
        );
        let mut flipped = data.clone();
        flipped[5] ^= 1;
        let err = feed(Expected::Record(record), &[&flipped]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
        assert_eq!(
            feed(Expected::Nothing, &pieces).unwrap(),
            Verification::Unverified
        );
    }

    #[test]
    fn a_growing_record_round_trips_and_cuts_parts_where_the_stream_did() {
        // Parts of 4 bytes, doubling every 2 parts: 4, 4, 8, 8, 16 ...
        let data: Vec<u8> = (0..30u8).collect();
        let cuts = [0, 4, 8, 16, 24, 30];
        let parts: Vec<Digest> = cuts.windows(2).map(|w| sha256(&data[w[0]..w[1]])).collect();
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 5,
            composite: composite(&parts),
            doubling_every: Some(2),
        };
        let value = record.to_metadata();
        assert!(value.ends_with(" doubling-every=2"), "{value}");
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        assert!(record.fits(30) && record.fits(25) && !record.fits(24) && !record.fits(41));
        assert_eq!(Record::from_metadata(&value.replace("=2", "=0")), None);
        let mut check = InOrder::new(Expected::Record(record));
        check.update(&data[..7]);
        check.update(&data[7..]);
        assert_eq!(
            check.finish().unwrap(),
            Verification::S3mtRecord(ChecksumAlgorithm::Sha256)
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
    fn crc64nvme_matches_s3_and_round_trips_in_a_record() {
        let algorithm: ChecksumAlgorithm = "crc64nvme".parse().unwrap();
        assert_eq!(algorithm, ChecksumAlgorithm::Crc64Nvme);
        assert_eq!(
            "SHA256".parse::<ChecksumAlgorithm>().unwrap(),
            ChecksumAlgorithm::Sha256
        );
        assert!("md5".parse::<ChecksumAlgorithm>().is_err());
        // The published check value, and S3's big-endian base64 of it.
        let digest = algorithm.digest(b"hello world!");
        assert_eq!(hex::encode(digest.as_bytes()), "d9160d1fa8e418e3");
        assert_eq!(to_base64(&digest), "2RYNH6jkGOM=");
        let mut pieces = Hasher::new(algorithm);
        pieces.update(b"hello ");
        pieces.update(b"world!");
        assert_eq!(pieces.finalize(), digest);

        let data: Vec<u8> = (0..10u8).collect();
        let parts: Vec<Digest> = data.chunks(4).map(|c| algorithm.digest(c)).collect();
        let record = Record {
            algorithm,
            part_size: 4,
            parts: 3,
            composite: composite(&parts),
            doubling_every: None,
        };
        let value = record.to_metadata();
        assert!(
            value.starts_with("v1 part-size=4 parts=3 crc64nvme="),
            "{value}"
        );
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        let mut check = InOrder::new(Expected::Record(record.clone()));
        check.update(&data);
        assert_eq!(check.finish().unwrap(), Verification::S3mtRecord(algorithm));
        let mut flipped = data.clone();
        flipped[9] ^= 0x80;
        let mut check = InOrder::new(Expected::Record(record));
        check.update(&flipped);
        assert_eq!(check.finish().unwrap_err().kind(), ErrorKind::Integrity);
        // A whole-object CRC-64/NVME from the server.
        let whole = Expected::Object(algorithm, algorithm.digest(&data));
        let mut check = InOrder::new(whole.clone());
        check.update(&data);
        assert_eq!(
            check.finish().unwrap(),
            Verification::ServerChecksum(algorithm)
        );
        let mut check = InOrder::new(whole);
        check.update(&flipped);
        assert_eq!(check.finish().unwrap_err().kind(), ErrorKind::Integrity);
    }

    #[test]
    fn a_size_that_disagrees_with_the_record_is_a_bad_reply() {
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 4,
            parts: 2,
            composite: sha256(b"r"),
            doubling_every: None,
        }
        .to_metadata();
        let err =
            Expected::from_headers(0, Some(&record), |_| None, None, None, false).unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
