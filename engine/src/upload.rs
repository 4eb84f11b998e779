//! File -> object: one PutObject, or Create -> UploadPart x N on the pool -> Complete, with the
//! upload aborted on any failure.

use std::cell::Cell;
use std::fs::{File, Metadata};
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::time::{Instant, SystemTime};

use jiff::Timestamp;
use rayon::prelude::*;

use crate::client::{Inner, TransferSummary};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Payload};
use crate::location::S3Uri;
use crate::mapped::{self, SourceMap};
use crate::plan::{self, Part, PartPlan, UploadPlan};
use crate::progress::{Event, Progress, REPORT_EVERY};
use crate::sign::Signer;
use crate::xml::{self, CompletedPart};

pub(crate) fn upload_file(
    inner: &Inner,
    source: &Path,
    destination: &S3Uri,
    progress: &Progress,
) -> Result<TransferSummary> {
    let started = Instant::now();
    destination.require_object_key()?;
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
    let upload = Upload {
        inner,
        signer: &signer,
        key: destination.key(),
        map: &map,
        progress,
    };
    let parts = match plan {
        UploadPlan::Single => {
            progress.send(|| Event::Planned {
                total_bytes: size,
                part_size: size,
                parts: 1,
            });
            upload.put_object()?;
            1
        }
        UploadPlan::Multipart(plan) => {
            let unchanged = || ensure_unchanged(source, &metadata);
            upload.multipart(plan, unchanged)?;
            plan.count()
        }
    };
    Ok(TransferSummary {
        bytes: size,
        parts,
        elapsed: started.elapsed(),
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
                "{} changed while it was being uploaded (size or modification time); \
                 the upload was abandoned",
                source.display()
            ),
        ));
    }
    Ok(())
}

struct Upload<'a> {
    inner: &'a Inner,
    signer: &'a Signer,
    key: &'a str,
    map: &'a SourceMap,
    progress: &'a Progress,
}

impl Upload<'_> {
    fn put_object(&self) -> Result<()> {
        let bytes = self.map.bytes();
        let whole = Part {
            number: 1,
            offset: 0,
            len: bytes.len() as u64,
        };
        self.inner.with_retries(1, self.progress, |reported| {
            let request = self.signer.put_object(self.key, &Timestamp::now());
            let mut body = PartReader::new(self, whole, reported);
            let response =
                self.inner
                    .http
                    .send(&request, &[], Payload::Reader(&mut body, whole.len))?;
            let mut response = http::expect_status(response, &[200])?;
            http::finish_body(&mut response)
        })?;
        self.progress.send(|| Event::PartDone { part: 1 });
        Ok(())
    }

    fn multipart(&self, plan: PartPlan, unchanged: impl Fn() -> Result<()>) -> Result<()> {
        let upload_id = self.create()?;
        self.progress.send(|| Event::Planned {
            total_bytes: plan.total,
            part_size: plan.part_size,
            parts: plan.count(),
        });
        let outcome = self
            .inner
            .pool
            .install(|| {
                (0..plan.count())
                    .into_par_iter()
                    .map(|index| self.upload_part(&upload_id, plan.part(index)))
                    .collect::<Result<Vec<CompletedPart>>>()
            })
            .and_then(|parts| {
                unchanged()?;
                self.complete(&upload_id, &parts)
            });
        if let Err(err) = outcome {
            return Err(match self.inner.abort(self.signer, self.key, &upload_id) {
                Ok(()) => err,
                Err(abort_err) => err.context(format_args!(
                    "(the multipart upload {upload_id} could not be aborted: {abort_err}; \
                     it still holds storage)"
                )),
            });
        }
        Ok(())
    }

    fn create(&self) -> Result<String> {
        self.inner.with_retries(0, self.progress, |_| {
            let request = self
                .signer
                .create_multipart_upload(self.key, &Timestamp::now());
            let response = self.inner.http.send(&request, &[], Payload::Empty)?;
            let mut response = http::expect_status(response, &[200])?;
            xml::parse_upload_id(&http::read_text(&mut response)?)
        })
    }

    fn upload_part(&self, upload_id: &str, part: Part) -> Result<CompletedPart> {
        let etag = self
            .inner
            .with_retries(part.number, self.progress, |reported| {
                let request =
                    self.signer
                        .upload_part(self.key, part.number, upload_id, &Timestamp::now())?;
                let mut body = PartReader::new(self, part, reported);
                let response =
                    self.inner
                        .http
                        .send(&request, &[], Payload::Reader(&mut body, part.len))?;
                let mut response = http::expect_status(response, &[200])?;
                let etag = http::header(&response, "etag")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::Protocol, "the server sent no ETag for the part")
                    })?;
                http::finish_body(&mut response)?;
                Ok(etag)
            });
        let etag = etag.map_err(|err| err.context(format_args!("part {}", part.number)))?;
        self.progress.send(|| Event::PartDone { part: part.number });
        Ok(CompletedPart {
            number: part.number,
            etag,
        })
    }

    fn complete(&self, upload_id: &str, parts: &[CompletedPart]) -> Result<()> {
        let body = xml::complete_body(parts);
        self.inner.with_retries(0, self.progress, |_| {
            let request =
                self.signer
                    .complete_multipart_upload(self.key, upload_id, &Timestamp::now());
            let headers = [("content-type", "application/xml")];
            let response =
                self.inner
                    .http
                    .send(&request, &headers, Payload::Bytes(body.as_bytes()))?;
            let mut response = http::expect_status(response, &[200])?;
            // S3 may answer 200 and still report an error in the body.
            let reply = http::read_text(&mut response)?;
            match xml::parse_error(200, &reply) {
                Some(service) => Err(http::service_error(service)),
                None => Ok(()),
            }
        })
    }
}

/// Streams one part from the map: reports progress every [`REPORT_EVERY`] bytes and drops the
/// pages already sent from the process, so resident memory stays flat.
struct PartReader<'a> {
    map: &'a SourceMap,
    progress: &'a Progress,
    part: u32,
    range: Range<usize>,
    position: usize,
    released: usize,
    reported: &'a Cell<u64>,
}

impl<'a> PartReader<'a> {
    fn new(upload: &Upload<'a>, part: Part, reported: &'a Cell<u64>) -> Self {
        // Parts of a mapped file fit in usize: the map itself does.
        let start = part.offset as usize;
        Self {
            map: upload.map,
            progress: upload.progress,
            part: part.number,
            range: start..start + part.len as usize,
            position: start,
            released: start,
            reported,
        }
    }

    fn report(&mut self) {
        let fresh = (self.position - self.range.start) as u64 - self.reported.get();
        if fresh > 0 {
            self.progress.send(|| Event::Bytes {
                part: self.part,
                bytes: fresh,
            });
            self.reported.set(self.reported.get() + fresh);
        }
        self.map.release(self.released..self.position);
        let page = mapped::page_size();
        self.released = self.position / page * page;
    }
}

impl Read for PartReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let remaining = &self.map.bytes()[self.position..self.range.end];
        let n = remaining.len().min(buf.len());
        buf[..n].copy_from_slice(&remaining[..n]);
        self.position += n;
        if self.position - self.released >= REPORT_EVERY || self.position == self.range.end {
            self.report();
        }
        Ok(n)
    }
}
