//! The requests of an upload, whatever its bytes come from (a file's map or a stream):
//! PutObject, CreateMultipartUpload (with the orphans a retried Create may leave), UploadPart,
//! CompleteMultipartUpload, Abort, and the record's tag.

use std::cell::Cell;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::part_body::PartBody;
use super::progress::{Event, PartAttempts};
use super::session::Transfer;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::ChecksumType;
use crate::integrity::algorithm::{Digest, to_base64};
use crate::integrity::record::{RECORD_TAG, Record};
use crate::plan::Part;
use crate::s3::call::{Body, Call, Reply};
use crate::s3::http;
use crate::s3::object_options::Header;
use crate::s3::sign::{SignedRequest, Signer, Stamp};
use crate::s3::xml::{self, CompletedPart, MultipartUpload};

/// The requests of one upload.
pub(crate) struct Upload<'a> {
    pub transfer: &'a Transfer<'a>,
    /// What is stored with the object (content type, storage class, user metadata ...) and
    /// s3mt's integrity record when known, for PutObject and CreateMultipartUpload.
    pub object_headers: Vec<Header>,
    /// `If-None-Match: *` under no-overwrite, for the request that creates the object.
    pub condition: Vec<Header>,
    /// Whether parts go with checksums (uploads) or not (server-side copies, whose bytes s3mt
    /// never holds: the server's checksums of the copy are compared afterwards).
    pub checksummed: bool,
}

impl Upload<'_> {
    /// One PutObject of `body`, sent with its checksum `digest`.
    pub fn put_object(&self, body: PartBody<'_>, digest: &Digest) -> Result<()> {
        let algorithm = self.transfer.config().checksum_algorithm;
        let mut headers = vec![(algorithm.header().into(), to_base64(digest))];
        headers.extend(self.object_headers.iter().cloned());
        headers.extend(self.condition.iter().cloned());
        let whole = Part {
            number: 1,
            offset: 0,
            len: body.len(),
        };
        self.send_part(
            whole,
            body,
            |_| Ok(()),
            |signer, at| Ok(signer.put_object(self.transfer.key(), &headers, at)),
            // S3 names what it stored by its ETag: a 200 without one (a proxy's or a broken
            // server's) may have stored nothing, and is retried.
            |reply| {
                if http::header(reply, "etag").is_none_or(str::is_empty) {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "the server sent no ETag for the object",
                    ));
                }
                http::finish_body(reply)
            },
        )
        .map_err(|err| self.already_exists(err))
    }

    /// CreateMultipartUpload. Create is not idempotent: when an attempt's reply was lost, the
    /// server may hold an upload nobody knows of, so after a retried Create the uploads of this
    /// key started during our attempts (by the server's clock) are aborted.
    pub fn create(&self) -> Result<String> {
        let config = self.transfer.config();
        let mut headers = Vec::new();
        if self.checksummed {
            headers.push((
                "x-amz-checksum-algorithm".into(),
                config.checksum_algorithm.s3_name().to_owned(),
            ));
            headers.push((
                "x-amz-checksum-type".into(),
                config.checksum_type.s3_name().to_owned(),
            ));
        }
        headers.extend(self.object_headers.iter().cloned());
        let started = Instant::now();
        let attempts = Cell::new(0);
        // The server's clock, from the last reply of any status.
        let server_now = Cell::new(None);
        let call = Call::new(|signer, at| {
            attempts.set(attempts.get() + 1);
            Ok(signer.create_multipart_upload(self.transfer.key(), &headers, at))
        })
        .body(Body::Empty)
        .inspect(|reply| server_now.set(http::date(reply).or(server_now.get())));
        let outcome = self
            .transfer
            .requester
            .call(&call, self.transfer.progress, |reply| {
                xml::parse_upload_id(&http::read_text(reply)?)
            });
        // A Create that failed, or succeeded only on a retry, may have left uploads behind: a
        // reply lost after the server created one, or a server that errs after creating it.
        if attempts.get() == 1 && outcome.is_ok() {
            return outcome;
        }
        let ours = outcome.as_deref().unwrap_or_default();
        match (self.abort_orphans(ours, server_now.get(), started), outcome) {
            (Orphans::Aborted(0), outcome) | (Orphans::Aborted(_), outcome @ Ok(_)) => outcome,
            (Orphans::Aborted(aborted), Err(error)) => Err(error.note(format_args!(
                "the multipart upload was aborted ({aborted} made for replies that were lost)"
            ))),
            (Orphans::NotFound { why }, outcome) => {
                let said = format!(
                    "CreateMultipartUpload was tried {} times, and the server may hold uploads \
                     made for tries whose reply was lost; they could not be looked for ({why}): \
                     find and abort them with `s3mt uploads ls s3://{}/{}`",
                    attempts.get(),
                    self.transfer.object.bucket(),
                    self.transfer.key()
                );
                match outcome {
                    Ok(upload_id) => {
                        self.transfer.progress.notice(said);
                        Ok(upload_id)
                    }
                    Err(error) => Err(error.note(said)),
                }
            }
        }
    }

    /// Aborts this key's uploads other than `ours` begun during our attempts, which began at
    /// `started`: by the server's clock of their replies (`server_now`), or, when no attempt
    /// got one (every reply lost), of the listing's. Best effort: says how many were aborted,
    /// or why the search could not be made (or an orphan not aborted).
    fn abort_orphans(
        &self,
        ours: &str,
        server_now: Option<Timestamp>,
        started: Instant,
    ) -> Orphans {
        let key = self.transfer.key();
        let not_found = |why: String| Orphans::NotFound { why };
        let housekeeping = match self.transfer.housekeeping() {
            Ok(housekeeping) => housekeeping,
            Err(err) => return not_found(err.to_string()),
        };
        let (uploads, listed_at) = match housekeeping.list_multipart_uploads_dated(key) {
            Ok(listing) => listing,
            Err(err) => return not_found(format!("listing the uploads failed: {err}")),
        };
        let Some(window) = server_now
            .or(listed_at)
            .map(|now| attempt_window(now, started.elapsed()))
        else {
            return not_found("the server gave no date to place them by".to_owned());
        };
        let mut aborted = 0;
        for upload in uploads
            .iter()
            .filter(|upload| is_orphan(upload, key, ours, window))
        {
            if let Err(err) = housekeeping.abort_multipart_upload(key, &upload.upload_id, &()) {
                return not_found(format!("aborting {} failed: {err}", upload.upload_id));
            }
            aborted += 1;
        }
        Orphans::Aborted(aborted)
    }

    /// UploadPart of `part`, sent with its checksum `digest`.
    pub fn upload_part(
        &self,
        upload_id: &str,
        part: Part,
        body: PartBody<'_>,
        digest: &Digest,
    ) -> Result<CompletedPart> {
        let algorithm = self.transfer.config().checksum_algorithm;
        let checksum = to_base64(digest);
        // Not `x-amz-sdk-checksum-algorithm`, as the SDKs add: with it, moto 5.2.5 stores a
        // CRC-64/NVME of its own, four bytes long, which then fails every SDK's check.
        let headers = [(algorithm.header().into(), checksum.clone())];
        let key = self.transfer.key();
        let requester = &self.transfer.requester;
        let etag = self.send_part(
            part,
            body,
            |attempts| {
                // A server that lost the upload (e.g. restarted) may answer a part with nothing
                // but a closed connection (rclone): ask for the upload before sending again, so
                // a lost upload shows as `NoSuchUpload` and is started over.
                if attempts.take_network_failure() {
                    requester.ensure_upload_exists(key, upload_id)?;
                }
                Ok(())
            },
            |signer, at| signer.upload_part(key, part.number, upload_id, &headers, at),
            |reply| {
                let etag = http::header(reply, "etag")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::Protocol, "the server sent no ETag for the part")
                    })?;
                http::finish_body(reply)?;
                Ok(etag)
            },
        );
        let etag = etag.map_err(|err| err.context(format_args!("part {}", part.number)))?;
        Ok(CompletedPart {
            number: part.number,
            etag,
            checksum: Some(checksum),
        })
    }

    /// Sends `body` as `part` with retries, reporting the part's progress: `before` runs first
    /// in every attempt, `sign` signs it, `read` reads its reply.
    fn send_part<T>(
        &self,
        part: Part,
        body: PartBody<'_>,
        before: impl Fn(&PartAttempts<'_>) -> Result<()>,
        sign: impl Fn(&Signer, &Stamp) -> Result<SignedRequest>,
        read: impl FnMut(&mut Reply) -> Result<T>,
    ) -> Result<T> {
        let progress = self.transfer.progress;
        progress.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        let attempts = self.transfer.part_attempts(part.number);
        let make_reader = || Box::new(body.reader(&attempts)) as Box<dyn std::io::Read + '_>;
        let call = Call::new(|signer, at| {
            before(&attempts)?;
            sign(signer, at)
        })
        .body(Body::Reader(part.len, Box::new(make_reader)));
        let outcome = self.transfer.requester.call(&call, &attempts, read)?;
        progress.send(|| Event::PartDone { part: part.number });
        Ok(outcome)
    }

    /// CompleteMultipartUpload of `parts` (in order). `whole` is the checksum of the whole
    /// object, combined from the parts' (CRCs): for a full-object upload the server checks it
    /// against its own combination of the parts it holds.
    pub fn complete(
        &self,
        upload_id: &str,
        parts: &[CompletedPart],
        whole: Option<Digest>,
    ) -> Result<()> {
        let config = self.transfer.config();
        let body = xml::complete_body(parts, config.checksum_algorithm);
        let mut headers = self.condition.clone();
        if self.checksummed
            && config.checksum_type == ChecksumType::FullObject
            && let Some(whole) = whole
        {
            headers.push((config.checksum_algorithm.header().into(), to_base64(&whole)));
            headers.push((
                "x-amz-checksum-type".into(),
                ChecksumType::FullObject.s3_name().into(),
            ));
        }
        let call = Call::new(|signer, at| {
            Ok(signer.complete_multipart_upload(self.transfer.key(), upload_id, &headers, at))
        })
        .headers(&[("content-type", "application/xml")])
        .body(Body::Bytes(body.as_bytes()));
        self.transfer
            .requester
            .call(&call, self.transfer.progress, |reply| {
                // S3 may answer 200 and still report an error in the body; a body that is no
                // reply at all (not XML) completed nothing either.
                let text = http::read_text(reply)?;
                match xml::parse_complete(&text)? {
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

    /// Aborts the upload after `error`, saying in the error whether that worked. The abort
    /// goes over the shared agent: a cancelled transfer's own agent is shut down.
    pub fn abort_after(&self, error: Error, upload_id: &str) -> Error {
        let aborted = self.transfer.housekeeping().and_then(|housekeeping| {
            housekeeping.abort_multipart_upload(self.transfer.key(), upload_id, &())
        });
        match aborted {
            Ok(()) => error.note("the multipart upload was aborted"),
            Err(abort_error) => error.note(format_args!(
                "the multipart upload {upload_id} could not be aborted: {abort_error}; it \
                 still holds storage until aborted: `s3mt uploads abort {} --upload-id \
                 {upload_id}`",
                self.transfer.object
            )),
        }
    }

    /// Stores `record` as the object's tag [`RECORD_TAG`], for objects whose record could not
    /// go in their metadata (streams).
    pub fn tag_record(&self, record: &Record) -> Result<()> {
        self.transfer.requester.put_object_tag(
            self.transfer.key(),
            (RECORD_TAG, &record.to_metadata()),
            self.transfer.progress,
        )
    }

    /// Under no-overwrite, the server's 412 says the object exists: [`ErrorKind::AlreadyExists`].
    fn already_exists(&self, err: Error) -> Error {
        if self.condition.is_empty() || err.kind() != ErrorKind::PreconditionFailed {
            return err;
        }
        let error = Error::new(
            ErrorKind::AlreadyExists,
            format!("{} already exists (no-overwrite)", self.transfer.object),
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

/// What became of the uploads a retried Create may have left.
enum Orphans {
    /// Found and aborted (maybe none).
    Aborted(usize),
    /// Not looked for, or not all aborted: why.
    NotFound { why: String },
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
