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
//!
//! One test per fault, so that one failure hides no other: `upload.rs` and `download.rs` hold
//! them, each test with a bucket, source file and (downloading) object of its own;
//! `restart.rs` kills the server mid-upload. What every case shares lives here.

mod download;
mod restart;
mod upload;

use std::time::{Duration, Instant};

use s3mt_tests::fixture::{TestBucket, run_for};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};
use s3mt_tests::server::ServerKind;

use crate::{MIB, cp_command};

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
