//! `cargo xtask test`: every test of the workspace against SeaweedFS, then the integration
//! tests again against each other S3 implementation the harness can start, then a short
//! fault soak with a fixed seed.

use std::time::{Duration, Instant};

use argh::FromArgs;
use s3mt_tests::server::{SERVER_ENV, ServerKind};
use s3mt_tests::tls::TLS_ENV;

/// Run every test: unit tests, doc tests and the integration tests against SeaweedFS, then the
/// harness's test and the suite (crate s3mt-tests) against SeaweedFS serving HTTPS (with a CA
/// the tests make), rclone's serve s3 and moto's server. Each server is installed into
/// target/tools on first use. Fails if any phase fails, after running them all.
#[derive(FromArgs)]
#[argh(subcommand, name = "test")]
pub struct TestArgs {
    /// which server to test against: seaweedfs (the whole workspace), tls (SeaweedFS over
    /// HTTPS), rclone or moto (the integration tests only), or all (the default;
    /// S3MT_TEST_SERVER, when set, picks one)
    #[argh(option)]
    server: Option<String>,

    /// only run tests whose names contain this
    #[argh(positional)]
    filter: Option<String>,
}

/// One `cargo test` run against one server.
struct Phase {
    kind: ServerKind,
    /// The server speaks HTTPS (`S3MT_TEST_TLS=1`).
    tls: bool,
    cargo_args: Vec<&'static str>,
}

impl Phase {
    /// SeaweedFS runs everything; the other servers, and SeaweedFS over HTTPS, the harness's
    /// own test and the suite. Not `tests/proxy.rs`: it tests the fault proxy, with
    /// SeaweedFS's answers as the reference (an anonymous 403 carrying a request id,
    /// `BadDigest` for a flipped byte).
    fn for_kind(kind: ServerKind, tls: bool) -> Phase {
        let cargo_args = if kind == ServerKind::SeaweedFs && !tls {
            vec!["test", "--workspace"]
        } else {
            let tests = ["--test", "harness", "--test", "suite"];
            [&["test", "--package", "s3mt-tests"][..], &tests].concat()
        };
        Phase {
            kind,
            tls,
            cargo_args,
        }
    }

    fn name(&self) -> String {
        if self.tls {
            format!("{} over HTTPS", self.kind)
        } else {
            self.kind.to_string()
        }
    }
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let all = || {
        let mut phases = vec![Phase::for_kind(ServerKind::SeaweedFs, false)];
        phases.push(Phase::for_kind(ServerKind::SeaweedFs, true));
        phases.extend(
            ServerKind::ALL
                .into_iter()
                .filter(|kind| *kind != ServerKind::SeaweedFs)
                .map(|kind| Phase::for_kind(kind, false)),
        );
        phases
    };
    let phases: Vec<Phase> = match args.server.as_deref() {
        Some("all") => all(),
        Some("tls") => vec![Phase::for_kind(ServerKind::SeaweedFs, true)],
        Some(name) => vec![Phase::for_kind(ServerKind::parse(name)?, false)],
        None if std::env::var_os(SERVER_ENV).is_some_and(|v| !v.is_empty()) => {
            vec![Phase::for_kind(ServerKind::from_env()?, false)]
        }
        None => all(),
    };
    let mut results: Vec<(String, Duration, anyhow::Result<()>)> = Vec::new();
    for (number, phase) in phases.iter().enumerate() {
        let kind = phase.kind;
        let mut cargo_args = phase.cargo_args.clone();
        if let Some(filter) = &args.filter {
            cargo_args.push(filter);
        }
        if phase.tls {
            // The fault tests are about HTTP, whatever carries it: they run in the plain
            // phases, and the TLS phase stays short.
            cargo_args.extend(["--", "--skip", "faults::"]);
        }
        // Install the server up front, so its download shows here rather than inside a test.
        let program = kind.install()?;
        let tls = if phase.tls { "1" } else { "" };
        println!(
            "==> test phase {}/{}: {} ({SERVER_ENV}={}, {TLS_ENV}={tls}, {}): cargo {}",
            number + 1,
            phases.len(),
            phase.name(),
            kind.name(),
            program.display(),
            cargo_args.join(" ")
        );
        let started = Instant::now();
        let outcome =
            crate::cargo_with_env(&cargo_args, &[(SERVER_ENV, kind.name()), (TLS_ENV, tls)]);
        results.push((phase.name(), started.elapsed(), outcome));
    }
    // The short soak, when the whole suite runs.
    if args.filter.is_none() && phases.len() > 1 {
        println!(
            "==> short soak: cargo xtask soak --count 40 --seed 20261204 --max-size 16MiB --debug"
        );
        let started = Instant::now();
        let outcome = crate::soak::short();
        results.push(("short soak".to_owned(), started.elapsed(), outcome));
    }
    println!("==> test phases:");
    let mut failed = Vec::new();
    for (name, elapsed, outcome) in &results {
        let verdict = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(err) => {
                failed.push(name.clone());
                format!("FAILED: {err}")
            }
        };
        println!("    {name}: {verdict} ({:.0} s)", elapsed.as_secs_f64());
    }
    anyhow::ensure!(
        failed.is_empty(),
        "tests failed against {}",
        failed.join(", ")
    );
    Ok(())
}
