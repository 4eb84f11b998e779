//! File -> object: the part checksums in one parallel pass over the file's map, then one
//! PutObject, or Create -> UploadPart x N on the pool -> source check -> Complete, with the
//! upload aborted on any failure (or kept to resume, when a rerun can get past it).

use std::fs::{File, Metadata};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use rayon::prelude::*;

use super::journal::Done;
use super::multipart::Upload;
use super::part_body::PartBody;
use super::progress::{Event, REPORT_EVERY};
use super::resume::{self, ResumableUpload, Started};
use super::session::Transfer;
use super::summary::TransferSummary;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::Verification;
use crate::integrity::algorithm::{Digest, Hasher, record_composite};
use crate::integrity::record::{METADATA_HEADER, Record};
use crate::mapped::{Mapped as _, SourceMap};
use crate::plan::{self, PartPlan, UploadPlan};
use crate::s3::ObjectOptions;
use crate::s3::xml::CompletedPart;

pub(crate) fn upload_file(
    transfer: &Transfer<'_>,
    source: &Path,
    object: &ObjectOptions,
) -> Result<TransferSummary> {
    let started = Instant::now();
    object.validate()?;
    let config = transfer.config();
    let (file, metadata) = open_source(source)?;
    let size = metadata.len();
    let plan = plan::plan_upload(size, config.part_size, config.multipart_threshold)?;
    let map = SourceMap::new(&file, size)
        .map_err(|err| Error::local_io(format_args!("cannot map {}", source.display()), err))?;
    // One pass over the file computes every part's digest in parallel; sending then reads the
    // same pages from the cache.
    let parts = match plan {
        UploadPlan::Single => PartPlan {
            total: size,
            part_size: size.max(1),
        },
        UploadPlan::Multipart(plan) => plan,
    };
    let algorithm = config.checksum_algorithm;
    let digests = part_digests(transfer, &map, parts);
    let record = Record {
        algorithm,
        part_size: parts.part_size,
        parts: parts.count(),
        composite: record_composite(&digests),
        doubling_every: None,
        modified: Some(modified(&metadata)),
    };
    let mut object_headers = object.object_headers(source);
    object_headers.push((METADATA_HEADER.into(), record.to_metadata()));
    let upload = Upload {
        transfer,
        object_headers,
        condition: object.condition_headers(),
        checksummed: true,
    };
    let unchanged = || ensure_unchanged(source, &metadata);
    match plan {
        UploadPlan::Single => {
            transfer.progress.send(|| Event::Planned {
                total_bytes: size,
                part_size: size,
                parts: 1,
            });
            let digest = digests
                .first()
                .copied()
                .unwrap_or_else(|| algorithm.digest(&[]));
            // A change during the digest pass would otherwise surface as BadDigest retries.
            unchanged()?;
            upload.put_object(PartBody::mapped(&map, 0, size), &digest)?;
        }
        UploadPlan::Multipart(plan) => {
            let resumable = config.state_dir.as_deref().map(|dir| {
                transfer.session.clean_old_state_once(dir);
                ResumableUpload::new(dir, transfer, source, &metadata, plan, &record)
            });
            // The whole file's checksum, combined from the parts' (CRCs): a full-object upload
            // sends it on Complete.
            let whole = algorithm.combine_all(
                digests
                    .iter()
                    .enumerate()
                    .map(|(index, digest)| (*digest, plan.part(index as u64).len)),
            );
            let file = FileParts {
                upload: &upload,
                map: &map,
                plan,
                digests: &digests,
                whole,
                unchanged: &unchanged,
                resumable: resumable.as_ref(),
            };
            file.run()?;
        }
    }
    Ok(TransferSummary {
        bytes: size,
        parts: parts.count().max(1),
        elapsed: started.elapsed(),
        verification: Verification::SentWithChecksums(algorithm),
    })
}

/// Every part's checksum, computed in parallel on the pool, dropping each MiB once hashed.
fn part_digests(transfer: &Transfer<'_>, map: &SourceMap, plan: PartPlan) -> Vec<Digest> {
    let algorithm = transfer.config().checksum_algorithm;
    transfer.session.pool.install(|| {
        (0..plan.count())
            .into_par_iter()
            .map(|index| {
                let part = plan.part(index);
                let mut hasher = Hasher::new(algorithm);
                let range = part.offset as usize..part.end() as usize;
                map.scan(range, REPORT_EVERY, |bytes| hasher.update(bytes));
                hasher.finalize()
            })
            .collect()
    })
}

/// A file's modification time (the epoch when the file system keeps none).
pub(crate) fn modified(metadata: &Metadata) -> Timestamp {
    metadata
        .modified()
        .ok()
        .and_then(|time| Timestamp::try_from(time).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Opens a regular file for upload, with a clear error for anything else.
fn open_source(source: &Path) -> Result<(File, Metadata)> {
    let what = || format!("cannot read {}", source.display());
    let metadata = std::fs::metadata(source).map_err(|err| Error::local_io(what(), err))?;
    if metadata.is_dir() {
        return Err(Error::invalid(format!(
            "{} is a directory; give a file to upload",
            source.display()
        )));
    }
    let file = File::open(source).map_err(|err| Error::local_io(what(), err))?;
    Ok((file, metadata))
}

/// Fails if the source's size or modification time differ from when the upload started.
fn ensure_unchanged(source: &Path, before: &Metadata) -> Result<()> {
    let now = std::fs::metadata(source).map_err(|err| {
        Error::local_io(format_args!("cannot re-check {}", source.display()), err)
    })?;
    let mtime = |m: &Metadata| m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if now.len() != before.len() || mtime(&now) != mtime(before) {
        return Err(Error::new(
            ErrorKind::SourceChanged,
            format!(
                "{} changed while it was being uploaded (size or modification time)",
                source.display()
            ),
        ));
    }
    Ok(())
}

/// The multipart upload of a file's map.
struct FileParts<'a> {
    upload: &'a Upload<'a>,
    map: &'a SourceMap,
    plan: PartPlan,
    digests: &'a [Digest],
    /// The whole file's checksum, for a full-object upload.
    whole: Option<Digest>,
    /// Fails when the file changed since its parts were hashed.
    unchanged: &'a (dyn Fn() -> Result<()> + Sync),
    resumable: Option<&'a ResumableUpload>,
}

/// A failed multipart attempt, and whether starting the upload over may succeed.
struct Failure {
    error: Error,
    restartable: bool,
}

impl FileParts<'_> {
    /// Runs the multipart upload, restarting it once from scratch when the server dropped it
    /// (`NoSuchUpload`) or CompleteMultipartUpload kept failing after its retries.
    fn run(&self) -> Result<()> {
        let progress = self.upload.transfer.progress;
        progress.send(|| Event::Planned {
            total_bytes: self.plan.total,
            part_size: self.plan.part_size,
            parts: self.plan.count(),
        });
        match self.once() {
            Err(Failure {
                error,
                restartable: true,
            }) => {
                progress.send(|| Event::Retry {
                    part: 0,
                    attempt: 1,
                    reason: format!("restarting the upload: {error}"),
                    delay: Duration::ZERO,
                    discarded: self.plan.total,
                });
                self.once()
            }
            other => other,
        }
        .map_err(|failure| failure.error)
    }

    /// Create -> parts on the pool -> source check -> Complete; aborts the upload on failure.
    fn once(&self) -> Result<(), Failure> {
        let upload = self.upload;
        let terminal = |error| Failure {
            error,
            restartable: false,
        };
        let Started {
            upload_id,
            journal,
            resumed,
        } = resume::start_upload(upload, self.resumable, self.digests).map_err(terminal)?;
        let progress = upload.transfer.progress;
        let mut completing = false;
        let outcome = upload
            .transfer
            .session
            .pool
            .install(|| {
                (0..self.plan.count())
                    .into_par_iter()
                    .map(|index| {
                        let part = self.plan.part(index);
                        if let Some(done) = resumed.get(&part.number) {
                            progress.resumed(part);
                            return Ok(done.clone());
                        }
                        let body = PartBody::mapped(self.map, part.offset, part.len);
                        let digest = &self.digests[index as usize];
                        let done = upload.upload_part(&upload_id, part, body, digest)?;
                        if let Some(journal) = &journal {
                            // A part the journal misses is only sent again.
                            let _ = journal.finished(&Done {
                                part: part.number,
                                etag: Some(done.etag.clone()),
                                checksum: done.checksum.clone(),
                            });
                        }
                        Ok(done)
                    })
                    .collect::<Result<Vec<CompletedPart>>>()
            })
            .and_then(|parts| {
                (self.unchanged)()?;
                completing = true;
                upload.complete(&upload_id, &parts, self.whole)
            });
        let Err(error) = outcome else {
            if let Some(journal) = journal {
                journal.remove();
            }
            return Ok(());
        };
        let dropped = error.has_code("NoSuchUpload");
        let restartable = (dropped || completing)
            && !matches!(
                error.kind(),
                ErrorKind::Cancelled | ErrorKind::AlreadyExists
            );
        if !restartable && journal.is_some() && error.kind().is_resumable() {
            return Err(terminal(error.note(format_args!(
                "the upload is kept to resume: run the same command again, or discard it with \
                 `s3mt uploads abort {} --upload-id {upload_id}`",
                upload.transfer.object
            ))));
        }
        if let Some(journal) = journal {
            journal.remove();
        }
        Err(Failure {
            error: upload.abort_after(error, &upload_id),
            restartable,
        })
    }
}
