//! `s3mt presign`: prints a presigned URL. The one command whose output carries a signature,
//! on purpose: the URL is what was asked for.

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, PresignMethod, S3Uri};

use crate::args::PresignArgs;
use crate::duration;
use crate::exit::UsageError;

pub fn run(builder: ConfigBuilder, args: &PresignArgs) -> Result<()> {
    let location: S3Uri = args.location.parse()?;
    // The engine checks the range (1 s to 7 days).
    let expires = duration::parse("--expires", &args.expires)?;
    let method = match args.method.to_ascii_lowercase().as_str() {
        "get" => PresignMethod::Get,
        "put" => PresignMethod::Put,
        other => {
            return Err(UsageError::new(format!("--method {other:?}: expected get or put")).into());
        }
    };
    let client = Client::new(builder.build()?)?;
    println!("{}", client.presign(&location, method, expires)?);
    Ok(())
}
