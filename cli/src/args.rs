//! The command line as typed ("low args"), parsed by argh.

use argh::FromArgs;

/// What a lone `-` argument (standard input or output) becomes before argh sees it: argh
/// refuses `-` as a positional, and no real argument can contain a NUL byte.
pub const STDIO: &str = "\0-";

/// The arguments for argh, with a lone `-` replaced by [`STDIO`].
pub fn with_stdio_marked<'a>(raw: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    raw.map(|arg| if arg == "-" { STDIO } else { arg })
        .collect()
}

/// s3mt: fast, verified multipart transfers between files and S3.
///
/// Credentials, region and endpoint are found as aws-cli finds them: flags, AWS_* variables,
/// the profile in ~/.aws/credentials and ~/.aws/config, then container or EC2 instance
/// credentials. `s3mt --version` prints the version.
#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help", "help"))]
pub struct Args {
    /// profile in the shared files (default: $AWS_PROFILE, or default); its keys then win over
    /// $AWS_ACCESS_KEY_ID
    #[argh(option)]
    pub profile: Option<String>,

    /// S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, the profile's
    /// endpoint_url, or AWS for the region)
    #[argh(option)]
    pub endpoint_url: Option<String>,

    /// signing region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, or us-east-1)
    #[argh(option)]
    pub region: Option<String>,

    /// bucket addressing: auto (path style for custom endpoints and IPs), path, or virtual
    /// (default: the profile's s3 addressing_style, or auto)
    #[argh(option)]
    pub addressing_style: Option<String>,

    /// a PEM bundle of CA certificates to trust beside the built-in and system roots (default:
    /// $AWS_CA_BUNDLE, or the profile's ca_bundle)
    #[argh(option)]
    pub ca_bundle: Option<String>,

    /// do not verify servers' certificates (anyone on the way can then read and change the
    /// traffic): for a test server only
    #[argh(switch)]
    pub no_verify_ssl: bool,

    #[argh(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Copy a file to or from S3.
    Cp(CpArgs),
    /// Sync a directory and a prefix.
    Sync(SyncArgs),
    /// List objects.
    Ls(LsArgs),
    /// Delete an object.
    Rm(RmArgs),
    /// Print a presigned URL.
    Presign(PresignArgs),
    /// List or abort incomplete multipart uploads.
    Uploads(UploadsArgs),
}

/// Copy a local file to S3 (SRC a path, DST s3://bucket/key) or an object to a file (the reverse).
/// A DST ending in '/' (or a local directory) gets the source's file name appended. SRC '-' uploads
/// standard input and DST '-' downloads to standard output, in at most (concurrency + 1) x part
/// size of memory; a stream's parts grow as it goes unless --expected-size is given. With
/// --recursive, copy a directory's files to keys under a prefix, or the reverse.
/// `s3mt sync SRC DST` takes the same options: it copies only what is missing or differs.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "cp")]
pub struct CpArgs {
    /// source: a local file or directory, s3://bucket/key or s3://bucket/prefix
    #[argh(positional)]
    pub source: String,

    /// destination: s3://bucket/key, s3://bucket/prefix/, a local file or directory
    #[argh(positional)]
    pub destination: String,

    /// copy everything under a directory or a prefix (cp; sync always does)
    #[argh(switch, short = 'r')]
    pub recursive: bool,

    /// trees: leave out paths (relative to the source) matching this glob; with --include,
    /// repeatable, applied in order, the last match wins (`*` matches `/` too)
    #[argh(option)]
    pub exclude: Vec<String>,

    /// trees: take paths matching this glob back in (see --exclude)
    #[argh(option)]
    pub include: Vec<String>,

    /// trees: print what would be copied or deleted, and change nothing
    #[argh(switch)]
    pub dry_run: bool,

    /// trees: transfer exactly the paths (relative to the source) listed in this file, one per
    /// line ('-' for standard input), without listing the source
    #[argh(option)]
    pub files_from: Option<String>,

    /// trees: take only shard K (0..N-1) of N, by a hash of each path, so that N processes
    /// cover a tree exactly once between them
    #[argh(option)]
    pub shard: Option<String>,

    /// trees: skip symbolic links instead of following them
    #[argh(switch)]
    pub no_follow_symlinks: bool,

    /// sync: delete what exists only at the destination (never what the filters leave out)
    #[argh(switch)]
    pub delete: bool,

    /// sync: a file differs only when its size does
    #[argh(switch)]
    pub size_only: bool,

    /// sync: a file of the same size differs when its content does (it is hashed against the
    /// object's checksums)
    #[argh(switch)]
    pub checksum: bool,

    /// parts or ranges in flight at once (default: 8)
    #[argh(option, short = 'c')]
    pub concurrency: Option<usize>,

    /// part size, e.g. 16MiB or 64MB (= 64MiB), 5MiB..5GiB (default: 16MiB, grown to fit 10,000 parts)
    #[argh(option)]
    pub part_size: Option<String>,

    /// files up to this size go up in one PutObject (default: 16MiB)
    #[argh(option)]
    pub multipart_threshold: Option<String>,

    /// with SRC '-': the stream's size, when known, so the part size fits it up front (needed
    /// above 12.9 TiB at 16 MiB parts)
    #[argh(option)]
    pub expected_size: Option<String>,

    /// uploads: the checksum sent with every part, stored by the server and kept in s3mt's
    /// record: CRC64NVME (the default, as AWS's), CRC32, CRC32C, or SHA256 (ten times the
    /// CPU; also resists tampering)
    #[argh(option)]
    pub checksum_algorithm: Option<String>,

    /// uploads in parts: FULL_OBJECT (one checksum of the whole object; the default for the
    /// CRCs) or COMPOSITE (a checksum of the parts' checksums; SHA256's only kind)
    #[argh(option)]
    pub checksum_type: Option<String>,

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

    /// do not keep a failed or interrupted transfer to resume: abort the upload, delete the
    /// partial download (default: kept, and the same command run again continues)
    #[argh(switch)]
    pub no_resume: bool,

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

/// `s3mt sync`: the options of `cp` (argh cannot share them between subcommands), parsed the
/// same way under another name.
#[derive(Debug)]
pub struct SyncArgs(pub CpArgs);

impl FromArgs for SyncArgs {
    fn from_args(command_name: &[&str], args: &[&str]) -> Result<Self, argh::EarlyExit> {
        CpArgs::from_args(command_name, args).map(Self)
    }

    fn redact_arg_values(
        command_name: &[&str],
        args: &[&str],
    ) -> Result<Vec<String>, argh::EarlyExit> {
        CpArgs::redact_arg_values(command_name, args)
    }
}

impl argh::SubCommand for SyncArgs {
    const COMMAND: &'static argh::CommandInfo = &argh::CommandInfo {
        name: "sync",
        short: &'\0',
        description: "Sync a directory and a prefix: copy only what is missing or differs.",
    };
}

/// List the objects under s3://bucket[/prefix], every key below the prefix (recursive), one line
/// each: last modified (UTC), size in bytes, full key.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "ls")]
pub struct LsArgs {
    /// s3://bucket or s3://bucket/prefix (keys starting with it, not only a "directory")
    #[argh(positional)]
    pub location: String,

    /// print one JSON object per object instead: {"key","size","last_modified","etag"}
    #[argh(switch)]
    pub json: bool,
}

/// Delete the object s3://bucket/key. S3 answers success even when the key does not exist, so
/// deleting a missing key succeeds too.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "rm")]
pub struct RmArgs {
    /// s3://bucket/key
    #[argh(positional)]
    pub location: String,
}

/// Print a presigned URL for s3://bucket/key: anyone holding it can make that one request until
/// it expires, without credentials. Nothing is sent to S3.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "presign")]
pub struct PresignArgs {
    /// s3://bucket/key
    #[argh(positional)]
    pub location: String,

    /// how long the URL works: 90s, 15m, 1h, 7d or plain seconds, 1 second to 7 days
    /// (default: 1h)
    #[argh(option, default = "String::from(\"1h\")")]
    pub expires: String,

    /// the request it allows: get (download) or put (upload with a plain PUT of the body)
    #[argh(option, default = "String::from(\"get\")")]
    pub method: String,
}

/// List or abort incomplete multipart uploads (they keep their parts, and their cost, until
/// completed or aborted).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uploads")]
pub struct UploadsArgs {
    #[argh(subcommand)]
    pub command: UploadsCommand,
}

/// The `uploads` subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum UploadsCommand {
    /// List incomplete multipart uploads.
    Ls(UploadsLsArgs),
    /// Abort incomplete multipart uploads.
    Abort(UploadsAbortArgs),
}

/// List the incomplete multipart uploads under s3://bucket[/prefix], one line each: initiated
/// (UTC), upload id, key.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "ls")]
pub struct UploadsLsArgs {
    /// s3://bucket or s3://bucket/prefix
    #[argh(positional)]
    pub location: String,

    /// only uploads initiated longer ago than this: 90s, 15m, 24h, 7d or plain seconds
    #[argh(option)]
    pub older_than: Option<String>,
}

/// Abort every incomplete multipart upload under s3://bucket[/prefix] (and print each), or with
/// --upload-id the one upload of s3://bucket/key.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "abort")]
pub struct UploadsAbortArgs {
    /// s3://bucket[/prefix], or s3://bucket/key with --upload-id
    #[argh(positional)]
    pub location: String,

    /// only uploads initiated longer ago than this: 90s, 15m, 24h, 7d or plain seconds
    #[argh(option)]
    pub older_than: Option<String>,

    /// abort only this upload of the key given
    #[argh(option)]
    pub upload_id: Option<String>,
}
