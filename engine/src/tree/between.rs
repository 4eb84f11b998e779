//! Objects under one prefix -> keys under another, inside S3 (`cp --recursive`, `sync` and
//! `mv --recursive` between two S3 locations): the source prefix's listing (or the
//! `--files-from` list) against the destination's (only for a sync), each object through the
//! server-side copy flow, so the bytes never pass through s3mt.

use std::path::Path;

use super::decide::{Planner, Step};
use super::listing::{self, ObjectEntry, SortedObjects};
use super::merge::{Pair, merge};
use super::options::TreeOptions;
use super::run::{Direction, FileJob, Tree};
use crate::error::{Error, Result};
use crate::integrity::Verification;
use crate::s3::S3Uri;
use crate::s3::call::Requester;
use crate::transfer::copy_object::{copy_object, same_content};
use crate::transfer::options::VerifyMode;
use crate::transfer::progress::Progress;
use crate::transfer::ranged::Download;
use crate::transfer::session::{Session, Transfer};
use crate::transfer::{TreeAction, TreeSummary};

/// Copies the objects under `source` to keys under `destination` (both tree prefixes: empty,
/// or ending in `/`). Prefixes of one bucket where one holds the other are refused: the copies
/// would land in the listing being copied.
pub(crate) fn copy_tree(
    session: &Session,
    source: S3Uri,
    destination: S3Uri,
    options: &TreeOptions,
    progress: &Progress,
) -> Result<TreeSummary> {
    if source.bucket() == destination.bucket()
        && (source.key().starts_with(destination.key())
            || destination.key().starts_with(source.key()))
    {
        return Err(Error::invalid(format!(
            "{source} and {destination} overlap: a copy inside S3 needs two prefixes neither \
             of which holds the other"
        )));
    }
    let (http, _cancellable) = session.agent_for(progress);
    let from = session.requester(http.clone(), source.bucket())?;
    let tree = Tree::new(session, options, progress, http, destination, Path::new(""))?;
    let prefix = source.key();
    let objects: Box<dyn Iterator<Item = Result<ObjectEntry>>> =
        match (&options.files_from, options.sync) {
            (Some(paths), _) => Box::new(listing::named_objects(paths.clone())),
            (None, Some(_)) => Box::new(SortedObjects::new(&from, prefix)),
            (None, None) => Box::new(listing::objects(&from, prefix)),
        };
    let pairs: Box<dyn Iterator<Item = Result<Pair<ObjectEntry, ObjectEntry>>>> = match options.sync
    {
        Some(_) => Box::new(merge(
            objects,
            SortedObjects::new(&tree.requester, tree.prefix.key()),
        )),
        None => Box::new(objects.map(|object| object.map(Pair::Source))),
    };
    tree.run(
        &Between {
            source: &source,
            requester: &from,
        },
        pairs,
    )
}

/// Objects to keys of another prefix.
struct Between<'a> {
    /// The source prefix.
    source: &'a S3Uri,
    /// Requests to the source's bucket (listings, removals).
    requester: &'a Requester,
}

impl Between<'_> {
    /// The transfer of `object`'s source, for `file`'s copy.
    fn source<'a>(&self, file: &FileJob<'a>, object: &'a S3Uri) -> Result<Transfer<'a>> {
        Transfer::over(
            file.tree.session,
            object,
            file.transfer.progress,
            file.tree.http.clone(),
        )
    }
}

impl Direction for Between<'_> {
    type SourceListing = ObjectEntry;
    type DestinationListing = ObjectEntry;
    type Source = ObjectEntry;
    type Destination = ObjectEntry;

    const ACTION: TreeAction = TreeAction::Copy;

    fn step(
        planner: &mut Planner<'_>,
        pair: Pair<ObjectEntry, ObjectEntry>,
    ) -> Step<ObjectEntry, ObjectEntry> {
        planner.copy(pair)
    }

    fn size(source: &ObjectEntry) -> Option<u64> {
        source.size
    }

    /// `--checksum`: the two objects' full-object checksums (or MD5 ETags) match; when they
    /// carry nothing of one kind to compare, the object is copied again.
    fn unchanged(&self, file: &FileJob<'_>, source: &ObjectEntry, _: &ObjectEntry) -> Result<bool> {
        let object = self.source.join(&source.path)?;
        let from = self.source(file, &object)?;
        let original = Download { transfer: &from }.head(VerifyMode::Auto)?;
        let copy = Download {
            transfer: &file.transfer,
        }
        .head(VerifyMode::Auto)?;
        Ok(original.size == copy.size
            && same_content(&original, &copy).is_some_and(|(same, _)| same))
    }

    fn copy(&self, file: &FileJob<'_>, source: &ObjectEntry) -> Result<(u64, Verification)> {
        let object = self.source.join(&source.path)?;
        let from = self.source(file, &object)?;
        let summary = copy_object(&file.transfer, &from, &file.tree.options.transfer.object)?;
        Ok((summary.bytes, summary.verification))
    }

    fn remove_source(&self, _: &FileJob<'_>, source: &ObjectEntry) -> Result<()> {
        self.requester
            .delete_object(&format!("{}{}", self.source.key(), source.path))
            .map_err(|err| err.context("copied, but cannot delete the source"))
    }

    fn delete(&self, tree: &Tree<'_>, copy: &ObjectEntry) -> Result<()> {
        tree.requester
            .delete_object(&format!("{}{}", tree.prefix.key(), copy.path))
    }
}
