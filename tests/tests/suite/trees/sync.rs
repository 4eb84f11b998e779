//! `sync`: only what is missing or differs goes, counted at the proxy; deletions, filters in
//! the order typed, dry runs, content comparison, and a sync back that needs no GET.

use std::fs::File;
use std::time::{Duration, SystemTime};

use s3mt_tests::fixture::TestBucket;
use s3mt_tests::proxy::FaultProxy;

use super::{
    Files, awkward_tree, ok, read_objects, read_tree, requests_but_listings, s3mt, write_tree,
};

#[test]
fn an_unchanged_tree_sends_nothing_and_one_edit_sends_one_put() {
    let bucket = TestBucket::new("sync-unchanged");
    let dir = tempfile::tempdir().unwrap();
    let files = awkward_tree();
    write_tree(dir.path(), &files);
    let root = dir.path().to_str().unwrap();
    let prefix = format!("s3://{}/s/", bucket.name());
    let first = ok(&mut s3mt(&bucket, None, "sync", &[root, &prefix]));
    assert!(first.stderr.contains("7 file(s)"), "{}", first.stderr);

    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let again = ok(&mut s3mt(&bucket, Some(&proxy), "sync", &[root, &prefix]));
    assert!(
        again.stderr.contains("0 file(s) (0 B) copied, 7 unchanged"),
        "{}",
        again.stderr
    );
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.has_query("list-type=2")),
        "an unchanged tree takes listings only: {requests:#?}"
    );

    std::fs::write(dir.path().join("a/b"), b"in a, edited").unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    ok(&mut s3mt(&bucket, Some(&proxy), "sync", &[root, &prefix]));
    let requests = proxy.requests();
    let puts = requests_but_listings(&requests, "PUT");
    assert_eq!(puts.len(), 1, "{requests:#?}");
    assert!(puts[0].path.ends_with("/s/a/b"), "{:?}", puts[0].path);
    let mut expected = files.clone();
    expected.insert("a/b".into(), b"in a, edited".to_vec());
    assert_eq!(read_objects(&bucket, "s/"), expected);
}

#[test]
fn delete_spares_what_the_filters_leave_out_and_a_dry_run_changes_nothing() {
    let bucket = TestBucket::new("sync-delete");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let files: Files = [("a.log", "a"), ("b.txt", "b"), ("keep/x.log", "k")]
        .into_iter()
        .map(|(path, body)| (path.to_owned(), body.as_bytes().to_vec()))
        .collect();
    write_tree(dir.path(), &files);
    let prefix = format!("s3://{}/d/", bucket.name());
    ok(&mut s3mt(&bucket, None, "sync", &[root, &prefix]));
    for gone in ["b.txt", "keep/x.log"] {
        std::fs::remove_file(dir.path().join(gone)).unwrap();
    }

    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let plan = ok(s3mt(&bucket, Some(&proxy), "sync", &[root, &prefix]).args([
        "--delete",
        "--exclude",
        "keep/*",
        "--dry-run",
    ]));
    assert_eq!(plan.stdout, "(dry run) delete: b.txt\n", "{}", plan.stderr);
    assert!(
        plan.stderr.contains("1 would be deleted"),
        "{}",
        plan.stderr
    );
    let requests = proxy.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:#?}");
    assert_eq!(
        read_objects(&bucket, "d/"),
        files,
        "a dry run changes nothing"
    );

    ok(s3mt(&bucket, None, "sync", &[root, &prefix]).args(["--delete", "--exclude", "keep/*"]));
    let mut expected = files.clone();
    expected.remove("b.txt");
    assert_eq!(
        read_objects(&bucket, "d/"),
        expected,
        "the excluded keep/x.log stays"
    );
}

#[test]
fn filters_apply_in_the_order_typed_the_last_match_winning() {
    let bucket = TestBucket::new("sync-filters");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let files: Files = [
        ("a.log", "a"),
        ("b.txt", "b"),
        ("deep/c.log", "c"),
        ("deep/d.tmp", "d"),
    ]
    .into_iter()
    .map(|(path, body)| (path.to_owned(), body.as_bytes().to_vec()))
    .collect();
    write_tree(dir.path(), &files);
    let prefix = format!("s3://{}/f/", bucket.name());
    ok(s3mt(&bucket, None, "sync", &[root, &prefix]).args([
        "--exclude",
        "*",
        "--include",
        "*.log",
        "--exclude",
        "deep/*",
        "--include",
        "deep/c.*",
    ]));
    let stored: Vec<String> = read_objects(&bucket, "f/").into_keys().collect();
    assert_eq!(stored, ["a.log", "deep/c.log"]);
}

#[test]
fn checksum_finds_a_same_size_edit_that_times_miss() {
    let bucket = TestBucket::new("sync-checksum");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let files: Files = [("same-size".to_owned(), b"version 1".to_vec())].into();
    write_tree(dir.path(), &files);
    let prefix = format!("s3://{}/c/", bucket.name());
    ok(&mut s3mt(&bucket, None, "sync", &[root, &prefix]));
    // Edited in place, same size, and its time put back (as `cp -p` or `tar x` would).
    let path = dir.path().join("same-size");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, b"version 2").unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(before)
        .unwrap();
    let by_time = ok(&mut s3mt(&bucket, None, "sync", &[root, &prefix]));
    assert!(by_time.stderr.contains("1 unchanged"), "{}", by_time.stderr);
    let by_content = ok(s3mt(&bucket, None, "sync", &[root, &prefix]).arg("--checksum"));
    assert!(
        by_content.stderr.contains("1 file(s)"),
        "{}",
        by_content.stderr
    );
    assert_eq!(read_objects(&bucket, "c/")["same-size"], b"version 2");
    // A file modified after its object, same size, is found by its time too.
    std::fs::write(&path, b"version 3").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let newer = ok(&mut s3mt(&bucket, None, "sync", &[root, &prefix]));
    assert!(newer.stderr.contains("1 file(s)"), "{}", newer.stderr);
}

#[test]
fn a_download_sync_gives_files_their_times_and_a_sync_back_needs_no_get() {
    let bucket = TestBucket::new("sync-down");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let files = awkward_tree();
    write_tree(&source, &files);
    let prefix = format!("s3://{}/down/", bucket.name());
    ok(&mut s3mt(
        &bucket,
        None,
        "sync",
        &[source.to_str().unwrap(), &prefix],
    ));

    let copy = dir.path().join("copy");
    let copy_arg = copy.to_str().unwrap();
    ok(&mut s3mt(&bucket, None, "sync", &[&prefix, copy_arg]));
    assert_eq!(read_tree(&copy), files);

    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let again = ok(&mut s3mt(
        &bucket,
        Some(&proxy),
        "sync",
        &[&prefix, copy_arg],
    ));
    assert!(again.stderr.contains("7 unchanged"), "{}", again.stderr);
    let requests = proxy.requests();
    assert!(
        requests_but_listings(&requests, "GET").is_empty(),
        "{requests:#?}"
    );
    // And back up: the restored times say the files are the objects.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let up = ok(&mut s3mt(
        &bucket,
        Some(&proxy),
        "sync",
        &[copy_arg, &prefix],
    ));
    assert!(up.stderr.contains("7 unchanged"), "{}", up.stderr);
    assert!(requests_but_listings(&proxy.requests(), "PUT").is_empty());

    // An object that changed comes down again; a file only local goes with --delete.
    bucket.put_foreign_object("down/a/b", b"changed upstream");
    std::fs::write(copy.join("local-only"), b"x").unwrap();
    ok(s3mt(&bucket, None, "sync", &[&prefix, copy_arg]).arg("--delete"));
    let mut expected = files.clone();
    expected.insert("a/b".into(), b"changed upstream".to_vec());
    assert_eq!(read_tree(&copy), expected);
}
