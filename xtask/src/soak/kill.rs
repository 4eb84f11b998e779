//! The kill -9 phase: transfers (a file or a tree, up or down, a stream up) SIGKILLed at a
//! random moment, then run again with the same command through the same proxy. Each rerun
//! must end byte-identical and leave nothing behind: no journal, no partial file, no open
//! multipart upload. A file or tree rerun must also move fewer bytes than the whole transfer
//! (counted at the proxy: the bodies sent, the ranges fetched); a stream cannot be read twice,
//! so its rerun sends it all and aborts the upload the killed run left. A cap on bandwidth
//! makes each transfer last about two seconds; the kill lands a random moment after a random
//! number of its requests for data (parts, ranges, small files) have been answered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use s3mt_engine::size::MIB;
use s3mt_tests::fixture::{TestBucket, random_bytes, s3mt_binary_for};
use s3mt_tests::proxy::{FaultProxy, RequestRecord};

use super::run::files_under;

/// How long a transfer lasts under its cap, about.
const PLANNED: Duration = Duration::from_secs(2);
/// Requests in flight at a time.
const CONCURRENCY: usize = 2;
/// Longest a rerun may take before it counts as hung.
const RERUN_LIMIT: Duration = Duration::from_secs(300);

/// What is moved and killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillKind {
    UploadFile,
    DownloadFile,
    SyncUp,
    SyncDown,
    UploadStream,
}

impl KillKind {
    fn uploads(self) -> bool {
        matches!(self, Self::UploadFile | Self::SyncUp | Self::UploadStream)
    }

    fn is_tree(self) -> bool {
        matches!(self, Self::SyncUp | Self::SyncDown)
    }
}

/// One kill run, drawn from its seed alone.
#[derive(Debug, Clone)]
pub struct KillPlan {
    pub seed: u64,
    pub kind: KillKind,
    /// The files moved, by name, with their sizes (one for a file transfer).
    pub files: Vec<(String, u64)>,
    /// The kill lands once this many requests for data have been answered ...
    pub answered: usize,
    /// ... and this much later.
    pub then: Duration,
}

impl KillPlan {
    /// The run of `seed` (consecutive seeds take the kinds in turn), moving at most
    /// `max_size` bytes (at least 24 MiB, so there are parts to keep).
    pub fn new(seed: u64, max_size: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let max_size = max_size.max(24 * MIB);
        let kind = [
            KillKind::UploadFile,
            KillKind::DownloadFile,
            KillKind::SyncUp,
            KillKind::SyncDown,
            KillKind::UploadStream,
        ][(seed % 5) as usize];
        let files = if kind.is_tree() {
            // Two files of several parts, and small ones sent whole.
            let mut files: Vec<(String, u64)> = (0..2)
                .map(|n| {
                    let size = rng.random_range(max_size / 4..=max_size / 2);
                    (format!("big-{n}"), size)
                })
                .collect();
            files.extend((0..10).map(|n| {
                (
                    format!("a-small/{n:02}"),
                    rng.random_range(1..=256 * 1024_u64),
                )
            }));
            files
        } else {
            vec![("file".to_owned(), rng.random_range(max_size / 2..=max_size))]
        };
        // The small files (first in key order, so done first), then one or more parts of
        // 5 MiB, with half the parts left to do.
        let small = files.iter().filter(|(_, size)| *size < 5 * MIB).count();
        let parts: u64 = files
            .iter()
            .filter(|(_, size)| *size >= 5 * MIB)
            .map(|(_, size)| size.div_ceil(5 * MIB))
            .sum();
        let answered = small + rng.random_range(1..=(parts / 2).max(1)) as usize;
        let then = Duration::from_millis(rng.random_range(0..300));
        Self {
            seed,
            kind,
            files,
            answered,
            then,
        }
    }

    pub fn total(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }

    /// The cap, in MiB/s, that makes the transfer last about [`PLANNED`].
    fn cap_mib(&self) -> u64 {
        (self.total() / MIB / PLANNED.as_secs()).max(1)
    }
}

impl fmt::Display for KillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} of {} file(s), {} bytes, killed {} ms after {} answers",
            self.kind,
            self.files.len(),
            self.total(),
            self.then.as_millis(),
            self.answered
        )
    }
}

/// How a kill run ended.
#[derive(Debug, Clone)]
pub enum KillOutcome {
    /// Killed, then finished byte-identical by the rerun, which moved `moved` bytes.
    Resumed {
        moved: u64,
        total: u64,
    },
    /// A stream killed, then sent again whole by the rerun, which aborted what was left.
    Restarted,
    /// The transfer finished before the kill: no resume was tested.
    FinishedFirst,
    Failed {
        why: String,
    },
}

impl fmt::Display for KillOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resumed { moved, total } => write!(
                f,
                "resumed byte-identical, the rerun moved {moved} of {total} bytes ({:.0}%)",
                *moved as f64 * 100.0 / (*total).max(1) as f64
            ),
            Self::Restarted => f.write_str(
                "sent again byte-identical (a stream cannot resume), the killed run's upload aborted",
            ),
            Self::FinishedFirst => f.write_str("finished before the kill"),
            Self::Failed { why } => write!(f, "FAILED: {why}"),
        }
    }
}

/// Runs kill plans against one bucket.
pub struct Killer<'a> {
    bucket: &'a TestBucket,
    binary: PathBuf,
    scratch: tempfile::TempDir,
}

impl<'a> Killer<'a> {
    pub fn new(bucket: &'a TestBucket, binary: PathBuf) -> Result<Self> {
        Ok(Self {
            bucket,
            binary,
            scratch: tempfile::tempdir().context("a scratch directory")?,
        })
    }

    /// Runs `plan`: the transfer, the kill, the rerun; then judges it and cleans up.
    pub fn run(&self, plan: &KillPlan) -> Result<KillOutcome> {
        let dir = self.scratch.path().join(plan.seed.to_string());
        let source = dir.join("source");
        let destination = dir.join("destination");
        let state = dir.join("state");
        let prefix = format!("kill/{}", plan.seed);
        let data = self.prepare(plan, &source, &prefix)?;
        let proxy = FaultProxy::start(self.bucket.server().endpoint())?;
        let command = || self.command(plan, &proxy, &source, &destination, &state, &prefix);
        let stdin = || -> Result<Stdio> {
            Ok(if plan.kind == KillKind::UploadStream {
                std::fs::File::open(&source)?.into()
            } else {
                Stdio::null()
            })
        };

        let mut first = command()
            .stdin(stdin()?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start s3mt")?;
        // A GET is answered when its body begins: with two in flight, the third answer means
        // the first body is done.
        let wanted = plan.answered + if plan.kind.uploads() { 0 } else { CONCURRENCY };
        let deadline = Instant::now() + RERUN_LIMIT;
        while answered_data(&proxy.requests()) < wanted
            && first.try_wait()?.is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(plan.then);
        let outcome = if first.try_wait()?.is_some() {
            KillOutcome::FinishedFirst
        } else {
            first.kill().context("SIGKILL s3mt")?;
            first.wait()?;
            // Requests already on their way are recorded before the rerun's are counted.
            std::thread::sleep(Duration::from_millis(200));
            let mark = proxy.requests().len();
            let mut rerun = command();
            let (code, output) = finish(rerun.stdin(stdin()?))?;
            let moved = moved(plan, &proxy.requests()[mark..], self.bucket.name());
            self.judge(plan, &data, &destination, &state, &prefix, code, &output)
                .map_or(
                    KillOutcome::Resumed {
                        moved,
                        total: plan.total(),
                    },
                    |why| KillOutcome::Failed { why },
                )
        };
        let outcome = match outcome {
            KillOutcome::Resumed { .. } if plan.kind == KillKind::UploadStream => {
                KillOutcome::Restarted
            }
            KillOutcome::Resumed { moved, total } if moved >= total => KillOutcome::Failed {
                why: format!("the rerun moved {moved} bytes of {total}: nothing was resumed"),
            },
            other => other,
        };
        let client = self.bucket.client(1);
        for (name, _) in &plan.files {
            let _ = client.delete_object(&self.bucket.uri(&format!("{prefix}/{name}")));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(outcome)
    }

    /// Writes the source files (and for a download, stores them as objects); their bytes.
    fn prepare(&self, plan: &KillPlan, source: &Path, prefix: &str) -> Result<Vec<Vec<u8>>> {
        let client = self.bucket.client(4);
        let mut data = Vec::new();
        for (index, (name, size)) in plan.files.iter().enumerate() {
            let path = local_path(plan, source, name);
            std::fs::create_dir_all(path.parent().context("a parent")?)?;
            let bytes = random_bytes(usize::try_from(*size)?, plan.seed + index as u64);
            std::fs::write(&path, &bytes)?;
            if !plan.kind.uploads() {
                client
                    .upload_file(&path, &self.bucket.uri(&format!("{prefix}/{name}")))
                    .context("store the object to download")?;
            }
            data.push(bytes);
        }
        Ok(data)
    }

    /// The command, the same for the killed run and the rerun.
    fn command(
        &self,
        plan: &KillPlan,
        proxy: &FaultProxy,
        source: &Path,
        destination: &Path,
        state: &Path,
        prefix: &str,
    ) -> Command {
        let remote = format!("s3://{}/{prefix}", self.bucket.name());
        let mut command = s3mt_binary_for(&self.binary, self.bucket.server());
        command
            .env("XDG_STATE_HOME", state)
            .args(["--endpoint-url", &proxy.endpoint()]);
        match plan.kind {
            KillKind::UploadFile => command.arg("cp").arg(source).arg(format!("{remote}/file")),
            KillKind::DownloadFile => command
                .arg("cp")
                .arg(format!("{remote}/file"))
                .arg(destination),
            KillKind::SyncUp => command.arg("sync").arg(source).arg(format!("{remote}/")),
            KillKind::SyncDown => command
                .arg("sync")
                .arg(format!("{remote}/"))
                .arg(destination),
            KillKind::UploadStream => command.args(["cp", "-", &format!("{remote}/file")]),
        };
        command
            .args([
                "--progress",
                "none",
                "--concurrency",
                &CONCURRENCY.to_string(),
            ])
            .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
            .args(["--max-bandwidth", &format!("{}MiB/s", plan.cap_mib())]);
        command
    }

    /// Why the rerun is not a clean resume, if it is not.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        plan: &KillPlan,
        data: &[Vec<u8>],
        destination: &Path,
        state: &Path,
        prefix: &str,
        code: i32,
        output: &str,
    ) -> Option<String> {
        if code != 0 {
            return Some(format!("the rerun exited {code}: {output}"));
        }
        if output.contains(self.bucket.server().secret_key()) {
            return Some("the secret key is in the output".to_owned());
        }
        for ((name, _), bytes) in plan.files.iter().zip(data) {
            let got = if plan.kind.uploads() {
                self.stored(&format!("{prefix}/{name}"))
            } else {
                std::fs::read(local_path(plan, destination, name)).ok()
            };
            if got.as_deref() != Some(bytes.as_slice()) {
                return Some(format!("{name} is not byte-identical"));
            }
        }
        let open: Vec<_> = self
            .bucket
            .open_uploads()
            .into_iter()
            .filter(|upload| upload.key.starts_with(prefix))
            .collect();
        if !open.is_empty() {
            return Some(format!("{} multipart upload(s) left open", open.len()));
        }
        let left = files_under(state)
            .into_iter()
            .chain(
                files_under(destination.parent()?)
                    .into_iter()
                    .filter(|name| name.contains("s3mt-partial")),
            )
            .collect::<Vec<_>>();
        if !left.is_empty() {
            return Some(format!("left behind: {left:?}"));
        }
        if !plan.kind.uploads() && plan.kind.is_tree() {
            let expected = plan.files.len();
            let found = files_under(destination).len();
            if found != expected {
                return Some(format!("{found} files at the destination, not {expected}"));
            }
        }
        None
    }

    /// The object's bytes as stored, read with a clean client.
    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().ok()?;
        let copy = dir.path().join("stored");
        self.bucket
            .client(4)
            .download_file(&self.bucket.uri(key), &copy)
            .ok()?;
        std::fs::read(copy).ok()
    }
}

/// Where file `name` of the plan lives under `root` (`root` itself for a single file).
fn local_path(plan: &KillPlan, root: &Path, name: &str) -> PathBuf {
    if plan.kind.is_tree() {
        root.join(name)
    } else {
        root.to_path_buf()
    }
}

/// Bytes the rerun moved through the proxy: request bodies for an upload; for a download,
/// the ranges asked for, or the whole object when no range was.
fn moved(plan: &KillPlan, requests: &[RequestRecord], bucket: &str) -> u64 {
    requests
        .iter()
        .map(|request| match request.method.as_str() {
            "PUT" if plan.kind.uploads() => request.content_length.unwrap_or(0),
            "GET" if !plan.kind.uploads() => match request.header("range") {
                Some(range) => range_length(range),
                None => plan
                    .files
                    .iter()
                    .find(|(name, _)| request.path.ends_with(&format!("/{name}")))
                    .filter(|_| request.path.starts_with(&format!("/{bucket}/")))
                    .map_or(0, |(_, size)| *size),
            },
            _ => 0,
        })
        .sum()
}

/// How many requests for data (PUT bodies, GETs) have been answered with success.
fn answered_data(requests: &[RequestRecord]) -> usize {
    requests
        .iter()
        .filter(|request| matches!(request.method.as_str(), "PUT" | "GET"))
        .filter(|request| matches!(request.status, Some(200 | 206)))
        .count()
}

/// The length of `bytes=A-B`.
fn range_length(range: &str) -> u64 {
    let bounds = range.trim_start_matches("bytes=").split_once('-');
    match bounds.map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>())) {
        Some((Ok(first), Ok(last))) if last >= first => last - first + 1,
        _ => 0,
    }
}

/// Runs `command` to its end; its exit code (-1 for a signal, -2 when it hung and was killed)
/// and its output.
fn finish(command: &mut Command) -> Result<(i32, String)> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start s3mt")?;
    let stderr = child.stderr.take();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stderr {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    });
    let deadline = Instant::now() + RERUN_LIMIT;
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok((code, drain.join().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_plans_take_turns_and_land_part_way() {
        let kinds: Vec<KillKind> = (10..15).map(|n| KillPlan::new(n, MIB).kind).collect();
        assert_eq!(
            kinds,
            [
                KillKind::UploadFile,
                KillKind::DownloadFile,
                KillKind::SyncUp,
                KillKind::SyncDown,
                KillKind::UploadStream
            ]
        );
        for index in 0..100 {
            let plan = KillPlan::new(7 + index, 160 * MIB);
            assert!(plan.total() >= 12 * MIB && plan.total() <= 2 * 160 * MIB);
            let parts: u64 = plan
                .files
                .iter()
                .map(|(_, size)| size.div_ceil(5 * MIB))
                .sum();
            assert!(plan.answered >= 1 && (plan.answered as u64) < parts.max(2) + 10);
        }
        assert_eq!(range_length("bytes=0-9"), 10);
        assert_eq!(range_length("bytes=5-"), 0);
    }
}
