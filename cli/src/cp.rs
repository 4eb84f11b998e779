//! `s3mt cp`: turns the arguments into an upload or a download, reports its progress, and
//! prints the summary.

use std::fs::File;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use s3mt_engine::size::{Size, parse_rate, parse_size};
use s3mt_engine::{
    Client, ConfigBuilder, MetadataDirective, ObjectOptions, S3Uri, ServerSideEncryption,
    TransferOptions, TransferSummary, Verification, VerifyMode,
};

use crate::args::{CpArgs, STDIO};
use crate::exit::{SourceKept, UsageError};
use crate::report::{self, Reporter};
use crate::tree::TreeCommand;

/// What every `cp` and `sync` needs, from the options they share: the client, the transfer
/// options (verification, object options, cancellation on Ctrl-C), and how to report.
pub struct Setup {
    pub client: Client,
    pub options: TransferOptions,
    pub settings: report::Settings,
    /// The upload options are the defaults (downloads refuse any other).
    pub default_object: bool,
}

impl Setup {
    pub fn from_args(mut builder: ConfigBuilder, args: &CpArgs) -> Result<Self> {
        if let Some(concurrency) = args.concurrency {
            builder = builder.concurrency(concurrency);
        }
        if let Some(size) = &args.part_size {
            builder = builder.part_size(parse_size(size)?);
        }
        if let Some(size) = &args.multipart_threshold {
            builder = builder.multipart_threshold(parse_size(size)?);
        }
        if let Some(algorithm) = &args.checksum_algorithm {
            builder = builder.checksum_algorithm(algorithm.parse()?);
        }
        if let Some(kind) = &args.checksum_type {
            builder = builder.checksum_type(kind.parse()?);
        }
        if let Some(rate) = &args.max_bandwidth {
            builder = builder.max_bandwidth(parse_rate(rate)?);
        }
        if let Some(region) = &args.source_region {
            if !(S3Uri::is_s3(&args.source) && S3Uri::is_s3(&args.destination)) {
                return Err(UsageError::new(
                    "--source-region applies to a copy between two S3 locations (s3:// to s3://)",
                )
                .into());
            }
            let source: S3Uri = args.source.parse()?;
            builder = builder.bucket_region(source.bucket(), region);
        }
        if let Some(attempts) = args.max_attempts {
            builder = builder.max_attempts(attempts);
        }
        if let Some(seconds) = args.io_timeout {
            let timeout = Duration::try_from_secs_f64(seconds).map_err(|_| {
                UsageError::new(format!("--io-timeout {seconds}: expected seconds > 0"))
            })?;
            builder = builder.io_timeout(timeout);
        }
        let verify = match args.verify.as_str() {
            "auto" => VerifyMode::Auto,
            "require" => VerifyMode::Require,
            other => {
                return Err(UsageError::new(format!(
                    "--verify {other:?}: expected auto or require"
                ))
                .into());
            }
        };
        if !args.no_resume
            && let Some(dir) = s3mt_engine::default_state_dir()
        {
            builder = builder.resume_in(dir);
        }
        let object = object_options(args)?;
        let mut settings = report::Settings::from_args(args)?;
        let client = Client::new(builder.build()?)?;
        settings.cap = client.config().max_bandwidth();
        let default_object = object == ObjectOptions::default();
        let options = TransferOptions::default()
            .verify(verify)
            .object(object)
            .cancel(crate::interrupt::cancel_on_signals()?);
        Ok(Self {
            client,
            options,
            settings,
            default_object,
        })
    }

    /// Refuses upload options on a download.
    pub fn refuse_object_options(&self) -> Result<()> {
        if self.default_object {
            return Ok(());
        }
        Err(UsageError::new(
            "--storage-class, --content-type, --metadata, --cache-control, \
             --content-disposition, --sse and --no-overwrite apply to uploads only",
        )
        .into())
    }
}

/// Runs `cp`, or `mv` when `moving`: the source is deleted once the copy is complete and
/// verified, never after a failure.
pub fn run(builder: ConfigBuilder, args: CpArgs, raw: &[&str], moving: bool) -> Result<()> {
    let command = if moving { "mv" } else { "cp" };
    if args.recursive {
        let kind = if moving {
            TreeCommand::Move
        } else {
            TreeCommand::Copy
        };
        return crate::tree::run(builder, args, kind, raw);
    }
    crate::tree::refuse_tree_options(&args, &format!("{command} without --recursive"))?;
    if moving && (args.source == STDIO || args.destination == STDIO) {
        return Err(
            UsageError::new("mv moves files and objects, not standard input or output").into(),
        );
    }
    let setup = Setup::from_args(builder, &args)?;
    let stdin = args.source == STDIO;
    let stdout = args.destination == STDIO;
    if args.expected_size.is_some() && !stdin {
        return Err(
            UsageError::new("--expected-size goes only with SRC '-' (standard input)").into(),
        );
    }
    if stdout && setup.settings.json {
        return Err(UsageError::new(
            "--json prints to standard output, which DST '-' uses for the data",
        )
        .into());
    }
    let job = match (S3Uri::is_s3(&args.source), S3Uri::is_s3(&args.destination)) {
        (false, true) if stdin => {
            let destination: S3Uri = args.destination.parse()?;
            if destination.is_prefix() {
                return Err(UsageError::new(format!(
                    "{destination} is a prefix: standard input has no name, give the key"
                ))
                .into());
            }
            Job::UploadStream(destination)
        }
        (false, true) => {
            let source = PathBuf::from(&args.source);
            if source.is_dir() {
                return Err(UsageError::new(format!(
                    "{} is a directory: add --recursive to copy the files in it",
                    source.display()
                ))
                .into());
            }
            let destination = upload_destination(&source, args.destination.parse()?)?;
            Job::Upload(source, destination)
        }
        (true, false) => {
            setup.refuse_object_options()?;
            let source: S3Uri = args.source.parse()?;
            if stdout {
                source.require_object_key()?;
                Job::DownloadStream(source)
            } else {
                let destination = download_destination(&source, &args.destination)?;
                Job::Download(source, destination)
            }
        }
        (true, true) => {
            let source: S3Uri = args.source.parse()?;
            source.require_object_key()?;
            let destination: S3Uri = args.destination.parse()?;
            let destination = match destination.is_prefix() {
                true => destination.join(source.file_name().unwrap_or_default())?,
                false => destination,
            };
            Job::Copy(source, destination)
        }
        (false, false) => {
            return Err(
                UsageError::new("one of SRC and DST must be an s3://bucket/key address").into(),
            );
        }
    };

    let Setup {
        client,
        mut options,
        settings,
        ..
    } = setup;
    if let Some(size) = &args.expected_size {
        options = options.expected_size(parse_size(size)?);
    }
    let (reporter, events) = Reporter::start(&settings);
    if let Some(events) = events {
        options = options.progress(events);
    }
    let outcome = match &job {
        Job::Upload(source, destination) => client.upload_file_with(source, destination, &options),
        Job::Download(source, destination) => {
            client.download_file_with(source, destination, &options)
        }
        Job::UploadStream(destination) => {
            let mut input = standard_stream(std::io::stdin().as_fd(), "standard input")?;
            client.upload_stream(&mut input, destination, &options)
        }
        Job::DownloadStream(source) => {
            let mut output = standard_stream(std::io::stdout().as_fd(), "standard output")?;
            client.download_to_writer(source, &mut output, &options)
        }
        Job::Copy(source, destination) => client.copy_object(source, destination, &options),
    };
    // The last sender goes with the options, so the reporter cannot wait for more events.
    drop(options);
    reporter.finish();
    let summary = outcome?;

    let (direction, to) = match &job {
        Job::Upload(_, destination) | Job::UploadStream(destination) => {
            ("upload", destination.to_string())
        }
        Job::Download(_, destination) => ("download", destination.display().to_string()),
        Job::DownloadStream(_) => ("download", "-".to_owned()),
        Job::Copy(_, destination) => ("copy", destination.to_string()),
    };
    if settings.json {
        report::print_summary(direction, shown(&args.source), &to, &summary);
    } else if !settings.quiet {
        eprintln!(
            "{direction}: {} -> {to}: {}",
            shown(&args.source),
            describe(&summary)
        );
    }
    if moving {
        remove_source(&client, &job, &summary)?;
        if !settings.quiet && !settings.json {
            eprintln!("mv: removed {}", shown(&args.source));
        }
    }
    Ok(())
}

/// The source of a finished `mv`: removed when the copy was verified; kept, with an error
/// that says so, when nothing could verify it.
fn remove_source(client: &Client, job: &Job, summary: &TransferSummary) -> Result<()> {
    let unverified = matches!(
        summary.verification,
        Verification::Unverified | Verification::CopyUnchecked
    );
    if unverified {
        return Err(SourceKept.into());
    }
    match job {
        Job::Upload(source, _) => std::fs::remove_file(source)
            .with_context(|| format!("uploaded, but cannot remove {}", source.display())),
        Job::Download(source, _) | Job::Copy(source, _) => Ok(client.delete_object(source)?),
        Job::UploadStream(_) | Job::DownloadStream(_) => Ok(()),
    }
}

/// The upload's object options, checked before anything is sent.
fn object_options(args: &CpArgs) -> Result<ObjectOptions> {
    let mut object = ObjectOptions::default().no_overwrite(args.no_overwrite);
    if let Some(class) = &args.storage_class {
        object = object.storage_class(class);
    }
    if let Some(content_type) = &args.content_type {
        object = object.content_type(content_type);
    }
    for pair in &args.metadata {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| UsageError::new(format!("--metadata {pair:?}: expected KEY=VALUE")))?;
        object = object.metadata(key, value);
    }
    if let Some(value) = &args.cache_control {
        object = object.cache_control(value);
    }
    if let Some(value) = &args.content_disposition {
        object = object.content_disposition(value);
    }
    if let Some(directive) = &args.metadata_directive {
        object = object.metadata_directive(match directive.to_ascii_uppercase().as_str() {
            "COPY" => MetadataDirective::Copy,
            "REPLACE" => MetadataDirective::Replace,
            _ => {
                return Err(UsageError::new(format!(
                    "--metadata-directive {directive:?}: expected COPY or REPLACE"
                ))
                .into());
            }
        });
    }
    match (&args.sse, &args.sse_kms_key_id) {
        (Some(algorithm), key) => {
            object = object.encryption(ServerSideEncryption::parse(algorithm, key.as_deref())?);
        }
        (None, Some(_)) => {
            return Err(UsageError::new("--sse-kms-key-id goes only with --sse aws:kms").into());
        }
        (None, None) => {}
    }
    object.validate()?;
    Ok(object)
}

/// What `cp` copies, from where to where.
enum Job {
    Upload(PathBuf, S3Uri),
    Download(S3Uri, PathBuf),
    /// Standard input to an object.
    UploadStream(S3Uri),
    /// An object to standard output.
    DownloadStream(S3Uri),
    /// An object to another, inside S3.
    Copy(S3Uri, S3Uri),
}

/// An argument as the user typed it (`-` for standard input or output).
fn shown(arg: &str) -> &str {
    if arg == STDIO { "-" } else { arg }
}

/// Standard input or output as an unbuffered file of its own (a duplicate descriptor): parts
/// are read and written whole, and Rust's line buffering of stdout would only add copies.
fn standard_stream(fd: BorrowedFd<'_>, name: &str) -> Result<File> {
    let owned = fd
        .try_clone_to_owned()
        .map_err(|err| anyhow::Error::new(err).context(format!("cannot use {name}")))?;
    Ok(File::from(owned))
}

/// `s3://bucket/prefix/` (or a bare bucket) gets the source's file name appended, as aws-cli does.
fn upload_destination(source: &Path, destination: S3Uri) -> Result<S3Uri> {
    if !destination.is_prefix() {
        return Ok(destination);
    }
    let name = source
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            UsageError::new(format!(
                "{} has no file name to use as the key",
                source.display()
            ))
        })?;
    Ok(destination.join(name)?)
}

/// A local directory (or a path ending in `/`) gets the key's last segment appended.
fn download_destination(source: &S3Uri, destination: &str) -> Result<PathBuf> {
    let path = PathBuf::from(destination);
    if destination.ends_with('/') || path.is_dir() {
        source.require_object_key()?;
        let name = source.file_name().unwrap_or_default();
        return Ok(path.join(name));
    }
    Ok(path)
}

/// `1.0 GiB in 3.21 s (334.5 MB/s), 64 parts; verified: SHA-256 per part, ...`.
fn describe(summary: &TransferSummary) -> String {
    let parts = if summary.parts == 1 {
        "1 part".to_owned()
    } else {
        format!("{} parts", summary.parts)
    };
    format!(
        "{} in {:.2} s ({:.1} MB/s), {parts}; {}",
        Size(summary.bytes),
        summary.elapsed.as_secs_f64(),
        summary.bytes_per_second() / 1e6,
        summary.verification
    )
}
