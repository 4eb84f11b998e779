//! What an upload stores with the object besides its bytes: storage class, content type, user
//! metadata, caching and disposition headers, server-side encryption, and whether an existing
//! object may be replaced. Pure: validation, and the request headers the options produce.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};

/// The storage classes S3 accepts in `x-amz-storage-class`.
pub const STORAGE_CLASSES: [&str; 10] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "EXPRESS_ONEZONE",
];

/// The content type of files whose extension [`guess_content_type`] does not know.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The user-metadata key (after `x-amz-meta-`) that holds s3mt's integrity record.
const RESERVED_METADATA_KEY: &str = "s3mt-sha256";

/// Most bytes of user metadata (keys and values) S3 accepts on an object.
const MAX_METADATA_BYTES: usize = 2048;

/// A request header: a name (lowercase) and its value.
pub(crate) type Header = (Cow<'static, str>, String);

/// Server-side encryption asked of S3 (`x-amz-server-side-encryption`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// `AES256`: keys managed by S3 (SSE-S3).
    Aes256,
    /// `aws:kms`: keys in AWS KMS (SSE-KMS), with the given key id or ARN, or the account's
    /// default S3 key when `None`.
    AwsKms(Option<String>),
}

impl ServerSideEncryption {
    /// Parses `AES256` or `aws:kms` (as S3 spells them), with the KMS key id if any; a key id
    /// is refused with `AES256`.
    pub fn parse(algorithm: &str, kms_key_id: Option<&str>) -> Result<Self> {
        match (algorithm, kms_key_id) {
            ("AES256", None) => Ok(Self::Aes256),
            ("aws:kms", key) => Ok(Self::AwsKms(key.map(str::to_owned))),
            ("AES256", Some(_)) => Err(Error::invalid(
                "a KMS key id goes only with aws:kms encryption, not AES256",
            )),
            (other, _) => Err(Error::invalid(format!(
                "server-side encryption {other:?}: expected AES256 or aws:kms"
            ))),
        }
    }
}

/// Where a server-side copy's metadata comes from (aws-cli's `--metadata-directive`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataDirective {
    /// The source's content type, caching and encoding headers and user metadata.
    #[default]
    Copy,
    /// Only what the options give (the content type guessed from the destination's key when
    /// none is given); s3mt's record is kept, since it still describes the bytes.
    Replace,
}

/// Options for the object an upload creates. Setters take any value; they are checked (before
/// any request is sent) when the upload starts, and [`ObjectOptions::validate`] checks them
/// earlier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectOptions {
    storage_class: Option<String>,
    content_type: Option<String>,
    metadata: Vec<(String, String)>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    encryption: Option<ServerSideEncryption>,
    no_overwrite: bool,
    metadata_directive: Option<MetadataDirective>,
}

impl ObjectOptions {
    /// The storage class, one of [`STORAGE_CLASSES`] (any letter case). Default: the
    /// bucket's (S3: `STANDARD`).
    pub fn storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = Some(class.into());
        self
    }

    /// The `Content-Type` stored with the object. Default: guessed from the source file's
    /// extension by [`guess_content_type`], else `application/octet-stream`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds user metadata, stored as `x-amz-meta-<key>`. Keys are HTTP token characters (S3
    /// keeps them lowercase), values printable ASCII; the key `s3mt-sha256` is s3mt's own.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// The `Cache-Control` stored with the object. Default: none.
    pub fn cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = Some(value.into());
        self
    }

    /// The `Content-Disposition` stored with the object. Default: none.
    pub fn content_disposition(mut self, value: impl Into<String>) -> Self {
        self.content_disposition = Some(value.into());
        self
    }

    /// Server-side encryption. Default: none asked (the bucket's default applies).
    pub fn encryption(mut self, encryption: ServerSideEncryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// Refuses to replace an existing object (`If-None-Match: *` on PutObject and on
    /// CompleteMultipartUpload): the upload then fails with
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists). Default: off.
    pub fn no_overwrite(mut self, no_overwrite: bool) -> Self {
        self.no_overwrite = no_overwrite;
        self
    }

    /// Where a server-side copy's metadata comes from. Default: [`MetadataDirective::Replace`]
    /// when a content type, user metadata, cache control or disposition is given (as aws-cli
    /// does), else [`MetadataDirective::Copy`]. Uploads ignore it.
    pub fn metadata_directive(mut self, directive: MetadataDirective) -> Self {
        self.metadata_directive = Some(directive);
        self
    }

    /// The metadata directive a copy uses (see [`Self::metadata_directive`]).
    pub fn copy_directive(&self) -> MetadataDirective {
        let described = self.content_type.is_some()
            || !self.metadata.is_empty()
            || self.cache_control.is_some()
            || self.content_disposition.is_some();
        self.metadata_directive.unwrap_or(if described {
            MetadataDirective::Replace
        } else {
            MetadataDirective::Copy
        })
    }

    /// The headers of a copy that are not about what describes the object: storage class and
    /// server-side encryption (which a copy takes from the options, never from the source).
    pub(crate) fn placement_headers(&self) -> Vec<Header> {
        self.object_headers(Path::new(""))
            .into_iter()
            .filter(|(name, _)| {
                name.starts_with("x-amz-storage-class") || name.starts_with("x-amz-server-side")
            })
            .collect()
    }

    /// Whether an existing object must not be replaced.
    pub fn is_no_overwrite(&self) -> bool {
        self.no_overwrite
    }

    /// Checks every option; errors are [`ErrorKind::InvalidInput`](crate::ErrorKind).
    pub fn validate(&self) -> Result<()> {
        if let Some(class) = &self.storage_class {
            normalized_class(class)?;
        }
        for (what, value) in [
            ("content type", &self.content_type),
            ("cache control", &self.cache_control),
            ("content disposition", &self.content_disposition),
        ] {
            if let Some(value) = value {
                check_value(what, value)?;
            }
        }
        let mut seen: Vec<String> = Vec::with_capacity(self.metadata.len());
        let mut bytes = 0;
        for (key, value) in &self.metadata {
            check_metadata_key(key)?;
            let lower = key.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(Error::invalid(format!(
                    "metadata key {key:?} is given twice (keys are case-insensitive)"
                )));
            }
            check_value(&format!("metadata {key:?}"), value)?;
            bytes += key.len() + value.len();
            seen.push(lower);
        }
        if bytes > MAX_METADATA_BYTES {
            return Err(Error::invalid(format!(
                "metadata of {bytes} bytes exceeds S3's {MAX_METADATA_BYTES}-byte limit"
            )));
        }
        if let Some(ServerSideEncryption::AwsKms(Some(key))) = &self.encryption {
            check_value("KMS key id", key)?;
        }
        Ok(())
    }

    /// Headers describing the object, for PutObject and CreateMultipartUpload (all signed):
    /// content type (given, or guessed from `source`), cache control, content disposition,
    /// storage class, server-side encryption and user metadata. Assumes [`Self::validate`]
    /// passed.
    pub(crate) fn object_headers(&self, source: &Path) -> Vec<Header> {
        let mut headers: Vec<Header> = Vec::new();
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(source).to_owned());
        headers.push(("content-type".into(), content_type));
        if let Some(value) = &self.cache_control {
            headers.push(("cache-control".into(), value.clone()));
        }
        if let Some(value) = &self.content_disposition {
            headers.push(("content-disposition".into(), value.clone()));
        }
        if let Some(class) = self
            .storage_class
            .as_deref()
            .and_then(|class| normalized_class(class).ok())
        {
            headers.push(("x-amz-storage-class".into(), class.to_owned()));
        }
        match &self.encryption {
            Some(ServerSideEncryption::Aes256) => {
                headers.push(("x-amz-server-side-encryption".into(), "AES256".to_owned()));
            }
            Some(ServerSideEncryption::AwsKms(key)) => {
                headers.push(("x-amz-server-side-encryption".into(), "aws:kms".to_owned()));
                if let Some(key) = key {
                    headers.push((
                        "x-amz-server-side-encryption-aws-kms-key-id".into(),
                        key.clone(),
                    ));
                }
            }
            None => {}
        }
        for (key, value) in &self.metadata {
            let name = format!("x-amz-meta-{}", key.to_ascii_lowercase());
            headers.push((name.into(), value.clone()));
        }
        headers
    }

    /// The conditional header of the request that creates the object (PutObject or
    /// CompleteMultipartUpload), if any.
    pub(crate) fn condition_headers(&self) -> Vec<Header> {
        if self.no_overwrite {
            vec![("if-none-match".into(), "*".to_owned())]
        } else {
            Vec::new()
        }
    }
}

/// The storage class as S3 spells it, or an error listing the valid ones.
fn normalized_class(class: &str) -> Result<&'static str> {
    STORAGE_CLASSES
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(class))
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown storage class {class:?}: expected one of {}",
                STORAGE_CLASSES.join(", ")
            ))
        })
}

/// HTTP token characters (RFC 9110 `tchar`).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn check_metadata_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("metadata keys must not be empty"));
    }
    if let Some(bad) = key.chars().find(|&c| !is_token_char(c)) {
        return Err(Error::invalid(format!(
            "metadata key {key:?} contains {bad:?}: keys are ASCII letters, digits and \
             !#$%&'*+-.^_`|~"
        )));
    }
    if key.eq_ignore_ascii_case(RESERVED_METADATA_KEY) {
        return Err(Error::invalid(format!(
            "metadata key {key:?} is reserved: s3mt stores its integrity record there"
        )));
    }
    Ok(())
}

/// Header values: printable ASCII (spaces inside), as S3 stores them and SigV4 signs them.
fn check_value(what: &str, value: &str) -> Result<()> {
    if let Some(bad) = value.chars().find(|&c| !(' '..='~').contains(&c)) {
        return Err(Error::invalid(format!(
            "{what} {value:?} contains {bad:?}: values are printable ASCII"
        )));
    }
    if value.trim() != value {
        return Err(Error::invalid(format!(
            "{what} {value:?} has leading or trailing spaces"
        )));
    }
    Ok(())
}

/// The content type for `path` by its extension (any case) from a short table of common
/// types; [`DEFAULT_CONTENT_TYPE`] for others and for files without an extension.
pub fn guess_content_type(path: &Path) -> &'static str {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return DEFAULT_CONTENT_TYPE;
    };
    let extension = extension.to_ascii_lowercase();
    match extension.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "htm" | "html" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "md" | "markdown" => "text/markdown",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "ndjson" | "jsonl" => "application/x-ndjson",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "zst" => "application/zstd",
        "7z" => "application/x-7z-compressed",
        "tar" => "application/x-tar",
        "parquet" => "application/vnd.apache.parquet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => DEFAULT_CONTENT_TYPE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn names(headers: &[Header]) -> Vec<&str> {
        headers.iter().map(|(name, _)| name.as_ref()).collect()
    }

    #[test]
    fn content_type_is_guessed_by_extension_with_a_default() {
        assert_eq!(
            guess_content_type(Path::new("a/b.JSON")),
            "application/json"
        );
        assert_eq!(
            guess_content_type(Path::new("x.tar.gz")),
            "application/gzip"
        );
        assert_eq!(
            guess_content_type(Path::new("blob.bin")),
            DEFAULT_CONTENT_TYPE
        );
        assert_eq!(
            guess_content_type(Path::new("README")),
            DEFAULT_CONTENT_TYPE
        );
        let headers = ObjectOptions::default().object_headers(Path::new("p.png"));
        assert_eq!(headers, [("content-type".into(), "image/png".to_owned())]);
        let given = ObjectOptions::default()
            .content_type("text/x-custom")
            .object_headers(Path::new("p.png"));
        assert_eq!(given[0].1, "text/x-custom");
    }

    #[test]
    fn every_option_becomes_a_header() {
        let options = ObjectOptions::default()
            .storage_class("standard_ia")
            .metadata("Owner", "team a")
            .cache_control("max-age=60")
            .content_disposition("attachment")
            .encryption(ServerSideEncryption::AwsKms(Some("key-1".into())))
            .no_overwrite(true);
        options.validate().unwrap();
        let headers = options.object_headers(Path::new("f"));
        assert_eq!(
            names(&headers),
            [
                "content-type",
                "cache-control",
                "content-disposition",
                "x-amz-storage-class",
                "x-amz-server-side-encryption",
                "x-amz-server-side-encryption-aws-kms-key-id",
                "x-amz-meta-owner",
            ]
        );
        assert!(headers.contains(&("x-amz-storage-class".into(), "STANDARD_IA".to_owned())));
        assert_eq!(
            options.condition_headers(),
            [("if-none-match".into(), "*".to_owned())]
        );
        assert!(ObjectOptions::default().condition_headers().is_empty());
    }

    #[test]
    fn invalid_options_are_refused() {
        let refused = |options: ObjectOptions| {
            let err = options.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            err.to_string()
        };
        assert!(refused(ObjectOptions::default().storage_class("COLD")).contains("GLACIER_IR"));
        refused(ObjectOptions::default().metadata("", "v"));
        refused(ObjectOptions::default().metadata("a b", "v"));
        refused(ObjectOptions::default().metadata("k", "caf\u{e9}"));
        refused(ObjectOptions::default().metadata("k", "line\nbreak"));
        assert!(
            refused(ObjectOptions::default().metadata("S3MT-SHA256", "x")).contains("reserved")
        );
        refused(
            ObjectOptions::default()
                .metadata("a", "1")
                .metadata("A", "2"),
        );
        refused(ObjectOptions::default().metadata("big", "x".repeat(3000)));
        refused(ObjectOptions::default().content_type(" text/plain"));
        assert!(ServerSideEncryption::parse("AES256", Some("k")).is_err());
        assert!(ServerSideEncryption::parse("aes", None).is_err());
        assert_eq!(
            ServerSideEncryption::parse("aws:kms", None).unwrap(),
            ServerSideEncryption::AwsKms(None)
        );
    }
}
