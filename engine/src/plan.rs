//! Cutting an object into parts: S3's multipart limits and the automatic part-size growth. Pure.

use crate::error::{Error, Result};
use crate::size::{GIB, MIB, format_size};
/// Smallest part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// Largest object a multipart upload can build: 5 GiB x 10,000 (48.8 TiB).
pub const MAX_OBJECT_SIZE: u64 = MAX_PART_SIZE * MAX_PARTS;
/// Largest object one PutObject may carry.
pub const MAX_SINGLE_PUT: u64 = 5 * GIB;
/// Part size used when none is given; grows for objects over 10,000 x this.
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;

/// A contiguous byte range of the object: one multipart part or one ranged GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// 1-based part number.
    pub number: u32,
    /// Offset of the first byte in the object.
    pub offset: u64,
    /// Length in bytes (only the last part may be shorter than the part size).
    pub len: u64,
}

impl Part {
    /// One past the last byte (`offset + len`).
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Equal-sized parts covering `total` bytes; the last part holds the remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    /// Object size in bytes.
    pub total: u64,
    /// Size of every part but the last.
    pub part_size: u64,
}

impl PartPlan {
    /// Number of parts (0 for an empty object).
    pub fn count(&self) -> u64 {
        self.total.div_ceil(self.part_size)
    }

    /// The part at 0-based `index` (which must be below [`PartPlan::count`]).
    pub fn part(&self, index: u64) -> Part {
        let offset = index * self.part_size;
        Part {
            number: u32::try_from(index + 1).unwrap_or(u32::MAX),
            offset,
            len: self.part_size.min(self.total.saturating_sub(offset)),
        }
    }

    /// The parts in order.
    pub fn parts(&self) -> impl Iterator<Item = Part> + Clone + use<> {
        let plan = *self;
        (0..self.count()).map(move |index| plan.part(index))
    }
}

/// How a file of a given size goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadPlan {
    /// One PutObject.
    Single,
    /// A multipart upload with these parts.
    Multipart(PartPlan),
}

/// Checks a part size the user asked for against S3's limits. Never adjusts it.
pub fn validate_part_size(part_size: u64) -> Result<()> {
    if (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "part size {} is outside S3's limits of 5 MiB to 5 GiB",
            format_size(part_size)
        )))
    }
}

/// Checks the size below which a file goes up as a single PutObject.
pub fn validate_threshold(threshold: u64) -> Result<()> {
    if (1..=MAX_SINGLE_PUT).contains(&threshold) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "multipart threshold {} must be between 1 byte and 5 GiB (the PutObject limit)",
            format_size(threshold)
        )))
    }
}

/// Plans the upload of `size` bytes.
///
/// Files of at most `threshold` bytes go up in one PutObject. Larger ones use `requested` part
/// size when given (refused if the object would need more than 10,000 parts), otherwise
/// [`DEFAULT_PART_SIZE`] grown to a whole number of MiB so the object fits in 10,000 parts.
pub fn plan_upload(size: u64, requested: Option<u64>, threshold: u64) -> Result<UploadPlan> {
    validate_threshold(threshold)?;
    if size <= threshold {
        return Ok(UploadPlan::Single);
    }
    if size > MAX_OBJECT_SIZE {
        return Err(Error::invalid(format!(
            "{} is larger than the largest S3 object, {} (5 GiB x 10,000 parts)",
            format_size(size),
            format_size(MAX_OBJECT_SIZE)
        )));
    }
    let part_size = match requested {
        Some(part_size) => {
            validate_part_size(part_size)?;
            let needed = size.div_ceil(part_size);
            if needed > MAX_PARTS {
                let smallest = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
                return Err(Error::invalid(format!(
                    "part size {} would cut {} into {needed} parts, over S3's limit of 10,000; \
                     use at least {} (or leave the part size unset to choose automatically)",
                    format_size(part_size),
                    format_size(size),
                    format_size(smallest)
                )));
            }
            part_size
        }
        None => DEFAULT_PART_SIZE.max(size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB),
    };
    Ok(UploadPlan::Multipart(PartPlan {
        total: size,
        part_size,
    }))
}

/// Plans the ranged GETs of a `size`-byte object, `range_size` bytes each (validated by the
/// caller's config like a part size).
pub fn plan_download(size: u64, range_size: u64) -> PartPlan {
    PartPlan {
        total: size,
        part_size: range_size.max(1),
    }
}

/// Parts of one size in a row before a stream of unknown size doubles its part size.
pub const STREAM_DOUBLING_EVERY: u32 = 1000;

/// The part sizes of a stream (e.g. standard input), part by part. Every part but the last
/// is full, so the sizes depend on the part number alone.
///
/// With the stream's size known up front, one part size fits it (as for a file). Otherwise the
/// part size starts at the one asked for (default 16 MiB) and doubles every
/// [`STREAM_DOUBLING_EVERY`] parts up to 5 GiB: from 16 MiB, 10,000 parts hold 12.9 TiB, while
/// a stream of a few GiB never needs parts over 16 MiB. (No schedule that starts below 5 GiB can
/// reach S3's 48.8 TiB maximum: that takes 10,000 parts of exactly 5 GiB. Give the size for
/// streams larger than [`StreamPlan::capacity`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPlan {
    first: u64,
    doubling_every: Option<u32>,
}

impl StreamPlan {
    /// Plans a stream: `requested` part size (validated), and `expected_size` when known.
    pub fn new(requested: Option<u64>, expected_size: Option<u64>) -> Result<Self> {
        if let Some(part_size) = requested {
            validate_part_size(part_size)?;
        }
        let Some(expected) = expected_size else {
            return Ok(Self {
                first: requested.unwrap_or(DEFAULT_PART_SIZE),
                doubling_every: Some(STREAM_DOUBLING_EVERY),
            });
        };
        let first = match plan_upload(expected, requested, 1)? {
            UploadPlan::Multipart(plan) => plan.part_size,
            UploadPlan::Single => requested.unwrap_or(DEFAULT_PART_SIZE),
        };
        Ok(Self {
            first,
            doubling_every: None,
        })
    }

    /// The size of part `number` (1-based).
    pub fn part_size(&self, number: u32) -> u64 {
        grown_part_size(self.first, self.doubling_every, number)
    }

    /// Every how many parts the part size doubles (`None`: it never grows).
    pub fn doubling_every(&self) -> Option<u32> {
        self.doubling_every
    }

    /// The most bytes the plan's 10,000 parts can hold.
    pub fn capacity(&self) -> u64 {
        (1..=MAX_PARTS as u32)
            .map(|number| self.part_size(number))
            .sum()
    }
}

/// The size of part `number` (1-based) when parts start at `first` and double every
/// `doubling_every` parts (never, when `None`), up to 5 GiB.
pub fn grown_part_size(first: u64, doubling_every: Option<u32>, number: u32) -> u64 {
    let Some(every) = doubling_every.filter(|every| *every > 0) else {
        return first;
    };
    let doublings = (number.saturating_sub(1) / every).min(16);
    first.saturating_mul(1 << doublings).min(MAX_PART_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::TIB;

    /// Walks a stream of `total` bytes through `plan`, as the uploader cuts it: the number of
    /// parts, and the largest part.
    fn cut(plan: StreamPlan, total: u64) -> (u64, u64) {
        let (mut read, mut parts, mut largest) = (0, 0u64, 0);
        let mut previous = 0;
        while read < total {
            let size = plan.part_size(parts as u32 + 1);
            assert!(size >= previous, "part sizes never shrink");
            assert!((MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size));
            assert_eq!(size % MIB, 0, "whole MiB");
            previous = size;
            read += size.min(total - read);
            parts += 1;
            largest = largest.max(size);
        }
        (parts, largest)
    }

    #[test]
    fn a_stream_of_unknown_size_grows_its_parts_within_the_part_limit() {
        let plan = StreamPlan::new(None, None).unwrap();
        assert_eq!(plan.part_size(1), 16 * MIB);
        assert_eq!(plan.part_size(1000), 16 * MIB);
        assert_eq!(plan.part_size(1001), 32 * MIB);
        assert_eq!(plan.part_size(10_000), MAX_PART_SIZE);
        let capacity = plan.capacity();
        assert!(capacity > 12 * 1024 * GIB, "{}", format_size(capacity));
        assert_eq!(cut(plan, capacity), (MAX_PARTS, MAX_PART_SIZE));
        // Everyday streams keep everyday parts (and memory).
        assert_eq!(cut(plan, 10 * GIB), (640, 16 * MIB));
        assert_eq!(cut(plan, 100 * GIB).1, 64 * MIB);
        // A requested part size is where growth starts.
        let big = StreamPlan::new(Some(64 * MIB), None).unwrap();
        assert_eq!(cut(big, big.capacity()).0, MAX_PARTS);
        assert!(StreamPlan::new(Some(MIB), None).is_err());
    }

    #[test]
    fn a_stream_of_known_size_up_to_the_s3_maximum_fits() {
        // 48.8 TiB: 10,000 parts of 5 GiB, walked part by part without any data.
        let plan = StreamPlan::new(None, Some(MAX_OBJECT_SIZE)).unwrap();
        assert_eq!(cut(plan, MAX_OBJECT_SIZE), (MAX_PARTS, MAX_PART_SIZE));
        let plan = StreamPlan::new(None, Some(100 * GIB + 3)).unwrap();
        assert_eq!(plan.part_size(1), 16 * MIB);
        assert_eq!(cut(plan, 100 * GIB + 3).0, 6401);
        assert!(StreamPlan::new(None, Some(MAX_OBJECT_SIZE + 1)).is_err());
        assert!(StreamPlan::new(Some(5 * MIB), Some(MAX_OBJECT_SIZE)).is_err());
        let small = StreamPlan::new(None, Some(3)).unwrap();
        assert_eq!(small.part_size(7), DEFAULT_PART_SIZE);
    }

    fn multipart(plan: UploadPlan) -> PartPlan {
        match plan {
            UploadPlan::Multipart(plan) => plan,
            UploadPlan::Single => panic!("expected a multipart plan"),
        }
    }

    #[test]
    fn threshold_decides_single_or_multipart() {
        assert_eq!(plan_upload(0, None, 8 * MIB).unwrap(), UploadPlan::Single);
        assert_eq!(
            plan_upload(8 * MIB, None, 8 * MIB).unwrap(),
            UploadPlan::Single
        );
        let plan = multipart(plan_upload(8 * MIB + 1, None, 8 * MIB).unwrap());
        assert_eq!(plan.part_size, DEFAULT_PART_SIZE);
        assert_eq!(plan.count(), 1);
        assert!(validate_threshold(0).is_err());
        assert!(validate_threshold(MAX_SINGLE_PUT + 1).is_err());
    }

    #[test]
    fn parts_cover_the_object_exactly_with_a_short_last_part() {
        let plan = multipart(plan_upload(100 * MIB + 7, Some(5 * MIB), 5 * MIB).unwrap());
        let parts: Vec<Part> = plan.parts().collect();
        assert_eq!(parts.len(), 21);
        assert_eq!(
            parts[0],
            Part {
                number: 1,
                offset: 0,
                len: 5 * MIB
            }
        );
        assert_eq!(
            parts[20],
            Part {
                number: 21,
                offset: 100 * MIB,
                len: 7
            }
        );
        for pair in parts.windows(2) {
            assert_eq!(pair[0].end(), pair[1].offset);
        }
        assert_eq!(parts.last().unwrap().end(), 100 * MIB + 7);
    }

    #[test]
    fn exact_multiple_has_no_empty_tail() {
        let plan = multipart(plan_upload(20 * MIB, Some(5 * MIB), 5 * MIB).unwrap());
        assert_eq!(plan.count(), 4);
        assert!(plan.parts().all(|part| part.len == 5 * MIB));
    }

    #[test]
    fn user_part_size_outside_limits_is_refused_not_clamped() {
        for size in [0, MIN_PART_SIZE - 1, MAX_PART_SIZE + 1] {
            let err = plan_upload(GIB, Some(size), MIB).unwrap_err();
            assert!(err.to_string().contains("5 MiB to 5 GiB"), "{err}");
        }
        assert!(plan_upload(GIB, Some(MIN_PART_SIZE), MIB).is_ok());
        assert!(plan_upload(6 * GIB, Some(MAX_PART_SIZE), MIB).is_ok());
    }

    #[test]
    fn user_part_size_needing_over_10000_parts_is_refused_with_the_minimum() {
        let size = 10_000 * 5 * MIB + 1;
        let err = plan_upload(size, Some(5 * MIB), MIB).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("10001 parts"), "{message}");
        assert!(message.contains("use at least 6 MiB"), "{message}");
        assert_eq!(
            multipart(plan_upload(size - 1, Some(5 * MIB), MIB).unwrap()).count(),
            10_000
        );
    }

    #[test]
    fn default_part_size_grows_to_fit_10000_parts() {
        // Up to 10,000 x 16 MiB the default holds.
        let at_limit = multipart(plan_upload(10_000 * DEFAULT_PART_SIZE, None, MIB).unwrap());
        assert_eq!(at_limit.part_size, DEFAULT_PART_SIZE);
        assert_eq!(at_limit.count(), 10_000);
        for size in [
            10_000 * DEFAULT_PART_SIZE + 1,
            TIB,
            10 * TIB + 3,
            MAX_OBJECT_SIZE - 1,
        ] {
            let plan = multipart(plan_upload(size, None, MIB).unwrap());
            assert!(plan.count() <= MAX_PARTS, "{size}");
            assert_eq!(plan.part_size % MIB, 0);
            assert!(plan.part_size <= MAX_PART_SIZE);
        }
    }

    #[test]
    fn largest_object_fits_and_one_byte_more_is_refused() {
        let plan = multipart(plan_upload(MAX_OBJECT_SIZE, None, MIB).unwrap());
        assert_eq!((plan.part_size, plan.count()), (MAX_PART_SIZE, MAX_PARTS));
        assert_eq!(plan.parts().last().unwrap().number, 10_000);
        let err = plan_upload(MAX_OBJECT_SIZE + 1, None, MIB).unwrap_err();
        assert!(err.to_string().contains("largest S3 object"), "{err}");
    }

    #[test]
    fn download_ranges_cover_empty_and_odd_sizes() {
        assert_eq!(plan_download(0, MIB).count(), 0);
        let plan = plan_download(3 * MIB + 1, MIB);
        let lens: Vec<u64> = plan.parts().map(|part| part.len).collect();
        assert_eq!(lens, [MIB, MIB, MIB, 1]);
    }
}
