//! `--max-bandwidth`: a transfer under a cap takes at least the time its bytes need at that
//! rate (a lower bound, which a slow machine cannot break), both ways, with the cap shown
//! beside the rate in the progress lines; a cap that is no rate is a usage error.

use std::time::{Duration, Instant};

use s3mt_tests::fixture::{TestBucket, run, write_random_file};

use crate::{MIB, assert_same_bytes, cp_command};

/// 12 MiB at 4 MiB/s: three seconds, less the little an idle cap lets through at once.
const SIZE: usize = 12 * MIB;
const CAP: &str = "4MB/s";
const AT_LEAST: Duration = Duration::from_millis(2700);

#[test]
fn a_capped_transfer_takes_its_time_both_ways_and_shows_the_cap() {
    let bucket = TestBucket::new("bandwidth");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 71);
    let copy = dir.path().join("copy");
    let object = bucket.uri("capped").to_string();
    let capped = [
        "--max-bandwidth",
        CAP,
        "--progress",
        "lines",
        "--progress-interval",
        "0.5",
    ];
    for (paths, direction) in [
        ([source.to_str().unwrap(), object.as_str()], "upload"),
        ([object.as_str(), copy.to_str().unwrap()], "download"),
    ] {
        let started = Instant::now();
        let (output, _, stderr) = run(&mut cp_command(&bucket, None, paths, &capped));
        let took = started.elapsed();
        assert!(output.status.success(), "{direction}: {stderr}");
        assert!(
            took >= AT_LEAST,
            "a {direction} of 12 MiB at 4 MiB/s took only {took:?}: {stderr}"
        );
        // 4 MiB/s in the rate's decimal units.
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with("s3mt: ") && line.ends_with("(cap 4.2 MB/s)")),
            "the cap beside the rate: {stderr}"
        );
    }
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "the capped copy");

    // A rate of nothing, or no rate, is refused before anything moves.
    for bad in ["0", "fast", "4 parsecs/s"] {
        let (output, _, stderr) = run(&mut cp_command(
            &bucket,
            None,
            [source.to_str().unwrap(), &bucket.uri("refused").to_string()],
            &["--max-bandwidth", bad],
        ));
        assert_eq!(
            output.status.code(),
            Some(2),
            "--max-bandwidth {bad}: {stderr}"
        );
        assert!(stderr.contains("invalid rate"), "{stderr}");
    }
    assert_eq!(bucket.head_object("refused").0, 404, "nothing was uploaded");
}
