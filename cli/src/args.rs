//! The command line as typed ("low args"), parsed by argh.

use argh::FromArgs;

/// s3mt: fast, verified multipart transfers between files and S3.
///
/// Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
/// `s3mt --version` prints the version.
#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help", "help"))]
pub struct Args {
    /// S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, or AWS for the region)
    #[argh(option)]
    pub endpoint_url: Option<String>,

    /// signing region (default: $AWS_REGION, $AWS_DEFAULT_REGION, or us-east-1)
    #[argh(option)]
    pub region: Option<String>,

    /// bucket addressing: auto (path style for custom endpoints and IPs), path, or virtual
    #[argh(option, default = "String::from(\"auto\")")]
    pub addressing_style: String,

    #[argh(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Copy a file to or from S3.
    Cp(CpArgs),
}

/// Copy a local file to S3 (SRC a path, DST s3://bucket/key) or an object to a file (the reverse).
/// A DST ending in '/' (or a local directory) gets the source's file name appended.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "cp")]
pub struct CpArgs {
    /// source: a local file or s3://bucket/key
    #[argh(positional)]
    pub source: String,

    /// destination: s3://bucket/key, s3://bucket/prefix/, a local file or directory
    #[argh(positional)]
    pub destination: String,

    /// parts or ranges in flight at once (default: 8)
    #[argh(option, short = 'c')]
    pub concurrency: Option<usize>,

    /// part size, e.g. 16MiB or 64MB, 5MiB..5GiB (default: 16MiB, grown to fit 10,000 parts)
    #[argh(option)]
    pub part_size: Option<String>,

    /// files up to this size go up in one PutObject (default: 16MiB)
    #[argh(option)]
    pub multipart_threshold: Option<String>,

    /// attempts per request, the first included (default: 5)
    #[argh(option)]
    pub max_attempts: Option<u32>,

    /// seconds a connection may stall on one read or write before it is retried (default: 30)
    #[argh(option)]
    pub io_timeout: Option<f64>,

    /// download verification: auto (check whatever integrity data the object has) or require
    /// (fail when it has none)
    #[argh(option, default = "String::from(\"auto\")")]
    pub verify: String,

    /// progress display: bar (the default on a terminal), parts (each part's percentage),
    /// lines (the default otherwise: a plain line per interval) or none
    #[argh(option)]
    pub progress: Option<String>,

    /// seconds between progress updates, fractions allowed (default: 0.5 on a terminal, 5
    /// otherwise, 1 with --json)
    #[argh(option)]
    pub progress_interval: Option<f64>,

    /// uploads: storage class (STANDARD, STANDARD_IA, GLACIER_IR, ...; default: the bucket's)
    #[argh(option)]
    pub storage_class: Option<String>,

    /// uploads: Content-Type (default: guessed from the file extension, else
    /// application/octet-stream)
    #[argh(option)]
    pub content_type: Option<String>,

    /// uploads: user metadata KEY=VALUE, stored as x-amz-meta-KEY (repeatable)
    #[argh(option)]
    pub metadata: Vec<String>,

    /// uploads: Cache-Control stored with the object
    #[argh(option)]
    pub cache_control: Option<String>,

    /// uploads: Content-Disposition stored with the object
    #[argh(option)]
    pub content_disposition: Option<String>,

    /// uploads: server-side encryption, AES256 or aws:kms
    #[argh(option)]
    pub sse: Option<String>,

    /// uploads: KMS key id or ARN for --sse aws:kms
    #[argh(option)]
    pub sse_kms_key_id: Option<String>,

    /// uploads: fail (exit 9) instead of replacing an existing object
    #[argh(switch)]
    pub no_overwrite: bool,

    /// print each event and the summary (or the error) as a JSON object per line on standard
    /// output, and no progress on standard error
    #[argh(switch)]
    pub json: bool,

    /// print nothing but errors
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}
