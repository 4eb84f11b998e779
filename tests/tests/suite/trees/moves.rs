//! `mv --recursive`: every source file or object is removed once its copy is complete and
//! verified, and only then; a file that failed, an object nothing could verify, and what the
//! filters left out all stay.

use s3mt_tests::fixture::{TestBucket, random_bytes};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use super::{Files, awkward_tree, ok, read_objects, read_tree, run, s3mt, write_tree};

#[test]
fn a_tree_moves_up_and_back_down_leaving_what_failed_or_was_excluded() {
    let bucket = TestBucket::new("tree-mv");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut files = awkward_tree();
    files.insert("big/multipart.bin".into(), random_bytes(11 << 20, 17));
    let mut on_disk = files.clone();
    on_disk.insert("scratch.tmp".into(), b"left out".to_vec());
    on_disk.insert("fails".into(), b"refused by the server".to_vec());
    write_tree(&source, &on_disk);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("PUT").path(format!("/{}/moved/fails", bucket.name())),
        usize::MAX,
        Fault::Respond {
            status: 500,
            code: "InternalError",
        },
    ));
    let prefix = format!("s3://{}/moved/", bucket.name());
    let up = run(s3mt(
        &bucket,
        Some(&proxy),
        "mv",
        &[
            "--recursive",
            source.to_str().unwrap(),
            &prefix,
            "--exclude",
            "*.tmp",
        ],
    )
    .args(["--max-attempts", "2"]));
    assert_eq!(up.code, 10, "one file failed: {}", up.stderr);
    assert!(
        up.stderr.contains("failed: upload fails: "),
        "{}",
        up.stderr
    );
    assert_eq!(read_objects(&bucket, "moved/"), files);
    // Only the excluded and the failed file are left.
    let left: Files = on_disk
        .iter()
        .filter(|(path, _)| *path == "scratch.tmp" || *path == "fails")
        .map(|(path, bytes)| (path.clone(), bytes.clone()))
        .collect();
    assert_eq!(read_tree(&source), left);

    // Back down: every object goes once its file is complete and verified.
    let copy = dir.path().join("copy");
    let down = ok(&mut s3mt(
        &bucket,
        None,
        "mv",
        &["-r", &prefix, copy.to_str().unwrap()],
    ));
    assert!(down.stderr.contains("file(s)"), "{}", down.stderr);
    assert!(down.stderr.contains("moved"), "{}", down.stderr);
    assert_eq!(read_tree(&copy), files);
    assert_eq!(read_objects(&bucket, "moved/"), Files::new());
}

#[test]
fn a_download_that_fails_verification_or_cannot_be_verified_keeps_its_object() {
    let bucket = TestBucket::new("tree-mv-kept");
    let dir = tempfile::tempdir().unwrap();
    let files: Files = [
        ("good", b"checked".to_vec()),
        ("corrupted", random_bytes(4096, 3)),
    ]
    .into_iter()
    .map(|(path, bytes)| (path.to_owned(), bytes))
    .collect();
    let source = dir.path().join("source");
    write_tree(&source, &files);
    let prefix = format!("s3://{}/in/", bucket.name());
    ok(&mut s3mt(
        &bucket,
        None,
        "cp",
        &["-r", source.to_str().unwrap(), &prefix],
    ));
    // A multipart object written with no checksum: nothing can verify its download (but on
    // rclone, whose multipart ETags are MD5s).
    let first = random_bytes(5 << 20, 66);
    bucket.put_foreign_multipart("in/plain", &[&first, b"tail"]);
    // Every GET of one object is corrupted on the way.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("GET").path(format!("/{}/in/corrupted", bucket.name())),
        usize::MAX,
        Fault::FlipResponseByte { offset: 100 },
    ));
    let copy = dir.path().join("copy");
    let ran = run(s3mt(
        &bucket,
        Some(&proxy),
        "mv",
        &["-r", &prefix, copy.to_str().unwrap()],
    )
    .args(["--max-attempts", "2"]));
    assert_eq!(ran.code, 10, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("failed: download corrupted: "),
        "{}",
        ran.stderr
    );
    assert!(!copy.join("corrupted").exists(), "no corrupted file");
    assert_eq!(
        bucket.head_object("in/corrupted").0,
        200,
        "its object stays"
    );
    assert_eq!(
        bucket.head_object("in/good").0,
        404,
        "the verified one went"
    );
    assert_eq!(std::fs::read(copy.join("good")).unwrap(), b"checked");
    let plain = bucket.head_object("in/plain").0;
    if bucket.server().kind().etag_of_multipart_is_md5() {
        assert_eq!(plain, 404, "{}", ran.stderr);
    } else {
        assert_eq!(plain, 200, "kept: {}", ran.stderr);
        assert!(
            ran.stderr.contains("failed: download plain: ")
                && ran.stderr.contains("nothing could verify the copy"),
            "{}",
            ran.stderr
        );
    }
}
