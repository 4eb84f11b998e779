//! What downloads are verified against, for objects written by s3mt and by other tools.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use s3mt_engine::{
    ChecksumAlgorithm, Client, ErrorKind, TransferOptions, Verification, VerifyMode,
};
use s3mt_tests::fixture::{TestBucket, dir_entries, random_bytes, run, write_random_file};
use sha2::{Digest as _, Sha256};

use crate::{MIB, assert_same_bytes};

#[test]
fn s3mt_objects_verify_per_part_on_download_single_and_multipart() {
    let bucket = TestBucket::new("verify-own");
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ChecksumAlgorithm::ALL {
        let config = bucket.config().concurrency(4).checksum_algorithm(algorithm);
        let client = Client::new(config.build().unwrap()).unwrap();
        for size in [0, 1000, 12 * MIB + 5] {
            let source = dir.path().join(format!("s{size}"));
            write_random_file(&source, size, 11);
            let object = bucket.uri(&format!("own-{algorithm:?}-{size}"));
            let uploaded = client.upload_file(&source, &object).unwrap();
            assert_eq!(
                uploaded.verification,
                Verification::SentWithChecksums(algorithm)
            );
            // Whatever the downloading client's own setting, the record names the algorithm.
            let downloaded = bucket
                .client(4)
                .download_file(&object, &dir.path().join(format!("d{size}")))
                .unwrap();
            assert_eq!(
                downloaded.verification,
                Verification::S3mtRecord(algorithm),
                "{size} bytes, {algorithm}"
            );
        }
    }
}

#[test]
fn single_part_objects_of_other_tools_verify_by_md5_etag() {
    let bucket = TestBucket::new("verify-foreign-md5");
    let data = random_bytes(3 * MIB + 1, 12);
    bucket.put_foreign_object("foreign", &data);
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("copy");
    let options = TransferOptions::default().verify(VerifyMode::Require);
    let summary = bucket
        .client(4)
        .download_file_with(&bucket.uri("foreign"), &destination, &options)
        .unwrap();
    assert_eq!(summary.verification, Verification::EtagMd5);
    assert_same_bytes(
        &std::fs::read(&destination).unwrap(),
        &data,
        "foreign object",
    );
}

#[test]
fn whole_object_checksums_from_the_server_verify_foreign_objects() {
    let bucket = TestBucket::new("verify-foreign-checksum");
    let data = random_bytes(2 * MIB + 3, 15);
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ChecksumAlgorithm::ALL {
        let digest = reference_checksum(algorithm, &data);
        let header = format!("x-amz-checksum-{}", algorithm.s3_name().to_lowercase());
        let key = format!("foreign-{}", algorithm.s3_name());
        // Both headers, as AWS's SDKs send them: moto keeps the checksum only when
        // `x-amz-sdk-checksum-algorithm` names its algorithm.
        let headers = [
            (header.as_str(), BASE64.encode(&digest)),
            (
                "x-amz-sdk-checksum-algorithm",
                algorithm.s3_name().to_owned(),
            ),
        ];
        let headers = headers
            .each_ref()
            .map(|(name, value)| (*name, value.as_str()));
        bucket.put_foreign_object_with(&key, &data, &headers);
        let destination = dir.path().join(&key);
        let summary = bucket
            .client(4)
            .download_file(&bucket.uri(&key), &destination)
            .unwrap();
        assert_eq!(
            summary.verification,
            Verification::ServerChecksum(algorithm),
            "{key}"
        );
        assert_same_bytes(&std::fs::read(&destination).unwrap(), &data, &key);
    }
}

/// S3's multipart ETag (`<md5-of-md5s>-N`) verifies nothing: such a download is reported as
/// not verified, and refused under `--verify require`. A server whose multipart ETags are the
/// whole object's MD5 (rclone) verifies it by the ETag, `--verify require` included.
#[test]
fn multipart_objects_without_integrity_data_are_reported_or_refused_under_require() {
    let bucket = TestBucket::new("verify-foreign-mpu");
    let etag_is_md5 = bucket.server().kind().etag_of_multipart_is_md5();
    let first = random_bytes(5 * MIB, 13);
    let second = random_bytes(1000, 14);
    bucket.put_foreign_multipart("plain", &[&first, &second]);
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("copy");
    let client = bucket.client(2);

    let summary = client
        .download_file(&bucket.uri("plain"), &destination)
        .unwrap();
    let (verification, says) = if etag_is_md5 {
        (Verification::EtagMd5, "verified: MD5 of the whole object")
    } else {
        (Verification::Unverified, "NOT verified")
    };
    assert_eq!(summary.verification, verification);
    assert!(summary.verification.to_string().starts_with(says));
    let mut expected = first.clone();
    expected.extend_from_slice(&second);
    assert_same_bytes(
        &std::fs::read(&destination).unwrap(),
        &expected,
        "multipart",
    );

    let fresh = dir.path().join("required");
    let options = TransferOptions::default().verify(VerifyMode::Require);
    let object = format!("s3://{}/plain", bucket.name());
    if etag_is_md5 {
        let summary = client
            .download_file_with(&bucket.uri("plain"), &fresh, &options)
            .unwrap();
        assert_eq!(summary.verification, Verification::EtagMd5);
        assert_same_bytes(&std::fs::read(&fresh).unwrap(), &expected, "required");
        std::fs::remove_file(&fresh).unwrap();
        let (output, _, stderr) = run(bucket
            .s3mt()
            .args(["cp", &object])
            .arg(&fresh)
            .args(["--verify", "require"]));
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(says), "the summary says so: {stderr}");
        assert_same_bytes(&std::fs::read(&fresh).unwrap(), &expected, "required, CLI");
        return;
    }
    let err = client
        .download_file_with(&bucket.uri("plain"), &fresh, &options)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(
        err.to_string().contains("verification is required"),
        "{err}"
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["copy"],
        "nothing written under --verify require"
    );

    let (output, _, stderr) = run(bucket
        .s3mt()
        .args(["cp", &object])
        .arg(&fresh)
        .args(["--verify", "require"]));
    assert_eq!(output.status.code(), Some(8), "{stderr}");
    let (output, _, stderr) = run(bucket.s3mt().args(["cp", &object]).arg(&fresh));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("NOT verified"),
        "the summary says so: {stderr}"
    );
}

/// `algorithm`'s checksum of `data` as S3 encodes it, computed without s3mt.
pub(crate) fn reference_checksum(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    use crc_fast::CrcAlgorithm;
    let crc32 = |crc| {
        (crc_fast::checksum(crc, data) as u32)
            .to_be_bytes()
            .to_vec()
    };
    match algorithm {
        ChecksumAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        ChecksumAlgorithm::Crc64Nvme => crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Crc32 => crc32(CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => crc32(CrcAlgorithm::Crc32Iscsi),
        other => panic!("no reference checksum for {other}"),
    }
}
