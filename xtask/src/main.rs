//! `cargo xtask`: the project's own tasks. `demo` runs the main job against a local SeaweedFS;
//! `serve` starts one to try by hand; `test` runs every test, the integration tests against
//! each S3 server the harness knows; `bench` measures s3mt against the peer tools; `soak` runs
//! random transfers through random faults.

mod bench;
mod demo;
mod serve;
mod soak;
mod test;

use argh::FromArgs;

/// Project tasks for s3mt.
#[derive(FromArgs)]
struct Xtask {
    #[argh(subcommand)]
    task: Task,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Task {
    Bench(bench::BenchArgs),
    Demo(demo::DemoArgs),
    Serve(serve::ServeArgs),
    Soak(soak::SoakArgs),
    Test(test::TestArgs),
}

fn main() -> anyhow::Result<()> {
    let xtask: Xtask = argh::from_env();
    match xtask.task {
        Task::Bench(args) => bench::run(args),
        Task::Demo(args) => demo::run(args),
        Task::Serve(args) => serve::run(args),
        Task::Soak(args) => soak::run(args),
        Task::Test(args) => test::run(args),
    }
}

/// Runs `cargo` with `args` in the workspace root, failing if it fails.
fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_with_env(args, &[])
}

/// [`cargo`] with the environment variables `envs` set.
fn cargo_with_env(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(s3mt_tests::tools::workspace_root())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cargo {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}
