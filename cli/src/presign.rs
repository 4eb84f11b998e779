//! `s3mt presign`: prints a presigned URL. The one command whose output carries a signature,
//! on purpose: the URL is what was asked for.

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, MAX_PRESIGN_EXPIRY, PresignMethod, S3Uri};

use crate::args::PresignArgs;
use crate::duration;
use crate::exit::UsageError;

pub fn run(builder: ConfigBuilder, args: &PresignArgs) -> Result<()> {
    let location: S3Uri = args.location.parse()?;
    let expires = duration::parse("--expires", &args.expires)?;
    if expires.as_secs() < 1 || expires > MAX_PRESIGN_EXPIRY {
        return Err(UsageError::new(format!(
            "--expires {}: S3 accepts 1 second to 7 days",
            args.expires
        ))
        .into());
    }
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
