//! Object -> file: learn size and ETag, reserve and map a temporary file beside the destination,
//! fill it with concurrent ranged GETs (each `If-Match`), sync, and rename over the destination.

use std::io::Read;
use std::ops::{DerefMut, Range};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use tempfile::{NamedTempFile, TempPath};

use crate::checksum::{
    self, ChecksumAlgorithm, Digest, Expected, Hasher, InOrder, Record, Verification,
};
use crate::client::{Inner, Tagging, TransferSummary, VerifyMode};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Http, Payload};
use crate::journal::{self, Done, DownloadHeader, Journal};
use crate::location::S3Uri;
use crate::mapped::{DestinationMap, Mapped as _, WritableChunk};
use crate::plan::{self, DEFAULT_PART_SIZE, Part, PartPlan};
use crate::progress::{Event, Progress, REPORT_EVERY};
use crate::sign::Signer;
use crate::upload::worth_resuming;
use crate::xml;

pub(crate) fn download_file(
    inner: &Inner,
    source: &S3Uri,
    destination: &Path,
    progress: &Progress,
    verify: VerifyMode,
) -> Result<TransferSummary> {
    let started = Instant::now();
    source.require_object_key()?;
    let directory = destination_directory(destination)?;
    let signer = Signer::new(&inner.config, source.bucket())?;
    let (http, _cancellable) = progress.http(inner);
    let download = Download {
        inner,
        http: &http,
        signer: &signer,
        key: source.key(),
        progress,
    };
    let object = download.head(verify)?;

    // With s3mt's record of equal parts, ranges are the upload's parts, so each part's digest
    // is checked as it lands; otherwise the file is checked in order once complete.
    let range_size = match per_part_record(&object.expected) {
        Some(record) => record.part_size,
        None => inner.config.part_size.unwrap_or(DEFAULT_PART_SIZE),
    };
    let plan = plan::plan_download(object.size, range_size);
    let resumable = match (&inner.config.state_dir, &object.etag) {
        // Without an ETag, a later run could not tell whether the object changed.
        (Some(dir), Some(etag)) => {
            journal::clean_old_state(dir);
            Some(resumable(
                inner,
                source,
                destination,
                &directory,
                etag,
                &object,
                plan,
            ))
        }
        _ => None,
    };
    let (temporary, journal) = match &resumable {
        Some(header) => download.open_partial(&inner.config, header)?,
        None => (temporary_file(destination, &directory)?, None),
    };
    let outcome = (|| -> Result<(DestinationMap, Verification)> {
        let mut map = DestinationMap::new(temporary.as_file(), object.size).map_err(|err| {
            let size = plan::format_size(object.size);
            Error::local_io(
                format_args!("cannot reserve {size} in {}", directory.display()),
                err,
            )
        })?;
        progress.send(|| Event::Planned {
            total_bytes: plan.total,
            part_size: plan.part_size,
            parts: plan.count(),
        });
        let verification = download.fetch_verified(&object, plan, &mut map, journal.as_ref())?;
        Ok((map, verification))
    })();
    let (map, verification) = match outcome {
        Ok(done) => done,
        Err(error) => match journal {
            Some(journal) if worth_resuming(error.kind()) => {
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
    commit(temporary, map, destination, &directory)?;
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

/// The journal header of a resumable download: where its partial file is, and what it must
/// match (the object's ETag and size, the range size).
fn resumable(
    inner: &Inner,
    source: &S3Uri,
    destination: &Path,
    directory: &Path,
    etag: &str,
    object: &RemoteObject,
    plan: PartPlan,
) -> DownloadHeader {
    let directory = std::fs::canonicalize(directory).unwrap_or_else(|_| directory.to_path_buf());
    let name = destination
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy());
    DownloadHeader {
        endpoint: inner.config.endpoint.to_string(),
        bucket: source.bucket().to_owned(),
        key: source.key().to_owned(),
        destination: directory.join(&*name),
        partial: directory.join(format!(".{name}.s3mt-partial")),
        etag: etag.to_owned(),
        size: object.size,
        range_size: plan.part_size,
    }
}

/// `path` as a [`TempPath`]: removed on drop unless kept.
fn partial_path(path: &Path) -> Result<TempPath> {
    TempPath::try_from_path(path)
        .map_err(|err| Error::local_io(format_args!("cannot use {}", path.display()), err))
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

/// Writes the map out, syncs the file, and renames it over the destination (keeping the
/// permissions of a file it replaces).
fn commit(
    temporary: NamedTempFile,
    map: DestinationMap,
    destination: &Path,
    directory: &Path,
) -> Result<()> {
    let local = |what: &str, err| {
        Error::local_io(format_args!("cannot {what} {}", destination.display()), err)
    };
    map.flush().map_err(|err| local("write", err))?;
    drop(map);
    let file = temporary.as_file();
    file.sync_all().map_err(|err| local("write", err))?;
    let permissions = std::fs::metadata(destination)
        .map(|existing| existing.permissions())
        .unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
    file.set_permissions(permissions)
        .map_err(|err| local("set permissions of", err))?;
    temporary
        .persist(destination)
        .map_err(|err| local("rename the download to", err.error))?;
    // Make the rename itself durable (best effort: not every filesystem syncs directories).
    if let Ok(dir) = std::fs::File::open(directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// s3mt's record, when its parts are all the same size (ranges can then be its parts).
fn per_part_record(expected: &Expected) -> Option<&Record> {
    match expected {
        Expected::Record(record) if record.doubling_every.is_none() => Some(record),
        _ => None,
    }
}

/// Checks the downloaded bytes against the object's integrity data.
fn verify_download(
    expected: &Expected,
    digests: &[Option<Digest>],
    map: &DestinationMap,
) -> Result<Verification> {
    if let Some(record) = per_part_record(expected) {
        let parts: Option<Vec<Digest>> = digests.iter().copied().collect();
        return expected
            .verdict(parts.is_some_and(|parts| checksum::composite(&parts) == record.composite));
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

/// Where a range's bytes land: a chunk of the destination map, or a stream's buffer.
pub(crate) trait Landing: DerefMut<Target = [u8]> {
    /// Done with these bytes: a map drops their pages from memory.
    fn release(&mut self, _range: Range<usize>) {}

    /// Every byte of the range has landed: a map starts writing them to disk.
    fn landed(&mut self) {}
}

impl Landing for WritableChunk<'_> {
    fn release(&mut self, range: Range<usize>) {
        WritableChunk::release(self, range);
    }

    fn landed(&mut self) {
        self.start_write_back();
    }
}

impl Landing for &mut [u8] {}

pub(crate) struct RemoteObject {
    pub size: u64,
    pub etag: Option<String>,
    pub expected: Expected,
}

pub(crate) struct Download<'a> {
    pub inner: &'a Inner,
    /// The transfer's HTTP agent (its own when it can be cancelled).
    pub http: &'a Http,
    pub signer: &'a Signer,
    pub key: &'a str,
    pub progress: &'a Progress,
}

impl Download<'_> {
    /// Fetches every range into the map and verifies the result. Corruption in flight cannot
    /// be pinned to one range by a composite digest, so a mismatch fetches everything once
    /// more; a second mismatch is reported.
    fn fetch_verified(
        &self,
        object: &RemoteObject,
        plan: PartPlan,
        map: &mut DestinationMap,
        journal: Option<&Journal<DownloadHeader>>,
    ) -> Result<Verification> {
        let chunk_size =
            usize::try_from(plan.part_size).map_err(|_| Error::invalid("part size too large"))?;
        let per_part = per_part_record(&object.expected).map(|record| record.algorithm);
        let mut round = 1;
        loop {
            // Ranges an interrupted run finished are read back, not fetched (first round only:
            // a mismatch fetches everything).
            let resumed =
                |number: u32| round == 1 && journal.is_some_and(|j| j.done.contains_key(&number));
            let digests: Vec<Option<Digest>> = self.inner.pool.install(|| {
                map.par_chunks(chunk_size)
                    .enumerate()
                    .map(|(index, chunk)| {
                        let part = plan.part(index as u64);
                        if resumed(part.number) {
                            self.progress.resumed(part);
                            return Ok(per_part.map(|algorithm| hash_chunk(&chunk, algorithm)));
                        }
                        let digest = self.range(object, part, chunk, per_part)?;
                        if let Some(journal) = journal {
                            // A range the journal misses is only fetched again.
                            let _ = journal.finished(&Done::range(part.number));
                        }
                        Ok(digest)
                    })
                    .collect::<Result<_>>()
            })?;
            match verify_download(&object.expected, &digests, map) {
                Err(err) if round == 1 => self.progress.send(|| Event::Retry {
                    part: 0,
                    attempt: round,
                    reason: err.to_string(),
                    delay: std::time::Duration::ZERO,
                    discarded: object.size,
                }),
                outcome => return outcome,
            }
            round += 1;
        }
    }

    /// The partial file of a resumable download and its journal: the ones an interrupted run
    /// left when they match `header` (same object, same ETag), else fresh ones.
    fn open_partial(
        &self,
        config: &Config,
        header: &DownloadHeader,
    ) -> Result<(NamedTempFile, Option<Journal<DownloadHeader>>)> {
        let Some(dir) = &config.state_dir else {
            return Err(Error::invalid("resuming is off"));
        };
        let path = journal::path_for(
            dir,
            "download",
            &[
                &header.endpoint,
                &header.bucket,
                &header.key,
                &header.destination.to_string_lossy(),
            ],
        );
        let local = |err| {
            Error::local_io(
                format_args!("cannot open {}", header.partial.display()),
                err,
            )
        };
        if let Some(journal) = Journal::<DownloadHeader>::open(&path) {
            let partial = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&header.partial);
            match partial {
                Ok(file) if journal.header == *header => {
                    self.progress.send(|| {
                        Event::Notice(format!(
                            "resuming the interrupted download: {} of {} ranges are already there",
                            journal.done.len(),
                            header.size.div_ceil(header.range_size.max(1))
                        ))
                    });
                    let temporary = NamedTempFile::from_parts(file, partial_path(&header.partial)?);
                    return Ok((temporary, Some(journal)));
                }
                _ => {
                    if journal.header.etag != header.etag {
                        self.progress.send(|| {
                            Event::Notice(
                                "the object changed since the interrupted download: starting over"
                                    .to_owned(),
                            )
                        });
                    }
                    let _ = std::fs::remove_file(&journal.header.partial);
                    journal.remove();
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&header.partial)
            .map_err(local)?;
        let temporary = NamedTempFile::from_parts(file, partial_path(&header.partial)?);
        // Without a journal the download still works: it just cannot resume.
        let journal = Journal::create(&path, header.clone()).ok();
        Ok((temporary, journal))
    }

    /// HEAD: size, ETag, and what the bytes can be verified against; refused up front when
    /// verification is required and there is nothing to verify against.
    pub(crate) fn head(&self, verify: VerifyMode) -> Result<RemoteObject> {
        let object = self.head_once()?;
        if verify == VerifyMode::Require && object.expected == Expected::Nothing {
            return Err(Error::new(
                ErrorKind::Integrity,
                "the object carries no integrity data (no s3mt record, no whole-object checksum, \
                 no single-part MD5 ETag) and verification is required",
            ));
        }
        Ok(object)
    }

    fn head_once(&self) -> Result<RemoteObject> {
        self.inner.with_retries(0, self.progress, |_| {
            let request = self.signer.head_object(self.key, &self.inner.stamp()?);
            let response = self.http.send(&request, &[], Payload::None)?;
            let response = http::expect_status(response, &[200])?;
            let size = http::header(&response, "content-length")
                .and_then(|length| length.parse().ok())
                .ok_or_else(|| Error::new(ErrorKind::Protocol, "the server sent no object size"))?;
            let etag = http::header(&response, "etag").map(str::to_owned);
            let tagged = http::header(&response, "x-amz-tagging-count")
                .and_then(|count| count.trim().parse::<u32>().ok())
                .is_some_and(|count| count > 0);
            // A stream's record follows its data, in a tag: asked for only when there is one.
            let record = match http::header(&response, checksum::METADATA_HEADER) {
                Some(record) => Some(record.to_owned()),
                None if tagged => self.record_tag()?,
                None => None,
            };
            let expected = Expected::from_headers(
                size,
                record.as_deref(),
                |algorithm| http::header(&response, algorithm.header()),
                http::header(&response, "x-amz-checksum-type"),
                etag.as_deref(),
                http::header(&response, "x-amz-server-side-encryption") == Some("aws:kms"),
            )?;
            Ok(RemoteObject {
                size,
                etag,
                expected,
            })
        })
    }

    /// s3mt's record from the object's tags (one GetObjectTagging). Not allowed to read
    /// tags, or no such tag: no record.
    fn record_tag(&self) -> Result<Option<String>> {
        let tagging = self
            .inner
            .object_tagging(self.http, self.signer, self.key, self.progress);
        match tagging {
            Ok(Tagging::Tags(body)) => xml::parse_tag(&body, checksum::RECORD_TAG),
            Ok(Tagging::Unsupported) => Ok(None),
            Err(err) if err.is_retryable() => Err(err),
            Err(_) => Ok(None),
        }
    }

    /// Fetches `part` straight into `chunk` (its chunk of the map, or a stream's buffer),
    /// computing its checksum as it lands when `per_part` names the record's algorithm (ranges
    /// that are the record's parts).
    pub(crate) fn range(
        &self,
        object: &RemoteObject,
        part: Part,
        mut chunk: impl Landing,
        per_part: Option<ChecksumAlgorithm>,
    ) -> Result<Option<Digest>> {
        self.progress.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        let range = format!("bytes={}-{}", part.offset, part.end() - 1);
        let outcome = self
            .inner
            .with_retries(part.number, self.progress, |reported| {
                let mut headers = vec![("range", range.as_str())];
                if let Some(etag) = &object.etag {
                    headers.push(("if-match", etag.as_str()));
                }
                let request = self.signer.get_object(self.key, &self.inner.stamp()?);
                let response = self.http.send(&request, &headers, Payload::None)?;
                let mut response = http::expect_status(response, &[200, 206])?;
                check_range_reply(
                    response.status().as_u16(),
                    http::header(&response, "content-range"),
                    http::header(&response, "content-length").and_then(|n| n.parse().ok()),
                    part,
                    object.size,
                )?;
                // For servers that ignore If-Match: the range must come from the same object.
                check_same_etag(object.etag.as_deref(), http::header(&response, "etag"))?;
                let mut reader = response.body_mut().as_reader();
                let mut hasher = per_part.map(Hasher::new);
                let mut done = 0;
                while done < chunk.len() {
                    self.progress.check_cancelled()?;
                    let end = (done + REPORT_EVERY).min(chunk.len());
                    reader.read_exact(&mut chunk[done..end]).map_err(|err| {
                        Error::new(
                            ErrorKind::Network,
                            format!("the reply body ended early: {err}"),
                        )
                    })?;
                    if let Some(hasher) = &mut hasher {
                        // Hashed while the MiB just written is still in the CPU's cache.
                        hasher.update(&chunk[done..end]);
                    }
                    chunk.release(done..end);
                    self.progress.send(|| Event::Bytes {
                        part: part.number,
                        bytes: (end - done) as u64,
                    });
                    reported.set(reported.get() + (end - done) as u64);
                    done = end;
                }
                // Reading to the end returns the connection to the pool, and catches long bodies.
                let mut extra = [0u8; 1];
                match reader.read(&mut extra) {
                    Ok(0) => Ok(hasher.map(Hasher::finalize)),
                    Ok(_) => Err(Error::new(
                        ErrorKind::Protocol,
                        "the reply body is longer than the range",
                    )),
                    Err(err) => Err(Error::new(
                        ErrorKind::Network,
                        format!("reading the reply failed: {err}"),
                    )),
                }
            });
        let outcome = outcome.map_err(|err| match err.kind() {
            ErrorKind::PreconditionFailed => Error::new(
                ErrorKind::PreconditionFailed,
                "the object changed during the download (its ETag no longer matches)",
            )
            .with_source(err),
            _ => err.context(format_args!("bytes {}..{}", part.offset, part.end())),
        });
        let digest = outcome?;
        chunk.landed();
        self.progress.send(|| Event::PartDone { part: part.number });
        Ok(digest)
    }
}

/// A ranged GET must return exactly the range asked for: `206`, or `200` with a matching
/// `Content-Range` (as some servers answer), or `200` with the whole object when the range is
/// the whole object. Anything else is retried.
fn check_range_reply(
    status: u16,
    content_range: Option<&str>,
    content_length: Option<u64>,
    part: Part,
    total: u64,
) -> Result<()> {
    let expected = format!("bytes {}-{}/{total}", part.offset, part.end() - 1);
    let range_ok = match content_range {
        Some(range) => range.trim() == expected,
        None => status == 200 && part.offset == 0 && part.len == total,
    };
    if !range_ok || content_length != Some(part.len) {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "asked for {expected} but the server answered {status} with range {} and length {}",
                content_range.unwrap_or("(none)"),
                content_length.map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
            ),
        ));
    }
    Ok(())
}

/// A range's ETag, when the server sends one, must be the one the download started with
/// (quotes and a weak `W/` prefix aside).
fn check_same_etag(started_with: Option<&str>, range: Option<&str>) -> Result<()> {
    let bare = |etag: &str| {
        etag.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    match (started_with, range) {
        (Some(ours), Some(theirs)) if bare(ours) != bare(theirs) => Err(Error::new(
            ErrorKind::PreconditionFailed,
            "a range came from another version of the object",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_another_object_version_are_refused() {
        assert!(check_same_etag(Some("\"abc\""), Some("\"abc\"")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), Some("abc")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), Some("W/\"abc\"")).is_ok());
        assert!(check_same_etag(None, Some("\"abc\"")).is_ok());
        assert!(check_same_etag(Some("\"abc\""), None).is_ok());
        let err = check_same_etag(Some("\"abc\""), Some("\"abd\"")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    }

    const PART: Part = Part {
        number: 2,
        offset: 10,
        len: 10,
    };

    #[test]
    fn accepts_exact_ranges_as_206_or_200() {
        assert!(check_range_reply(206, Some("bytes 10-19/30"), Some(10), PART, 30).is_ok());
        assert!(check_range_reply(200, Some("bytes 10-19/30"), Some(10), PART, 30).is_ok());
        let whole = Part {
            number: 1,
            offset: 0,
            len: 30,
        };
        assert!(check_range_reply(200, None, Some(30), whole, 30).is_ok());
    }

    #[test]
    fn rejects_wrong_ranges_lengths_and_empty_bodies() {
        for (status, range, length) in [
            (206, Some("bytes 0-9/30"), Some(10)),
            (206, Some("bytes 10-19/30"), Some(9)),
            (206, None, Some(10)),
            (200, None, Some(0)),
            (200, None, Some(30)),
            (206, Some("bytes 10-19/31"), Some(10)),
        ] {
            let err = check_range_reply(status, range, length, PART, 30).unwrap_err();
            assert!(err.is_retryable(), "{status} {range:?} {length:?}");
        }
    }
}
