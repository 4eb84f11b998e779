//! A local directory -> objects under a prefix: the walk (or the `--files-from` list) against
//! the prefix's listing (only for a sync), each file through the file upload flow.

use std::path::Path;

use super::content::file_matches;
use super::decide::{Planner, Step, same_time};
use super::listing::{ObjectEntry, SortedObjects, sorted_paths};
use super::merge::{Pair, merge};
use super::options::TreeOptions;
use super::run::{Direction, FileJob, Tree};
use super::walk::{Found, LocalFile, Walk};
use crate::error::{Error, Result};
use crate::integrity::Verification;
use crate::integrity::expected::Expected;
use crate::s3::S3Uri;
use crate::transfer::options::VerifyMode;
use crate::transfer::progress::Progress;
use crate::transfer::ranged::Download;
use crate::transfer::session::Session;
use crate::transfer::upload_file::{modified, upload_file};
use crate::transfer::{SkippedEntry, TreeAction, TreeSummary};

/// Uploads the files under `root` to keys under `prefix` (the tree's prefix: empty, or ending
/// in `/`).
pub(crate) fn upload_tree(
    session: &Session,
    root: &Path,
    prefix: S3Uri,
    options: &TreeOptions,
    progress: &Progress,
) -> Result<TreeSummary> {
    let (http, _cancellable) = session.agent_for(progress);
    let source: Box<dyn Iterator<Item = Result<Found>>> = match &options.files_from {
        Some(paths) => Box::new(named_files(root, paths.clone())),
        None => Box::new(Walk::new(root, !options.no_follow_symlinks, false)?),
    };
    let tree = Tree::new(session, options, progress, http, prefix, root)?;
    // Names that are not UTF-8 pair with no key: named here, out of the merge's key order.
    let source = source.filter(|found| match found {
        Ok(Found::BadName(path)) => {
            tree.skipped(SkippedEntry {
                path: path.clone(),
                reason: "the name is not UTF-8".to_owned(),
            });
            false
        }
        _ => true,
    });
    let destination: Box<dyn Iterator<Item = Result<ObjectEntry>>> = match options.sync {
        Some(_) => Box::new(SortedObjects::new(&tree.requester, tree.prefix.key())),
        None => Box::new(std::iter::empty()),
    };
    tree.run(&Up, merge(source, destination))
}

/// The files a `--files-from` list names, in key order; a path that is not a file is named as
/// skipped.
fn named_files(root: &Path, paths: Vec<String>) -> impl Iterator<Item = Result<Found>> {
    let root = root.to_path_buf();
    sorted_paths(paths).into_iter().map(move |path| {
        if let Some(reason) = super::keys::unsafe_key(&path) {
            return Ok(Found::Skipped {
                path,
                reason: format!("not a path inside the source: {reason}"),
            });
        }
        Ok(match std::fs::metadata(root.join(&path)) {
            Ok(metadata) if metadata.is_file() => Found::File(LocalFile {
                size: metadata.len(),
                modified: modified(&metadata),
                path,
            }),
            Ok(_) => Found::Skipped {
                path,
                reason: "not a regular file".to_owned(),
            },
            Err(err) => Found::Skipped {
                path,
                reason: format!("cannot be read: {err}"),
            },
        })
    })
}

/// Local files up to objects.
struct Up;

impl Direction for Up {
    type SourceListing = Found;
    type DestinationListing = ObjectEntry;
    type Source = LocalFile;
    type Destination = ObjectEntry;

    const ACTION: TreeAction = TreeAction::Upload;

    fn step(
        planner: &mut Planner<'_>,
        pair: Pair<Found, ObjectEntry>,
    ) -> Step<LocalFile, ObjectEntry> {
        planner.upload(pair)
    }

    fn size(source: &LocalFile) -> Option<u64> {
        Some(source.size)
    }

    /// The object's record names the file's time (or, with `--checksum`, its integrity data
    /// matches the file's bytes).
    fn unchanged(&self, file: &FileJob<'_>, local: &LocalFile, _: &ObjectEntry) -> Result<bool> {
        let object = Download {
            transfer: &file.transfer,
        }
        .head(VerifyMode::Auto)?;
        if object.size != local.size {
            return Ok(false);
        }
        if file.tree.options.sync == Some(super::options::Compare::Checksum) {
            return file_matches(&file.tree.root.join(&local.path), &object.expected);
        }
        Ok(matches!(
            &object.expected,
            Expected::Record(record) if record.modified.is_some_and(|at| same_time(at, local.modified))
        ))
    }

    fn copy(&self, file: &FileJob<'_>, local: &LocalFile) -> Result<(u64, Verification)> {
        let path = file.tree.root.join(&local.path);
        let summary = upload_file(&file.transfer, &path, &file.tree.options.transfer.object)?;
        Ok((summary.bytes, summary.verification))
    }

    fn remove_source(&self, file: &FileJob<'_>, local: &LocalFile) -> Result<()> {
        let path = file.tree.root.join(&local.path);
        std::fs::remove_file(&path).map_err(|err| {
            Error::local_io(
                format_args!("uploaded, but cannot remove {}", path.display()),
                err,
            )
        })
    }

    fn delete(&self, tree: &Tree<'_>, object: &ObjectEntry) -> Result<()> {
        tree.requester
            .delete_object(&format!("{}{}", tree.prefix.key(), object.path))
    }
}
