//! Progress as `s3mt cp` shows it: JSON lines (`--json`) whose totals equal the object size even
//! when parts are retried, plain lines and part grids when standard error is not a terminal,
//! and silence under `--quiet`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use s3mt_tests::fixture::{TestBucket, run, write_random_file};
use s3mt_tests::proxy::{Fault, FaultProxy, Match, Rule};
use serde_json::Value;

use crate::{MIB, assert_same_bytes, cp_command};

/// Three parts: 5, 5 and 3 MiB (and a few bytes).
const SIZE: usize = 13 * MIB + 5;
const PARTS: u64 = 3;

/// Runs [`cp_command`].
fn cp(
    bucket: &TestBucket,
    endpoint: Option<&str>,
    paths: [&str; 2],
    args: &[&str],
) -> (Output, String, String) {
    run(&mut cp_command(bucket, endpoint, paths, args))
}

/// [`cp`], which must succeed; returns its stdout and stderr.
#[track_caller]
fn cp_ok(
    bucket: &TestBucket,
    endpoint: Option<&str>,
    paths: [&str; 2],
    args: &[&str],
) -> (String, String) {
    let (output, stdout, stderr) = cp(bucket, endpoint, paths, args);
    assert!(
        output.status.success(),
        "s3mt cp {paths:?} {args:?}: {stderr}"
    );
    (stdout, stderr)
}

/// Every stdout line, parsed as JSON.
#[track_caller]
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON: {line:?}: {err}"))
        })
        .collect()
}

fn kind(line: &Value) -> &str {
    line["type"].as_str().expect("every line has a type")
}

fn number(line: &Value, field: &str) -> u64 {
    line[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is a number in {line}"))
}

/// Checks the shape of a transfer's JSON lines: `planned` first, `summary` last, each part
/// started before its bytes and done after them, and bytes less discarded bytes adding up to
/// the object size. Returns the `retry` lines.
#[track_caller]
fn assert_well_formed(lines: &[Value], direction: &str, size: u64, parts: u64) -> Vec<Value> {
    let first = lines.first().expect("some output");
    assert_eq!(kind(first), "planned", "{first}");
    assert_eq!(number(first, "total_bytes"), size, "{first}");
    assert_eq!(number(first, "parts"), parts, "{first}");
    let last = lines.last().expect("some output");
    assert_eq!(kind(last), "summary", "{last}");
    assert_eq!(last["direction"], direction, "{last}");
    assert_eq!(number(last, "bytes"), size, "{last}");
    assert_eq!(number(last, "parts"), parts, "{last}");
    assert!(
        last["seconds"].is_f64() && last["mb_per_s"].is_f64(),
        "{last}"
    );
    assert!(last["verification"].is_string(), "{last}");

    for part in 1..=parts {
        let position = |wanted: &str| {
            lines
                .iter()
                .position(|line| kind(line) == wanted && number(line, "part") == part)
        };
        let (started, done) = (position("part_started"), position("part_done"));
        assert!(
            matches!((started, done), (Some(s), Some(d)) if s < d),
            "part {part} starts, then finishes: {lines:#?}"
        );
        let bytes = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| kind(line) == "bytes" && number(line, "part") == part);
        for (index, line) in bytes {
            assert!(
                started < Some(index) && Some(index) < done,
                "bytes of part {part} between its start and its end: {line}"
            );
        }
    }
    let mut net = 0;
    for line in lines {
        match kind(line) {
            "bytes" => {
                net += number(line, "bytes");
                assert_eq!(number(line, "done"), net, "the running total: {line}");
            }
            "retry" => net -= number(line, "discarded"),
            "planned" | "part_started" | "part_done" | "summary" => {}
            other => panic!("unexpected line type {other}: {line}"),
        }
    }
    assert_eq!(net, size, "bytes counted once each, retries included");
    lines
        .iter()
        .filter(|line| kind(line) == "retry")
        .cloned()
        .collect()
}

/// An object of [`SIZE`] bytes uploaded from `dir/source`; returns its bytes and address.
fn seed(bucket: &TestBucket, dir: &Path, seed: u64) -> (Vec<u8>, String) {
    let source = dir.join("source");
    let data = write_random_file(&source, SIZE, seed);
    let object = bucket.uri("object").to_string();
    cp_ok(bucket, None, [source.to_str().unwrap(), &object], &["-q"]);
    (data, object)
}

#[test]
fn json_lines_describe_an_upload_and_a_download() {
    let bucket = TestBucket::new("progress-json");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 61);
    let object = bucket.uri("object").to_string();

    let (stdout, stderr) = cp_ok(
        &bucket,
        None,
        [source.to_str().unwrap(), &object],
        &["--json"],
    );
    assert_eq!(stderr, "", "no human output with --json");
    let lines = json_lines(&stdout);
    let retries = assert_well_formed(&lines, "upload", SIZE as u64, PARTS);
    assert!(retries.is_empty(), "{retries:?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["source"], source.to_str().unwrap());
    assert_eq!(summary["destination"], object.as_str());

    let copy = dir.path().join("copy");
    let (stdout, stderr) = cp_ok(
        &bucket,
        None,
        [&object, copy.to_str().unwrap()],
        &["--json"],
    );
    assert_eq!(stderr, "", "no human output with --json");
    let lines = json_lines(&stdout);
    assert_well_formed(&lines, "download", SIZE as u64, PARTS);
    let verification = lines.last().unwrap()["verification"].as_str().unwrap();
    assert!(verification.starts_with("verified: "), "{verification}");
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "the copy");
}

#[test]
fn json_failure_ends_with_an_error_line_and_the_exit_code() {
    let bucket = TestBucket::new("progress-json-error");
    let dir = tempfile::tempdir().unwrap();
    let absent = bucket.uri("absent").to_string();
    let copy = dir.path().join("copy");
    let (output, stdout, stderr) = cp(
        &bucket,
        None,
        [&absent, copy.to_str().unwrap()],
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.starts_with("s3mt: error: "),
        "errors still go to stderr: {stderr}"
    );
    let lines = json_lines(&stdout);
    let last = lines.last().expect("an error line");
    assert_eq!(kind(last), "error", "{last}");
    assert_eq!(number(last, "exit_code"), 4, "{last}");
    assert_eq!(last["kind"], "not_found", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("absent"),
        "{last}"
    );
}

#[test]
fn json_totals_equal_the_object_size_when_parts_are_retried() {
    let bucket = TestBucket::new("progress-json-retried");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = write_random_file(&source, SIZE, 62);
    let object = bucket.uri("object").to_string();
    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    // Reset after 2 MiB of part 2's body, and 2 MiB into one range's reply: some of their bytes
    // were already reported when they fail.
    proxy.add(Rule::once(
        Match::method("PUT").query("partNumber=2"),
        Fault::ResetDuringRequestBody { after: 2 * MIB },
    ));
    proxy.add(Rule::once(
        Match::method("GET").header("range"),
        Fault::ResetDuringResponseBody { after: 2 * MIB },
    ));
    let endpoint = proxy.endpoint();

    let (stdout, _) = cp_ok(
        &bucket,
        Some(&endpoint),
        [source.to_str().unwrap(), &object],
        &["--json"],
    );
    eprintln!("{stdout}");
    let retries = assert_well_formed(&json_lines(&stdout), "upload", SIZE as u64, PARTS);
    let [retry] = retries.as_slice() else {
        panic!("one retry: {retries:#?}");
    };
    assert_eq!(number(retry, "part"), 2, "{retry}");
    assert_eq!(number(retry, "attempt"), 1, "{retry}");
    assert!(number(retry, "discarded") >= MIB as u64, "{retry}");
    assert!(retry["delay_ms"].is_u64(), "{retry}");
    assert!(!retry["reason"].as_str().unwrap().is_empty(), "{retry}");

    let copy = dir.path().join("copy");
    let (stdout, _) = cp_ok(
        &bucket,
        Some(&endpoint),
        [&object, copy.to_str().unwrap()],
        &["--json"],
    );
    let retries = assert_well_formed(&json_lines(&stdout), "download", SIZE as u64, PARTS);
    assert_eq!(retries.len(), 1, "{retries:#?}");
    assert!(number(&retries[0], "part") >= 1, "{:?}", retries[0]);
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "the copy");
    assert!(
        proxy
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
            == 2,
        "both faults were injected"
    );
}

/// A proxy that holds part 2 (or a range) for a moment and then drops it, so a transfer is
/// deterministically still running after several progress intervals.
fn slow_proxy(bucket: &TestBucket, matcher: Match) -> FaultProxy {
    let proxy = FaultProxy::start(bucket.server().endpoint()).expect("start the proxy");
    proxy.add(Rule::once(
        matcher,
        Fault::Stall {
            for_: Duration::from_millis(400),
        },
    ));
    proxy
}

/// `s3mt: 7.0 MiB / 13.0 MiB (53.8%), 41.2 MB/s` (and maybe `, 1 retry`).
fn is_status_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("s3mt: ") else {
        return false;
    };
    let Some((done, rest)) = rest.split_once(" / 13.0 MiB (") else {
        return false;
    };
    let units = ["B", "KiB", "MiB"];
    let done_ok = done
        .split_once(' ')
        .is_some_and(|(n, unit)| n.parse::<f64>().is_ok() && units.contains(&unit));
    let Some((percent, rest)) = rest.split_once("%), ") else {
        return false;
    };
    done_ok
        && percent
            .parse::<f64>()
            .is_ok_and(|p| (0.0..=100.0).contains(&p))
        && rest
            .split_once(" MB/s")
            .is_some_and(|(rate, _)| rate.parse::<f64>().is_ok())
}

#[test]
fn without_a_terminal_progress_is_plain_lines() {
    let bucket = TestBucket::new("progress-lines");
    let dir = tempfile::tempdir().unwrap();
    let (_, object) = seed(&bucket, dir.path(), 63);
    let proxy = slow_proxy(&bucket, Match::method("GET").header("range"));
    let copy = dir.path().join("copy");
    let (stdout, stderr) = cp_ok(
        &bucket,
        Some(&proxy.endpoint()),
        [&object, copy.to_str().unwrap()],
        &["--progress-interval", "0.05"],
    );
    eprintln!("{stderr}");
    assert_eq!(stdout, "");
    assert!(!stderr.contains('\x1b'), "no escape codes: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    let (summary, progress) = lines.split_last().expect("some output");
    assert!(
        summary.starts_with("download: "),
        "the summary last: {stderr}"
    );
    assert!(!progress.is_empty(), "progress lines: {stderr}");
    for line in progress {
        assert!(is_status_line(line), "a status line: {line:?}");
    }
}

/// The cells of a grid row, `  1:100%   2: 43%   3:  0%`, as (part, percent).
fn grid_row(line: &str) -> Option<Vec<(u64, u64)>> {
    let mut cells = Vec::new();
    let mut rest = line.strip_prefix("  ")?;
    while !rest.trim().is_empty() {
        let (part, after) = rest.split_once(':')?;
        let (percent, after) = after.split_once('%')?;
        cells.push((part.trim().parse().ok()?, percent.trim().parse().ok()?));
        rest = after;
    }
    (!cells.is_empty()).then_some(cells)
}

#[test]
fn without_a_terminal_parts_are_blocks_of_columns() {
    let bucket = TestBucket::new("progress-parts");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    write_random_file(&source, SIZE, 64);
    let object = bucket.uri("object").to_string();
    let proxy = slow_proxy(&bucket, Match::method("PUT").query("partNumber=2"));
    let (_, stderr) = cp_ok(
        &bucket,
        Some(&proxy.endpoint()),
        [source.to_str().unwrap(), &object],
        &["--progress", "parts", "--progress-interval", "0.05"],
    );
    eprintln!("{stderr}");
    assert!(!stderr.contains('\x1b'), "no escape codes: {stderr:?}");
    assert!(
        stderr.lines().last().unwrap().starts_with("upload: "),
        "the summary last: {stderr}"
    );
    // Each block: a status line, a parts line, and one grid row (three parts fit in one).
    let lines: Vec<&str> = stderr.lines().collect();
    let mut blocks = 0;
    let mut held_back = false;
    for (index, line) in lines.iter().enumerate() {
        if !is_status_line(line) {
            continue;
        }
        blocks += 1;
        let parts = lines.get(index + 1).copied().unwrap_or_default();
        assert!(
            parts.starts_with("  parts: ") && parts.contains(" of 3 done, "),
            "{parts:?}"
        );
        let row = lines.get(index + 2).and_then(|row| grid_row(row));
        let row = row.unwrap_or_else(|| panic!("a grid row after {parts:?}: {stderr}"));
        let numbers: Vec<u64> = row.iter().map(|&(part, _)| part).collect();
        assert_eq!(numbers, [1, 2, 3], "every part, in order: {stderr}");
        assert!(row.iter().all(|&(_, percent)| percent <= 100), "{row:?}");
        let done: usize = parts["  parts: ".len()..]
            .split_once(" of ")
            .and_then(|(done, _)| done.parse().ok())
            .unwrap_or_else(|| panic!("a count of parts done: {parts:?}"));
        assert_eq!(
            row.iter().filter(|&&(_, percent)| percent == 100).count(),
            done,
            "100% for the parts done, and only those: {parts:?} {row:?}"
        );
        held_back |= row[1].1 < 100;
    }
    assert!(blocks > 0, "some blocks: {stderr}");
    assert!(
        held_back,
        "a block shows part 2 unfinished while it is held back: {stderr}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let bucket = TestBucket::new("progress-quiet");
    let dir = tempfile::tempdir().unwrap();
    let (data, object) = seed(&bucket, dir.path(), 65);
    let copy = dir.path().join("copy");
    for args in [
        [dir.path().join("source").to_str().unwrap(), &object],
        [&object, copy.to_str().unwrap()],
    ] {
        let (stdout, stderr) = cp_ok(
            &bucket,
            None,
            args,
            &["--quiet", "--progress-interval", "0.01"],
        );
        assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""), "{args:?}");
    }
    assert_same_bytes(&std::fs::read(&copy).unwrap(), &data, "the copy");
}
