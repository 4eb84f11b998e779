//! `cargo xtask soak`: reliability in figures. N transfers of random sizes, files and streams
//! both ways, each through the fault proxy with a random mix of faults drawn from its seed;
//! each must end byte-identical, or fail cleanly: a documented exit code, no destination or
//! temporary file left, no multipart upload left open, no secret in the output. `--fuzz`
//! also runs the parsers' property tests for many cases. A failing run is printed with the
//! command that replays it alone. Then the kill -9 phase: transfers killed part way and run
//! again, each to end byte-identical having moved less than the whole, with nothing left.

mod child;
mod kill;
mod plan;
mod run;
mod store;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use argh::FromArgs;
use s3mt_engine::size::{format_size, parse_size};

use self::kill::{KillOutcome, KillPlan, Killer, Victim};
use self::plan::Plan;
use self::run::{Outcome, Runner};
use self::store::Store;

/// Soak s3mt in faults: random transfers through the fault proxy, each checked to end
/// byte-identical or to fail cleanly (against a local SeaweedFS, or S3MT_TEST_SERVER's kind).
#[derive(FromArgs)]
#[argh(subcommand, name = "soak")]
pub struct SoakArgs {
    /// runs (default: 200)
    #[argh(option, default = "200")]
    count: u64,

    /// the seed the runs' seeds are drawn from: run K has seed SEED + K (default: the time)
    #[argh(option)]
    seed: Option<u64>,

    /// largest transfer (default: 300MiB)
    #[argh(option, default = "String::from(\"300MiB\")")]
    max_size: String,

    /// transfers killed with SIGKILL part way and run again (default: 20)
    #[argh(option, default = "20")]
    kills: u64,

    /// transfers during which the server is killed with SIGKILL and started again
    /// (default: 10; none on moto, which keeps nothing across a restart)
    #[argh(option, default = "10")]
    crashes: u64,

    /// largest file of the kill phase (default: 160MiB)
    #[argh(option, default = "String::from(\"160MiB\")")]
    kill_size: String,

    /// also run the property tests of the parsers with this many cases each (e.g. 20000)
    #[argh(option)]
    fuzz: Option<u64>,

    /// soak the debug build of s3mt instead of the release build (quicker to build; what
    /// `cargo xtask test` runs its short soak with)
    #[argh(switch)]
    debug: bool,
}

/// `cargo xtask test`'s short soak: a fixed seed, a small count and small sizes, on the
/// debug build, so a regression in recovery shows on every submission within a few minutes.
pub fn short() -> Result<()> {
    run(SoakArgs {
        count: 40,
        seed: Some(20_261_204),
        max_size: "16MiB".to_owned(),
        kills: 5,
        crashes: 2,
        kill_size: "24MiB".to_owned(),
        fuzz: None,
        debug: true,
    })
}

pub fn run(args: SoakArgs) -> Result<()> {
    let max_size = parse_size(&args.max_size)?;
    let kill_size = parse_size(&args.kill_size)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    });
    let profile = if args.debug {
        crate::cargo(&["build", "-p", "s3mt"])?;
        "debug"
    } else {
        crate::cargo(&["build", "--release", "-p", "s3mt"])?;
        "release"
    };
    let started = Instant::now();
    let binary = s3mt_tests::tools::workspace_root()
        .join("target")
        .join(profile)
        .join("s3mt");
    let mut store = Store::start(binary)?;
    let replay = |what: &str, seed: u64| {
        eprintln!(
            "  replay it alone: cargo xtask soak --seed {seed} {what}{}",
            if args.debug { " --debug" } else { "" }
        );
    };
    let runner = Runner::new()?;
    let mut tally = Tally::default();
    for index in 0..args.count {
        let plan = Plan::new(seed + index, max_size);
        let outcome = runner.run(&store, &plan)?;
        eprintln!(
            "soak {}/{}: seed {}: {plan}: {outcome}",
            index + 1,
            args.count,
            plan.seed
        );
        if !outcome.is_clean() {
            replay(
                &format!("--count 1 --kills 0 --crashes 0 --max-size {max_size}"),
                plan.seed,
            );
        }
        tally.add(&plan, &outcome);
    }
    let killer = Killer::new()?;
    let crashes = if store.server.kind().keeps_data_across_restart() {
        args.crashes
    } else {
        eprintln!(
            "no server crashes: {} keeps nothing across a restart",
            store.server.kind().name()
        );
        0
    };
    let victims = std::iter::repeat_n(Victim::Client, args.kills as usize)
        .chain(std::iter::repeat_n(Victim::Server, crashes as usize));
    for (index, victim) in (0_u64..).zip(victims) {
        let plan = KillPlan::new(seed + index, victim, kill_size);
        let outcome = killer.run(&mut store, &plan)?;
        eprintln!(
            "kill {}/{}: seed {}: {plan}: {outcome}",
            index + 1,
            args.kills + crashes,
            plan.seed
        );
        if matches!(outcome, KillOutcome::Failed { .. }) {
            let (kills, crashes) = match victim {
                Victim::Client => (1, 0),
                Victim::Server => (0, 1),
            };
            replay(
                &format!("--count 0 --kills {kills} --crashes {crashes} --kill-size {kill_size}"),
                plan.seed,
            );
        }
        tally.add_kill(victim, &outcome);
    }
    let fuzz = match args.fuzz {
        Some(cases) => Some(fuzz(cases)?),
        None => None,
    };
    let report = tally.report(seed, args.count, max_size, started.elapsed(), fuzz.as_ref());
    println!("{report}");
    let out = s3mt_tests::tools::workspace_root().join("target/soak");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.md"), &report)?;
    eprintln!("written: target/soak/report.md");
    let kills_failed = tally.kills.failed + tally.crashes.failed;
    if tally.unclean > 0
        || tally.leftovers > 0
        || kills_failed > 0
        || fuzz.is_some_and(|f| !f.passed)
    {
        bail!(
            "{} unclean failures, {} runs with leftovers, {kills_failed} kill runs not resumed",
            tally.unclean,
            tally.leftovers
        );
    }
    Ok(())
}

/// What the property tests did.
#[derive(Debug, Clone, Copy)]
struct Fuzzed {
    cases: u64,
    took: Duration,
    passed: bool,
}

/// Runs the parsers' property tests (engine and CLI) with `cases` cases each.
fn fuzz(cases: u64) -> Result<Fuzzed> {
    let started = Instant::now();
    let cases_text = cases.to_string();
    let env = [("PROPTEST_CASES", cases_text.as_str())];
    let engine = crate::cargo_with_env(
        &[
            "test",
            "--release",
            "-p",
            "s3mt-engine",
            "--lib",
            "properties",
        ],
        &env,
    );
    let cli = crate::cargo_with_env(
        &[
            "test",
            "--release",
            "-p",
            "s3mt",
            "--bin",
            "s3mt",
            "duration::",
        ],
        &env,
    );
    Ok(Fuzzed {
        cases,
        took: started.elapsed(),
        passed: engine.is_ok() && cli.is_ok(),
    })
}

/// The soak's figures.
#[derive(Debug, Default)]
struct Tally {
    identical: u64,
    failed_cleanly: u64,
    unclean: u64,
    leftovers: u64,
    bytes: u64,
    /// Faults injected by kind (each rule counted once per run).
    faults: BTreeMap<String, u64>,
    /// Exit codes of the clean failures.
    codes: BTreeMap<i32, u64>,
    /// Multipart uploads clean failures left open, each named in the error with how to find it.
    named_uploads: u64,
    /// The runs that killed `s3mt`, and those that killed the server.
    kills: KillTally,
    crashes: KillTally,
}

/// How the kill runs of one victim ended.
#[derive(Debug, Default)]
struct KillTally {
    passed: u64,
    failed: u64,
    /// Transfers that finished before the kill: nothing tested.
    finished_first: u64,
    /// Server crashes the transfer got past on its retries, and those it failed on cleanly
    /// before its rerun ended byte-identical.
    rode_through: u64,
    rerun: u64,
    /// The share of the bytes each file or tree rerun moved.
    resumed_shares: Vec<f64>,
}

impl KillTally {
    /// `passed/runs`, and the runs that finished before the kill.
    fn score(&self) -> String {
        let mut text = format!("{}/{}", self.passed, self.passed + self.failed);
        if self.finished_first > 0 {
            text.push_str(&format!(
                " ({} more finished before the kill)",
                self.finished_first
            ));
        }
        text
    }
}

impl Tally {
    fn add(&mut self, plan: &Plan, outcome: &Outcome) {
        for fault in &plan.faults {
            *self.faults.entry(fault.name()).or_default() += 1;
        }
        if plan.refusal.is_some() {
            *self
                .faults
                .entry("connections refused".to_owned())
                .or_default() += 1;
        }
        match outcome {
            Outcome::Identical => {
                self.identical += 1;
                self.bytes += plan.files().iter().map(|(_, size)| size).sum::<u64>();
            }
            Outcome::FailedCleanly {
                code,
                named_uploads,
            } => {
                self.failed_cleanly += 1;
                self.named_uploads += *named_uploads as u64;
                *self.codes.entry(*code).or_default() += 1;
            }
            Outcome::Unclean { leftover, .. } => {
                self.unclean += 1;
                if *leftover {
                    self.leftovers += 1;
                }
            }
        }
    }

    fn add_kill(&mut self, victim: Victim, outcome: &KillOutcome) {
        let tally = match victim {
            Victim::Client => &mut self.kills,
            Victim::Server => &mut self.crashes,
        };
        match outcome {
            KillOutcome::Resumed { moved, total } => {
                tally.passed += 1;
                tally
                    .resumed_shares
                    .push(*moved as f64 / (*total).max(1) as f64);
            }
            KillOutcome::Restarted => tally.passed += 1,
            KillOutcome::RodeThrough => {
                tally.passed += 1;
                tally.rode_through += 1;
            }
            KillOutcome::RerunAfterCrash => {
                tally.passed += 1;
                tally.rerun += 1;
            }
            KillOutcome::FinishedFirst => tally.finished_first += 1,
            KillOutcome::Failed { .. } => tally.failed += 1,
        }
    }

    fn report(
        &self,
        seed: u64,
        count: u64,
        max_size: u64,
        took: Duration,
        fuzz: Option<&Fuzzed>,
    ) -> String {
        let codes: Vec<String> = self
            .codes
            .iter()
            .map(|(code, n)| format!("{n} x exit {code}"))
            .collect();
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let mut text = format!(
            "s3mt soak: seed {seed}, {count} runs up to {}, {:.0} s\n\n\
             | measure | figure |\n|---|---|\n\
             | runs | {count} |\n\
             | faults injected, by kind (rules, each striking 1 to 3 times) | {} |\n\
             | succeeded byte-identical | {} ({} moved) |\n\
             | failed cleanly | {} ({}) |\n\
             | failed uncleanly (must be 0) | {} |\n\
             | runs with leftovers (must be 0) | {} |\n\
             | multipart uploads left open but named in the error (the server down when they could have been aborted) | {} |\n",
            format_size(max_size),
            took.as_secs_f64(),
            faults.join(", "),
            self.identical,
            format_size(self.bytes),
            self.failed_cleanly,
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.join(", ")
            },
            self.unclean,
            self.leftovers,
            self.named_uploads,
        );
        let kills = &self.kills;
        if kills.passed + kills.failed + kills.finished_first > 0 {
            text.push_str(&format!(
                "| kill -9 of s3mt part way, then the same command: byte-identical, nothing left | {} |\n",
                kills.score()
            ));
            let shares = &kills.resumed_shares;
            if !shares.is_empty() {
                let (least, most) = shares.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), share| {
                    (lo.min(*share), hi.max(*share))
                });
                text.push_str(&format!(
                    "| bytes the file and tree reruns moved, of the whole transfer | {:.0}% on average ({:.0}% to {:.0}%) |\n",
                    shares.iter().sum::<f64>() * 100.0 / shares.len() as f64,
                    least * 100.0,
                    most * 100.0
                ));
            }
        }
        let crashes = &self.crashes;
        if crashes.passed + crashes.failed + crashes.finished_first > 0 {
            text.push_str(&format!(
                "| server killed (SIGKILL) and restarted mid-transfer: byte-identical, nothing left | {} ({} got past it on retries, {} failed cleanly and the rerun completed) |\n",
                crashes.score(),
                crashes.rode_through,
                crashes.rerun
            ));
        }
        if let Some(fuzz) = fuzz {
            text.push_str(&format!(
                "| property tests of the parsers | {} cases each, {:.0} s, {} |\n",
                fuzz.cases,
                fuzz.took.as_secs_f64(),
                if fuzz.passed { "no failure" } else { "FAILED" }
            ));
        }
        text
    }
}
