//! Trees inside S3: `cp --recursive`, `sync` and `mv --recursive` between two prefixes, every
//! object by a server-side copy (no object's bytes pass through s3mt), with what differs
//! decided as between two buckets in aws-cli.

use s3mt_tests::fixture::TestBucket;
use s3mt_tests::proxy::FaultProxy;

use super::{Files, awkward_tree, ok, read_objects, run, s3mt, write_tree};

#[test]
fn a_tree_is_copied_synced_and_moved_between_buckets_by_the_server() {
    let from = TestBucket::new("tree-inside-from");
    let to = TestBucket::new("tree-inside-to");
    let dir = tempfile::tempdir().unwrap();
    let mut files = awkward_tree();
    files.insert("d/five".into(), vec![5; 5000]);
    write_tree(dir.path(), &files);
    let source = format!("s3://{}/src/", from.name());
    ok(&mut s3mt(
        &from,
        None,
        "cp",
        &["-r", dir.path().to_str().unwrap(), &source],
    ));

    // Copied, through a proxy that sees every request: copies and listings, no object's bytes.
    let proxy = FaultProxy::start(from.server().endpoint()).unwrap();
    let destination = format!("s3://{}/dst", to.name());
    let copied = ok(&mut s3mt(
        &from,
        Some(&proxy),
        "cp",
        &["-r", &source, &destination],
    ));
    assert!(copied.stderr.contains("8 file(s)"), "{}", copied.stderr);
    assert_eq!(read_objects(&to, "dst/"), files);
    for request in proxy.requests() {
        let listing = request.method == "GET" && request.has_query("list-type=2");
        let tagging = request.has_query("tagging");
        let copy = request.method == "PUT" && request.header("x-amz-copy-source").is_some();
        assert!(
            listing || tagging || copy || request.method == "HEAD",
            "only listings, copies and HEADs: {} {}?{}",
            request.method,
            request.path,
            request.query
        );
    }

    // Synced again: nothing differs. Then one source object grows, and the destination holds
    // a key the source does not: the first is copied, the second deleted.
    let again = ok(&mut s3mt(&from, None, "sync", &[&source, &destination]));
    assert!(
        again.stderr.contains("0 file(s) (0 B) copied, 8 unchanged"),
        "{}",
        again.stderr
    );
    let by_content = ok(&mut s3mt(
        &from,
        None,
        "sync",
        &[&source, &destination, "--checksum"],
    ));
    assert!(
        by_content.stderr.contains("8 unchanged"),
        "{}",
        by_content.stderr
    );
    let mut changed = files.clone();
    changed.insert("d/five".into(), vec![6; 6000]);
    let mut grown = Files::new();
    grown.insert("d/five".into(), changed["d/five"].clone());
    let other = tempfile::tempdir().unwrap();
    write_tree(other.path(), &grown);
    ok(&mut s3mt(
        &from,
        None,
        "cp",
        &["-r", other.path().to_str().unwrap(), &source],
    ));
    to.client(1)
        .upload_file(&other.path().join("d/five"), &to.uri("dst/only-here"))
        .unwrap();
    let synced = ok(&mut s3mt(
        &from,
        None,
        "sync",
        &[&source, &destination, "--delete"],
    ));
    assert!(
        synced
            .stderr
            .contains("1 file(s) (5.9 KiB) copied, 1 deleted, 7 unchanged"),
        "{}",
        synced.stderr
    );
    assert_eq!(read_objects(&to, "dst/"), changed);

    // Moved: each source object goes once its copy is verified.
    let moved_to = format!("s3://{}/moved/", to.name());
    let moved = ok(&mut s3mt(&from, None, "mv", &["-r", &source, &moved_to]));
    assert!(moved.stderr.contains("8 file(s)"), "{}", moved.stderr);
    assert_eq!(read_objects(&to, "moved/"), changed);
    assert_eq!(read_objects(&from, "src/"), Files::new());
}

#[test]
fn prefixes_that_hold_one_another_are_refused() {
    let bucket = TestBucket::new("tree-inside-overlap");
    for (source, destination) in [("p/", "p/sub/"), ("p/sub", "p"), ("", "copy/")] {
        let ran = run(&mut s3mt(
            &bucket,
            None,
            "cp",
            &[
                "-r",
                &format!("s3://{}/{source}", bucket.name()),
                &format!("s3://{}/{destination}", bucket.name()),
            ],
        ));
        assert_eq!(ran.code, 2, "{source} -> {destination}: {}", ran.stderr);
        assert!(ran.stderr.contains("overlap"), "{}", ran.stderr);
    }
}
