//! `s3mt ls`: every object under a prefix, a line each (or a JSON object each).

use std::io::Write as _;

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, ObjectInfo, S3Uri};
use serde::Serialize;

use crate::args::LsArgs;

/// One `--json` line.
#[derive(Debug, Serialize)]
struct Line<'a> {
    key: &'a str,
    size: u64,
    last_modified: Option<&'a str>,
    etag: Option<&'a str>,
}

pub fn run(builder: ConfigBuilder, args: &LsArgs) -> Result<()> {
    let location: S3Uri = args.location.parse()?;
    let client = Client::new(builder.build()?)?;
    let objects = client.list_objects(location.bucket(), location.key())?;
    let mut out = std::io::stdout().lock();
    for object in &objects {
        if args.json {
            let line = Line {
                key: &object.key,
                size: object.size,
                last_modified: object.last_modified.as_deref(),
                etag: object.etag.as_deref(),
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", human_line(object))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `2026-11-21 19:58:36  1048576  key`, the size right-aligned.
fn human_line(object: &ObjectInfo) -> String {
    let when = object
        .last_modified
        .as_deref()
        .map_or_else(|| "-".repeat(19), utc_time);
    format!("{when}  {:>10}  {}", object.size, object.key)
}

/// An ISO 8601 time from the server as `YYYY-MM-DD HH:MM:SS` UTC; as sent if it is not one.
pub fn utc_time(iso: &str) -> String {
    iso.parse::<jiff::Timestamp>().map_or_else(
        |_| iso.to_owned(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_seconds() {
        assert_eq!(utc_time("2026-11-21T19:58:36.123Z"), "2026-11-21 19:58:36");
        assert_eq!(utc_time("2026-11-21T20:58:36+01:00"), "2026-11-21 19:58:36");
        assert_eq!(utc_time("yesterday"), "yesterday");
    }
}
