//! `cargo xtask test`: every test of the workspace against a real S3 server (SeaweedFS, or
//! the one `S3MT_TEST_SERVER` names).

use argh::FromArgs;
use s3mt_tests::server::{SERVER_ENV, ServerKind};

/// Run every test: unit tests, doc tests, and the integration suite against a real S3 server
/// (SeaweedFS unless S3MT_TEST_SERVER says rclone or moto; installed into target/tools on
/// first use).
#[derive(FromArgs)]
#[argh(subcommand, name = "test")]
pub struct TestArgs {
    /// only run tests whose names contain this
    #[argh(positional)]
    filter: Option<String>,
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let kind = ServerKind::from_env()?;
    // Install the server up front, so its download shows here rather than inside a test.
    let program = kind.install()?;
    println!(
        "{kind} ({SERVER_ENV}={}): {}",
        kind.name(),
        program.display()
    );
    let mut cargo_args = vec!["test", "--workspace"];
    if let Some(filter) = &args.filter {
        cargo_args.push(filter);
    }
    crate::cargo(&cargo_args)
}
