//! What a tree transfer does with each path of the merged listings: leave it out, name it as
//! skipped, copy it, check it further, find it unchanged, or delete it. The rules of what
//! "differs" means live here. Pure.

use std::time::Duration;

use jiff::Timestamp;

use super::filter::{Filters, Shard};
use super::keys::{is_directory_marker, unsafe_key};
use super::listing::ObjectEntry;
use super::merge::{Listed, Pair};
use super::options::Compare;
use super::walk::{Found, LocalFile};
use crate::transfer::SkippedEntry;

/// Two modification times this close are the same (time stamps of one second, like HTTP's
/// `Last-Modified`, beside ones of a millisecond or a nanosecond).
const SAME_TIME: Duration = Duration::from_secs(1);

/// What to do with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step<S, D> {
    /// Not part of the transfer: filtered out, another shard's, a directory marker.
    Ignore,
    /// Left out, and named.
    Skip(SkippedEntry),
    /// Up to date at the destination.
    Unchanged,
    /// Copy the source (there is no destination, it differs, or this is a copy, not a sync).
    Copy(S),
    /// Sizes match; the destination's record (or content) settles whether it differs.
    Check(S, D),
    /// Exists only at the destination, and is deleted.
    Delete(D),
}

/// The rules a tree transfer decides by, and what it learnt on the way: no deletion below a
/// source directory that could not be read.
#[derive(Debug)]
pub(crate) struct Planner<'a> {
    filters: &'a Filters,
    shard: Option<Shard>,
    sync: Option<Compare>,
    delete: bool,
    /// A source directory that was skipped: what lies below it at the destination stays.
    unseen: Option<String>,
}

impl<'a> Planner<'a> {
    pub fn new(
        filters: &'a Filters,
        shard: Option<Shard>,
        sync: Option<Compare>,
        delete: bool,
    ) -> Self {
        Self {
            filters,
            shard,
            sync,
            delete,
            unseen: None,
        }
    }

    /// Whether `path` takes part at all.
    fn takes(&self, path: &str) -> bool {
        self.filters.includes(path) && self.shard.is_none_or(|shard| shard.takes(path))
    }

    /// A deletion of `path`, unless deletions are off or the source could not see it.
    fn delete<S, D>(&self, path: &str, entry: D) -> Step<S, D> {
        let unseen = self
            .unseen
            .as_deref()
            .is_some_and(|dir| path.starts_with(dir));
        if self.delete && self.sync.is_some() && !unseen {
            Step::Delete(entry)
        } else {
            Step::Ignore
        }
    }

    /// A source entry that is not a file: named, unless the user asked for it to be left out.
    fn skipped<S, D>(&mut self, path: String, reason: String) -> Step<S, D> {
        if path.ends_with('/') {
            self.unseen = Some(path.clone());
        }
        if reason.contains("not followed") {
            return Step::Ignore;
        }
        Step::Skip(SkippedEntry { path, reason })
    }

    /// An upload's step: local files (the source) against objects (the destination).
    pub fn upload(&mut self, pair: Pair<Found, ObjectEntry>) -> Step<LocalFile, ObjectEntry> {
        let path = match &pair {
            Pair::Source(found) | Pair::Both(found, _) => found.path(),
            Pair::Destination(object) => &object.path,
        };
        if !self.takes(path) {
            return Step::Ignore;
        }
        match pair {
            Pair::Source(Found::Skipped { path, reason })
            | Pair::Both(Found::Skipped { path, reason }, _) => self.skipped(path, reason),
            Pair::Source(Found::BadName(path)) | Pair::Both(Found::BadName(path), _) => {
                self.skipped(path, "the name is not UTF-8".to_owned())
            }
            Pair::Source(Found::File(file)) => Step::Copy(file),
            Pair::Both(Found::File(file), object) => match self.sync {
                None => Step::Copy(file),
                Some(compare) => upload_verdict(file, object, compare),
            },
            // Directory markers (the prefix's own included) are no file's counterpart.
            Pair::Destination(object) if object.path.is_empty() || object.path.ends_with('/') => {
                Step::Ignore
            }
            Pair::Destination(object) => {
                let path = object.path.clone();
                self.delete(&path, object)
            }
        }
    }

    /// A copy's step inside S3: objects under the source prefix against those under the
    /// destination's. Every key is an object to copy, directory markers included; the
    /// prefix's own marker is no counterpart of anything.
    pub fn copy(&mut self, pair: Pair<ObjectEntry, ObjectEntry>) -> Step<ObjectEntry, ObjectEntry> {
        let path = match &pair {
            Pair::Source(object) | Pair::Both(object, _) | Pair::Destination(object) => {
                &object.path
            }
        };
        if path.is_empty() || !self.takes(path) {
            return Step::Ignore;
        }
        match pair {
            Pair::Source(object) => Step::Copy(object),
            Pair::Both(object, copy) => match self.sync {
                None => Step::Copy(object),
                Some(compare) => copy_verdict(object, copy, compare),
            },
            Pair::Destination(copy) => {
                let path = copy.path.clone();
                self.delete(&path, copy)
            }
        }
    }

    /// A download's step: objects (the source) against local files (the destination).
    pub fn download(&mut self, pair: Pair<ObjectEntry, Found>) -> Step<ObjectEntry, LocalFile> {
        let path = match &pair {
            Pair::Source(object) | Pair::Both(object, _) => &object.path,
            Pair::Destination(found) => found.path(),
        };
        if !self.takes(path) {
            return Step::Ignore;
        }
        match pair {
            Pair::Source(object) | Pair::Both(object, _)
                if object
                    .size
                    .is_some_and(|size| is_directory_marker(&object.path, size)) =>
            {
                Step::Ignore
            }
            Pair::Source(object) | Pair::Both(object, _) if unsafe_key(&object.path).is_some() => {
                let reason = unsafe_key(&object.path).unwrap_or_default();
                Step::Skip(SkippedEntry {
                    path: object.path,
                    reason: format!("the key would not land inside the destination: {reason}"),
                })
            }
            Pair::Source(object) => Step::Copy(object),
            Pair::Both(object, Found::File(file)) => match self.sync {
                None => Step::Copy(object),
                Some(compare) => download_verdict(object, file, compare),
            },
            Pair::Both(object, Found::Skipped { reason, .. } | Found::BadName(reason)) => {
                Step::Skip(SkippedEntry {
                    path: object.path,
                    reason: format!("the destination is not a file s3mt replaces ({reason})"),
                })
            }
            Pair::Destination(Found::File(file)) => {
                let path = file.path.clone();
                self.delete(&path, file)
            }
            Pair::Destination(_) => Step::Ignore,
        }
    }
}

/// An object against the copy it would replace, inside S3: different sizes differ; with
/// times (aws-cli's rule between two buckets), a copy written no earlier than its source was
/// is up to date; with content, the two objects' checksums settle it.
fn copy_verdict(
    object: ObjectEntry,
    copy: ObjectEntry,
    compare: Compare,
) -> Step<ObjectEntry, ObjectEntry> {
    if object.size.is_none() || object.size != copy.size {
        return Step::Copy(object);
    }
    match compare {
        Compare::SizeOnly => Step::Unchanged,
        Compare::SizeAndTime => match (object.last_modified, copy.last_modified) {
            (Some(source), Some(destination)) if source <= destination => Step::Unchanged,
            _ => Step::Copy(object),
        },
        Compare::Checksum => Step::Check(object, copy),
    }
}

/// A file against the object it would replace: different sizes differ; with times, a file
/// not modified after the object was written is up to date, and one modified after it asks
/// the object's record (the time s3mt recorded at upload settles it, whatever the clocks).
fn upload_verdict(
    file: LocalFile,
    object: ObjectEntry,
    compare: Compare,
) -> Step<LocalFile, ObjectEntry> {
    if object.size != Some(file.size) {
        return Step::Copy(file);
    }
    match compare {
        Compare::SizeOnly => Step::Unchanged,
        Compare::SizeAndTime if object.last_modified.is_some_and(|l| file.modified <= l) => {
            Step::Unchanged
        }
        Compare::SizeAndTime | Compare::Checksum => Step::Check(file, object),
    }
}

/// An object against the file it would replace: different sizes differ; with times, a file
/// whose time is the object's `Last-Modified` is up to date, and any other asks the object's
/// record (a download gives the file the time s3mt recorded at upload).
fn download_verdict(
    object: ObjectEntry,
    file: LocalFile,
    compare: Compare,
) -> Step<ObjectEntry, LocalFile> {
    if object.size.is_some_and(|size| size != file.size) {
        return Step::Copy(object);
    }
    match compare {
        Compare::SizeOnly if object.size.is_some() => Step::Unchanged,
        Compare::SizeAndTime
            if object
                .last_modified
                .is_some_and(|l| same_time(l, file.modified)) =>
        {
            Step::Unchanged
        }
        _ => Step::Check(object, file),
    }
}

/// Whether two modification times are the same, to within [`SAME_TIME`].
pub(crate) fn same_time(a: Timestamp, b: Timestamp) -> bool {
    a.duration_since(b).unsigned_abs() < SAME_TIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::filter::Rule;

    fn time(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn file(path: &str, size: u64, modified: i64) -> LocalFile {
        LocalFile {
            path: path.into(),
            size,
            modified: time(modified),
        }
    }

    fn object(path: &str, size: u64, modified: i64) -> ObjectEntry {
        ObjectEntry {
            path: path.into(),
            size: Some(size),
            last_modified: Some(time(modified)),
            etag: None,
        }
    }

    fn sync(compare: Compare, delete: bool) -> Planner<'static> {
        static NONE: std::sync::LazyLock<Filters> = std::sync::LazyLock::new(Filters::default);
        Planner::new(&NONE, None, Some(compare), delete)
    }

    #[test]
    fn copies_inside_s3_copy_what_is_missing_resized_or_newer_than_its_copy() {
        let mut planner = sync(Compare::SizeAndTime, true);
        let both = |planner: &mut Planner<'_>, o, c| planner.copy(Pair::Both(o, c));
        assert_eq!(
            planner.copy(Pair::Source(object("a", 1, 0))),
            Step::Copy(object("a", 1, 0))
        );
        // Resized, or written after its copy was: copied again.
        assert_eq!(
            both(&mut planner, object("a", 1, 0), object("a", 2, 10)),
            Step::Copy(object("a", 1, 0))
        );
        assert_eq!(
            both(&mut planner, object("a", 1, 20), object("a", 1, 10)),
            Step::Copy(object("a", 1, 20))
        );
        // The copy is as new or newer: unchanged.
        assert_eq!(
            both(&mut planner, object("a", 1, 10), object("a", 1, 10)),
            Step::Unchanged
        );
        // Only at the destination: deleted, markers too, but never the prefix's own.
        assert_eq!(
            planner.copy(Pair::Destination(object("d/", 0, 0))),
            Step::Delete(object("d/", 0, 0))
        );
        assert_eq!(
            planner.copy(Pair::Destination(object("", 0, 0))),
            Step::Ignore
        );
        // A named object (no size known) is copied; content asks both objects' checksums.
        let named = ObjectEntry {
            size: None,
            ..object("n", 1, 0)
        };
        assert_eq!(
            both(&mut planner, named.clone(), object("n", 1, 0)),
            Step::Copy(named)
        );
        let mut by_content = sync(Compare::Checksum, false);
        assert_eq!(
            by_content.copy(Pair::Both(object("a", 1, 0), object("a", 1, 9))),
            Step::Check(object("a", 1, 0), object("a", 1, 9))
        );
        assert_eq!(
            by_content.copy(Pair::Destination(object("x", 1, 0))),
            Step::Ignore
        );
        let mut sizes = sync(Compare::SizeOnly, false);
        assert_eq!(
            sizes.copy(Pair::Both(object("a", 1, 99), object("a", 1, 0))),
            Step::Unchanged
        );
    }

    #[test]
    fn uploads_copy_what_is_missing_resized_or_modified_after_the_object() {
        let mut planner = sync(Compare::SizeAndTime, false);
        let up = |planner: &mut Planner<'_>, f, o| planner.upload(Pair::Both(Found::File(f), o));
        assert_eq!(
            planner.upload(Pair::Source(Found::File(file("a", 1, 0)))),
            Step::Copy(file("a", 1, 0))
        );
        assert_eq!(
            up(&mut planner, file("a", 1, 0), object("a", 2, 10)),
            Step::Copy(file("a", 1, 0))
        );
        assert_eq!(
            up(&mut planner, file("a", 1, 10), object("a", 1, 10)),
            Step::Unchanged
        );
        assert_eq!(
            up(&mut planner, file("a", 1, 11), object("a", 1, 10)),
            Step::Check(file("a", 1, 11), object("a", 1, 10)),
            "modified after the object's time: its record settles it"
        );
        assert_eq!(
            sync(Compare::SizeOnly, false)
                .upload(Pair::Both(Found::File(file("a", 1, 99)), object("a", 1, 0))),
            Step::Unchanged
        );
        assert!(matches!(
            sync(Compare::Checksum, false)
                .upload(Pair::Both(Found::File(file("a", 1, 0)), object("a", 1, 9))),
            Step::Check(..)
        ));
        let mut copy = Planner::new(&NONE_FILTERS, None, None, true);
        assert_eq!(
            copy.upload(Pair::Both(Found::File(file("a", 1, 0)), object("a", 1, 9))),
            Step::Copy(file("a", 1, 0)),
            "a copy copies everything"
        );
        assert_eq!(
            copy.upload(Pair::Destination(object("b", 1, 0))),
            Step::Ignore,
            "and deletes nothing"
        );
    }

    static NONE_FILTERS: std::sync::LazyLock<Filters> = std::sync::LazyLock::new(Filters::default);

    #[test]
    fn downloads_compare_times_to_the_second_and_ask_the_record_otherwise() {
        let mut planner = sync(Compare::SizeAndTime, false);
        let mut down = |o, f| planner.download(Pair::Both(o, Found::File(f)));
        assert_eq!(down(object("a", 1, 5), file("a", 1, 5)), Step::Unchanged);
        assert_eq!(
            down(object("a", 1, 5), file("a", 1, 4)),
            Step::Check(object("a", 1, 5), file("a", 1, 4))
        );
        assert_eq!(
            down(object("a", 2, 5), file("a", 1, 5)),
            Step::Copy(object("a", 2, 5))
        );
        assert!(same_time(time(0), time(0) + Duration::from_millis(999)));
        assert!(!same_time(time(0), time(1)));
    }

    #[test]
    fn deletions_need_sync_delete_and_spare_filtered_and_unseen_paths() {
        let filters = Filters::default().push(Rule::Exclude, "keep/*").unwrap();
        let mut planner = Planner::new(&filters, None, Some(Compare::SizeAndTime), true);
        assert_eq!(
            planner.upload(Pair::Destination(object("gone", 1, 0))),
            Step::Delete(object("gone", 1, 0))
        );
        assert_eq!(
            planner.upload(Pair::Destination(object("keep/x", 1, 0))),
            Step::Ignore
        );
        assert_eq!(
            planner.upload(Pair::Destination(object("dir/", 0, 0))),
            Step::Ignore,
            "directory markers stay"
        );
        assert_eq!(
            planner.upload(Pair::Destination(object("", 0, 0))),
            Step::Ignore,
            "the prefix's own marker stays"
        );
        let unreadable = planner.upload(Pair::Source(Found::Skipped {
            path: "secret/".into(),
            reason: "cannot be read: permission denied".into(),
        }));
        assert!(matches!(unreadable, Step::Skip(_)));
        assert_eq!(
            planner.upload(Pair::Destination(object("secret/x", 1, 0))),
            Step::Ignore,
            "what the source could not see is not deleted"
        );
        assert_eq!(
            sync(Compare::SizeAndTime, false).upload(Pair::Destination(object("gone", 1, 0))),
            Step::Ignore
        );
    }

    #[test]
    fn keys_that_would_escape_are_skipped_and_markers_ignored() {
        let mut planner = Planner::new(&NONE_FILTERS, None, None, false);
        let step = planner.download(Pair::Source(object("../etc/passwd", 5, 0)));
        assert!(
            matches!(&step, Step::Skip(entry) if entry.path == "../etc/passwd"),
            "{step:?}"
        );
        assert_eq!(
            planner.download(Pair::Source(object("photos/", 0, 0))),
            Step::Ignore
        );
        assert_eq!(
            planner.download(Pair::Source(object("", 0, 0))),
            Step::Ignore
        );
        assert!(matches!(
            planner.download(Pair::Source(object("photos/", 3, 0))),
            Step::Skip(_)
        ));
    }

    #[test]
    fn shards_and_filters_leave_paths_out_entirely() {
        let filters = Filters::default().push(Rule::Exclude, "*.tmp").unwrap();
        let shard = Shard::new(0, 2).unwrap();
        let mut planner = Planner::new(&filters, Some(shard), Some(Compare::SizeOnly), true);
        let paths: Vec<String> = (0..40).map(|n| format!("f{n}")).collect();
        let taken = paths
            .iter()
            .filter(|path| {
                planner.upload(Pair::Source(Found::File(file(path, 1, 0)))) != Step::Ignore
            })
            .count();
        assert!(taken > 5 && taken < 35, "{taken}");
        assert_eq!(
            planner.upload(Pair::Source(Found::File(file("x.tmp", 1, 0)))),
            Step::Ignore
        );
    }
}
