//! Running a tree transfer: the calling thread merges the two listings and decides each path
//! as they stream; files to copy or check go to the worker pool as jobs, at most a window of
//! them at once, each file's transfer on the tree's one agent. Deletions wait until every
//! copy is done, and are skipped when any failed. One file's failure never stops the others.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::decide::{Planner, Step};
use super::merge::{Listed, Pair};
use super::options::TreeOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::integrity::Verification;
use crate::s3::S3Uri;
use crate::s3::call::Requester;
use crate::s3::http::Http;
use crate::transfer::progress::{Event, EventSink, Progress};
use crate::transfer::session::{Session, Transfer};
use crate::transfer::{FailedEntry, SkippedEntry, TreeAction, TreeSummary};

/// One direction of a tree transfer: what its source and destination entries are, and how
/// a file is checked, copied and deleted.
pub(crate) trait Direction: Sync {
    /// What the source's listing yields.
    type SourceListing: Listed;
    /// What the destination's listing yields.
    type DestinationListing: Listed;
    /// A source entry to copy.
    type Source: Listed + Send;
    /// A destination entry to compare with, or delete.
    type Destination: Listed + Send;

    /// What copying does.
    const ACTION: TreeAction;

    /// The step for one pair of the merged listings.
    fn step(
        planner: &mut Planner<'_>,
        pair: Pair<Self::SourceListing, Self::DestinationListing>,
    ) -> Step<Self::Source, Self::Destination>;

    /// The source entry's size, when known before the copy.
    fn size(source: &Self::Source) -> Option<u64>;

    /// Whether the destination is up to date after all (a [`Step::Check`]): asks the
    /// object's record, or compares content.
    fn unchanged(
        &self,
        file: &FileJob<'_>,
        source: &Self::Source,
        destination: &Self::Destination,
    ) -> Result<bool>;

    /// Copies the source to the destination: the bytes copied, and how they were checked.
    fn copy(&self, file: &FileJob<'_>, source: &Self::Source) -> Result<(u64, Verification)>;

    /// Removes the source once its copy is complete and checked (`mv --recursive`).
    fn remove_source(&self, file: &FileJob<'_>, source: &Self::Source) -> Result<()>;

    /// Deletes what exists only at the destination.
    fn delete(&self, tree: &Tree<'_>, destination: &Self::Destination) -> Result<()>;
}

/// What every job of one tree transfer shares.
pub(crate) struct Tree<'a> {
    pub session: &'a Session,
    pub options: &'a TreeOptions,
    /// The tree's progress: its events, and its cancel token.
    pub progress: &'a Progress,
    /// The agent every file's requests go over.
    pub http: Http,
    /// Requests to the bucket over that agent (listings, deletions).
    pub requester: Requester,
    /// The bucket and the prefix (empty, or ending in `/`) the tree's keys are under.
    pub prefix: S3Uri,
    /// The local directory the tree's files are under.
    pub root: &'a Path,
    pub(super) window: Window,
    summary: Mutex<TreeSummary>,
}

/// One file's job: the tree, and the transfer of the file's object (with its own progress,
/// forwarded to the tree's).
pub(crate) struct FileJob<'a> {
    pub tree: &'a Tree<'a>,
    pub transfer: Transfer<'a>,
}

impl<'a> Tree<'a> {
    pub fn new(
        session: &'a Session,
        options: &'a TreeOptions,
        progress: &'a Progress,
        http: Http,
        prefix: S3Uri,
        root: &'a Path,
    ) -> Result<Self> {
        Ok(Self {
            session,
            options,
            progress,
            requester: session.requester(http.clone(), prefix.bucket())?,
            http,
            prefix,
            root,
            window: Window::new(session.config.concurrency * 2),
            summary: Mutex::new(TreeSummary {
                dry_run: options.dry_run,
                ..TreeSummary::default()
            }),
        })
    }

    /// Runs the transfer of the merged `pairs` in `direction`.
    pub fn run<D: Direction>(
        &self,
        direction: &D,
        pairs: impl Iterator<Item = Result<Pair<D::SourceListing, D::DestinationListing>>>,
    ) -> Result<TreeSummary> {
        let started = Instant::now();
        let options = self.options;
        let mut planner = Planner::new(
            &options.filters,
            options.shard,
            options.sync,
            options.delete,
        );
        let mut deletions = Vec::new();
        let walked = self.session.pool.in_place_scope(|scope| -> Result<()> {
            for pair in pairs {
                self.progress.check_cancelled()?;
                match D::step(&mut planner, pair?) {
                    Step::Ignore => {}
                    Step::Skip(entry) => self.skipped(entry),
                    Step::Unchanged => self.lock().unchanged += 1,
                    Step::Delete(destination) => deletions.push(destination),
                    Step::Copy(source) => {
                        if let Some(size) = D::size(&source) {
                            self.planned(source.path(), D::ACTION, size);
                        }
                        let entered = self.window.enter();
                        scope.spawn(move |_| {
                            let _entered = entered;
                            self.copy(direction, &source, None);
                        });
                    }
                    Step::Check(source, destination) => {
                        let entered = self.window.enter();
                        scope.spawn(move |_| {
                            let _entered = entered;
                            self.copy(direction, &source, Some(&destination));
                        });
                    }
                }
            }
            Ok(())
        });
        walked?;
        self.progress.check_cancelled()?;
        self.delete_all(direction, deletions);
        let mut summary = self.lock().clone();
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// A copy or check job: every outcome goes to the summary and the events.
    fn copy<D: Direction>(
        &self,
        direction: &D,
        source: &D::Source,
        check: Option<&D::Destination>,
    ) {
        let path = source.path();
        let outcome = self.file_job(path, |file| {
            if let Some(destination) = check
                && direction.unchanged(file, source, destination)?
            {
                self.lock().unchanged += 1;
                return Ok(None);
            }
            if check.is_some() || D::size(source).is_none() {
                let size = D::size(source).unwrap_or_default();
                self.planned(path, D::ACTION, size);
            }
            if self.options.dry_run {
                return Ok(Some(D::size(source).unwrap_or_default()));
            }
            let (bytes, verification) = direction.copy(file, source)?;
            if self.options.remove_sources {
                if !verification.checked() {
                    return Err(Error::new(
                        ErrorKind::Integrity,
                        "copied, but the source is kept: nothing could verify the copy (no \
                         checksum, no MD5 ETag)",
                    ));
                }
                direction.remove_source(file, source)?;
            }
            Ok(Some(bytes))
        });
        match outcome {
            Ok(None) => {}
            Ok(Some(bytes)) => {
                {
                    let mut summary = self.lock();
                    summary.copied += 1;
                    summary.bytes += bytes;
                }
                // A dry run's plan is its `TreeEntry` events: nothing was done.
                if !self.options.dry_run {
                    self.done(path, D::ACTION, bytes);
                }
            }
            Err(error) => self.failed(path, D::ACTION, &error),
        }
    }

    /// Runs `work` with the context of the file at `path`.
    fn file_job<T>(&self, path: &str, work: impl FnOnce(&FileJob<'_>) -> Result<T>) -> Result<T> {
        let object = self.prefix.join(path)?;
        let progress = self.file_progress(path);
        let transfer = Transfer::over(self.session, &object, &progress, self.http.clone())?;
        work(&FileJob {
            tree: self,
            transfer,
        })
    }

    /// Deletes what exists only at the destination, once every copy is done and none failed.
    fn delete_all<D: Direction>(&self, direction: &D, deletions: Vec<D::Destination>) {
        if deletions.is_empty() {
            return;
        }
        let failed = self.lock().failed.len();
        if failed > 0 {
            self.progress.notice(format!(
                "{} deletion(s) not done: {failed} file(s) failed, and a sync deletes only \
                 once everything else succeeded",
                deletions.len()
            ));
            return;
        }
        self.session.pool.in_place_scope(|scope| {
            for destination in deletions {
                let path = destination.path().to_owned();
                self.planned(&path, TreeAction::Delete, 0);
                if self.options.dry_run {
                    self.lock().deleted += 1;
                    continue;
                }
                let entered = self.window.enter();
                scope.spawn(move |_| {
                    let _entered = entered;
                    match direction.delete(self, &destination) {
                        Ok(()) => {
                            self.lock().deleted += 1;
                            self.done(&path, TreeAction::Delete, 0);
                        }
                        Err(error) => self.failed(&path, TreeAction::Delete, &error),
                    }
                });
            }
        });
    }

    /// A file's own progress: its byte counts, retries and notices go to the tree's events
    /// (named by the file); its cancellation is the tree's.
    fn file_progress(&self, path: &str) -> Progress {
        let tree = self.progress.clone();
        let path: Arc<str> = path.into();
        let forward = move |event: &Event| match event {
            Event::Bytes { bytes, .. } => tree.send(|| Event::Bytes {
                part: 0,
                bytes: *bytes,
            }),
            Event::Retry {
                attempt,
                reason,
                delay,
                discarded,
                ..
            } => tree.send(|| Event::Retry {
                part: 0,
                attempt: *attempt,
                reason: format!("{path}: {reason}"),
                delay: *delay,
                discarded: *discarded,
            }),
            Event::Notice(message) => tree.notice(format!("{path}: {message}")),
            _ => {}
        };
        Progress::new(
            EventSink::Callback(Arc::new(forward)),
            self.progress.cancel_token().cloned(),
        )
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, TreeSummary> {
        self.summary.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn planned(&self, path: &str, action: TreeAction, bytes: u64) {
        self.progress.send(|| Event::TreeEntry {
            path: path.to_owned(),
            action,
            bytes,
        });
    }

    pub(super) fn done(&self, path: &str, action: TreeAction, bytes: u64) {
        self.progress.send(|| Event::FileDone {
            path: path.to_owned(),
            action,
            bytes,
        });
    }

    /// A path left out: named in the events and the summary.
    pub fn skipped(&self, entry: SkippedEntry) {
        self.progress.send(|| Event::FileSkipped {
            path: entry.path.clone(),
            reason: entry.reason.clone(),
        });
        self.lock().skipped.push(entry);
    }

    pub(super) fn failed(&self, path: &str, action: TreeAction, error: &Error) {
        let entry = FailedEntry {
            path: path.to_owned(),
            action,
            kind: error.kind(),
            message: format!("{error:#}"),
        };
        self.progress.send(|| Event::FileFailed {
            path: entry.path.clone(),
            action,
            kind: entry.kind,
            message: entry.message.clone(),
        });
        self.lock().failed.push(entry);
    }
}

/// At most `limit` jobs at once: enough to keep every worker busy, few enough that memory does
/// not grow with the tree.
pub(super) struct Window {
    limit: usize,
    in_flight: Mutex<usize>,
    changed: Condvar,
}

/// A place in the [`Window`], given back on drop.
pub(super) struct Entered<'a>(&'a Window);

impl Window {
    fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            in_flight: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    /// Waits for a place.
    pub(super) fn enter(&self) -> Entered<'_> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *in_flight >= self.limit {
            in_flight = self
                .changed
                .wait(in_flight)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_flight += 1;
        Entered(self)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let window = self.0;
        *window
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner) -= 1;
        window.changed.notify_one();
    }
}
