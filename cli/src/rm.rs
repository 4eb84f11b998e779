//! `s3mt rm`: DeleteObject of one key, or with `--recursive` every object under a prefix that
//! the filters keep, in DeleteObjects batches; each key printed as it goes, each refusal named,
//! exit 10 when some were refused.

use anyhow::Result;
use s3mt_engine::{Client, ConfigBuilder, Event, S3Uri, TransferOptions, TreeOptions};

use crate::args::RmArgs;
use crate::exit::{TreeIncomplete, UsageError};
use crate::tree::filters;

pub fn run(builder: ConfigBuilder, args: &RmArgs, raw: &[&str]) -> Result<()> {
    let location: S3Uri = args.location.parse()?;
    let client = Client::new(builder.build()?)?;
    if !args.recursive {
        if !args.exclude.is_empty() || !args.include.is_empty() || args.dry_run {
            return Err(
                UsageError::new("--exclude, --include and --dry-run go with --recursive").into(),
            );
        }
        client.delete_object(&location)?;
        println!("deleted {location}");
        return Ok(());
    }
    // Keys print as the tree names them, relative to the prefix, behind the prefix's address.
    let prefix = match location.key() {
        "" => format!("s3://{}/", location.bucket()),
        key => format!("s3://{}/{}/", location.bucket(), key.trim_end_matches('/')),
    };
    let dry_run = args.dry_run;
    let shown = prefix.clone();
    let report = move |event: &Event| match event {
        Event::TreeEntry { path, .. } if dry_run => println!("(dry run) delete: {shown}{path}"),
        Event::FileDone { path, .. } => println!("delete: {shown}{path}"),
        Event::FileFailed { path, message, .. } => {
            eprintln!("s3mt: failed: delete {shown}{path}: {message}");
        }
        Event::Notice(message) => eprintln!("s3mt: {message}"),
        _ => {}
    };
    let transfer = TransferOptions::default()
        .cancel(crate::interrupt::cancel_on_signals()?)
        .on_event(report);
    let options = TreeOptions::default()
        .filters(filters(raw)?)
        .dry_run(dry_run)
        .transfer(transfer);
    let summary = client.remove_tree(&location, &options)?;
    let would = if dry_run { "would be " } else { "" };
    eprintln!(
        "rm --recursive: {prefix}: {} object(s) {would}deleted, {} failed in {:.2} s",
        summary.deleted,
        summary.failed.len(),
        summary.elapsed.as_secs_f64()
    );
    if summary.failed.is_empty() {
        return Ok(());
    }
    Err(TreeIncomplete {
        failed: summary.failed.len(),
        skipped: 0,
    }
    .into())
}
