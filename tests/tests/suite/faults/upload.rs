//! Faults on uploads, one test each: those the retries outlast leave an identical object; those
//! that outlast the retries fail and leave no object and no open multipart upload.

use std::path::Path;
use std::time::Duration;

use s3mt_engine::{ErrorKind, S3Uri};
use s3mt_tests::fixture::{TestBucket, dir_entries, run_for, write_random_file};
use s3mt_tests::proxy::Fault;

use super::{
    ALWAYS, CAUGHT, Case, Expect, REFUSAL, REFUSAL_ATTEMPTS, RUN_LIMIT, SIZE, any_part, complete,
    cp_through_proxy, create, part, server_kind, stall, status,
};
use crate::{MIB, assert_same_bytes, cp_command};

/// The `cp` options that checksum parts with CRC-64/NVME instead of SHA-256.
const CRC64NVME: [&str; 2] = ["--checksum-algorithm", "CRC64NVME"];

/// Uploads a fresh file through the proxy set up as `case` says, into a bucket of its own, and
/// checks what is left: no open upload, and an object identical to the file, one whose
/// download is caught, or none, as `case` expects.
fn upload(case: Case) {
    let bucket = TestBucket::new(&format!("faults-up-{}", case.name));
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 51);
    let object = bucket.uri(case.name);
    let outcome = cp_through_proxy(
        &bucket,
        &case,
        source.to_str().unwrap(),
        &object.to_string(),
    );
    eprintln!(
        "upload {} in {:.2?}: {}",
        case.name,
        outcome.elapsed,
        outcome.stderr.trim_end()
    );
    let mut open = bucket.open_uploads();
    if case.orphans && !server_kind().reports_upload_start_times() {
        assert!(
            matches!(&open[..], [orphan] if orphan.key == case.name),
            "{}: one orphan expected: {open:?}",
            case.name
        );
        let orphan = open.pop().unwrap();
        bucket
            .client(1)
            .abort_multipart_upload(&object, &orphan.upload_id)
            .expect("abort the orphan");
    }
    assert!(
        open.is_empty(),
        "{}: uploads left open: {open:?}",
        case.name
    );
    match case.expect {
        Expect::Identical => {
            assert_same_bytes(&fetch(&bucket, &object, dir.path()), &data, case.name);
        }
        Expect::CaughtOnDownload => assert_download_is_caught(&bucket, &object, case.name),
        Expect::Fails { .. } => {
            let stderr = &outcome.stderr;
            assert!(
                stderr.contains("the multipart upload was aborted")
                    || !outcome.requests.iter().any(|r| r.has_query("uploadId=")),
                "{}: {stderr}",
                case.name
            );
            let gone = bucket
                .client(1)
                .download_file(&object, &dir.path().join("never"))
                .expect_err("no object");
            assert_eq!(gone.kind(), ErrorKind::NotFound, "{}: {gone}", case.name);
        }
    }
    assert_eq!(dir_entries(dir.path()), ["source"]);
}

/// Downloads `object` straight from the server (not through any proxy).
fn fetch(bucket: &TestBucket, object: &S3Uri, dir: &Path) -> Vec<u8> {
    let path = dir.join("direct-copy");
    bucket
        .client(4)
        .download_file(object, &path)
        .expect("direct download");
    let bytes = std::fs::read(&path).expect("read the direct copy");
    std::fs::remove_file(&path).expect("remove the direct copy");
    bytes
}

/// `s3mt cp OBJECT FILE` of an object stored with a corrupted part fails with [`CAUGHT`] and
/// leaves neither the file nor a temporary one.
fn assert_download_is_caught(bucket: &TestBucket, object: &S3Uri, case: &str) {
    let into = tempfile::tempdir().unwrap();
    let destination = into.path().join("copy");
    let mut command = cp_command(
        bucket,
        None,
        [&object.to_string(), destination.to_str().unwrap()],
        &["--no-resume"],
    );
    let (output, _, stderr) = run_for(&mut command, RUN_LIMIT);
    let (code, says) = CAUGHT;
    assert_eq!(
        output.status.code(),
        Some(code),
        "{case}: download: {stderr}"
    );
    assert!(
        stderr.starts_with("s3mt: error: ") && stderr.contains(says),
        "{case}: download: expected {says:?} in {stderr:?}"
    );
    let entries = dir_entries(into.path());
    assert!(entries.is_empty(), "{case}: download left {entries:?}");
}

// Faults the retries outlast: the object is identical to the file.

#[test]
fn upload_recovers_from_a_reset_in_a_part_body() {
    upload(Case::recovers("reset-in-part-body").fault(
        part(2),
        1,
        Fault::ResetDuringRequestBody { after: MIB },
    ));
}

#[test]
fn upload_recovers_from_500_to_two_parts() {
    upload(Case::recovers("500-to-two-parts").fault(any_part(), 2, status(500, "InternalError")));
}

#[test]
fn upload_recovers_from_slow_down_thrice_on_part_1() {
    upload(
        Case::recovers("slow-down-thrice-on-part-1")
            .fault(part(1), 3, status(503, "SlowDown"))
            .count("PUT", "partNumber=1", 4),
    );
}

#[test]
fn upload_recovers_from_slow_down_on_create() {
    upload(Case::recovers("slow-down-on-create").fault(create(), 2, status(503, "SlowDown")));
}

#[test]
fn upload_recovers_from_a_stalled_part_reply() {
    upload(
        Case::recovers("stalled-part-reply")
            .fault(part(3), 1, stall())
            .args(&["--io-timeout", "1"]),
    );
}

/// A server that verifies no checksums stores the part as it arrived: the download must catch
/// it (see [`Case::fault`]).
#[test]
fn upload_recovers_from_a_flipped_byte_in_a_part_body() {
    upload(Case::recovers("flipped-byte-in-part-body").fault(
        part(2),
        1,
        Fault::FlipRequestByte { offset: 12_345 },
    ));
}

#[test]
fn upload_recovers_from_200_with_an_error_to_complete() {
    upload(Case::recovers("complete-200-with-error").fault(
        complete(),
        1,
        Fault::OkWithErrorBody {
            code: "InternalError",
        },
    ));
}

/// The server made an upload whose id never arrived: it must not stay open.
#[test]
fn upload_recovers_from_a_short_create_reply() {
    upload(
        Case::recovers("short-create-reply")
            .fault(create(), 1, Fault::ShortBody { missing: 20 })
            .orphans_an_upload()
            .count("POST", "uploads", 2),
    );
}

/// The server completed the upload but the reply was lost: asking again succeeds (SeaweedFS
/// answers a repeated Complete as the first), or meets NoSuchUpload and the upload starts over,
/// once (see `ServerKind::repeats_completions`).
#[test]
fn upload_recovers_from_a_lost_complete_reply() {
    // Creates and Completes when a Complete's reply is lost.
    let lost_complete = if server_kind().repeats_completions() {
        (1, 2)
    } else {
        (2, 3)
    };
    upload(
        Case::recovers("lost-complete-reply")
            .fault(complete(), 1, Fault::ResetDuringResponseBody { after: 0 })
            .count("POST", "uploads", lost_complete.0)
            .count("POST", "uploadId=", lost_complete.1),
    );
}

#[test]
fn upload_recovers_from_refused_connections() {
    upload(
        Case::recovers("refused-connections")
            .refuse(REFUSAL)
            .args(&["--max-attempts", REFUSAL_ATTEMPTS]),
    );
}

// Faults that outlast the retries: the upload fails and is aborted.

#[test]
fn upload_fails_when_every_part_2_is_reset() {
    upload(
        Case::fails("reset-every-part-2", 7, "part 2")
            .fault(
                part(2),
                ALWAYS,
                Fault::ResetDuringRequestBody { after: MIB },
            )
            .args(&["--max-attempts", "2"]),
    );
}

#[test]
fn upload_fails_on_slow_down_to_every_part_1() {
    upload(
        Case::fails("slow-down-every-part-1", 7, "SlowDown")
            .fault(part(1), ALWAYS, status(503, "SlowDown"))
            .args(&["--max-attempts", "3"]),
    );
}

#[test]
fn upload_fails_on_500_to_every_create() {
    upload(
        Case::fails("500-to-every-create", 7, "InternalError")
            .fault(create(), ALWAYS, status(500, "InternalError"))
            .args(&["--max-attempts", "2"]),
    );
}

/// Complete failing after its retries restarts the upload once; both are aborted.
#[test]
fn upload_fails_when_every_complete_is_200_with_an_error() {
    upload(
        Case::fails("complete-always-200-with-error", 7, "InternalError")
            .fault(
                complete(),
                ALWAYS,
                Fault::OkWithErrorBody {
                    code: "InternalError",
                },
            )
            .args(&["--max-attempts", "2"])
            .count("POST", "uploads", 2)
            .count("POST", "uploadId=", 4)
            .count("DELETE", "uploadId=", 2),
    );
}

/// A server that verifies no checksums stores the part as it arrived: the download must catch
/// it (see [`Case::fault`]).
#[test]
fn upload_fails_when_every_part_2_has_a_flipped_byte() {
    upload(
        Case::fails("flipped-byte-in-every-part-2", 7, "BadDigest")
            .fault(part(2), ALWAYS, Fault::FlipRequestByte { offset: 7 })
            .args(&["--max-attempts", "2"]),
    );
}

#[test]
fn upload_fails_when_connections_are_refused_too_long() {
    upload(
        Case::fails("refused-too-long", 7, "Connection refused")
            .refuse(Duration::from_secs(3))
            .args(&["--max-attempts", "2"]),
    );
}

// CRC-64/NVME part checksums catch corruption as SHA-256 ones do: the server refuses a part
// that changed in flight (or, verifying none, stores it and the download catches it).

#[test]
fn upload_with_crc64nvme_recovers_from_a_flipped_byte_in_part_2() {
    upload(
        Case::recovers("flipped-byte-in-part-2")
            .fault(part(2), 1, Fault::FlipRequestByte { offset: 12_345 })
            .args(&CRC64NVME),
    );
}

#[test]
fn upload_with_crc64nvme_fails_when_every_part_2_has_a_flipped_byte() {
    upload(
        Case::fails("flipped-byte-in-every-part-2", 7, "BadDigest")
            .fault(part(2), ALWAYS, Fault::FlipRequestByte { offset: 7 })
            .args(&CRC64NVME)
            .args(&["--max-attempts", "2"]),
    );
}

/// Found by the soak: every Create's reply lost (all attempts stalled), s3mt never learnt any
/// upload id and no reply told it the server's clock; the upload the server made must still be
/// found (by the listing's clock) and aborted. (One attempt: moto dates no upload, so each
/// would be left as an orphan it cannot tell from another client's.)
#[test]
fn upload_fails_cleanly_when_every_create_reply_is_lost() {
    upload(
        Case::fails("lost-creates", 7, "timeout")
            .fault(create(), ALWAYS, stall())
            .args(&["--io-timeout", "1", "--max-attempts", "1"])
            .orphans_an_upload(),
    );
}

/// Found by the soak: a PutObject answered `200` with no ETag (here by the proxy, which
/// forwarded nothing) stored nothing; s3mt took it for success. It is retried.
#[test]
fn a_put_answered_without_an_etag_is_retried() {
    let bucket = TestBucket::new("faults-up-no-etag");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, 1000, 52);
    let proxy = s3mt_tests::proxy::FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(s3mt_tests::proxy::Rule::once(
        s3mt_tests::proxy::Match::method("PUT"),
        Fault::EmptyOk,
    ));
    let object = bucket.uri("small");
    let (output, _, stderr) = run_for(
        &mut cp_command(
            &bucket,
            Some(&proxy.endpoint()),
            [source.to_str().unwrap(), &object.to_string()],
            &[],
        ),
        RUN_LIMIT,
    );
    assert!(output.status.success(), "{stderr}");
    let puts = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 2, "the PUT with no ETag was sent again: {stderr}");
    assert_same_bytes(&fetch(&bucket, &object, dir.path()), &data, "no-etag");
}

/// Found by the soak: every Create reply lost, then the listing that looks for the uploads
/// they made failing too (the server down): the uploads the server may hold were left with
/// nothing said. The error now says they could not be looked for, and how to find them.
#[test]
fn uploads_a_lost_create_may_have_made_are_named_when_they_cannot_be_looked_for() {
    use s3mt_tests::proxy::{FaultProxy, Match, Rule};
    let bucket = TestBucket::new("faults-up-orphans-unlisted");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, 6 * MIB, 53);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        create(),
        ALWAYS,
        Fault::ResetDuringResponseBody { after: 0 },
    ));
    proxy.add(Rule::new(
        Match::method("GET").query("uploads"),
        ALWAYS,
        Fault::Respond {
            status: 503,
            code: "SlowDown",
        },
    ));
    let object = bucket.uri("orphaned");
    let (output, _, stderr) = run_for(
        &mut cp_command(
            &bucket,
            Some(&proxy.endpoint()),
            [source.to_str().unwrap(), &object.to_string()],
            &["--max-attempts", "2"],
        ),
        RUN_LIMIT,
    );
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("could not be looked for")
            && stderr.contains(&format!("`s3mt uploads ls {object}`")),
        "{stderr}"
    );
    // What the message points at is there to find: the server made an upload per try.
    let left = bucket.open_uploads();
    assert!(
        !left.is_empty(),
        "the resets came after the server made the uploads"
    );
    let housekeeping = bucket.client(1);
    for upload in left {
        housekeeping
            .abort_multipart_upload(&bucket.uri(&upload.key), &upload.upload_id)
            .unwrap();
    }
}

/// A failed upload whose abort fails too (the server refusing it): the error names the upload
/// and the command that aborts it, and that command, run as printed, does.
#[test]
fn an_upload_whose_abort_fails_is_named_with_the_command_that_aborts_it() {
    use s3mt_tests::proxy::{FaultProxy, Match, Rule};
    let bucket = TestBucket::new("faults-up-abort-refused");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, 6 * MIB, 54);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(part(2), ALWAYS, status(403, "AccessDenied")));
    proxy.add(Rule::new(
        Match::method("DELETE").query("uploadId="),
        ALWAYS,
        status(503, "SlowDown"),
    ));
    let object = bucket.uri("abort-refused");
    let (output, _, stderr) = run_for(
        &mut cp_command(
            &bucket,
            Some(&proxy.endpoint()),
            [source.to_str().unwrap(), &object.to_string()],
            &["--max-attempts", "2", "--no-resume"],
        ),
        RUN_LIMIT,
    );
    assert!(!output.status.success(), "{stderr}");
    let left = bucket.open_uploads();
    assert_eq!(left.len(), 1, "the abort was refused: {stderr}");
    let command = format!(
        "s3mt uploads abort {object} --upload-id {}",
        left[0].upload_id
    );
    assert!(
        stderr.contains("could not be aborted") && stderr.contains(&format!("`{command}`")),
        "{stderr}"
    );
    // The command as printed, straight to the server.
    let printed: Vec<&str> = command.split(' ').skip(1).collect();
    let (output, _, stderr) = run_for(bucket.s3mt().args(&printed), RUN_LIMIT);
    assert!(output.status.success(), "{stderr}");
    assert!(bucket.open_uploads().is_empty());
}
