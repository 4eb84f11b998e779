//! Server-side copies (`s3mt cp s3://a/x s3://b/y`) through the binary: below and above the
//! multipart threshold (a small threshold, so a few MiB cross it), across buckets, with the
//! metadata directives, a source replaced mid-copy, and a fault on one part copy. The bytes
//! never pass through s3mt: the proxy sees no GET of them.

use std::time::Duration;

use s3mt_tests::fixture::{TestBucket, run, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use crate::{MIB, cp_command};

/// The value of header `name` in a HEAD's headers.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(header, _)| header == name)
        .map(|(_, value)| value.as_str())
}

/// Uploads `len` random bytes as `key` with a content type and user metadata; returns them.
fn source(bucket: &TestBucket, key: &str, len: usize, seed: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source");
    let data = write_random_file(&file, len, seed);
    let object = format!("s3://{}/{key}", bucket.name());
    let (output, _, stderr) = run(&mut cp_command(
        bucket,
        None,
        [file.to_str().unwrap(), &object],
        &[
            "--content-type",
            "text/x-s3mt",
            "--metadata",
            "owner=copy-test",
        ],
    ));
    assert!(output.status.success(), "{stderr}");
    data
}

/// The bytes of `key` in `bucket`, downloaded by s3mt.
fn read(bucket: &TestBucket, key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    bucket
        .client(4)
        .download_file(&bucket.uri(key), &copy)
        .unwrap();
    std::fs::read(copy).unwrap()
}

#[test]
fn copies_below_and_above_the_threshold_keep_the_metadata_and_never_move_the_bytes() {
    let from = TestBucket::new("copy-from");
    let to = TestBucket::new("copy-to");
    let kind = to.server().kind();
    let proxy = FaultProxy::start(to.server().endpoint()).unwrap();
    for (key, len, parts) in [("small", 3 * MIB + 1, 1), ("large", 12 * MIB + 3, 3)] {
        let data = source(&from, key, len, 61);
        let (output, _, stderr) = run(&mut cp_command(
            &to,
            Some(&proxy.endpoint()),
            [
                &format!("s3://{}/{key}", from.name()),
                &format!("s3://{}/copies/", to.name()),
            ],
            &[],
        ));
        let Some(verified_by) = kind.copy_verified_by(parts > 1) else {
            // A server that copies no parts: a clear failure, nothing left behind.
            assert_eq!(output.status.code(), Some(7), "{key}: {stderr}");
            assert!(stderr.contains("does not copy parts"), "{stderr}");
            assert!(to.open_uploads().is_empty());
            continue;
        };
        assert!(output.status.success(), "{key}: {stderr}");
        assert!(stderr.contains("copy: s3://"), "{stderr}");
        // The copy's checksum, computed by the server over what it wrote, matches the source's.
        assert!(stderr.contains(verified_by), "{key}: {stderr}");
        let copied = format!("copies/{key}");
        assert!(read(&to, &copied) == data, "{key}: other bytes");
        let (status, head) = to.head_object(&copied);
        assert_eq!(status, 200, "{key}: the copy");
        assert_eq!(header(&head, "content-type"), Some("text/x-s3mt"), "{key}");
        assert_eq!(
            header(&head, "x-amz-meta-owner"),
            Some("copy-test"),
            "{key}"
        );
        let requests = proxy.requests();
        let copies: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with(&copied))
            .collect();
        assert_eq!(copies.len(), parts, "{key}: {copies:#?}");
        assert!(
            copies
                .iter()
                .all(|r| r.header("x-amz-copy-source").is_some()
                    && r.content_length.unwrap_or(0) == 0),
            "{key}: copies carry no body"
        );
        assert!(
            !requests
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with(key)),
            "{key}: the bytes passed through s3mt"
        );
    }
    assert!(to.open_uploads().is_empty());
}

#[test]
fn replace_takes_only_what_is_given_and_keeps_the_record() {
    let bucket = TestBucket::new("copy-replace");
    let data = source(&bucket, "src", 2 * MIB, 62);
    let (output, _, stderr) = run(&mut cp_command(
        &bucket,
        None,
        [
            &format!("s3://{}/src", bucket.name()),
            &format!("s3://{}/dst.json", bucket.name()),
        ],
        &["--metadata-directive", "REPLACE", "--metadata", "stage=two"],
    ));
    assert!(output.status.success(), "{stderr}");
    let (status, head) = bucket.head_object("dst.json");
    assert_eq!(status, 200, "the copy");
    if bucket.server().kind().honours_metadata_directive() {
        assert_eq!(header(&head, "content-type"), Some("application/json"));
        assert_eq!(header(&head, "x-amz-meta-stage"), Some("two"));
        assert_eq!(header(&head, "x-amz-meta-owner"), None);
    }
    assert!(
        header(&head, "x-amz-meta-s3mt-sha256").is_some(),
        "{head:?}"
    );
    assert!(read(&bucket, "dst.json") == data);
    let (output, _, stderr) = run(&mut cp_command(
        &bucket,
        None,
        [
            &format!("s3://{}/src", bucket.name()),
            &format!("s3://{}/x", bucket.name()),
        ],
        &["--metadata-directive", "MOVE"],
    ));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

#[test]
fn a_source_replaced_mid_copy_fails_as_changed_and_the_upload_is_aborted() {
    let bucket = TestBucket::new("copy-changed");
    source(&bucket, "src", 16 * MIB, 63);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    // Part copies are held while the source is replaced under them.
    proxy.add(Rule::new(
        Match::method("PUT").header("x-amz-copy-source-range"),
        usize::MAX,
        Fault::Delay {
            for_: Duration::from_millis(400),
        },
    ));
    let mut command = bucket.s3mt();
    command
        .args(["--endpoint-url", &proxy.endpoint(), "cp"])
        .arg(format!("s3://{}/src", bucket.name()))
        .arg(format!("s3://{}/dst", bucket.name()))
        .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
        .args(["--concurrency", "1"]);
    let child = std::thread::spawn(move || run(&mut command));
    std::thread::sleep(Duration::from_millis(200));
    bucket.put_foreign_object("src", b"replaced while it was being copied");
    let (output, _, stderr) = child.join().unwrap();
    let kind = bucket.server().kind();
    if kind.copy_verified_by(true).is_none() {
        assert_eq!(output.status.code(), Some(7), "no part copies: {stderr}");
    } else if kind.honours_copy_conditions() {
        assert_eq!(output.status.code(), Some(6), "{stderr}");
        assert!(stderr.contains("changed during the copy"), "{stderr}");
    } else {
        // The server copied parts of the new source: what it refuses is the copy as a whole.
        assert!(!output.status.success(), "{stderr}");
    }
    assert!(stderr.contains("aborted"), "{stderr}");
    assert!(bucket.open_uploads().is_empty());
    assert_eq!(bucket.head_object("dst").0, 404);
}

#[test]
fn a_part_copy_refused_once_is_retried() {
    let bucket = TestBucket::new("copy-retry");
    let data = source(&bucket, "src", 11 * MIB, 64);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::once(
        Match::method("PUT").header("x-amz-copy-source-range"),
        Fault::Respond {
            status: 503,
            code: "SlowDown",
        },
    ));
    let (output, _, stderr) = run(&mut cp_command(
        &bucket,
        Some(&proxy.endpoint()),
        [
            &format!("s3://{}/src", bucket.name()),
            &format!("s3://{}/dst", bucket.name()),
        ],
        &[],
    ));
    if bucket.server().kind().copy_verified_by(true).is_none() {
        assert_eq!(output.status.code(), Some(7), "no part copies: {stderr}");
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let statuses: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.header("x-amz-copy-source-range").is_some())
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == Some(503)).count(),
        1,
        "{statuses:?}"
    );
    assert!(read(&bucket, "dst") == data);
}

#[test]
fn mv_removes_the_source_only_after_a_verified_copy_in_every_direction() {
    let bucket = TestBucket::new("mv-directions");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.bin");
    let data = write_random_file(&file, 7 * MIB, 65);
    let object = format!("s3://{}/inbox/report.bin", bucket.name());
    // In parts where the server copies parts, else in one CopyObject.
    let threshold = match bucket.server().kind().copy_verified_by(true) {
        Some(_) => "5MiB",
        None => "16MiB",
    };
    let mv = |from: &str, to: &str, endpoint: Option<&str>| {
        let mut command = bucket.s3mt();
        if let Some(endpoint) = endpoint {
            command.args(["--endpoint-url", endpoint]);
        }
        command
            .args(["mv", from, to, "--part-size", "5MiB"])
            .args(["--multipart-threshold", threshold]);
        run(&mut command)
    };

    // Up: the file goes once the upload is complete.
    let (output, _, stderr) = mv(file.to_str().unwrap(), &object, None);
    assert!(output.status.success(), "{stderr}");
    assert!(!file.exists(), "the uploaded file was removed");
    assert!(read(&bucket, "inbox/report.bin") == data);

    // Inside S3, to another key: the source object goes once the copy matches it.
    let archived = format!("s3://{}/archive/report.bin", bucket.name());
    let (output, _, stderr) = mv(&object, &archived, None);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(bucket.head_object("inbox/report.bin").0, 404);

    // Down, through a proxy that corrupts every read: nothing is removed.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("GET").header("range"),
        usize::MAX,
        Fault::FlipResponseByte { offset: 100 },
    ));
    let local = dir.path().join("back.bin");
    let (output, _, stderr) = mv(&archived, local.to_str().unwrap(), Some(&proxy.endpoint()));
    assert_eq!(output.status.code(), Some(8), "{stderr}");
    assert!(!local.exists());
    assert_eq!(
        bucket.head_object("archive/report.bin").0,
        200,
        "the source stays"
    );

    // Down for real: the object goes once the file is complete and verified.
    let (output, _, stderr) = mv(&archived, local.to_str().unwrap(), None);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&local).unwrap(), data);
    assert_eq!(bucket.head_object("archive/report.bin").0, 404);
}

#[test]
fn mv_keeps_a_source_it_cannot_verify_the_copy_of() {
    let bucket = TestBucket::new("mv-unverified");
    // A multipart object written with no checksum: its ETag is no MD5 of the bytes (but on
    // rclone, where it is).
    let first = s3mt_tests::fixture::random_bytes(5 * MIB, 66);
    bucket.put_foreign_multipart("plain", &[&first, b"tail"]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("plain");
    let (output, _, stderr) = run(bucket
        .s3mt()
        .args(["mv", &format!("s3://{}/plain", bucket.name())])
        .arg(&local));
    if bucket.server().kind().etag_of_multipart_is_md5() {
        assert!(output.status.success(), "{stderr}");
        assert_eq!(bucket.head_object("plain").0, 404);
    } else {
        assert_eq!(output.status.code(), Some(8), "{stderr}");
        assert!(stderr.contains("the source was kept"), "{stderr}");
        assert_eq!(bucket.head_object("plain").0, 200);
        assert!(local.exists(), "the download itself is complete");
    }
}

#[test]
fn an_interrupted_multipart_copy_resumes_copying_only_the_missing_parts() {
    let bucket = TestBucket::new("copy-resume");
    if bucket.server().kind().copy_verified_by(true).is_none() {
        // rclone copies no parts: there is no multipart copy to resume.
        return;
    }
    // Four parts of 5 MiB; the third one's copy fails twice, all its attempts.
    let data = source(&bucket, "src", 16 * MIB + 3, 65);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("PUT")
            .header("x-amz-copy-source-range")
            .query("partNumber=3"),
        2,
        Fault::Respond {
            status: 500,
            code: "InternalError",
        },
    ));
    let copy = |args: &[&str]| {
        run(&mut cp_command(
            &bucket,
            Some(&proxy.endpoint()),
            [
                &format!("s3://{}/src", bucket.name()),
                &format!("s3://{}/dst", bucket.name()),
            ],
            args,
        ))
    };
    let (output, _, stderr) = copy(&["--max-attempts", "2"]);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the copy is kept to resume"), "{stderr}");
    assert_eq!(bucket.open_uploads().len(), 1, "{stderr}");
    assert_eq!(bucket.head_object("dst").0, 404);

    // The same command again: the parts the server holds are not copied again.
    let before = proxy.requests().len();
    let (output, _, stderr) = copy(&[]);
    assert!(output.status.success(), "{stderr}");
    let resumed: u64 = stderr
        .split("resuming the interrupted copy: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a resume notice: {stderr}"));
    assert!((1..4).contains(&resumed), "{stderr}");
    let copied = proxy.requests()[before..]
        .iter()
        .filter(|r| r.header("x-amz-copy-source-range").is_some())
        .count() as u64;
    assert_eq!(copied, 4 - resumed, "only the missing parts: {stderr}");
    assert!(bucket.open_uploads().is_empty());
    assert!(read(&bucket, "dst") == data);
}

/// A region no test server is in.
const OTHER_REGION: &str = "eu-south-2";

/// S3's refusal of a request signed for another region than its bucket's, naming the bucket's
/// region (`x-amz-bucket-region` and `<Region>`) or not.
fn wrong_region(region: Option<&str>) -> Fault {
    let named = region.map_or(String::new(), |region| format!("<Region>{region}</Region>"));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\
         AuthorizationQueryParametersError</Code><Message>Error parsing the X-Amz-Credential \
         parameter; the region is wrong</Message>{named}</Error>"
    );
    let mut headers = vec![("content-type".to_owned(), "application/xml".to_owned())];
    if let Some(region) = region {
        headers.push(("x-amz-bucket-region".into(), region.into()));
    }
    Fault::Forge {
        status: 400,
        headers,
        body: body.into_bytes(),
    }
}

/// A source bucket in another region, played by the proxy, which refuses every request to it
/// signed for another region, as S3 does (and every request to the destination signed for
/// another than the client's, naming none). A refusal that names no region fails the copy
/// with what to do; one that names it is followed: the run's first request to the bucket is
/// refused, and every later one, of every transfer of the run, is signed for its region.
/// With `--source-region` nothing is refused: every request to the source (its HEAD, the
/// listing of a sync, mv's delete) is signed for its region, every one to the destination for
/// the client's.
#[test]
fn a_source_in_another_region_is_followed_or_named_with_source_region() {
    let from = TestBucket::new("region-from");
    let to = TestBucket::new("region-to");
    let kind = to.server().kind();
    let proxy = FaultProxy::start(to.server().endpoint()).unwrap();
    let refuse = |named: Option<&str>| {
        proxy.clear();
        proxy.add(Rule::new(
            Match::bucket(from.name()).and_signed_outside(OTHER_REGION),
            usize::MAX,
            wrong_region(named),
        ));
        proxy.add(Rule::new(
            Match::bucket(to.name()).and_signed_outside(to.server().region()),
            usize::MAX,
            wrong_region(None),
        ));
    };
    let refused = || {
        let requests = proxy.requests();
        requests.iter().filter(|r| r.fault.is_some()).count()
    };
    // In parts where the server copies parts, else in one CopyObject.
    let threshold = match kind.copy_verified_by(true) {
        Some(_) => "5MiB",
        None => "16MiB",
    };
    let data = source(&from, "dir/big", 12 * MIB + 5, 67);
    let small = source(&from, "dir/small", 1000, 68);
    let copy = |verb: &str, from_key: &str, to_key: &str, extra: &[&str]| {
        let mut command = to.s3mt();
        command
            .args(["--endpoint-url", &proxy.endpoint(), verb])
            .arg(format!("s3://{}/{from_key}", from.name()))
            .arg(format!("s3://{}/{to_key}", to.name()))
            .args(["--part-size", "5MiB", "--multipart-threshold", threshold])
            .args(extra);
        run(&mut command)
    };

    // A HEAD's refusal has no body: unnamed, it is a bare 400; a listing's says what it is.
    refuse(None);
    let (output, _, stderr) = copy("cp", "dir/big", "big", &[]);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("HTTP 400"), "{stderr}");
    assert_eq!(to.head_object("big").0, 404, "nothing was copied");
    let (output, _, stderr) = copy("sync", "dir/", "synced/", &[]);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the bucket is in another region: ") && stderr.contains("--source-region"),
        "{stderr}"
    );
    assert_eq!(to.head_object("synced/big").0, 404, "nothing was copied");

    refuse(Some(OTHER_REGION));
    let before = refused();
    let (output, _, stderr) = copy("cp", "dir/big", "followed", &[]);
    assert!(output.status.success(), "{stderr}");
    assert!(read(&to, "followed") == data, "the copy has other bytes");
    assert_eq!(refused() - before, 1, "only the first request: {stderr}");
    let (output, _, stderr) = copy("sync", "dir/", "synced/", &[]);
    assert!(output.status.success(), "{stderr}");
    assert!(read(&to, "synced/small") == small);
    assert!(read(&to, "synced/big") == data);
    assert_eq!(
        refused() - before,
        2,
        "one more, the listing's first page: {stderr}"
    );
    // An upload into that bucket follows it too, its body sent again.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up");
    let up = write_random_file(&file, 3 * MIB, 69);
    let (output, _, stderr) = run(to
        .s3mt()
        .args([
            "--endpoint-url",
            &proxy.endpoint(),
            "cp",
            file.to_str().unwrap(),
        ])
        .arg(format!("s3://{}/uploaded", from.name())));
    assert!(output.status.success(), "{stderr}");
    assert!(read(&from, "uploaded") == up);
    assert_eq!(refused() - before, 3, "one more, the PutObject: {stderr}");

    let before = refused();
    let in_region = ["--source-region", OTHER_REGION];
    let (output, _, stderr) = copy("cp", "dir/big", "big", &in_region);
    assert!(output.status.success(), "{stderr}");
    assert!(read(&to, "big") == data, "the copy has other bytes");
    let (output, _, stderr) = copy("sync", "dir/", "synced-again/", &in_region);
    assert!(output.status.success(), "{stderr}");
    assert!(read(&to, "synced-again/small") == small);
    let (output, _, stderr) = copy("mv", "dir/small", "moved", &in_region);
    assert!(output.status.success(), "{stderr}");
    assert!(read(&to, "moved") == small);
    assert_eq!(from.head_object("dir/small").0, 404, "the source was moved");
    assert_eq!(
        refused(),
        before,
        "each request signed for its bucket's region"
    );
    assert!(to.open_uploads().is_empty());

    // A source that is no S3 location has no region to name.
    let file = dir.path().join("file");
    std::fs::write(&file, b"local").unwrap();
    let (output, _, stderr) = run(to
        .s3mt()
        .args(["cp", file.to_str().unwrap(), &to.uri("local").to_string()])
        .args(in_region));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--source-region applies to a copy between two S3 locations"));
    assert_eq!(to.head_object("local").0, 404);
}
