//! The server killed (SIGKILL) and restarted under an upload in flight.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use s3mt_engine::{Client, ErrorKind, S3Uri};
use s3mt_tests::fixture::{self, dir_entries, s3mt_for, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, RequestRecord, Rule};
use s3mt_tests::server::S3Server;

use super::{RUN_LIMIT, assert_bodies_have_a_length, part};
use crate::{MIB, assert_same_bytes};

/// The server is killed (SIGKILL, as a crash) while an upload is in flight, and restarted on
/// the same data and ports: the upload must still finish, byte-identical. A server that keeps
/// nothing across a restart (moto) has lost the bucket: the upload must fail cleanly as not
/// found, with nothing half-written. A dedicated server: the shared one serves other tests
/// meanwhile.
#[test]
fn server_killed_and_restarted_mid_upload_finishes_identically() {
    let mut server = S3Server::start().expect("start a dedicated server");
    let client = Client::new(
        fixture::config_for(&server)
            .concurrency(4)
            .build()
            .expect("config"),
    )
    .expect("client");
    let bucket = "restart";
    client.create_bucket(bucket).expect("create the bucket");
    let object = S3Uri::new(bucket, "survivor").expect("object address");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    // Nine parts of 5 MiB (the last a few bytes).
    let data = write_random_file(&source, 40 * MIB + 9, 53);

    // Part 2's reply is held for a second, so the upload is surely mid-way when the server dies;
    // the retry of part 2 then meets a dead (then starting) server until it is back.
    let proxy = FaultProxy::start(server.endpoint()).expect("start the proxy");
    proxy.add(Rule::once(
        part(2),
        Fault::Stall {
            for_: Duration::from_secs(1),
        },
    ));
    let mut command = s3mt_for(&server);
    command
        .arg("--endpoint-url")
        .arg(proxy.endpoint())
        .args(["cp", source.to_str().unwrap(), &object.to_string()])
        .args(["--part-size", "5MiB", "--concurrency", "1"])
        .args(["--max-attempts", "15", "--io-timeout", "10"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("start s3mt");

    let deadline = Instant::now() + Duration::from_secs(60);
    let part_two_sent = || {
        proxy
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.has_query("partNumber=2"))
    };
    while !part_two_sent() {
        if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("part 2 was never sent: {:#?}", proxy.requests());
        }
        thread::sleep(Duration::from_millis(2));
    }
    let before: Vec<RequestRecord> = proxy.requests();
    // One part at a time: any part sent before part 2 is done.
    let done = before
        .iter()
        .filter(|r| r.method == "PUT" && !r.has_query("partNumber=2"))
        .count();
    assert!(done >= 1, "part 2 went first: {before:#?}");
    server.kill();
    let down = Instant::now();
    if let Err(err) = server.restart() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("restart the server: {err}");
    }
    let restart_took = down.elapsed();

    let (output, _, stderr) = fixture::finish(&command, child, RUN_LIMIT);
    let finished = down.elapsed();
    let requests = proxy.requests();
    let creates = requests
        .iter()
        .filter(|r| r.method == "POST" && r.has_query("uploads"))
        .count();
    let part_attempts = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.has_query("partNumber="))
        .count();
    eprintln!(
        "server restart: back after {restart_took:.2?}, upload done {finished:.2?} after the kill; \
         {creates} CreateMultipartUpload, {part_attempts} UploadPart requests reached the proxy; \
         {stderr}"
    );
    assert_bodies_have_a_length(&requests, "restart");
    if !server.kind().keeps_data_across_restart() {
        let journals = fixture::state_home(&server).join("s3mt");
        let lost = [dir.path(), &journals];
        assert_restart_lost_the_bucket(&client, &object, lost, &output, &stderr);
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(part_attempts > 9, "part 2 was sent again after the kill");
    // SeaweedFS keeps multipart uploads across a restart (seen: one Create); a server that lost
    // it would answer NoSuchUpload, and the engine starts the upload over, once.
    assert!((1..=2).contains(&creates), "{creates} uploads created");

    let copy = dir.path().join("copy");
    client
        .download_file(&object, &copy)
        .expect("direct download");
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "after the restart");
    let open = client
        .list_multipart_uploads(bucket, "")
        .expect("list uploads");
    assert!(open.is_empty(), "uploads left open: {open:?}");
}

/// After a restart that lost everything, the bucket included: the upload failed as not found
/// (`NOT_FOUND` in `cli/src/exit.rs`) saying so, and left no object, no open upload, no file
/// in `dir` but the source and no journal to resume in `journals`.
fn assert_restart_lost_the_bucket(
    client: &Client,
    object: &S3Uri,
    [dir, journals]: [&Path; 2],
    output: &std::process::Output,
    stderr: &str,
) {
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.starts_with("s3mt: error: ") && stderr.contains("NoSuchBucket"),
        "{stderr}"
    );
    let gone = client
        .download_file(object, &dir.join("never"))
        .expect_err("no object");
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    match client.list_multipart_uploads(object.bucket(), "") {
        Ok(open) => assert!(open.is_empty(), "uploads left open: {open:?}"),
        Err(err) => assert_eq!(err.kind(), ErrorKind::NotFound, "{err}"),
    }
    assert_eq!(dir_entries(dir), ["source"]);
    let resumable = s3mt_engine::resumable_uploads(journals);
    assert!(resumable.is_empty(), "kept to resume: {resumable:?}");
}
