//! `cargo xtask test`: every test of the workspace against SeaweedFS, then the integration
//! tests again against each other S3 implementation the harness can start.

use std::time::{Duration, Instant};

use argh::FromArgs;
use s3mt_tests::server::{SERVER_ENV, ServerKind};

/// Run every test: unit tests, doc tests and the integration tests against SeaweedFS, then the
/// harness's test and the suite (crate s3mt-tests) against rclone's serve s3 and moto's server.
/// Each server is installed into target/tools on first use. Fails if any phase fails, after
/// running them all.
#[derive(FromArgs)]
#[argh(subcommand, name = "test")]
pub struct TestArgs {
    /// which server to test against: seaweedfs (the whole workspace), rclone or moto (the
    /// integration tests only), or all (the default; S3MT_TEST_SERVER, when set, picks one)
    #[argh(option)]
    server: Option<String>,

    /// only run tests whose names contain this
    #[argh(positional)]
    filter: Option<String>,
}

/// One `cargo test` run against one server.
struct Phase {
    kind: ServerKind,
    cargo_args: Vec<&'static str>,
}

impl Phase {
    /// SeaweedFS runs everything; the other servers the harness's own test and the suite.
    /// Not `tests/proxy.rs`: it tests the fault proxy, with SeaweedFS's answers as the
    /// reference (an anonymous 403 carrying a request id, `BadDigest` for a flipped byte).
    fn for_kind(kind: ServerKind) -> Phase {
        let cargo_args = if kind == ServerKind::SeaweedFs {
            vec!["test", "--workspace"]
        } else {
            let tests = ["--test", "harness", "--test", "suite"];
            [&["test", "--package", "s3mt-tests"][..], &tests].concat()
        };
        Phase { kind, cargo_args }
    }
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let kinds = match args.server.as_deref() {
        Some("all") => ServerKind::ALL.to_vec(),
        Some(name) => vec![ServerKind::parse(name)?],
        None if std::env::var_os(SERVER_ENV).is_some_and(|v| !v.is_empty()) => {
            vec![ServerKind::from_env()?]
        }
        None => ServerKind::ALL.to_vec(),
    };
    let phases: Vec<Phase> = kinds.into_iter().map(Phase::for_kind).collect();
    let mut results: Vec<(ServerKind, Duration, anyhow::Result<()>)> = Vec::new();
    for (number, phase) in phases.iter().enumerate() {
        let kind = phase.kind;
        let mut cargo_args = phase.cargo_args.clone();
        if let Some(filter) = &args.filter {
            cargo_args.push(filter);
        }
        // Install the server up front, so its download shows here rather than inside a test.
        let program = kind.install()?;
        println!(
            "==> test phase {}/{}: {kind} ({SERVER_ENV}={}, {}): cargo {}",
            number + 1,
            phases.len(),
            kind.name(),
            program.display(),
            cargo_args.join(" ")
        );
        let started = Instant::now();
        let outcome = crate::cargo_with_env(&cargo_args, &[(SERVER_ENV, kind.name())]);
        results.push((kind, started.elapsed(), outcome));
    }
    println!("==> test phases:");
    let mut failed = Vec::new();
    for (kind, elapsed, outcome) in &results {
        let verdict = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(err) => {
                failed.push(kind.name());
                format!("FAILED: {err}")
            }
        };
        println!("    {kind}: {verdict} ({:.0} s)", elapsed.as_secs_f64());
    }
    anyhow::ensure!(
        failed.is_empty(),
        "tests failed against {}",
        failed.join(", ")
    );
    Ok(())
}
