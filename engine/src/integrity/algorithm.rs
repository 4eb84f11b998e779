//! Checksum algorithms and their hashers: SHA-256 and CRC-64/NVME, a checksum's bytes
//! (`Digest`), the composite of part checksums, and base64 as S3's headers carry them. Pure.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

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
    pub(super) fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Crc64Nvme => 8,
        }
    }

    /// The field naming the part checksums in s3mt's record.
    pub(super) fn record_field(self) -> &'static str {
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
    pub(super) fn from_bytes(bytes: &[u8]) -> Self {
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
}
