//! `s3mt`: the command-line front end of the s3mt engine.

mod args;
mod cp;
mod duration;
mod exit;
mod interrupt;
mod ls;
mod presign;
mod report;
mod rm;
mod uploads;

use std::process::ExitCode;

use anyhow::Result;
use s3mt_engine::{Addressing, Config, ConfigBuilder, Credentials};

use crate::args::{Args, Command};
use crate::exit::UsageError;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let name = raw
        .first()
        .map_or("s3mt", |arg0| arg0.rsplit('/').next().unwrap_or(arg0));
    let strings: Vec<&str> = raw.iter().skip(1).map(String::as_str).collect();
    // argh has no --version of its own.
    if strings == ["--version"] {
        println!("s3mt {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::from(exit::SUCCESS);
    }
    let args = match <Args as argh::FromArgs>::from_args(&[name], &strings) {
        Ok(args) => args,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    println!("{}", early.output);
                    ExitCode::from(exit::SUCCESS)
                }
                Err(()) => {
                    eprintln!("{}\nRun {name} --help for usage.", early.output.trim_end());
                    ExitCode::from(exit::USAGE)
                }
            };
        }
    };
    let json = match &args.command {
        Command::Cp(cp) => cp.json,
        Command::Ls(ls) => ls.json,
        _ => false,
    };
    match run(args) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            eprintln!("s3mt: error: {err:#}");
            let code = exit::for_error(&err);
            if json {
                report::print_error(&err, code);
            }
            ExitCode::from(code)
        }
    }
}

fn run(args: Args) -> Result<()> {
    let builder = config_builder(&args)?;
    match args.command {
        Command::Cp(cp) => cp::run(builder, cp),
        Command::Ls(ls) => ls::run(builder, &ls),
        Command::Rm(rm) => rm::run(builder, &rm),
        Command::Presign(presign) => presign::run(builder, &presign),
        Command::Uploads(uploads) => uploads::run(builder, uploads.command),
    }
}

/// Settings shared by every command: endpoint, region, addressing and credentials.
fn config_builder(args: &Args) -> Result<ConfigBuilder> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let credentials = Credentials::from_env().ok_or_else(|| {
        UsageError::new(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (and AWS_SESSION_TOKEN for temporary ones)",
        )
    })?;
    let mut builder = Config::builder(credentials);
    let endpoint = args
        .endpoint_url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"));
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    if let Some(region) = args
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
    {
        builder = builder.region(region);
    }
    let addressing = match args.addressing_style.as_str() {
        "auto" => Addressing::Auto,
        "path" => Addressing::Path,
        "virtual" => Addressing::VirtualHost,
        other => {
            return Err(UsageError::new(format!(
                "--addressing-style {other:?}: expected auto, path or virtual"
            ))
            .into());
        }
    };
    Ok(builder.addressing(addressing))
}
