//! `cargo xtask bench --tree`: trees of many files, s3mt and the peers that move trees
//! (s5cmd, rclone, aws-cli) at their defaults and at s3mt's concurrency, in one interleaved
//! run: files per second, MB/s, client CPU and peak memory. Every upload is checked by a
//! listing (the count and the bytes), every download byte for byte; a sync of an unchanged
//! tree must send nothing (each tool syncs the prefix it uploaded itself).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use s3mt_engine::size::format_size;
use s3mt_engine::{ObjectInfo, S3Uri};
use serde::Serialize;
use sha2::Digest as _;

use super::measure::{self, Sample};
use super::peers::{Direction, Peer, Target, TreeOp};
use super::report::spread;

/// A tree to move: how many files of which size.
#[derive(Debug, Clone)]
struct Scenario {
    name: String,
    files: Vec<(usize, u64)>,
    /// Upload then download with `cp --recursive`; or a sync of a new tree, then of the same
    /// tree unchanged.
    sync: bool,
}

/// The trees `--tree` runs, their file counts multiplied by `scale`.
fn scenarios(scale: f64) -> Vec<Scenario> {
    let count = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let tree = |files: Vec<(usize, u64)>, sync: bool| {
        let files: Vec<(usize, u64)> = files
            .into_iter()
            .map(|(n, size)| (count(n), size))
            .collect();
        let name = files
            .iter()
            .map(|(n, size)| format!("{n} x {}", format_size(*size)))
            .collect::<Vec<_>>()
            .join(" + ");
        Scenario { name, files, sync }
    };
    vec![
        tree(vec![(10_000, 64 << 10)], false),
        tree(vec![(1_000, 1 << 20)], false),
        tree(vec![(2, 1 << 30), (2_000, 64 << 10)], false),
        tree(vec![(100_000, 1 << 10)], true),
    ]
}

/// A tool in the tree runs.
#[derive(Debug, Clone, Copy)]
pub enum TreeContender {
    S3mt,
    /// A peer, with the transfers in flight it is given (`None`: its defaults).
    Peer(Peer, Option<usize>),
}

impl TreeContender {
    fn name(self) -> String {
        match self {
            Self::S3mt => "s3mt".to_owned(),
            Self::Peer(peer, Some(concurrency)) => format!("{} (-c {concurrency})", peer.name()),
            Self::Peer(peer, None) => format!("{} (defaults)", peer.name()),
        }
    }
}

/// One row of the tree table: a tool, a tree, what was run, every measured run.
#[derive(Debug, Clone, Serialize)]
pub struct TreeRow {
    tool: String,
    tree: String,
    run: &'static str,
    files: usize,
    bytes: u64,
    runs: Vec<TreeFigures>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct TreeFigures {
    seconds: f64,
    files_per_s: f64,
    mb_per_s: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
    server_cpu_seconds: f64,
}

impl TreeFigures {
    fn new(sample: &Sample, files: usize, bytes: u64) -> Self {
        let seconds = sample.wall.as_secs_f64().max(1e-9);
        Self {
            seconds,
            files_per_s: files as f64 / seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
            cpu_seconds: sample.cpu_seconds,
            peak_rss_mib: sample.peak_rss_kib as f64 / 1024.0,
            server_cpu_seconds: sample.server_cpu_seconds,
        }
    }
}

/// What every tree run shares.
pub struct TreeBench<'a> {
    pub s3mt: &'a Path,
    pub target: &'a Target,
    pub concurrency: usize,
    pub server_pid: Option<u32>,
    pub master_url: Option<String>,
    pub out_dir: &'a Path,
    pub runs: usize,
    pub scale: f64,
}

impl TreeBench<'_> {
    /// Runs every scenario with every contender, interleaved per round after a warm-up;
    /// the rows of the table.
    pub fn run(&self, contenders: &[TreeContender]) -> Result<Vec<TreeRow>> {
        let mut rows = Vec::new();
        for scenario in scenarios(self.scale) {
            let source = self.tree_data(&scenario)?;
            let files: usize = scenario.files.iter().map(|(n, _)| n).sum();
            let bytes: u64 = scenario
                .files
                .iter()
                .map(|(n, size)| *n as u64 * size)
                .sum();
            let digest = tree_digest(&source)?;
            let runs: [&'static str; 2] = if scenario.sync {
                ["sync, all new (upload)", "sync, unchanged (upload)"]
            } else {
                ["cp --recursive, upload", "cp --recursive, download"]
            };
            let mut samples = vec![(Vec::new(), Vec::new()); contenders.len()];
            for round in 0..=self.runs {
                for (index, contender) in contenders.iter().enumerate() {
                    eprintln!(
                        "tree {}: {} {}",
                        scenario.name,
                        contender.name(),
                        if round == 0 { "(warm-up)" } else { "" }
                    );
                    let prefix = format!("tree/{index}/");
                    let (first, second) = if scenario.sync {
                        self.sync_twice(*contender, &source, &prefix, files, bytes)?
                    } else {
                        self.round_trip(*contender, &source, &prefix, &digest, files, bytes)?
                    };
                    self.reclaim(&prefix)?;
                    if round > 0 {
                        samples[index].0.push(first);
                        samples[index].1.push(second);
                    }
                }
            }
            for (contender, (first, second)) in contenders.iter().zip(samples) {
                for (run, samples) in runs.into_iter().zip([first, second]) {
                    let moved = if run.contains("unchanged") { 0 } else { bytes };
                    rows.push(TreeRow {
                        tool: contender.name(),
                        tree: scenario.name.clone(),
                        run,
                        files,
                        bytes: moved,
                        runs: samples
                            .iter()
                            .map(|sample| TreeFigures::new(sample, files, moved))
                            .collect(),
                    });
                }
            }
        }
        Ok(rows)
    }

    /// `cp --recursive` of the tree up, checked by a listing, and down, checked byte for byte.
    fn round_trip(
        &self,
        contender: TreeContender,
        source: &Path,
        prefix: &str,
        digest: &str,
        files: usize,
        bytes: u64,
    ) -> Result<(Sample, Sample)> {
        let copy = self.scratch().join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        let up = self.measure(contender, TreeOp::Copy, Direction::Upload, source, prefix)?;
        self.check_listing(contender, prefix, files, bytes)?;
        let down = self.measure(contender, TreeOp::Copy, Direction::Download, &copy, prefix)?;
        ensure!(
            tree_digest(&copy)? == digest,
            "{}: the downloaded tree differs from the source",
            contender.name()
        );
        std::fs::remove_dir_all(&copy)?;
        Ok((up, down))
    }

    /// A sync of the tree to an empty prefix, then the same sync again, which must send
    /// nothing: the listing is the same before and after.
    fn sync_twice(
        &self,
        contender: TreeContender,
        source: &Path,
        prefix: &str,
        files: usize,
        bytes: u64,
    ) -> Result<(Sample, Sample)> {
        let new = self.measure(contender, TreeOp::Sync, Direction::Upload, source, prefix)?;
        let before = self.check_listing(contender, prefix, files, bytes)?;
        let unchanged = self.measure(contender, TreeOp::Sync, Direction::Upload, source, prefix)?;
        let after = self.check_listing(contender, prefix, files, bytes)?;
        ensure!(
            before == after,
            "{}: a sync of an unchanged tree rewrote objects",
            contender.name()
        );
        Ok((new, unchanged))
    }

    fn measure(
        &self,
        contender: TreeContender,
        op: TreeOp,
        direction: Direction,
        local: &Path,
        prefix: &str,
    ) -> Result<Sample> {
        let target = Target {
            key: prefix.to_owned(),
            ..self.target.clone()
        };
        let mut command = match contender {
            TreeContender::S3mt => self.s3mt_command(op, direction, &target, local),
            TreeContender::Peer(peer, concurrency) => {
                peer.tree_command(op, direction, &target, local, concurrency, &self.scratch())?
            }
        };
        measure::run(&mut command, self.server_pid)
    }

    fn s3mt_command(
        &self,
        op: TreeOp,
        direction: Direction,
        target: &Target,
        local: &Path,
    ) -> Command {
        let prefix = format!("s3://{}/{}", target.bucket, target.key);
        let local = local.to_string_lossy().into_owned();
        let (source, destination) = match direction {
            Direction::Upload => (local, prefix),
            Direction::Download => (prefix, local),
        };
        let mut command = super::s3mt_base(self.s3mt, target, &self.scratch());
        match op {
            TreeOp::Copy => command.args(["cp", "--recursive"]),
            TreeOp::Sync => command.arg("sync"),
        };
        command
            .args([&source, &destination])
            .args(["--concurrency", &self.concurrency.to_string()])
            .args(["--progress", "none"]);
        command
    }

    /// Requires `files` objects of `bytes` in all under the prefix; returns them.
    fn check_listing(
        &self,
        contender: TreeContender,
        prefix: &str,
        files: usize,
        bytes: u64,
    ) -> Result<Vec<ObjectInfo>> {
        let objects = super::client_for(self.target)?.list_objects(&self.target.bucket, prefix)?;
        let stored: u64 = objects.iter().map(|object| object.size).sum();
        ensure!(
            objects.len() == files && stored == bytes,
            "{}: {} objects of {stored} bytes under {prefix}, not {files} of {bytes}",
            contender.name(),
            objects.len()
        );
        Ok(objects)
    }

    /// Deletes everything under the prefix (16 at a time) and vacuums a local SeaweedFS.
    fn reclaim(&self, prefix: &str) -> Result<()> {
        let client = super::client_for(self.target)?;
        let keys: Vec<String> = client
            .list_objects(&self.target.bucket, prefix)?
            .into_iter()
            .map(|object| object.key)
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(key) = keys.get(index) else {
                                return Ok(());
                            };
                            let object = S3Uri::new(self.target.bucket.clone(), key.clone())?;
                            client.delete_object(&object)?;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().expect("a delete worker panicked")?;
            }
            Ok(())
        })?;
        super::vacuum(self.master_url.as_deref())
    }

    /// The scenario's tree under `target/bench/trees`, written once (files of pseudo-random
    /// bytes, 100 to a directory, modified an hour ago) and reused.
    fn tree_data(&self, scenario: &Scenario) -> Result<PathBuf> {
        let name: String = scenario
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let root = self.out_dir.join("trees").join(name);
        let done = root.with_extension("done");
        if done.exists() {
            return Ok(root);
        }
        eprintln!("writing the tree {}", scenario.name);
        let _ = std::fs::remove_dir_all(&root);
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let mut number = 0usize;
        for &(count, size) in &scenario.files {
            for _ in 0..count {
                let dir = root.join(format!("d{:04}", number / 100));
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(format!("f{number:06}.bin"));
                std::fs::write(&path, pseudo_random(size, number as u64))?;
                std::fs::File::options()
                    .write(true)
                    .open(&path)?
                    .set_modified(an_hour_ago)?;
                number += 1;
            }
        }
        std::fs::write(&done, b"")?;
        Ok(root)
    }

    fn scratch(&self) -> PathBuf {
        self.out_dir.join(format!("scratch-{}", std::process::id()))
    }
}

/// `len` bytes that nothing compresses, from `seed`.
fn pseudo_random(len: u64, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut bytes = Vec::with_capacity(len as usize + 8);
    while (bytes.len() as u64) < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len as usize);
    bytes
}

/// SHA-256 over every file under `root`, in path order: each path, its length and its bytes.
fn tree_digest(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = sha2::Sha256::new();
    for path in files {
        let bytes = std::fs::read(&path)?;
        let relative = path.strip_prefix(root)?.to_string_lossy().into_owned();
        hasher.update((relative.len() as u64).to_le_bytes());
        hasher.update(relative.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The tree table, with files/s and wall time against s3mt's row of the same tree and run.
pub fn markdown(rows: &[TreeRow]) -> String {
    let mut out = String::from(
        "| tool | tree | run | files/s | vs s3mt | MB/s | seconds | client CPU s | peak RSS MiB | server CPU s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let figure =
        |row: &TreeRow, pick: fn(&TreeFigures) -> f64| spread(row.runs.iter().map(pick).collect());
    let cell = |(median, min, max): (f64, f64, f64), digits: usize| {
        format!("{median:.digits$} ({min:.digits$}..{max:.digits$})")
    };
    for row in rows {
        let base = rows
            .iter()
            .find(|other| other.tool == "s3mt" && other.tree == row.tree && other.run == row.run);
        let versus = base.map_or_else(
            || "-".to_owned(),
            |base| {
                let ours = figure(row, |run| run.files_per_s).0;
                let theirs = figure(base, |run| run.files_per_s).0;
                format!("{:.2}x", ours / theirs.max(1e-9))
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {versus} | {} | {} | {} | {} | {} |",
            row.tool,
            row.tree,
            row.run,
            cell(figure(row, |run| run.files_per_s), 0),
            cell(figure(row, |run| run.mb_per_s), 1),
            cell(figure(row, |run| run.seconds), 2),
            cell(figure(row, |run| run.cpu_seconds), 2),
            cell(figure(row, |run| run.peak_rss_mib), 1),
            cell(figure(row, |run| run.server_cpu_seconds), 2),
        );
    }
    out
}
