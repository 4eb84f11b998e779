//! Keys and local paths: whether a key can become a file under the destination (no key may
//! name a place outside it), and placing a download's file there without going through a
//! symbolic link or a file. The check is pure; placing is I/O at the edge.

use std::fs;
use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Why a key (relative to the tree's prefix) cannot be a file under the destination, if it
/// cannot: a path that is empty, absolute, ends in `/`, or has an empty, `.` or `..` segment, a
/// backslash or a NUL could land elsewhere than its name says.
pub(crate) fn unsafe_key(relative: &str) -> Option<&'static str> {
    if relative.is_empty() {
        return Some("an empty name");
    }
    if relative.starts_with('/') {
        return Some("it starts with /");
    }
    if relative.ends_with('/') {
        return Some("it ends with / (and holds data)");
    }
    if relative.contains('\\') {
        return Some("it contains a backslash");
    }
    if relative.contains('\0') {
        return Some("it contains a NUL");
    }
    for segment in relative.split('/') {
        match segment {
            "" => return Some("it has an empty segment (//)"),
            "." | ".." => return Some("it has a . or .. segment"),
            _ => {}
        }
    }
    None
}

/// Whether a key is a directory marker: empty and ending in `/`, as consoles create them (the
/// prefix's own marker has the empty relative path).
pub(crate) fn is_directory_marker(relative: &str, size: u64) -> bool {
    size == 0 && (relative.is_empty() || relative.ends_with('/'))
}

/// The file a safe `relative` key lands in under `root`, its directories created: each must be
/// a directory itself, not a symbolic link (which could point anywhere) or a file.
pub(crate) fn place(root: &Path, relative: &str) -> Result<PathBuf> {
    let mut directory = root.to_path_buf();
    let segments: Vec<&str> = relative.split('/').collect();
    let (name, parents) = segments
        .split_last()
        .ok_or_else(|| Error::invalid("an empty name"))?;
    for segment in parents {
        directory.push(segment);
        let refused = |what: &str| {
            Error::new(
                ErrorKind::LocalIo,
                format!(
                    "{} is {what}: s3mt writes only below the destination, into directories",
                    directory.display()
                ),
            )
        };
        match fs::symlink_metadata(&directory) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(refused("a symbolic link"));
            }
            Ok(_) => return Err(refused("not a directory")),
            Err(err) if err.kind() == IoErrorKind::NotFound => match fs::create_dir(&directory) {
                Ok(()) => {}
                // Made meanwhile (by a worker placing another file): checked again next time.
                Err(err) if err.kind() == IoErrorKind::AlreadyExists => {
                    if !fs::symlink_metadata(&directory).is_ok_and(|m| m.is_dir()) {
                        return Err(refused("not a directory"));
                    }
                }
                Err(err) => {
                    return Err(Error::local_io(
                        format_args!("cannot create {}", directory.display()),
                        err,
                    ));
                }
            },
            Err(err) => {
                return Err(Error::local_io(
                    format_args!("cannot read {}", directory.display()),
                    err,
                ));
            }
        }
    }
    Ok(directory.join(name))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn keys_that_could_land_elsewhere_are_refused() {
        for safe in ["a", "a/b/c.txt", "a b/ü/.hidden", "..a/b..", "x/...", "-/~"] {
            assert_eq!(unsafe_key(safe), None, "{safe}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../../x",
            "../x",
            "a/./b",
            ".",
            "..",
            "a//b",
            "a/",
            "a\\b",
            "..\\x",
            "a\0b",
        ] {
            assert!(unsafe_key(bad).is_some(), "{bad:?}");
        }
        assert!(is_directory_marker("photos/", 0) && is_directory_marker("", 0));
        assert!(!is_directory_marker("photos/", 3) && !is_directory_marker("photos", 0));
    }

    #[test]
    fn files_are_placed_in_real_directories_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        assert_eq!(place(&root, "a/b/c").unwrap(), root.join("a/b/c"));
        assert!(root.join("a/b").is_dir());
        assert_eq!(place(&root, "top").unwrap(), root.join("top"));

        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        symlink(&outside, root.join("link")).unwrap();
        let err = place(&root, "link/x").unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        fs::write(root.join("file"), "x").unwrap();
        let err = place(&root, "file/x").unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}
