//! Integrity between s3mt and the tools its users already run: objects boto3 writes with the
//! SDKs' checksums (single PUTs and multipart uploads, full-object and composite, every
//! algorithm) are verified by s3mt's downloads, which catch a byte flipped on the way; and an
//! object s3mt writes with its defaults is checked by boto3 on a whole-object GET. Where a
//! server keeps or returns checksums differently, the test asserts what that server does
//! ([`ServerKind::returns_checksums_of`]).

use s3mt_tests::boto3::Boto3;
use s3mt_tests::fixture::{TestBucket, dir_entries, run, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};
use s3mt_tests::server::{ServerKind, StoredChecksum};

use crate::streams::download_piped;
use crate::{MIB, cp_command};

/// How boto3 wrote an object.
#[derive(Debug, Clone, Copy)]
enum Written {
    /// One PutObject with the algorithm's checksum.
    Put(&'static str),
    /// A multipart upload with the algorithm's part checksums, stored as the type given.
    Multipart(&'static str, &'static str),
}

impl Written {
    fn key(self) -> String {
        match self {
            Written::Put(algorithm) => format!("put-{algorithm}"),
            Written::Multipart(algorithm, kind) => format!("mpu-{algorithm}-{kind}"),
        }
    }

    /// What s3mt verifies such an object against on `kind` (`verified_against`, the
    /// algorithm).
    fn verified_by(self, kind: ServerKind) -> (&'static str, Option<&'static str>) {
        let (Written::Put(algorithm) | Written::Multipart(algorithm, _)) = self;
        match (kind.returns_checksums_of(self.stored()), self) {
            (true, Written::Multipart(_, "COMPOSITE")) => ("composite", Some(algorithm)),
            (true, _) => ("full_object", Some(algorithm)),
            // Without a checksum, a single PUT still has its MD5 ETag.
            (false, Written::Put(_)) => ("etag_md5", None),
            (false, Written::Multipart(..)) if kind.etag_of_multipart_is_md5() => {
                ("etag_md5", None)
            }
            (false, Written::Multipart(..)) => ("none", None),
        }
    }

    fn stored(self) -> StoredChecksum {
        match self {
            Written::Put(_) => StoredChecksum::SinglePut,
            Written::Multipart(_, "FULL_OBJECT") => StoredChecksum::MultipartFullObject,
            Written::Multipart(..) => StoredChecksum::MultipartComposite,
        }
    }
}

/// Every kind of object the SDKs write: aws-cli's and most SDKs' CRC32 (composite on
/// multipart uploads), aws-cli v2's CRC64NVME, and the rest S3 accepts.
const WRITTEN: [Written; 9] = [
    Written::Put("CRC32"),
    Written::Put("CRC32C"),
    Written::Put("CRC64NVME"),
    Written::Put("SHA256"),
    Written::Multipart("CRC32", "COMPOSITE"),
    Written::Multipart("CRC32", "FULL_OBJECT"),
    Written::Multipart("CRC32C", "COMPOSITE"),
    Written::Multipart("CRC64NVME", "FULL_OBJECT"),
    Written::Multipart("SHA256", "COMPOSITE"),
];

/// The summary line of `s3mt cp --json`.
fn summary(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().expect("a summary line");
    serde_json::from_str(last).expect("JSON")
}

#[test]
fn objects_the_sdks_write_are_verified_and_a_flipped_byte_is_caught() {
    let bucket = TestBucket::new("interop-sdk-objects");
    let kind = bucket.server().kind();
    let dir = tempfile::tempdir().unwrap();
    let boto3 = Boto3::new(&bucket);
    // Every GET of an object's bytes through this proxy has one bit flipped 1 MiB in.
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("GET").header("range"),
        usize::MAX,
        Fault::FlipResponseByte { offset: MIB },
    ));
    for written in WRITTEN {
        let key = written.key();
        let source = dir.path().join(&key);
        let data = match written {
            Written::Put(algorithm) => {
                let data = write_random_file(&source, 3 * MIB + 5, 81);
                boto3.put(&key, &source, algorithm).unwrap();
                data
            }
            Written::Multipart(algorithm, stored) => {
                let data = write_random_file(&source, 12 * MIB + 7, 82);
                boto3
                    .multipart(&key, &source, algorithm, stored, &[5 * MIB as u64])
                    .unwrap();
                data
            }
        };
        let object = format!("s3://{}/{key}", bucket.name());
        let copy = dir.path().join(format!("{key}.copy"));
        let (output, stdout, stderr) = run(&mut cp_command(
            &bucket,
            None,
            [&object, copy.to_str().unwrap()],
            &["--json"],
        ));
        assert!(output.status.success(), "{key}: {stderr}");
        assert_eq!(std::fs::read(&copy).unwrap(), data, "{key}");
        let said = summary(&stdout);
        let (against, algorithm) = written.verified_by(kind);
        assert_eq!(said["verified_against"], against, "{key} on {kind}: {said}");
        assert_eq!(
            said["checksum_algorithm"].as_str(),
            algorithm,
            "{key} on {kind}: {said}"
        );
        // To standard output: checked in order as it is written, against the same data.
        let (bytes, code, stderr) =
            download_piped(&mut cp_command(&bucket, None, [&object, "-"], &[]));
        assert_eq!(code, 0, "{key} to stdout: {stderr}");
        assert!(bytes == data, "{key} to stdout: other bytes");
        if against == "none" {
            continue;
        }
        // The same download through the flipping proxy: refused, nothing left behind.
        let into = dir.path().join(format!("{key}.flipped"));
        std::fs::create_dir(&into).unwrap();
        let (output, _, stderr) = run(&mut cp_command(
            &bucket,
            Some(&proxy.endpoint()),
            [&object, into.join("copy").to_str().unwrap()],
            &[],
        ));
        assert_eq!(output.status.code(), Some(8), "{key}: {stderr}");
        assert!(stderr.contains("do not match"), "{key}: {stderr}");
        assert!(
            dir_entries(&into).is_empty(),
            "{key}: {:?}",
            dir_entries(&into)
        );
    }
}

#[test]
fn objects_s3mt_writes_by_default_are_checked_by_boto3() {
    let bucket = TestBucket::new("interop-boto3-reads");
    let kind = bucket.server().kind();
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    proxy.add(Rule::new(
        Match::method("GET"),
        usize::MAX,
        Fault::FlipResponseByte { offset: 1000 },
    ));
    for (key, len) in [("single", 2 * MIB + 1), ("multipart", 11 * MIB + 3)] {
        let source = dir.path().join(key);
        let data = write_random_file(&source, len, 83);
        let object = format!("s3://{}/{key}", bucket.name());
        let (output, _, stderr) = run(&mut cp_command(
            &bucket,
            None,
            [source.to_str().unwrap(), &object],
            &[],
        ));
        assert!(output.status.success(), "{key}: {stderr}");
        let read = Boto3::new(&bucket).get(key).expect("boto3 reads it");
        let read: serde_json::Value = serde_json::from_str(read.trim()).unwrap();
        assert_eq!(read["bytes"], data.len(), "{key}: {read}");
        if !kind.returns_s3mts_checksums(key == "multipart") {
            assert_eq!(
                read["checked_by_botocore"], false,
                "{key} on {kind}: {read}"
            );
            continue;
        }
        // s3mt's default: one CRC-64/NVME of the whole object, which botocore checks.
        assert!(read["checksums"]["CRC64NVME"].is_string(), "{key}: {read}");
        assert_eq!(read["checked_by_botocore"], true, "{key}: {read}");
        let corrupted = Boto3::through(&bucket, &proxy.endpoint()).get(key);
        let complaint = corrupted.expect_err("a flipped byte fails boto3's check");
        assert!(
            complaint.contains("Checksum") || complaint.contains("checksum"),
            "{key}: {complaint}"
        );
    }
}

/// A composite checksum of parts of different sizes: s3mt asks the server where each part
/// ends, and checks each (a file and a stream); a server that cannot say leaves the object
/// unverified, with a notice, never failed.
#[test]
fn a_composite_of_parts_of_different_sizes_is_checked_part_by_part() {
    let bucket = TestBucket::new("interop-uneven-parts");
    let kind = bucket.server().kind();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("uneven");
    let data = write_random_file(&source, 14 * MIB, 84);
    let sizes = [7 * MIB as u64, 5 * MIB as u64, 2 * MIB as u64];
    Boto3::new(&bucket)
        .multipart("uneven", &source, "CRC32C", "COMPOSITE", &sizes)
        .unwrap();
    let object = format!("s3://{}/uneven", bucket.name());
    let copy = dir.path().join("copy");
    let (output, stdout, stderr) = run(&mut cp_command(
        &bucket,
        None,
        [&object, copy.to_str().unwrap()],
        &["--json"],
    ));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), data);
    let said = summary(&stdout);
    let stored = kind.returns_checksums_of(StoredChecksum::MultipartComposite);
    let expected = match (stored, kind.etag_of_multipart_is_md5()) {
        (true, _) => "composite",
        (false, true) => "etag_md5",
        (false, false) => "none",
    };
    assert_eq!(said["verified_against"], expected, "on {kind}: {said}");
    let (bytes, code, stderr) = download_piped(&mut cp_command(&bucket, None, [&object, "-"], &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(bytes == data, "to stdout: other bytes");
    if stored {
        assert!(stderr.contains("CRC-32C per part"), "{stderr}");
    }
}

/// s3mt's record is input from whoever wrote the object: one outside S3's limits would turn a
/// download into millions of one-byte GETs. It is ignored with a notice, and the object's own
/// integrity data is used.
#[test]
fn a_forged_record_is_ignored_with_a_notice_and_costs_no_extra_requests() {
    let bucket = TestBucket::new("interop-forged-record");
    let data = s3mt_tests::fixture::random_bytes(3 * MIB, 85);
    let forged = "v1 part-size=1 parts=3145728 sha256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    bucket.put_foreign_object_with("forged", &data, &[("x-amz-meta-s3mt-sha256", forged)]);
    let proxy = FaultProxy::start(bucket.server().endpoint()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    let object = format!("s3://{}/forged", bucket.name());
    let (output, stdout, stderr) = run(&mut cp_command(
        &bucket,
        Some(&proxy.endpoint()),
        [&object, copy.to_str().unwrap()],
        &["--json"],
    ));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), data);
    assert!(
        stdout.contains("record on the object is ignored") && stdout.contains("over S3's 10,000"),
        "{stdout}"
    );
    // Its single-part MD5 ETag verifies it instead (the foreign PUT sent no checksum).
    assert_eq!(summary(&stdout)["verified_against"], "etag_md5", "{stdout}");
    let gets = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 1, "one ranged GET for 3 MiB, not one per forged part");
}
