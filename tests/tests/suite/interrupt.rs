//! Ctrl-C (SIGINT) to the `s3mt` binary while a transfer is in flight: it stops cleanly, says
//! so, exits 130, and with `--no-resume` leaves nothing behind (no multipart upload, no partial
//! download, an existing destination as it was). What is kept to resume by default, and the
//! run that resumes it, are `resume.rs`'s subject.
//!
//! A fault proxy stalls one request, so the transfer is deterministically in flight when the
//! signal arrives. The cancellation shuts the transfer's sockets down, so a worker blocked
//! reading the stalled reply stops at once, with or without a bandwidth cap (whose connections
//! s3mt opens itself).

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use s3mt_engine::ErrorKind;
use s3mt_tests::fixture::{TestBucket, dir_entries, finish, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};

use crate::{MIB, cp_command};

/// Four parts of 5 MiB (the last one 1 MiB and a few bytes).
const SIZE: usize = 16 * MIB + 3;
/// How long the proxy holds the stalled request.
const STALL: Duration = Duration::from_secs(3);
/// A stall that outlasts the `--io-timeout` of [`IO_TIMEOUT`] seconds.
const LONG_STALL: Duration = Duration::from_secs(20);
const IO_TIMEOUT: &str = "2";
/// Slack for process start-up, the abort request and a loaded machine.
const SLACK: Duration = Duration::from_secs(5);
/// Longest wait for anything: the stalled request to arrive, the process to exit.
const PATIENCE: Duration = Duration::from_secs(30);

/// Sends SIGINT to the process `pid` (one we started), as Ctrl-C in a terminal would.
fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT {pid}: {status}");
}

/// Starts `s3mt cp source destination` (with `args`) through `proxy`, waits until a request
/// matching `stalled` reached the proxy, interrupts it, and waits for it to exit. Returns the
/// exit code, stderr, and how long after SIGINT it exited.
fn interrupt_in_flight(
    bucket: &TestBucket,
    proxy: &FaultProxy,
    stalled: impl Fn(&RequestRecord) -> bool,
    [source, destination]: [&str; 2],
    args: &[&str],
) -> (i32, String, Duration) {
    let mut command = cp_command(bucket, Some(&proxy.endpoint()), [source, destination], args);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start s3mt");
    let deadline = Instant::now() + PATIENCE;
    while !proxy.requests().iter().any(&stalled) {
        if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the stalled request never arrived: {:#?}", proxy.requests());
        }
        thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    interrupt(child.id());
    let (output, _, stderr) = finish(&command, child, PATIENCE);
    let took = signalled.elapsed();
    eprintln!("s3mt cp {source} {destination}: exited {took:.2?} after SIGINT");
    let code = output.status.code().expect("an exit code, not a signal");
    (code, stderr, took)
}

/// The process exited within `bound` (plus [`SLACK`]) of SIGINT.
#[track_caller]
fn assert_exited_within(took: Duration, bound: Duration) {
    assert!(took < bound + SLACK, "exited {took:?} after SIGINT");
}

#[test]
fn ctrl_c_during_an_upload_with_no_resume_aborts_the_multipart_upload_and_exits_130() {
    let bucket = TestBucket::new("interrupt-upload");
    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    let part_two = Match::method("PUT").query("partNumber=2");
    proxy.add(Rule::once(part_two, Fault::Stall { for_: STALL }));
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, SIZE, 41);
    let object = bucket.uri("interrupted");

    let (code, stderr, took) = interrupt_in_flight(
        &bucket,
        &proxy,
        |r| r.method == "PUT" && r.has_query("partNumber=2"),
        [source.to_str().unwrap(), &object.to_string()],
        &["--no-resume"],
    );
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        stderr.contains("the multipart upload was aborted"),
        "{stderr}"
    );
    assert_exited_within(took, STALL);

    // One abort, or more only when an earlier one got no reply or a server error (the server
    // may still be taking in a part the cancellation cut off): both are retried.
    let aborts: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.has_query("uploadId="))
        .collect();
    let (last, retried) = aborts.split_last().expect("an abort was sent");
    assert!(matches!(last.status, Some(204 | 404)), "{aborts:#?}");
    assert!(
        retried
            .iter()
            .all(|r| r.status.is_none_or(|status| status >= 500)),
        "{aborts:#?}"
    );
    assert!(bucket.open_uploads().is_empty(), "no multipart upload left");
    let gone = bucket
        .client(1)
        .download_file(&object, &dir.path().join("never"))
        .unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "no object: {gone}");
    assert_eq!(dir_entries(dir.path()), ["source"]);
}

/// Seeds an object straight on the server, then interrupts its download (`cp` run with `args`)
/// through a proxy that stalls one ranged GET for `stall`. Returns the exit code, stderr, and
/// how long after SIGINT it exited.
fn interrupt_download(
    label: &str,
    destination: &Path,
    stall: Duration,
    args: &[&str],
) -> (i32, String, Duration) {
    let bucket = TestBucket::new(label);
    let source_dir = tempfile::tempdir().unwrap();
    let source = source_dir.path().join("source");
    write_random_file(&source, SIZE, 42);
    let object = bucket.uri("object");
    bucket.client(4).upload_file(&source, &object).unwrap();

    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    let ranged_get = Match::method("GET").header("range");
    proxy.add(Rule::once(ranged_get, Fault::Stall { for_: stall }));
    interrupt_in_flight(
        &bucket,
        &proxy,
        |r| r.method == "GET" && r.fault.is_some(),
        [&object.to_string(), destination.to_str().unwrap()],
        args,
    )
}

#[test]
fn ctrl_c_during_a_download_with_no_resume_leaves_no_file_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("copy");
    let (code, stderr, took) =
        interrupt_download("interrupt-download", &destination, STALL, &["--no-resume"]);
    assert_eq!(code, 130, "{stderr}");
    assert_exited_within(took, STALL);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        stderr.contains("the destination was not touched"),
        "{stderr}"
    );
    assert!(
        dir_entries(dir.path()).is_empty(),
        "no destination and no temporary file: {:?}",
        dir_entries(dir.path())
    );
}

/// Also: a read blocked on a silent server ends at `--io-timeout`, long before the stall would.
#[test]
fn ctrl_c_during_a_download_keeps_the_existing_destination() {
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("copy");
    std::fs::write(&destination, b"keep me").unwrap();
    let (code, stderr, took) = interrupt_download(
        "interrupt-download-existing",
        &destination,
        LONG_STALL,
        &["--io-timeout", IO_TIMEOUT, "--no-resume"],
    );
    assert_eq!(code, 130, "{stderr}");
    let io_timeout = Duration::from_secs(IO_TIMEOUT.parse().unwrap());
    assert_exited_within(took, io_timeout);
    assert!(took < LONG_STALL, "exited {took:?} after SIGINT");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        stderr.contains("the destination was not touched"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&destination).unwrap(), b"keep me");
    assert_eq!(dir_entries(dir.path()), ["copy"], "no temporary file");
}

/// Under `--max-bandwidth` s3mt opens its sockets itself (to bound their receive buffers):
/// they too are shut down by a cancellation, so a read blocked on a silent server ends at once,
/// not when the stall or the `--io-timeout` would end it.
#[test]
fn ctrl_c_during_a_capped_download_ends_a_blocked_read_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("copy");
    let (code, stderr, took) = interrupt_download(
        "interrupt-capped-download",
        &destination,
        LONG_STALL,
        &[
            "--max-bandwidth",
            "100MB/s",
            "--io-timeout",
            "60",
            "--no-resume",
        ],
    );
    assert_eq!(code, 130, "{stderr}");
    assert_exited_within(took, Duration::ZERO);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        dir_entries(dir.path()).is_empty(),
        "no destination and no temporary file: {:?}",
        dir_entries(dir.path())
    );
}
