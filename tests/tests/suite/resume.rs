//! Interrupted transfers resumed by running the same command again: `s3mt` killed (SIGKILL)
//! at points chosen from its own progress output, or stopped with Ctrl-C; the source or the
//! object changed in between.
//!
//! A proxy delays every part and range a little, so that a 256 MiB transfer lasts long enough
//! to be stopped at ten points; it also records which parts each run sent.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use s3mt_tests::fixture::{TestBucket, finish, random_bytes, run, state_home, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};

use crate::{MIB, assert_same_bytes};

/// What is transferred and interrupted.
const SIZE: usize = 256 * MIB;
/// The part (and range) size: 52 parts.
const PART: u64 = 5 * MIB as u64;
/// How long the proxy holds each part or range: 52 of them, two at a time, take over 1 s.
const DELAY: Duration = Duration::from_millis(40);
/// Longest a single run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `s3mt cp SOURCE DESTINATION` through `proxy`, with 5 MiB parts, two in flight, and a
/// progress line every 20 ms.
fn cp(bucket: &TestBucket, proxy: &FaultProxy, source: &str, destination: &str) -> Command {
    let mut command = bucket.s3mt();
    command
        .args([
            "--endpoint-url",
            &proxy.endpoint(),
            "cp",
            source,
            destination,
        ])
        .args([
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
            "--concurrency",
            "2",
        ])
        .args(["--progress", "lines", "--progress-interval", "0.02"]);
    command
}

/// A proxy that delays every request matching `slow` by [`DELAY`].
fn slow_proxy(bucket: &TestBucket, slow: Match) -> FaultProxy {
    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    proxy.add(Rule::new(slow, usize::MAX, Fault::Delay { for_: DELAY }));
    proxy
}

/// Ten kill points, in percent of the transfer: ascending, at least 4 points apart, from a
/// fixed seed (so a failure can be replayed).
fn kill_points(seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    let mut points = Vec::new();
    while points.len() < 10 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let point = 3.0 + (state % 870) as f64 / 10.0;
        if points.iter().all(|p: &f64| (p - point).abs() >= 4.0) {
            points.push(point);
        }
    }
    points.sort_by(f64::total_cmp);
    points
}

/// The percentage in a progress line (`s3mt: 12.0 MiB / 256.0 MiB (4.7%), ...`).
fn percent(line: &str) -> Option<f64> {
    let start = line.find(" (")? + 2;
    let end = start + line[start..].find("%)")?;
    line[start..end].parse().ok()
}

/// How a run ended.
#[derive(Debug)]
enum Ended {
    /// Stopped by us once its progress reached the point; what it printed.
    Stopped {
        at: f64,
        stderr: String,
        code: Option<i32>,
    },
    /// Finished by itself first.
    Finished { code: i32, stderr: String },
}

/// Runs `command` and stops it once a progress line shows `point` percent or more: with
/// SIGKILL, or with SIGINT (Ctrl-C) when `ctrl_c`.
fn run_until(command: &mut Command, point: f64, ctrl_c: bool) -> Ended {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s3mt");
    let stderr = child.stderr.take().expect("stderr");
    let mut printed = String::new();
    let mut lines = BufReader::new(stderr).lines();
    let mut stopped_at = None;
    for line in lines.by_ref() {
        let line = line.expect("read progress");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(at) = percent(&line).filter(|at| *at >= point) {
            stopped_at = Some(at);
            if ctrl_c {
                let pid = child.id().to_string();
                let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
                assert!(status.success());
            } else {
                child.kill().expect("SIGKILL s3mt");
            }
            break;
        }
    }
    // The rest of what it printed (after Ctrl-C: its error message).
    for line in lines.map_while(Result::ok) {
        printed.push_str(&line);
        printed.push('\n');
    }
    let (output, _, _) = finish(command, child, RUN_LIMIT);
    match stopped_at {
        Some(at) => Ended::Stopped {
            at,
            stderr: printed,
            code: output.status.code(),
        },
        None => Ended::Finished {
            code: output.status.code().expect("an exit code"),
            stderr: printed,
        },
    }
}

/// The journal (header and finished part numbers) of the transfer of `key` in `bucket`'s
/// state dir, if there is one: `kind` is `upload` or `download`.
fn journal(
    bucket: &TestBucket,
    kind: &str,
    key: &str,
) -> Option<(serde_json::Value, BTreeSet<u64>)> {
    let dir = state_home(bucket.server()).join("s3mt");
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != kind) {
            continue;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let mut lines = text.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next()?).ok()?;
        if header["bucket"] != bucket.name() || header["key"] != key {
            continue;
        }
        // A line cut short by the kill does not parse: its part counts as not finished.
        let done = lines
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|entry| entry["part"].as_u64())
            .collect();
        return Some((header, done));
    }
    None
}

/// The part numbers of the parts (PUT `partNumber`) or ranges (GET `Range`) in `requests`.
fn parts_sent(requests: &[RequestRecord]) -> BTreeSet<u64> {
    requests
        .iter()
        .filter_map(|request| {
            if request.method == "PUT" {
                let number = request
                    .query
                    .split('&')
                    .find_map(|p| p.strip_prefix("partNumber="))?;
                return number.parse().ok();
            }
            let range = request.header("range")?.strip_prefix("bytes=")?;
            let start: u64 = range.split('-').next()?.parse().ok()?;
            Some(start / PART + 1)
        })
        .collect()
}

/// Kills the transfer `command` does at ten points, checking after each rerun that no part the
/// journal had recorded was sent again, then lets it finish. Returns a line per kill for the
/// log: the point, the progress reached, and how many parts were done.
fn kill_and_resume(
    bucket: &TestBucket,
    proxy: &FaultProxy,
    make: impl Fn() -> Command,
    kind: &str,
    key: &str,
    seed: u64,
) -> Vec<String> {
    let mut log = Vec::new();
    let mut finished_before: Option<BTreeSet<u64>> = None;
    let mut points = kill_points(seed).into_iter().map(Some).collect::<Vec<_>>();
    points.push(None);
    for point in points {
        let before = proxy.requests().len();
        let ended = match point {
            Some(point) => run_until(&mut make(), point, false),
            None => {
                let (output, _, stderr) = run(&mut make());
                Ended::Finished {
                    code: output.status.code().expect("an exit code"),
                    stderr,
                }
            }
        };
        let sent = parts_sent(&proxy.requests()[before..]);
        if let Some(finished) = &finished_before {
            let again: Vec<_> = finished.intersection(&sent).collect();
            assert!(
                again.is_empty(),
                "parts finished before the kill were sent again: {again:?}"
            );
        }
        let stderr = match &ended {
            Ended::Stopped { stderr, .. } | Ended::Finished { stderr, .. } => stderr,
        };
        if finished_before
            .as_ref()
            .is_some_and(|finished| !finished.is_empty())
        {
            assert!(stderr.contains("resuming the interrupted"), "{stderr}");
        }
        match ended {
            Ended::Stopped { at, .. } => {
                let (_, done) = journal(bucket, kind, key).expect("a journal after the kill");
                log.push(format!(
                    "killed at {at:.1}% (point {:.1}%): {} of 52 parts done",
                    point.unwrap_or_default(),
                    done.len()
                ));
                finished_before = Some(done);
            }
            Ended::Finished { code, stderr } => {
                assert_eq!(code, 0, "{stderr}");
                assert!(
                    point.is_none(),
                    "finished before the kill point {point:?}: {stderr}"
                );
                assert!(
                    journal(bucket, kind, key).is_none(),
                    "the journal is removed"
                );
            }
        }
    }
    log
}

#[test]
fn an_upload_killed_at_ten_points_resumes_without_sending_finished_parts_again() {
    let bucket = TestBucket::new("resume-upload");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big");
    let data = write_random_file(&source, SIZE, 71);
    let proxy = slow_proxy(&bucket, Match::method("PUT").query("partNumber"));
    let object = format!("s3://{}/big", bucket.name());
    let log = kill_and_resume(
        &bucket,
        &proxy,
        || cp(&bucket, &proxy, source.to_str().unwrap(), &object),
        "upload",
        "big",
        7,
    );
    eprintln!("upload, 256 MiB:\n  {}", log.join("\n  "));
    assert!(bucket.open_uploads().is_empty());
    assert_stored(&bucket, "big", &data, "resumed upload");
}

#[test]
fn a_download_killed_at_ten_points_resumes_without_fetching_finished_ranges_again() {
    let bucket = TestBucket::new("resume-download");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 72);
    bucket
        .client(4)
        .upload_file(&source, &bucket.uri("big"))
        .unwrap();
    let proxy = slow_proxy(&bucket, Match::method("GET").header("range"));
    let destination = dir.path().join("copy");
    let object = format!("s3://{}/big", bucket.name());
    let log = kill_and_resume(
        &bucket,
        &proxy,
        || cp(&bucket, &proxy, &object, destination.to_str().unwrap()),
        "download",
        "big",
        8,
    );
    eprintln!("download, 256 MiB:\n  {}", log.join("\n  "));
    assert_same_bytes(
        &std::fs::read(&destination).unwrap(),
        &data,
        "resumed download",
    );
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(left.len(), 2, "source and copy, no partial file: {left:?}");
}

/// Fails unless the object `key` holds `expected` (downloaded with the library).
#[track_caller]
fn assert_stored(bucket: &TestBucket, key: &str, expected: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    bucket
        .client(4)
        .download_file(&bucket.uri(key), &copy)
        .unwrap();
    assert_same_bytes(&std::fs::read(&copy).unwrap(), expected, what);
}

/// Stops the transfer once at about 40% with SIGKILL.
fn kill_midway(command: &mut Command) {
    let ended = run_until(command, 40.0, false);
    assert!(matches!(ended, Ended::Stopped { .. }), "{ended:?}");
}

#[test]
fn a_source_changed_since_the_interruption_discards_the_old_upload() {
    let bucket = TestBucket::new("resume-source-changed");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("file");
    write_random_file(&source, 64 * MIB, 73);
    let proxy = slow_proxy(&bucket, Match::method("PUT").query("partNumber"));
    let object = format!("s3://{}/file", bucket.name());
    kill_midway(&mut cp(&bucket, &proxy, source.to_str().unwrap(), &object));
    let (header, _) = journal(&bucket, "upload", "file").expect("a journal");
    let old_upload = header["upload_id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(20)); // A later modification time, surely.
    let changed = write_random_file(&source, 64 * MIB, 74);

    let (output, _, stderr) = run(&mut cp(&bucket, &proxy, source.to_str().unwrap(), &object));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the source changed since the interrupted upload"),
        "{stderr}"
    );
    assert!(
        !bucket
            .open_uploads()
            .iter()
            .any(|u| u.upload_id == old_upload),
        "the old upload is aborted"
    );
    assert_stored(&bucket, "file", &changed, "the new source");
}

#[test]
fn an_upload_discarded_since_the_interruption_starts_over() {
    let bucket = TestBucket::new("resume-upload-gone");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("file");
    let data = write_random_file(&source, 64 * MIB, 79);
    let proxy = slow_proxy(&bucket, Match::method("PUT").query("partNumber"));
    let object = format!("s3://{}/file", bucket.name());
    kill_midway(&mut cp(&bucket, &proxy, source.to_str().unwrap(), &object));
    let (header, _) = journal(&bucket, "upload", "file").expect("a journal");
    let upload_id = header["upload_id"].as_str().unwrap();
    let (output, _, stderr) =
        run(bucket
            .s3mt()
            .args(["uploads", "abort", &object, "--upload-id", upload_id]));
    assert!(output.status.success(), "{stderr}");

    let (output, _, stderr) = run(&mut cp(&bucket, &proxy, source.to_str().unwrap(), &object));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the interrupted upload is gone from the server"),
        "{stderr}"
    );
    assert_stored(&bucket, "file", &data, "uploaded afresh");
}

#[test]
fn an_object_changed_since_the_interruption_is_downloaded_afresh() {
    let bucket = TestBucket::new("resume-object-changed");
    let dir = tempfile::tempdir().unwrap();
    bucket.put_foreign_object("obj", &random_bytes(64 * MIB, 75));
    let proxy = slow_proxy(&bucket, Match::method("GET").header("range"));
    let object = format!("s3://{}/obj", bucket.name());
    let destination = dir.path().join("copy");
    kill_midway(&mut cp(
        &bucket,
        &proxy,
        &object,
        destination.to_str().unwrap(),
    ));
    assert!(journal(&bucket, "download", "obj").is_some());
    let replaced = random_bytes(64 * MIB, 76);
    bucket.put_foreign_object("obj", &replaced);

    let (output, _, stderr) = run(&mut cp(
        &bucket,
        &proxy,
        &object,
        destination.to_str().unwrap(),
    ));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the object changed since the interrupted download"),
        "{stderr}"
    );
    assert_same_bytes(
        &std::fs::read(&destination).unwrap(),
        &replaced,
        "the new object",
    );
    assert!(journal(&bucket, "download", "obj").is_none());
}

#[test]
fn ctrl_c_keeps_the_upload_says_how_to_resume_or_discard_and_uploads_ls_marks_it() {
    let bucket = TestBucket::new("resume-ctrl-c");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("file");
    let data = write_random_file(&source, 64 * MIB, 77);
    let proxy = slow_proxy(&bucket, Match::method("PUT").query("partNumber"));
    let object = format!("s3://{}/file", bucket.name());
    let ended = run_until(
        &mut cp(&bucket, &proxy, source.to_str().unwrap(), &object),
        30.0,
        true,
    );
    let Ended::Stopped { stderr, code, .. } = ended else {
        panic!("not stopped: {ended:?}");
    };
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("the upload is kept to resume"), "{stderr}");
    assert!(stderr.contains("s3mt uploads abort"), "{stderr}");
    let open = bucket.open_uploads();
    assert_eq!(open.len(), 1, "kept: {open:?}");
    assert!(stderr.contains(&open[0].upload_id), "{stderr}");

    // Listed through the same endpoint the upload went to.
    let listing = format!("s3://{}", bucket.name());
    let (output, stdout, stderr) = run(bucket.s3mt().args([
        "--endpoint-url",
        &proxy.endpoint(),
        "uploads",
        "ls",
        &listing,
    ]));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("(resumable: run again s3mt cp"), "{stdout}");

    let (output, _, stderr) = run(&mut cp(&bucket, &proxy, source.to_str().unwrap(), &object));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming the interrupted upload"),
        "{stderr}"
    );
    assert!(bucket.open_uploads().is_empty());
    assert_stored(&bucket, "file", &data, "resumed after Ctrl-C");
}

#[test]
fn ctrl_c_keeps_the_partial_download_and_the_existing_destination() {
    let bucket = TestBucket::new("resume-ctrl-c-download");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(64 * MIB, 78);
    bucket.put_foreign_object("obj", &data);
    let proxy = slow_proxy(&bucket, Match::method("GET").header("range"));
    let object = format!("s3://{}/obj", bucket.name());
    let destination = dir.path().join("copy");
    std::fs::write(&destination, b"keep me").unwrap();
    let ended = run_until(
        &mut cp(&bucket, &proxy, &object, destination.to_str().unwrap()),
        30.0,
        true,
    );
    let Ended::Stopped { stderr, code, .. } = ended else {
        panic!("not stopped: {ended:?}");
    };
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("the partial download is kept in"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&destination).unwrap(), b"keep me");
    assert!(
        partial_file(dir.path()).is_some(),
        "the partial file is kept"
    );

    let (output, _, stderr) = run(&mut cp(
        &bucket,
        &proxy,
        &object,
        destination.to_str().unwrap(),
    ));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming the interrupted download"),
        "{stderr}"
    );
    assert_same_bytes(
        &std::fs::read(&destination).unwrap(),
        &data,
        "resumed after Ctrl-C",
    );
    assert!(partial_file(dir.path()).is_none());
}

/// The partial download file in `dir`, if any.
fn partial_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().ends_with(".s3mt-partial"))
}
