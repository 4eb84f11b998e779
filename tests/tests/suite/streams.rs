//! `s3mt cp - s3://...` and `s3mt cp s3://... -`: standard input and output, through real
//! pipes between processes.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use s3mt_engine::{ErrorKind, TransferOptions};
use s3mt_tests::fixture::{
    TestBucket, assert_no_secrets, finish, random_bytes, run, write_random_file,
};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use crate::{MIB, assert_same_bytes};

/// Longest a single `s3mt` run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `s3mt [--endpoint-url ENDPOINT] cp SRC DST` with 5 MiB parts, 4 in flight.
fn cp(bucket: &TestBucket, endpoint: Option<&str>, source: &str, destination: &str) -> Command {
    let mut command = bucket.s3mt();
    if let Some(endpoint) = endpoint {
        command.args(["--endpoint-url", endpoint]);
    }
    command
        .args(["cp", source, destination])
        .args(["--part-size", "5MiB", "--concurrency", "4"]);
    command
}

/// `cat FILE`: a separate process whose output is the pipe `s3mt` reads.
fn generator(file: &Path) -> Child {
    Command::new("cat")
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cat")
}

/// Uploads `file` through a pipe from a generator process; returns exit code and stderr.
fn upload_piped(command: &mut Command, file: &Path) -> (i32, String) {
    let mut generator = generator(file);
    let child = command
        .stdin(generator.stdout.take().expect("generator output"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s3mt");
    // The command keeps the pipe's read end until told otherwise: a generator whose reader
    // stopped early would then wait on it forever.
    command.stdin(Stdio::null());
    let (output, _, stderr) = finish(command, child, RUN_LIMIT);
    // It may have died of SIGPIPE when s3mt stopped reading early: only reap it.
    generator.wait().expect("reap the generator");
    (output.status.code().expect("exit code"), stderr)
}

/// Downloads to a pipe the test reads; returns the bytes, exit code and stderr.
pub(crate) fn download_piped(command: &mut Command) -> (Vec<u8>, i32, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s3mt");
    let mut bytes = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut bytes)
        .expect("read the download");
    let (output, _, stderr) = finish(command, child, RUN_LIMIT);
    (bytes, output.status.code().expect("exit code"), stderr)
}

/// A file of `len` random bytes to pipe in, and a proxy answering every PUT with the query
/// parameter `query` with `status` and `code`.
fn faulty_setup(
    bucket: &TestBucket,
    len: usize,
    query: &str,
    status: u16,
    code: &'static str,
) -> (tempfile::TempDir, std::path::PathBuf, FaultProxy) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, len, len as u64);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let fault = Fault::Respond { status, code };
    proxy.add(Rule::new(Match::method("PUT").query(query), 1000, fault));
    (dir, file, proxy)
}

#[test]
fn standard_input_and_output_round_trip_a_stream_of_many_parts() {
    let bucket = TestBucket::new("stream-round-trip");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    let data = write_random_file(&file, 100 * MIB + 3, 61);
    let object = format!("s3://{}/piped.bin", bucket.name());
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();

    let (code, upload_said) = upload_piped(
        &mut cp(&bucket, Some(&proxy.endpoint()), "-", &object),
        &file,
    );
    assert_eq!(code, 0, "{upload_said}");
    assert!(upload_said.contains("upload: - -> "), "{upload_said}");
    assert!(upload_said.contains("21 parts"), "{upload_said}");
    let parts = proxy
        .requests()
        .iter()
        .filter(|request| request.has_query("partNumber"))
        .map(|request| request.content_length.expect("parts carry Content-Length"))
        .collect::<Vec<_>>();
    assert_eq!(parts.len(), 21);
    assert_eq!(parts.iter().sum::<u64>(), data.len() as u64);
    assert!(bucket.open_uploads().is_empty());

    let kind = bucket.server().kind();
    // The record follows the data in a tag; a server without object tags (rclone) gets none,
    // and its whole-object MD5 ETag verifies the download instead.
    let verified_by = if kind.stores_object_tags() {
        "against s3mt's upload record"
    } else {
        assert!(
            kind.etag_of_multipart_is_md5(),
            "{kind}: nothing to verify with"
        );
        assert!(
            upload_said.contains("s3mt's record not stored"),
            "{upload_said}"
        );
        "MD5 of the whole object, from its ETag"
    };
    let (bytes, code, stderr) = download_piped(&mut cp(&bucket, None, &object, "-"));
    assert_eq!(code, 0, "{stderr}");
    assert_same_bytes(&bytes, &data, "through standard output");
    assert!(stderr.contains(" -> -"), "{stderr}");
    assert!(stderr.contains(verified_by), "{stderr}");
    let copy = dir.path().join("copy");
    let (output, _, stderr) = run(&mut cp(&bucket, None, &object, copy.to_str().unwrap()));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(verified_by), "{stderr}");
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "to a file");
}

#[test]
fn a_refused_record_tag_is_reported_not_fatal() {
    let bucket = TestBucket::new("stream-no-tag");
    let (_dir, file, proxy) = faulty_setup(&bucket, 12 * MIB, "tagging", 403, "AccessDenied");
    let object = format!("s3://{}/untagged", bucket.name());
    let (code, stderr) = upload_piped(
        &mut cp(&bucket, Some(&proxy.endpoint()), "-", &object),
        &file,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("s3mt's record not stored"), "{stderr}");
    let (_, code, stderr) = download_piped(&mut cp(&bucket, None, &object, "-"));
    assert_eq!(code, 0, "{stderr}");
    // Without the record: the server's full-object CRC-64/NVME (s3mt's default upload), where
    // the server keeps it; else the ETag where a multipart ETag is the whole object's MD5
    // (rclone); else nothing.
    let kind = bucket.server().kind();
    let says = if kind.returns_s3mts_checksums(true) {
        "verified: CRC-64/NVME of the whole object, against the server's full-object checksum"
    } else if kind.etag_of_multipart_is_md5() {
        "verified: MD5 of the whole object, from its ETag"
    } else {
        "NOT verified"
    };
    assert!(stderr.contains(says), "{stderr}");
}

#[test]
fn short_and_empty_streams_go_up_in_one_put_with_a_verifiable_record() {
    let bucket = TestBucket::new("stream-short");
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    for (name, len) in [("empty", 0), ("short", 5 * MIB - 1), ("one-part", 5 * MIB)] {
        let file = dir.path().join(name);
        let data = write_random_file(&file, len, 62);
        let object = format!("s3://{}/{name}", bucket.name());
        let (code, stderr) = upload_piped(
            &mut cp(&bucket, Some(&proxy.endpoint()), "-", &object),
            &file,
        );
        assert_eq!(code, 0, "{name}: {stderr}");
        let path = format!("/{}/{name}", bucket.name());
        let requests: Vec<_> = proxy
            .requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect();
        assert_eq!(requests.len(), 1, "{name}: one PutObject: {requests:?}");
        assert_eq!(requests[0].method, "PUT");
        assert_eq!(requests[0].content_length, Some(len as u64));
        let (bytes, code, stderr) = download_piped(&mut cp(&bucket, None, &object, "-"));
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_same_bytes(&bytes, &data, name);
        assert!(
            stderr.contains("against s3mt's upload record"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn the_expected_size_picks_the_part_size_up_front() {
    let bucket = TestBucket::new("stream-expected");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    write_random_file(&file, 50 * MIB, 63);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let object = format!("s3://{}/sized", bucket.name());
    // 200 GiB in 10,000 parts needs parts of at least 20.48 MiB: 21 MiB.
    let mut command = bucket.s3mt();
    command
        .args(["--endpoint-url", &proxy.endpoint(), "cp", "-", &object])
        .args(["--expected-size", "200GiB"]);
    let (code, stderr) = upload_piped(&mut command, &file);
    assert_eq!(code, 0, "{stderr}");
    let parts: Vec<u64> = proxy
        .requests()
        .iter()
        .filter(|request| request.has_query("partNumber"))
        .filter_map(|request| request.content_length)
        .collect();
    let mut sorted = parts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [8 * MIB as u64, 21 * MIB as u64, 21 * MIB as u64]);
}

#[test]
fn a_reader_that_stops_early_ends_the_download_quietly_with_141() {
    let bucket = TestBucket::new("stream-head");
    let key = "big";
    bucket.put_foreign_object(key, &random_bytes(40 * MIB, 64));
    let mut command = cp(&bucket, None, &format!("s3://{}/{key}", bucket.name()), "-");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s3mt");
    let mut head = [0u8; 10];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout
        .read_exact(&mut head)
        .expect("the first bytes arrive");
    drop(stdout); // What `| head -c 10` does once it has its bytes.
    let (output, _, stderr) = finish(&command, child, RUN_LIMIT);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "quiet: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_part_failing_past_its_retries_aborts_the_stream_upload() {
    let bucket = TestBucket::new("stream-fails");
    let (_dir, file, proxy) = faulty_setup(&bucket, 30 * MIB, "partNumber=3", 500, "InternalError");
    let object = format!("s3://{}/failing", bucket.name());
    let mut command = cp(&bucket, Some(&proxy.endpoint()), "-", &object);
    command.args(["--max-attempts", "2"]);
    let (code, stderr) = upload_piped(&mut command, &file);
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("part 3"), "{stderr}");
    assert!(
        stderr.contains("the multipart upload was aborted"),
        "{stderr}"
    );
    assert!(bucket.open_uploads().is_empty());
    assert_eq!(bucket.head_object("failing").0, 404);
}

#[test]
fn a_killed_stream_uploads_multipart_upload_is_aborted_by_the_next_one_to_its_key() {
    let bucket = TestBucket::new("stream-killed");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    let data = write_random_file(&file, 30 * MIB, 30);
    let object = format!("s3://{}/killed", bucket.name());
    // Slowed, so that it is killed with its multipart upload open.
    let mut slow = cp(&bucket, None, "-", &object);
    slow.args(["--max-bandwidth", "5MiB/s"]);
    let mut generator = generator(&file);
    let mut child = slow
        .stdin(generator.stdout.take().expect("generator output"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3mt");
    let deadline = Instant::now() + RUN_LIMIT;
    while bucket.open_uploads().is_empty() {
        assert!(Instant::now() < deadline, "no multipart upload was begun");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL s3mt");
    child.wait().expect("reap s3mt");
    let _ = generator.kill();
    generator.wait().expect("reap the generator");
    let left = bucket.open_uploads();
    assert_eq!(left.len(), 1, "the killed run leaves its upload: {left:?}");

    let (code, stderr) = upload_piped(&mut cp(&bucket, None, "-", &object), &file);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "aborted the multipart upload {} an interrupted stream upload to this key left",
            left[0].upload_id
        )),
        "{stderr}"
    );
    assert!(
        bucket.open_uploads().is_empty(),
        "{:?}",
        bucket.open_uploads()
    );
    let copy = dir.path().join("copy");
    bucket
        .client(4)
        .download_file(&bucket.uri("killed"), &copy)
        .unwrap();
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "the object");

    // A run that completes leaves no note: the next one aborts nothing.
    let (code, stderr) = upload_piped(&mut cp(&bucket, None, "-", &object), &file);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("aborted"), "{stderr}");
}

/// Yields `good` bytes of zeros, then fails.
struct FailingReader {
    good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("the producer crashed"));
        }
        let n = buf.len().min(self.good).min(64 * 1024);
        buf[..n].fill(0);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_stream_aborts_the_upload_with_a_clear_error() {
    let bucket = TestBucket::new("stream-read-error");
    let client = bucket.client(2);
    let mut reader = FailingReader { good: 23 * MIB };
    let err = client
        .upload_stream(
            &mut reader,
            &bucket.uri("broken"),
            &TransferOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LocalIo);
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(
        message.contains("cannot read the input stream"),
        "{message}"
    );
    assert!(message.contains("the producer crashed"), "{message}");
    assert!(
        message.contains("the multipart upload was aborted"),
        "{message}"
    );
    assert!(bucket.open_uploads().is_empty());
}

#[test]
fn standard_input_needs_a_key_and_json_cannot_share_standard_output() {
    let bucket = TestBucket::new("stream-usage");
    let prefix = format!("s3://{}/dir/", bucket.name());
    for (args, says) in [
        (vec!["cp", "-", prefix.as_str()], "give the key"),
        (
            vec!["cp", "--json", "s3://b-b/k", "-"],
            "--json prints to standard output",
        ),
        (
            vec![
                "cp",
                "--expected-size",
                "1GiB",
                "/etc/hostname",
                "s3://b-b/k",
            ],
            "--expected-size goes only with",
        ),
    ] {
        let mut command = bucket.s3mt();
        command.args(&args).stdin(Stdio::null());
        let output = command.output().expect("run s3mt");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_no_secrets(&command, "", &stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Peak resident memory (VmHWM, KiB) of a running child, sampled until it exits.
fn peak_rss_kib(child: &mut Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("wait for s3mt") {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_two_gib_stream_stays_within_the_stated_memory_bound() {
    let bucket = TestBucket::new("stream-memory");
    let mut command = bucket.s3mt();
    command
        .args(["cp", "-", &format!("s3://{}/two-gib", bucket.name())])
        .args([
            "--part-size",
            "8MiB",
            "--concurrency",
            "4",
            "--progress",
            "none",
        ]);
    // A generator process: 2 GiB of a repeating pattern, through a pipe.
    let mut generator = Command::new("sh")
        .args(["-c", "yes 0123456789abcdef | head -c 2147483648"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the generator");
    let mut child = command
        .stdin(generator.stdout.take().expect("generator output"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s3mt");
    command.stdin(Stdio::null());
    let (status, peak_kib) = peak_rss_kib(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(generator.wait().unwrap().success());
    // The buffers: (concurrency + 1) x part size = 40 MiB; plus the process itself (about 20
    // MiB: code, TLS tables, connection buffers, thread stacks).
    let bound_kib = (5 * 8 + 32) * 1024;
    eprintln!("2 GiB from standard input: peak RSS {peak_kib} KiB (bound {bound_kib} KiB)");
    assert!(
        peak_kib > 5 * 8 * 1024,
        "the buffers are really used: {peak_kib} KiB"
    );
    assert!(
        peak_kib <= bound_kib,
        "peak RSS {peak_kib} KiB over {bound_kib} KiB"
    );
}
