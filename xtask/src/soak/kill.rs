//! The kill -9 phase: transfers (a file or a tree, up or down, a stream up) SIGKILLed at a
//! random moment, then run again with the same command through the same proxy. Each rerun
//! must end byte-identical and leave nothing behind: no journal, no partial file, no open
//! multipart upload. A file or tree rerun must also move fewer bytes than the whole transfer
//! (counted at the proxy: the bodies sent, the ranges fetched); a stream cannot be read twice,
//! so its rerun sends it all and aborts the upload the killed run left. A cap on bandwidth
//! makes each transfer last about two seconds; the kill lands a random moment after a random
//! number of its requests for data (parts, ranges, small files) have been answered.

use std::fmt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use s3mt_engine::size::MIB;
use s3mt_tests::fixture::random_bytes;
use s3mt_tests::proxy::{FaultProxy, RequestRecord};

use super::child::{self, Ended, Running};
use super::run::{files_under, placed};
use super::store::Store;

/// How long a transfer lasts under its cap, about.
const PLANNED: Duration = Duration::from_secs(2);
/// Requests in flight at a time.
const CONCURRENCY: usize = 2;
/// Longest a run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// A network or server failure that outlasted the retries: the exit a crashed server may
/// cause, which a rerun must then get past.
const NETWORK_FAILURE: i32 = 7;

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

/// What is killed: `s3mt`, or the server (started again at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    Client,
    Server,
}

/// One kill run, drawn from its seed alone.
#[derive(Debug, Clone)]
pub struct KillPlan {
    pub seed: u64,
    pub victim: Victim,
    pub kind: KillKind,
    /// The files moved, by name, with their sizes (one for a file transfer).
    pub files: Vec<(String, u64)>,
    /// The kill lands once this many requests for data have been answered ...
    pub answered: usize,
    /// ... and this much later.
    pub then: Duration,
}

impl KillPlan {
    /// The run of `seed` killing `victim` (consecutive seeds take the kinds in turn), moving
    /// at most `max_size` bytes (at least 24 MiB, so there are parts to keep).
    pub fn new(seed: u64, victim: Victim, max_size: u64) -> Self {
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
            victim,
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
            "{:?} of {} file(s), {} bytes, {} killed {} ms after {} answers",
            self.kind,
            self.files.len(),
            self.total(),
            match self.victim {
                Victim::Client => "s3mt",
                Victim::Server => "the server",
            },
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
    /// The server crashed and came back; the transfer got past it on its retries.
    RodeThrough,
    /// The server crashed and came back; the transfer failed cleanly, and its rerun ended
    /// byte-identical.
    RerunAfterCrash,
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
            Self::RodeThrough => f.write_str("got past the crash on its retries, byte-identical"),
            Self::RerunAfterCrash => f.write_str(
                "failed cleanly (exit 7) on the crash; the rerun ended byte-identical",
            ),
            Self::FinishedFirst => f.write_str("finished before the kill"),
            Self::Failed { why } => write!(f, "FAILED: {why}"),
        }
    }
}

/// Runs kill plans against the soak's store.
pub struct Killer {
    scratch: tempfile::TempDir,
}

impl Killer {
    pub fn new() -> Result<Self> {
        Ok(Self {
            scratch: tempfile::tempdir().context("a scratch directory")?,
        })
    }

    /// Runs `plan`: the transfer, the kill (of `s3mt`, or of the server, which is started
    /// again), the rerun when one is due; then judges it and cleans up.
    pub fn run(&self, store: &mut Store, plan: &KillPlan) -> Result<KillOutcome> {
        let dir = self.scratch.path().join(plan.seed.to_string());
        let source = dir.join("source");
        let destination = dir.join("destination");
        let state = dir.join("state");
        let prefix = format!("kill/{}", plan.seed);
        let data = self.prepare(store, plan, &source, &prefix)?;
        let proxy = FaultProxy::start(store.server.endpoint())?;
        let paths = Paths {
            source: &source,
            destination: &destination,
            state: &state,
            prefix: &prefix,
        };
        let start = |store: &Store| -> Result<Running> {
            let stdin = if plan.kind == KillKind::UploadStream {
                std::fs::File::open(&source)?.into()
            } else {
                Stdio::null()
            };
            child::spawn(self.command(store, plan, &proxy, &paths).stdin(stdin), None)
        };

        let mut first = start(store)?;
        // A GET is answered when its body begins: with two in flight, the third answer means
        // the first body is done.
        let wanted = plan.answered + if plan.kind.uploads() { 0 } else { CONCURRENCY };
        // Killing s3mt, wait too for its journal to hold a part (a stream keeps none): the
        // server's answer alone does not mean s3mt wrote it down before the kill.
        let journaled = || {
            plan.victim == Victim::Server
                || plan.kind == KillKind::UploadStream
                || journaled_parts(&state) > 0
        };
        let deadline = Instant::now() + RUN_LIMIT;
        while (answered_data(&proxy.requests()) < wanted || !journaled())
            && first.child.try_wait()?.is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(plan.then);
        let outcome = if first.child.try_wait()?.is_some() {
            KillOutcome::FinishedFirst
        } else if plan.victim == Victim::Server {
            store.server.kill();
            store.server.restart().context("start the server again")?;
            let Ended {
                code,
                stderr: output,
                ..
            } = first.wait(RUN_LIMIT)?;
            if code == 0 {
                self.judge(store, plan, &data, &paths, code, &output)
                    .map_or(KillOutcome::RodeThrough, |why| KillOutcome::Failed { why })
            } else if code == NETWORK_FAILURE {
                let Ended {
                    code,
                    stderr: output,
                    ..
                } = start(store)?.wait(RUN_LIMIT)?;
                self.judge(store, plan, &data, &paths, code, &output)
                    .map_or(KillOutcome::RerunAfterCrash, |why| KillOutcome::Failed {
                        why,
                    })
            } else {
                KillOutcome::Failed {
                    why: format!("exit {code} when the server crashed: {output}"),
                }
            }
        } else {
            first.child.kill().context("SIGKILL s3mt")?;
            first.wait(RUN_LIMIT)?;
            // Requests already on their way are recorded before the rerun's are counted.
            std::thread::sleep(Duration::from_millis(200));
            let mark = proxy.requests().len();
            let Ended {
                code,
                stderr: output,
                ..
            } = start(store)?.wait(RUN_LIMIT)?;
            let moved = moved(plan, &proxy.requests()[mark..], store.bucket());
            match self.judge(store, plan, &data, &paths, code, &output) {
                Some(why) => KillOutcome::Failed { why },
                None if plan.kind == KillKind::UploadStream => KillOutcome::Restarted,
                None if moved >= plan.total() => KillOutcome::Failed {
                    why: format!(
                        "the rerun moved {moved} bytes of {}: nothing was resumed",
                        plan.total()
                    ),
                },
                None => KillOutcome::Resumed {
                    moved,
                    total: plan.total(),
                },
            }
        };
        for (name, _) in &plan.files {
            store.delete(&format!("{prefix}/{name}"));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(outcome)
    }

    /// Writes the source files (and for a download, stores them as objects); their bytes.
    fn prepare(
        &self,
        store: &Store,
        plan: &KillPlan,
        source: &Path,
        prefix: &str,
    ) -> Result<Vec<Vec<u8>>> {
        let mut data = Vec::new();
        for (index, (name, size)) in plan.files.iter().enumerate() {
            let path = placed(source, name, plan.kind.is_tree());
            std::fs::create_dir_all(path.parent().context("a parent")?)?;
            let bytes = random_bytes(usize::try_from(*size)?, plan.seed + index as u64);
            std::fs::write(&path, &bytes)?;
            if !plan.kind.uploads() {
                store.put(&path, &format!("{prefix}/{name}"))?;
            }
            data.push(bytes);
        }
        Ok(data)
    }

    /// The command, the same for the killed run and the rerun.
    fn command(
        &self,
        store: &Store,
        plan: &KillPlan,
        proxy: &FaultProxy,
        paths: &Paths<'_>,
    ) -> Command {
        let remote = format!("s3://{}/{}", store.bucket(), paths.prefix);
        let (source, destination) = (paths.source, paths.destination);
        let mut command = store.s3mt();
        command
            .env("XDG_STATE_HOME", paths.state)
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
            .args(["--progress", "none"])
            .args(["--concurrency", &CONCURRENCY.to_string()])
            .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
            .args(["--max-bandwidth", &format!("{}MiB/s", plan.cap_mib())])
            // Enough retries (with the default backoff) to outlast a server's restart.
            .args(["--max-attempts", "10", "--io-timeout", "2"]);
        command
    }

    /// Why the last run did not end byte-identical with nothing left, if it did not.
    fn judge(
        &self,
        store: &Store,
        plan: &KillPlan,
        data: &[Vec<u8>],
        paths: &Paths<'_>,
        code: i32,
        output: &str,
    ) -> Option<String> {
        if code != 0 {
            return Some(format!("the last run exited {code}: {output}"));
        }
        if output.contains(store.server.secret_key()) {
            return Some("the secret key is in the output".to_owned());
        }
        for ((name, _), bytes) in plan.files.iter().zip(data) {
            let got = if plan.kind.uploads() {
                store.stored(&format!("{}/{name}", paths.prefix))
            } else {
                std::fs::read(placed(paths.destination, name, plan.kind.is_tree())).ok()
            };
            if got.as_deref() != Some(bytes.as_slice()) {
                return Some(format!("{name} is not byte-identical"));
            }
        }
        match store.open_uploads(paths.prefix) {
            Ok(open) if open.is_empty() => {}
            Ok(open) => return Some(format!("{} multipart upload(s) left open", open.len())),
            Err(err) => return Some(format!("cannot list the open uploads: {err}")),
        }
        let left = files_under(paths.state)
            .into_iter()
            .chain(
                files_under(paths.destination.parent()?)
                    .into_iter()
                    .filter(|name| name.contains("s3mt-partial")),
            )
            .collect::<Vec<_>>();
        if !left.is_empty() {
            return Some(format!("left behind: {left:?}"));
        }
        if !plan.kind.uploads() && plan.kind.is_tree() {
            let expected = plan.files.len();
            let found = files_under(paths.destination).len();
            if found != expected {
                return Some(format!("{found} files at the destination, not {expected}"));
            }
        }
        None
    }
}

/// Where a kill run's files and objects are.
struct Paths<'a> {
    source: &'a Path,
    destination: &'a Path,
    state: &'a Path,
    prefix: &'a str,
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

/// The parts and ranges the journals in `state` record (a line each after the header).
fn journaled_parts(state: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(state.join("s3mt")) else {
        return 0;
    };
    entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .map(|journal| journal.lines().count().saturating_sub(1))
        .sum()
}

/// The length of `bytes=A-B`.
fn range_length(range: &str) -> u64 {
    let bounds = range.trim_start_matches("bytes=").split_once('-');
    match bounds.map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>())) {
        Some((Ok(first), Ok(last))) if last >= first => last - first + 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_plans_take_turns_and_land_part_way() {
        let kinds: Vec<KillKind> = (10..15)
            .map(|n| KillPlan::new(n, Victim::Client, MIB).kind)
            .collect();
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
            let plan = KillPlan::new(7 + index, Victim::Server, 160 * MIB);
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
