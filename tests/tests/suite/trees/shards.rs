//! Splitting a tree's work: `--shard K/N` across parallel processes, and `--files-from`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;

use s3mt_tests::fixture::{TestBucket, finish};
use s3mt_tests::proxy::FaultProxy;

use super::{
    Files, RUN_LIMIT, ok, read_objects, read_tree, requests_but_listings, run, s3mt, write_tree,
};

#[test]
fn shards_in_parallel_processes_cover_a_tree_exactly_once() {
    let bucket = TestBucket::new("tree-shards");
    let dir = tempfile::tempdir().unwrap();
    let files: Files = (0..60)
        .map(|n| (format!("d{}/f{n}", n % 4), format!("file {n}").into_bytes()))
        .collect();
    write_tree(dir.path(), &files);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let prefix = format!("s3://{}/sh/", bucket.name());
    let shards = 3;
    let children: Vec<_> = (0..shards)
        .map(|index| {
            let mut command = s3mt(
                &bucket,
                Some(&proxy),
                "sync",
                &[dir.path().to_str().unwrap(), &prefix],
            );
            command.args(["--shard", &format!("{index}/{shards}")]);
            let child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (command, child)
        })
        .collect();
    for (command, child) in children {
        let (output, _, stderr) = finish(&command, child, RUN_LIMIT);
        assert!(output.status.success(), "{stderr}");
    }
    let requests = proxy.requests();
    let mut puts: BTreeMap<&str, usize> = BTreeMap::new();
    for put in requests_but_listings(&requests, "PUT") {
        *puts.entry(put.path.as_str()).or_default() += 1;
    }
    assert_eq!(puts.len(), files.len(), "{puts:#?}");
    assert!(puts.values().all(|&count| count == 1), "{puts:#?}");
    assert_eq!(read_objects(&bucket, "sh/"), files);
}

#[test]
fn files_from_transfers_exactly_the_paths_listed() {
    let bucket = TestBucket::new("tree-files-from");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let files: Files = [("a", "a"), ("b", "b"), ("sub/c", "c"), ("sub/d", "d")]
        .into_iter()
        .map(|(path, body)| (path.to_owned(), body.as_bytes().to_vec()))
        .collect();
    write_tree(&source, &files);
    let list = dir.path().join("list");
    std::fs::write(&list, "sub/c\n\na\nmissing\na\n").unwrap();
    let prefix = format!("s3://{}/ff/", bucket.name());
    let ran = run(s3mt(
        &bucket,
        None,
        "cp",
        &["-r", source.to_str().unwrap(), &prefix],
    )
    .args(["--files-from", list.to_str().unwrap()]));
    assert_eq!(ran.code, 11, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("skipped: missing: cannot be read"),
        "{}",
        ran.stderr
    );
    let stored: Vec<String> = read_objects(&bucket, "ff/").into_keys().collect();
    assert_eq!(stored, ["a", "sub/c"]);

    // Down, with the list on standard input: no listing of the prefix at all.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let copy = dir.path().join("copy");
    let mut command = s3mt(
        &bucket,
        Some(&proxy),
        "cp",
        &["-r", &prefix, copy.to_str().unwrap()],
    );
    command.args(["--files-from", "-"]);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"sub/c\n").unwrap();
    let (output, _, stderr) = finish(&command, child, RUN_LIMIT);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(read_tree(&copy).into_keys().collect::<Vec<_>>(), ["sub/c"]);
    assert!(!proxy.requests().iter().any(|r| r.has_query("list-type=2")));
    ok(&mut s3mt(
        &bucket,
        None,
        "sync",
        &[&prefix, copy.to_str().unwrap()],
    ));
}
