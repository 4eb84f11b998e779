//! Resuming an interrupted transfer from its journal: an upload picks up its multipart upload
//! (the parts the server still has with the journaled ETags and checksums), a copy inside S3
//! its multipart upload (the parts the server still has with the journaled ETags), a download
//! its partial file (the ranges the journal lists). Anything that no longer matches starts over.
//! A stream cannot resume: its journal only lets the next stream upload to the same key abort
//! the multipart upload a killed run left.

use std::collections::BTreeMap;
use std::fs::{File, Metadata, TryLockError};
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempPath};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::journal::{
    self, CopyHeader, Done, DownloadHeader, Journal, SourceIdentity, StreamHeader, UploadHeader,
    UploadId,
};
use super::multipart::Upload;
use super::session::Transfer;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::algorithm::{Digest, to_base64};
use crate::integrity::record::Record;
use crate::plan::PartPlan;
use crate::s3::xml::CompletedPart;

/// Where a resumable upload keeps its journal, and the header it must match.
pub(crate) struct ResumableUpload {
    path: PathBuf,
    template: UploadHeader,
}

impl ResumableUpload {
    pub fn new(
        state_dir: &Path,
        transfer: &Transfer<'_>,
        source: &Path,
        metadata: &Metadata,
        plan: PartPlan,
        record: &Record,
    ) -> Self {
        let source = SourceIdentity::of(source, metadata);
        let endpoint = transfer.config().endpoint.to_string();
        let source_path = source.path.to_string_lossy().into_owned();
        let object = transfer.object;
        let path = journal::path_for(
            state_dir,
            "upload",
            &[&endpoint, object.bucket(), object.key(), &source_path],
        );
        Self {
            path,
            template: UploadHeader {
                endpoint,
                bucket: object.bucket().to_owned(),
                key: object.key().to_owned(),
                source,
                upload_id: String::new(),
                part_size: plan.part_size,
                composite: to_base64(&record.composite),
                checksum_type: transfer.config().checksum_type.s3_name().to_owned(),
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

/// The multipart upload parts go to: new, or an interrupted one resumed.
pub(crate) struct Started<H = UploadHeader> {
    pub upload_id: String,
    /// Where finished parts are recorded, when resuming is on.
    pub journal: Option<Journal<H>>,
    /// Parts an interrupted run finished that the server still has.
    pub resumed: BTreeMap<u32, CompletedPart>,
}

/// The upload to send parts to: the journal's, when it matches this source and the server
/// still has it (its parts already there, with the ETags the journal recorded, are kept);
/// else a new one, with a new journal when resuming is on.
pub(crate) fn start_upload(
    upload: &Upload<'_>,
    resumable: Option<&ResumableUpload>,
    digests: &[Digest],
) -> Result<Started> {
    let journal = resumable.map(|resumable| Resumable {
        path: &resumable.path,
        header: Box::new(|upload_id| resumable.header(upload_id)),
    });
    start(
        upload,
        journal,
        "upload",
        digests.len() as u64,
        |done, on_server| kept_parts(done, on_server, digests),
    )
}

/// The multipart upload of a copy inside S3: the journal's, when it copies the same source
/// (same ETag) to the same key in the same parts and the server still has it, keeping the
/// parts the journal recorded that the server holds with the same ETag; else a new one.
pub(crate) fn start_copy(
    upload: &Upload<'_>,
    resumable: Option<&ResumableCopy>,
    parts: u64,
) -> Result<Started<CopyHeader>> {
    let journal = resumable.map(|resumable| Resumable {
        path: &resumable.path,
        header: Box::new(|upload_id| CopyHeader {
            upload_id: upload_id.to_owned(),
            ..resumable.template.clone()
        }),
    });
    start(upload, journal, "copy", parts, |done, on_server| {
        on_server
            .iter()
            .filter_map(|(number, etag)| {
                let recorded = done.get(number)?;
                // CopyPartResult's ETag may come without the quotes ListParts puts around it.
                let unquoted = |etag: &str| etag.trim_matches('"').to_owned();
                let same = recorded.etag.as_deref().map(unquoted) == Some(unquoted(etag));
                same.then(|| {
                    let part = CompletedPart {
                        number: *number,
                        etag: etag.clone(),
                        checksum: recorded.checksum.clone(),
                    };
                    (*number, part)
                })
            })
            .collect()
    })
}

/// Where a resumable copy keeps its journal, and the header it must match.
pub(crate) struct ResumableCopy {
    path: PathBuf,
    template: CopyHeader,
}

impl ResumableCopy {
    /// A copy to `transfer`'s object from `source` (`/bucket/key`, as `x-amz-copy-source`
    /// names it) at `etag`, of `size` bytes in `plan`'s parts.
    pub fn new(
        state_dir: &Path,
        transfer: &Transfer<'_>,
        source: &str,
        etag: &str,
        size: u64,
        plan: PartPlan,
    ) -> Self {
        let endpoint = transfer.config().endpoint.to_string();
        let object = transfer.object;
        let path = journal::path_for(
            state_dir,
            "copy",
            &[&endpoint, object.bucket(), object.key(), source],
        );
        let config = transfer.config();
        Self {
            path,
            template: CopyHeader {
                endpoint,
                bucket: object.bucket().to_owned(),
                key: object.key().to_owned(),
                source: source.to_owned(),
                source_etag: etag.to_owned(),
                size,
                part_size: plan.part_size,
                checksum_algorithm: config.checksum_algorithm.s3_name().to_owned(),
                checksum_type: config.checksum_type.s3_name().to_owned(),
                upload_id: String::new(),
            },
        }
    }
}

/// A journal's place, and the header it must hold for a given upload id.
struct Resumable<'a, H> {
    path: &'a Path,
    header: Box<dyn Fn(&str) -> H + 'a>,
}

/// The multipart upload of a transfer (`what`: upload or copy) of `parts` parts: the
/// journal's when it matches and the server still has it, keeping what `kept` says of the
/// journal's parts and the server's; else a new one, with a new journal when resuming is on.
fn start<H: Serialize + DeserializeOwned + PartialEq + UploadId>(
    upload: &Upload<'_>,
    resumable: Option<Resumable<'_, H>>,
    what: &str,
    parts: u64,
    kept: impl Fn(&BTreeMap<u32, Done>, &[(u32, String)]) -> BTreeMap<u32, CompletedPart>,
) -> Result<Started<H>> {
    let transfer = upload.transfer;
    if let Some(resumable) = &resumable
        && let Some(journal) = Journal::<H>::open(resumable.path)
    {
        let upload_id = journal.header.upload_id().to_owned();
        let housekeeping = transfer.housekeeping()?;
        if journal.header != (resumable.header)(&upload_id) {
            transfer.progress.notice(format!(
                "the source changed since the interrupted {what}: discarding it"
            ));
            let _ = housekeeping.abort_multipart_upload(transfer.key(), &upload_id, &());
            journal.remove();
        } else {
            match housekeeping.list_parts(transfer.key(), &upload_id) {
                Ok(on_server) => {
                    let resumed = kept(&journal.done, &on_server);
                    transfer.progress.notice(format!(
                        "resuming the interrupted {what}: {} of {parts} parts are already there",
                        resumed.len(),
                    ));
                    return Ok(Started {
                        upload_id,
                        journal: Some(journal),
                        resumed,
                    });
                }
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    transfer.progress.notice(format!(
                        "the interrupted {what} is gone from the server: starting over"
                    ));
                    journal.remove();
                }
                Err(err) => return Err(err),
            }
        }
    }
    let upload_id = upload.create()?;
    let journal = resumable
        .and_then(|resumable| Journal::create(resumable.path, (resumable.header)(&upload_id)).ok());
    Ok(Started {
        upload_id,
        journal,
        resumed: BTreeMap::new(),
    })
}

/// The journal of a stream upload to `transfer`'s object while its multipart upload is open.
pub(crate) struct StreamJournal {
    path: PathBuf,
    template: StreamHeader,
}

impl StreamJournal {
    pub fn new(state_dir: &Path, transfer: &Transfer<'_>) -> Self {
        let endpoint = transfer.config().endpoint.to_string();
        let object = transfer.object;
        let path = journal::path_for(
            state_dir,
            "stream",
            &[&endpoint, object.bucket(), object.key()],
        );
        Self {
            path,
            template: StreamHeader {
                endpoint,
                bucket: object.bucket().to_owned(),
                key: object.key().to_owned(),
                upload_id: String::new(),
            },
        }
    }

    /// Aborts the multipart upload an earlier stream upload to this object left when it was
    /// killed (its journal is there and no running process holds it), and says so.
    pub fn abort_left_over(&self, transfer: &Transfer<'_>) {
        let Some(journal) = Journal::<StreamHeader>::open(&self.path) else {
            return;
        };
        if !journal.try_lock() {
            return;
        }
        let upload_id = journal.header.upload_id.clone();
        let aborted = transfer.housekeeping().and_then(|housekeeping| {
            housekeeping.abort_multipart_upload(transfer.key(), &upload_id, &())
        });
        match aborted {
            Ok(()) => {
                transfer.progress.notice(format!(
                    "aborted the multipart upload {upload_id} an interrupted stream upload to \
                     this key left (a stream cannot resume)"
                ));
                journal.remove();
            }
            Err(err) => transfer.progress.notice(format!(
                "could not abort the multipart upload {upload_id} an interrupted stream \
                 upload to this key left: {err}"
            )),
        }
    }

    /// Notes `upload_id` as this run's, locked while the run lasts; `None` when the state
    /// directory cannot be written (the upload goes on without the note).
    pub fn begin(&self, upload_id: &str) -> Option<Journal<StreamHeader>> {
        let header = StreamHeader {
            upload_id: upload_id.to_owned(),
            ..self.template.clone()
        };
        let journal = Journal::create(&self.path, header).ok()?;
        journal.try_lock();
        Some(journal)
    }
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
            let checksum = to_base64(digest);
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

/// The journal header of a resumable download to `destination` (in `directory`): where its
/// partial file is, and what it must match (the object's ETag and size, the range size).
pub(crate) fn download_header(
    transfer: &Transfer<'_>,
    destination: &Path,
    directory: &Path,
    etag: &str,
    size: u64,
    plan: PartPlan,
) -> DownloadHeader {
    let directory = std::fs::canonicalize(directory).unwrap_or_else(|_| directory.to_path_buf());
    let name = destination
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy());
    DownloadHeader {
        endpoint: transfer.config().endpoint.to_string(),
        bucket: transfer.object.bucket().to_owned(),
        key: transfer.key().to_owned(),
        destination: directory.join(&*name),
        partial: directory.join(format!(".{name}.s3mt-partial")),
        etag: etag.to_owned(),
        size,
        range_size: plan.part_size,
    }
}

/// The partial file of a resumable download and its journal: the ones an interrupted run
/// left when they match `header` (same object, same ETag), else fresh ones. The partial file
/// is locked for this process, so two runs never write one file.
pub(crate) fn open_partial(
    transfer: &Transfer<'_>,
    state_dir: &Path,
    header: &DownloadHeader,
) -> Result<(NamedTempFile, Option<Journal<DownloadHeader>>)> {
    let path = journal::path_for(
        state_dir,
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
        let partial = File::options().read(true).write(true).open(&header.partial);
        match partial {
            Ok(file) if journal.header == *header => {
                lock(&file, &header.partial)?;
                transfer.progress.notice(format!(
                    "resuming the interrupted download: {} of {} ranges are already there",
                    journal.done.len(),
                    header.size.div_ceil(header.range_size.max(1))
                ));
                let temporary = NamedTempFile::from_parts(file, partial_path(&header.partial)?);
                return Ok((temporary, Some(journal)));
            }
            _ => {
                if journal.header.etag != header.etag {
                    transfer
                        .progress
                        .notice("the object changed since the interrupted download: starting over");
                }
                let _ = std::fs::remove_file(&journal.header.partial);
                journal.remove();
            }
        }
    }
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&header.partial)
        .map_err(local)?;
    lock(&file, &header.partial)?;
    let temporary = NamedTempFile::from_parts(file, partial_path(&header.partial)?);
    // Without a journal the download still works: it just cannot resume.
    let journal = Journal::create(&path, header.clone()).ok();
    Ok((temporary, journal))
}

/// Takes the exclusive lock of a partial file, or says another run holds it.
fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::new(
            ErrorKind::LocalIo,
            format!(
                "{} is being written by another s3mt downloading the same object to the same \
                 destination",
                path.display()
            ),
        )),
        Err(TryLockError::Error(err)) => Err(Error::local_io(
            format_args!("cannot lock {}", path.display()),
            err,
        )),
    }
}

/// `path` as a [`TempPath`]: removed on drop unless kept.
fn partial_path(path: &Path) -> Result<TempPath> {
    TempPath::try_from_path(path)
        .map_err(|err| Error::local_io(format_args!("cannot use {}", path.display()), err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::algorithm::sha256;

    #[test]
    fn resumed_parts_are_those_both_the_journal_and_the_server_have_with_one_etag() {
        let digests = [sha256(b"1"), sha256(b"2"), sha256(b"3")];
        let done = |part: u32, etag: &str, sha256: String| Done {
            part,
            etag: Some(etag.to_owned()),
            checksum: Some(sha256),
        };
        let journal: BTreeMap<u32, Done> = [
            (1, done(1, "\"e1\"", to_base64(&digests[0]))),
            (2, done(2, "\"e2\"", to_base64(&digests[1]))),
            // The file's third part changed since it was sent.
            (3, done(3, "\"e3\"", to_base64(&digests[0]))),
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
            Some(to_base64(&digests[0]).as_str())
        );
    }

    #[test]
    fn a_partial_file_locked_by_another_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".copy.s3mt-partial");
        let first = File::create(&path).unwrap();
        lock(&first, &path).unwrap();
        let second = File::options().write(true).open(&path).unwrap();
        let err = lock(&second, &path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LocalIo);
        assert!(err.to_string().contains("another s3mt"), "{err}");
        drop(first);
        lock(&second, &path).unwrap();
    }
}
