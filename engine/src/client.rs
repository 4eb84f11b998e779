//! The client handle: a validated config, the shared HTTP agent and the worker pool.

use std::cell::Cell;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use jiff::Timestamp;

use crate::checksum::Verification;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Http, Payload};
use crate::location::S3Uri;
use crate::object_options::ObjectOptions;
use crate::progress::{CancelToken, Event, EventSink, Progress};
use crate::retry::RetryPolicy;
use crate::sign::{Signer, Stamp};
use crate::xml::{self, MultipartUpload, ObjectInfo};
use crate::{download, stream_download, stream_upload, upload};

/// A cheap-to-clone handle for transfers. Clones share one connection pool and one worker pool
/// of [`Config::concurrency`] threads.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The largest GetObjectTagging reply read: 10 tags of 128 + 256 characters, escaped, fit.
const MAX_TAGGING_REPLY: u64 = 64 * 1024;

/// What GetObjectTagging says of an object.
pub(crate) enum Tagging {
    /// The reply's XML (`<Tagging><TagSet>...`).
    Tags(String),
    /// The server does not implement object tagging.
    Unsupported,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: Config,
    pub http: Http,
    pub pool: rayon::ThreadPool,
}

/// Whether a download may finish without verifying its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// Verify against whatever integrity data the object has; report when there is none.
    #[default]
    Auto,
    /// Fail (before writing anything) when the object has no integrity data to verify against.
    Require,
}

/// Per-transfer options.
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    events: EventSink,
    cancel: Option<CancelToken>,
    pub(crate) verify: VerifyMode,
    pub(crate) object: ObjectOptions,
    pub(crate) expected_size: Option<u64>,
}

impl TransferOptions {
    /// Stops the transfer when `token` is cancelled. Default: not cancellable. A cancellable
    /// transfer opens its own connections (so cancelling can cut them) instead of reusing the
    /// client's.
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// How strictly downloads are verified. Default: [`VerifyMode::Auto`].
    pub fn verify(mut self, mode: VerifyMode) -> Self {
        self.verify = mode;
        self
    }

    /// What uploads store with the object (storage class, content type, metadata ...) and
    /// whether they may replace an existing one. Default: [`ObjectOptions::default`]. Ignored
    /// by downloads.
    pub fn object(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }

    /// The size of a stream to upload, when known up front: the part size is then chosen
    /// for it, as for a file, instead of growing as the stream goes. Default: unknown.
    pub fn expected_size(mut self, bytes: u64) -> Self {
        self.expected_size = Some(bytes);
        self
    }

    /// Sends the transfer's [`Event`]s to `sender`. Default: no events.
    ///
    /// Workers send as they go, so a bounded channel whose receiver falls behind slows the
    /// transfer down (a zero-capacity channel runs it in lockstep with the receiver).
    pub fn progress(mut self, sender: Sender<Event>) -> Self {
        self.events = EventSink::Channel(sender);
        self
    }

    /// Calls `callback` with each [`Event`], on the worker thread that made it; it must be
    /// quick. Replaces [`TransferOptions::progress`].
    pub fn on_event(mut self, callback: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = EventSink::Callback(Arc::new(callback));
        self
    }
}

/// The request a presigned URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PresignMethod {
    /// GetObject: download the object.
    #[default]
    Get,
    /// PutObject: upload (or replace) the object with a plain PUT of the body.
    Put,
}

/// The longest expiry S3 accepts for a presigned URL: 7 days.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a finished transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferSummary {
    /// Object size in bytes.
    pub bytes: u64,
    /// Parts uploaded or ranges downloaded (1 for a single PutObject).
    pub parts: u64,
    /// Wall time of the whole transfer.
    pub elapsed: Duration,
    /// How the bytes were checked.
    pub verification: Verification,
}

impl Client {
    /// A client for `config`, with its worker pool started.
    pub fn new(config: Config) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.concurrency)
            .thread_name(|index| format!("s3mt-worker-{index}"))
            .build()
            .map_err(|err| {
                Error::new(
                    ErrorKind::LocalIo,
                    format!("cannot start worker threads: {err}"),
                )
            })?;
        let http = Http::new(&config);
        Ok(Self {
            inner: Arc::new(Inner { config, http, pool }),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
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
        let progress = Progress::new(options.events.clone(), options.cancel.clone());
        let outcome =
            upload::upload_file(&self.inner, source, destination, &options.object, &progress);
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
        let progress = Progress::new(options.events.clone(), options.cancel.clone());
        let outcome =
            stream_upload::upload_stream(&self.inner, reader, destination, options, &progress);
        progress.finish(outcome.map_err(|err| err.context(format_args!("upload to {destination}"))))
    }

    /// Downloads `source` into `writer` (e.g. standard output) in order, with concurrent
    /// ranged GETs held in a window of at most `concurrency + 1` ranges. The bytes are
    /// verified as they are written; a mismatch can only be reported at the end, after the
    /// bytes went out (an [`ErrorKind::Integrity`] error).
    pub fn download_to_writer(
        &self,
        source: &S3Uri,
        writer: &mut dyn Write,
        options: &TransferOptions,
    ) -> Result<TransferSummary> {
        let progress = Progress::new(options.events.clone(), options.cancel.clone());
        let outcome = stream_download::download_to_writer(
            &self.inner,
            source,
            writer,
            &progress,
            options.verify,
        );
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
        let progress = Progress::new(options.events.clone(), options.cancel.clone());
        let outcome =
            download::download_file(&self.inner, source, destination, &progress, options.verify);
        progress.finish(outcome.map_err(|err| {
            err.note("the destination was not touched")
                .context(format_args!(
                    "download {source} to {}",
                    destination.display()
                ))
        }))
    }

    /// Creates `bucket`; one that already exists and is yours counts as created.
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let signer = Signer::new(&self.inner.config, bucket)?;
        let outcome = self.inner.with_retries(0, &Progress::default(), |_| {
            let response = self.inner.http.send(
                &signer.create_bucket(&self.inner.stamp()?),
                &[],
                Payload::Empty,
            )?;
            let mut response = http::expect_status(response, &[200])?;
            http::finish_body(&mut response)
        });
        match outcome {
            Err(err)
                if err.service_error().and_then(|s| s.code.as_deref())
                    == Some("BucketAlreadyOwnedByYou") =>
            {
                Ok(())
            }
            other => other.map_err(|err| err.context(format_args!("create bucket {bucket}"))),
        }
    }

    /// Lists the objects in `bucket` whose keys start with `prefix`, every page (ListObjectsV2
    /// with continuation tokens), in the server's order (by key).
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let signer = Signer::new(&self.inner.config, bucket)?;
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .inner
                .with_retries(0, &Progress::default(), |_| {
                    let request =
                        signer.list_objects_v2(prefix, token.as_deref(), &self.inner.stamp()?);
                    let response = self.inner.http.send(&request, &[], Payload::None)?;
                    let mut response = http::expect_status(response, &[200])?;
                    xml::parse_list_objects(&http::read_text(&mut response)?)
                })
                .map_err(|err| err.context(format_args!("list objects in {bucket}")))?;
            objects.extend(page.objects);
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(objects),
            }
        }
    }

    /// Deletes the object at `location`. S3 reports success whether or not the key existed.
    pub fn delete_object(&self, location: &S3Uri) -> Result<()> {
        location.require_object_key()?;
        let signer = Signer::new(&self.inner.config, location.bucket())?;
        self.inner
            .with_retries(0, &Progress::default(), |_| {
                let request = signer.delete_object(location.key(), &self.inner.stamp()?);
                let response = self.inner.http.send(&request, &[], Payload::None)?;
                let mut response = http::expect_status(response, &[200, 204])?;
                http::finish_body(&mut response)
            })
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
        let signer = Signer::new(&self.inner.config, location.bucket())?;
        let url = signer.presign_object(
            location.key(),
            method == PresignMethod::Put,
            expires,
            &self.inner.stamp()?,
        );
        Ok(url.into())
    }

    /// Lists the incomplete multipart uploads in `bucket` whose keys start with `prefix`.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>> {
        let signer = Signer::new(&self.inner.config, bucket)?;
        self.inner
            .list_uploads(&signer, prefix)
            .map_err(|err| err.context(format_args!("list uploads in {bucket}")))
    }

    /// Aborts the multipart upload `upload_id` of `location`. An upload already gone counts as
    /// aborted.
    pub fn abort_multipart_upload(&self, location: &S3Uri, upload_id: &str) -> Result<()> {
        let signer = Signer::new(&self.inner.config, location.bucket())?;
        self.inner.abort(&signer, location.key(), upload_id)
    }
}

impl Inner {
    /// Runs one request's attempts under the retry policy. `attempt` gets a counter to add the
    /// bytes it reports as progress to, so a retry can tell how many it discards.
    pub fn with_retries<T>(
        &self,
        part: u32,
        progress: &Progress,
        mut attempt: impl FnMut(&Cell<u64>) -> Result<T>,
    ) -> Result<T> {
        let policy = RetryPolicy {
            max_attempts: self.config.max_attempts,
            base: self.config.backoff_base,
            max: self.config.backoff_max,
        };
        let reported = Cell::new(0);
        policy
            .run(
                |_| {
                    progress.check_cancelled()?;
                    reported.set(0);
                    attempt(&reported)
                },
                |number, err, delay| {
                    progress.send(|| Event::Retry {
                        part,
                        attempt: number,
                        reason: err.to_string(),
                        delay,
                        discarded: reported.get(),
                    })
                },
                || progress.check_cancelled().is_err(),
            )
            .map_err(|err| match progress.check_cancelled() {
                // A request cut short by the cancellation reports the cancellation.
                Err(cancelled) if err.kind() != ErrorKind::Cancelled => cancelled,
                _ => err,
            })
    }

    /// The time and credentials to sign a request with now: credentials due for a refresh are
    /// fetched first.
    pub fn stamp(&self) -> Result<Stamp> {
        let credentials = self.config.credentials.current()?;
        Ok(Stamp::new(credentials, Timestamp::now()))
    }

    /// The object's tag set (GetObjectTagging's XML), or [`Tagging::Unsupported`] when the
    /// server serves `?tagging` as the object itself: rclone answers `GET ?tagging` with the
    /// object's bytes and takes `PUT ?tagging` as a PutObject that replaces the object with the
    /// tag XML. A reply too large for a tag set is not read.
    pub fn object_tagging(
        &self,
        http: &Http,
        signer: &Signer,
        key: &str,
        progress: &Progress,
    ) -> Result<Tagging> {
        self.with_retries(0, progress, |_| {
            let request = signer.get_object_tagging(key, &self.stamp()?);
            let response = http.send(&request, &[], Payload::None)?;
            let mut response = http::expect_status(response, &[200])?;
            let length = http::header(&response, "content-length").and_then(|n| n.parse().ok());
            if length.is_some_and(|length: u64| length > MAX_TAGGING_REPLY) {
                // Dropped unread: the connection is closed rather than drained.
                return Ok(Tagging::Unsupported);
            }
            match http::read_text(&mut response) {
                Ok(body) if xml::root_is(&body, "Tagging") => Ok(Tagging::Tags(body)),
                Err(err) if err.is_retryable() => Err(err),
                _ => Ok(Tagging::Unsupported),
            }
        })
    }

    /// Lists the incomplete multipart uploads whose keys start with `prefix`, every page.
    pub fn list_uploads(&self, signer: &Signer, prefix: &str) -> Result<Vec<MultipartUpload>> {
        let mut uploads = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let page = self.with_retries(0, &Progress::default(), |_| {
                let marker = marker.as_ref().map(|(k, u)| (k.as_str(), u.as_str()));
                let request = signer.list_multipart_uploads(prefix, marker, &self.stamp()?);
                let response = self.http.send(&request, &[], Payload::None)?;
                match http::expect_status(response, &[200]) {
                    Ok(mut response) => xml::parse_list_uploads(&http::read_text(&mut response)?),
                    // rclone's answer when the bucket has no upload in progress.
                    Err(err) if err.has_code("NoSuchUpload") => Ok(xml::UploadsPage::default()),
                    Err(err) => Err(err),
                }
            })?;
            uploads.extend(page.uploads);
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(uploads),
            }
        }
    }

    /// The parts of `upload_id` the server holds, as (number, ETag), every page; a 404 means
    /// the upload is gone.
    pub fn list_parts(
        &self,
        signer: &Signer,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<(u32, String)>> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let page = self.with_retries(0, &Progress::default(), |_| {
                let request = signer.list_parts(key, upload_id, marker, &self.stamp()?);
                let response = self.http.send(&request, &[], Payload::None)?;
                let mut response = http::expect_status(response, &[200])?;
                xml::parse_list_parts(&http::read_text(&mut response)?)
            })?;
            parts.extend(page.parts);
            match page.next {
                Some(next) if Some(next) != marker => marker = Some(next),
                _ => return Ok(parts),
            }
        }
    }

    /// Aborts a multipart upload, with retries; one already gone (404) counts as aborted.
    pub fn abort(&self, signer: &Signer, key: &str, upload_id: &str) -> Result<()> {
        let outcome = self.with_retries(0, &Progress::default(), |_| {
            let request = signer.abort_multipart_upload(key, upload_id, &self.stamp()?);
            let response = self.http.send(&request, &[], Payload::None)?;
            let mut response = http::expect_status(response, &[200, 204])?;
            http::finish_body(&mut response)
        });
        match outcome {
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}
