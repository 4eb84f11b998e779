//! Scenarios against a real S3 server started by the harness (one server for this binary, a
//! bucket per test): SeaweedFS, or the one `S3MT_TEST_SERVER` names. Where servers differ,
//! a scenario asks the server's [`ServerKind`](s3mt_tests::server::ServerKind) and asserts what
//! that server does.

mod assumed;
mod bandwidth;
mod cli;
mod copy;
mod credentials;
mod events;
mod failures;
mod faults;
mod hostile;
mod housekeeping;
mod integrity;
mod interop;
mod interrupt;
mod object_options;
mod progress;
mod resume;
mod roundtrip;
mod streams;
mod tls;
mod trees;

/// What `s3mt cp` runs with in scenarios of a few parts: 5 MiB parts, 4 in flight.
pub const CP_ARGS: [&str; 6] = [
    "--part-size",
    "5MiB",
    "--multipart-threshold",
    "5MiB",
    "--concurrency",
    "4",
];

/// `s3mt [--endpoint-url ENDPOINT] cp SOURCE DESTINATION CP_ARGS ARGS`: the endpoint given
/// (a proxy) replaces the server's.
pub fn cp_command(
    bucket: &s3mt_tests::fixture::TestBucket,
    endpoint: Option<&str>,
    [source, destination]: [&str; 2],
    args: &[&str],
) -> std::process::Command {
    let mut command = bucket.s3mt();
    if let Some(endpoint) = endpoint {
        command.args(["--endpoint-url", endpoint]);
    }
    command
        .args(["cp", source, destination])
        .args(CP_ARGS)
        .args(args);
    command
}

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// The sizes every round trip covers, with 5 MiB parts: empty, one byte, both sides of the
/// single-PUT threshold and of a part boundary, an exact multiple, and an odd large size.
pub const SIZES: [usize; 7] = [
    0,
    1,
    5 * MIB - 1,
    5 * MIB,
    5 * MIB + 1,
    15 * MIB,
    100 * MIB + 7,
];

/// Parts the engine should use for `size` with 5 MiB parts and a 5 MiB threshold.
pub fn expected_parts(size: usize) -> u64 {
    if size <= 5 * MIB {
        1
    } else {
        size.div_ceil(5 * MIB) as u64
    }
}

/// Ranges a download of `size` bytes takes with 5 MiB ranges.
pub fn expected_ranges(size: usize) -> u64 {
    size.div_ceil(5 * MIB) as u64
}

/// Asserts two byte strings are equal without printing megabytes on failure.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    if let Some(at) = actual.iter().zip(expected).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {at}");
    }
}
