//! Bad input through the binary: a clear message, the documented exit code, nothing written.

use s3mt_tests::fixture::{TestBucket, dir_entries, run, write_random_file};

/// Runs `s3mt cp` with `args` and returns (exit code, stderr).
fn cp(bucket: &TestBucket, args: &[&str]) -> (i32, String) {
    let (output, _, stderr) = run(bucket.s3mt().arg("cp").args(args));
    (output.status.code().expect("exit code"), stderr)
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let bucket = TestBucket::new("bad-arguments");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 1);
    let file = file.to_str().unwrap();
    let object = format!("s3://{}/k", bucket.name());
    let cases: [(&[&str], &str); 7] = [
        (
            &[file, &object, "--part-size", "1MiB"],
            "outside S3's limits of 5 MiB to 5 GiB",
        ),
        (&[file, &object, "--part-size", "lots"], "invalid size"),
        (&[file, &object, "--concurrency", "0"], "concurrency 0"),
        (&[file, "s3://"], "no bucket name"),
        (&[file, "s3://Bad_Bucket/k"], "invalid bucket name"),
        (
            &[file, &format!("s3://{}/a/../k", bucket.name())],
            "'..' segment",
        ),
        (
            &[file, dir.path().to_str().unwrap()],
            "must be an s3://bucket/key",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = cp(&bucket, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(bucket.open_uploads().is_empty());
}

#[test]
fn missing_source_and_directory_source_are_refused() {
    let bucket = TestBucket::new("bad-source");
    let dir = tempfile::tempdir().unwrap();
    let object = format!("s3://{}/k", bucket.name());
    let missing = dir.path().join("missing");
    let (code, stderr) = cp(&bucket, &[missing.to_str().unwrap(), &object]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
    let (code, stderr) = cp(&bucket, &[dir.path().to_str().unwrap(), &object]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn missing_bucket_and_key_exit_4_and_write_nothing() {
    let bucket = TestBucket::new("not-found");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 1);
    let (code, stderr) = cp(
        &bucket,
        &[file.to_str().unwrap(), "s3://no-such-bucket-s3mt/k"],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    let destination = dir.path().join("out");
    let (code, stderr) = cp(
        &bucket,
        &[
            &format!("s3://{}/absent", bucket.name()),
            destination.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(dir_entries(dir.path()), ["f"]);
}

#[test]
fn wrong_secret_exits_5_without_showing_it() {
    let bucket = TestBucket::new("wrong-secret");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 1);
    let secret = "WRONGsecretKEYthatMustNeverBeShown";
    let (output, stdout, stderr) = run(bucket
        .s3mt()
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .arg("cp")
        .arg(&file)
        .arg(format!("s3://{}/k", bucket.name())));
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("check the access key"), "{stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    assert!(!stderr.contains("X-Amz-Signature="), "{stderr}");
}

#[test]
fn missing_credentials_exit_2() {
    let bucket = TestBucket::new("no-credentials");
    let (output, _, stderr) =
        run(bucket
            .s3mt()
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["cp", "a", "s3://b-b/k"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no credentials"), "{stderr}");
}
