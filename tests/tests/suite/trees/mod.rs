//! Trees: `s3mt cp --recursive` and `s3mt sync` between a local directory and a prefix, run
//! through the binary against the real server, with requests counted at the fault proxy where
//! what was sent (or not sent) is the point.

mod copy;
mod inside;
mod moves;
mod resume;
mod safety;
mod shards;
mod sync;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use s3mt_tests::fixture::{TestBucket, run_for};
use s3mt_tests::proxy::{FaultProxy, RequestRecord};

/// Longest a single `s3mt` run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The files of a tree: path relative to the root (with `/`) -> bytes.
type Files = BTreeMap<String, Vec<u8>>;

/// Writes `files` under `root`, creating directories, each modified a minute ago: as files
/// are when they are synced, and not within the second of an object's `Last-Modified` (which
/// SeaweedFS keeps to the second), which a sync settles by asking the object's record.
fn write_tree(root: &Path, files: &Files) {
    let a_minute_ago = SystemTime::now() - Duration::from_secs(60);
    for (path, bytes) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(a_minute_ago)
            .unwrap();
    }
}

/// The regular files under `root`, read back (links followed, other entries left out).
fn read_tree(root: &Path) -> Files {
    let mut files = Files::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A tree of small files with the names that trip trees up: nested directories, a name that
/// sorts between a directory and its contents (`a-c` against `a/`), spaces, non-ASCII, `+`,
/// `%`, `#`, an empty file, a hidden one.
fn awkward_tree() -> Files {
    [
        ("a-c", &b"between a and a/"[..]),
        ("a/b", b"in a"),
        ("a/z/deep.txt", b"deeper"),
        ("a0", b"after a/"),
        ("sp ace/\u{fc} n+i%c#o.d", b"awkward"),
        ("empty", b""),
        (".hidden", b"dot"),
    ]
    .into_iter()
    .map(|(path, bytes)| (path.to_owned(), bytes.to_vec()))
    .collect()
}

/// `s3mt [--endpoint-url PROXY] COMMAND ARGS`, small parts, four in flight.
fn s3mt(bucket: &TestBucket, proxy: Option<&FaultProxy>, command: &str, args: &[&str]) -> Command {
    let mut s3mt = bucket.s3mt();
    if let Some(proxy) = proxy {
        s3mt.args(["--endpoint-url", &proxy.endpoint()]);
    }
    s3mt.arg(command).args(args).args([
        "--part-size",
        "5MiB",
        "--multipart-threshold",
        "5MiB",
        "--concurrency",
        "4",
        "--progress",
        "lines",
    ]);
    s3mt
}

/// What a run printed, and how it ended.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Ran {
    let (output, stdout, stderr) = run_for(command, RUN_LIMIT);
    Ran {
        code: output.status.code().expect("an exit code"),
        stdout,
        stderr,
    }
}

/// Runs the command and requires exit 0.
#[track_caller]
fn ok(command: &mut Command) -> Ran {
    let ran = run(command);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    ran
}

/// Requests with `method` that are not listings (`GET ?list-type=2`).
fn requests_but_listings<'a>(
    requests: &'a [RequestRecord],
    method: &str,
) -> Vec<&'a RequestRecord> {
    requests
        .iter()
        .filter(|r| r.method == method && !(method == "GET" && r.has_query("list-type=2")))
        .collect()
}

/// The objects under `prefix`, read back straight from the server: key relative to the
/// prefix -> bytes.
fn read_objects(bucket: &TestBucket, prefix: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let client = bucket.client(4);
    client
        .list_objects(bucket.name(), prefix)
        .unwrap()
        .into_iter()
        .map(|object| {
            let copy = dir.path().join("copy");
            client
                .download_file(&bucket.uri(&object.key), &copy)
                .unwrap();
            let relative = object.key.strip_prefix(prefix).unwrap().to_owned();
            (relative, std::fs::read(&copy).unwrap())
        })
        .collect()
}
