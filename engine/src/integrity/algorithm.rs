//! Checksum algorithms and their hashers: the CRCs S3 accepts (CRC-64/NVME, CRC-32, CRC-32C)
//! and SHA-256, a checksum's bytes (`Digest`), how S3 stores a multipart object's checksum
//! (`ChecksumType`), combining CRCs of adjacent pieces, the composite of part checksums, and
//! base64 as S3's headers carry them. Pure.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The checksum s3mt computes for every part it sends, which the server checks on arrival and
/// stores with the object, and s3mt's record keeps for downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// CRC-64/NVME, S3's `CRC64NVME` and AWS's default: catches corruption, not tampering, at
    /// a tenth of SHA-256's CPU cost (carry-less multiplication, several GB/s per core). Only
    /// as a full-object checksum.
    #[default]
    Crc64Nvme,
    /// CRC-32 (ISO-HDLC), S3's `CRC32`: what most AWS SDKs and aws-cli v1 store by default.
    Crc32,
    /// CRC-32C (Castagnoli), S3's `CRC32C`.
    Crc32c,
    /// SHA-256: a cryptographic digest (about 1.1 GB/s per core with SHA-NI). Only composite
    /// on multipart uploads.
    Sha256,
}

/// How S3 stores a multipart object's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChecksumType {
    /// One checksum of the whole object, combined by the server from the parts' (CRCs only):
    /// any whole-object GET can check it.
    FullObject,
    /// The checksum of the parts' checksums, suffixed `-N` (N parts): checkable only part by
    /// part.
    Composite,
}

impl ChecksumType {
    /// S3's name, as in `x-amz-checksum-type`.
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }
}

impl fmt::Display for ChecksumType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.s3_name())
    }
}

impl FromStr for ChecksumType {
    type Err = Error;

    /// S3's names, in any case (`FULL_OBJECT`, `composite`).
    fn from_str(name: &str) -> Result<Self> {
        [Self::FullObject, Self::Composite]
            .into_iter()
            .find(|kind| kind.s3_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("unknown checksum type {name:?} (use FULL_OBJECT or COMPOSITE)"),
                )
            })
    }
}

impl ChecksumAlgorithm {
    /// Every algorithm, in order of preference when an object carries several: the cheap CRCs
    /// first (they catch corruption as well as SHA-256 does).
    pub const ALL: [Self; 4] = [Self::Crc64Nvme, Self::Crc32c, Self::Crc32, Self::Sha256];

    /// S3's name, as in `x-amz-checksum-algorithm` (`CRC64NVME`, `CRC32`, `CRC32C`, `SHA256`).
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::Crc64Nvme => "CRC64NVME",
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Sha256 => "SHA256",
        }
    }

    /// The checksum type a multipart upload gets unless the user asks for the other: a full
    /// object checksum for the CRCs (as AWS's SDKs do), composite for SHA-256 (its only kind).
    pub fn default_type(self) -> ChecksumType {
        match self {
            Self::Sha256 => ChecksumType::Composite,
            _ => ChecksumType::FullObject,
        }
    }

    /// Whether S3 accepts this algorithm with `kind` on a multipart upload (CRC-64/NVME only
    /// full-object, SHA-256 only composite, the CRC-32s either).
    pub fn supports(self, kind: ChecksumType) -> bool {
        match self {
            Self::Crc64Nvme => kind == ChecksumType::FullObject,
            Self::Sha256 => kind == ChecksumType::Composite,
            Self::Crc32 | Self::Crc32c => true,
        }
    }

    /// The request and reply header carrying a checksum.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The CompleteMultipartUpload element carrying a part's checksum.
    pub(crate) fn complete_element(self) -> &'static str {
        match self {
            Self::Crc64Nvme => "ChecksumCRC64NVME",
            Self::Crc32 => "ChecksumCRC32",
            Self::Crc32c => "ChecksumCRC32C",
            Self::Sha256 => "ChecksumSHA256",
        }
    }

    /// A checksum's length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Self::Crc64Nvme => 8,
            Self::Crc32 | Self::Crc32c => 4,
            Self::Sha256 => 32,
        }
    }

    /// The field naming the part checksums in s3mt's record.
    pub(super) fn record_field(self) -> &'static str {
        match self {
            Self::Crc64Nvme => "crc64nvme",
            Self::Crc32 => "crc32",
            Self::Crc32c => "crc32c",
            Self::Sha256 => "sha256",
        }
    }

    /// The CRC, for the CRCs.
    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Sha256 => None,
        }
    }

    /// Whether the checksums of adjacent pieces combine into the checksum of the whole (the
    /// CRCs), so a whole-object checksum can be checked from pieces that land in any order.
    pub(crate) fn combines(self) -> bool {
        self.crc().is_some()
    }

    /// The checksum of `first` followed by `second`, from theirs and `second`'s length (CRCs
    /// only; `None` for SHA-256).
    pub(crate) fn combine(
        self,
        first: &Digest,
        second: &Digest,
        second_len: u64,
    ) -> Option<Digest> {
        let crc = self.crc()?;
        let combined = crc_fast::checksum_combine(crc, first.to_u64(), second.to_u64(), second_len);
        Some(self.crc_digest(combined))
    }

    /// The checksum of pieces in order, from each piece's checksum and length (CRCs only).
    pub(crate) fn combine_all(
        self,
        pieces: impl IntoIterator<Item = (Digest, u64)>,
    ) -> Option<Digest> {
        let mut whole = self.digest(&[]);
        for (digest, len) in pieces {
            whole = self.combine(&whole, &digest, len)?;
        }
        Some(whole)
    }

    /// S3's composite checksum of a multipart object: this algorithm over the concatenated
    /// part checksums.
    pub(crate) fn composite(self, parts: &[Digest]) -> Digest {
        let mut hasher = Hasher::new(self);
        for part in parts {
            hasher.update(part.as_bytes());
        }
        hasher.finalize()
    }

    /// The checksum of `bytes`.
    pub(crate) fn digest(self, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(self);
        hasher.update(bytes);
        hasher.finalize()
    }

    /// A CRC's value as S3 encodes it: big-endian, in the CRC's width.
    fn crc_digest(self, value: u64) -> Digest {
        match self.len() {
            4 => Digest::new((value as u32).to_be_bytes()),
            _ => Digest::new(value.to_be_bytes()),
        }
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Crc64Nvme => "CRC-64/NVME",
            Self::Crc32 => "CRC-32",
            Self::Crc32c => "CRC-32C",
            Self::Sha256 => "SHA-256",
        })
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = Error;

    /// S3's names, in any case (`crc64nvme`, `CRC32`, `SHA256`).
    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.s3_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "unknown checksum algorithm {name:?} (use CRC64NVME, CRC32, CRC32C or \
                         SHA256)"
                    ),
                )
            })
    }
}

/// A checksum's bytes: 8 for CRC-64/NVME, 4 for the CRC-32s, 32 for SHA-256 (big-endian, as
/// S3 encodes them).
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

    /// At most 32 bytes (longer input is cut).
    pub(super) fn from_bytes(bytes: &[u8]) -> Self {
        let len = bytes.len().min(32);
        let mut digest = Self::new([0; 32]);
        digest.bytes[..len].copy_from_slice(&bytes[..len]);
        digest.len = len as u8;
        digest
    }

    /// A CRC's value (its at most 8 big-endian bytes).
    fn to_u64(self) -> u64 {
        self.as_bytes()
            .iter()
            .take(8)
            .fold(0, |value, byte| (value << 8) | u64::from(*byte))
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
    Crc(ChecksumAlgorithm, crc_fast::Digest),
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm.crc() {
            Some(crc) => Self::Crc(algorithm, crc_fast::Digest::new(crc)),
            None => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Crc(_, hasher) => hasher.update(bytes),
        }
    }

    pub fn finalize(self) -> Digest {
        match self {
            Self::Sha256(hasher) => Digest::new::<32>(hasher.finalize().into()),
            Self::Crc(algorithm, hasher) => algorithm.crc_digest(hasher.finalize()),
        }
    }
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    ChecksumAlgorithm::Sha256.digest(bytes)
}

/// The composite digest s3mt's record keeps of a list of part checksums, whatever their
/// algorithm: SHA-256 of their concatenation.
pub(crate) fn record_composite(parts: &[Digest]) -> Digest {
    ChecksumAlgorithm::Sha256.composite(parts)
}

/// Base64, as `x-amz-checksum-*` headers carry checksums.
pub(crate) fn to_base64(digest: &Digest) -> String {
    to_base64_bytes(digest.as_bytes())
}

/// Base64 of any digest (e.g. `Content-MD5`).
pub(crate) fn to_base64_bytes(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Base64 decoding of a header's checksum value, `None` when it is not base64.
pub(crate) fn from_base64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

/// A checksum header's value for `algorithm` as a digest, `None` unless it is base64 of the
/// algorithm's length.
pub(crate) fn parse_checksum(algorithm: ChecksumAlgorithm, text: &str) -> Option<Digest> {
    let bytes = from_base64(text)?;
    (bytes.len() == algorithm.len()).then(|| Digest::from_bytes(&bytes))
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
    fn each_crc_matches_its_published_check_value_in_s3s_encoding() {
        // The check values of the CRC catalogue (the CRC of "123456789"), big-endian.
        for (algorithm, check) in [
            (ChecksumAlgorithm::Crc32, "cbf43926"),
            (ChecksumAlgorithm::Crc32c, "e3069283"),
            (ChecksumAlgorithm::Crc64Nvme, "ae8b14860a799888"),
        ] {
            let digest = algorithm.digest(b"123456789");
            assert_eq!(hex::encode(digest.as_bytes()), check, "{algorithm}");
            assert_eq!(digest.as_bytes().len(), algorithm.len());
            assert_eq!(parse_checksum(algorithm, &to_base64(&digest)), Some(digest));
        }
        // What S3 documents for CRC-32 of "hello world!" style inputs: base64 of 4 bytes.
        assert_eq!(to_base64(&ChecksumAlgorithm::Crc32.digest(b"")), "AAAAAA==");
        assert_eq!(
            parse_checksum(ChecksumAlgorithm::Crc32, "AAAAAAAAAAA="),
            None
        );
    }

    #[test]
    fn crcs_of_pieces_combine_into_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let pieces = [&data[..1], &data[1..4097], &data[4097..4097], &data[4097..]];
            let combined = algorithm
                .combine_all(pieces.iter().map(|p| (algorithm.digest(p), p.len() as u64)))
                .unwrap();
            assert_eq!(combined, algorithm.digest(&data), "{algorithm}");
            assert!(algorithm.combines());
        }
        let sha = ChecksumAlgorithm::Sha256;
        assert!(!sha.combines());
        assert_eq!(sha.combine(&sha.digest(b"a"), &sha.digest(b"b"), 1), None);
    }

    #[test]
    fn composites_are_the_algorithm_over_the_concatenated_part_checksums() {
        let parts = [sha256(b"part one"), sha256(b"part two")];
        let mut joined = Vec::new();
        joined.extend_from_slice(parts[0].as_bytes());
        joined.extend_from_slice(parts[1].as_bytes());
        assert_eq!(record_composite(&parts), sha256(&joined));
        assert_ne!(
            record_composite(&parts),
            record_composite(&[parts[1], parts[0]]),
            "order matters"
        );
        let crc = ChecksumAlgorithm::Crc32;
        let crc_parts = [crc.digest(b"part one"), crc.digest(b"part two")];
        let mut joined = Vec::new();
        joined.extend_from_slice(crc_parts[0].as_bytes());
        joined.extend_from_slice(crc_parts[1].as_bytes());
        assert_eq!(crc.composite(&crc_parts), crc.digest(&joined));
    }

    #[test]
    fn names_types_and_what_s3_accepts() {
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(
                algorithm.s3_name().parse::<ChecksumAlgorithm>().unwrap(),
                algorithm
            );
            assert!(algorithm.supports(algorithm.default_type()));
        }
        assert_eq!(
            "crc32c".parse::<ChecksumAlgorithm>().unwrap(),
            ChecksumAlgorithm::Crc32c
        );
        assert!("md5".parse::<ChecksumAlgorithm>().is_err());
        assert_eq!(ChecksumAlgorithm::default(), ChecksumAlgorithm::Crc64Nvme);
        assert!(!ChecksumAlgorithm::Crc64Nvme.supports(ChecksumType::Composite));
        assert!(!ChecksumAlgorithm::Sha256.supports(ChecksumType::FullObject));
        assert!(ChecksumAlgorithm::Crc32.supports(ChecksumType::Composite));
        assert_eq!(
            "full_object".parse::<ChecksumType>().unwrap(),
            ChecksumType::FullObject
        );
        assert!("whole".parse::<ChecksumType>().is_err());
    }
}
