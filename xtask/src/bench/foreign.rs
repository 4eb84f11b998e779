//! What verifying another tool's object costs: the data written as aws-cli writes it (a
//! multipart upload of 8 MiB parts with a composite CRC-32, through boto3), and the same bytes
//! with no checksum at all, each downloaded by s3mt at its defaults, interleaved run by run;
//! MB/s and client CPU per GiB, and the verified download's CPU over the unverified one's.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use s3mt_tests::boto3::Boto3;

use super::measure::{self, Sample};
use super::peers::Target;
use super::report::{RunFigures, spread};
use super::s3mt_base;

/// aws-cli's part size (`multipart_chunksize`).
const AWS_CLI_PART_SIZE: u64 = 8 << 20;

/// One object and what s3mt should verify it against.
struct Written {
    label: &'static str,
    key: &'static str,
    algorithm: &'static str,
    kind: &'static str,
    /// What the summary must say it was verified against.
    verified_by: &'static str,
}

const OBJECTS: [Written; 2] = [
    Written {
        label: "aws-cli's default (multipart, 8 MiB parts, composite CRC-32)",
        key: "bench/foreign/crc32-composite",
        algorithm: "CRC32",
        kind: "COMPOSITE",
        verified_by: "against the server's composite checksum",
    },
    Written {
        label: "no checksum (multipart, 8 MiB parts)",
        key: "bench/foreign/unchecked",
        algorithm: "NONE",
        kind: "COMPOSITE",
        verified_by: "NOT verified",
    },
];

/// Writes both objects with boto3, downloads each `runs` times after a warm-up (interleaved),
/// checks every copy, and returns the Markdown table.
pub fn run(
    s3mt: &Path,
    target: &Target,
    data: &Path,
    expected: &str,
    scratch: &Path,
    server_pid: Option<u32>,
    runs: usize,
) -> Result<String> {
    let boto3 = Boto3::at(
        &target.endpoint,
        &target.bucket,
        (&target.access_key, &target.secret_key),
        &target.region,
        target.ca_bundle.as_deref(),
    );
    for object in &OBJECTS {
        eprintln!("writing {} with boto3", object.label);
        boto3
            .multipart(
                object.key,
                data,
                object.algorithm,
                object.kind,
                &[AWS_CLI_PART_SIZE],
            )
            .map_err(|err| anyhow!(err))?;
    }
    let size = std::fs::metadata(data)?.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); OBJECTS.len()];
    for round in 0..=runs {
        // On this VM the first of two back-to-back downloads often pays more kernel time (new
        // page-cache pages cost a host fault): the order alternates so neither is always first.
        let mut order: Vec<usize> = (0..OBJECTS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let object = &OBJECTS[index];
            eprintln!("s3mt reads {}: run {round}/{runs}", object.label);
            let copy = scratch.join("foreign-copy");
            let _ = std::fs::remove_file(&copy);
            let mut command = s3mt_base(s3mt, target, scratch);
            command
                .arg("cp")
                .arg(format!("s3://{}/{}", target.bucket, object.key))
                .arg(&copy)
                .args(["--progress", "none"]);
            let (sample, stderr) = measure::run_capturing(&mut command, server_pid)?;
            if !stderr.contains(object.verified_by) {
                bail!("s3mt reading {}: {stderr}", object.label);
            }
            if measure::file_sha256(&copy)? != expected {
                bail!(
                    "s3mt reading {}: the copy differs from the source",
                    object.label
                );
            }
            std::fs::remove_file(&copy)?;
            if round > 0 {
                samples[index].push(sample);
            }
        }
    }
    let figures: Vec<Vec<RunFigures>> = samples
        .iter()
        .map(|runs| {
            runs.iter()
                .map(|sample| RunFigures::new(sample, size))
                .collect()
        })
        .collect();
    let cpu = |index: usize| spread(figures[index].iter().map(|r| r.cpu_s_per_gib).collect());
    let unverified = cpu(1).0;
    let mut table = String::from(
        "| object s3mt downloads | MB/s | client CPU s/GiB | CPU vs no checksum |\n|---|---|---|---|\n",
    );
    for (index, object) in OBJECTS.iter().enumerate() {
        let speed = spread(figures[index].iter().map(|r| r.mb_per_s).collect());
        let (median, min, max) = cpu(index);
        let _ = writeln!(
            table,
            "| {} | {:.1} ({:.1}..{:.1}) | {median:.2} ({min:.2}..{max:.2}) | {:.2}x |",
            object.label,
            speed.0,
            speed.1,
            speed.2,
            median / unverified.max(1e-9),
        );
    }
    Ok(table)
}
