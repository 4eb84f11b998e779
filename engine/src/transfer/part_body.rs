//! The body of one part as it is sent: a range of the source file's map or a stream's buffer,
//! read out at the pace of the bandwidth cap, with progress reported every MiB and, for a map, the pages already sent dropped
//! from the process so resident memory stays flat.

use std::io::Read;

use super::progress::{PartAttempts, REPORT_EVERY};
use crate::mapped::{self, Mapped as _, SourceMap};

/// The bytes of one request body: a range of the source map, whose pages are dropped from
/// the process once sent, or a stream's buffer.
#[derive(Clone, Copy)]
pub(crate) struct PartBody<'a> {
    bytes: &'a [u8],
    /// The map and the offset of `bytes` in it.
    map: Option<(&'a SourceMap, usize)>,
}

impl<'a> PartBody<'a> {
    /// `len` bytes of `map` from `offset` (within the map, so within usize).
    pub fn mapped(map: &'a SourceMap, offset: u64, len: u64) -> Self {
        let start = offset as usize;
        Self {
            bytes: &map.bytes()[start..start + len as usize],
            map: Some((map, start)),
        }
    }

    /// A buffer's bytes.
    pub fn buffer(bytes: &'a [u8]) -> Self {
        Self { bytes, map: None }
    }

    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// A reader of the bytes for one attempt, reporting to `attempts`.
    pub fn reader(self, attempts: &'a PartAttempts<'a>) -> PartReader<'a> {
        PartReader {
            body: self,
            attempts,
            position: 0,
            released: 0,
        }
    }
}

/// Streams one body: reports progress every [`REPORT_EVERY`] bytes and, for a map, drops the
/// pages already sent from the process.
pub(crate) struct PartReader<'a> {
    body: PartBody<'a>,
    attempts: &'a PartAttempts<'a>,
    position: usize,
    released: usize,
}

impl PartReader<'_> {
    fn report(&mut self) {
        self.attempts
            .moved(self.position as u64 - self.attempts.reported().get());
        if let Some((map, start)) = self.body.map {
            map.release(start + self.released..start + self.position);
            // The next release starts on the page boundary at or before the position.
            let page = mapped::page_size();
            self.released = ((start + self.position) / page * page).saturating_sub(start);
        } else {
            // Nothing to release in a buffer: only the next report is due a MiB from here.
            self.released = self.position;
        }
    }
}

impl Read for PartReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.attempts.progress().check_cancelled().is_err() {
            return Err(std::io::Error::other("cancelled"));
        }
        let remaining = &self.body.bytes[self.position..];
        let n = self.attempts.pace(remaining.len().min(buf.len()));
        buf[..n].copy_from_slice(&remaining[..n]);
        self.position += n;
        if self.position - self.released >= REPORT_EVERY || self.position == self.body.bytes.len() {
            self.report();
        }
        Ok(n)
    }
}
