//! Object options on upload (`--storage-class`, `--content-type`, `--metadata`,
//! `--cache-control`, `--content-disposition`, `--sse`, `--no-overwrite`), checked on the
//! stored object with a HEAD.

use std::path::Path;

use s3mt_tests::fixture::{TestBucket, run, write_random_file};
use s3mt_tests::server::Sse;

use crate::{CP_ARGS, MIB};

/// A single-PUT size and a multipart size (3 parts of 5 MiB).
const SIZES: [usize; 2] = [1000, 12 * MIB];

/// Runs `s3mt cp FILE s3://bucket/KEY` with the small-part settings and `extra`; returns
/// (exit code, stdout, stderr).
fn upload(bucket: &TestBucket, file: &Path, key: &str, extra: &[&str]) -> (i32, String, String) {
    let object = format!("s3://{}/{key}", bucket.name());
    let (output, stdout, stderr) = run(bucket
        .s3mt()
        .arg("cp")
        .arg(file)
        .arg(&object)
        .args(CP_ARGS)
        .args(["--progress", "none"])
        .args(extra));
    (output.status.code().expect("exit code"), stdout, stderr)
}

/// The stored object's header `name`, from a HEAD.
fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.clone())
}

/// HEADs `key` and returns its headers, asserting it exists.
fn head(bucket: &TestBucket, key: &str) -> Vec<(String, String)> {
    let (status, headers) = bucket.head_object(key);
    assert_eq!(status, 200, "HEAD {key}");
    headers
}

#[test]
fn object_options_are_stored_single_and_multipart() {
    let bucket = TestBucket::new("object-options");
    let dir = tempfile::tempdir().unwrap();
    for size in SIZES {
        let file = dir.path().join(format!("f{size}.bin"));
        write_random_file(&file, size, 21);
        let key = format!("all-{size}");
        let (code, _, stderr) = upload(
            &bucket,
            &file,
            &key,
            &[
                "--storage-class",
                "STANDARD_IA",
                "--content-type",
                "text/x-custom",
                "--metadata",
                "Owner=team a",
                "--metadata",
                "build=42",
                "--cache-control",
                "max-age=60",
                "--content-disposition",
                "attachment; filename=\"x.bin\"",
            ],
        );
        assert_eq!(code, 0, "{size} bytes: {stderr}");
        let headers = head(&bucket, &key);
        let get = |name| header(&headers, name);
        assert_eq!(
            get("content-type").as_deref(),
            Some("text/x-custom"),
            "{size}"
        );
        assert_eq!(get("x-amz-meta-owner").as_deref(), Some("team a"), "{size}");
        assert_eq!(get("x-amz-meta-build").as_deref(), Some("42"), "{size}");
        assert!(
            get("x-amz-meta-s3mt-sha256").is_some(),
            "integrity record kept"
        );
        assert_eq!(
            get("cache-control").as_deref(),
            Some("max-age=60"),
            "{size}"
        );
        assert_eq!(
            get("content-disposition").as_deref(),
            Some("attachment; filename=\"x.bin\""),
            "{size}"
        );
        // SeaweedFS stores the class and returns it on HEAD.
        assert_eq!(
            get("x-amz-storage-class").as_deref(),
            Some("STANDARD_IA"),
            "{size}"
        );
    }
    assert!(bucket.open_uploads().is_empty());
}

#[test]
fn content_type_is_guessed_from_the_extension() {
    let bucket = TestBucket::new("content-type-guess");
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("data.json", 1000, "application/json"),
        ("page.HTML", 1000, "text/html"),
        ("blob.bin", 1000, "application/octet-stream"),
        ("noextension", 1000, "application/octet-stream"),
        ("big.json", 12 * MIB, "application/json"),
    ];
    for (name, size, expected) in cases {
        let file = dir.path().join(name);
        write_random_file(&file, size, 22);
        let (code, _, stderr) = upload(&bucket, &file, name, &[]);
        assert_eq!(code, 0, "{name}: {stderr}");
        let headers = head(&bucket, name);
        assert_eq!(
            header(&headers, "content-type").as_deref(),
            Some(expected),
            "{name}"
        );
    }
}

/// `--no-overwrite` sends `If-None-Match: *`; a server that ignores it (rclone) overwrites the
/// object as if the flag were not given.
#[test]
fn no_overwrite_refuses_an_existing_object_with_exit_9_single_and_multipart() {
    let bucket = TestBucket::new("no-overwrite");
    let honoured = bucket.server().kind().honours_conditional_writes();
    let dir = tempfile::tempdir().unwrap();
    for size in SIZES {
        let first = dir.path().join(format!("first{size}"));
        let second = dir.path().join(format!("second{size}"));
        write_random_file(&first, size, 23);
        write_random_file(&second, size, 24);
        let key = format!("once-{size}");
        let (code, _, stderr) = upload(&bucket, &first, &key, &["--no-overwrite"]);
        assert_eq!(code, 0, "{size} bytes, first upload: {stderr}");
        let etag = header(&head(&bucket, &key), "etag");

        let (code, stdout, stderr) = upload(&bucket, &second, &key, &["--no-overwrite", "--json"]);
        if !honoured {
            assert_eq!(code, 0, "{size} bytes, second upload: {stderr}");
            assert_ne!(
                header(&head(&bucket, &key), "etag"),
                etag,
                "{size} bytes: the server ignored If-None-Match and replaced the object"
            );
            if size > 5 * MIB {
                assert!(bucket.open_uploads().is_empty(), "{size} bytes");
            }
            continue;
        }
        assert_eq!(code, 9, "{size} bytes, second upload: {stderr}");
        let expected = format!("s3://{}/{key} already exists", bucket.name());
        assert!(stderr.contains(&expected), "{stderr}");
        // Neither retried nor restarted.
        assert!(!stdout.contains("\"retry\""), "{stdout}");
        assert!(stdout.contains("\"kind\":\"already_exists\""), "{stdout}");
        if size > 5 * MIB {
            assert!(
                stderr.contains("the multipart upload was aborted"),
                "{stderr}"
            );
        }
        assert_eq!(
            header(&head(&bucket, &key), "etag"),
            etag,
            "{size} bytes: the object was not replaced"
        );
        assert!(bucket.open_uploads().is_empty(), "{size} bytes");

        // Without the flag, the object is replaced.
        let (code, _, stderr) = upload(&bucket, &second, &key, &[]);
        assert_eq!(code, 0, "{size} bytes, overwrite: {stderr}");
        assert_ne!(header(&head(&bucket, &key), "etag"), etag);
    }
}

/// `--sse` as each server takes it (see [`Sse`]). SeaweedFS 4.48 (without a KMS configured)
/// answers 500 InternalError to SSE-S3 and SSE-KMS: PutObject fails; CreateMultipartUpload
/// fails with AES256 yet leaves an upload open (which s3mt finds and aborts), and succeeds with
/// aws:kms, whose parts then fail (and the upload is aborted). The upload fails as a server
/// error (exit 7) with the server's message; nothing is stored and nothing is left open. A
/// server that applies or ignores the request stores the object, and HEAD reports what was
/// asked.
#[test]
fn server_side_encryption_is_applied_ignored_or_refused_cleanly() {
    let bucket = TestBucket::new("sse");
    let support = bucket.server().kind().server_side_encryption();
    let dir = tempfile::tempdir().unwrap();
    // The options, and the encryption and KMS key id a server applying them reports.
    let cases: [(&[&str], &str, Option<&str>); 2] = [
        (&["--sse", "AES256"], "AES256", None),
        (
            &["--sse", "aws:kms", "--sse-kms-key-id", "alias/test"],
            "aws:kms",
            Some("alias/test"),
        ),
    ];
    for size in SIZES {
        let file = dir.path().join(format!("f{size}"));
        write_random_file(&file, size, 25);
        for (sse, algorithm, key_id) in cases {
            let mut args = sse.to_vec();
            // A 500 is worth resuming by default: the upload would be kept.
            args.extend(["--max-attempts", "1", "--no-resume"]);
            let (code, _, stderr) = upload(&bucket, &file, "sse", &args);
            if support == Sse::Refused {
                assert_eq!(code, 7, "{size} bytes, {sse:?}: {stderr}");
                assert!(stderr.contains("HTTP 500 InternalError"), "{stderr}");
                assert_eq!(bucket.head_object("sse").0, 404, "{sse:?}: nothing stored");
                assert!(
                    bucket.open_uploads().is_empty(),
                    "{size} bytes, {sse:?}: nothing open"
                );
                continue;
            }
            assert_eq!(code, 0, "{size} bytes, {sse:?}: {stderr}");
            let headers = head(&bucket, "sse");
            let get = |name| header(&headers, name);
            assert_eq!(
                get("content-length"),
                Some(size.to_string()),
                "{size} bytes, {sse:?}: stored"
            );
            // Applied (moto), or kept as plain metadata (rclone): HEAD says what was asked.
            let reported = (
                get("x-amz-server-side-encryption"),
                get("x-amz-server-side-encryption-aws-kms-key-id"),
            );
            let expected = (Some(algorithm.to_owned()), key_id.map(str::to_owned));
            assert_eq!(reported, expected, "{size} bytes, {sse:?}: {headers:?}");
            if size > 5 * MIB {
                assert!(
                    bucket.open_uploads().is_empty(),
                    "{size} bytes, {sse:?}: nothing open"
                );
            }
        }
    }
}

#[test]
fn bad_object_options_exit_2_before_any_request() {
    let bucket = TestBucket::new("bad-object-options");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 26);
    let cases: [(&[&str], &str); 8] = [
        (
            &["--storage-class", "COLD"],
            "unknown storage class \"COLD\"",
        ),
        (&["--metadata", "novalue"], "expected KEY=VALUE"),
        (&["--metadata", "=v"], "must not be empty"),
        (&["--metadata", "a b=v"], "contains ' '"),
        (&["--metadata", "s3mt-sha256=x"], "reserved"),
        (
            &["--sse-kms-key-id", "k"],
            "--sse-kms-key-id goes only with --sse aws:kms",
        ),
        (
            &["--sse", "AES256", "--sse-kms-key-id", "k"],
            "only with aws:kms",
        ),
        (&["--sse", "des"], "expected AES256 or aws:kms"),
    ];
    for (args, message) in cases {
        let (code, _, stderr) = upload(&bucket, &file, "k", args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(bucket.head_object("k").0, 404, "{args:?}: nothing stored");
    }
    // Upload options on a download are refused too.
    let object = format!("s3://{}/k", bucket.name());
    let (output, _, stderr) = run(bucket
        .s3mt()
        .args(["cp", &object])
        .arg(dir.path().join("copy"))
        .arg("--no-overwrite"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apply to uploads only"), "{stderr}");
}
