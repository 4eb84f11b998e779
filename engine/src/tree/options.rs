//! What a tree transfer takes part in and how: filters, a shard, copy or sync (and how sync
//! compares), deletions, a dry run, symbolic links, an explicit list of paths.

use super::filter::{Filters, Shard};
use crate::transfer::TransferOptions;

/// How `sync` decides that a file and its object differ (a different size always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Sizes, then modification times (see the README's rules).
    #[default]
    SizeAndTime,
    /// Sizes only.
    SizeOnly,
    /// Sizes, then content: the file is hashed against the object's integrity data.
    Checksum,
}

/// Options of a tree transfer.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    pub(crate) transfer: TransferOptions,
    pub(crate) filters: Filters,
    pub(crate) shard: Option<Shard>,
    pub(crate) sync: Option<Compare>,
    pub(crate) delete: bool,
    pub(crate) dry_run: bool,
    pub(crate) no_follow_symlinks: bool,
    pub(crate) files_from: Option<Vec<String>>,
    pub(crate) remove_sources: bool,
}

impl TreeOptions {
    /// The options of every file's transfer: events (for the whole tree), cancellation,
    /// verification, object options. Default: [`TransferOptions::default`].
    pub fn transfer(mut self, options: TransferOptions) -> Self {
        self.transfer = options;
        self
    }

    /// Which paths take part. Default: all.
    pub fn filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    /// Only this shard's paths. Default: all.
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Copies only what is missing or differs at the destination, by `compare`. Default: copy
    /// everything (`cp --recursive`).
    pub fn sync(mut self, compare: Compare) -> Self {
        self.sync = Some(compare);
        self
    }

    /// With [`TreeOptions::sync`]: deletes what exists only at the destination (never a path
    /// the filters or the shard leave out). Default: off.
    pub fn delete(mut self, delete: bool) -> Self {
        self.delete = delete;
        self
    }

    /// Moves instead of copying (`mv --recursive`): each source file or object is removed once
    /// its copy is complete and verified (an upload checked by the server, a download against
    /// the object's integrity data); a copy nothing could verify keeps its source and counts
    /// as failed. Default: off.
    pub fn remove_sources(mut self, remove: bool) -> Self {
        self.remove_sources = remove;
        self
    }

    /// Decides and reports everything, and changes nothing. Default: off.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Uploads skip symbolic links instead of following them. Default: followed.
    pub fn no_follow_symlinks(mut self, skip: bool) -> Self {
        self.no_follow_symlinks = skip;
        self
    }

    /// Exactly these paths (relative to the source's root) instead of a listing of the source.
    /// Default: the source is listed.
    pub fn files_from(mut self, paths: Vec<String>) -> Self {
        self.files_from = Some(paths);
        self
    }
}
