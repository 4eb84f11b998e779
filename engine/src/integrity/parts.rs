//! Where an object's parts end: what a check part by part needs to cut the bytes where the
//! upload did (s3mt's record, or the layout a server reports for a composite checksum). Pure.

use crate::plan;

/// The sizes of an object's parts, part by part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartSizes {
    /// Every part this many bytes but the last.
    Uniform(u64),
    /// Parts of `first` bytes, doubling every `every` parts (an s3mt stream's).
    Growing { first: u64, every: u32 },
    /// Each part's size, as the server reported them.
    Listed(Vec<u64>),
}

impl PartSizes {
    /// The size of part `number` (1-based); past a listed layout's end, everything left.
    pub fn size_of(&self, number: u32) -> u64 {
        match self {
            Self::Uniform(size) => *size,
            Self::Growing { first, every } => plan::grown_part_size(*first, Some(*every), number),
            Self::Listed(sizes) => number
                .checked_sub(1)
                .and_then(|index| sizes.get(index as usize))
                .copied()
                .unwrap_or(u64::MAX),
        }
    }

    /// The size of every part but the last, when they are all the same (ranges can then be
    /// the parts).
    pub fn uniform(&self) -> Option<u64> {
        match self {
            Self::Uniform(size) => Some(*size),
            _ => None,
        }
    }

    /// Whether `parts` parts cut this way hold exactly `size` bytes: every part but the last
    /// full, the last not empty (no parts for an empty object).
    pub fn fits(&self, size: u64, parts: u64) -> bool {
        if parts == 0 || size == 0 {
            return parts == 0 && size == 0;
        }
        if parts > plan::MAX_PARTS {
            return false;
        }
        if let Self::Uniform(part) = self {
            return *part > 0 && size.div_ceil(*part) == parts;
        }
        let mut covered: u64 = 0;
        for number in 1..parts {
            let part = self.size_of(number as u32);
            if part == 0 {
                return false;
            }
            covered = covered.saturating_add(part);
        }
        covered < size && size - covered <= self.size_of(parts as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_fit_only_the_sizes_their_parts_hold() {
        let uniform = PartSizes::Uniform(4);
        assert!(uniform.fits(9, 3) && uniform.fits(12, 3) && !uniform.fits(12, 4));
        assert!(!uniform.fits(13, 3) && uniform.fits(0, 0) && !uniform.fits(0, 1));
        assert!(!PartSizes::Uniform(0).fits(3, 1));
        // 4, 4, 8, 8, 16 ...
        let growing = PartSizes::Growing { first: 4, every: 2 };
        assert_eq!(growing.size_of(3), 8);
        assert!(growing.fits(25, 5) && growing.fits(40, 5) && !growing.fits(24, 5));
        let listed = PartSizes::Listed(vec![5, 3, 2]);
        assert!(listed.fits(10, 3) && listed.fits(9, 3) && !listed.fits(8, 3));
        assert_eq!(listed.size_of(4), u64::MAX);
        assert_eq!(listed.uniform(), None);
        assert!(!uniform.fits(u64::MAX, 10_001));
    }
}
