//! File -> object: one PutObject, or Create -> UploadPart x N on the pool -> Complete, with the
//! upload aborted on any failure.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use rayon::prelude::*;

use crate::checksum::{self, Digest, Hasher, Record, Verification};
use crate::client::{Inner, Tagging, TransferSummary};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Http, Payload};
use crate::journal::{self, Done, Journal, SourceIdentity, UploadHeader};
use crate::location::S3Uri;
use crate::mapped::{self, Mapped as _, SourceMap};
use crate::object_options::{Header, ObjectOptions};
use crate::plan::{self, Part, PartPlan, UploadPlan};
use crate::progress::{Event, Progress, REPORT_EVERY};
use crate::sign::Signer;
use crate::xml::{self, CompletedPart, MultipartUpload};

pub(crate) fn upload_file(
    inner: &Inner,
    source: &Path,
    destination: &S3Uri,
    object: &ObjectOptions,
    progress: &Progress,
) -> Result<TransferSummary> {
    let started = Instant::now();
    destination.require_object_key()?;
    object.validate()?;
    let (file, metadata) = open_source(source)?;
    let size = metadata.len();
    let plan = plan::plan_upload(
        size,
        inner.config.part_size,
        inner.config.multipart_threshold,
    )?;
    let signer = Signer::new(&inner.config, destination.bucket())?;
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
    let algorithm = inner.config.checksum_algorithm;
    let digests = part_digests(inner, &map, parts);
    let record = Record {
        algorithm,
        part_size: parts.part_size,
        parts: parts.count(),
        composite: checksum::composite(&digests),
        doubling_every: None,
    };
    let (http, _cancellable) = progress.http(inner);
    let upload = Upload {
        inner,
        http: &http,
        signer: &signer,
        key: destination.key(),
        progress,
        destination,
        object_headers: {
            let mut headers = object.object_headers(source);
            headers.push((checksum::METADATA_HEADER.into(), record.to_metadata()));
            headers
        },
        condition: object.condition_headers(),
    };
    match plan {
        UploadPlan::Single => {
            progress.send(|| Event::Planned {
                total_bytes: size,
                part_size: size,
                parts: 1,
            });
            let digest = digests
                .first()
                .copied()
                .unwrap_or_else(|| algorithm.digest(&[]));
            // A change during the digest pass would otherwise surface as BadDigest retries.
            ensure_unchanged(source, &metadata)?;
            upload.put_object(Body::mapped(&map, 0, size), &digest)?;
        }
        UploadPlan::Multipart(plan) => {
            let unchanged = || ensure_unchanged(source, &metadata);
            let resumable = inner.config.state_dir.as_deref().map(|dir| {
                journal::clean_old_state(dir);
                Resumable::new(dir, inner, destination, source, &metadata, plan, &record)
            });
            upload.multipart(&map, plan, &digests, unchanged, resumable.as_ref())?;
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
fn part_digests(inner: &Inner, map: &SourceMap, plan: PartPlan) -> Vec<Digest> {
    inner.pool.install(|| {
        (0..plan.count())
            .into_par_iter()
            .map(|index| {
                let part = plan.part(index);
                let mut hasher = Hasher::new(inner.config.checksum_algorithm);
                let range = part.offset as usize..part.end() as usize;
                map.scan(range, REPORT_EVERY, |bytes| hasher.update(bytes));
                hasher.finalize()
            })
            .collect()
    })
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

/// The requests of one upload, whatever the bytes come from (a file's map or a stream).
pub(crate) struct Upload<'a> {
    pub inner: &'a Inner,
    /// The transfer's HTTP agent (its own when it can be cancelled).
    pub http: &'a Http,
    pub signer: &'a Signer,
    pub key: &'a str,
    pub progress: &'a Progress,
    pub destination: &'a S3Uri,
    /// What is stored with the object (content type, storage class, user metadata ...) and
    /// s3mt's integrity record when known, for PutObject and CreateMultipartUpload.
    pub object_headers: Vec<Header>,
    /// `If-None-Match: *` under no-overwrite, for the request that creates the object.
    pub condition: Vec<Header>,
}

impl Upload<'_> {
    pub fn put_object(&self, body: Body<'_>, digest: &Digest) -> Result<()> {
        let whole = Part {
            number: 1,
            offset: 0,
            len: body.bytes.len() as u64,
        };
        self.progress.send(|| Event::PartStarted {
            part: 1,
            bytes: whole.len,
        });
        let algorithm = self.inner.config.checksum_algorithm;
        let mut headers = vec![(algorithm.header().into(), checksum::to_base64(digest))];
        headers.extend(self.object_headers.iter().cloned());
        headers.extend(self.condition.iter().cloned());
        self.inner
            .with_retries(1, self.progress, |reported| {
                let request = self
                    .signer
                    .put_object(self.key, &headers, &self.inner.stamp()?);
                let mut reader = PartReader::new(self.progress, 1, body, reported);
                let response =
                    self.http
                        .send(&request, &[], Payload::Reader(&mut reader, whole.len))?;
                let mut response = http::expect_status(response, &[200])?;
                http::finish_body(&mut response)
            })
            .map_err(|err| self.already_exists(err))?;
        self.progress.send(|| Event::PartDone { part: 1 });
        Ok(())
    }

    /// Runs the multipart upload, restarting it once from scratch when the server dropped it
    /// (`NoSuchUpload`) or CompleteMultipartUpload kept failing after its retries.
    fn multipart(
        &self,
        map: &SourceMap,
        plan: PartPlan,
        digests: &[Digest],
        unchanged: impl Fn() -> Result<()>,
        resumable: Option<&Resumable>,
    ) -> Result<()> {
        self.progress.send(|| Event::Planned {
            total_bytes: plan.total,
            part_size: plan.part_size,
            parts: plan.count(),
        });
        match self.multipart_once(map, plan, digests, &unchanged, resumable) {
            Err(Failure {
                error,
                restartable: true,
            }) => {
                self.progress.send(|| Event::Retry {
                    part: 0,
                    attempt: 1,
                    reason: format!("restarting the upload: {error}"),
                    delay: std::time::Duration::ZERO,
                    discarded: plan.total,
                });
                self.multipart_once(map, plan, digests, &unchanged, resumable)
            }
            other => other,
        }
        .map_err(|failure| failure.error)
    }

    /// Create -> parts on the pool -> source check -> Complete; aborts the upload on failure.
    fn multipart_once(
        &self,
        map: &SourceMap,
        plan: PartPlan,
        digests: &[Digest],
        unchanged: &impl Fn() -> Result<()>,
        resumable: Option<&Resumable>,
    ) -> Result<(), Failure> {
        let Started {
            upload_id,
            journal,
            resumed,
        } = self.start(resumable, digests).map_err(Failure::terminal)?;
        let mut completing = false;
        let outcome = self
            .inner
            .pool
            .install(|| {
                (0..plan.count())
                    .into_par_iter()
                    .map(|index| {
                        let part = plan.part(index);
                        if let Some(done) = resumed.get(&part.number) {
                            self.progress.resumed(part);
                            return Ok(done.clone());
                        }
                        let body = Body::mapped(map, part.offset, part.len);
                        let done =
                            self.upload_part(&upload_id, part, body, &digests[index as usize])?;
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
                unchanged()?;
                completing = true;
                self.complete(&upload_id, &parts)
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
        if !restartable && journal.is_some() && worth_resuming(error.kind()) {
            return Err(Failure::terminal(error.note(format_args!(
                "the upload is kept to resume: run the same command again, or discard it with \
                 `s3mt uploads abort {} --upload-id {upload_id}`",
                self.destination
            ))));
        }
        if let Some(journal) = journal {
            journal.remove();
        }
        Err(Failure {
            error: self.abort_after(error, &upload_id),
            restartable,
        })
    }

    /// The upload to send parts to: the journal's, when it matches this source and the server
    /// still has it (its parts already there, with the ETags the journal recorded, are kept);
    /// else a new one, with a new journal when resuming is on.
    fn start(&self, resumable: Option<&Resumable>, digests: &[Digest]) -> Result<Started> {
        if let Some(resumable) = resumable
            && let Some(journal) = Journal::<UploadHeader>::open(&resumable.path)
        {
            let upload_id = journal.header.upload_id.clone();
            if journal.header != resumable.header(&upload_id) {
                self.notice("the source changed since the interrupted upload: discarding it");
                let _ = self.inner.abort(self.signer, self.key, &upload_id);
                journal.remove();
            } else {
                match self.inner.list_parts(self.signer, self.key, &upload_id) {
                    Ok(on_server) => {
                        let resumed = kept_parts(&journal.done, &on_server, digests);
                        self.notice(&format!(
                            "resuming the interrupted upload: {} of {} parts are already there",
                            resumed.len(),
                            digests.len()
                        ));
                        return Ok(Started {
                            upload_id,
                            journal: Some(journal),
                            resumed,
                        });
                    }
                    Err(err) if err.kind() == ErrorKind::NotFound => {
                        self.notice(
                            "the interrupted upload is gone from the server: starting over",
                        );
                        journal.remove();
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        let upload_id = self.create()?;
        let journal = resumable.and_then(|resumable| {
            Journal::create(&resumable.path, resumable.header(&upload_id)).ok()
        });
        Ok(Started {
            upload_id,
            journal,
            resumed: BTreeMap::new(),
        })
    }

    fn notice(&self, message: &str) {
        self.progress.send(|| Event::Notice(message.to_owned()));
    }

    /// Aborts the upload after `error`, saying in the error whether that worked.
    pub fn abort_after(&self, error: Error, upload_id: &str) -> Error {
        match self.inner.abort(self.signer, self.key, upload_id) {
            Ok(()) => error.note("the multipart upload was aborted"),
            Err(abort_error) => error.note(format_args!(
                "the multipart upload {upload_id} could not be aborted: {abort_error}; \
                 it still holds storage until aborted"
            )),
        }
    }

    /// CreateMultipartUpload. Create is not idempotent: when an attempt's reply was lost, the
    /// server may hold an upload nobody knows of, so after a retried Create the uploads of this
    /// key started during our attempts (by the server's clock) are aborted.
    pub fn create(&self) -> Result<String> {
        let algorithm = self.inner.config.checksum_algorithm.s3_name();
        let mut headers = vec![("x-amz-checksum-algorithm".into(), algorithm.to_owned())];
        headers.extend(self.object_headers.iter().cloned());
        let started = Instant::now();
        let mut attempts = 0;
        // The server's clock, from the last reply of any status.
        let mut server_now = None;
        let outcome = self.inner.with_retries(0, self.progress, |_| {
            attempts += 1;
            let request =
                self.signer
                    .create_multipart_upload(self.key, &headers, &self.inner.stamp()?);
            let response = self.http.send(&request, &[], Payload::Empty)?;
            server_now = http::header(&response, "date")
                .and_then(|date| jiff::fmt::rfc2822::parse(date).ok())
                .map(|date| date.timestamp())
                .or(server_now);
            let mut response = http::expect_status(response, &[200])?;
            xml::parse_upload_id(&http::read_text(&mut response)?)
        });
        // A Create that failed, or succeeded only on a retry, may have left uploads behind: a
        // reply lost after the server created one, or a server that errs after creating it.
        if attempts > 1 || outcome.is_err() {
            let window = server_now.map(|now| attempt_window(now, started.elapsed()));
            let ours = outcome.as_deref().unwrap_or_default();
            self.abort_orphans(ours, window);
        }
        outcome
    }

    /// Aborts this key's uploads other than `ours` that began within `window` (best effort;
    /// without a server clock, nothing is aborted).
    fn abort_orphans(&self, ours: &str, window: Option<(Timestamp, Timestamp)>) {
        let Some(window) = window else { return };
        let Ok(uploads) = self.inner.list_uploads(self.signer, self.key) else {
            return;
        };
        for upload in uploads
            .iter()
            .filter(|upload| is_orphan(upload, self.key, ours, window))
        {
            let _ = self.inner.abort(self.signer, self.key, &upload.upload_id);
        }
    }

    pub fn upload_part(
        &self,
        upload_id: &str,
        part: Part,
        body: Body<'_>,
        digest: &Digest,
    ) -> Result<CompletedPart> {
        self.progress.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        let checksum = checksum::to_base64(digest);
        let algorithm = self.inner.config.checksum_algorithm;
        let headers = [(algorithm.header().into(), checksum.clone())];
        let after_network_failure = Cell::new(false);
        let etag = self
            .inner
            .with_retries(part.number, self.progress, |reported| {
                // A server that lost the upload (e.g. restarted) may answer a part with nothing
                // but a closed connection (rclone): ask for the upload before sending again, so
                // a lost upload shows as `NoSuchUpload` and is started over.
                if after_network_failure.take() {
                    self.ensure_upload_exists(upload_id)?;
                }
                let sent = self.send_part(upload_id, part, body, &headers, reported);
                after_network_failure
                    .set(matches!(&sent, Err(err) if err.kind() == ErrorKind::Network));
                sent
            });
        let etag = etag.map_err(|err| err.context(format_args!("part {}", part.number)))?;
        self.progress.send(|| Event::PartDone { part: part.number });
        Ok(CompletedPart {
            number: part.number,
            etag,
            checksum: Some(checksum),
        })
    }

    /// One attempt of UploadPart; the part's ETag.
    fn send_part(
        &self,
        upload_id: &str,
        part: Part,
        body: Body<'_>,
        headers: &[Header],
        reported: &Cell<u64>,
    ) -> Result<String> {
        let at = self.inner.stamp()?;
        let request = self
            .signer
            .upload_part(self.key, part.number, upload_id, headers, &at)?;
        let mut reader = PartReader::new(self.progress, part.number, body, reported);
        let response = self
            .http
            .send(&request, &[], Payload::Reader(&mut reader, part.len))?;
        let mut response = http::expect_status(response, &[200])?;
        let etag = http::header(&response, "etag")
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::new(ErrorKind::Protocol, "the server sent no ETag for the part")
            })?;
        http::finish_body(&mut response)?;
        Ok(etag)
    }

    /// One ListParts request: the server's `NoSuchUpload` error when the upload is gone.
    fn ensure_upload_exists(&self, upload_id: &str) -> Result<()> {
        let request = self
            .signer
            .list_parts(self.key, upload_id, None, &self.inner.stamp()?);
        let response = self.http.send(&request, &[], Payload::None)?;
        let mut response = http::expect_status(response, &[200])?;
        http::finish_body(&mut response)
    }

    pub fn complete(&self, upload_id: &str, parts: &[CompletedPart]) -> Result<()> {
        let body = xml::complete_body(parts, self.inner.config.checksum_algorithm);
        self.inner
            .with_retries(0, self.progress, |_| {
                let request = self.signer.complete_multipart_upload(
                    self.key,
                    upload_id,
                    &self.condition,
                    &self.inner.stamp()?,
                );
                let headers = [("content-type", "application/xml")];
                let response =
                    self.http
                        .send(&request, &headers, Payload::Bytes(body.as_bytes()))?;
                let mut response = http::expect_status(response, &[200])?;
                // S3 may answer 200 and still report an error in the body.
                let reply = http::read_text(&mut response)?;
                match xml::parse_error(200, &reply) {
                    // An error inside a 200 is transient by S3's own account: always retried.
                    Some(service) => {
                        let error = http::service_error(service);
                        Err(if error.is_retryable() {
                            error
                        } else {
                            Error::new(ErrorKind::ServerBusy, error.to_string())
                        })
                    }
                    None => Ok(()),
                }
            })
            .map_err(|err| self.already_exists(err))
    }

    /// Stores `record` as the object's tag [`checksum::RECORD_TAG`] (PutObjectTagging), for
    /// objects whose record could not go in their metadata (streams). Refused, without a
    /// PutObjectTagging, on a server that would take it as a PutObject replacing the object.
    pub fn tag_record(&self, record: &Record) -> Result<()> {
        let tagging = self
            .inner
            .object_tagging(self.http, self.signer, self.key, self.progress);
        if let Ok(Tagging::Unsupported) = tagging {
            return Err(Error::new(
                ErrorKind::Service,
                "the server does not implement object tagging",
            ));
        }
        let body = xml::tagging_body(checksum::RECORD_TAG, &record.to_metadata());
        let md5 = <md5::Md5 as md5::Digest>::digest(body.as_bytes());
        let headers = [("content-md5".into(), checksum::to_base64_bytes(&md5))];
        self.inner.with_retries(0, self.progress, |_| {
            let request = self
                .signer
                .put_object_tagging(self.key, &headers, &self.inner.stamp()?);
            let response = self
                .http
                .send(&request, &[], Payload::Bytes(body.as_bytes()))?;
            let mut response = http::expect_status(response, &[200, 204])?;
            http::finish_body(&mut response)
        })
    }

    /// Under no-overwrite, the server's 412 says the object exists: [`ErrorKind::AlreadyExists`].
    fn already_exists(&self, err: Error) -> Error {
        if self.condition.is_empty() || err.kind() != ErrorKind::PreconditionFailed {
            return err;
        }
        let error = Error::new(
            ErrorKind::AlreadyExists,
            format!("{} already exists (no-overwrite)", self.destination),
        );
        match err.service_error() {
            Some(service) => error.with_service(service.clone()),
            None => error,
        }
    }
}

/// The server-clock interval in which our Create attempts ran: from `elapsed` before the
/// successful reply's `Date` to just after it, widened by the `Date` header's 1 s resolution.
fn attempt_window(server_now: Timestamp, elapsed: Duration) -> (Timestamp, Timestamp) {
    let slack = Duration::from_secs(2);
    let start = server_now
        .checked_sub(elapsed + slack)
        .unwrap_or(Timestamp::MIN);
    (
        start,
        server_now.checked_add(slack).unwrap_or(Timestamp::MAX),
    )
}

/// Whether `upload` is one our retried Create left behind: same key, not ours, begun within
/// the window of our attempts.
fn is_orphan(
    upload: &MultipartUpload,
    key: &str,
    ours: &str,
    window: (Timestamp, Timestamp),
) -> bool {
    let initiated = upload
        .initiated
        .as_deref()
        .and_then(|text| text.parse::<Timestamp>().ok());
    upload.key == key
        && upload.upload_id != ours
        && initiated.is_some_and(|at| window.0 <= at && at <= window.1)
}

/// A failed multipart attempt, and whether starting the upload over may succeed.
struct Failure {
    error: Error,
    restartable: bool,
}

impl Failure {
    fn terminal(error: Error) -> Self {
        Self {
            error,
            restartable: false,
        }
    }
}

/// The multipart upload parts go to: new, or an interrupted one resumed.
struct Started {
    upload_id: String,
    /// Where finished parts are recorded, when resuming is on.
    journal: Option<Journal<UploadHeader>>,
    /// Parts an interrupted run finished that the server still has.
    resumed: BTreeMap<u32, CompletedPart>,
}

/// Where a resumable upload keeps its journal, and the header it must match.
struct Resumable {
    path: PathBuf,
    template: UploadHeader,
}

impl Resumable {
    fn new(
        state_dir: &Path,
        inner: &Inner,
        destination: &S3Uri,
        source: &Path,
        metadata: &Metadata,
        plan: PartPlan,
        record: &Record,
    ) -> Self {
        let source = SourceIdentity::of(source, metadata);
        let endpoint = inner.config.endpoint.to_string();
        let source_path = source.path.to_string_lossy().into_owned();
        let path = journal::path_for(
            state_dir,
            "upload",
            &[
                &endpoint,
                destination.bucket(),
                destination.key(),
                &source_path,
            ],
        );
        Self {
            path,
            template: UploadHeader {
                endpoint,
                bucket: destination.bucket().to_owned(),
                key: destination.key().to_owned(),
                source,
                upload_id: String::new(),
                part_size: plan.part_size,
                composite: checksum::to_base64(&record.composite),
            },
        }
    }

    fn header(&self, upload_id: &str) -> UploadHeader {
        UploadHeader {
            upload_id: upload_id.to_owned(),
            ..self.template.clone()
        }
    }
}

/// Failures a later run may get past: the upload or partial download is kept for it.
pub(crate) fn worth_resuming(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Cancelled | ErrorKind::Network | ErrorKind::ServerBusy | ErrorKind::Protocol
    )
}

/// The journal's finished parts that the server still has with the same ETag.
fn kept_parts(
    journal: &BTreeMap<u32, Done>,
    on_server: &[(u32, String)],
    digests: &[Digest],
) -> BTreeMap<u32, CompletedPart> {
    on_server
        .iter()
        .filter_map(|(number, etag)| {
            let digest = digests.get(usize::try_from(*number).ok()?.checked_sub(1)?)?;
            let checksum = checksum::to_base64(digest);
            let recorded = journal.get(number)?;
            // The server has the part the journal recorded, and the file still has its bytes.
            let same = recorded.etag.as_deref() == Some(etag.as_str())
                && recorded.checksum.as_deref() == Some(checksum.as_str());
            same.then(|| {
                let part = CompletedPart {
                    number: *number,
                    etag: etag.clone(),
                    checksum: Some(checksum),
                };
                (*number, part)
            })
        })
        .collect()
}

/// The bytes of one request body: a range of the source map, whose pages are dropped from
/// the process once sent, or a stream's buffer.
#[derive(Clone, Copy)]
pub(crate) struct Body<'a> {
    bytes: &'a [u8],
    /// The map and the offset of `bytes` in it.
    map: Option<(&'a SourceMap, usize)>,
}

impl<'a> Body<'a> {
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
}

/// Streams one body: reports progress every [`REPORT_EVERY`] bytes and, for a map, drops the
/// pages already sent from the process, so resident memory stays flat.
struct PartReader<'a> {
    body: Body<'a>,
    progress: &'a Progress,
    part: u32,
    position: usize,
    released: usize,
    reported: &'a Cell<u64>,
}

impl<'a> PartReader<'a> {
    fn new(progress: &'a Progress, part: u32, body: Body<'a>, reported: &'a Cell<u64>) -> Self {
        Self {
            body,
            progress,
            part,
            position: 0,
            released: 0,
            reported,
        }
    }

    fn report(&mut self) {
        let fresh = self.position as u64 - self.reported.get();
        if fresh > 0 {
            self.progress.send(|| Event::Bytes {
                part: self.part,
                bytes: fresh,
            });
            self.reported.set(self.reported.get() + fresh);
        }
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
        if self.progress.check_cancelled().is_err() {
            return Err(std::io::Error::other("cancelled"));
        }
        let remaining = &self.body.bytes[self.position..];
        let n = remaining.len().min(buf.len());
        buf[..n].copy_from_slice(&remaining[..n]);
        self.position += n;
        if self.position - self.released >= REPORT_EVERY || self.position == self.body.bytes.len() {
            self.report();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(key: &str, id: &str, initiated: &str) -> MultipartUpload {
        MultipartUpload {
            key: key.into(),
            upload_id: id.into(),
            initiated: Some(initiated.into()),
        }
    }

    #[test]
    fn resumed_parts_are_those_both_the_journal_and_the_server_have_with_one_etag() {
        let digests = [
            checksum::sha256(b"1"),
            checksum::sha256(b"2"),
            checksum::sha256(b"3"),
        ];
        let done = |part: u32, etag: &str, sha256: String| Done {
            part,
            etag: Some(etag.to_owned()),
            checksum: Some(sha256),
        };
        let journal: BTreeMap<u32, Done> = [
            (1, done(1, "\"e1\"", checksum::to_base64(&digests[0]))),
            (2, done(2, "\"e2\"", checksum::to_base64(&digests[1]))),
            // The file's third part changed since it was sent.
            (3, done(3, "\"e3\"", checksum::to_base64(&digests[0]))),
        ]
        .into();
        let on_server = [
            (1, "\"e1\"".to_owned()),
            (2, "\"other\"".to_owned()),
            (3, "\"e3\"".to_owned()),
            (4, "\"e4\"".to_owned()),
        ];
        let kept = kept_parts(&journal, &on_server, &digests);
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(
            kept[&1].checksum.as_deref(),
            Some(checksum::to_base64(&digests[0]).as_str())
        );
        assert!(worth_resuming(ErrorKind::Cancelled) && worth_resuming(ErrorKind::Network));
        assert!(
            !worth_resuming(ErrorKind::SourceChanged) && !worth_resuming(ErrorKind::AccessDenied)
        );
    }

    #[test]
    fn orphans_are_this_keys_other_uploads_begun_during_our_attempts() {
        let now: Timestamp = "2026-11-21T12:00:10Z".parse().unwrap();
        let window = attempt_window(now, Duration::from_secs(5));
        assert!(is_orphan(
            &upload("k", "lost", "2026-11-21T12:00:06.250Z"),
            "k",
            "ours",
            window
        ));
        // Ours, another key, or begun before our first attempt: left alone.
        assert!(!is_orphan(
            &upload("k", "ours", "2026-11-21T12:00:06Z"),
            "k",
            "ours",
            window
        ));
        assert!(!is_orphan(
            &upload("k2", "x", "2026-11-21T12:00:06Z"),
            "k",
            "ours",
            window
        ));
        assert!(!is_orphan(
            &upload("k", "old", "2026-11-21T11:59:00Z"),
            "k",
            "ours",
            window
        ));
        let undated = MultipartUpload {
            initiated: None,
            ..upload("k", "x", "")
        };
        assert!(!is_orphan(&undated, "k", "ours", window));
    }
}
