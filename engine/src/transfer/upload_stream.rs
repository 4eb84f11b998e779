//! Stream (e.g. standard input) -> object, in bounded memory: the calling thread reads the
//! stream into part buffers; the pool's workers hash and send each full buffer and hand it
//! back. At most `concurrency + 1` buffers exist (one filling, the others in flight), each the
//! size of the current part ([`StreamPlan`]).
//!
//! A stream cannot be read twice: unlike a file upload, a failed multipart upload is aborted,
//! never restarted. A stream shorter than one part goes up in one PutObject, with s3mt's
//! integrity record; a longer one has each part's checksum checked by the server on arrival,
//! and its record follows the data in an object tag (metadata is fixed at
//! CreateMultipartUpload, before the data is read). While its multipart upload is open, a
//! journal names it, so that the next stream upload to the key aborts it if this run is
//! killed outright.

use std::io::{ErrorKind as IoErrorKind, Read};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::multipart::Upload;
use super::options::TransferOptions;
use super::part_body::PartBody;
use super::progress::{Event, Progress};
use super::resume::StreamJournal;
use super::session::Transfer;
use super::summary::TransferSummary;
use crate::error::{Error, Result};
use crate::integrity::Verification;
use crate::integrity::algorithm::{Digest, record_composite};
use crate::integrity::record::{METADATA_HEADER, Record};
use crate::plan::{MAX_PARTS, MAX_SINGLE_PUT, Part, StreamPlan};
use crate::s3::xml::CompletedPart;
use crate::size::Size;

pub(crate) fn upload_stream(
    transfer: &Transfer<'_>,
    reader: &mut dyn Read,
    options: &TransferOptions,
) -> Result<TransferSummary> {
    let started = Instant::now();
    options.object.validate()?;
    let config = transfer.config();
    let progress = transfer.progress;
    let plan = StreamPlan::new(config.part_size, options.expected_size)?;
    let mut upload = Upload {
        transfer,
        // The content type is guessed from the key: a stream has no file name.
        object_headers: options.object.object_headers(Path::new(transfer.key())),
        condition: options.object.condition_headers(),
        checksummed: true,
    };
    let algorithm = config.checksum_algorithm;
    let mut first = Vec::new();
    fill(reader, &mut first, plan.part_size(1), progress)?;
    // A first part that is not full is the whole stream; a full one may be too.
    let mut second = Vec::new();
    if first.len() as u64 == plan.part_size(1) {
        fill(reader, &mut second, plan.part_size(2), progress)?;
    }
    if second.is_empty() && first.len() as u64 <= MAX_SINGLE_PUT {
        let digest = algorithm.digest(&first);
        // As for a file: an empty object has no parts.
        let parts: &[_] = if first.is_empty() { &[] } else { &[digest] };
        let record = Record {
            algorithm,
            part_size: (first.len() as u64).max(1),
            parts: parts.len() as u64,
            composite: record_composite(parts),
            doubling_every: None,
            modified: None,
        };
        upload
            .object_headers
            .push((METADATA_HEADER.into(), record.to_metadata()));
        let size = first.len() as u64;
        progress.send(|| Event::Planned {
            total_bytes: size,
            part_size: size,
            parts: 1,
        });
        upload.put_object(PartBody::buffer(&first), &digest)?;
        return Ok(TransferSummary {
            bytes: size,
            parts: 1,
            elapsed: started.elapsed(),
            verification: Verification::SentWithChecksums(algorithm),
        });
    }
    progress.send(|| Event::Planned {
        total_bytes: options.expected_size.unwrap_or(0),
        part_size: plan.part_size(1),
        parts: 0,
    });
    let journal = config.state_dir.as_deref().map(|dir| {
        transfer.session.clean_old_state_once(dir);
        StreamJournal::new(dir, transfer)
    });
    if let Some(journal) = &journal {
        journal.abort_left_over(transfer);
    }
    let upload_id = upload.create()?;
    let note = journal.and_then(|journal| journal.begin(&upload_id));
    let pipeline = Pipeline {
        upload: &upload,
        upload_id: &upload_id,
        done: Mutex::new(Vec::new()),
        error: Mutex::new(None),
    };
    let total = pipeline.run(reader, plan, [first, second]);
    let completed = total.and_then(|total| {
        let mut done = pipeline
            .done
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        done.sort_by_key(|(part, ..)| part.number);
        let parts: Vec<CompletedPart> = done.iter().map(|(part, ..)| part.clone()).collect();
        let whole = algorithm.combine_all(done.iter().map(|(_, digest, len)| (*digest, *len)));
        upload.complete(&upload_id, &parts, whole)?;
        let digests: Vec<Digest> = done.iter().map(|(_, digest, _)| *digest).collect();
        Ok((total, digests))
    });
    let finished = completed.map_err(|error| upload.abort_after(error, &upload_id));
    // Completed or aborted: nothing is left for a later run to abort.
    if let Some(note) = note {
        note.remove();
    }
    let (total, digests) = finished?;
    // The record can only follow the data: it goes in a tag. Parts that never grew are
    // uniform, which lets downloads check each part as it lands.
    let grew = digests.len() as u64 > plan.doubling_every().map_or(u64::MAX, u64::from);
    let record = Record {
        algorithm,
        part_size: plan.part_size(1),
        parts: digests.len() as u64,
        composite: record_composite(&digests),
        doubling_every: plan.doubling_every().filter(|_| grew),
        modified: None,
    };
    let verification = match upload.tag_record(&record) {
        Ok(()) => Verification::SentWithChecksums(algorithm),
        Err(_) => Verification::SentWithoutRecord(algorithm),
    };
    Ok(TransferSummary {
        bytes: total,
        parts: digests.len() as u64,
        elapsed: started.elapsed(),
        verification,
    })
}

/// Reads until `buffer` holds `size` bytes or the stream ends (`buffer` is cleared first).
fn fill(reader: &mut dyn Read, buffer: &mut Vec<u8>, size: u64, progress: &Progress) -> Result<()> {
    progress.check_cancelled()?;
    buffer.clear();
    let size = usize::try_from(size).map_err(|_| Error::invalid("part size too large"))?;
    buffer.reserve_exact(size);
    let mut limited = reader.take(size as u64);
    loop {
        match limited.read_to_end(buffer) {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == IoErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::local_io("cannot read the input stream", err)),
        }
    }
}

/// Parts in flight: the reader hands full buffers to the workers, they hand them back.
struct Pipeline<'a> {
    upload: &'a Upload<'a>,
    upload_id: &'a str,
    /// The parts sent, with their checksums and lengths.
    done: Mutex<Vec<(CompletedPart, Digest, u64)>>,
    /// The first failure; the reader stops at it.
    error: Mutex<Option<Error>>,
}

impl Pipeline<'_> {
    /// Sends the two parts already read, then the rest of the stream; returns its size.
    fn run(&self, reader: &mut dyn Read, plan: StreamPlan, first_two: [Vec<u8>; 2]) -> Result<u64> {
        let transfer = self.upload.transfer;
        let workers = transfer.config().concurrency;
        // Rendezvous: a buffer is handed over only when a worker is free to take it.
        let (full_tx, full_rx) = crossbeam_channel::bounded::<(Part, Vec<u8>)>(0);
        let (empty_tx, empty_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
        let mut read_error = None;
        let mut total = 0;
        transfer.session.pool.in_place_scope(|scope| {
            for _ in 0..workers {
                let (full_rx, empty_tx) = (full_rx.clone(), empty_tx.clone());
                scope.spawn(move |_| self.send_parts(&full_rx, &empty_tx));
            }
            drop(full_rx);
            let outcome = self.read_parts(reader, plan, first_two, &full_tx, &empty_rx);
            drop(full_tx);
            match outcome {
                Ok(bytes) => total = bytes,
                Err(err) => read_error = Some(err),
            }
        });
        let sent_error = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (sent_error, read_error) {
            (Some(err), _) | (None, Some(err)) => Err(err),
            (None, None) => Ok(total),
        }
    }

    /// The calling thread: cuts the stream into parts and hands them over, reusing buffers
    /// once `concurrency + 1` exist.
    fn read_parts(
        &self,
        reader: &mut dyn Read,
        plan: StreamPlan,
        first_two: [Vec<u8>; 2],
        full: &Sender<(Part, Vec<u8>)>,
        empty: &Receiver<Vec<u8>>,
    ) -> Result<u64> {
        let progress = self.upload.transfer.progress;
        let most_buffers = self.upload.transfer.config().concurrency + 1;
        let mut buffers = 2;
        let mut offset = 0;
        let mut number = 1u32;
        let mut pending = Vec::from(first_two);
        pending.reverse();
        loop {
            let size = plan.part_size(number);
            let buffer = match pending.pop() {
                Some(buffer) => buffer,
                None => {
                    let mut buffer = if buffers < most_buffers {
                        buffers += 1;
                        Vec::new()
                    } else {
                        // Waits for a worker to finish a part (workers always hand back).
                        empty.recv().unwrap_or_default()
                    };
                    if self.failed() {
                        // A worker's error is reported by `run`; a cancellation here.
                        progress.check_cancelled()?;
                        return Ok(offset);
                    }
                    fill(reader, &mut buffer, size, progress)?;
                    buffer
                }
            };
            let len = buffer.len() as u64;
            if len == 0 {
                return Ok(offset);
            }
            if u64::from(number) > MAX_PARTS {
                return Err(Error::invalid(format!(
                    "the stream is longer than 10,000 parts can hold ({} read so far); give \
                     its size (expected size) so the part size can be chosen for it",
                    Size(offset)
                )));
            }
            let part = Part {
                number,
                offset,
                len,
            };
            if full.send((part, buffer)).is_err() {
                return Ok(offset);
            }
            offset += len;
            if len < size {
                return Ok(offset);
            }
            number += 1;
        }
    }

    /// A worker: hashes and sends each part it is handed, then hands the buffer back.
    fn send_parts(&self, full: &Receiver<(Part, Vec<u8>)>, empty: &Sender<Vec<u8>>) {
        for (part, buffer) in full {
            if !self.failed() {
                let digest = self
                    .upload
                    .transfer
                    .config()
                    .checksum_algorithm
                    .digest(&buffer);
                let sent = self.upload.upload_part(
                    self.upload_id,
                    part,
                    PartBody::buffer(&buffer),
                    &digest,
                );
                match sent {
                    Ok(done) => self
                        .done
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((done, digest, part.len)),
                    Err(err) => {
                        self.error
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(err);
                    }
                }
            }
            let _ = empty.send(buffer);
        }
    }

    fn failed(&self) -> bool {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
            || self.upload.transfer.progress.check_cancelled().is_err()
    }
}
