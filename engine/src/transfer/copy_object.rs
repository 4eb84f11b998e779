//! Object -> object, the bytes never passing through s3mt: one CopyObject up to the multipart
//! threshold; above it Create -> UploadPartCopy of byte ranges on the pool -> Complete, for any
//! size S3 allows (CopyObject alone stops at 5 GB). Every request names the source's ETag
//! (`x-amz-copy-source-if-match`), so a source replaced mid-copy fails as changed, and the
//! upload is aborted. The destination's description comes from the source (COPY: also for a
//! multipart copy, whose Create carries it) or from the options (REPLACE); a multipart copy
//! takes the source's tags where the server keeps them. Afterwards the destination's checksum,
//! asked of the server, is compared with the source's where both have one.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::journal::Done;
use super::multipart::Upload;
use super::options::VerifyMode;
use super::progress::Event;
use super::ranged::{Download, RemoteObject};
use super::resume::{self, ResumableCopy, Started};
use super::session::Transfer;
use super::summary::TransferSummary;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::Verification;
use crate::integrity::algorithm::{ChecksumAlgorithm, Digest, parse_checksum};
use crate::integrity::expected::Expected;
use crate::integrity::record::METADATA_HEADER;
use crate::plan::{self, MAX_SINGLE_PUT, Part, PartPlan, UploadPlan};
use crate::s3::ObjectOptions;
use crate::s3::call::{Body, Call};
use crate::s3::http;
use crate::s3::object_options::{Header, MetadataDirective};
use crate::s3::requests::Tagging;
use crate::s3::xml::{self, CompletedPart};
use crate::sigv4::uri_encode;

/// Copies the object of `source` to the object of `destination`, as `options` say.
pub(crate) fn copy_object(
    destination: &Transfer<'_>,
    source: &Transfer<'_>,
    options: &ObjectOptions,
) -> Result<TransferSummary> {
    let started = Instant::now();
    options.validate()?;
    let config = destination.config();
    let object = Download { transfer: source }.head(VerifyMode::Auto)?;
    let etag = object.etag.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            "the source has no ETag, so a copy could not tell whether it changed",
        )
    })?;
    let directive = options.copy_directive();
    let mut object_headers = match directive {
        MetadataDirective::Replace => {
            let mut headers = options.object_headers(Path::new(destination.key()));
            headers.retain(|(name, _)| !is_placement(name));
            // s3mt's record still describes the bytes.
            headers.extend(
                object
                    .described
                    .iter()
                    .filter(|(name, _)| name == METADATA_HEADER)
                    .cloned(),
            );
            headers
        }
        _ => object.described.clone(),
    };
    object_headers.extend(options.placement_headers());
    // The upload asks for the client's checksum algorithm: the server then computes each
    // part's checksum as it copies it, and the whole object's, over the bytes it wrote.
    let upload = Upload {
        transfer: destination,
        object_headers,
        condition: options.condition_headers(),
        checksummed: true,
    };
    let copy = Copy {
        upload: &upload,
        source: copy_source(source),
        etag,
        directive,
    };
    let threshold = config.multipart_threshold.min(MAX_SINGLE_PUT);
    let parts = match plan::plan_upload(object.size, config.part_size, threshold)? {
        UploadPlan::Single => {
            destination.progress.send(|| Event::Planned {
                total_bytes: object.size,
                part_size: object.size,
                parts: 1,
            });
            copy.whole(object.size)?;
            1
        }
        UploadPlan::Multipart(plan) => {
            destination.progress.send(|| Event::Planned {
                total_bytes: plan.total,
                part_size: plan.part_size,
                parts: plan.count(),
            });
            let resumable = config.state_dir.as_deref().map(|dir| {
                ResumableCopy::new(
                    dir,
                    destination,
                    &copy.source,
                    &copy.etag,
                    object.size,
                    plan,
                )
            });
            copy.parts(plan, resumable.as_ref())?;
            if object.tagged {
                copy_tags(source, destination);
            }
            plan.count()
        }
    };
    let verification = compare(destination, &object)?;
    Ok(TransferSummary {
        bytes: object.size,
        parts,
        elapsed: started.elapsed(),
        verification,
    })
}

/// The requests of one copy.
struct Copy<'a> {
    upload: &'a Upload<'a>,
    /// `x-amz-copy-source`: `/bucket/key`, the key percent-encoded.
    source: String,
    /// The source's ETag, which every request requires.
    etag: String,
    directive: MetadataDirective,
}

impl Copy<'_> {
    /// The headers every copy request carries.
    fn source_headers(&self) -> Vec<Header> {
        vec![
            ("x-amz-copy-source".into(), self.source.clone()),
            ("x-amz-copy-source-if-match".into(), self.etag.clone()),
        ]
    }

    /// One CopyObject of the whole object.
    fn whole(&self, size: u64) -> Result<()> {
        let transfer = self.upload.transfer;
        let mut headers = self.source_headers();
        let directive = match self.directive {
            MetadataDirective::Replace => "REPLACE",
            _ => "COPY",
        };
        headers.push(("x-amz-metadata-directive".into(), directive.to_owned()));
        headers.extend(
            self.upload
                .object_headers
                .iter()
                // With COPY the server takes the description from the source itself.
                .filter(|(name, _)| directive == "REPLACE" || is_placement(name))
                .cloned(),
        );
        headers.extend(self.upload.condition.iter().cloned());
        let call = Call::new(|signer, at| Ok(signer.put_object(transfer.key(), &headers, at)))
            .body(Body::Empty);
        transfer.progress.send(|| Event::PartStarted {
            part: 1,
            bytes: size,
        });
        transfer
            .requester
            .call(&call, transfer.progress, copy_reply)
            .map_err(source_changed)?;
        transfer.progress.send(|| Event::Bytes {
            part: 1,
            bytes: size,
        });
        transfer.progress.send(|| Event::PartDone { part: 1 });
        Ok(())
    }

    /// Create (or the interrupted copy's upload, from its journal) -> UploadPartCopy of every
    /// part not already there, on the pool -> Complete. A failure a rerun may get past keeps
    /// the upload and its journal when resuming is on; any other aborts it.
    fn parts(&self, plan: PartPlan, resumable: Option<&ResumableCopy>) -> Result<()> {
        let upload = self.upload;
        let transfer = upload.transfer;
        let Started {
            upload_id,
            journal,
            resumed,
        } = resume::start_copy(upload, resumable, plan.count())?;
        let outcome = transfer
            .session
            .pool
            .install(|| {
                (0..plan.count())
                    .into_par_iter()
                    .map(|index| {
                        let part = plan.part(index);
                        if let Some(done) = resumed.get(&part.number) {
                            transfer.progress.resumed(part);
                            return Ok(done.clone());
                        }
                        let done = self.part(&upload_id, part)?;
                        if let Some(journal) = &journal {
                            // A part the journal misses is only copied again.
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
                let whole = whole_checksum(transfer.config().checksum_algorithm, plan, &parts);
                upload.complete(&upload_id, &parts, whole)
            });
        let Err(error) = outcome else {
            if let Some(journal) = journal {
                journal.remove();
            }
            return Ok(());
        };
        if journal.is_some() && error.kind().is_resumable() {
            return Err(error.note(format_args!(
                "the copy is kept to resume: run the same command again, or discard it with \
                 `s3mt uploads abort {} --upload-id {upload_id}`",
                transfer.object
            )));
        }
        if let Some(journal) = journal {
            journal.remove();
        }
        Err(upload.abort_after(error, &upload_id))
    }

    /// One UploadPartCopy of `part`'s byte range.
    fn part(&self, upload_id: &str, part: Part) -> Result<CompletedPart> {
        let transfer = self.upload.transfer;
        let mut headers = self.source_headers();
        headers.push((
            "x-amz-copy-source-range".into(),
            format!("bytes={}-{}", part.offset, part.end() - 1),
        ));
        let key = transfer.key();
        let call =
            Call::new(|signer, at| signer.upload_part(key, part.number, upload_id, &headers, at))
                .body(Body::Empty);
        transfer.progress.send(|| Event::PartStarted {
            part: part.number,
            bytes: part.len,
        });
        let element = transfer.config().checksum_algorithm.complete_element();
        let (etag, checksum) = transfer
            .requester
            .call(&call, transfer.progress, |reply| {
                let text = copy_reply(reply)?;
                if text.trim().is_empty() {
                    return Err(Error::new(
                        ErrorKind::Service,
                        "the server answered UploadPartCopy with an empty reply: it does not \
                         copy parts (a --multipart-threshold above the object's size copies \
                         it with one CopyObject, up to 5 GB)",
                    ));
                }
                Ok((
                    xml::parse_copy_etag(&text)?,
                    xml::element_text(&text, element),
                ))
            })
            .map_err(|err| source_changed(err).context(format_args!("part {}", part.number)))?;
        transfer.progress.send(|| Event::Bytes {
            part: part.number,
            bytes: part.len,
        });
        transfer
            .progress
            .send(|| Event::PartDone { part: part.number });
        Ok(CompletedPart {
            number: part.number,
            etag,
            checksum,
        })
    }
}

/// The XML of a CopyObject or UploadPartCopy reply. S3 may answer 200 and report an error in
/// the body: retried, as S3 asks.
fn copy_reply(reply: &mut crate::s3::call::Reply) -> Result<String> {
    let text = http::read_text(reply)?;
    if let Some(service) = xml::parse_error(200, &text) {
        let error = http::service_error(service);
        return Err(if error.is_retryable() {
            error
        } else {
            Error::new(ErrorKind::ServerBusy, error.to_string())
        });
    }
    Ok(text)
}

/// The whole object's checksum, combined from the part checksums the server computed as it
/// copied (CRCs; `None` when a part came back without one).
fn whole_checksum(
    algorithm: ChecksumAlgorithm,
    plan: PartPlan,
    parts: &[CompletedPart],
) -> Option<Digest> {
    let pieces: Option<Vec<(Digest, u64)>> = parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let digest = parse_checksum(algorithm, part.checksum.as_deref()?)?;
            Some((digest, plan.part(index as u64).len))
        })
        .collect();
    algorithm.combine_all(pieces?)
}

/// A refused `x-amz-copy-source-if-match`: the source changed since the copy began.
fn source_changed(err: Error) -> Error {
    if err.kind() != ErrorKind::PreconditionFailed {
        return err;
    }
    Error::new(
        ErrorKind::PreconditionFailed,
        "the source changed during the copy (its ETag no longer matches)",
    )
    .with_source(err)
}

/// `/bucket/key` as `x-amz-copy-source` takes it: the key percent-encoded, its `/` kept.
fn copy_source(source: &Transfer<'_>) -> String {
    let key = source
        .key()
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    format!("/{}/{key}", source.object.bucket())
}

/// Storage class and encryption: what a copy takes from the options, never the source.
fn is_placement(name: &str) -> bool {
    name.starts_with("x-amz-storage-class") || name.starts_with("x-amz-server-side")
}

/// The source's tags onto a multipart copy (CopyObject copies them itself). Best effort: the
/// bytes are copied; tags a server does not keep are said in a notice.
fn copy_tags(source: &Transfer<'_>, destination: &Transfer<'_>) {
    let outcome = match source
        .requester
        .object_tagging(source.key(), source.progress)
    {
        Ok(Tagging::Tags(body)) => {
            destination
                .requester
                .put_object_tagging(destination.key(), &body, destination.progress)
        }
        Ok(Tagging::Unsupported) => Ok(()),
        Err(err) => Err(err),
    };
    if let Err(err) = outcome {
        destination
            .progress
            .notice(format!("the source's tags were not copied: {err}"));
    }
}

/// Whether two objects hold the same bytes, by what the server says of them: a full-object
/// checksum of the same algorithm, or single-part MD5 ETags; `None` when they carry nothing of
/// one kind to compare. Pure.
pub(crate) fn same_content(
    source: &RemoteObject,
    copy: &RemoteObject,
) -> Option<(bool, Verification)> {
    match (&source.server, &copy.server) {
        (Expected::Object(ours, wanted), Expected::Object(theirs, got)) if ours == theirs => {
            Some((wanted == got, Verification::CopyMatched(*ours)))
        }
        (Expected::Md5(wanted), Expected::Md5(got)) => {
            Some((wanted == got, Verification::CopyMatchedEtag))
        }
        _ => None,
    }
}

/// How the copy is known to hold the source's bytes: its full-object checksum, asked of the
/// server, against the source's (or a single-part copy's MD5 ETag against the source's). A
/// mismatch deletes the copy, which is known to be wrong.
fn compare(destination: &Transfer<'_>, source: &RemoteObject) -> Result<Verification> {
    let copy = Download {
        transfer: destination,
    }
    .head(VerifyMode::Auto)?;
    match same_content(source, &copy) {
        Some((true, verification)) => Ok(verification),
        None => Ok(Verification::CopyUnchecked),
        Some((false, _)) => {
            let deleted = destination.requester.delete_object(destination.key());
            let what = match deleted {
                Ok(()) => "the copy was deleted".to_owned(),
                Err(err) => format!("the copy could not be deleted ({err}): delete it"),
            };
            Err(Error::new(
                ErrorKind::Integrity,
                format!("the copy's checksum differs from the source's; {what}"),
            ))
        }
    }
}
