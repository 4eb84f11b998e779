//! Presigning each S3 request with rusty-s3. Pure: the clock is passed in, nothing is sent.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusty_s3::actions::S3Action;
use rusty_s3::{Bucket, Method, UrlStyle};
use url::Url;

use super::object_options::Header;
use crate::error::{Error, Result};
use crate::settings::config::endpoint_in;
use crate::settings::{Addressing, Config};

/// The request a presigned URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PresignMethod {
    /// GetObject: download the object.
    #[default]
    Get,
    /// PutObject: upload (or replace) the object with a plain PUT of the body.
    Put,
}

/// The longest expiry S3 accepts for a presigned URL: 7 days.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A presigned request: send `method` to `url` with exactly these headers (they were signed).
#[derive(Clone)]
pub(crate) struct SignedRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<Header>,
}

impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query carries the signature and credential scope: show only the path.
        write!(f, "{:?} {}", self.method, self.url.path())
    }
}

/// What a signature is made with: the time of signing and the credentials current then.
pub(crate) struct Stamp {
    time: Timestamp,
    credentials: Arc<rusty_s3::Credentials>,
}

impl Stamp {
    pub fn new(credentials: Arc<rusty_s3::Credentials>, time: Timestamp) -> Self {
        Self { time, credentials }
    }
}

/// Signs requests against one bucket.
#[derive(Debug)]
pub(crate) struct Signer {
    bucket: Bucket,
    expiry: Duration,
    style: UrlStyle,
    /// The endpoint given, which serves every region; `None`: AWS's for each region.
    given_endpoint: Option<Url>,
}

impl Signer {
    pub fn new(config: &Config, bucket: &str) -> Result<Self> {
        let virtual_host = match config.addressing {
            Addressing::Path => false,
            Addressing::VirtualHost => true,
            Addressing::Auto => config.is_aws_endpoint() && !bucket.contains('.'),
        };
        let style = if virtual_host {
            UrlStyle::VirtualHost
        } else {
            UrlStyle::Path
        };
        Self::at(
            config.given_endpoint.clone(),
            style,
            bucket,
            config.region_of(bucket),
            config.presign_expiry,
        )
    }

    /// A signer for `bucket` in `region`, at the endpoint given or else AWS's for it.
    fn at(
        given_endpoint: Option<Url>,
        style: UrlStyle,
        bucket: &str,
        region: &str,
        expiry: Duration,
    ) -> Result<Self> {
        let endpoint = endpoint_in(given_endpoint.as_ref(), region)?;
        let bucket =
            Bucket::new(endpoint, style, bucket.to_owned(), region.to_owned()).map_err(|err| {
                Error::invalid(format!(
                    "cannot address bucket {bucket:?} at this endpoint: {err}"
                ))
            })?;
        Ok(Self {
            bucket,
            expiry,
            style,
            given_endpoint,
        })
    }

    /// The bucket's name.
    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        self.bucket.region()
    }

    /// A signer for the same bucket in `region`: at the endpoint given, or AWS's for it (an
    /// error when `region` can name no AWS host).
    pub fn in_region(&self, region: &str) -> Result<Self> {
        let given_endpoint = self.given_endpoint.clone();
        Self::at(
            given_endpoint,
            self.style,
            self.bucket.name(),
            region,
            self.expiry,
        )
    }

    /// Signs `action` with `headers` added to the signed headers (every `x-amz-*` header sent
    /// must be signed); the returned request carries them to be sent as they were signed.
    fn finish<'a, A: S3Action<'a>>(
        &self,
        mut action: A,
        at: &Stamp,
        headers: &[Header],
    ) -> SignedRequest {
        for (name, value) in headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        SignedRequest {
            method: A::METHOD,
            url: action.sign_with_time(self.expiry, &at.time),
            headers: headers.to_vec(),
        }
    }

    pub fn put_object(&self, key: &str, headers: &[Header], at: &Stamp) -> SignedRequest {
        self.finish(
            self.bucket.put_object(Some(&*at.credentials), key),
            at,
            headers,
        )
    }

    pub fn create_multipart_upload(
        &self,
        key: &str,
        headers: &[Header],
        at: &Stamp,
    ) -> SignedRequest {
        let action = self
            .bucket
            .create_multipart_upload(Some(&*at.credentials), key);
        self.finish(action, at, headers)
    }

    pub fn upload_part(
        &self,
        key: &str,
        part_number: u32,
        upload_id: &str,
        headers: &[Header],
        at: &Stamp,
    ) -> Result<SignedRequest> {
        let number = u16::try_from(part_number)
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!("part number {part_number} outside 1..=10000"))
            })?;
        let action = self
            .bucket
            .upload_part(Some(&*at.credentials), key, number, upload_id);
        Ok(self.finish(action, at, headers))
    }

    /// Signs CompleteMultipartUpload; the body is written by [`crate::xml::complete_body`].
    pub fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        headers: &[Header],
        at: &Stamp,
    ) -> SignedRequest {
        let action = self.bucket.complete_multipart_upload(
            Some(&*at.credentials),
            key,
            upload_id,
            std::iter::empty::<&str>(),
        );
        self.finish(action, at, headers)
    }

    pub fn abort_multipart_upload(&self, key: &str, upload_id: &str, at: &Stamp) -> SignedRequest {
        let action = self
            .bucket
            .abort_multipart_upload(Some(&*at.credentials), key, upload_id);
        self.finish(action, at, &[])
    }

    /// HeadObject, asking for the object's stored checksums (`x-amz-checksum-mode: ENABLED`).
    pub fn head_object(&self, key: &str, at: &Stamp) -> SignedRequest {
        let action = self.bucket.head_object(Some(&*at.credentials), key);
        self.finish(
            action,
            at,
            &[("x-amz-checksum-mode".into(), "ENABLED".to_owned())],
        )
    }

    /// HeadObject of part `number` of a multipart object: the part's length and the number of
    /// parts (`x-amz-mp-parts-count`), with the stored checksums.
    pub fn head_part(&self, key: &str, number: u32, at: &Stamp) -> SignedRequest {
        let mut action = self.bucket.head_object(Some(&*at.credentials), key);
        action.query_mut().insert("partNumber", number.to_string());
        self.finish(
            action,
            at,
            &[("x-amz-checksum-mode".into(), "ENABLED".to_owned())],
        )
    }

    pub fn get_object(&self, key: &str, at: &Stamp) -> SignedRequest {
        self.finish(self.bucket.get_object(Some(&*at.credentials), key), at, &[])
    }

    /// GetObject of the whole object, asking for its stored checksums as a HEAD does.
    pub fn get_whole_object(&self, key: &str, at: &Stamp) -> SignedRequest {
        let action = self.bucket.get_object(Some(&*at.credentials), key);
        self.finish(
            action,
            at,
            &[("x-amz-checksum-mode".into(), "ENABLED".to_owned())],
        )
    }

    pub fn create_bucket(&self, at: &Stamp) -> SignedRequest {
        self.finish(self.bucket.create_bucket(&at.credentials), at, &[])
    }

    /// ListObjectsV2 of the keys starting with `prefix`, from `token` on when given; with
    /// `directory`, one level only (delimiter `/`: deeper keys come as common prefixes).
    pub fn list_objects_v2(
        &self,
        prefix: &str,
        token: Option<&str>,
        directory: bool,
        at: &Stamp,
    ) -> SignedRequest {
        let mut action = self.bucket.list_objects_v2(Some(&*at.credentials));
        if !prefix.is_empty() {
            action.with_prefix(prefix);
        }
        if directory {
            action.with_delimiter("/");
        }
        if let Some(token) = token {
            action.with_continuation_token(token);
        }
        self.finish(action, at, &[])
    }

    pub fn delete_object(&self, key: &str, at: &Stamp) -> SignedRequest {
        self.finish(
            self.bucket.delete_object(Some(&*at.credentials), key),
            at,
            &[],
        )
    }

    /// DeleteObjects (`POST ?delete`), which rusty-s3 offers only with features s3mt leaves
    /// out; the body is written by [`super::xml::delete_body`].
    pub fn delete_objects(&self, at: &Stamp) -> SignedRequest {
        let url = self.bucket.base_url().clone();
        self.generic(Method::Post, url, &[("delete", "")], &[], at)
    }

    /// A URL anyone may use for `method` on `key` until `expires` after the stamp's time.
    pub fn presign_object(
        &self,
        key: &str,
        method: PresignMethod,
        expires: Duration,
        at: &Stamp,
    ) -> Url {
        let credentials = Some(&*at.credentials);
        match method {
            PresignMethod::Put => self
                .bucket
                .put_object(credentials, key)
                .sign_with_time(expires, &at.time),
            PresignMethod::Get => self
                .bucket
                .get_object(credentials, key)
                .sign_with_time(expires, &at.time),
        }
    }

    /// ListMultipartUploads, which rusty-s3 lacks.
    pub fn list_multipart_uploads(
        &self,
        prefix: &str,
        marker: Option<(&str, &str)>,
        at: &Stamp,
    ) -> SignedRequest {
        // Query pairs must be sorted by name.
        let mut query = Vec::with_capacity(4);
        if let Some((key_marker, _)) = marker {
            query.push(("key-marker", key_marker));
        }
        if !prefix.is_empty() {
            query.push(("prefix", prefix));
        }
        if let Some((_, upload_id_marker)) = marker {
            query.push(("upload-id-marker", upload_id_marker));
        }
        query.push(("uploads", ""));
        self.generic(Method::Get, self.bucket.base_url().clone(), &query, &[], at)
    }

    /// ListParts of `upload_id`, from after part `marker` when given.
    pub fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        marker: Option<u32>,
        at: &Stamp,
    ) -> SignedRequest {
        let marker = marker.map(|n| n.to_string());
        let mut query = Vec::with_capacity(2);
        if let Some(marker) = &marker {
            query.push(("part-number-marker", marker.as_str()));
        }
        query.push(("uploadId", upload_id));
        self.generic(Method::Get, self.bucket.object_url(key), &query, &[], at)
    }

    /// PutObjectTagging, which rusty-s3 lacks; `headers` must include the body's
    /// `content-md5`, which S3 requires for it.
    pub fn put_object_tagging(&self, key: &str, headers: &[Header], at: &Stamp) -> SignedRequest {
        let url = self.bucket.object_url(key);
        self.generic(Method::Put, url, &[("tagging", "")], headers, at)
    }

    /// GetObjectTagging, which rusty-s3 lacks.
    pub fn get_object_tagging(&self, key: &str, at: &Stamp) -> SignedRequest {
        let url = self.bucket.object_url(key);
        self.generic(Method::Get, url, &[("tagging", "")], &[], at)
    }

    /// Any request, signed with rusty-s3's generic signer (`query` sorted by name).
    fn generic(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, &str)],
        headers: &[Header],
        at: &Stamp,
    ) -> SignedRequest {
        let url = rusty_s3::signing::sign(
            &at.time,
            method,
            url,
            at.credentials.key(),
            at.credentials.secret(),
            at.credentials.token(),
            self.bucket.region(),
            self.expiry.as_secs(),
            query.iter().copied(),
            headers
                .iter()
                .map(|(name, value)| (name.as_ref(), value.as_str())),
        );
        SignedRequest {
            method,
            url,
            headers: headers.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Credentials;

    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn config(endpoint: &str, addressing: Addressing) -> Config {
        Config::builder(Credentials::new(ACCESS_KEY, SECRET_KEY))
            .endpoint(endpoint)
            .addressing(addressing)
            .build()
            .unwrap()
    }

    fn stamp(time: Timestamp) -> Stamp {
        Stamp::new(
            Arc::new(rusty_s3::Credentials::new(ACCESS_KEY, SECRET_KEY)),
            time,
        )
    }

    /// AWS's published presigned-URL example (GET examplebucket/test.txt, 2013-05-24, 86400 s).
    #[test]
    fn matches_the_aws_sigv4_presign_example() {
        let mut signer = Signer::new(
            &config("https://s3.amazonaws.com", Addressing::Auto),
            "examplebucket",
        )
        .unwrap();
        signer.expiry = Duration::from_secs(86400);
        let now = stamp("2013-05-24T00:00:00Z".parse().unwrap());
        let request = signer.get_object("test.txt", &now);
        assert_eq!(
            request.url.host_str(),
            Some("examplebucket.s3.amazonaws.com")
        );
        let signature = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "X-Amz-Signature")
            .map(|(_, value)| value.into_owned());
        assert_eq!(
            signature.as_deref(),
            Some("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        );
    }

    #[test]
    fn presigned_object_urls_carry_their_expiry() {
        let signer = Signer::new(&config("http://127.0.0.1:1", Addressing::Path), "bkt").unwrap();
        let now = stamp(Timestamp::UNIX_EPOCH);
        let url = signer.presign_object("a b", PresignMethod::Put, Duration::from_secs(90), &now);
        assert_eq!(url.path(), "/bkt/a%20b");
        let query = url.query().unwrap();
        assert!(query.contains("X-Amz-Expires=90"), "{query}");
        let get = signer.presign_object("a b", PresignMethod::Get, Duration::from_secs(90), &now);
        assert_ne!(get, url, "the method is signed");
    }

    #[test]
    fn a_bucket_in_another_region_is_signed_for_it_at_its_aws_endpoint() {
        let now = stamp(Timestamp::UNIX_EPOCH);
        let config = Config::builder(Credentials::new(ACCESS_KEY, SECRET_KEY))
            .region("eu-west-1")
            .bucket_region("source", "eu-central-1")
            .build()
            .unwrap();
        let source = Signer::new(&config, "source").unwrap();
        let url = source.head_object("k", &now).url;
        assert_eq!(url.host_str(), Some("source.s3.eu-central-1.amazonaws.com"));
        assert!(
            url.query().unwrap().contains("%2Feu-central-1%2Fs3%2F"),
            "{url}"
        );
        let destination = Signer::new(&config, "destination").unwrap();
        let url = destination.head_object("k", &now).url;
        assert_eq!(
            url.host_str(),
            Some("destination.s3.eu-west-1.amazonaws.com")
        );
        assert!(
            url.query().unwrap().contains("%2Feu-west-1%2Fs3%2F"),
            "{url}"
        );
    }

    #[test]
    fn a_signer_moves_to_the_region_a_server_names() {
        let now = stamp(Timestamp::UNIX_EPOCH);
        let aws = Signer::new(&config("https://s3.amazonaws.com", Addressing::Auto), "b");
        // Given, even AWS's global endpoint serves the new region.
        let moved = aws.unwrap().in_region("ap-south-1").unwrap();
        let url = moved.head_object("k", &now).url;
        assert_eq!(url.host_str(), Some("b.s3.amazonaws.com"));
        assert!(
            url.query().unwrap().contains("%2Fap-south-1%2Fs3%2F"),
            "{url}"
        );
        // Not given: AWS's endpoint for the region, whose name must make a host.
        let defaults = Config::builder(Credentials::new(ACCESS_KEY, SECRET_KEY))
            .build()
            .unwrap();
        let default = Signer::new(&defaults, "b").unwrap();
        let moved = default.in_region("eu-north-1").unwrap();
        assert_eq!(moved.region(), "eu-north-1");
        let url = moved.head_object("k", &now).url;
        assert_eq!(url.host_str(), Some("b.s3.eu-north-1.amazonaws.com"));
        assert!(default.in_region("evil.example/x").is_err());
        let local = Signer::new(&config("http://127.0.0.1:8333", Addressing::Auto), "b").unwrap();
        let moved = local.in_region("garage").unwrap();
        assert_eq!(moved.head_object("k", &now).url.path(), "/b/k");
        assert_eq!(moved.bucket_name(), "b");
    }

    #[test]
    fn custom_endpoints_and_dotted_buckets_use_path_style() {
        let now = stamp(Timestamp::UNIX_EPOCH);
        let local = Signer::new(&config("http://127.0.0.1:8333", Addressing::Auto), "b1").unwrap();
        assert_eq!(local.head_object("k", &now).url.path(), "/b1/k");
        let dotted = Signer::new(
            &config("https://s3.amazonaws.com", Addressing::Auto),
            "a.b.c",
        )
        .unwrap();
        assert_eq!(dotted.head_object("k", &now).url.path(), "/a.b.c/k");
        let forced =
            Signer::new(&config("https://s3.amazonaws.com", Addressing::Path), "bkt").unwrap();
        assert_eq!(forced.head_object("k", &now).url.path(), "/bkt/k");
    }

    #[test]
    fn part_numbers_outside_the_s3_range_are_refused() {
        let signer = Signer::new(&config("http://127.0.0.1:1", Addressing::Path), "bkt").unwrap();
        let now = stamp(Timestamp::UNIX_EPOCH);
        assert!(signer.upload_part("k", 0, "id", &[], &now).is_err());
        assert!(signer.upload_part("k", 10_001, "id", &[], &now).is_err());
        let url = signer
            .upload_part("k", 10_000, "id", &[], &now)
            .unwrap()
            .url;
        assert!(url.query().unwrap().contains("partNumber=10000"));
    }

    #[test]
    fn list_uploads_query_is_signed_in_sorted_order() {
        let signer = Signer::new(&config("http://127.0.0.1:1", Addressing::Path), "bkt").unwrap();
        let request =
            signer.list_multipart_uploads("p/", Some(("k", "u")), &stamp(Timestamp::UNIX_EPOCH));
        let query = request.url.query().unwrap();
        let names: Vec<&str> = query
            .split('&')
            .map(|pair| pair.split('=').next().unwrap())
            .collect();
        let ours: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.starts_with("X-Amz"))
            .collect();
        assert_eq!(
            ours,
            ["key-marker", "prefix", "upload-id-marker", "uploads"]
        );
    }
}
