//! `cargo xtask test`: every test of the workspace against a real SeaweedFS.

use argh::FromArgs;

/// Run every test: unit tests, doc tests, and the integration suite against a real SeaweedFS
/// (installed into target/tools on first use).
#[derive(FromArgs)]
#[argh(subcommand, name = "test")]
pub struct TestArgs {
    /// only run tests whose names contain this
    #[argh(positional)]
    filter: Option<String>,
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    // Install the server up front, so its download shows here rather than inside a test.
    let weed = s3mt_tests::tools::weed_binary()?;
    println!("SeaweedFS: {}", weed.display());
    let mut cargo_args = vec!["test", "--workspace"];
    if let Some(filter) = &args.filter {
        cargo_args.push(filter);
    }
    crate::cargo(&cargo_args)
}
