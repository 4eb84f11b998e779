//! Downloads never write outside the destination named: keys that would are skipped and named
//! (exit 11), and a symbolic link inside the destination is never written through.

use std::os::unix::fs::symlink;

use s3mt_tests::fixture::{TestBucket, dir_entries};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};
use s3mt_tests::server::ServerKind;

use super::{read_tree, requests_but_listings, run, s3mt};

/// Keys (relative to the prefix) that must not become files, and a safe one.
const HOSTILE: [&str; 6] = [
    "../escape",
    "/absolute",
    "a//b",
    "a/./b",
    "back\\slash",
    "data/",
];

/// A ListObjectsV2 page of `keys` under `prefix`, each 5 bytes long.
fn listing(prefix: &str, keys: &[&str]) -> String {
    let contents: String = keys
        .iter()
        .map(|key| {
            format!(
                "<Contents><Key>{prefix}{}</Key><Size>5</Size>\
                 <LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>",
                key.replace('&', "&amp;").replace('<', "&lt;")
            )
        })
        .collect();
    format!(
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
    )
}

/// Runs `cp --recursive` of `prefix` into a fresh directory, and checks that only `ok`
/// arrived, the hostile keys were named, and nothing appeared beside the destination.
fn assert_only_the_safe_key_lands(bucket: &TestBucket, proxy: Option<&FaultProxy>, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("into");
    let source = format!("s3://{}/{prefix}", bucket.name());
    let ran = run(&mut s3mt(
        bucket,
        proxy,
        "cp",
        &["-r", &source, destination.to_str().unwrap()],
    ));
    assert_eq!(ran.code, 11, "{}", ran.stderr);
    for key in HOSTILE {
        assert!(
            ran.stderr
                .contains(&format!("skipped: {key}: the key would not land inside")),
            "{key}: {}",
            ran.stderr
        );
    }
    assert_eq!(
        read_tree(&destination).into_keys().collect::<Vec<_>>(),
        ["ok"]
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["into"],
        "nothing beside the destination"
    );
}

#[test]
fn keys_that_would_land_outside_the_destination_are_skipped_and_named() {
    let bucket = TestBucket::new("tree-hostile-keys");
    bucket.put_foreign_object("h/ok", b"fine!");
    // Whatever the server stores, a listing may hold such keys: the proxy answers one.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let mut keys = vec!["ok"];
    keys.extend(HOSTILE);
    keys.sort_unstable();
    proxy.add(Rule::once(
        Match::method("GET").query("list-type=2"),
        Fault::Reply {
            status: 200,
            body: listing("h/", &keys),
        },
    ));
    assert_only_the_safe_key_lands(&bucket, Some(&proxy), "h/");
    let requests = proxy.requests();
    let gets = requests_but_listings(&requests, "GET");
    assert!(gets.iter().all(|r| r.path.ends_with("/h/ok")), "{gets:#?}");
}

#[test]
fn hostile_keys_stored_as_is_are_skipped_too() {
    let bucket = TestBucket::new("tree-stored-keys");
    let kind = s3mt_tests::server::shared().kind();
    if kind != ServerKind::Moto {
        // SeaweedFS refuses `..` and rewrites `//` and `\` (NOTES.md); rclone stores files on
        // a file system. Only moto keeps such keys as given; the listing test above covers
        // every server.
        assert!(!kind.stores_any_key(), "{kind}");
        return;
    }
    assert!(kind.stores_any_key());
    bucket.put_object_as_is("m/ok", b"fine!");
    for key in HOSTILE {
        bucket.put_object_as_is(&format!("m/{key}"), b"nasty");
    }
    assert_only_the_safe_key_lands(&bucket, None, "m/");
}

#[test]
fn a_symbolic_link_in_the_destination_is_not_written_through() {
    let bucket = TestBucket::new("tree-dest-link");
    bucket.put_foreign_object("l/link/x", b"would land outside");
    bucket.put_foreign_object("l/fine", b"fine");
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("into");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&destination).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    symlink(&outside, destination.join("link")).unwrap();
    let source = format!("s3://{}/l/", bucket.name());
    let ran = run(&mut s3mt(
        &bucket,
        None,
        "cp",
        &["-r", &source, destination.to_str().unwrap()],
    ));
    assert_eq!(ran.code, 10, "{}", ran.stderr);
    assert!(ran.stderr.contains("is a symbolic link"), "{}", ran.stderr);
    assert!(dir_entries(&outside).is_empty());
    assert_eq!(std::fs::read(destination.join("fine")).unwrap(), b"fine");
}
