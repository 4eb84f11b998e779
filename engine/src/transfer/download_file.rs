//! Object -> file: learn size and ETag, reserve and map a temporary file beside the
//! destination (or an interrupted run's partial file), fill it with concurrent ranged GETs,
//! verify, sync, and rename it over the destination.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rayon::prelude::*;
use tempfile::NamedTempFile;

use super::journal::{Done, DownloadHeader, Journal};
use super::options::VerifyMode;
use super::progress::{Event, REPORT_EVERY};
use super::ranged::{Download, RemoteObject};
use super::resume;
use super::session::Transfer;
use super::summary::TransferSummary;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::Verification;
use crate::integrity::algorithm::{ChecksumAlgorithm, Digest, Hasher};
use crate::integrity::expected::Expected;
use crate::integrity::in_order::InOrder;
use crate::mapped::{DestinationMap, Mapped as _, WritableChunk};
use crate::plan::{self, DEFAULT_PART_SIZE, PartPlan};
use crate::size::Size;

/// How one file's download goes, beside the object and the destination.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DownloadOptions<'a> {
    pub verify: VerifyMode,
    /// What a listing said of the object: its size and ETag. A small object is then fetched
    /// in one GET, without a HEAD first.
    pub listed: Option<(u64, Option<&'a str>)>,
    /// Leaves the rename's directory sync to the caller (a tree syncs each directory once).
    pub defer_directory_sync: bool,
}

pub(crate) fn download_file(
    transfer: &Transfer<'_>,
    destination: &Path,
    options: DownloadOptions<'_>,
) -> Result<TransferSummary> {
    let started = Instant::now();
    let directory = destination_directory(destination)?;
    let config = transfer.config();
    let progress = transfer.progress;
    let download = Download { transfer };
    let default_range = config.part_size.unwrap_or(DEFAULT_PART_SIZE);
    let sync_directory = !options.defer_directory_sync;
    if let Some((size, etag)) = options.listed
        && size <= default_range
    {
        let temporary = temporary_file(destination, &directory)?;
        let (object, map, verification) = download.whole(etag, options.verify, |size| {
            progress.send(|| Event::Planned {
                total_bytes: size,
                part_size: size,
                parts: u64::from(size > 0),
            });
            reserve(&temporary, size, &directory)
        })?;
        commit(
            temporary,
            map,
            destination,
            &directory,
            object.modified,
            sync_directory,
        )?;
        return Ok(TransferSummary {
            bytes: object.size,
            parts: u64::from(object.size > 0),
            elapsed: started.elapsed(),
            verification,
        });
    }
    let object = download.head(options.verify)?;

    // With parts of one size (s3mt's record, or a composite checksum's), ranges are the
    // upload's parts, so each part's checksum is computed as it lands.
    let range_size = checked_as_they_land(&object.expected)
        .and_then(|(_, part_size)| part_size)
        .unwrap_or(default_range);
    let plan = plan::plan_download(object.size, range_size);
    let (temporary, journal) = match (&config.state_dir, &object.etag) {
        // Without an ETag, a later run could not tell whether the object changed; with one
        // range, there is nothing to resume.
        (Some(dir), Some(etag)) if plan.count() > 1 => {
            transfer.session.clean_old_state_once(dir);
            let header =
                resume::download_header(transfer, destination, &directory, etag, object.size, plan);
            resume::open_partial(transfer, dir, &header)?
        }
        _ => (temporary_file(destination, &directory)?, None),
    };
    let outcome = (|| -> Result<(DestinationMap, Verification)> {
        let mut map = reserve(&temporary, object.size, &directory)?;
        progress.send(|| Event::Planned {
            total_bytes: plan.total,
            part_size: plan.part_size,
            parts: plan.count(),
        });
        let verification = fetch_verified(&download, &object, plan, &mut map, journal.as_ref())?;
        Ok((map, verification))
    })();
    let (map, verification) = match outcome {
        Ok(done) => done,
        Err(error) => match journal {
            Some(journal) if error.kind().is_resumable() => {
                let partial = journal.header.partial.clone();
                // Disarmed: the partial file stays for the next run.
                let _ = temporary.into_temp_path().keep();
                return Err(error.note(format_args!(
                    "the partial download is kept in {}: run the same command again to resume, \
                     or delete it",
                    partial.display()
                )));
            }
            journal => {
                if let Some(journal) = journal {
                    journal.remove();
                }
                return Err(error);
            }
        },
    };
    commit(
        temporary,
        map,
        destination,
        &directory,
        object.modified,
        sync_directory,
    )?;
    if let Some(journal) = journal {
        journal.remove();
    }
    Ok(TransferSummary {
        bytes: object.size,
        parts: plan.count(),
        elapsed: started.elapsed(),
        verification,
    })
}

/// Fetches every range into the map and verifies the result. Corruption in flight cannot
/// be pinned to one range by a composite digest, so a mismatch fetches everything once
/// more; a second mismatch is reported.
fn fetch_verified(
    download: &Download<'_>,
    object: &RemoteObject,
    plan: PartPlan,
    map: &mut DestinationMap,
    journal: Option<&Journal<DownloadHeader>>,
) -> Result<Verification> {
    let chunk_size =
        usize::try_from(plan.part_size).map_err(|_| Error::invalid("part size too large"))?;
    let per_part = checked_as_they_land(&object.expected).map(|(algorithm, _)| algorithm);
    let progress = download.transfer.progress;
    let mut round = 1;
    loop {
        // Ranges an interrupted run finished are read back, not fetched (first round only:
        // a mismatch fetches everything).
        let resumed =
            |number: u32| round == 1 && journal.is_some_and(|j| j.done.contains_key(&number));
        let digests: Vec<Option<Digest>> = download.transfer.session.pool.install(|| {
            map.par_chunks(chunk_size)
                .enumerate()
                .map(|(index, chunk)| {
                    let part = plan.part(index as u64);
                    if resumed(part.number) {
                        progress.resumed(part);
                        return Ok(per_part.map(|algorithm| hash_chunk(&chunk, algorithm)));
                    }
                    let digest = download.range(object, part, chunk, per_part)?;
                    if let Some(journal) = journal {
                        // A range the journal misses is only fetched again.
                        let _ = journal.finished(&Done::range(part.number));
                    }
                    Ok(digest)
                })
                .collect::<Result<_>>()
        })?;
        match verify_download(&object.expected, plan, &digests, map) {
            Err(err) if round == 1 => progress.send(|| Event::Retry {
                part: 0,
                attempt: round,
                reason: err.to_string(),
                delay: Duration::ZERO,
                discarded: object.size,
            }),
            outcome => return outcome,
        }
        round += 1;
    }
}

/// The checksum of a chunk already in the file (a range an interrupted run fetched), dropping
/// its pages as it goes.
fn hash_chunk(chunk: &WritableChunk<'_>, algorithm: ChecksumAlgorithm) -> Digest {
    let mut hasher = Hasher::new(algorithm);
    for (index, piece) in chunk.chunks(REPORT_EVERY).enumerate() {
        hasher.update(piece);
        let start = index * REPORT_EVERY;
        chunk.release(start..start + piece.len());
    }
    hasher.finalize()
}

/// A hidden temporary file beside the destination, removed on drop unless committed.
fn temporary_file(destination: &Path, directory: &Path) -> Result<NamedTempFile> {
    let name = destination
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".s3mt-partial")
        .tempfile_in(directory)
        .map_err(|err| {
            Error::local_io(
                format_args!("cannot create a file in {}", directory.display()),
                err,
            )
        })
}

/// Reserves `size` bytes for the temporary file and maps it.
fn reserve(temporary: &NamedTempFile, size: u64, directory: &Path) -> Result<DestinationMap> {
    DestinationMap::new(temporary.as_file(), size).map_err(|err| {
        Error::local_io(
            format_args!("cannot reserve {} in {}", Size(size), directory.display()),
            err,
        )
    })
}

/// Unmaps the file, gives it the object's modification time, syncs it (the pages written
/// through the map with it), and renames it over the destination (keeping the permissions of
/// a file it replaces); then syncs the directory, unless `sync_directory` is off.
fn commit(
    temporary: NamedTempFile,
    map: DestinationMap,
    destination: &Path,
    directory: &Path,
    modified: Option<Timestamp>,
    sync_directory: bool,
) -> Result<()> {
    let local = |what: &str, err| {
        Error::local_io(format_args!("cannot {what} {}", destination.display()), err)
    };
    // Unmapped before the time is set: a write through the map would move it again. The
    // pages it dirtied stay in the page cache for the sync to write.
    drop(map);
    let file = temporary.as_file();
    if let Some(modified) = modified {
        file.set_modified(modified.into())
            .map_err(|err| local("set the modification time of", err))?;
    }
    file.sync_all().map_err(|err| local("write", err))?;
    let permissions = std::fs::metadata(destination)
        .map(|existing| existing.permissions())
        .unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
    file.set_permissions(permissions)
        .map_err(|err| local("set permissions of", err))?;
    temporary
        .persist(destination)
        .map_err(|err| local("rename the download to", err.error))?;
    if sync_directory {
        sync_directory_of(directory);
    }
    Ok(())
}

/// Makes the renames in `directory` durable (best effort: not every file system syncs
/// directories).
pub(crate) fn sync_directory_of(directory: &Path) {
    if let Ok(dir) = std::fs::File::open(directory) {
        let _ = dir.sync_all();
    }
}

/// How ranges are checked as they land, if they can be: the checksum each range's bytes get,
/// and the size ranges must have (`Some`: parts of one size, each a range, checked part by
/// part; `None`: any ranges, whose CRCs combine into the whole object's).
fn checked_as_they_land(expected: &Expected) -> Option<(ChecksumAlgorithm, Option<u64>)> {
    match (expected.per_part(), expected) {
        (Some((algorithm, sizes)), _) => Some((algorithm, Some(sizes.uniform()?))),
        (None, Expected::Object(algorithm, _)) if algorithm.combines() => Some((*algorithm, None)),
        _ => None,
    }
}

/// Checks the downloaded bytes against the object's integrity data: from the checksums of
/// the ranges as they landed when they can be, else by reading the file back in order.
fn verify_download(
    expected: &Expected,
    plan: PartPlan,
    digests: &[Option<Digest>],
    map: &DestinationMap,
) -> Result<Verification> {
    let landed: Option<Vec<Digest>> = digests.iter().copied().collect();
    match (checked_as_they_land(expected), landed) {
        (Some((_, Some(_))), Some(parts)) => return expected.verdict(expected.parts_match(&parts)),
        (Some((algorithm, None)), Some(ranges)) => {
            let lengths = (0..plan.count()).map(|index| plan.part(index).len);
            let whole = algorithm.combine_all(ranges.into_iter().zip(lengths));
            let matches = matches!(expected, Expected::Object(_, digest) if whole == Some(*digest));
            return expected.verdict(matches);
        }
        _ => {}
    }
    let mut check = InOrder::new(expected.clone());
    map.scan(0..map.bytes().len(), REPORT_EVERY, |bytes| {
        check.update(bytes)
    });
    check.finish()
}

/// The directory that will hold the destination file; it must exist.
fn destination_directory(destination: &Path) -> Result<PathBuf> {
    if destination.is_dir() {
        return Err(Error::invalid(format!(
            "{} is a directory; give a file name to download to",
            destination.display()
        )));
    }
    let directory = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(Error::new(
            ErrorKind::LocalIo,
            format!(
                "destination directory {} does not exist",
                directory.display()
            ),
        ));
    }
    Ok(directory)
}
