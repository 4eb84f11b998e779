//! A tree sync killed with SIGKILL mid-way, run again: what was done is not sent again (small
//! files are found unchanged, the large file's finished parts come from its journal).

use std::process::Stdio;
use std::time::{Duration, Instant};

use s3mt_tests::fixture::{TestBucket, random_bytes};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};

use super::{Files, ok, read_objects, requests_but_listings, s3mt, write_tree};

#[test]
fn a_killed_tree_sync_resumes_and_sends_less_the_second_time() {
    let bucket = TestBucket::new("tree-kill");
    let dir = tempfile::tempdir().unwrap();
    let mut files: Files = (0..12)
        .map(|n| (format!("small/{n}"), format!("small file {n}").into_bytes()))
        .collect();
    files.insert("large.bin".into(), random_bytes(30 << 20, 11));
    write_tree(dir.path(), &files);
    let total: u64 = files.values().map(|bytes| bytes.len() as u64).sum();
    let root = dir.path().to_str().unwrap();
    let prefix = format!("s3://{}/k/", bucket.name());

    // Parts are slowed down, so the kill finds the large file half sent.
    let slow = FaultProxy::start(bucket.server().endpoint()).unwrap();
    slow.add(Rule::new(
        Match::method("PUT").query("partNumber="),
        usize::MAX,
        Fault::Delay {
            for_: Duration::from_millis(300),
        },
    ));
    // A state directory of its own, to see the journal record the parts it will keep.
    let state = tempfile::tempdir().unwrap();
    let mut child = s3mt(&bucket, Some(&slow), "sync", &[root, &prefix])
        .env("XDG_STATE_HOME", state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Parts the journal holds (a line each after the header): the server's answer alone is
    // not enough, s3mt may be killed before it writes the line.
    let journaled = || -> usize {
        let Ok(entries) = std::fs::read_dir(state.path().join("s3mt")) else {
            return 0;
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .map(|journal| journal.lines().count().saturating_sub(1))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while journaled() < 3 {
        assert!(Instant::now() < deadline, "{:#?}", slow.requests());
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: u64 = requests_but_listings(&slow.requests(), "PUT")
        .iter()
        .filter(|r| r.status == Some(200))
        .filter_map(|r| r.content_length)
        .sum();
    assert!(before > 0 && before < total, "{before} of {total}");

    // The same endpoint (the journal is the endpoint's), without the delay.
    slow.clear();
    let first_run = slow.requests().len();
    let again =
        ok(s3mt(&bucket, Some(&slow), "sync", &[root, &prefix])
            .env("XDG_STATE_HOME", state.path()));
    assert!(
        again.stderr.contains("resuming the interrupted upload"),
        "{}",
        again.stderr
    );
    let sent: u64 = requests_but_listings(&slow.requests()[first_run..], "PUT")
        .iter()
        .filter_map(|r| r.content_length)
        .sum();
    assert!(
        sent + before <= total + (5 << 20) * 4,
        "{sent} + {before} of {total}"
    );
    assert!(
        sent < total - (5 << 20) * 2,
        "at least the parts done were not sent again: {sent}"
    );
    assert_eq!(read_objects(&bucket, "k/"), files);
    assert!(bucket.open_uploads().is_empty());
}
