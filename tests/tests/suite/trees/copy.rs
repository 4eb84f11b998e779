//! `cp --recursive`: whole trees both ways, one pool for small and multipart files, failures
//! and skips that do not stop the rest.

use std::os::unix::fs::symlink;

use s3mt_tests::fixture::{TestBucket, random_bytes};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use super::{Files, awkward_tree, ok, read_objects, read_tree, run, s3mt, write_tree};

#[test]
fn a_tree_with_awkward_names_and_a_multipart_file_round_trips() {
    let bucket = TestBucket::new("tree-round-trip");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut files = awkward_tree();
    files.insert("big/multipart.bin".into(), random_bytes(11 << 20, 7));
    write_tree(&source, &files);
    // A prefix without its slash still puts the directory's contents under `tree/`.
    let prefix = format!("s3://{}/tree", bucket.name());
    let up = ok(&mut s3mt(
        &bucket,
        None,
        "cp",
        &["-r", source.to_str().unwrap(), &prefix],
    ));
    assert!(up.stderr.contains("8 file(s)"), "{}", up.stderr);
    assert_eq!(read_objects(&bucket, "tree/"), files);

    let copy = dir.path().join("missing/copy");
    ok(&mut s3mt(
        &bucket,
        None,
        "cp",
        &["--recursive", &prefix, copy.to_str().unwrap()],
    ));
    assert_eq!(read_tree(&copy), files);
    // Each file gets its source's modification time back from s3mt's record.
    for path in files.keys() {
        let time = |root: &std::path::Path| {
            std::fs::metadata(root.join(path))
                .unwrap()
                .modified()
                .unwrap()
        };
        assert_eq!(time(&copy), time(&source), "{path}");
    }
}

#[test]
fn one_failing_file_does_not_stop_the_others_and_exits_10() {
    let bucket = TestBucket::new("tree-one-fails");
    let dir = tempfile::tempdir().unwrap();
    let files: Files = (0..6)
        .map(|n| (format!("f{n}"), format!("file {n}").into_bytes()))
        .collect();
    write_tree(dir.path(), &files);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let key = format!("/{}/t/f3", bucket.name());
    proxy.add(Rule::new(
        Match::method("PUT").path(key),
        usize::MAX,
        Fault::Respond {
            status: 500,
            code: "InternalError",
        },
    ));
    let prefix = format!("s3://{}/t/", bucket.name());
    let ran = run(s3mt(
        &bucket,
        Some(&proxy),
        "cp",
        &["-r", dir.path().to_str().unwrap(), &prefix],
    )
    .args(["--max-attempts", "2"]));
    assert_eq!(ran.code, 10, "{}", ran.stderr);
    assert!(ran.stderr.contains("failed: upload f3: "), "{}", ran.stderr);
    assert!(ran.stderr.contains("InternalError"), "{}", ran.stderr);
    let mut stored = files.clone();
    stored.remove("f3");
    assert_eq!(read_objects(&bucket, "t/"), stored);
}

#[test]
fn what_is_not_a_regular_file_is_skipped_named_and_exits_11() {
    let bucket = TestBucket::new("tree-skips");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let files: Files = [("d/file".to_owned(), b"x".to_vec())].into();
    write_tree(&root, &files);
    symlink(root.join("d/file"), root.join("link")).unwrap();
    symlink(&root, root.join("d/loop")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("socket")).unwrap();
    let prefix = format!("s3://{}/s/", bucket.name());
    let ran = run(&mut s3mt(
        &bucket,
        None,
        "cp",
        &["-r", root.to_str().unwrap(), &prefix],
    ));
    assert_eq!(ran.code, 11, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("skipped: socket: not a regular file"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("skipped: d/loop/: a symbolic link loop"),
        "{}",
        ran.stderr
    );
    let mut expected = files.clone();
    expected.insert("link".into(), b"x".to_vec());
    assert_eq!(
        read_objects(&bucket, "s/"),
        expected,
        "the link to a file is followed"
    );

    // Not following links leaves them out silently: only the socket is named.
    let prefix = format!("s3://{}/n/", bucket.name());
    let ran = run(s3mt(
        &bucket,
        None,
        "cp",
        &["-r", root.to_str().unwrap(), &prefix],
    )
    .arg("--no-follow-symlinks"));
    assert_eq!(ran.code, 11, "{}", ran.stderr);
    assert!(!ran.stderr.contains("link"), "{}", ran.stderr);
    assert_eq!(read_objects(&bucket, "n/"), files);
}
