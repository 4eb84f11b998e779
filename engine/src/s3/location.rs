//! `s3://bucket/key` addresses: parsing and the validation S3 and the URL layer require. Pure.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An `s3://bucket/key` address. The key may be empty or end with `/` (a prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    bucket: String,
    key: String,
}

impl S3Uri {
    /// Builds an address from a bucket and a key, validating both.
    ///
    /// An empty key or one ending in `/` is allowed here (it names a prefix); transfers call
    /// [`S3Uri::require_object_key`].
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Result<Self> {
        let (bucket, key) = (bucket.into(), key.into());
        validate_bucket(&bucket)?;
        validate_key_segments(&key)?;
        Ok(Self { bucket, key })
    }

    /// Whether `text` is meant as an S3 address rather than a local path.
    pub fn is_s3(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key (possibly empty).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the key is empty or ends with `/`, so it names a prefix rather than an object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The same bucket with `name` appended to the key (for `s3://b/prefix/` destinations).
    pub fn join(&self, name: &str) -> Result<Self> {
        Self::new(self.bucket.clone(), format!("{}{name}", self.key))
    }

    /// The last `/`-separated segment of the key, used as a local file name.
    pub fn file_name(&self) -> Option<&str> {
        self.key.rsplit('/').next().filter(|name| !name.is_empty())
    }

    /// Fails unless the key names an object (non-empty, not ending in `/`).
    pub fn require_object_key(&self) -> Result<()> {
        if self.is_prefix() {
            return Err(Error::invalid(format!(
                "{self} names a prefix, not an object: give the object key after the bucket"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for S3Uri {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            Error::invalid(format!(
                "{text:?} is not an S3 URL: expected s3://bucket/key"
            ))
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(format!(
                "{text:?} has no bucket name: expected s3://bucket/key"
            )));
        }
        Self::new(bucket, key)
    }
}

/// S3's bucket naming rules (3-63 of `a-z0-9.-`, alphanumeric at both ends, no `..`, not an IP).
fn validate_bucket(bucket: &str) -> Result<()> {
    let bytes = bucket.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid = (3..=63).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && ends_ok(bytes.first())
        && ends_ok(bytes.last())
        && !bucket.contains("..")
        && bucket.parse::<std::net::Ipv4Addr>().is_err();
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid bucket name {bucket:?}: use 3-63 lowercase letters, digits, '.' and '-', \
             starting and ending with a letter or digit"
        )))
    }
}

/// Keys are at most 1024 bytes, and may not hold `.` or `..` segments: the URL layer would
/// resolve them and the request would silently address another key.
fn validate_key_segments(key: &str) -> Result<()> {
    if key.len() > 1024 {
        return Err(Error::invalid(format!(
            "object key is {} bytes long; S3 allows at most 1024",
            key.len()
        )));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Error::invalid(format!(
            "object key {key:?} contains a '.' or '..' segment, which URLs cannot carry \
             (it would address a different key)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let uri: S3Uri = "s3://my-bucket/dir/file.bin".parse().unwrap();
        assert_eq!((uri.bucket(), uri.key()), ("my-bucket", "dir/file.bin"));
        assert_eq!(uri.file_name(), Some("file.bin"));
        assert!(!uri.is_prefix());
        assert_eq!(uri.to_string(), "s3://my-bucket/dir/file.bin");
    }

    #[test]
    fn bucket_alone_and_trailing_slash_are_prefixes() {
        for text in ["s3://bucket", "s3://bucket/", "s3://bucket/dir/"] {
            let uri: S3Uri = text.parse().unwrap();
            assert!(uri.is_prefix(), "{text}");
            assert!(uri.require_object_key().is_err(), "{text}");
        }
        let joined = "s3://bucket/dir/"
            .parse::<S3Uri>()
            .unwrap()
            .join("f")
            .unwrap();
        assert_eq!(joined.key(), "dir/f");
    }

    #[test]
    fn rejects_bad_urls_and_bucket_names() {
        for text in [
            "bucket/key",
            "s3://",
            "s3:///key",
            "s3://ab/key",
            "s3://Upper/key",
            "s3://-dash/key",
            "s3://a..b/key",
            "s3://192.168.1.1/key",
            "s3://under_score/key",
        ] {
            let err = text.parse::<S3Uri>().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{text}");
        }
    }

    #[test]
    fn rejects_dot_segments_that_urls_would_rewrite() {
        for key in ["a/../x", "./y", "..", ".", "a/./b", "a/.."] {
            let err = format!("s3://bucket/{key}").parse::<S3Uri>().unwrap_err();
            assert!(err.to_string().contains("segment"), "{key}: {err}");
        }
        // Dots inside a segment are ordinary characters.
        assert!("s3://bucket/a..b/.hidden/x.".parse::<S3Uri>().is_ok());
    }

    #[test]
    fn rejects_overlong_keys() {
        let key = "k".repeat(1025);
        assert!(S3Uri::new("bucket", key).is_err());
    }
}
