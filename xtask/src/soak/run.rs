//! One soak run: the transfer through a fresh fault proxy holding the run's faults, then the
//! verdict: byte-identical, failed cleanly, or not (and why).

use std::fmt;
use std::io::{Read, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use s3mt_tests::fixture::{TestBucket, s3mt_binary_for, write_random_file};
use s3mt_tests::proxy::FaultProxy;
use sha2::{Digest as _, Sha256};

use super::plan::{Kind, Plan};

/// Exit codes a transfer may end with under faults, and still have failed cleanly: the source
/// changed (a fault can make an object look replaced), the network or server outlasted the
/// retries, or the bytes did not match their checksum.
const CLEAN_CODES: [i32; 3] = [6, 7, 8];
/// Longest a run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Identical,
    FailedCleanly { code: i32 },
    Unclean { why: String, leftover: bool },
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
            Self::FailedCleanly { code } => write!(f, "failed cleanly, exit {code}"),
            Self::Unclean { why, .. } => write!(f, "UNCLEAN: {why}"),
        }
    }
}

/// Runs plans against one bucket.
pub struct Runner<'a> {
    bucket: &'a TestBucket,
    /// The `s3mt` soaked.
    binary: std::path::PathBuf,
    scratch: tempfile::TempDir,
}

impl<'a> Runner<'a> {
    /// Runs with the `s3mt` at `binary`.
    pub fn new(bucket: &'a TestBucket, binary: std::path::PathBuf) -> Result<Self> {
        Ok(Self {
            bucket,
            binary,
            scratch: tempfile::tempdir().context("a scratch directory")?,
        })
    }

    /// Runs `plan` and judges it.
    pub fn run(&self, plan: &Plan) -> Result<Outcome> {
        let dir = self.scratch.path().join(plan.seed.to_string());
        std::fs::create_dir_all(&dir)?;
        let source = dir.join("source");
        let data = write_random_file(&source, usize::try_from(plan.size)?, plan.seed);
        let key = format!("soak/{}", plan.seed);
        let object = format!("s3://{}/{key}", self.bucket.name());
        if !plan.kind.uploads() {
            // The object to download goes up straight, with no fault.
            let client = self.bucket.client(4);
            client
                .upload_file(&source, &self.bucket.uri(&key))
                .context("seed the object to download")?;
        }
        let proxy = FaultProxy::start(self.bucket.server().endpoint())?;
        for fault in &plan.faults {
            proxy.add(fault.rule());
        }
        let destination = dir.join("destination");
        let mut command = s3mt_binary_for(&self.binary, self.bucket.server());
        command.args(["--endpoint-url", &proxy.endpoint(), "cp"]);
        let (code, stdout, stderr) = match plan.kind {
            Kind::UploadFile => self.finish(command.arg(&source).arg(&object), None)?,
            Kind::DownloadFile => self.finish(command.arg(&object).arg(&destination), None)?,
            Kind::UploadStream => self.finish(command.arg("-").arg(&object), Some(&data))?,
            Kind::DownloadStream => self.finish(command.arg(&object).arg("-"), None)?,
        };
        let outcome = self.judge(plan, &data, &key, &destination, code, &stdout, &stderr);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = self.bucket.client(1).delete_object(&self.bucket.uri(&key));
        Ok(outcome)
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
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("start s3mt")?;
        if let Some(input) = input {
            let mut stdin = child.stdin.take().context("stdin")?;
            let input = input.to_vec();
            // Written from a thread: s3mt may stop reading (a failure) while we write.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        // Both pipes drained as the child writes: a stream download prints megabytes.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        let code = match status {
            Some(status) => status.code().unwrap_or(-1),
            None => -2,
        };
        Ok((code, stdout, stderr))
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        plan: &Plan,
        data: &[u8],
        key: &str,
        destination: &Path,
        code: i32,
        stdout: &[u8],
        stderr: &str,
    ) -> Outcome {
        let secret = self.bucket.server().secret_key();
        let printed = match plan.kind {
            Kind::DownloadStream => stderr.to_owned(),
            _ => format!("{}{stderr}", String::from_utf8_lossy(stdout)),
        };
        if printed.contains(secret) {
            return unclean("the secret key is in the output", false);
        }
        let open = self
            .bucket
            .open_uploads()
            .into_iter()
            .filter(|upload| upload.key == key)
            .count();
        if plan.kind.uploads() && open > 0 {
            return unclean(
                &format!("{open} multipart upload(s) left open: {stderr}"),
                true,
            );
        }
        let stray = std::fs::read_dir(destination.parent().unwrap_or(destination))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| name != "source" && name != "destination")
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if !stray.is_empty() {
            return unclean(
                &format!("files left beside the destination: {stray:?}"),
                true,
            );
        }
        let got = match plan.kind {
            Kind::UploadFile | Kind::UploadStream => self.stored(key),
            Kind::DownloadFile => std::fs::read(destination).ok(),
            Kind::DownloadStream => Some(stdout.to_vec()),
        };
        if code == 0 {
            return match got {
                Some(got) if digest(&got) == digest(data) => Outcome::Identical,
                Some(got) => unclean(
                    &format!(
                        "exit 0, but {} bytes differ from the {} sent",
                        got.len(),
                        data.len()
                    ),
                    false,
                ),
                None => unclean("exit 0, but nothing at the destination", false),
            };
        }
        if !CLEAN_CODES.contains(&code) {
            return unclean(&format!("exit {code}: {stderr}"), false);
        }
        // A failure leaves no file, and no object but the whole one.
        match (plan.kind, got) {
            (Kind::DownloadFile, Some(_)) => unclean(
                &format!("exit {code}, and a destination file: {stderr}"),
                true,
            ),
            (Kind::UploadFile | Kind::UploadStream, Some(got)) if digest(&got) != digest(data) => {
                unclean(&format!("exit {code}, and a wrong object: {stderr}"), true)
            }
            _ => Outcome::FailedCleanly { code },
        }
    }

    /// The object's bytes as stored, read with a clean client; `None` when there is none.
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

fn unclean(why: &str, leftover: bool) -> Outcome {
    Outcome::Unclean {
        why: why.to_owned(),
        leftover,
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
