//! The façade embedders call: a cheap handle over a shared session. Nothing inside the crate
//! imports it.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::s3::S3Uri;
use crate::s3::sign::{MAX_PRESIGN_EXPIRY, PresignMethod};
use crate::s3::xml::{MultipartUpload, ObjectInfo};
use crate::settings::Config;
use crate::transfer::session::{Session, Transfer};
use crate::transfer::{
    TransferOptions, TransferSummary, TreeSummary, copy_object, download_file, download_stream,
    upload_file, upload_stream,
};
use crate::tree::{self, TreeOptions};

/// A cheap-to-clone handle for transfers. Clones share one connection pool and one worker pool
/// of [`Config::concurrency`] threads.
#[derive(Debug, Clone)]
pub struct Client {
    session: Arc<Session>,
}

impl Client {
    /// A client for `config`, with its worker pool started.
    pub fn new(config: Config) -> Result<Self> {
        Ok(Self {
            session: Arc::new(Session::new(config)?),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        &self.session.config
    }

    /// Uploads the file at `source` to `destination` (an object key, not a prefix).
    pub fn upload_file(&self, source: &Path, destination: &S3Uri) -> Result<TransferSummary> {
        self.upload_file_with(source, destination, &TransferOptions::default())
    }

    /// [`Client::upload_file`] with options.
    pub fn upload_file_with(
        &self,
        source: &Path,
        destination: &S3Uri,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = options.to_progress();
        let outcome = Transfer::new(&self.session, destination, &progress)
            .and_then(|transfer| upload_file::upload_file(&transfer, source, &options.object));
        progress.finish(outcome.map_err(|err| {
            err.context(format_args!("upload {} to {destination}", source.display()))
        }))
    }

    /// Uploads everything `reader` yields (e.g. standard input) to `destination`, in bounded
    /// memory: at most `concurrency + 1` part buffers. Parts grow as the stream goes (see
    /// [`StreamPlan`](crate::plan::StreamPlan)) unless [`TransferOptions::expected_size`] is
    /// given; a stream shorter than one part goes up in one PutObject. Any failure, a read
    /// error included, aborts the multipart upload.
    pub fn upload_stream(
        &self,
        reader: &mut dyn Read,
        destination: &S3Uri,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = options.to_progress();
        let outcome = Transfer::new(&self.session, destination, &progress)
            .and_then(|transfer| upload_stream::upload_stream(&transfer, reader, options));
        progress.finish(outcome.map_err(|err| err.context(format_args!("upload to {destination}"))))
    }

    /// Downloads `source` into `writer` (e.g. standard output) in order, with concurrent
    /// ranged GETs held in a window of at most `concurrency + 1` ranges. The bytes are
    /// verified as they are written; a mismatch can only be reported at the end, after the
    /// bytes went out (an [`ErrorKind::Integrity`](crate::ErrorKind::Integrity) error).
    pub fn download_to_writer(
        &self,
        source: &S3Uri,
        writer: &mut dyn Write,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = options.to_progress();
        let outcome = Transfer::new(&self.session, source, &progress).and_then(|transfer| {
            download_stream::download_to_writer(&transfer, writer, options.verify)
        });
        progress.finish(outcome.map_err(|err| err.context(format_args!("download {source}"))))
    }

    /// Downloads `source` to the file `destination`, replacing it only once complete.
    pub fn download_file(&self, source: &S3Uri, destination: &Path) -> Result<TransferSummary> {
        self.download_file_with(source, destination, &TransferOptions::default())
    }

    /// [`Client::download_file`] with options.
    pub fn download_file_with(
        &self,
        source: &S3Uri,
        destination: &Path,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = options.to_progress();
        let outcome = Transfer::new(&self.session, source, &progress).and_then(|transfer| {
            let file = download_file::DownloadOptions {
                verify: options.verify,
                ..Default::default()
            };
            download_file::download_file(&transfer, destination, file)
        });
        progress.finish(outcome.map_err(|err| {
            err.note("the destination was not touched")
                .context(format_args!(
                    "download {source} to {}",
                    destination.display()
                ))
        }))
    }

    /// Copies the object `source` to `destination` (an object key, not a prefix) inside S3:
    /// the bytes never pass through the client. One CopyObject up to the multipart threshold,
    /// else UploadPartCopy of byte ranges on the pool, for any size up to S3's largest object.
    /// The destination's content type, caching headers and user metadata come from the source
    /// ([`MetadataDirective::Copy`](crate::MetadataDirective), the default unless the options
    /// describe the object) or from `options.object`; storage class and encryption from
    /// `options.object`. A source replaced during the copy fails it as
    /// [`ErrorKind::PreconditionFailed`](crate::ErrorKind::PreconditionFailed), the upload
    /// aborted. The summary says how the copy was checked against the source.
    pub fn copy_object(
        &self,
        source: &S3Uri,
        destination: &S3Uri,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = options.to_progress();
        let outcome = Transfer::new(&self.session, destination, &progress).and_then(|to| {
            let from = Transfer::new(&self.session, source, &progress)?;
            copy_object::copy_object(&to, &from, &options.object)
        });
        progress.finish(
            outcome.map_err(|err| err.context(format_args!("copy {source} to {destination}"))),
        )
    }

    /// Uploads the files under the directory `source` to keys under `destination` (a bucket,
    /// or a prefix: `s3://b/p` and `s3://b/p/` both put `DIR/a/b` at `p/a/b`): all of them
    /// (`cp --recursive`), or with [`TreeOptions::sync`] only what is missing or differs. One
    /// file's failure does not stop the others: the summary lists each. An error is a tree
    /// that could not be walked or listed, or a cancellation.
    pub fn upload_tree(
        &self,
        source: &Path,
        destination: &S3Uri,
        options: &TreeOptions,
    ) -> Result<TreeSummary> {
        let progress = options.transfer.to_progress();
        let outcome = tree_prefix(destination).and_then(|prefix| {
            tree::upload_tree(&self.session, source, prefix, options, &progress)
        });
        progress.finish_tree(outcome.map_err(|err| {
            err.context(format_args!("upload {} to {destination}", source.display()))
        }))
    }

    /// Downloads the objects under `source` (a bucket or a prefix, as for
    /// [`Client::upload_tree`]) to files under the directory `destination`, created when
    /// missing. No key is written outside `destination`: keys that would be are skipped and
    /// named in the summary.
    pub fn download_tree(
        &self,
        source: &S3Uri,
        destination: &Path,
        options: &TreeOptions,
    ) -> Result<TreeSummary> {
        let progress = options.transfer.to_progress();
        let outcome = tree_prefix(source).and_then(|prefix| {
            tree::download_tree(&self.session, prefix, destination, options, &progress)
        });
        progress.finish_tree(outcome.map_err(|err| {
            err.context(format_args!(
                "download {source} to {}",
                destination.display()
            ))
        }))
    }

    /// Copies the objects under `source` to keys under `destination` (buckets or prefixes, as
    /// for [`Client::upload_tree`]) inside S3, each by a server-side copy: all of them, or with
    /// [`TreeOptions::sync`] only what is missing or differs (a different size, a source
    /// written after its copy, or with [`Compare::Checksum`](crate::Compare) checksums that
    /// differ). Prefixes of one bucket where one holds the other are refused.
    pub fn copy_tree(
        &self,
        source: &S3Uri,
        destination: &S3Uri,
        options: &TreeOptions,
    ) -> Result<TreeSummary> {
        let progress = options.transfer.to_progress();
        let outcome = tree_prefix(source).and_then(|from| {
            let to = tree_prefix(destination)?;
            tree::copy_tree(&self.session, from, to, options, &progress)
        });
        progress.finish_tree(
            outcome.map_err(|err| err.context(format_args!("copy {source} to {destination}"))),
        )
    }

    /// Deletes the objects under `prefix` (a bucket, or a prefix: `s3://b/p` and `s3://b/p/`
    /// both mean `p/`) that `options`' filters and shard keep, in DeleteObjects batches of up
    /// to 1,000 keys, several in flight (`rm --recursive`); with [`TreeOptions::dry_run`],
    /// names them and deletes nothing. Each key the server refuses is in the summary's
    /// failures; the others are deleted.
    pub fn remove_tree(&self, prefix: &S3Uri, options: &TreeOptions) -> Result<TreeSummary> {
        let progress = options.transfer.to_progress();
        let outcome = tree_prefix(prefix)
            .and_then(|tree| tree::remove_tree(&self.session, tree, options, &progress));
        progress.finish_tree(outcome.map_err(|err| err.context(format_args!("remove {prefix}"))))
    }

    /// Creates `bucket`; one that already exists and is yours counts as created.
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        self.requester(bucket)
            .and_then(|requester| requester.create_bucket())
            .map_err(|err| err.context(format_args!("create bucket {bucket}")))
    }

    /// Lists the objects in `bucket` whose keys start with `prefix`, every page (ListObjectsV2
    /// with continuation tokens), in the server's order (by key).
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.requester(bucket)
            .and_then(|requester| requester.list_objects(prefix).collect())
            .map_err(|err| err.context(format_args!("list objects in {bucket}")))
    }

    /// Deletes the object at `location`. S3 reports success whether or not the key existed.
    pub fn delete_object(&self, location: &S3Uri) -> Result<()> {
        location.require_object_key()?;
        self.requester(location.bucket())
            .and_then(|requester| requester.delete_object(location.key()))
            .map_err(|err| err.context(format_args!("delete {location}")))
    }

    /// A presigned URL for `method` on `location`, valid for `expires` (1 second to
    /// [`MAX_PRESIGN_EXPIRY`]) from now. Nothing is sent. The URL is a bearer credential for
    /// that one request: whoever holds it can use it until it expires.
    pub fn presign(
        &self,
        location: &S3Uri,
        method: PresignMethod,
        expires: Duration,
    ) -> Result<String> {
        location.require_object_key()?;
        if expires < Duration::from_secs(1) || expires > MAX_PRESIGN_EXPIRY {
            return Err(Error::invalid(format!(
                "presigned URL expiry {expires:?} outside 1 second to 7 days"
            )));
        }
        let url = self
            .requester(location.bucket())?
            .presign(location.key(), method, expires)?;
        Ok(url.into())
    }

    /// Lists the incomplete multipart uploads in `bucket` whose keys start with `prefix`.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>> {
        self.requester(bucket)
            .and_then(|requester| requester.list_multipart_uploads(prefix))
            .map_err(|err| err.context(format_args!("list uploads in {bucket}")))
    }

    /// Aborts the multipart upload `upload_id` of `location`. An upload already gone counts as
    /// aborted.
    pub fn abort_multipart_upload(&self, location: &S3Uri, upload_id: &str) -> Result<()> {
        self.requester(location.bucket())?
            .abort_multipart_upload(location.key(), upload_id, &())
    }

    /// Requests to `bucket` over the shared agent.
    fn requester(&self, bucket: &str) -> Result<crate::s3::call::Requester> {
        self.session.requester(self.session.http.clone(), bucket)
    }
}

/// The prefix a tree's keys are under: the key given, with a `/` after it unless empty.
fn tree_prefix(location: &S3Uri) -> Result<S3Uri> {
    if location.is_prefix() {
        return Ok(location.clone());
    }
    S3Uri::new(location.bucket(), format!("{}/", location.key()))
}
