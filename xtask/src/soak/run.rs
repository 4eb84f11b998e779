//! One soak run: the transfer through a fresh fault proxy holding the run's faults, then the
//! verdict: byte-identical, failed cleanly, or not (and why).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result};
use s3mt_tests::fixture::write_random_file;
use s3mt_tests::proxy::FaultProxy;
use sha2::{Digest as _, Sha256};

use super::child;
use super::plan::{Kind, Plan};
use super::store::Store;

/// Exit codes a transfer may end with under faults, and still have failed cleanly: the source
/// changed (a fault can make an object look replaced), the network or server outlasted the
/// retries, or the bytes did not match their checksum.
const CLEAN_CODES: [i32; 3] = [6, 7, 8];
/// A tree that ran to its end with some files failed (each left whole or absent).
const TREE_PARTLY_FAILED: i32 = 10;
/// Longest a run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Identical,
    /// Failed with a documented exit code and nothing left, but for `named_uploads`
    /// multipart uploads the error names, with how to find them (the server was down when
    /// they could have been aborted).
    FailedCleanly {
        code: i32,
        named_uploads: usize,
    },
    Unclean {
        why: String,
        leftover: bool,
    },
}

impl Outcome {
    pub fn is_clean(&self) -> bool {
        !matches!(self, Self::Unclean { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identical => f.write_str("byte-identical"),
            Self::FailedCleanly {
                code,
                named_uploads: 0,
            } => write!(f, "failed cleanly, exit {code}"),
            Self::FailedCleanly {
                code,
                named_uploads,
            } => write!(
                f,
                "failed cleanly, exit {code}, {named_uploads} upload(s) left open and named"
            ),
            Self::Unclean { why, .. } => write!(f, "UNCLEAN: {why}"),
        }
    }
}

/// Runs plans against the soak's store.
pub struct Runner {
    scratch: tempfile::TempDir,
}

impl Runner {
    pub fn new() -> Result<Self> {
        Ok(Self {
            scratch: tempfile::tempdir().context("a scratch directory")?,
        })
    }

    /// Runs `plan` and judges it.
    pub fn run(&self, store: &Store, plan: &Plan) -> Result<Outcome> {
        let dir = self.scratch.path().join(plan.seed.to_string());
        std::fs::create_dir_all(&dir)?;
        let source = dir.join("source");
        let prefix = format!("soak/{}", plan.seed);
        let files = plan.files();
        let mut data = Vec::new();
        for (index, (name, size)) in files.iter().enumerate() {
            let path = self.local(plan, &source, name);
            std::fs::create_dir_all(path.parent().context("a parent")?)?;
            data.push(write_random_file(
                &path,
                usize::try_from(*size)?,
                plan.seed + index as u64,
            ));
            if !plan.kind.uploads() {
                // The objects to download go up straight, with no fault.
                store.put(&path, &self.key(plan, &prefix, name))?;
            }
        }
        let object = format!(
            "s3://{}/{}",
            store.bucket(),
            self.key(plan, &prefix, "main")
        );
        let tree = format!("s3://{}/{prefix}/", store.bucket());
        let proxy = FaultProxy::start(store.server.endpoint())?;
        for fault in &plan.faults {
            proxy.add(fault.rule());
        }
        let destination = dir.join("destination");
        let mut command = store.s3mt();
        command.args(["--endpoint-url", &proxy.endpoint(), "cp"]);
        let (code, stdout, stderr) = std::thread::scope(|scope| {
            if let Some(refusal) = plan.refusal {
                let proxy = &proxy;
                scope.spawn(move || {
                    std::thread::sleep(refusal.after);
                    proxy.refuse_connections_for(refusal.lasting);
                });
            }
            match plan.kind {
                Kind::UploadFile => self.finish(command.arg(&source).arg(&object), None),
                Kind::DownloadFile => self.finish(command.arg(&object).arg(&destination), None),
                Kind::UploadStream => {
                    self.finish(command.arg("-").arg(&object), Some(data[0].as_slice()))
                }
                Kind::DownloadStream => self.finish(command.arg(&object).arg("-"), None),
                Kind::UploadTree => self.finish(command.arg("-r").arg(&source).arg(&tree), None),
                Kind::DownloadTree => {
                    self.finish(command.arg("-r").arg(&tree).arg(&destination), None)
                }
            }
        })?;
        let printed = Printed {
            code,
            stdout: &stdout,
            stderr: &stderr,
        };
        let outcome = self.judge(store, plan, &data, &prefix, &destination, &printed);
        let _ = std::fs::remove_dir_all(&dir);
        for (name, _) in &files {
            store.delete(&self.key(plan, &prefix, name));
        }
        store.abort_open(&prefix);
        Ok(outcome)
    }

    /// The key of file `name` of the plan: under the prefix for a tree, the prefix itself
    /// for one object.
    fn key(&self, plan: &Plan, prefix: &str, name: &str) -> String {
        if plan.kind.is_tree() {
            format!("{prefix}/{name}")
        } else {
            prefix.to_owned()
        }
    }

    /// Where file `name` of the plan lives under `root` (`root` itself for one file).
    fn local(&self, plan: &Plan, root: &Path, name: &str) -> PathBuf {
        placed(root, name, plan.kind.is_tree())
    }

    /// Runs `command` with the soak's settings (no resume: a failure must leave nothing),
    /// `input` on its standard input; its exit code (-1 for a signal, -2 when it hung and was
    /// killed) and output.
    fn finish(
        &self,
        command: &mut Command,
        input: Option<&[u8]>,
    ) -> Result<(i32, Vec<u8>, String)> {
        command
            .args(["--no-resume", "--progress", "none"])
            .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
            .args([
                "--concurrency",
                "4",
                "--max-attempts",
                "4",
                "--io-timeout",
                "1",
            ])
            .stdin(Stdio::null());
        let ended = child::spawn(command, input)?.wait(RUN_LIMIT)?;
        Ok((ended.code, ended.stdout, ended.stderr))
    }

    fn judge(
        &self,
        store: &Store,
        plan: &Plan,
        data: &[Vec<u8>],
        prefix: &str,
        destination: &Path,
        printed: &Printed<'_>,
    ) -> Outcome {
        let Printed {
            code,
            stdout,
            stderr,
        } = *printed;
        let secret = store.server.secret_key();
        let shown = match plan.kind {
            Kind::DownloadStream => stderr.to_owned(),
            _ => format!("{}{stderr}", String::from_utf8_lossy(stdout)),
        };
        if shown.contains(secret) {
            return unclean("the secret key is in the output", false);
        }
        let open = match store.open_uploads(prefix) {
            Ok(open) => open.len(),
            Err(err) => return unclean(&format!("cannot list the open uploads: {err}"), false),
        };
        // Uploads the server may hold but s3mt could not abort are left only when said.
        let named = code != 0
            && (stderr.contains("`s3mt uploads ls s3://")
                || stderr.contains("`s3mt uploads abort s3://"));
        if plan.kind.uploads() && open > 0 && !named {
            return unclean(
                &format!("{open} multipart upload(s) left open: {stderr}"),
                true,
            );
        }
        let files = plan.files();
        let expected: Vec<String> = if plan.kind == Kind::DownloadTree {
            files
                .iter()
                .map(|(name, _)| format!("destination/{name}"))
                .collect()
        } else {
            vec!["destination".to_owned()]
        };
        let stray: Vec<String> = files_under(destination.parent().unwrap_or(destination))
            .into_iter()
            .filter(|name| !name.starts_with("source") && !expected.contains(name))
            .collect();
        if !stray.is_empty() {
            return unclean(&format!("files left at the destination: {stray:?}"), true);
        }
        let tree_failed = plan.kind.is_tree() && code == TREE_PARTLY_FAILED;
        if code != 0 && !CLEAN_CODES.contains(&code) && !tree_failed {
            return unclean(&format!("exit {code}: {stderr}"), false);
        }
        for ((name, _), sent) in files.iter().zip(data) {
            let got = match plan.kind {
                Kind::UploadFile | Kind::UploadStream | Kind::UploadTree => {
                    store.stored(&self.key(plan, prefix, name))
                }
                Kind::DownloadFile | Kind::DownloadTree => {
                    std::fs::read(self.local(plan, destination, name)).ok()
                }
                // What went out before a failure cannot be taken back: only a success counts.
                Kind::DownloadStream => (code == 0).then(|| stdout.to_vec()),
            };
            match got {
                // A failure leaves each file whole or absent; a success leaves them all whole.
                Some(got) if digest(&got) != digest(sent) => {
                    return unclean(
                        &format!(
                            "exit {code}, and {name} holds {} bytes that differ from the {} sent: {stderr}",
                            got.len(),
                            sent.len()
                        ),
                        code != 0,
                    );
                }
                None if code == 0 => {
                    return unclean(&format!("exit 0, but no {name} at the destination"), false);
                }
                _ => {}
            }
        }
        if code == 0 {
            Outcome::Identical
        } else {
            Outcome::FailedCleanly {
                code,
                named_uploads: if plan.kind.uploads() { open } else { 0 },
            }
        }
    }
}

/// How a run's command ended.
#[derive(Clone, Copy)]
struct Printed<'a> {
    code: i32,
    stdout: &'a [u8],
    stderr: &'a str,
}

/// Where file `name` of a transfer lives under `root`: `root` itself unless it is a tree's.
pub fn placed(root: &Path, name: &str, tree: bool) -> PathBuf {
    if tree {
        root.join(name)
    } else {
        root.to_path_buf()
    }
}

/// Every file under `root`, by path relative to it (none when it does not exist).
pub fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(|entry| entry.ok()) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found
}

fn unclean(why: &str, leftover: bool) -> Outcome {
    Outcome::Unclean {
        why: why.to_owned(),
        leftover,
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
