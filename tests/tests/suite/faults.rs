//! Faults injected between the `s3mt` binary and the server by a [`FaultProxy`]: a fault the
//! retries outlast gives a byte-identical result (exit 0); a fault that outlasts the retries
//! gives a clear error, the documented exit code, and nothing left behind (no object, no
//! multipart upload, no destination or temporary file, an existing destination untouched).
//!
//! A server that verifies no checksums (see [`ServerKind::verifies_checksums`]) stores a part
//! corrupted in flight: there the upload succeeds, and a download of the object must fail with
//! s3mt's integrity error and leave nothing behind.
//!
//! The proxy's own test (`tests/proxy.rs`) drives the same faults through the library; here
//! they go through the command line, and every request body must carry a `Content-Length`.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use s3mt_engine::{ChecksumAlgorithm, Client, ErrorKind, S3Uri};
use s3mt_tests::fixture::{self, TestBucket, dir_entries, run_for, s3mt_for, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};
use s3mt_tests::server::{S3Server, ServerKind};

use crate::{MIB, assert_same_bytes, cp_command};

/// Three parts: 5, 5 and 3 MiB (and a few bytes).
const SIZE: usize = 13 * MIB + 5;
/// Longest a single `s3mt` run may take.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// What an existing destination holds before a download that must not touch it.
const KEPT: &[u8] = b"keep me";
/// Faults on every matching request: more than any number of attempts used here.
const ALWAYS: usize = 1000;

/// Enough attempts (first included) to outlast [`REFUSAL`] with the default backoff: 200 ms
/// doubling to 10 s, with full jitter. Nine sleeps drawn from [0, 0.2], [0, 0.4], ..., [0, 10]
/// s add up to less than 1.5 s with a probability under 1e-4.
const REFUSAL_ATTEMPTS: &str = "10";
/// How long the proxy refuses connections in the cases that recover.
const REFUSAL: Duration = Duration::from_millis(1500);

/// What a case expects of `s3mt cp`.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0 and a byte-identical result.
    Identical,
    /// Exit `code` with `says` on stderr, and nothing left behind.
    Fails { code: i32, says: &'static str },
    /// Uploads only: exit 0 with a corrupted part stored (the server verified no checksum),
    /// and a download of the object fails with [`CAUGHT`] and leaves nothing behind.
    CaughtOnDownload,
}

/// The exit code (`INTEGRITY` in `cli/src/exit.rs`) and message of a download whose bytes do
/// not match what s3mt recorded at upload.
const CAUGHT: (i32, &str) = (8, "do not match");

/// One fault scenario.
#[derive(Debug)]
struct Case {
    name: &'static str,
    rules: Vec<Rule>,
    refuse_for: Option<Duration>,
    args: Vec<&'static str>,
    /// Downloads only: the destination exists before, holding [`KEPT`].
    existing_destination: bool,
    /// How many requests with this method and query parameter ("" for any) reach the proxy.
    counts: Vec<(&'static str, &'static str, usize)>,
    /// Uploads only: the server may hold an upload whose id s3mt never received.
    orphans: bool,
    expect: Expect,
}

impl Case {
    fn recovers(name: &'static str) -> Self {
        Self::new(name, Expect::Identical)
    }

    /// A case that fails, run with `--no-resume` so that nothing may be left behind (what is
    /// kept to resume by default is `resume.rs`'s subject).
    fn fails(name: &'static str, code: i32, says: &'static str) -> Self {
        Self::new(name, Expect::Fails { code, says }).args(&["--no-resume"])
    }

    fn new(name: &'static str, expect: Expect) -> Self {
        Self {
            name,
            rules: Vec::new(),
            refuse_for: None,
            args: Vec::new(),
            existing_destination: false,
            counts: Vec::new(),
            orphans: false,
            expect,
        }
    }

    /// `fault` for the first `times` requests that `matcher` matches.
    ///
    /// A request body changed in flight is refused only by a server that verifies checksums:
    /// on any other, the case expects [`Expect::CaughtOnDownload`] instead.
    fn fault(mut self, matcher: Match, times: usize, fault: Fault) -> Self {
        if matches!(fault, Fault::FlipRequestByte { .. }) && !server_kind().verifies_checksums() {
            self.expect = Expect::CaughtOnDownload;
        }
        self.rules.push(Rule::new(matcher, times, fault));
        self
    }

    /// The proxy refuses connections for `duration` from just before `s3mt` starts.
    fn refuse(mut self, duration: Duration) -> Self {
        self.refuse_for = Some(duration);
        self
    }

    /// More `cp` options.
    fn args(mut self, args: &[&'static str]) -> Self {
        self.args.extend_from_slice(args);
        self
    }

    fn over_existing_destination(mut self) -> Self {
        self.existing_destination = true;
        self
    }

    /// A Create whose reply is lost leaves an upload whose id s3mt never learnt: s3mt finds it
    /// by its start time and aborts it. A server that dates no upload (moto, see
    /// [`ServerKind::reports_upload_start_times`]) leaves s3mt nothing to tell it from another
    /// client's upload of the same key: it is left open, as the one upload left.
    fn orphans_an_upload(mut self) -> Self {
        self.orphans = true;
        self
    }

    /// Exactly `count` requests with `method` and the query parameter `parameter` ("" for any)
    /// reach the proxy.
    fn count(mut self, method: &'static str, parameter: &'static str, count: usize) -> Self {
        self.counts.push((method, parameter, count));
        self
    }
}

/// The shared server's kind.
fn server_kind() -> ServerKind {
    s3mt_tests::server::shared().kind()
}

fn part(number: u32) -> Match {
    Match::method("PUT").query(format!("partNumber={number}"))
}

fn any_part() -> Match {
    Match::method("PUT").query("partNumber=")
}

fn create() -> Match {
    Match::method("POST").query("uploads")
}

fn complete() -> Match {
    Match::method("POST").query("uploadId=")
}

fn ranged_get() -> Match {
    Match::method("GET").header("range")
}

fn head() -> Match {
    Match::method("HEAD")
}

fn status(status: u16, code: &'static str) -> Fault {
    Fault::Respond { status, code }
}

fn stall() -> Fault {
    Fault::Stall {
        for_: Duration::from_secs(3),
    }
}

/// Every request with a body (PUT, POST) declared its length and none was chunked.
#[track_caller]
fn assert_bodies_have_a_length(requests: &[RequestRecord], case: &str) {
    for request in requests {
        if request.method == "PUT" || request.method == "POST" {
            assert!(
                request.content_length.is_some() && !request.chunked,
                "{case}: {} ?{} went without Content-Length (chunked: {})",
                request.method,
                request.query,
                request.chunked
            );
        }
    }
}

/// What one `s3mt cp` run through the proxy did.
struct Outcome {
    code: i32,
    stderr: String,
    requests: Vec<RequestRecord>,
    elapsed: Duration,
}

/// Runs `s3mt cp source destination` through a fresh proxy set up as `case` says, and checks
/// what every case must hold: the exit code and message expected, bodies with a length, and a
/// fault that was really injected.
fn cp_through_proxy(bucket: &TestBucket, case: &Case, source: &str, destination: &str) -> Outcome {
    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    for rule in &case.rules {
        proxy.add(rule.clone());
    }
    let mut command = cp_command(
        bucket,
        Some(&proxy.endpoint()),
        [source, destination],
        &case.args,
    );
    let started = Instant::now();
    if let Some(duration) = case.refuse_for {
        proxy.refuse_connections_for(duration);
    }
    let (output, _, stderr) = run_for(&mut command, RUN_LIMIT);
    let outcome = Outcome {
        code: output.status.code().expect("an exit code"),
        stderr,
        requests: proxy.requests(),
        elapsed: started.elapsed(),
    };
    let name = case.name;
    match case.expect {
        Expect::Identical | Expect::CaughtOnDownload => {
            assert_eq!(outcome.code, 0, "{name}: {}", outcome.stderr);
        }
        Expect::Fails { code, says } => {
            assert_eq!(outcome.code, code, "{name}: {}", outcome.stderr);
            assert!(
                outcome.stderr.starts_with("s3mt: error: ") && outcome.stderr.contains(says),
                "{name}: expected {says:?} in {:?}",
                outcome.stderr
            );
        }
    }
    assert_bodies_have_a_length(&outcome.requests, name);
    for &(method, parameter, count) in &case.counts {
        let seen = outcome
            .requests
            .iter()
            .filter(|r| r.method == method && (parameter.is_empty() || r.has_query(parameter)))
            .count();
        assert_eq!(
            seen, count,
            "{name}: {method} ?{parameter} requests: {:#?}\n{}",
            outcome.requests, outcome.stderr
        );
    }
    match case.refuse_for {
        // Nothing got through before the window closed.
        Some(window) if !matches!(case.expect, Expect::Fails { .. }) => assert!(
            outcome.elapsed >= window,
            "{name}: done in {:?}, within the refusal",
            outcome.elapsed
        ),
        Some(_) => assert!(
            outcome.requests.is_empty(),
            "{name}: {:#?}",
            outcome.requests
        ),
        None => assert!(
            outcome.requests.iter().any(|r| r.fault.is_some()),
            "{name}: the fault was never injected: {:#?}",
            outcome.requests
        ),
    }
    outcome
}

/// Downloads `object` straight from the server (not through any proxy).
fn fetch(bucket: &TestBucket, object: &S3Uri, dir: &Path) -> Vec<u8> {
    let path = dir.join("direct-copy");
    bucket
        .client(4)
        .download_file(object, &path)
        .expect("direct download");
    let bytes = std::fs::read(&path).expect("read the direct copy");
    std::fs::remove_file(&path).expect("remove the direct copy");
    bytes
}

/// Uploads a file through the proxy once per case, each to its own key.
fn upload_cases(label: &str, cases: &[Case]) {
    let bucket = TestBucket::new(label);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 51);
    for case in cases {
        let object = bucket.uri(case.name);
        let outcome =
            cp_through_proxy(&bucket, case, source.to_str().unwrap(), &object.to_string());
        eprintln!(
            "{label}: {} in {:.2?}: {}",
            case.name,
            outcome.elapsed,
            outcome.stderr.trim_end()
        );
        let mut open = bucket.open_uploads();
        if case.orphans && !server_kind().reports_upload_start_times() {
            assert!(
                matches!(&open[..], [orphan] if orphan.key == case.name),
                "{}: one orphan expected: {open:?}",
                case.name
            );
            let orphan = open.pop().unwrap();
            bucket
                .client(1)
                .abort_multipart_upload(&object, &orphan.upload_id)
                .expect("abort the orphan");
        }
        assert!(
            open.is_empty(),
            "{}: uploads left open: {open:?}",
            case.name
        );
        match case.expect {
            Expect::Identical => {
                assert_same_bytes(&fetch(&bucket, &object, dir.path()), &data, case.name);
            }
            Expect::CaughtOnDownload => assert_download_is_caught(&bucket, &object, case.name),
            Expect::Fails { .. } => {
                let stderr = &outcome.stderr;
                assert!(
                    stderr.contains("the multipart upload was aborted")
                        || !outcome.requests.iter().any(|r| r.has_query("uploadId=")),
                    "{}: {stderr}",
                    case.name
                );
                let gone = bucket
                    .client(1)
                    .download_file(&object, &dir.path().join("never"))
                    .expect_err("no object");
                assert_eq!(gone.kind(), ErrorKind::NotFound, "{}: {gone}", case.name);
            }
        }
        assert_eq!(dir_entries(dir.path()), ["source"]);
    }
}

/// `s3mt cp OBJECT FILE` of an object stored with a corrupted part fails with [`CAUGHT`] and
/// leaves neither the file nor a temporary one.
fn assert_download_is_caught(bucket: &TestBucket, object: &S3Uri, case: &str) {
    let into = tempfile::tempdir().unwrap();
    let destination = into.path().join("copy");
    let mut command = cp_command(
        bucket,
        None,
        [&object.to_string(), destination.to_str().unwrap()],
        &["--no-resume"],
    );
    let (output, _, stderr) = run_for(&mut command, RUN_LIMIT);
    let (code, says) = CAUGHT;
    assert_eq!(
        output.status.code(),
        Some(code),
        "{case}: download: {stderr}"
    );
    assert!(
        stderr.starts_with("s3mt: error: ") && stderr.contains(says),
        "{case}: download: expected {says:?} in {stderr:?}"
    );
    let entries = dir_entries(into.path());
    assert!(entries.is_empty(), "{case}: download left {entries:?}");
}

/// Seeds one object straight on the server (its parts checksummed with SHA-256), then downloads
/// it through the proxy once per case, each into a directory of its own.
fn download_cases(label: &str, cases: &[Case]) {
    download_cases_of(label, ChecksumAlgorithm::Sha256, cases);
}

/// [`download_cases`] of an object uploaded with `algorithm`'s part checksums.
fn download_cases_of(label: &str, algorithm: ChecksumAlgorithm, cases: &[Case]) {
    let bucket = TestBucket::new(label);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 52);
    let object = bucket.uri("object");
    let config = bucket.config().concurrency(4).checksum_algorithm(algorithm);
    let client = Client::new(config.build().unwrap()).unwrap();
    client.upload_file(&source, &object).unwrap();
    for case in cases {
        let into = dir.path().join(case.name);
        std::fs::create_dir(&into).unwrap();
        let destination = into.join("copy");
        if case.existing_destination {
            std::fs::write(&destination, KEPT).unwrap();
        }
        let outcome = cp_through_proxy(
            &bucket,
            case,
            &object.to_string(),
            destination.to_str().unwrap(),
        );
        eprintln!(
            "{label}: {} in {:.2?}: {}",
            case.name,
            outcome.elapsed,
            outcome.stderr.trim_end()
        );
        let entries = dir_entries(&into);
        match case.expect {
            Expect::Identical => {
                let copy = std::fs::read(&destination).expect("the downloaded file");
                assert_same_bytes(&copy, &data, case.name);
                assert_eq!(entries, ["copy"], "{}: no temporary file", case.name);
            }
            Expect::Fails { .. } if case.existing_destination => {
                let kept = std::fs::read(&destination).expect("the existing destination");
                assert_eq!(kept, KEPT, "{}: the destination was changed", case.name);
                assert_eq!(entries, ["copy"], "{}: no temporary file", case.name);
            }
            Expect::Fails { .. } => assert!(
                entries.is_empty(),
                "{}: no destination and no temporary file: {entries:?}",
                case.name
            ),
            Expect::CaughtOnDownload => unreachable!("{}: an upload expectation", case.name),
        }
    }
}

#[test]
fn upload_faults_are_retried_to_an_identical_object() {
    // Creates and Completes when a Complete's reply is lost.
    let lost_complete = if server_kind().repeats_completions() {
        (1, 2)
    } else {
        (2, 3)
    };
    upload_cases(
        "faults-upload-ok",
        &[
            Case::recovers("reset-in-part-body").fault(
                part(2),
                1,
                Fault::ResetDuringRequestBody { after: MIB },
            ),
            Case::recovers("500-to-two-parts").fault(any_part(), 2, status(500, "InternalError")),
            Case::recovers("slow-down-thrice-on-part-1")
                .fault(part(1), 3, status(503, "SlowDown"))
                .count("PUT", "partNumber=1", 4),
            Case::recovers("slow-down-on-create").fault(create(), 2, status(503, "SlowDown")),
            Case::recovers("stalled-part-reply")
                .fault(part(3), 1, stall())
                .args(&["--io-timeout", "1"]),
            Case::recovers("flipped-byte-in-part-body").fault(
                part(2),
                1,
                Fault::FlipRequestByte { offset: 12_345 },
            ),
            Case::recovers("complete-200-with-error").fault(
                complete(),
                1,
                Fault::OkWithErrorBody {
                    code: "InternalError",
                },
            ),
            // The server made an upload whose id never arrived: it must not stay open.
            Case::recovers("short-create-reply")
                .fault(create(), 1, Fault::ShortBody { missing: 20 })
                .orphans_an_upload()
                .count("POST", "uploads", 2),
            // The server completed the upload but the reply was lost: asking again succeeds
            // (SeaweedFS answers a repeated Complete as the first), or meets NoSuchUpload and
            // the upload starts over, once (see `ServerKind::repeats_completions`).
            Case::recovers("lost-complete-reply")
                .fault(complete(), 1, Fault::ResetDuringResponseBody { after: 0 })
                .count("POST", "uploads", lost_complete.0)
                .count("POST", "uploadId=", lost_complete.1),
            Case::recovers("refused-connections")
                .refuse(REFUSAL)
                .args(&["--max-attempts", REFUSAL_ATTEMPTS]),
        ],
    );
}

#[test]
fn upload_faults_that_outlast_the_retries_fail_and_abort() {
    upload_cases(
        "faults-upload-fail",
        &[
            Case::fails("reset-every-part-2", 7, "part 2")
                .fault(
                    part(2),
                    ALWAYS,
                    Fault::ResetDuringRequestBody { after: MIB },
                )
                .args(&["--max-attempts", "2"]),
            Case::fails("slow-down-every-part-1", 7, "SlowDown")
                .fault(part(1), ALWAYS, status(503, "SlowDown"))
                .args(&["--max-attempts", "3"]),
            Case::fails("500-to-every-create", 7, "InternalError")
                .fault(create(), ALWAYS, status(500, "InternalError"))
                .args(&["--max-attempts", "2"]),
            // Complete failing after its retries restarts the upload once; both are aborted.
            Case::fails("complete-always-200-with-error", 7, "InternalError")
                .fault(
                    complete(),
                    ALWAYS,
                    Fault::OkWithErrorBody {
                        code: "InternalError",
                    },
                )
                .args(&["--max-attempts", "2"])
                .count("POST", "uploads", 2)
                .count("POST", "uploadId=", 4)
                .count("DELETE", "uploadId=", 2),
            Case::fails("flipped-byte-in-every-part-2", 7, "BadDigest")
                .fault(part(2), ALWAYS, Fault::FlipRequestByte { offset: 7 })
                .args(&["--max-attempts", "2"]),
            Case::fails("refused-too-long", 7, "Connection refused")
                .refuse(Duration::from_secs(3))
                .args(&["--max-attempts", "2"]),
        ],
    );
}

#[test]
fn download_faults_are_retried_to_an_identical_file() {
    download_cases(
        "faults-download-ok",
        &[
            Case::recovers("reset-in-get-body").fault(
                ranged_get(),
                1,
                Fault::ResetDuringResponseBody { after: MIB },
            ),
            Case::recovers("500-to-two-gets").fault(ranged_get(), 2, status(500, "InternalError")),
            Case::recovers("slow-down-on-head").fault(head(), 2, status(503, "SlowDown")),
            Case::recovers("stalled-get")
                .fault(ranged_get(), 1, stall())
                .args(&["--io-timeout", "1"]),
            Case::recovers("short-get-body").fault(
                ranged_get(),
                1,
                Fault::ShortBody { missing: 10 },
            ),
            // A composite mismatch cannot name the range: all three are fetched again.
            Case::recovers("flipped-byte-in-get-body")
                .fault(ranged_get(), 1, Fault::FlipResponseByte { offset: 4321 })
                .count("GET", "", 6),
            Case::recovers("empty-200-to-ranged-get").fault(ranged_get(), 1, Fault::EmptyOk),
            Case::recovers("refused-connections")
                .refuse(REFUSAL)
                .args(&["--max-attempts", REFUSAL_ATTEMPTS]),
        ],
    );
}

#[test]
fn download_faults_that_outlast_the_retries_fail_and_leave_nothing() {
    download_cases(
        "faults-download-fail",
        &[
            Case::fails("reset-every-get", 7, "the reply body ended early")
                .fault(
                    ranged_get(),
                    ALWAYS,
                    Fault::ResetDuringResponseBody { after: MIB },
                )
                .args(&["--max-attempts", "2"]),
            Case::fails("slow-down-every-get", 7, "SlowDown")
                .fault(ranged_get(), ALWAYS, status(503, "SlowDown"))
                .args(&["--max-attempts", "2"])
                .over_existing_destination(),
            Case::fails("stall-every-get", 7, "timeout")
                .fault(ranged_get(), ALWAYS, stall())
                .args(&["--max-attempts", "2", "--io-timeout", "1"]),
            Case::fails("short-every-get", 7, "ended early")
                .fault(ranged_get(), ALWAYS, Fault::ShortBody { missing: 10 })
                .args(&["--max-attempts", "2"]),
            Case::fails("flipped-byte-in-every-get", 8, "do not match")
                .fault(ranged_get(), ALWAYS, Fault::FlipResponseByte { offset: 7 })
                .over_existing_destination()
                .count("GET", "", 6),
            Case::fails("empty-200-to-every-get", 7, "asked for bytes")
                .fault(ranged_get(), ALWAYS, Fault::EmptyOk)
                .args(&["--max-attempts", "2"]),
            Case::fails("refused-too-long", 7, "Connection refused")
                .refuse(Duration::from_secs(3))
                .args(&["--max-attempts", "2"]),
        ],
    );
}

/// CRC-64/NVME part checksums catch corruption as SHA-256 ones do: the server refuses a part
/// that changed in flight (or, verifying none, stores it and the download catches it), and a
/// download checks each range against the record.
#[test]
fn crc64nvme_checksums_catch_corruption_both_ways() {
    const CRC: [&str; 2] = ["--checksum-algorithm", "CRC64NVME"];
    upload_cases(
        "faults-crc-upload",
        &[
            Case::recovers("flipped-byte-in-part-2")
                .fault(part(2), 1, Fault::FlipRequestByte { offset: 12_345 })
                .args(&CRC),
            Case::fails("flipped-byte-in-every-part-2", 7, "BadDigest")
                .fault(part(2), ALWAYS, Fault::FlipRequestByte { offset: 7 })
                .args(&CRC)
                .args(&["--max-attempts", "2"]),
        ],
    );
    download_cases_of(
        "faults-crc-download",
        ChecksumAlgorithm::Crc64Nvme,
        &[
            Case::recovers("flipped-byte-in-get-body")
                .fault(ranged_get(), 1, Fault::FlipResponseByte { offset: 4321 })
                .count("GET", "", 6),
            Case::fails("flipped-byte-in-every-get", 8, "do not match")
                .fault(ranged_get(), ALWAYS, Fault::FlipResponseByte { offset: 7 })
                .over_existing_destination()
                .count("GET", "", 6),
        ],
    );
}

/// The server is killed (SIGKILL, as a crash) while an upload is in flight, and restarted on
/// the same data and ports: the upload must still finish, byte-identical. A server that keeps
/// nothing across a restart (moto) has lost the bucket: the upload must fail cleanly as not
/// found, with nothing half-written. A dedicated server: the shared one serves other tests
/// meanwhile.
#[test]
fn server_killed_and_restarted_mid_upload_finishes_identically() {
    let mut server = S3Server::start().expect("start a dedicated server");
    let client = Client::new(
        fixture::config_for(&server)
            .concurrency(4)
            .build()
            .expect("config"),
    )
    .expect("client");
    let bucket = "restart";
    client.create_bucket(bucket).expect("create the bucket");
    let object = S3Uri::new(bucket, "survivor").expect("object address");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    // Nine parts of 5 MiB (the last a few bytes).
    let data = write_random_file(&source, 40 * MIB + 9, 53);

    // Part 2's reply is held for a second, so the upload is surely mid-way when the server dies;
    // the retry of part 2 then meets a dead (then starting) server until it is back.
    let proxy = FaultProxy::start(server.endpoint()).expect("start the proxy");
    proxy.add(Rule::once(
        part(2),
        Fault::Stall {
            for_: Duration::from_secs(1),
        },
    ));
    let mut command = s3mt_for(&server);
    command
        .arg("--endpoint-url")
        .arg(proxy.endpoint())
        .args(["cp", source.to_str().unwrap(), &object.to_string()])
        .args(["--part-size", "5MiB", "--concurrency", "1"])
        .args(["--max-attempts", "15", "--io-timeout", "10"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("start s3mt");

    let deadline = Instant::now() + Duration::from_secs(60);
    let part_two_sent = || {
        proxy
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.has_query("partNumber=2"))
    };
    while !part_two_sent() {
        if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("part 2 was never sent: {:#?}", proxy.requests());
        }
        thread::sleep(Duration::from_millis(2));
    }
    let before: Vec<RequestRecord> = proxy.requests();
    // One part at a time: any part sent before part 2 is done.
    let done = before
        .iter()
        .filter(|r| r.method == "PUT" && !r.has_query("partNumber=2"))
        .count();
    assert!(done >= 1, "part 2 went first: {before:#?}");
    server.kill();
    let down = Instant::now();
    if let Err(err) = server.restart() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("restart the server: {err}");
    }
    let restart_took = down.elapsed();

    let (output, _, stderr) = fixture::finish(&command, child, RUN_LIMIT);
    let finished = down.elapsed();
    let requests = proxy.requests();
    let creates = requests
        .iter()
        .filter(|r| r.method == "POST" && r.has_query("uploads"))
        .count();
    let part_attempts = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.has_query("partNumber="))
        .count();
    eprintln!(
        "server restart: back after {restart_took:.2?}, upload done {finished:.2?} after the kill; \
         {creates} CreateMultipartUpload, {part_attempts} UploadPart requests reached the proxy; \
         {stderr}"
    );
    assert_bodies_have_a_length(&requests, "restart");
    if !server.kind().keeps_data_across_restart() {
        let journals = fixture::state_home(&server).join("s3mt");
        let lost = [dir.path(), &journals];
        assert_restart_lost_the_bucket(&client, &object, lost, &output, &stderr);
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(part_attempts > 9, "part 2 was sent again after the kill");
    // SeaweedFS keeps multipart uploads across a restart (seen: one Create); a server that lost
    // it would answer NoSuchUpload, and the engine starts the upload over, once.
    assert!((1..=2).contains(&creates), "{creates} uploads created");

    let copy = dir.path().join("copy");
    client
        .download_file(&object, &copy)
        .expect("direct download");
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "after the restart");
    let open = client
        .list_multipart_uploads(bucket, "")
        .expect("list uploads");
    assert!(open.is_empty(), "uploads left open: {open:?}");
}

/// After a restart that lost everything, the bucket included: the upload failed as not found
/// (`NOT_FOUND` in `cli/src/exit.rs`) saying so, and left no object, no open upload, no file
/// in `dir` but the source and no journal to resume in `journals`.
fn assert_restart_lost_the_bucket(
    client: &Client,
    object: &S3Uri,
    [dir, journals]: [&Path; 2],
    output: &std::process::Output,
    stderr: &str,
) {
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.starts_with("s3mt: error: ") && stderr.contains("NoSuchBucket"),
        "{stderr}"
    );
    let gone = client
        .download_file(object, &dir.join("never"))
        .expect_err("no object");
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    match client.list_multipart_uploads(object.bucket(), "") {
        Ok(open) => assert!(open.is_empty(), "uploads left open: {open:?}"),
        Err(err) => assert_eq!(err.kind(), ErrorKind::NotFound, "{err}"),
    }
    assert_eq!(dir_entries(dir), ["source"]);
    let resumable = s3mt_engine::resumable_uploads(journals);
    assert!(resumable.is_empty(), "kept to resume: {resumable:?}");
}
