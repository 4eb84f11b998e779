//! Checking bytes that arrive in order (a download to a stream, or a file read back) against
//! what is expected: per-part checksums cut where the upload cut its parts (s3mt's record, or
//! a composite checksum's layout), or one checksum of the whole. Pure.

use super::algorithm::{ChecksumAlgorithm, Digest, Hasher};
use super::expected::{Expected, Verification};
use super::parts::PartSizes;
use crate::error::Result;
use md5::Digest as _;

/// Checks bytes that arrive in order (a download to a stream) against what is expected:
/// per-part checksums cut at the parts' boundaries, or one checksum of the whole.
pub(crate) struct InOrder {
    expected: Expected,
    per_part: Option<(ChecksumAlgorithm, PartSizes)>,
    part: Option<(Hasher, u64)>,
    parts: Vec<Digest>,
    whole: Option<Hasher>,
    whole_md5: Option<md5::Md5>,
}

impl InOrder {
    pub fn new(expected: Expected) -> Self {
        Self {
            per_part: expected.per_part(),
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
        let Some((algorithm, sizes)) = &self.per_part else {
            return;
        };
        while !bytes.is_empty() {
            let number = self.parts.len() as u32 + 1;
            let (hasher, left) = self
                .part
                .get_or_insert_with(|| (Hasher::new(*algorithm), sizes.size_of(number)));
            let take = bytes
                .len()
                .min(usize::try_from(*left).unwrap_or(usize::MAX));
            hasher.update(&bytes[..take]);
            *left -= take as u64;
            bytes = &bytes[take..];
            if *left == 0
                && let Some((hasher, _)) = self.part.take()
            {
                self.parts.push(hasher.finalize());
            }
        }
    }

    /// The verdict once every byte was fed.
    pub fn finish(mut self) -> Result<Verification> {
        if let Some((hasher, _)) = self.part.take() {
            self.parts.push(hasher.finalize());
        }
        let matches = match &self.expected {
            Expected::Record(_) | Expected::Composite(_) => {
                self.per_part.is_some() && self.expected.parts_match(&self.parts)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::integrity::algorithm::{record_composite as composite, sha256, to_base64};
    use crate::integrity::expected::Composite;
    use crate::integrity::record::Record;

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
            modified: None,
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
            modified: None,
        };
        let value = record.to_metadata();
        assert!(value.ends_with(" doubling-every=2"), "{value}");
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        assert!(record.part_sizes().fits(30, 5) && !record.part_sizes().fits(24, 5));
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
            modified: None,
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
    fn a_composite_is_checked_at_the_servers_part_boundaries() {
        let crc = ChecksumAlgorithm::Crc32;
        let data: Vec<u8> = (0..10u8).collect();
        let check = |sizes: PartSizes, cuts: &[usize], bytes: &[u8]| {
            let parts: Vec<Digest> = cuts
                .windows(2)
                .map(|w| crc.digest(&data[w[0]..w[1]]))
                .collect();
            let expected = Expected::Composite(Composite {
                algorithm: crc,
                digest: crc.composite(&parts),
                parts: parts.len() as u32,
                sizes: Some(sizes),
            });
            let mut check = InOrder::new(expected);
            check.update(&bytes[..5]);
            check.update(&bytes[5..]);
            check.finish()
        };
        assert_eq!(
            check(PartSizes::Uniform(4), &[0, 4, 8, 10], &data).unwrap(),
            Verification::ServerComposite(crc)
        );
        assert_eq!(
            check(PartSizes::Listed(vec![6, 3, 1]), &[0, 6, 9, 10], &data).unwrap(),
            Verification::ServerComposite(crc)
        );
        let mut flipped = data.clone();
        flipped[0] ^= 1;
        let err = check(PartSizes::Uniform(4), &[0, 4, 8, 10], &flipped).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
        // Cut elsewhere than the upload did: the part checksums differ.
        assert!(check(PartSizes::Uniform(5), &[0, 4, 8, 10], &data).is_err());
        // Without a layout, a composite cannot pass.
        let parts = [crc.digest(&data)];
        let unknown = Expected::Composite(Composite {
            algorithm: crc,
            digest: crc.composite(&parts),
            parts: 1,
            sizes: None,
        });
        let mut check = InOrder::new(unknown);
        check.update(&data);
        assert!(check.finish().is_err());
    }
}
