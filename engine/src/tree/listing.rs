//! The S3 side of a tree: the objects under a prefix, each named by its key relative to the
//! prefix. A copy takes them in any order, a ListObjectsV2 page at a time. A sync merges them
//! with the local walk and needs S3's key order, which not every server lists in (SeaweedFS
//! lists a "directory"'s subtree before its siblings): the prefix is then walked one
//! directory at a time (delimiter `/`), each directory sorted, depth first, as the local
//! walk is. For `--files-from`, the objects are the paths given.

use jiff::Timestamp;

use super::merge::Listed;
use crate::error::{Error, ErrorKind, Result};
use crate::s3::call::Requester;
use crate::s3::xml::{Listing, ObjectInfo};

/// An object of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectEntry {
    /// The key relative to the tree's prefix.
    pub path: String,
    /// Its size, `None` when the object was named (`--files-from`) rather than listed.
    pub size: Option<u64>,
    pub last_modified: Option<Timestamp>,
    /// Its ETag, quotes included, when listed.
    pub etag: Option<String>,
}

impl Listed for ObjectEntry {
    fn path(&self) -> &str {
        &self.path
    }
}

impl ObjectEntry {
    /// `object` named relative to `prefix`, which its key must start with.
    fn of(object: ObjectInfo, prefix: &str) -> Result<Self> {
        let path = object.key.strip_prefix(prefix).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("the listing of {prefix:?} holds the key {:?}", object.key),
            )
        })?;
        Ok(Self {
            path: path.to_owned(),
            size: Some(object.size),
            last_modified: object.last_modified.as_deref().and_then(|t| t.parse().ok()),
            etag: object.etag,
        })
    }
}

/// The objects whose keys start with `prefix`, in the server's order, named relative to it.
pub(crate) fn objects<'a>(
    requester: &'a Requester,
    prefix: &'a str,
) -> impl Iterator<Item = Result<ObjectEntry>> + 'a {
    requester
        .list_objects(prefix)
        .map(move |object| ObjectEntry::of(object?, prefix))
}

/// The objects under a prefix in S3's key order, whatever order the server lists them in.
pub(crate) struct SortedObjects<'a> {
    requester: &'a Requester,
    root: &'a str,
    /// The directories being walked, outermost first; each holds its entries last first.
    levels: Vec<Vec<Listing>>,
}

impl<'a> SortedObjects<'a> {
    pub fn new(requester: &'a Requester, root: &'a str) -> Self {
        Self {
            requester,
            root,
            levels: vec![vec![Listing::Prefix(root.to_owned())]],
        }
    }

    /// One directory's entries (all its pages), sorted by key, last first.
    fn open(&self, prefix: &str) -> Result<Vec<Listing>> {
        let mut entries = self
            .requester
            .list_directory(prefix)
            .collect::<Result<Vec<_>>>()?;
        for entry in &entries {
            // A server that hands back the directory itself as its own subdirectory would
            // have this walk forever.
            if let Listing::Prefix(inner) = entry
                && (inner.len() <= prefix.len() || !inner.starts_with(prefix))
            {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("the listing of {prefix:?} names {inner:?} as a directory in it"),
                ));
            }
        }
        entries.sort_unstable_by(|a, b| key(b).cmp(key(a)));
        Ok(entries)
    }
}

/// An entry's place in key order: a common prefix sorts as itself, ending in `/`.
fn key(entry: &Listing) -> &[u8] {
    match entry {
        Listing::Object(object) => object.key.as_bytes(),
        Listing::Prefix(prefix) => prefix.as_bytes(),
    }
}

impl Iterator for SortedObjects<'_> {
    type Item = Result<ObjectEntry>;

    fn next(&mut self) -> Option<Result<ObjectEntry>> {
        loop {
            let level = self.levels.last_mut()?;
            match level.pop() {
                None => {
                    self.levels.pop();
                }
                Some(Listing::Object(object)) => return Some(ObjectEntry::of(object, self.root)),
                Some(Listing::Prefix(prefix)) => match self.open(&prefix) {
                    Ok(entries) => self.levels.push(entries),
                    Err(err) => {
                        self.levels.clear();
                        return Some(Err(err));
                    }
                },
            }
        }
    }
}

/// The paths of a `--files-from` list in key order, each once (blank lines left out).
pub(crate) fn sorted_paths(mut paths: Vec<String>) -> Vec<String> {
    paths.retain(|path| !path.is_empty());
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// Objects named by a `--files-from` list, in key order: their sizes are learnt when fetched.
pub(crate) fn named_objects(paths: Vec<String>) -> impl Iterator<Item = Result<ObjectEntry>> {
    sorted_paths(paths).into_iter().map(|path| {
        Ok(ObjectEntry {
            path,
            size: None,
            last_modified: None,
            etag: None,
        })
    })
}
