//! Journals that let an interrupted transfer resume: one small file per transfer in the state
//! directory, a JSON header line and then one JSON line per finished part (upload) or range
//! (download), appended as they finish. A line cut short by a crash fails to parse and is
//! ignored: its part is simply done again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::integrity::algorithm::sha256;

/// Journals (and the partial downloads they name) older than this are removed.
pub const STATE_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The platform's place for such state: `$XDG_STATE_HOME/s3mt`, else `~/.local/state/s3mt`.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".local/state")))?;
    Some(base.join("s3mt"))
}

/// What identifies a source file between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SourceIdentity {
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
    pub inode: u64,
    pub device: u64,
}

impl SourceIdentity {
    pub fn of(path: &Path, metadata: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        Self {
            path: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            size: metadata.len(),
            modified_ns,
            inode: metadata.ino(),
            device: metadata.dev(),
        }
    }
}

/// The first line of an upload's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadHeader {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub source: SourceIdentity,
    pub upload_id: String,
    pub part_size: u64,
    /// The composite of the source's part checksums (s3mt's record): equal parts and
    /// algorithm, equal source.
    pub composite: String,
    /// The upload's checksum type (`FULL_OBJECT`, `COMPOSITE`): the server keeps the one it
    /// was created with (empty in journals of s3mt versions before the choice existed).
    #[serde(default)]
    pub checksum_type: String,
}

/// The first line of a copy's journal (a multipart copy inside S3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CopyHeader {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    /// The source as `x-amz-copy-source` names it (`/bucket/key`).
    pub source: String,
    /// The source's ETag: another ETag is another source.
    pub source_etag: String,
    pub size: u64,
    pub part_size: u64,
    /// The checksum the parts were copied with, and its type: the upload keeps them.
    pub checksum_algorithm: String,
    pub checksum_type: String,
    pub upload_id: String,
}

/// The only line of a stream upload's journal: a stream cannot resume, but the multipart
/// upload of a run killed outright is named here for the next run to the same key to abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StreamHeader {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// A journal header naming its multipart upload.
pub(crate) trait UploadId {
    fn upload_id(&self) -> &str;
}

impl UploadId for UploadHeader {
    fn upload_id(&self) -> &str {
        &self.upload_id
    }
}

impl UploadId for CopyHeader {
    fn upload_id(&self) -> &str {
        &self.upload_id
    }
}

/// The first line of a download's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DownloadHeader {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub destination: PathBuf,
    pub partial: PathBuf,
    pub etag: String,
    pub size: u64,
    pub range_size: u64,
}

/// A finished part: its number and, for uploads, the server's ETag and the part's checksum
/// (base64) as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Done {
    pub part: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl Done {
    /// A finished range of a download.
    pub fn range(part: u32) -> Self {
        Self {
            part,
            etag: None,
            checksum: None,
        }
    }
}

/// An open journal: its header, the parts finished so far, and the file to append to.
#[derive(Debug)]
pub(crate) struct Journal<H> {
    path: PathBuf,
    pub header: H,
    pub done: BTreeMap<u32, Done>,
    file: Mutex<File>,
}

/// The journal file for a transfer named by `identity` (its parts joined): a digest, so any
/// key or path gives a short, safe file name.
pub(crate) fn path_for(state_dir: &Path, kind: &str, identity: &[&str]) -> PathBuf {
    let digest = sha256(identity.join("\n").as_bytes());
    state_dir.join(format!("{}.{kind}", hex::encode(&digest.as_bytes()[..16])))
}

impl<H: Serialize + DeserializeOwned> Journal<H> {
    /// The journal at `path` when it exists and its header parses.
    pub fn open(path: &Path) -> Option<Self> {
        let file = File::open(path).ok()?;
        let mut lines = BufReader::new(file).lines();
        let header: H = serde_json::from_str(&lines.next()?.ok()?).ok()?;
        let mut done = BTreeMap::new();
        for line in lines.map_while(std::result::Result::ok) {
            if let Ok(entry) = serde_json::from_str::<Done>(&line) {
                done.insert(entry.part, entry);
            }
        }
        let file = OpenOptions::new().append(true).open(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            header,
            done,
            file: Mutex::new(file),
        })
    }

    /// A new journal holding only `header`, replacing any at `path`.
    pub fn create(path: &Path, header: H) -> Result<Self> {
        let fail = |err| Error::local_io(format!("cannot write {}", path.display()), err);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut line = serde_json::to_string(&header)
            .map_err(|err| Error::invalid(format!("cannot write a journal: {err}")))?;
        line.push('\n');
        // Written beside and renamed: a journal is either whole or absent.
        let temporary = path.with_extension("new");
        fs::write(&temporary, line).map_err(fail)?;
        fs::rename(&temporary, path).map_err(fail)?;
        let file = OpenOptions::new().append(true).open(path).map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            header,
            done: BTreeMap::new(),
            file: Mutex::new(file),
        })
    }

    /// Records that a part is finished (one append of one line).
    pub fn finished(&self, entry: &Done) -> Result<()> {
        let mut line = serde_json::to_string(entry)
            .map_err(|err| Error::invalid(format!("cannot write a journal: {err}")))?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())
            .map_err(|err| Error::local_io(format!("cannot write {}", self.path.display()), err))
    }

    /// Takes the exclusive lock of the journal's file, held until it is dropped (or its
    /// process dies); false when another process holds it.
    pub fn try_lock(&self) -> bool {
        let file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.try_lock().is_ok()
    }

    /// Removes the journal (the transfer is over, or starts over).
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes journals older than [`STATE_MAX_AGE`] from `state_dir`, and the partial downloads
/// they name. Best effort: runs before each transfer.
pub(crate) fn clean_old_state(state_dir: &Path) {
    let Ok(entries) = fs::read_dir(state_dir) else {
        return;
    };
    let cutoff = SystemTime::now()
        .checked_sub(STATE_MAX_AGE)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| modified < cutoff);
        if !old {
            continue;
        }
        if path.extension().is_some_and(|ext| ext == "download")
            && let Some(journal) = Journal::<DownloadHeader>::open(&path)
        {
            let _ = fs::remove_file(&journal.header.partial);
        }
        let _ = fs::remove_file(&path);
    }
}

/// An interrupted upload a journal in the state directory can resume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumableUpload {
    /// The endpoint it was sent to.
    pub endpoint: String,
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The multipart upload id.
    pub upload_id: String,
    /// The file being uploaded.
    pub source: PathBuf,
}

/// The uploads the journals in `state_dir` can resume (e.g. to mark them in a listing).
pub fn resumable_uploads(state_dir: &Path) -> Vec<ResumableUpload> {
    let Ok(entries) = fs::read_dir(state_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "upload"))
        .filter_map(|path| Journal::<UploadHeader>::open(&path))
        .map(|journal| ResumableUpload {
            endpoint: journal.header.endpoint,
            bucket: journal.header.bucket,
            key: journal.header.key,
            upload_id: journal.header.upload_id,
            source: journal.header.source.path,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> DownloadHeader {
        DownloadHeader {
            endpoint: "http://127.0.0.1:1".into(),
            bucket: "b".into(),
            key: "k\nwith newline".into(),
            destination: "/tmp/d".into(),
            partial: "/tmp/.d.s3mt-partial".into(),
            etag: "\"e\"".into(),
            size: 10,
            range_size: 5,
        }
    }

    #[test]
    fn a_journal_survives_reopening_and_ignores_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "download", &["a", "b"]);
        let journal = Journal::create(&path, header()).unwrap();
        journal.finished(&Done::range(2)).unwrap();
        let seven = Done {
            part: 7,
            etag: Some("\"etag\"".into()),
            checksum: Some("c2hh".into()),
        };
        journal.finished(&seven).unwrap();
        drop(journal);
        // A crash in the middle of an append.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"part\":9,\"et").unwrap();
        let reopened = Journal::<DownloadHeader>::open(&path).unwrap();
        assert_eq!(reopened.header, header());
        let done: Vec<_> = reopened.done.values().cloned().collect();
        assert_eq!(done, [Done::range(2), seven]);
        reopened.remove();
        assert!(Journal::<DownloadHeader>::open(&path).is_none());
    }

    #[test]
    fn journal_names_differ_per_transfer_and_old_state_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let one = path_for(dir.path(), "upload", &["e", "b", "k1"]);
        let two = path_for(dir.path(), "upload", &["e", "b", "k2"]);
        assert_ne!(one, two);
        assert_eq!(one, path_for(dir.path(), "upload", &["e", "b", "k1"]));
        let partial = dir.path().join("partial");
        fs::write(&partial, b"x").unwrap();
        let stale = path_for(dir.path(), "download", &["old"]);
        let header = DownloadHeader {
            partial: partial.clone(),
            ..header()
        };
        Journal::create(&stale, header).unwrap();
        let long_ago = SystemTime::now() - STATE_MAX_AGE - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let fresh = path_for(dir.path(), "download", &["new"]);
        Journal::create(&fresh, self::header()).unwrap();
        clean_old_state(dir.path());
        assert!(!stale.exists() && !partial.exists());
        assert!(fresh.exists());
    }
}
