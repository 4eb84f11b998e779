//! `cargo xtask demo`: start a local SeaweedFS, upload and download a generated file with the
//! release `s3mt` binary, check SHA-256, print throughput, stop the server.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use argh::FromArgs;
use s3mt_engine::size::{format_size, parse_size};
use s3mt_engine::{Addressing, Client, Config, Credentials};
use s3mt_tests::fixture::random_bytes;
use s3mt_tests::server::{S3Server, ServerKind};
use sha2::{Digest, Sha256};

/// Upload and download a generated file through a local SeaweedFS with s3mt, and check it.
#[derive(FromArgs)]
#[argh(subcommand, name = "demo")]
pub struct DemoArgs {
    /// size of the generated file (default: 1GiB)
    #[argh(option, default = "String::from(\"1GiB\")")]
    size: String,

    /// extra options for both `s3mt cp` runs, e.g. --cp-args="--concurrency 16"
    #[argh(option, default = "String::new()")]
    cp_args: String,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let size = parse_size(&args.size)?;
    crate::cargo(&["build", "--release", "--quiet", "-p", "s3mt"])?;
    let root = s3mt_tests::tools::workspace_root();
    let s3mt = root.join("target/release/s3mt");
    let work = root.join("target/demo");
    std::fs::create_dir_all(&work)?;
    let source = work.join("demo.bin");
    let copy = work.join("demo.copy");

    println!(
        "generating {} of test data in {}",
        format_size(size),
        source.display()
    );
    let expected = generate(&source, size)?;

    let kind = ServerKind::from_env()?;
    println!("starting {kind} on loopback");
    let server = S3Server::start_kind(kind).with_context(|| format!("start {kind}"))?;
    let config = Config::builder(Credentials::new(server.access_key(), server.secret_key()))
        .endpoint(server.endpoint())
        .addressing(Addressing::Path)
        .build()?;
    Client::new(config)?.create_bucket("demo")?;

    let object = "s3://demo/demo.bin";
    let extra: Vec<&str> = args.cp_args.split_whitespace().collect();
    let upload = time_cp(&server, &s3mt, &[path_str(&source)?, object], &extra)?;
    let download = time_cp(&server, &s3mt, &[object, path_str(&copy)?], &extra)?;
    let actual = sha256_file(&copy)?;
    ensure!(
        actual == expected,
        "SHA-256 mismatch: sent {expected}, got back {actual}"
    );

    println!();
    println!("SHA-256 {expected}: identical after the round trip");
    for (direction, seconds) in [("upload", upload), ("download", download)] {
        println!(
            "{direction:>8}: {} in {seconds:.2} s = {:.1} MB/s",
            format_size(size),
            size as f64 / seconds / 1e6
        );
    }
    drop(server);
    std::fs::remove_file(&source)?;
    std::fs::remove_file(&copy)?;
    Ok(())
}

/// Runs `s3mt cp` against the server and returns its wall time in seconds.
fn time_cp(server: &S3Server, s3mt: &Path, paths: &[&str], extra: &[&str]) -> Result<f64> {
    let started = Instant::now();
    let status = Command::new(s3mt)
        // The local server's keys only: nothing from the user's profile or session.
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env("AWS_REGION", server.region())
        .args(["--endpoint-url", server.endpoint(), "cp"])
        .args(paths)
        .args(extra)
        .status()
        .context("run s3mt")?;
    ensure!(
        status.success(),
        "s3mt cp {} failed ({status})",
        paths.join(" ")
    );
    Ok(started.elapsed().as_secs_f64())
}

/// Writes `size` pseudo-random bytes and returns their SHA-256.
fn generate(path: &PathBuf, size: u64) -> Result<String> {
    const CHUNK: u64 = 8 << 20;
    let mut out = BufWriter::new(File::create(path)?);
    let mut hasher = Sha256::new();
    let mut written = 0;
    while written < size {
        let len = CHUNK.min(size - written);
        let chunk = random_bytes(len as usize, written / CHUNK + 1);
        hasher.update(&chunk);
        out.write_all(&chunk)?;
        written += len;
    }
    out.flush()?;
    Ok(hex::encode(hasher.finalize()))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    let mut buffer = vec![0; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buffer[..n]),
        }
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}
