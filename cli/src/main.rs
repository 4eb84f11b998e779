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
mod tree;
mod uploads;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use s3mt_engine::{Config, ConfigBuilder, Overrides, parse_addressing};

use crate::args::{Args, Command, CpLike};
use crate::exit::UsageError;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let name = raw
        .first()
        .map_or("s3mt", |arg0| arg0.rsplit('/').next().unwrap_or(arg0));
    let strings = args::with_stdio_marked(raw.iter().skip(1).map(String::as_str));
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
        Command::Cp(cp) | Command::Sync(CpLike(cp, _)) | Command::Mv(CpLike(cp, _)) => cp.json,
        Command::Ls(ls) => ls.json,
        _ => false,
    };
    match run(args, &strings) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            let code = exit::for_error(&err);
            // A reader that stopped early (`| head`) is no error worth a message.
            if code == exit::BROKEN_PIPE {
                return ExitCode::from(code);
            }
            eprintln!("s3mt: error: {err:#}");
            if json {
                report::print_error(&err, code);
            }
            ExitCode::from(code)
        }
    }
}

fn run(args: Args, raw: &[&str]) -> Result<()> {
    let builder = config_builder(&args)?;
    match args.command {
        Command::Cp(cp) => cp::run(builder, cp, raw, false),
        Command::Sync(CpLike(sync, _)) => tree::run(builder, sync, tree::TreeCommand::Sync, raw),
        Command::Mv(CpLike(mv, _)) => cp::run(builder, mv, raw, true),
        Command::Ls(ls) => ls::run(builder, &ls),
        Command::Rm(rm) => rm::run(builder, &rm, raw),
        Command::Presign(presign) => presign::run(builder, &presign),
        Command::Uploads(uploads) => uploads::run(builder, uploads.command),
    }
}

/// Settings shared by every command: credentials, region, endpoint and addressing, from the
/// flags first and then the environment and shared files, as aws-cli finds them.
fn config_builder(args: &Args) -> Result<ConfigBuilder> {
    let addressing = args
        .addressing_style
        .as_deref()
        .map(|style| parse_addressing(style, "--addressing-style"))
        .transpose()
        .map_err(|err| UsageError::new(err.to_string()))?;
    if args.no_verify_ssl {
        eprintln!(
            "s3mt: warning: --no-verify-ssl: servers' certificates are not verified; anyone on \
             the way can read and change the traffic"
        );
    }
    let overrides = Overrides {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
        addressing,
        ca_bundle: args.ca_bundle.as_ref().map(PathBuf::from),
        no_verify_ssl: args.no_verify_ssl,
    };
    Ok(Config::from_environment(&overrides)?)
}
