//! `cargo xtask serve`: a local S3 server (SeaweedFS, or the kind `S3MT_TEST_SERVER` names) to
//! try s3mt against by hand.

use std::io::BufRead;

use anyhow::{Context as _, Result};
use argh::FromArgs;
use s3mt_engine::{Addressing, Client, Config, Credentials};
use s3mt_tests::server::{S3Server, ServerKind};

/// Start a local S3 server (SeaweedFS unless S3MT_TEST_SERVER=rclone or moto) with a bucket,
/// print the environment to reach it, and stop it when standard input closes (Ctrl-D) or on
/// Ctrl-C.
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
pub struct ServeArgs {
    /// bucket to create (default: demo)
    #[argh(option, default = "String::from(\"demo\")")]
    bucket: String,

    /// serve HTTPS, with a CA made at run time (its file is printed as AWS_CA_BUNDLE)
    #[argh(switch)]
    tls: bool,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let kind = ServerKind::from_env()?;
    let server =
        S3Server::start_kind_over(kind, args.tls).with_context(|| format!("start {kind}"))?;
    let mut config = Config::builder(Credentials::new(server.access_key(), server.secret_key()))
        .endpoint(server.endpoint())
        .addressing(Addressing::Path);
    if args.tls {
        let tls = s3mt_tests::tls::shared();
        config = config.ca_bundle("the test CA", tls.ca_pem.clone());
        println!("export AWS_CA_BUNDLE={}", tls.ca_path().display());
    }
    Client::new(config.build()?)?.create_bucket(&args.bucket)?;
    println!("export AWS_ENDPOINT_URL={}", server.endpoint());
    println!("export AWS_ACCESS_KEY_ID={}", server.access_key());
    println!("export AWS_SECRET_ACCESS_KEY={}", server.secret_key());
    println!("export AWS_REGION={}", server.region());
    println!(
        "# bucket s3://{} is ready; close standard input to stop the server",
        args.bucket
    );
    for line in std::io::stdin().lock().lines() {
        line?;
    }
    Ok(())
}
