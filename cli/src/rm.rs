//! `s3mt rm`: DeleteObject of one key.

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, S3Uri};

use crate::args::RmArgs;

pub fn run(builder: ConfigBuilder, args: &RmArgs) -> Result<()> {
    let location: S3Uri = args.location.parse()?;
    let client = Client::new(builder.build()?)?;
    client.delete_object(&location)?;
    println!("deleted {location}");
    Ok(())
}
