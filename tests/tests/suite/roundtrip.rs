//! Byte-identical round trips through the library and through the `s3mt` binary.

use s3mt_tests::fixture::{TestBucket, dir_entries, run, write_random_file};

use crate::{SIZES, assert_same_bytes, expected_parts, expected_ranges};

fn library_round_trips(concurrency: usize) {
    let bucket = TestBucket::new(&format!("roundtrip-lib-c{concurrency}"));
    let client = bucket.client(concurrency);
    let dir = tempfile::tempdir().unwrap();
    for (seed, &size) in SIZES.iter().enumerate() {
        let source = dir.path().join(format!("source-{size}"));
        let data = write_random_file(&source, size, seed as u64 + 100 * concurrency as u64);
        let object = bucket.uri(&format!("objects/{size}.bin"));

        let uploaded = client.upload_file(&source, &object).unwrap();
        assert_eq!(
            (uploaded.bytes, uploaded.parts),
            (size as u64, expected_parts(size)),
            "upload {size}"
        );

        let destination = dir.path().join(format!("copy-{size}"));
        let downloaded = client.download_file(&object, &destination).unwrap();
        assert_eq!(
            (downloaded.bytes, downloaded.parts),
            (size as u64, expected_ranges(size)),
            "download {size}"
        );
        assert_same_bytes(
            &std::fs::read(&destination).unwrap(),
            &data,
            &format!("{size} bytes"),
        );
        assert_eq!(
            downloaded.verification,
            s3mt_engine::Verification::S3mtRecord(s3mt_engine::ChecksumAlgorithm::Crc64Nvme),
            "{size}"
        );
    }
    assert!(
        bucket.open_uploads().is_empty(),
        "no multipart upload is left open"
    );
    let expected: usize = SIZES.len() * 2;
    assert_eq!(
        dir_entries(dir.path()).len(),
        expected,
        "no temporary files are left"
    );
}

#[test]
fn library_round_trips_every_boundary_size_at_concurrency_1() {
    library_round_trips(1);
}

#[test]
fn library_round_trips_every_boundary_size_at_concurrency_16() {
    library_round_trips(16);
}

fn binary_round_trips(concurrency: usize) {
    let bucket = TestBucket::new(&format!("roundtrip-bin-c{concurrency}"));
    let dir = tempfile::tempdir().unwrap();
    for (seed, &size) in SIZES.iter().enumerate() {
        let source = dir.path().join(format!("source-{size}"));
        let data = write_random_file(&source, size, seed as u64 + 7 * concurrency as u64);
        let object = format!("s3://{}/bin/{size}", bucket.name());
        let destination = dir.path().join(format!("copy-{size}"));
        let concurrency = concurrency.to_string();
        let options = [
            "--concurrency",
            &concurrency,
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
        ];

        let (output, _, stderr) = run(bucket
            .s3mt()
            .arg("cp")
            .arg(&source)
            .arg(&object)
            .args(options));
        assert!(output.status.success(), "upload {size}: {stderr}");
        let parts = expected_parts(size);
        assert!(
            stderr.contains(&format!("{parts} part")) && stderr.contains("MB/s"),
            "summary: {stderr}"
        );

        let (output, _, stderr) = run(bucket
            .s3mt()
            .arg("cp")
            .arg(&object)
            .arg(&destination)
            .args(options));
        assert!(output.status.success(), "download {size}: {stderr}");
        assert!(stderr.starts_with("download: "), "summary: {stderr}");
        assert_same_bytes(
            &std::fs::read(&destination).unwrap(),
            &data,
            &format!("{size} bytes"),
        );
    }
    assert!(
        bucket.open_uploads().is_empty(),
        "no multipart upload is left open"
    );
    assert_eq!(
        dir_entries(dir.path()).len(),
        SIZES.len() * 2,
        "no temporary files are left"
    );
}

#[test]
fn binary_round_trips_every_boundary_size_at_concurrency_1() {
    binary_round_trips(1);
}

#[test]
fn binary_round_trips_every_boundary_size_at_concurrency_16() {
    binary_round_trips(16);
}

#[test]
fn prefix_and_directory_destinations_take_the_source_name() {
    let bucket = TestBucket::new("destinations");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("report.csv");
    let data = write_random_file(&source, 1000, 1);

    let prefix = format!("s3://{}/reports/", bucket.name());
    let (output, _, stderr) = run(bucket.s3mt().args(["cp"]).arg(&source).arg(&prefix));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("s3://{}/reports/report.csv", bucket.name())),
        "{stderr}"
    );

    let into = dir.path().join("into");
    std::fs::create_dir(&into).unwrap();
    let object = format!("{prefix}report.csv");
    let (output, _, stderr) = run(bucket.s3mt().args(["cp", &object]).arg(&into));
    assert!(output.status.success(), "{stderr}");
    assert_same_bytes(
        &std::fs::read(into.join("report.csv")).unwrap(),
        &data,
        "into a directory",
    );
}

#[test]
fn default_settings_upload_in_16_mib_parts() {
    let bucket = TestBucket::new("defaults");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("forty");
    let data = write_random_file(&source, 40 * crate::MIB + 3, 9);
    let object = format!("s3://{}/forty", bucket.name());
    let (output, _, stderr) = run(bucket.s3mt().arg("cp").arg(&source).arg(&object));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 parts"),
        "40 MiB in 16 MiB parts: {stderr}"
    );
    let copy = dir.path().join("copy");
    let (output, _, stderr) = run(bucket.s3mt().arg("cp").arg(&object).arg(&copy));
    assert!(output.status.success(), "{stderr}");
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "default settings");
}
