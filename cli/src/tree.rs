//! `s3mt cp --recursive`, `s3mt sync` and `s3mt mv --recursive`: turns the arguments into a
//! tree upload, download or copy inside S3, reports its progress, and prints the summary with every path that
//! failed or was skipped.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use s3mt_engine::size::Size;
use s3mt_engine::{Compare, ConfigBuilder, Filters, Rule, S3Uri, TreeOptions, TreeSummary};

use crate::args::{CpArgs, STDIO};
use crate::cp::Setup;
use crate::exit::{TreeIncomplete, UsageError};
use crate::report::{self, Reporter};

/// Which tree command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeCommand {
    /// `cp --recursive`: everything under the source.
    Copy,
    /// `sync`: what is missing or differs.
    Sync,
    /// `mv --recursive`: everything, each source removed once its copy is verified.
    Move,
}

impl TreeCommand {
    fn name(self) -> &'static str {
        match self {
            Self::Copy => "cp --recursive",
            Self::Sync => "sync",
            Self::Move => "mv --recursive",
        }
    }
}

/// Runs a tree command; `raw` is the command line as typed, for the order of the filters.
pub fn run(builder: ConfigBuilder, args: CpArgs, kind: TreeCommand, raw: &[&str]) -> Result<()> {
    let command = kind.name();
    let sync = kind == TreeCommand::Sync;
    if !sync {
        for (given, flag) in [
            (args.delete, "--delete"),
            (args.size_only, "--size-only"),
            (args.checksum, "--checksum"),
        ] {
            if given {
                return Err(UsageError::new(format!("{flag} goes with sync")).into());
            }
        }
    }
    if args.expected_size.is_some() || args.source == STDIO || args.destination == STDIO {
        return Err(UsageError::new(format!(
            "{command} copies trees: standard input and output and --expected-size go with cp"
        ))
        .into());
    }
    let compare = match (args.size_only, args.checksum) {
        (true, true) => {
            return Err(UsageError::new("--size-only and --checksum exclude each other").into());
        }
        (true, false) => Compare::SizeOnly,
        (false, true) => Compare::Checksum,
        (false, false) => Compare::SizeAndTime,
    };
    let mut tree = TreeOptions::default()
        .filters(filters(raw)?)
        .dry_run(args.dry_run)
        .no_follow_symlinks(args.no_follow_symlinks)
        .delete(args.delete)
        .remove_sources(kind == TreeCommand::Move);
    if sync {
        tree = tree.sync(compare);
    }
    if let Some(shard) = &args.shard {
        tree = tree.shard(shard.parse()?);
    }
    if let Some(list) = &args.files_from {
        tree = tree.files_from(read_list(list)?);
    }
    let direction = match (S3Uri::is_s3(&args.source), S3Uri::is_s3(&args.destination)) {
        (false, true) => Direction::Upload(PathBuf::from(&args.source), args.destination.parse()?),
        (true, false) => {
            Direction::Download(args.source.parse()?, PathBuf::from(&args.destination))
        }
        (true, true) => Direction::Between(args.source.parse()?, args.destination.parse()?),
        (false, false) => {
            return Err(UsageError::new(
                "one of SRC and DST must be an s3://bucket/prefix address",
            )
            .into());
        }
    };
    let setup = Setup::from_args(builder, &args)?;
    if let Direction::Download(..) = direction {
        setup.refuse_object_options()?;
    }
    let Setup {
        client,
        mut options,
        settings,
        ..
    } = setup;
    let (reporter, events) = Reporter::start(&settings);
    if let Some(events) = events {
        options = options.progress(events);
    }
    let tree = tree.transfer(options);
    let outcome = match &direction {
        Direction::Upload(source, destination) => client.upload_tree(source, destination, &tree),
        Direction::Download(source, destination) => {
            client.download_tree(source, destination, &tree)
        }
        Direction::Between(source, destination) => client.copy_tree(source, destination, &tree),
    };
    // The last sender goes with the options, so the reporter cannot wait for more events.
    drop(tree);
    reporter.finish();
    let summary = outcome?;
    if settings.quiet {
        // No reporter named them as they happened.
        for failed in &summary.failed {
            eprintln!(
                "s3mt: failed: {} {}: {}",
                failed.action, failed.path, failed.message
            );
        }
        for skipped in &summary.skipped {
            eprintln!("s3mt: skipped: {}: {}", skipped.path, skipped.reason);
        }
    }
    if settings.json {
        report::print_tree_summary(command, &args.source, &args.destination, &summary);
    } else if !settings.quiet {
        eprintln!(
            "{command}: {} -> {}: {}",
            args.source,
            args.destination,
            describe(&summary, kind)
        );
    }
    if summary.failed.is_empty() && summary.skipped.is_empty() {
        return Ok(());
    }
    Err(TreeIncomplete {
        failed: summary.failed.len(),
        skipped: summary.skipped.len(),
    }
    .into())
}

/// Refuses the options that only trees take.
pub fn refuse_tree_options(args: &CpArgs, what: &str) -> Result<()> {
    let given = [
        (!args.exclude.is_empty(), "--exclude"),
        (!args.include.is_empty(), "--include"),
        (args.dry_run, "--dry-run"),
        (args.files_from.is_some(), "--files-from"),
        (args.shard.is_some(), "--shard"),
        (args.no_follow_symlinks, "--no-follow-symlinks"),
        (args.delete, "--delete"),
        (args.size_only, "--size-only"),
        (args.checksum, "--checksum"),
    ];
    match given.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(UsageError::new(format!(
            "{flag} goes with trees (cp --recursive, sync), not {what}"
        ))
        .into()),
        None => Ok(()),
    }
}

/// What a tree command moves, from where to where.
enum Direction {
    Upload(PathBuf, S3Uri),
    Download(S3Uri, PathBuf),
    /// Inside S3, by server-side copies.
    Between(S3Uri, S3Uri),
}

/// The `--exclude` and `--include` rules in the order they were typed (argh keeps each
/// option's values, not their order between options).
pub fn filters(raw: &[&str]) -> Result<Filters> {
    let mut filters = Filters::default();
    let mut args = raw.iter().copied();
    while let Some(arg) = args.next() {
        let rule = match arg {
            "--" => break,
            "--exclude" => Rule::Exclude,
            "--include" => Rule::Include,
            _ => continue,
        };
        if let Some(pattern) = args.next() {
            let pattern = if pattern == STDIO { "-" } else { pattern };
            filters = filters.push(rule, pattern)?;
        }
    }
    Ok(filters)
}

/// The paths of a `--files-from` list: a file, or `-` for standard input.
fn read_list(list: &str) -> Result<Vec<String>> {
    let mut text = String::new();
    if list == STDIO {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the --files-from list from standard input")?;
    } else {
        text = std::fs::read_to_string(list)
            .with_context(|| format!("cannot read the --files-from list {list}"))?;
    }
    Ok(text.lines().map(str::to_owned).collect())
}

/// `12 files (1.2 GiB) copied, 3 deleted, 100 unchanged, 1 skipped, 2 failed in 3.21 s
/// (372.1 MB/s)`; a dry run says what would be.
fn describe(summary: &TreeSummary, kind: TreeCommand) -> String {
    let would = if summary.dry_run { "would be " } else { "" };
    let done = if kind == TreeCommand::Move {
        "moved"
    } else {
        "copied"
    };
    let mut text = format!(
        "{} file(s) ({}) {would}{done}",
        summary.copied,
        Size(summary.bytes)
    );
    if summary.deleted > 0 {
        text.push_str(&format!(", {} {would}deleted", summary.deleted));
    }
    text.push_str(&format!(", {} unchanged", summary.unchanged));
    if !summary.skipped.is_empty() {
        text.push_str(&format!(", {} skipped", summary.skipped.len()));
    }
    if !summary.failed.is_empty() {
        text.push_str(&format!(", {} failed", summary.failed.len()));
    }
    text.push_str(&format!(
        " in {:.2} s ({:.1} MB/s)",
        summary.elapsed.as_secs_f64(),
        summary.bytes_per_second() / 1e6
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_the_order_typed_across_both_options() {
        let raw = [
            "cp",
            "--exclude",
            "*",
            "-r",
            "--include",
            "*.log",
            "a",
            "b",
            "--exclude",
            "x.log",
        ];
        let rules = filters(&raw).unwrap();
        assert!(rules.includes("a/b.log"));
        assert!(!rules.includes("x.log") && !rules.includes("a.txt"));
        assert!(filters(&["--", "--exclude", "*"]).unwrap().is_empty());
    }
}
