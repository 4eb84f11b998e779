//! Hostile and broken servers, through the `s3mt` binary: replies no honest S3 sends, forged
//! or altered by the [`FaultProxy`] (malformed XML, an ETag that is not the part's, a
//! `Content-Length` that lies, a range that is not the one asked for, a whole object for a
//! range, listings that never end, replies of 10 MiB, a record whose parts do not add up,
//! control characters in headers). Each case ends in one of two ways: a byte-identical result,
//! or the documented exit code with a message naming what was wrong; never a panic, a hang, a
//! wrong or half-written file, an open multipart upload, a flood of output or a secret shown.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use s3mt_tests::fixture::{TestBucket, assert_no_secrets, dir_entries, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};

use crate::{MIB, assert_same_bytes};

/// Three parts or ranges: 5, 5 and 3 MiB (and a few bytes).
const SIZE: usize = 13 * MIB + 5;
/// The part and range size.
const PART: usize = 5 * MIB;
/// Longest a single `s3mt` run may take: a hang detector, not a speed check.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// Faults on every matching request: more than any run here makes.
const ALWAYS: usize = 100_000;
/// Most standard error a failing run may print (a few lines).
const MAX_STDERR: usize = 4 * 1024;
/// Exit codes of the README's table (`cli/src/exit.rs`).
const NETWORK_OR_SERVER: i32 = 7;
const INTEGRITY: i32 = 8;
/// Options of every `cp`: 5 MiB parts and ranges, quick retries, nothing kept to resume.
const CP: [&str; 9] = [
    "--part-size",
    "5MiB",
    "--multipart-threshold",
    "5MiB",
    "--max-attempts",
    "3",
    "--no-resume",
    "--io-timeout",
    "5",
];

/// What one `s3mt` run did.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    /// The most resident memory the process had (its `VmHWM`, sampled while it ran), KiB.
    peak_kib: u64,
}

impl Outcome {
    /// Exit `code`, and each of `words` in the error message.
    #[track_caller]
    fn fails(&self, code: i32, words: &[&str]) -> &Self {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(self.stderr.contains("s3mt: error: "), "{}", self.stderr);
        for word in words {
            assert!(
                self.stderr.contains(word),
                "{word:?} not in {}",
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    fn succeeds(&self) -> &Self {
        assert_eq!(self.code, 0, "{}", self.stderr);
        self
    }
}

/// A bucket, a proxy in front of its server, and a directory of local files.
struct Hostile {
    bucket: TestBucket,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
}

impl Hostile {
    fn new(label: &str) -> Self {
        let bucket = TestBucket::new(&format!("hostile-{label}"));
        let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
        Self {
            bucket,
            proxy,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `fault` for the first `times` requests `matcher` matches.
    fn fault(&self, matcher: Match, times: usize, fault: Fault) -> &Self {
        self.proxy.add(Rule::new(matcher, times, fault));
        self
    }

    /// `s3://bucket/p/`, the prefix the listing cases list.
    fn prefix(&self) -> String {
        format!("s3://{}/p/", self.bucket.name())
    }

    /// `s3://bucket/key`.
    fn uri(&self, key: &str) -> String {
        self.bucket.uri(key).to_string()
    }

    /// Runs `s3mt --endpoint-url PROXY ARGS` and checks what every run must hold: it ends
    /// within [`RUN_LIMIT`], without a panic, with a few lines of output at most and no
    /// secret shown; a fault was really injected.
    fn s3mt(&self, args: &[&str]) -> Outcome {
        let mut command: Command = self.bucket.s3mt();
        command
            .args(["--endpoint-url", &self.proxy.endpoint()])
            .args(args);
        let outcome = run_measured(&mut command);
        assert_ne!(outcome.code, 101, "a panic: {}", outcome.stderr);
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
        assert!(
            outcome.stderr.len() <= MAX_STDERR,
            "{} bytes of standard error: {}...",
            outcome.stderr.len(),
            &outcome.stderr[..MAX_STDERR.min(outcome.stderr.len())]
        );
        let requests = self.proxy.requests();
        assert!(
            requests.iter().any(|r| r.fault.is_some()),
            "no fault injected: {requests:#?}"
        );
        eprintln!(
            "{args:?}: exit {}, peak {} KiB: {}",
            outcome.code,
            outcome.peak_kib,
            outcome.stderr.trim_end()
        );
        outcome
    }

    /// Uploads a fresh [`SIZE`] file through the proxy to `key` with `cp`: the outcome, and
    /// the file's bytes.
    fn upload(&self, key: &str) -> (Outcome, Vec<u8>) {
        let source = self.dir.path().join("source");
        let data = write_random_file(&source, SIZE, 21);
        let object = self.uri(key);
        let mut args = vec!["cp", source.to_str().unwrap(), object.as_str()];
        args.extend(CP);
        (self.s3mt(&args), data)
    }

    /// How many CreateMultipartUpload requests reached the proxy.
    fn creates(&self) -> usize {
        let requests = self.proxy.requests();
        let is_create = |r: &&RequestRecord| r.method == "POST" && r.has_query("uploads");
        requests.iter().filter(is_create).count()
    }

    /// No object at `key`, and no multipart upload left open in the bucket.
    #[track_caller]
    fn assert_nothing_stored(&self, key: &str) {
        let (status, _) = self.bucket.head_object(key);
        assert_eq!(status, 404, "{key} exists after a failed upload");
        self.assert_no_open_upload();
    }

    #[track_caller]
    fn assert_no_open_upload(&self) {
        let open = self.bucket.open_uploads();
        assert!(open.is_empty(), "multipart uploads left open: {open:?}");
    }

    /// Stores a [`SIZE`] object at `key` straight on the server, as s3mt uploads it (5 MiB
    /// parts, its record in the metadata): its bytes.
    fn seed(&self, key: &str) -> Vec<u8> {
        let source = self.dir.path().join("seed");
        let data = write_random_file(&source, SIZE, 13);
        self.bucket
            .client(4)
            .upload_file(&source, &self.bucket.uri(key))
            .expect("seed the object");
        data
    }

    /// Downloads `key` through the proxy into a directory of its own with `cp`, `concurrency`
    /// ranges at a time, and `extra` options: the outcome, and the destination.
    fn download(&self, key: &str, concurrency: &str, extra: &[&str]) -> (Outcome, Download) {
        let into = self.dir.path().join("into");
        std::fs::create_dir_all(&into).unwrap();
        let destination = into.join("copy");
        let object = self.uri(key);
        let mut args = vec!["cp", object.as_str(), destination.to_str().unwrap()];
        args.extend(CP);
        args.extend(["--concurrency", concurrency]);
        args.extend(extra);
        let outcome = self.s3mt(&args);
        (outcome, Download { into, destination })
    }
}

/// Where a download went.
struct Download {
    into: PathBuf,
    destination: PathBuf,
}

impl Download {
    /// The destination holds `data`, and nothing else is beside it.
    #[track_caller]
    fn assert_identical(&self, data: &[u8]) {
        let copy = std::fs::read(&self.destination).expect("the downloaded file");
        assert_same_bytes(&copy, data, "download");
        assert_eq!(
            dir_entries(&self.into),
            ["copy"],
            "a temporary file is left"
        );
    }

    /// Neither the destination nor a partial or temporary file exists.
    #[track_caller]
    fn assert_nothing_written(&self) {
        let entries = dir_entries(&self.into);
        assert!(entries.is_empty(), "left behind: {entries:?}");
    }
}

/// Runs `command` (an `s3mt`), sampling its peak resident memory while it runs; killed and
/// failed past [`RUN_LIMIT`]. Its outputs are read as they come (a flood cannot block it) and
/// checked for secrets.
fn run_measured(command: &mut Command) -> Outcome {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run s3mt");
    let pipe = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            peak_kib = peak_kib.max(high_water_kib(&status));
        }
        if let Some(status) = child.try_wait().expect("wait for s3mt") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still ran after {RUN_LIMIT:?}: a hang");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert_no_secrets(command, &stdout, &stderr);
    Outcome {
        code: status.code().expect("an exit code, not a signal"),
        stdout,
        stderr,
        peak_kib,
    }
}

/// `VmHWM` of a `/proc/PID/status`, in KiB (0 when absent).
fn high_water_kib(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn create() -> Match {
    Match::method("POST").query("uploads")
}

fn complete() -> Match {
    Match::method("POST").query("uploadId=")
}

fn listing() -> Match {
    Match::method("GET").query("list-type=2")
}

fn ranged_get() -> Match {
    Match::method("GET").header("range")
}

fn head() -> Match {
    Match::method("HEAD")
}

/// A reply forged by the proxy: `status`, `headers` as given, `body`.
fn forge(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Fault {
    Fault::Forge {
        status,
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body: body.into(),
    }
}

/// The server's reply with its header `name` set to `value`.
fn rewrite(name: &str, value: &str) -> Fault {
    Fault::RewriteResponseHeader {
        name: name.to_owned(),
        value: Some(value.to_owned()),
    }
}

/// A `206` for `range` of `data` (`Content-Range` and `Content-Length` its own), with `body`.
fn partial(range: std::ops::Range<usize>, body: &[u8]) -> Fault {
    let content_range = format!("bytes {}-{}/{SIZE}", range.start, range.end - 1);
    let length = range.len().to_string();
    forge(
        206,
        &[
            ("Content-Range", content_range.as_str()),
            ("Content-Length", length.as_str()),
        ],
        body,
    )
}

// 1. Malformed XML.

const MALFORMED: &str = "<?xml version=\"1.0\"?><ListBucketResult><Contents><Key>a</Key>";

#[test]
fn a_malformed_listing_fails_ls() {
    let hostile = Hostile::new("xml-list");
    hostile.fault(listing(), ALWAYS, forge(200, &[], MALFORMED));
    hostile
        .s3mt(&["ls", &hostile.prefix()])
        .fails(NETWORK_OR_SERVER, &["malformed XML"]);
}

#[test]
fn a_malformed_create_reply_fails_the_upload() {
    let hostile = Hostile::new("xml-create");
    hostile.fault(
        create(),
        ALWAYS,
        forge(200, &[], "<InitiateMultipartUploadResult><Up"),
    );
    let (outcome, _) = hostile.upload("object");
    outcome.fails(NETWORK_OR_SERVER, &["malformed XML"]);
    hostile.assert_nothing_stored("object");
}

/// Found here: a CompleteMultipartUpload answered `200` with a body that is not XML was taken
/// for success, though nothing was completed (the proxy forwarded nothing): exit 0 and no
/// object. Such a reply is now a protocol error, retried, then the upload started over once,
/// then aborted.
#[test]
fn a_malformed_complete_reply_fails_the_upload() {
    let hostile = Hostile::new("xml-complete");
    hostile.fault(
        complete(),
        ALWAYS,
        forge(200, &[], "<CompleteMultipartUploadResult><ETa"),
    );
    let (outcome, _) = hostile.upload("object");
    outcome.fails(
        NETWORK_OR_SERVER,
        &[
            "CompleteMultipartUpload reply is not S3's",
            "malformed XML",
            "aborted",
        ],
    );
    hostile.assert_nothing_stored("object");
    assert_eq!(hostile.creates(), 2, "started over once");
}

// 2. A wrong ETag for a part.

/// Every UploadPart of part 1 answered with the server's reply but another ETag: the server
/// refuses the Complete that names it (`InvalidPart`: SeaweedFS, rclone and moto all check),
/// the upload is started over once, then aborted. Nothing is stored.
#[test]
fn a_wrong_part_etag_fails_the_upload_cleanly() {
    let hostile = Hostile::new("part-etag");
    hostile.fault(
        Match::method("PUT").query("partNumber=1"),
        ALWAYS,
        rewrite("ETag", "\"0123456789abcdef0123456789abcdef\""),
    );
    let (outcome, _) = hostile.upload("object");
    outcome.fails(NETWORK_OR_SERVER, &["InvalidPart", "aborted"]);
    hostile.assert_nothing_stored("object");
    assert_eq!(hostile.creates(), 2, "started over once");
}

// 3. A Content-Length that lies.

/// A range's reply says the range's length but sends 1,000 bytes fewer, then closes: every
/// time, the download fails (one range at a time, so the first range's error is the one
/// shown); once, it is retried.
#[test]
fn a_get_body_shorter_than_its_length_fails_the_download() {
    let hostile = Hostile::new("length-long");
    let data = hostile.seed("object");
    hostile.fault(ranged_get(), ALWAYS, partial(0..PART, &data[..PART - 1000]));
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.fails(NETWORK_OR_SERVER, &["bytes 0..5242880", "ended early"]);
    download.assert_nothing_written();
}

#[test]
fn a_get_body_shorter_than_its_length_once_is_retried() {
    let hostile = Hostile::new("length-long-once");
    let data = hostile.seed("object");
    // One range at a time: the first ranged GET is the first range.
    hostile.fault(ranged_get(), 1, partial(0..PART, &data[..PART - 1000]));
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.succeeds();
    download.assert_identical(&data);
}

/// A range's reply says a length 1,000 bytes short of the range and sends the whole range:
/// refused before its body is read.
#[test]
fn a_get_length_shorter_than_the_range_fails_the_download() {
    let hostile = Hostile::new("length-short");
    let data = hostile.seed("object");
    let content_range = format!("bytes 0-{}/{SIZE}", PART - 1);
    let length = (PART - 1000).to_string();
    hostile.fault(
        ranged_get(),
        ALWAYS,
        forge(
            206,
            &[
                ("Content-Range", content_range.as_str()),
                ("Content-Length", length.as_str()),
            ],
            &data[..PART],
        ),
    );
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.fails(
        NETWORK_OR_SERVER,
        &["asked for bytes 0-5242879/", "length 5241880"],
    );
    download.assert_nothing_written();
}

/// A range's reply with the right length followed by 1,000 bytes more (which would poison
/// the connection for the next request): the range is read exactly, the rest never is.
#[test]
fn a_get_body_longer_than_its_length_is_read_exactly() {
    let hostile = Hostile::new("length-extra");
    let data = hostile.seed("object");
    let mut body = data[..PART].to_vec();
    body.extend_from_slice(&[0x55; 1000]);
    hostile.fault(ranged_get(), 1, partial(0..PART, &body));
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.succeeds();
    download.assert_identical(&data);
}

// 4. A 206 for another range.

/// Every range answered with bytes 1..=5 MiB (the right length, one byte off).
#[test]
fn a_206_for_another_range_fails_the_download() {
    let hostile = Hostile::new("range-off");
    let data = hostile.seed("object");
    hostile.fault(
        ranged_get(),
        ALWAYS,
        partial(1..PART + 1, &data[1..PART + 1]),
    );
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.fails(
        NETWORK_OR_SERVER,
        &["asked for bytes 0-5242879/", "with range bytes 1-5242880/"],
    );
    download.assert_nothing_written();
}

/// The first range answered with the second, its bytes and range: refused, fetched again.
#[test]
fn a_206_for_another_range_once_is_retried() {
    let hostile = Hostile::new("range-other");
    let data = hostile.seed("object");
    hostile.fault(
        ranged_get(),
        1,
        partial(PART..2 * PART, &data[PART..2 * PART]),
    );
    let (outcome, download) = hostile.download("object", "1", &[]);
    outcome.succeeds();
    download.assert_identical(&data);
}

// 5. A ranged GET answered with the whole object.

fn without_range() -> Fault {
    Fault::DropRequestHeader {
        name: "range".into(),
    }
}

#[test]
fn a_whole_object_for_every_range_fails_the_download() {
    let hostile = Hostile::new("range-dropped");
    hostile.seed("object");
    hostile.fault(ranged_get(), ALWAYS, without_range());
    let (outcome, download) = hostile.download("object", "4", &[]);
    outcome.fails(
        NETWORK_OR_SERVER,
        &[
            "asked for bytes ",
            "answered 200 with range (none) and length 13631493",
        ],
    );
    download.assert_nothing_written();
}

#[test]
fn a_whole_object_for_one_range_is_retried() {
    let hostile = Hostile::new("range-dropped-once");
    let data = hostile.seed("object");
    hostile.fault(ranged_get(), 1, without_range());
    let (outcome, download) = hostile.download("object", "4", &[]);
    outcome.succeeds();
    download.assert_identical(&data);
}

// 6. Listings that never end.

/// A listing page of one key under `p/` whose next page is `token`.
fn truncated_page(token: &str, keys: &[&str]) -> String {
    let contents: String = keys
        .iter()
        .map(|key| {
            format!(
                "<Contents><Key>{key}</Key><Size>1</Size>\
                 <LastModified>2026-12-01T00:00:00.000Z</LastModified></Contents>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Prefix>p/</Prefix>\
         <IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>\
         {contents}</ListBucketResult>"
    )
}

#[test]
fn the_same_continuation_token_on_every_page_fails_ls() {
    let hostile = Hostile::new("token-same");
    hostile.fault(
        listing(),
        ALWAYS,
        forge(200, &[], truncated_page("again", &["p/a"])),
    );
    let outcome = hostile.s3mt(&["ls", &hostile.prefix()]);
    outcome.fails(
        NETWORK_OR_SERVER,
        &["repeats an earlier continuation marker"],
    );
    assert!(
        outcome.stdout.is_empty(),
        "a listing that failed: {}",
        outcome.stdout
    );
    let asked = hostile.proxy.requests().len();
    assert_eq!(asked, 2, "the first page, and the one it pointed to again");
}

/// Found here: empty pages, each saying more follow with a new token, were followed forever.
/// A thousand in a row now end the listing (`paginate::MAX_EMPTY_PAGES`).
#[test]
fn endless_empty_pages_fail_ls() {
    let hostile = Hostile::new("token-endless");
    hostile.fault(
        listing(),
        ALWAYS,
        forge(200, &[], truncated_page("t{n}", &[])),
    );
    hostile
        .s3mt(&["ls", &hostile.prefix()])
        .fails(NETWORK_OR_SERVER, &["1000 empty pages in a row"]);
    assert_eq!(hostile.proxy.requests().len(), 1000);
}

// 7. Replies of 10 MiB.

/// Resident memory a run may reach: s3mt's own (about 10 MiB in a debug build) and at most
/// one XML reply of 16 MiB being read (measured: 26 MiB at most), with room. The 48 MiB reply
/// below, read whole, would pass it.
const MAX_PEAK_KIB: u64 = 40 * 1024;

#[test]
fn a_10_mib_error_reply_gives_a_short_message() {
    let hostile = Hostile::new("big-error");
    let mut body = b"<Error><Code>InternalError</Code><Message>".to_vec();
    body.resize(10 * MIB, b'x');
    body.extend_from_slice(b"</Message></Error>");
    hostile.fault(listing(), ALWAYS, forge(500, &[], body));
    let outcome = hostile.s3mt(&["ls", &hostile.prefix()]);
    outcome.fails(NETWORK_OR_SERVER, &["HTTP 500"]);
    assert!(outcome.stderr.len() < 1024, "{}", outcome.stderr);
    assert!(outcome.peak_kib < MAX_PEAK_KIB, "{} KiB", outcome.peak_kib);
}

#[test]
fn a_10_mib_listing_is_refused_as_malformed() {
    let hostile = Hostile::new("big-listing");
    let mut body = b"<ListBucketResult><Contents><Key>".to_vec();
    body.resize(10 * MIB, b'k');
    hostile.fault(listing(), ALWAYS, forge(200, &[], body));
    let outcome = hostile.s3mt(&["ls", &hostile.prefix()]);
    outcome.fails(NETWORK_OR_SERVER, &["malformed XML"]);
    assert!(outcome.stderr.len() < 1024, "{}", outcome.stderr);
    assert!(outcome.peak_kib < MAX_PEAK_KIB, "{} KiB", outcome.peak_kib);
}

#[test]
fn a_listing_over_the_xml_limit_is_not_read() {
    let hostile = Hostile::new("huge-listing");
    let body = vec![b' '; 48 * MIB];
    hostile.fault(listing(), ALWAYS, forge(200, &[], body));
    let outcome = hostile.s3mt(&["ls", &hostile.prefix()]);
    outcome.fails(NETWORK_OR_SERVER, &["longer than the 16 MiB s3mt reads"]);
    assert!(outcome.peak_kib < MAX_PEAK_KIB, "{} KiB", outcome.peak_kib);
}

// 8. A record whose sizes do not add up.

/// s3mt's record on the HEAD reply says 5 parts of 5 MiB for a 13 MiB object.
const BAD_RECORD: &str =
    "v1 part-size=5242880 parts=5 crc64nvme=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A record is input from whoever wrote the object: one that cannot describe it is ignored
/// with a notice naming why (README, Integrity), and the object's own integrity data is used.
#[test]
fn a_record_whose_parts_do_not_add_up_is_ignored_with_a_notice() {
    let hostile = Hostile::new("record-sizes");
    let data = hostile.seed("object");
    hostile.fault(
        head(),
        ALWAYS,
        rewrite("x-amz-meta-s3mt-sha256", BAD_RECORD),
    );
    let (outcome, download) = hostile.download("object", "4", &["--verify", "require"]);
    outcome.succeeds();
    assert!(
        outcome.stderr.contains("record on the object is ignored")
            && outcome
                .stderr
                .contains("do not add up to the object's 13631493 bytes"),
        "{}",
        outcome.stderr
    );
    download.assert_identical(&data);
}

/// The same record on a HEAD that carries nothing else to verify with (no checksum, a
/// multipart ETag): under
/// `--verify require`, an integrity failure before anything is written.
#[test]
fn a_record_whose_parts_do_not_add_up_and_nothing_else_fails_verification() {
    let hostile = Hostile::new("record-only");
    hostile.seed("object");
    let size = SIZE.to_string();
    hostile.fault(
        head(),
        ALWAYS,
        forge(
            200,
            &[
                ("Content-Length", size.as_str()),
                // A multipart ETag: no MD5 to check either.
                ("ETag", "\"0123456789abcdef0123456789abcdef-3\""),
                ("x-amz-meta-s3mt-sha256", BAD_RECORD),
            ],
            "",
        ),
    );
    let (outcome, download) = hostile.download("object", "4", &["--verify", "require"]);
    outcome.fails(
        INTEGRITY,
        &[
            "do not add up",
            "carries no integrity data",
            "verification is required",
        ],
    );
    download.assert_nothing_written();
    let gets = hostile
        .proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 0, "nothing fetched");
}

// 9. Control characters in headers.

fn control_character_in(header: &str, value: &str) {
    let hostile = Hostile::new("control-chars");
    hostile.seed("object");
    hostile.fault(head(), ALWAYS, rewrite(header, value));
    let (outcome, download) = hostile.download("object", "4", &[]);
    outcome.fails(NETWORK_OR_SERVER, &["reply is not valid HTTP/1.1"]);
    download.assert_nothing_written();
}

#[test]
fn a_control_character_in_an_etag_fails_the_download() {
    control_character_in("ETag", "\"0123\x01abcd\"");
}

#[test]
fn a_delete_character_in_last_modified_fails_the_download() {
    control_character_in("Last-Modified", "Tue, 01 Dec 2026 00:00:00\x7f GMT");
}

#[test]
fn a_bare_carriage_return_in_content_length_fails_the_download() {
    control_character_in("Content-Length", "13631493\r1");
}
