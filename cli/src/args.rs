//! The command line as typed ("low args"), parsed by argh.

use std::marker::PhantomData;

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
    /// Move a file or object.
    Mv(MvArgs),
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
#[argh(
    subcommand,
    name = "cp",
    example = "Upload a file under a prefix (it keeps its name):\n\
    {command_name} ./big.bin s3://my-bucket/backups/\n\n\
    Download a prefix's objects into a directory (created when missing):\n\
    {command_name} -r s3://my-bucket/runs/run-42/ ./run-42\n\n\
    Upload a stream, in bounded memory:\n\
    pg_dump mydb | {command_name} - s3://my-bucket/dumps/mydb.sql"
)]
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

    /// the most bytes per second all connections move together, both ways, e.g. 100MB/s
    /// (= 100 MiB/s, as aws-cli reads it) or 200Mbit (default: the profile's s3 max_bandwidth,
    /// else no cap)
    #[argh(option)]
    pub max_bandwidth: Option<String>,

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

    /// S3 to S3: where the copy's content type and metadata come from, COPY (the source's)
    /// or REPLACE (only what is given); default COPY, REPLACE when --content-type,
    /// --metadata, --cache-control or --content-disposition is given
    #[argh(option)]
    pub metadata_directive: Option<String>,

    /// S3 to S3: the source bucket's region when it is not the client's (--region then names
    /// the destination's, as with aws-cli)
    #[argh(option)]
    pub source_region: Option<String>,

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

/// A command that takes the options of `cp` under a name of its own (argh cannot share options
/// between subcommands): its name, description and `--help` examples.
pub trait CpVariant {
    const COMMAND: &'static argh::CommandInfo;
    const EXAMPLES: &'static str;
}

/// `cp`'s options, parsed the same way for the command `K`.
#[derive(Debug)]
pub struct CpLike<K>(pub CpArgs, pub PhantomData<K>);

/// `s3mt sync`.
#[derive(Debug)]
pub struct SyncCommand;

/// `s3mt mv`.
#[derive(Debug)]
pub struct MoveCommand;

pub type SyncArgs = CpLike<SyncCommand>;
pub type MvArgs = CpLike<MoveCommand>;

impl CpVariant for SyncCommand {
    const COMMAND: &'static argh::CommandInfo = &argh::CommandInfo {
        name: "sync",
        short: &'\0',
        description: "Sync a directory and a prefix: copy only what is missing or differs.",
    };
    const EXAMPLES: &'static str = "\
  Upload what is new or changed in a directory:
  s3mt sync ./photos s3://my-bucket/photos/

  Mirror a prefix into a directory, deleting local files gone upstream:
  s3mt sync s3://my-bucket/photos ./photos --delete

  Only the Rust sources, and first see what would be done:
  s3mt sync ./src s3://my-bucket/src/ --exclude '*' --include '*.rs' --dry-run";
}

impl CpVariant for MoveCommand {
    const COMMAND: &'static argh::CommandInfo = &argh::CommandInfo {
        name: "mv",
        short: &'\0',
        description: "Move a file or object (or with --recursive a tree): copy it, then delete \
                      the source once the copy is complete and verified.",
    };
    const EXAMPLES: &'static str = "\
  Move a finished file up (deleted locally once the upload is verified):
  s3mt mv ./run-42.tar s3://my-bucket/archive/

  Move an object down, or to another bucket inside S3:
  s3mt mv s3://my-bucket/inbox/report.pdf ./reports/
  s3mt mv s3://my-bucket/inbox/report.pdf s3://archive-bucket/2026/

  Move a directory's finished runs up, file by file:
  s3mt mv --recursive ./runs s3://my-bucket/runs/ --exclude '*.tmp'";
}

impl<K: CpVariant> FromArgs for CpLike<K> {
    fn from_args(command_name: &[&str], args: &[&str]) -> Result<Self, argh::EarlyExit> {
        CpArgs::from_args(command_name, args)
            .map(|args| Self(args, PhantomData))
            .map_err(|mut exit| {
                exit.output = with_examples(&exit.output, K::EXAMPLES);
                exit
            })
    }

    fn redact_arg_values(
        command_name: &[&str],
        args: &[&str],
    ) -> Result<Vec<String>, argh::EarlyExit> {
        CpArgs::redact_arg_values(command_name, args)
    }
}

impl<K: CpVariant> argh::SubCommand for CpLike<K> {
    const COMMAND: &'static argh::CommandInfo = K::COMMAND;
}

/// `cp`'s help text with `examples` in place of its own.
fn with_examples(help: &str, examples: &str) -> String {
    let Some((before, after)) = help.split_once("Examples:\n") else {
        return help.to_owned();
    };
    // The section runs to the next one argh writes (notes, error codes), or to the end.
    let end = ["\nNotes:", "\nError codes:"]
        .iter()
        .filter_map(|header| after.find(header))
        .min()
        .unwrap_or(after.len());
    format!("{before}Examples:\n{examples}\n{}", &after[end..])
}

/// List the objects under s3://bucket[/prefix], every key below the prefix (recursive), one line
/// each: last modified (UTC), size in bytes, full key.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "ls",
    example = "Every object under a prefix, then as JSON lines for a script:\n\
    {command_name} s3://my-bucket/backups/\n\
    {command_name} s3://my-bucket --json | jq -r .key"
)]
pub struct LsArgs {
    /// s3://bucket or s3://bucket/prefix (keys starting with it, not only a "directory")
    #[argh(positional)]
    pub location: String,

    /// print one JSON object per object instead: {"key","size","last_modified","etag"}
    #[argh(switch)]
    pub json: bool,
}

/// Delete the object s3://bucket/key (S3 answers success even when the key does not exist, so
/// deleting a missing key succeeds too), or with --recursive every object under
/// s3://bucket[/prefix], in DeleteObjects batches of up to 1,000 keys.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "rm",
    example = "Delete one object:\n\
    {command_name} s3://my-bucket/backups/old.bin\n\n\
    See what would go, then delete a prefix's temporary files only:\n\
    {command_name} -r s3://my-bucket/scratch/ --exclude '*' --include '*.tmp' --dry-run"
)]
pub struct RmArgs {
    /// s3://bucket/key, or with --recursive s3://bucket[/prefix]
    #[argh(positional)]
    pub location: String,

    /// delete every object under the prefix (s3://b/p and s3://b/p/ both mean p/)
    #[argh(switch, short = 'r')]
    pub recursive: bool,

    /// with --recursive: leave out keys (relative to the prefix) matching this glob; with
    /// --include, repeatable, applied in order, the last match wins
    #[argh(option)]
    pub exclude: Vec<String>,

    /// with --recursive: take keys matching this glob back in (see --exclude)
    #[argh(option)]
    pub include: Vec<String>,

    /// with --recursive: print what would be deleted, delete nothing
    #[argh(switch)]
    pub dry_run: bool,
}

/// Print a presigned URL for s3://bucket/key: anyone holding it can make that one request until
/// it expires, without credentials. Nothing is sent to S3.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "presign",
    example = "A download link for a day, and an upload link for 15 minutes:\n\
    curl -o report.pdf \"$({command_name} s3://my-bucket/report.pdf --expires 1d)\"\n\
    curl -T data.csv \"$({command_name} s3://my-bucket/in/data.csv --method put --expires 15m)\""
)]
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
#[argh(
    subcommand,
    name = "ls",
    example = "Uploads left behind for more than a day:\n\
    {command_name} s3://my-bucket --older-than 24h"
)]
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
#[argh(
    subcommand,
    name = "abort",
    example = "Free the storage of uploads abandoned over a week ago, or of one upload:\n\
    {command_name} s3://my-bucket --older-than 7d\n\
    {command_name} s3://my-bucket/big.bin --upload-id 2~abc"
)]
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
