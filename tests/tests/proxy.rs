//! The fault-injecting proxy against the real server, driven by the s3mt engine: each fault is
//! really injected, and the engine's retries get the transfer through (or not) as expected.

use std::io::ErrorKind as IoErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use s3mt_engine::{Client, ConfigBuilder, ErrorKind, Event, S3Uri, TransferOptions};
use s3mt_tests::fixture::{TestBucket, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, RequestRecord, Rule};

const MIB: usize = 1024 * 1024;
/// Three parts (5 + 5 + 2 MiB) with the fixture's 5 MiB parts.
const SIZE: usize = 12 * MIB;
const PART: usize = 5 * MIB;

/// A bucket, a proxy in front of its server, and a 12 MiB source file.
struct Setup {
    bucket: TestBucket,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    source: PathBuf,
    data: Vec<u8>,
}

impl Setup {
    fn new(label: &str) -> Self {
        let bucket = TestBucket::new(label);
        let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
        let dir = tempfile::tempdir().expect("temp dir");
        let source = dir.path().join("source");
        let data = write_random_file(&source, SIZE, label.len() as u64);
        Self {
            bucket,
            proxy,
            dir,
            source,
            data,
        }
    }

    /// The fixture's config (5 MiB parts, quick retries) pointed at the proxy.
    fn config(&self) -> ConfigBuilder {
        self.bucket.config().endpoint(self.proxy.endpoint())
    }

    /// A client going through the proxy.
    fn via_proxy(&self, concurrency: usize) -> Client {
        Client::new(
            self.config()
                .concurrency(concurrency)
                .build()
                .expect("config"),
        )
        .expect("client")
    }

    /// Uploads the source straight to the server (not through the proxy).
    fn seed(&self, key: &str) -> S3Uri {
        let object = self.bucket.uri(key);
        self.bucket
            .client(4)
            .upload_file(&self.source, &object)
            .expect("seed upload");
        object
    }

    /// Downloads `object` straight from the server.
    fn fetch(&self, object: &S3Uri) -> Vec<u8> {
        let path = self.path("direct-copy");
        self.bucket
            .client(4)
            .download_file(object, &path)
            .expect("direct download");
        std::fs::read(path).expect("read the direct copy")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The recorded requests with `method` and the query parameter `parameter`.
    fn requests(&self, method: &str, parameter: &str) -> Vec<RequestRecord> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == method && (parameter.is_empty() || r.has_query(parameter)))
            .collect()
    }

    /// The recorded GETs (ranged downloads).
    fn gets(&self) -> Vec<RequestRecord> {
        self.requests("GET", "")
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the downloaded file")
}

/// Asserts two byte strings are equal without printing megabytes.
#[track_caller]
fn assert_same(actual: &[u8], expected: &[u8], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    if let Some(at) = actual.iter().zip(expected).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {at}");
    }
}

fn faulted(records: &[RequestRecord]) -> usize {
    records.iter().filter(|r| r.fault.is_some()).count()
}

#[test]
fn pass_through_round_trip_is_byte_identical() {
    let setup = Setup::new("proxy-pass");
    let object = setup.bucket.uri("pass");
    let client = setup.via_proxy(4);
    let up = client.upload_file(&setup.source, &object).expect("upload");
    assert_eq!(up.parts, 3);
    let copy = setup.path("copy");
    client.download_file(&object, &copy).expect("download");
    assert_same(&read(&copy), &setup.data, "round trip through the proxy");

    let puts = setup.requests("PUT", "partNumber=");
    assert_eq!(puts.len(), 3, "{puts:#?}");
    let mut lengths: Vec<_> = puts.iter().map(|r| r.content_length).collect();
    lengths.sort();
    let expected = [Some(2 * MIB as u64), Some(PART as u64), Some(PART as u64)];
    assert_eq!(lengths, expected);
    assert!(puts.iter().all(|r| !r.chunked && r.fault.is_none()));
    assert_eq!(setup.requests("POST", "uploads").len(), 1);
    assert_eq!(setup.requests("POST", "uploadId=").len(), 1);
    let gets = setup.gets();
    assert_eq!(gets.len(), 3);
    assert!(gets.iter().all(|r| r.header("range").is_some()));
    assert!(gets.iter().all(|r| r.status == Some(206)), "{gets:#?}");
    assert!(puts.iter().all(|r| r.status == Some(200)), "{puts:#?}");
    for record in setup.proxy.requests() {
        assert!(
            !record.query.contains("X-Amz-Signature=") || record.query.contains("=REDACTED"),
            "signature not redacted: {}",
            record.query
        );
    }
}

#[test]
fn slow_down_twice_on_part_one_is_retried() {
    let setup = Setup::new("proxy-slowdown");
    let part_one = Match::method("PUT").query("partNumber=1");
    setup.proxy.add(Rule::new(
        part_one,
        2,
        Fault::Respond {
            status: 503,
            code: "SlowDown",
        },
    ));
    let object = setup.bucket.uri("slow");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("upload succeeds after two SlowDowns");

    let part_one = setup.requests("PUT", "partNumber=1");
    assert_eq!(part_one.len(), 3, "{part_one:#?}");
    assert_eq!(faulted(&part_one), 2);
    assert!(
        part_one[2].fault.is_none(),
        "the third attempt went through"
    );
    let statuses: Vec<_> = part_one.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    assert_eq!(setup.requests("PUT", "partNumber=2").len(), 1);
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

/// A plain `GET path` with `Connection: close` to `authority`: the response head and body.
fn raw_get(authority: &str, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};

    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    (head, response[split + 4..].to_vec())
}

/// The value of header `name` in a response head.
fn head_value<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

#[test]
fn flipped_response_byte_changes_exactly_one_byte() {
    // An anonymous GET needs no signature: the server answers 403 with an XML body that
    // differs between requests only by its request id (also sent as a header).
    let setup = Setup::new("proxy-flip-raw");
    let path = format!("/{}/missing-key", setup.bucket.name());
    let offset = 60;
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::FlipResponseByte { offset },
    ));
    let proxy = format!("127.0.0.1:{}", setup.proxy.port());
    let server = setup
        .bucket
        .server()
        .endpoint()
        .trim_start_matches("http://");
    let (proxied_head, proxied) = raw_get(&proxy, &path);
    let (direct_head, direct) = raw_get(server, &path);
    assert!(proxied_head.starts_with("HTTP/1.1 403"), "{proxied_head}");

    let id = |head: &str| head_value(head, "x-amz-request-id").to_owned();
    let expected = String::from_utf8(direct)
        .expect("an XML body")
        .replace(&id(&direct_head), &id(&proxied_head))
        .into_bytes();
    assert_eq!(proxied.len(), expected.len());
    let differences: Vec<usize> = (0..proxied.len())
        .filter(|&i| proxied[i] != expected[i])
        .collect();
    assert_eq!(
        differences,
        [offset],
        "exactly the byte at {offset} differs"
    );
    assert_eq!(proxied[offset], expected[offset] ^ 0x01);
    assert_eq!(faulted(&setup.proxy.requests()), 1);
}

#[test]
fn flipped_response_byte_is_caught_by_download_verification() {
    let setup = Setup::new("proxy-flip-get");
    let object = setup.seed("flip");
    setup.proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::FlipResponseByte { offset: 1000 },
    ));
    let (sender, events) = crossbeam_channel::unbounded();
    let copy = setup.path("copy");
    setup
        .via_proxy(2)
        .download_file_with(&object, &copy, &TransferOptions::default().progress(sender))
        .expect("download succeeds after fetching again");
    assert_same(&read(&copy), &setup.data, "download after a flipped byte");

    let gets = setup.gets();
    assert_eq!(faulted(&gets), 1);
    assert_eq!(gets.len(), 6, "every range fetched twice: {gets:#?}");
    let mismatch = events.try_iter().find_map(|event| match event {
        Event::Retry { reason, .. } if reason.contains("checksum") => Some(reason),
        _ => None,
    });
    assert!(mismatch.is_some(), "the mismatch was reported as a retry");
}

#[test]
fn flipped_response_bytes_on_every_get_fail_the_download() {
    let setup = Setup::new("proxy-flip-all");
    let object = setup.seed("flip");
    setup.proxy.add(Rule::new(
        Match::method("GET").header("range"),
        100,
        Fault::FlipResponseByte { offset: 7 },
    ));
    let copy = setup.path("copy");
    let err = setup
        .via_proxy(2)
        .download_file(&object, &copy)
        .expect_err("every copy is corrupt");
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(!copy.exists(), "nothing written");
    assert_eq!(setup.gets().len(), 6, "two rounds of three ranges");
}

#[test]
fn reset_during_response_body_is_retried() {
    let setup = Setup::new("proxy-reset-get");
    let object = setup.seed("reset");
    setup.proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::ResetDuringResponseBody { after: MIB },
    ));
    let copy = setup.path("copy");
    setup
        .via_proxy(2)
        .download_file(&object, &copy)
        .expect("download succeeds after the reset");
    assert_same(&read(&copy), &setup.data, "download after a reset");

    let gets = setup.gets();
    assert_eq!(gets.len(), 4, "3 ranges + 1 retry: {gets:#?}");
    let reset = gets.iter().find(|r| r.fault.is_some()).expect("reset GET");
    let retries = gets
        .iter()
        .filter(|r| r.header("range") == reset.header("range"))
        .count();
    assert_eq!(retries, 2, "the reset range was asked for again");
}

#[test]
fn reset_during_request_body_is_retried() {
    let setup = Setup::new("proxy-reset-put");
    setup.proxy.add(Rule::once(
        Match::method("PUT").query("partNumber=2"),
        Fault::ResetDuringRequestBody { after: MIB },
    ));
    let object = setup.bucket.uri("reset");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("upload succeeds after the reset");

    let part_two = setup.requests("PUT", "partNumber=2");
    assert_eq!(part_two.len(), 2, "{part_two:#?}");
    assert!(part_two[0].fault.is_some() && part_two[1].fault.is_none());
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

#[test]
fn refused_connections_are_accepted_again_after_the_window() {
    let setup = Setup::new("proxy-refuse");
    let address = format!("127.0.0.1:{}", setup.proxy.port());
    let started = Instant::now();
    setup.proxy.refuse_connections_for(Duration::from_secs(2));

    let refused = TcpStream::connect(&address).expect_err("connect during the window");
    assert_eq!(refused.kind(), IoErrorKind::ConnectionRefused, "{refused}");
    thread::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed()));
    let refused = TcpStream::connect(&address).expect_err("connect 1.5 s into the window");
    assert_eq!(refused.kind(), IoErrorKind::ConnectionRefused, "{refused}");
    thread::sleep(Duration::from_millis(2500).saturating_sub(started.elapsed()));
    TcpStream::connect(&address).expect("connect after the window");

    // And it proxies again.
    let object = setup.bucket.uri("after");
    setup
        .via_proxy(2)
        .upload_file(&setup.source, &object)
        .expect("upload after the window");
}

#[test]
fn refused_connections_outlast_quick_retries() {
    let setup = Setup::new("proxy-refuse-engine");
    let object = setup.seed("refused");
    setup.proxy.refuse_connections_for(Duration::from_secs(2));
    let client =
        Client::new(setup.config().max_attempts(3).build().expect("config")).expect("client");
    let err = client
        .download_file(&object, &setup.path("copy"))
        .expect_err("three quick attempts all hit the closed port");
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(setup.proxy.requests().is_empty());
}

#[test]
fn stalled_response_times_out_and_is_retried() {
    let setup = Setup::new("proxy-stall");
    let object = setup.seed("stall");
    setup.proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::Stall {
            for_: Duration::from_secs(3),
        },
    ));
    let client = Client::new(
        setup
            .config()
            .concurrency(2)
            .io_timeout(Duration::from_secs(1))
            .build()
            .expect("config"),
    )
    .expect("client");
    let copy = setup.path("copy");
    let started = Instant::now();
    client
        .download_file(&object, &copy)
        .expect("download succeeds after the stall");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "the stall was cut short by the timeout: {elapsed:?}"
    );
    assert_same(&read(&copy), &setup.data, "download after a stall");
    let gets = setup.gets();
    assert_eq!(gets.len(), 4);
    let unanswered: Vec<_> = gets.iter().filter(|r| r.status.is_none()).collect();
    assert_eq!(
        unanswered.len(),
        1,
        "only the stalled GET got no reply: {gets:#?}"
    );
    assert!(unanswered[0].fault.is_some());
}

#[test]
fn short_body_is_retried() {
    let setup = Setup::new("proxy-short");
    let object = setup.seed("short");
    setup.proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::ShortBody { missing: 10 },
    ));
    let copy = setup.path("copy");
    setup
        .via_proxy(2)
        .download_file(&object, &copy)
        .expect("download succeeds after a short body");
    assert_same(&read(&copy), &setup.data, "download after a short body");
    assert_eq!(setup.gets().len(), 4);
}

#[test]
fn empty_ok_to_a_ranged_get_is_retried() {
    let setup = Setup::new("proxy-empty-ok");
    let object = setup.seed("empty");
    setup.proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::EmptyOk,
    ));
    setup.proxy.add(Rule::once(
        Match::method("HEAD"),
        Fault::Respond {
            status: 500,
            code: "InternalError",
        },
    ));
    let copy = setup.path("copy");
    setup
        .via_proxy(2)
        .download_file(&object, &copy)
        .expect("download succeeds after an empty 200 and a 500");
    assert_same(&read(&copy), &setup.data, "download after an empty 200");
    assert_eq!(setup.gets().len(), 4);
    assert_eq!(setup.requests("HEAD", "").len(), 2);
}

#[test]
fn ok_with_error_body_on_complete_is_retried() {
    let setup = Setup::new("proxy-complete-error");
    setup.proxy.add(Rule::once(
        Match::method("POST").query("uploadId="),
        Fault::OkWithErrorBody {
            code: "InternalError",
        },
    ));
    let object = setup.bucket.uri("complete");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("upload succeeds after a 200 with an error body");
    let completes = setup.requests("POST", "uploadId=");
    assert_eq!(completes.len(), 2, "{completes:#?}");
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

#[test]
fn complete_failing_past_its_retries_restarts_the_upload_once() {
    let setup = Setup::new("proxy-complete-restart");
    // The fixture config allows 5 attempts per request: every Complete of the first upload fails.
    setup.proxy.add(Rule::new(
        Match::method("POST").query("uploadId="),
        5,
        Fault::OkWithErrorBody {
            code: "InternalError",
        },
    ));
    let object = setup.bucket.uri("restarted");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("the restarted upload succeeds");
    assert_eq!(setup.requests("POST", "uploads").len(), 2, "created twice");
    assert_eq!(
        setup.requests("DELETE", "uploadId=").len(),
        1,
        "the first was aborted"
    );
    assert_eq!(setup.requests("POST", "uploadId=").len(), 6);
    assert!(setup.bucket.open_uploads().is_empty());
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

#[test]
fn an_upload_the_server_dropped_is_restarted_once() {
    let setup = Setup::new("proxy-no-such-upload");
    // As rclone's server does after a rejected Complete: the upload is gone.
    setup.proxy.add(Rule::once(
        Match::method("PUT").query("partNumber=2"),
        Fault::Respond {
            status: 404,
            code: "NoSuchUpload",
        },
    ));
    let object = setup.bucket.uri("dropped");
    setup
        .via_proxy(1)
        .upload_file(&setup.source, &object)
        .expect("the restarted upload succeeds");
    assert_eq!(setup.requests("POST", "uploads").len(), 2, "created twice");
    assert!(setup.bucket.open_uploads().is_empty());
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

#[test]
fn persistent_slow_down_fails_the_upload_and_aborts_it() {
    let setup = Setup::new("proxy-give-up");
    setup.proxy.add(Rule::new(
        Match::method("PUT").query("partNumber=2"),
        100,
        Fault::Respond {
            status: 503,
            code: "SlowDown",
        },
    ));
    let client = Client::new(
        setup
            .config()
            .concurrency(3)
            .max_attempts(3)
            .build()
            .expect("config"),
    )
    .expect("client");
    let err = client
        .upload_file(&setup.source, &setup.bucket.uri("never"))
        .expect_err("part 2 never gets through");
    assert_eq!(err.kind(), ErrorKind::ServerBusy, "{err}");
    assert_eq!(setup.requests("PUT", "partNumber=2").len(), 3);
    assert_eq!(setup.requests("DELETE", "uploadId=").len(), 1, "aborted");
    assert!(setup.bucket.open_uploads().is_empty());
}

#[test]
fn flipped_request_byte_is_refused_by_the_server_and_retried() {
    let setup = Setup::new("proxy-flip-put");
    setup.proxy.add(Rule::once(
        Match::method("PUT").query("partNumber=2"),
        Fault::FlipRequestByte { offset: 12_345 },
    ));
    let object = setup.bucket.uri("flip");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("upload succeeds after the corrupted part is sent again");

    // The part carries its checksum (CRC-64/NVME, the default): the server refuses the
    // corrupted body, the retry is clean.
    let part_two = setup.requests("PUT", "partNumber=2");
    assert_eq!(part_two.len(), 2, "{part_two:#?}");
    assert!(part_two[0].fault.is_some() && part_two[1].fault.is_none());
    assert!(part_two[0].header("x-amz-checksum-crc64nvme").is_some());
    assert_same(&setup.fetch(&object), &setup.data, "uploaded object");
}

/// Sends `request` to the proxy and reads until the connection ends: what arrived, and how the
/// connection ended.
fn raw_exchange(proxy: &FaultProxy, request: &[u8]) -> (Vec<u8>, std::io::Result<usize>) {
    use std::io::{Read, Write};

    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request).expect("send the request");
    let mut received = Vec::new();
    let end = stream.read_to_end(&mut received);
    (received, end)
}

#[test]
fn resets_are_real_tcp_resets() {
    let setup = Setup::new("proxy-rst");
    let path = format!("/{}/missing-key", setup.bucket.name());
    setup.proxy.add(Rule::once(
        Match::method("PUT"),
        Fault::ResetDuringRequestBody { after: 5 },
    ));
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::ResetDuringResponseBody { after: 10 },
    ));

    let put = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    let (received, end) = raw_exchange(&setup.proxy, put.as_bytes());
    assert!(received.is_empty());
    let err = end.expect_err("the connection is reset");
    assert_eq!(err.kind(), IoErrorKind::ConnectionReset, "{err}");

    let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (received, end) = raw_exchange(&setup.proxy, get.as_bytes());
    let err = end.expect_err("the connection is reset");
    assert_eq!(err.kind(), IoErrorKind::ConnectionReset, "{err}");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 403"),
        "{text}"
    );
}

#[test]
fn lost_create_reply_leaves_no_open_upload() {
    let setup = Setup::new("proxy-lost-create");
    setup.proxy.add(Rule::once(
        Match::method("POST").query("uploads"),
        Fault::ResetDuringResponseBody { after: 0 },
    ));
    let object = setup.bucket.uri("orphan");
    setup
        .via_proxy(3)
        .upload_file(&setup.source, &object)
        .expect("upload succeeds after the lost reply");
    assert_eq!(setup.requests("POST", "uploads").len(), 2);
    let open = setup.bucket.open_uploads();
    assert!(open.is_empty(), "orphaned multipart uploads: {open:?}");
}

#[test]
fn drop_ends_stalled_connections_promptly() {
    use std::io::{Read, Write};

    let setup = Setup::new("proxy-drop");
    setup.proxy.add(Rule::once(
        Match::any(),
        Fault::Stall {
            for_: Duration::from_secs(30),
        },
    ));
    let mut stream = TcpStream::connect(format!("127.0.0.1:{}", setup.proxy.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while setup.proxy.requests().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(setup.proxy.requests().len(), 1);

    let Setup { proxy, .. } = setup;
    let started = Instant::now();
    drop(proxy);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the stalled request got no answer");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the client was released"
    );
}

#[test]
fn forged_replies_are_sent_verbatim_numbered_and_then_closed() {
    let setup = Setup::new("proxy-forge");
    let lying = Fault::Forge {
        status: 206,
        headers: vec![
            ("Content-Length".into(), "100".into()),
            ("Content-Range".into(), "bytes 0-9/10".into()),
            ("X-Odd".into(), "a\x01b\x7f".into()),
        ],
        body: b"short{n}".to_vec(),
    };
    setup.proxy.add(Rule::new(Match::method("GET"), 2, lying));
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::Forge {
            status: 500,
            headers: vec![],
            body: b"{n}{n}".to_vec(),
        },
    ));
    let get = format!("GET /{}/k HTTP/1.1\r\nHost: x\r\n\r\n", setup.bucket.name());
    for n in 0..2 {
        // No `Connection: close` asked: the proxy closes after a forged reply, and says so.
        let (received, end) = raw_exchange(&setup.proxy, get.as_bytes());
        end.expect("closed, not reset");
        let expected = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\nContent-Range: bytes 0-9/10\r\n\
             X-Odd: a\x01b\x7f\r\nConnection: close\r\n\r\nshort{n}"
        );
        assert_eq!(String::from_utf8_lossy(&received), expected);
    }
    // Without a length among its headers, a forged reply gets its body's.
    let (received, _) = raw_exchange(&setup.proxy, get.as_bytes());
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    assert!(
        text.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n00"),
        "{text}"
    );
    let records = setup.proxy.requests();
    assert_eq!(faulted(&records), 3);
    // The fault as applied: "short0".
    assert_eq!(
        records[0].fault.as_deref(),
        Some(
            "Forge { status: 206, headers: [(\"Content-Length\", \"100\"), (\"Content-Range\", \
             \"bytes 0-9/10\"), (\"X-Odd\", \"a\\u{1}b\\u{7f}\")], body: 6 bytes }"
        )
    );
    assert_eq!(records[0].status, Some(206));
}

#[test]
fn rewritten_response_headers_replace_the_servers_and_close() {
    let setup = Setup::new("proxy-rewrite");
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::RewriteResponseHeader {
            name: "date".into(),
            value: Some("forged\x01".into()),
        },
    ));
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::RewriteResponseHeader {
            name: "date".into(),
            value: None,
        },
    ));
    let get = format!("GET /{}/k HTTP/1.1\r\nHost: x\r\n\r\n", setup.bucket.name());
    let (received, end) = raw_exchange(&setup.proxy, get.as_bytes());
    end.expect("closed, not reset");
    let text = String::from_utf8_lossy(&received);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    // Unsigned: refused (403), or on a server that checks nothing, not found (404).
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    let dates: Vec<&str> = head
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("date:"))
        .collect();
    assert_eq!(dates, ["date: forged\x01"], "{head}");
    let length: usize = head_value(head, "content-length").parse().unwrap();
    assert_eq!(body.len(), length, "the server's body, whole");

    let (received, end) = raw_exchange(&setup.proxy, get.as_bytes());
    end.expect("closed, not reset");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("\r\ndate:"), "{text}");
}

#[test]
fn a_dropped_range_header_gets_the_whole_object() {
    let setup = Setup::new("proxy-drop-range");
    let object = setup.seed("ranged");
    let url = setup
        .via_proxy(1)
        .presign(
            &object,
            s3mt_engine::PresignMethod::Get,
            Duration::from_secs(600),
        )
        .expect("presign");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = || {
        let mut response = agent
            .get(&url)
            .header("range", "bytes=0-9")
            .call()
            .expect("GET");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(2 * SIZE as u64)
            .read_to_vec()
            .expect("body");
        (status, body)
    };
    let (status, body) = get();
    assert!(status == 206 || status == 200, "{status}");
    assert_eq!(body, setup.data[..10]);
    setup.proxy.add(Rule::once(
        Match::method("GET"),
        Fault::DropRequestHeader {
            name: "Range".into(),
        },
    ));
    let (status, body) = get();
    assert_eq!(status, 200);
    assert_same(&body, &setup.data, "the whole object");
    let records = setup.proxy.requests();
    assert_eq!(faulted(&records), 1);
    assert_eq!(
        records[1].header("range"),
        Some("bytes=0-9"),
        "as the client sent it"
    );
}
