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
    if bucket.server().kind().checks_signatures() {
        assert_eq!(output.status.code(), Some(5), "{stderr}");
        assert!(stderr.contains("check the access key"), "{stderr}");
    } else {
        // A server that checks no signatures stores the object whatever the secret.
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert_eq!(bucket.head_object("k").0, 200, "the object was stored");
    }
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    assert!(!stderr.contains("X-Amz-Signature="), "{stderr}");
}

#[test]
fn missing_credentials_exit_5() {
    let bucket = TestBucket::new("no-credentials");
    let (output, _, stderr) =
        run(bucket
            .s3mt()
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["cp", "a", "s3://b-b/k"]));
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no credentials"), "{stderr}");
}

#[test]
fn unreadable_source_exits_3() {
    let bucket = TestBucket::new("unreadable");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret-file");
    write_random_file(&file, 10, 1);
    let object = format!("s3://{}/k", bucket.name());
    let mut command = bucket.s3mt();
    command.args(["cp", file.to_str().unwrap(), &object]);
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads files whatever their mode: run as nobody.
    if is_root() {
        std::os::unix::process::CommandExt::uid(&mut command, 65534);
    }
    let (output, _, stderr) = run(&mut command);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

/// Whether this process runs as root (read from /proc, so no unsafe call is needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

#[test]
fn missing_destination_directory_and_prefix_sources_are_refused() {
    let bucket = TestBucket::new("bad-destination");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 1);
    let object = format!("s3://{}/k", bucket.name());
    let (code, stderr) = cp(&bucket, &[file.to_str().unwrap(), &object]);
    assert_eq!(code, 0, "{stderr}");

    let nowhere = dir.path().join("no/such/dir/out");
    let (code, stderr) = cp(&bucket, &[&object, nowhere.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    let prefix = format!("s3://{}/", bucket.name());
    let (code, stderr) = cp(&bucket, &[&prefix, dir.path().join("x").to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("names a prefix, not an object"), "{stderr}");
    assert_eq!(dir_entries(dir.path()), ["f"]);
}

#[test]
fn part_size_needing_over_10000_parts_is_refused_before_any_request() {
    let bucket = TestBucket::new("too-many-parts");
    let dir = tempfile::tempdir().unwrap();
    // Sparse: 50 GiB of apparent size costs no disk, and planning refuses it before reading.
    let file = dir.path().join("huge");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(50 << 30)
        .unwrap();
    let object = format!("s3://{}/huge", bucket.name());
    let (code, stderr) = cp(
        &bucket,
        &[file.to_str().unwrap(), &object, "--part-size", "5MiB"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("over S3's limit of 10,000"), "{stderr}");
    assert!(stderr.contains("use at least 6 MiB"), "{stderr}");
    assert!(bucket.open_uploads().is_empty());
}

#[test]
fn invalid_session_token_exits_5_without_showing_it() {
    let bucket = TestBucket::new("bad-token");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    write_random_file(&file, 10, 1);
    let token = "FwoGZXIvYXdzEXPIREDtokenValueThatMustNotLeak";
    let (output, stdout, stderr) = run(bucket
        .s3mt()
        .env("AWS_SESSION_TOKEN", token)
        .arg("cp")
        .arg(&file)
        .arg(format!("s3://{}/k", bucket.name())));
    if bucket.server().kind().checks_session_tokens() {
        assert_eq!(output.status.code(), Some(5), "{stderr}");
    } else {
        // The token is signed in, but this server never checks it.
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert_eq!(bucket.head_object("k").0, 200, "the object was stored");
    }
    assert!(!stdout.contains(token) && !stderr.contains(token));
}

#[test]
fn version_prints_the_package_version() {
    let bucket = TestBucket::new("version");
    let (output, stdout, stderr) = run(bucket.s3mt().arg("--version"));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), format!("s3mt {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_commands_help_ends_with_examples_of_its_common_uses() {
    let bucket = TestBucket::new("help-examples");
    for command in [
        &["cp"][..],
        &["sync"],
        &["ls"],
        &["rm"],
        &["presign"],
        &["uploads", "ls"],
        &["uploads", "abort"],
    ] {
        let (output, stdout, stderr) = run(bucket.s3mt().args(command).arg("--help"));
        assert!(output.status.success(), "{command:?}: {stderr}");
        let (_, examples) = stdout
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("{command:?} has no examples: {stdout}"));
        let invocation = format!("s3mt {}", command.join(" "));
        let uses = examples.matches(invocation.as_str()).count();
        assert!(
            (1..=3).contains(&uses),
            "{command:?}: {uses} examples of {invocation:?}: {examples}"
        );
    }
    // `sync` shares `cp`'s options but has examples of its own.
    let (_, stdout, _) = run(bucket.s3mt().args(["sync", "--help"]));
    assert!(
        stdout.contains("--delete") && !stdout.contains("pg_dump"),
        "{stdout}"
    );
}
