//! The local side of a tree: its regular files in S3's key order, walked one directory at a
//! time. Each directory's entries are sorted with directories as `name/`, so a depth-first
//! walk yields the relative paths in byte order, as ListObjectsV2 lists keys.
//!
//! Symbolic links are followed (to files and to directories) unless asked not to; a link back
//! to a directory being walked is a loop, skipped. Anything that is not a regular file, and
//! any name that is not UTF-8, is skipped and named, never opened. s3mt's own partial
//! downloads are not part of the tree.

use std::fs::{self, FileType, Metadata};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::merge::Listed;
use crate::error::{Error, Result};
use crate::transfer::upload_file::modified;

/// A regular file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalFile {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub size: u64,
    pub modified: Timestamp,
}

impl Listed for LocalFile {
    fn path(&self) -> &str {
        &self.path
    }
}

/// What the walk finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    File(LocalFile),
    /// An entry that is not part of the tree, and why (a directory's path ends in `/`).
    Skipped {
        path: String,
        reason: String,
    },
    /// A name that is not UTF-8, so no S3 key (shown with its bad bytes replaced). Not in key
    /// order: no key can pair with it.
    BadName(String),
}

impl Listed for Found {
    fn path(&self) -> &str {
        match self {
            Self::File(file) => &file.path,
            Self::Skipped { path, .. } | Self::BadName(path) => path,
        }
    }
}

/// Whether a name is one of s3mt's partial downloads (`.NAME.s3mt-partial`, or a temporary
/// `.NAME.XXXXXX.s3mt-partial`).
pub(crate) fn is_partial_download(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".s3mt-partial")
}

/// The walk of the tree under a root, in key order.
pub(crate) struct Walk {
    root: PathBuf,
    follow_symlinks: bool,
    /// The directories being walked, outermost first.
    levels: Vec<Level>,
}

struct Level {
    /// The directory's path relative to the root, with a trailing `/` (empty for the root).
    prefix: String,
    /// (device, inode) of the directory, to recognise a link loop.
    identity: (u64, u64),
    /// Entries not yet yielded, last first.
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    BadName,
    Skipped(&'static str),
}

impl Walk {
    /// The walk of `root`, which must be a directory (a missing root is an empty tree when
    /// `missing_is_empty`).
    pub fn new(root: &Path, follow_symlinks: bool, missing_is_empty: bool) -> Result<Self> {
        let mut walk = Self {
            root: root.to_path_buf(),
            follow_symlinks,
            levels: Vec::new(),
        };
        let metadata = match fs::metadata(root) {
            Ok(metadata) => metadata,
            Err(err) if missing_is_empty && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(walk);
            }
            Err(err) => {
                return Err(Error::local_io(
                    format_args!("cannot read {}", root.display()),
                    err,
                ));
            }
        };
        if !metadata.is_dir() {
            return Err(Error::invalid(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let level = walk
            .open(String::new(), &metadata)
            .map_err(|err| Error::local_io(format_args!("cannot read {}", root.display()), err))?;
        walk.levels.push(level);
        Ok(walk)
    }

    /// Reads and sorts the directory at `prefix` (relative, with its trailing `/`).
    fn open(&self, prefix: String, metadata: &Metadata) -> std::io::Result<Level> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.root.join(&prefix))? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                entries.push(Entry {
                    name: name.to_string_lossy().into_owned(),
                    kind: Kind::BadName,
                });
                continue;
            };
            if is_partial_download(name) {
                continue;
            }
            let kind = match entry.file_type() {
                Ok(kind) => self.kind(&entry.path(), kind),
                Err(_) => Kind::Skipped("cannot be read"),
            };
            entries.push(Entry {
                name: name.to_owned(),
                kind,
            });
        }
        // Directories sort as `name/`: the order of the keys below them. Last first, to pop.
        entries.sort_unstable_by(|a, b| key_order(b).cmp(key_order(a)));
        Ok(Level {
            prefix,
            identity: (metadata.dev(), metadata.ino()),
            entries,
        })
    }

    fn kind(&self, path: &Path, kind: FileType) -> Kind {
        let kind = if kind.is_symlink() {
            if !self.follow_symlinks {
                return Kind::Skipped("a symbolic link (not followed)");
            }
            match fs::metadata(path) {
                Ok(target) => target.file_type(),
                Err(_) => return Kind::Skipped("a symbolic link to nothing readable"),
            }
        } else {
            kind
        };
        if kind.is_file() {
            Kind::File
        } else if kind.is_dir() {
            Kind::Directory
        } else {
            Kind::Skipped("not a regular file")
        }
    }

    /// What `entry` of the directory at `prefix` is; `None` for a directory now being walked.
    fn found(&mut self, prefix: &str, entry: Entry) -> Option<Found> {
        let path = format!("{prefix}{}", entry.name);
        let skipped = |path: String, reason: &str| {
            Some(Found::Skipped {
                path,
                reason: reason.to_owned(),
            })
        };
        let full = self.root.join(&path);
        match entry.kind {
            Kind::Skipped(reason) => skipped(path, reason),
            Kind::BadName => Some(Found::BadName(path)),
            Kind::File => match fs::metadata(&full) {
                Ok(metadata) if metadata.is_file() => Some(Found::File(LocalFile {
                    path,
                    size: metadata.len(),
                    modified: modified(&metadata),
                })),
                // Gone or replaced since the directory was read.
                _ => skipped(path, "changed while the tree was walked"),
            },
            Kind::Directory => {
                let directory = format!("{path}/");
                let Ok(metadata) = fs::metadata(&full) else {
                    return skipped(directory, "changed while the tree was walked");
                };
                let identity = (metadata.dev(), metadata.ino());
                if self.levels.iter().any(|level| level.identity == identity) {
                    return skipped(directory, "a symbolic link loop");
                }
                match self.open(directory.clone(), &metadata) {
                    Ok(level) => {
                        self.levels.push(level);
                        None
                    }
                    Err(err) => skipped(directory, &format!("cannot be read: {err}")),
                }
            }
        }
    }
}

impl Iterator for Walk {
    type Item = Result<Found>;

    fn next(&mut self) -> Option<Result<Found>> {
        loop {
            let level = self.levels.last_mut()?;
            let Some(entry) = level.entries.pop() else {
                self.levels.pop();
                continue;
            };
            let prefix = level.prefix.clone();
            if let Some(found) = self.found(&prefix, entry) {
                return Some(Ok(found));
            }
        }
    }
}

/// An entry's place in key order: the bytes of its name, and a `/` after a directory's.
fn key_order(entry: &Entry) -> impl Iterator<Item = u8> + '_ {
    let slash: &[u8] = if entry.kind == Kind::Directory {
        b"/"
    } else {
        b""
    };
    entry.name.bytes().chain(slash.iter().copied())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::symlink;

    use super::*;

    fn walk(root: &Path, follow_symlinks: bool) -> Vec<Found> {
        Walk::new(root, follow_symlinks, false)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn describe(found: &[Found]) -> Vec<String> {
        found
            .iter()
            .map(|found| match found {
                Found::File(file) => format!("{} ({} B)", file.path, file.size),
                Found::Skipped { path, reason } => format!("{path}: {reason}"),
                Found::BadName(path) => format!("{path}: not UTF-8"),
            })
            .collect()
    }

    #[test]
    fn files_come_in_key_order_with_directories_sorted_as_name_slash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, body) in [
            ("a-c", "1"),
            ("a/b", "22"),
            ("a/z/deep", "333"),
            ("a0", "4"),
            ("b.txt", "55555"),
            (".hidden", ""),
            (".x.s3mt-partial", "ours"),
            ("a/.y.abc123.s3mt-partial", "ours"),
        ] {
            let file = root.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, body).unwrap();
        }
        let found = walk(root, true);
        assert_eq!(
            describe(&found),
            [
                ".hidden (0 B)",
                "a-c (1 B)",
                "a/b (2 B)",
                "a/z/deep (3 B)",
                "a0 (1 B)",
                "b.txt (5 B)",
            ]
        );
        let paths: Vec<&str> = found.iter().map(Listed::path).collect();
        assert!(paths.windows(2).all(|pair| pair[0] < pair[1]), "{paths:?}");
    }

    #[test]
    fn links_are_followed_loops_and_odd_entries_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(root.join("d/file"), "x").unwrap();
        symlink(root.join("d/file"), root.join("file-link")).unwrap();
        symlink(&root, root.join("d/loop")).unwrap();
        symlink(dir.path().join("nowhere"), root.join("dangling")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(root.join("socket")).unwrap();
        fs::write(root.join(OsStr::from_bytes(b"bad-\xff")), "x").unwrap();
        assert_eq!(
            describe(&walk(&root, true)),
            [
                "bad-\u{fffd}: not UTF-8",
                "d/file (1 B)",
                "d/loop/: a symbolic link loop",
                "dangling: a symbolic link to nothing readable",
                "file-link (1 B)",
                "socket: not a regular file",
            ]
        );
        assert_eq!(
            describe(&walk(&root, false)),
            [
                "bad-\u{fffd}: not UTF-8",
                "d/file (1 B)",
                "d/loop: a symbolic link (not followed)",
                "dangling: a symbolic link (not followed)",
                "file-link: a symbolic link (not followed)",
                "socket: not a regular file",
            ]
        );
    }

    #[test]
    fn a_missing_root_is_an_error_or_an_empty_tree() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert!(Walk::new(&missing, true, false).is_err());
        assert_eq!(Walk::new(&missing, true, true).unwrap().count(), 0);
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = Walk::new(&file, true, false).err().unwrap();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
