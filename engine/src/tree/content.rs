//! `sync --checksum`: whether a local file's bytes are the ones an object's integrity data
//! describes (s3mt's record, a whole-object checksum, an MD5 ETag), read once from a map.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};
use crate::integrity::expected::Expected;
use crate::integrity::in_order::InOrder;
use crate::mapped::{Mapped as _, SourceMap};
use crate::transfer::progress::REPORT_EVERY;

/// Whether `path` holds the bytes `expected` describes; `false` when there is nothing to
/// compare with.
pub(crate) fn file_matches(path: &Path, expected: &Expected) -> Result<bool> {
    if *expected == Expected::Nothing {
        return Ok(false);
    }
    let unreadable = |err| Error::local_io(format_args!("cannot read {}", path.display()), err);
    let file = File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let map = SourceMap::new(&file, len).map_err(unreadable)?;
    let mut check = InOrder::new(expected.clone());
    let len = usize::try_from(len).map_err(|_| Error::invalid("file too large to map"))?;
    map.scan(0..len, REPORT_EVERY, |bytes| check.update(bytes));
    Ok(check.finish().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::algorithm::ChecksumAlgorithm;

    #[test]
    fn a_file_matches_only_the_checksum_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world!").unwrap();
        let algorithm = ChecksumAlgorithm::Crc64Nvme;
        let same = Expected::Object(algorithm, algorithm.digest(b"hello world!"));
        let other = Expected::Object(algorithm, algorithm.digest(b"hello world?"));
        assert!(file_matches(&path, &same).unwrap());
        assert!(!file_matches(&path, &other).unwrap());
        assert!(!file_matches(&path, &Expected::Nothing).unwrap());
        assert!(file_matches(&dir.path().join("missing"), &same).is_err());
    }
}
