//! s3mt's integrity record: what an upload stores with the object (in its user metadata, or for
//! a stream in a tag) so that any server's copy can be checked without the server's help. Pure.

use super::algorithm::{ChecksumAlgorithm, Digest, from_base64, to_base64};
use super::parts::PartSizes;
use crate::plan;
use crate::size::Size;
use jiff::Timestamp;

/// The user-metadata header holding s3mt's integrity record (named for its composite, which is
/// a SHA-256 whatever the part checksums are).
pub(crate) const METADATA_HEADER: &str = "x-amz-meta-s3mt-sha256";

/// The object tag holding s3mt's record when it could not go in the metadata (streams).
pub(crate) const RECORD_TAG: &str = "s3mt-sha256";

/// The integrity record s3mt stores with an object (in its user metadata, or for a stream in
/// a tag): the part size, the part count, the part checksum algorithm and the composite (SHA-256
/// of the part checksums), so any server can be checked without its help. A stream's parts may
/// grow: then the first part has `part_size` and the size doubles every `doubling_every` parts.
/// A file's record also keeps the file's modification time, for sync to compare and downloads
/// to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub algorithm: ChecksumAlgorithm,
    pub part_size: u64,
    pub parts: u64,
    pub composite: Digest,
    pub doubling_every: Option<u32>,
    pub modified: Option<Timestamp>,
}

impl Record {
    /// The value: `v1 part-size=N parts=M sha256=BASE64` (`crc64nvme=` for CRC-64/NVME parts),
    /// then ` doubling-every=K` when parts grow and ` mtime=SECONDS.NANOSECONDS` (since the
    /// Unix epoch) for a file.
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
        if let Some(modified) = self.modified {
            let nanos = modified.as_nanosecond();
            let (seconds, fraction) = (
                nanos.div_euclid(1_000_000_000),
                nanos.rem_euclid(1_000_000_000),
            );
            value.push_str(&format!(" mtime={seconds}.{fraction:09}"));
        }
        value
    }

    /// Where the parts end.
    pub fn part_sizes(&self) -> PartSizes {
        match self.doubling_every {
            Some(every) => PartSizes::Growing {
                first: self.part_size,
                every,
            },
            None => PartSizes::Uniform(self.part_size),
        }
    }

    /// Reads a metadata value written by [`Record::to_metadata`]; `key=value` fields after the
    /// composite that it does not know are ignored (a later version's).
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
        let composite = from_base64(composite).filter(|bytes| bytes.len() == 32)?;
        let composite = Digest::from_bytes(&composite);
        let (mut doubling_every, mut modified) = (None, None);
        for field in fields {
            match field.split_once('=')? {
                ("doubling-every", every) => doubling_every = Some(every.parse().ok()?),
                ("mtime", time) => modified = Some(parse_mtime(time)?),
                _ => {}
            }
        }
        (part_size > 0 && doubling_every != Some(0)).then_some(Self {
            algorithm,
            part_size,
            parts,
            composite,
            doubling_every,
            modified,
        })
    }

    /// Why this record cannot describe an object of `size` bytes, if it cannot. A record is
    /// input from whoever wrote the object: one outside S3's limits (over 10,000 parts, parts
    /// but the last under 5 MiB or over 5 GiB) or whose parts do not add up to the object
    /// would turn a download into millions of requests, or fail a good one.
    pub fn implausible(&self, size: u64) -> Option<String> {
        let parts = self.parts;
        if parts > plan::MAX_PARTS {
            return Some(format!("it says {parts} parts, over S3's 10,000"));
        }
        if parts > 1 && !(plan::MIN_PART_SIZE..=plan::MAX_PART_SIZE).contains(&self.part_size) {
            return Some(format!(
                "its parts of {} are outside S3's 5 MiB to 5 GiB",
                Size(self.part_size)
            ));
        }
        if !self.part_sizes().fits(size, parts) {
            return Some(format!(
                "its {parts} part(s) of {} do not add up to the object's {size} bytes",
                Size(self.part_size)
            ));
        }
        None
    }
}

/// `SECONDS.NANOSECONDS` (nine digits) since the Unix epoch.
fn parse_mtime(text: &str) -> Option<Timestamp> {
    let (seconds, nanos) = text.split_once('.')?;
    let seconds: i64 = seconds.parse().ok()?;
    let nanos: i32 = nanos.parse().ok().filter(|_| nanos.len() == 9)?;
    Timestamp::new(seconds, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::algorithm::sha256;

    #[test]
    fn record_round_trips_through_metadata_and_checks_the_size() {
        let record = Record {
            algorithm: ChecksumAlgorithm::Sha256,
            part_size: 5 << 20,
            parts: 3,
            composite: sha256(b"x"),
            doubling_every: None,
            modified: None,
        };
        let value = record.to_metadata();
        assert!(
            value.starts_with("v1 part-size=5242880 parts=3 sha256="),
            "{value}"
        );
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        assert_eq!(record.implausible((10 << 20) + 1), None);
        assert!(record.implausible(10 << 20).is_some(), "2 parts, not 3");
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
    fn a_files_modification_time_round_trips_and_unknown_fields_are_ignored() {
        let modified = Timestamp::new(1_733_280_000, 120_000_009).unwrap();
        let record = Record {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            part_size: 16,
            parts: 1,
            composite: sha256(b"x"),
            doubling_every: None,
            modified: Some(modified),
        };
        let value = record.to_metadata();
        assert!(value.ends_with(" mtime=1733280000.120000009"), "{value}");
        assert_eq!(Record::from_metadata(&value), Some(record.clone()));
        let later = format!("{value} colour=blue");
        assert_eq!(Record::from_metadata(&later), Some(record.clone()));
        let before_epoch = Record {
            modified: Some(Timestamp::new(-2, 500_000_000).unwrap()),
            ..record.clone()
        };
        assert_eq!(
            Record::from_metadata(&before_epoch.to_metadata()),
            Some(before_epoch)
        );
        for bad in [" mtime=12", " mtime=12.5", " mtime=x.000000000", " stray"] {
            assert_eq!(
                Record::from_metadata(&format!("{value}{bad}")),
                None,
                "{bad}"
            );
        }
    }
}
