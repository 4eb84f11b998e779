//! Memory maps of the source and destination files, disk-space reservation, and dropping pages
//! already sent or written from the process. This is the only module with `unsafe` code.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut, Range};
use std::os::fd::AsRawFd;

use memmap2::{Mmap, MmapMut, MmapOptions};
use rayon::prelude::*;

/// Only this module's maps may be [`Mapped`]: `release` is sound only on shared file mappings.
mod sealed {
    pub trait Sealed {}
}

/// Bytes of this module's shared file maps: readable, and droppable from the resident set.
/// Sealed: `release` drops pages, which is harmless only for a shared file mapping (any other
/// memory would lose its contents), so no type outside this module can implement it.
pub(crate) trait Mapped: sealed::Sealed {
    /// The mapped bytes.
    fn bytes(&self) -> &[u8];

    /// Drops the whole pages inside `range` from this process's resident set. The data stays in
    /// the page cache (dirty pages are still written back), so reading the range again faults
    /// the same bytes back in.
    fn release(&self, range: Range<usize>) {
        if let Some(bytes) = self.bytes().get(range) {
            drop_resident_pages(bytes);
        }
    }

    /// Feeds `range` to `visit` `step` bytes at a time, dropping each step from the resident set
    /// once visited, so reading a whole file keeps resident memory at one step.
    fn scan(&self, range: Range<usize>, step: usize, mut visit: impl FnMut(&[u8])) {
        for start in range.clone().step_by(step.max(1)) {
            let piece = start..(start + step).min(range.end);
            visit(&self.bytes()[piece.clone()]);
            self.release(piece);
        }
    }
}

/// A read-only shared map of a file being uploaded (empty files are not mapped).
pub(crate) struct SourceMap {
    map: Option<Mmap>,
}

impl SourceMap {
    /// Maps the first `len` bytes of `file`.
    pub fn new(file: &File, len: u64) -> io::Result<Self> {
        if len == 0 {
            return Ok(Self { map: None });
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: the map is read-only and shared, and lives no longer than this value. Another
        // process may still change the file while it is mapped: writes then show up in the bytes
        // being sent (the upload checks size and mtime before completing), and truncation makes
        // reads past the new end raise SIGBUS, a documented limit of uploading from a map.
        let map = unsafe { MmapOptions::new().len(len).map(file)? };
        // Parts are read front to back; ask the kernel to read ahead generously.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Self { map: Some(map) })
    }
}

impl sealed::Sealed for SourceMap {}

impl Mapped for SourceMap {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}

/// The size of a huge page, below which a map does not ask for them.
const HUGE_PAGE: usize = 2 << 20;

/// A shared, writable map of a download's temporary file, with its space reserved on disk.
pub(crate) struct DestinationMap {
    map: Option<MmapMut>,
    /// The file, to start writing finished chunks back to disk early.
    file: Option<File>,
}

impl DestinationMap {
    /// Reserves `len` bytes for `file` (a full disk fails here, not later as SIGBUS) and maps it.
    /// `file` must be opened for reading and writing, and be the download's own: a new
    /// temporary file, or an interrupted run's partial file that this process holds the
    /// exclusive lock of ([`File::try_lock`]), so no other s3mt writes it meanwhile.
    pub fn new(file: &File, len: u64) -> io::Result<Self> {
        if len == 0 {
            return Ok(Self {
                map: None,
                file: None,
            });
        }
        let offset_len = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // SAFETY: a plain syscall on a file descriptor this function borrows for its duration.
        let status = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, offset_len) };
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status));
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: the file is the download's own (see above): a temporary file created for this
        // transfer, or a partial file this process holds the exclusive lock of, so no other
        // s3mt writes or truncates it while it is mapped. (A process that ignores the lock and
        // truncates the file breaks this map as it would any other: a SIGBUS, not a wrong
        // byte.) Its blocks are allocated above, so writes through the map cannot meet a full
        // disk. The map lives no longer than this value, and `par_chunks` hands out disjoint
        // slices of it, so no byte is aliased.
        let map = unsafe { MmapOptions::new().len(len).map_mut(file)? };
        // Every page is first touched by a write, and each fault allocates and zeroes a page:
        // where the file system has large folios (ext4 and XFS on recent kernels), this lets
        // one fault map 2 MiB instead of 4-64 KiB (a 1 GiB download: 2 000 faults, not 45 000;
        // 10% less CPU). Advisory: elsewhere it changes nothing. A map smaller than one such
        // page has nothing to gain from it (a tree of small files: one syscall less each).
        if len >= HUGE_PAGE {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        Ok(Self {
            map: Some(map),
            file: Some(file.try_clone()?),
        })
    }

    /// Disjoint writable chunks of `chunk_size` bytes (the last may be shorter), in order.
    pub fn par_chunks(
        &mut self,
        chunk_size: usize,
    ) -> impl IndexedParallelIterator<Item = WritableChunk<'_>> {
        let chunk_size = chunk_size.max(1);
        let file = self.file.as_ref();
        let bytes: &mut [u8] = self.map.as_deref_mut().unwrap_or_default();
        bytes
            .par_chunks_mut(chunk_size)
            .enumerate()
            .map(move |(index, bytes)| WritableChunk {
                bytes,
                file,
                offset: (index * chunk_size) as u64,
            })
    }

    /// The whole map as one chunk, for a download fetched in one request.
    pub fn whole(&mut self) -> WritableChunk<'_> {
        WritableChunk {
            bytes: self.map.as_deref_mut().unwrap_or_default(),
            file: None,
            offset: 0,
        }
    }
}

impl sealed::Sealed for DestinationMap {}

impl Mapped for DestinationMap {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}

/// One range of a [`DestinationMap`], written by one worker.
pub(crate) struct WritableChunk<'a> {
    bytes: &'a mut [u8],
    file: Option<&'a File>,
    /// Where `bytes` start in the file.
    offset: u64,
}

impl WritableChunk<'_> {
    /// Starts writing the chunk's dirty pages to disk without waiting for them, so the final
    /// sync finds little left to write and dirty pages do not pile up in memory. Advisory: a
    /// failure here shows up at the sync. Nothing to do for a [`DestinationMap::whole`] chunk:
    /// the sync follows at once.
    pub fn start_write_back(&self) {
        let (Some(file), Ok(offset), Ok(len)) = (
            self.file,
            libc::off64_t::try_from(self.offset),
            libc::off64_t::try_from(self.bytes.len()),
        ) else {
            return;
        };
        // SAFETY: a plain syscall on a file descriptor borrowed for its duration; it only
        // schedules writeback of the page cache and touches no memory of this process.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    /// Drops the whole pages inside `range` from the resident set. They belong to a shared file
    /// mapping, so written data stays in the page cache and reaches the file.
    pub fn release(&self, range: Range<usize>) {
        if let Some(bytes) = self.bytes.get(range) {
            drop_resident_pages(bytes);
        }
    }
}

impl Deref for WritableChunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl DerefMut for WritableChunk<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf only reads a constant of the system; it touches no memory of ours.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap_or(4096)
    })
}

/// `MADV_DONTNEED` on the whole pages that lie inside `bytes` (never a neighbour's page).
fn drop_resident_pages(bytes: &[u8]) {
    let page = page_size();
    let start = (bytes.as_ptr() as usize).next_multiple_of(page);
    let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
    if end > start {
        // SAFETY: only called (through `SourceMap` and `WritableChunk`) on bytes of this module's
        // shared file mappings, and the range lies within `bytes`. On shared file mappings
        // MADV_DONTNEED only unmaps the pages from this process: their contents stay in the page
        // cache (dirty pages are still written back), so no data changes or is lost. Any later
        // access faults the same bytes back in. Failure is harmless (the pages stay resident).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn written_chunks_reach_the_file_even_after_release() {
        let mut file = tempfile::tempfile().unwrap();
        let len = 3 * 1024 * 1024 + 5;
        let mut map = DestinationMap::new(&file, len as u64).unwrap();
        map.par_chunks(1024 * 1024)
            .enumerate()
            .for_each(|(index, mut chunk)| {
                chunk.fill(index as u8 + 1);
                let n = chunk.len();
                chunk.release(0..n);
            });
        drop(map);
        file.sync_all().unwrap();
        let mut back = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), len);
        assert!(back[..1024 * 1024].iter().all(|&b| b == 1));
        assert_eq!(back[len - 1], 4);
    }

    #[test]
    fn source_bytes_survive_release() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let map = SourceMap::new(&file, data.len() as u64).unwrap();
        map.release(0..data.len());
        assert_eq!(map.bytes(), &data[..]);
        assert!(SourceMap::new(&file, 0).unwrap().bytes().is_empty());
    }
}
