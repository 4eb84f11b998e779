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
                boto3.put(&key, &source, algorithm);
                data
            }
            Written::Multipart(algorithm, stored) => {
                let data = write_random_file(&source, 12 * MIB + 7, 82);
                boto3.multipart(&key, &source, algorithm, stored, 5 * MIB as u64);
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
