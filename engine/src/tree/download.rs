//! Objects under a prefix -> a local directory: the prefix's listing (or the `--files-from`
//! list) against the directory's walk (only for a sync), each object through the file
//! download flow into a file placed safely below the directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::content::file_matches;
use super::decide::{Planner, Step, same_time};
use super::keys::place;
use super::listing::{self, ObjectEntry, SortedObjects};
use super::merge::{Pair, merge};
use super::options::{Compare, TreeOptions};
use super::run::{Direction, FileJob, Tree};
use super::walk::{Found, LocalFile, Walk};
use crate::error::{Error, Result};
use crate::integrity::Verification;
use crate::s3::S3Uri;
use crate::transfer::download_file::{DownloadOptions, download_file, sync_directory_of};
use crate::transfer::progress::Progress;
use crate::transfer::ranged::Download;
use crate::transfer::session::Session;
use crate::transfer::{TreeAction, TreeSummary};

/// Downloads the objects under `prefix` (the tree's prefix: empty, or ending in `/`) to files
/// under `root`, which is created when missing.
pub(crate) fn download_tree(
    session: &Session,
    prefix: S3Uri,
    root: &Path,
    options: &TreeOptions,
    progress: &Progress,
) -> Result<TreeSummary> {
    let (http, _cancellable) = session.agent_for(progress);
    let tree = Tree::new(session, options, progress, http, prefix, root)?;
    let requester = &tree.requester;
    let prefix = tree.prefix.key();
    let source: Box<dyn Iterator<Item = Result<ObjectEntry>>> =
        match (&options.files_from, options.sync) {
            (Some(paths), _) => Box::new(listing::named_objects(paths.clone())),
            (None, Some(_)) => Box::new(SortedObjects::new(requester, prefix)),
            // A copy pairs nothing: the server's order (and its flat listing) serve.
            (None, None) => Box::new(listing::objects(requester, prefix)),
        };
    // The destination is walked without following links: nothing is replaced or deleted
    // through one.
    let pairs: Box<dyn Iterator<Item = Result<Pair<ObjectEntry, Found>>>> = match options.sync {
        Some(_) => {
            let walk = Walk::new(root, false, true)?
                .filter(|found| !matches!(found, Ok(Found::BadName(_))));
            Box::new(merge(source, walk))
        }
        None => Box::new(source.map(|object| object.map(Pair::Source))),
    };
    if !options.dry_run {
        std::fs::create_dir_all(root).map_err(|err| {
            Error::local_io(format_args!("cannot create {}", root.display()), err)
        })?;
    }
    let down = Down::default();
    let summary = tree.run(&down, pairs);
    // The renames made durable: each directory synced once, not once per file.
    for directory in lock(&down.directories).iter() {
        sync_directory_of(directory);
    }
    summary
}

/// Objects down to local files.
#[derive(Default)]
struct Down {
    /// The directories files were renamed (or directories made) into, to sync once the tree
    /// is done.
    directories: Mutex<BTreeSet<PathBuf>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Direction for Down {
    type SourceListing = ObjectEntry;
    type DestinationListing = Found;
    type Source = ObjectEntry;
    type Destination = LocalFile;

    const ACTION: TreeAction = TreeAction::Download;

    fn step(
        planner: &mut Planner<'_>,
        pair: Pair<ObjectEntry, Found>,
    ) -> Step<ObjectEntry, LocalFile> {
        planner.download(pair)
    }

    fn size(source: &ObjectEntry) -> Option<u64> {
        source.size
    }

    /// The object's time (s3mt's record, else its `Last-Modified`) is the file's (or, with
    /// `--checksum`, the object's integrity data matches the file's bytes).
    fn unchanged(&self, file: &FileJob<'_>, _: &ObjectEntry, local: &LocalFile) -> Result<bool> {
        let object = Download {
            transfer: &file.transfer,
        }
        .head(file.tree.options.transfer.verify)?;
        if object.size != local.size {
            return Ok(false);
        }
        if file.tree.options.sync == Some(Compare::Checksum) {
            return file_matches(&file.tree.root.join(&local.path), &object.expected);
        }
        Ok(object
            .modified
            .is_some_and(|at| same_time(at, local.modified)))
    }

    fn copy(&self, file: &FileJob<'_>, object: &ObjectEntry) -> Result<(u64, Verification)> {
        let path = place(file.tree.root, &object.path)?;
        let options = DownloadOptions {
            verify: file.tree.options.transfer.verify,
            listed: object.size.map(|size| (size, object.etag.as_deref())),
            defer_directory_sync: true,
        };
        let summary = download_file(&file.transfer, &path, options)?;
        // Its directory, and those `place` may have made on the way to it.
        let mut directories = lock(&self.directories);
        for directory in path.ancestors().skip(1) {
            if !directories.insert(directory.to_path_buf()) || directory == file.tree.root {
                break;
            }
        }
        Ok((summary.bytes, summary.verification))
    }

    fn remove_source(&self, file: &FileJob<'_>, _: &ObjectEntry) -> Result<()> {
        file.transfer
            .requester
            .delete_object(file.transfer.key())
            .map_err(|err| err.context("downloaded, but cannot delete the object"))
    }

    fn delete(&self, tree: &Tree<'_>, local: &LocalFile) -> Result<()> {
        let path = tree.root.join(&local.path);
        std::fs::remove_file(&path)
            .map_err(|err| Error::local_io(format_args!("cannot delete {}", path.display()), err))
    }
}
