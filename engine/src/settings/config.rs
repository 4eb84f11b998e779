//! Client settings: a builder whose `build()` validates everything, with documented defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::credentials::CredentialSource;
use super::proxy::ProxyVariables;
use super::tls;
use crate::error::{Error, Result};
use crate::integrity::{ChecksumAlgorithm, ChecksumType};
use crate::plan::{self, DEFAULT_PART_SIZE};

/// Parts (or ranges) in flight at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Most parts in flight at once that a config accepts.
pub const MAX_CONCURRENCY: usize = 1024;
/// Files up to this size go up in one PutObject, by default.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = DEFAULT_PART_SIZE;
/// Region used when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How bucket names go into request URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Virtual-hosted style for AWS endpoints; path style for custom endpoints, IP addresses,
    /// and bucket names with dots (which TLS certificates for `*.s3.amazonaws.com` cannot cover).
    #[default]
    Auto,
    /// `https://endpoint/bucket/key`.
    Path,
    /// `https://bucket.endpoint/key`.
    VirtualHost,
}

/// Validated client settings. Build one with [`Config::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) endpoint: Url,
    pub(crate) region: String,
    /// The endpoint given, which serves every region (`None`: each region's is AWS's).
    pub(crate) given_endpoint: Option<Url>,
    /// Buckets in another region than `region`, and theirs.
    pub(crate) bucket_regions: BTreeMap<String, String>,
    pub(crate) credentials: CredentialSource,
    pub(crate) addressing: Addressing,
    pub(crate) concurrency: usize,
    pub(crate) part_size: Option<u64>,
    pub(crate) multipart_threshold: u64,
    pub(crate) checksum_algorithm: ChecksumAlgorithm,
    pub(crate) checksum_type: ChecksumType,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) presign_expiry: Duration,
    pub(crate) state_dir: Option<PathBuf>,
    /// CA certificates (DER) trusted beside the built-in roots.
    pub(crate) ca_certificates: Vec<Vec<u8>>,
    pub(crate) system_roots: bool,
    pub(crate) verify_tls: bool,
    pub(crate) proxy: Option<ProxyUrl>,
    /// Bytes per second all transfers of a client move at most, both ways.
    pub(crate) max_bandwidth: Option<u64>,
}

/// A proxy's URL, whose `Debug` leaves out any credentials in it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl(pub String);

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_userinfo(&self.0))
    }
}

/// `scheme://user:password@host` shown as `scheme://REDACTED@host`.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://REDACTED@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

impl Config {
    /// A builder with every setting at its default, signing with `credentials`: fixed
    /// [`Credentials`](crate::Credentials), or a [`CredentialSource`] that refreshes them.
    pub fn builder(credentials: impl Into<CredentialSource>) -> ConfigBuilder {
        ConfigBuilder {
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            bucket_regions: BTreeMap::new(),
            credentials: credentials.into(),
            addressing: Addressing::Auto,
            concurrency: DEFAULT_CONCURRENCY,
            part_size: None,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            checksum_algorithm: ChecksumAlgorithm::Crc64Nvme,
            checksum_type: None,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            presign_expiry: Duration::from_secs(3600),
            state_dir: None,
            ca_bundles: Vec::new(),
            system_roots: true,
            verify_tls: true,
            proxy: None,
            proxy_variables: None,
            max_bandwidth: None,
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Parts in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The part size asked for, if any (otherwise chosen per object).
    pub fn part_size(&self) -> Option<u64> {
        self.part_size
    }

    /// The cap on bytes per second, if any.
    pub fn max_bandwidth(&self) -> Option<u64> {
        self.max_bandwidth
    }

    /// The region requests to `bucket` are signed for: the client's, or the bucket's own when
    /// [`ConfigBuilder::bucket_region`] named one (its endpoint: see [`endpoint_in`]).
    pub(crate) fn region_of(&self, bucket: &str) -> &str {
        self.bucket_regions.get(bucket).unwrap_or(&self.region)
    }

    pub(crate) fn is_aws_endpoint(&self) -> bool {
        self.endpoint
            .host_str()
            .is_some_and(|host| host == "amazonaws.com" || host.ends_with(".amazonaws.com"))
    }
}

/// Builds a [`Config`]. Setters take any value; [`ConfigBuilder::build`] checks them all.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    endpoint: Option<String>,
    region: String,
    bucket_regions: BTreeMap<String, String>,
    credentials: CredentialSource,
    addressing: Addressing,
    concurrency: usize,
    part_size: Option<u64>,
    multipart_threshold: u64,
    checksum_algorithm: ChecksumAlgorithm,
    checksum_type: Option<ChecksumType>,
    connect_timeout: Duration,
    io_timeout: Duration,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    presign_expiry: Duration,
    state_dir: Option<PathBuf>,
    /// (where it came from, its PEM text)
    ca_bundles: Vec<(String, Vec<u8>)>,
    system_roots: bool,
    verify_tls: bool,
    proxy: Option<ProxyUrl>,
    proxy_variables: Option<ProxyVariables>,
    max_bandwidth: Option<u64>,
}

impl ConfigBuilder {
    /// Makes transfers resumable, with their journals in `dir` (the CLI uses
    /// [`default_state_dir`](crate::default_state_dir)): an upload or download that fails in a
    /// way a later run may get past (Ctrl-C, network or server failures after the retries) is
    /// kept, and the same transfer run again continues where it stopped. Default: off (a failed
    /// upload is aborted, a partial download removed).
    pub fn resume_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The S3 endpoint, e.g. `http://127.0.0.1:8333`. Default: `https://s3.<region>.amazonaws.com`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The signing region. Default: `us-east-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// A bucket in another region than the client's (aws-cli's `--source-region` names a
    /// copy's source one): requests to it are signed for `region` and, when no endpoint was
    /// given, go to AWS's endpoint for that region. A server-side copy from it is still sent to
    /// the destination's region, which fetches the bytes. Default: every bucket is in the
    /// client's region.
    pub fn bucket_region(mut self, bucket: impl Into<String>, region: impl Into<String>) -> Self {
        self.bucket_regions.insert(bucket.into(), region.into());
        self
    }

    /// How buckets are addressed. Default: [`Addressing::Auto`].
    pub fn addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }

    /// Parts or ranges in flight at once, 1 to 1024. Default: 8.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// A fixed part size, 5 MiB to 5 GiB; refused (not adjusted) when an object would need
    /// more than 10,000 parts. Default: 16 MiB, grown automatically for objects over 156 GiB.
    pub fn part_size(mut self, part_size: u64) -> Self {
        self.part_size = Some(part_size);
        self
    }

    /// Files up to this size go up in one PutObject (1 byte to 5 GiB). Default: 16 MiB.
    pub fn multipart_threshold(mut self, threshold: u64) -> Self {
        self.multipart_threshold = threshold;
        self
    }

    /// The checksum computed for every part uploaded, checked by the server on arrival, stored
    /// by it with the object, and kept in s3mt's record for downloads (which check whatever
    /// the object carries). Default: CRC-64/NVME, AWS's default; SHA-256 costs ten times the
    /// CPU and also resists tampering.
    pub fn checksum_algorithm(mut self, algorithm: ChecksumAlgorithm) -> Self {
        self.checksum_algorithm = algorithm;
        self
    }

    /// How the server stores a multipart upload's checksum: one full-object checksum combined
    /// from the parts' (the CRCs), or a composite of the parts' (SHA-256, the CRC-32s).
    /// Default: full-object for the CRCs, composite for SHA-256; a combination S3 refuses is
    /// refused by [`ConfigBuilder::build`].
    pub fn checksum_type(mut self, kind: ChecksumType) -> Self {
        self.checksum_type = Some(kind);
        self
    }

    /// Time allowed to open a connection. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest wait for any single read or write on a connection before it counts as stalled.
    /// Default: 30 s.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// Attempts per request, the first included (1 disables retries). Default: 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Backoff before the second attempt; it doubles per attempt up to `max`, with full jitter.
    /// Default: 200 ms, capped at 10 s.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    /// Trusts the CA certificates of the PEM bundle `pem` (read from `origin`, which error
    /// messages name), beside the built-in roots. Repeatable. Default: none.
    pub fn ca_bundle(mut self, origin: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundles.push((origin.into(), pem.into()));
        self
    }

    /// Whether the system's CA bundle (`$SSL_CERT_FILE`, `$SSL_CERT_DIR`, else the usual
    /// `/etc/ssl/certs/ca-certificates.crt` and its kin) is trusted too, when there is one.
    /// Default: yes.
    pub fn system_roots(mut self, trust: bool) -> Self {
        self.system_roots = trust;
        self
    }

    /// Whether servers' certificates are verified. Default: yes. Off, anyone on the way can
    /// read and change the traffic, credentials' signatures included.
    pub fn verify_tls(mut self, verify: bool) -> Self {
        self.verify_tls = verify;
        self
    }

    /// Sends every request through the HTTP proxy at `url` (`http://[user:password@]host:port`;
    /// `https` endpoints through a CONNECT tunnel). Default: none (the environment is not
    /// read: [`Config::from_environment`](crate::Config::from_environment) does that).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(ProxyUrl(url.into()));
        self
    }

    /// Picks the proxy from environment variables as aws-cli does, once the endpoint is
    /// known (an explicit [`ConfigBuilder::proxy`] wins).
    pub(crate) fn proxy_from(mut self, variables: ProxyVariables) -> Self {
        self.proxy_variables = Some(variables);
        self
    }

    /// Caps the bytes per second that all transfers of the client move together, uploads and
    /// downloads alike (aws-cli's `max_bandwidth`), however many connections carry them.
    /// Default: no cap.
    pub fn max_bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.max_bandwidth = Some(bytes_per_second);
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Config> {
        let given_endpoint = self.endpoint.as_deref().map(parse_endpoint).transpose()?;
        let endpoint = endpoint_in(given_endpoint.as_ref(), &self.region)?;
        for region in self.bucket_regions.values() {
            endpoint_in(given_endpoint.as_ref(), region)?;
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::invalid(format!(
                "concurrency {} is outside 1..={MAX_CONCURRENCY}",
                self.concurrency
            )));
        }
        if let Some(part_size) = self.part_size {
            plan::validate_part_size(part_size)?;
        }
        plan::validate_threshold(self.multipart_threshold)?;
        let checksum_type = self
            .checksum_type
            .unwrap_or(self.checksum_algorithm.default_type());
        if !self.checksum_algorithm.supports(checksum_type) {
            return Err(Error::invalid(format!(
                "S3 does not accept {} checksums of type {checksum_type} (CRC64NVME is \
                 FULL_OBJECT only, SHA256 COMPOSITE only)",
                self.checksum_algorithm.s3_name()
            )));
        }
        if self.max_bandwidth == Some(0) {
            return Err(Error::invalid(
                "the bandwidth cap must be more than 0 bytes per second",
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("max attempts must be at least 1"));
        }
        if self.connect_timeout.is_zero() || self.io_timeout.is_zero() {
            return Err(Error::invalid("timeouts must be longer than zero"));
        }
        self.credentials.check()?;
        let mut ca_certificates = Vec::new();
        for (origin, pem) in &self.ca_bundles {
            ca_certificates.extend(tls::certificates(origin, pem)?);
        }
        let proxy = self
            .proxy
            .map(|ProxyUrl(url)| url)
            .or_else(|| self.proxy_variables?.proxy_for(&endpoint))
            .map(check_proxy)
            .transpose()?;
        Ok(Config {
            endpoint,
            region: self.region,
            given_endpoint,
            bucket_regions: self.bucket_regions,
            credentials: self.credentials,
            addressing: self.addressing,
            concurrency: self.concurrency,
            part_size: self.part_size,
            multipart_threshold: self.multipart_threshold,
            checksum_algorithm: self.checksum_algorithm,
            checksum_type,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max.max(self.backoff_base),
            presign_expiry: self.presign_expiry,
            state_dir: self.state_dir,
            ca_certificates,
            system_roots: self.system_roots,
            verify_tls: self.verify_tls,
            proxy,
            max_bandwidth: self.max_bandwidth,
        })
    }
}

/// An endpoint must be `http(s)://host[:port]`.
fn parse_endpoint(text: &str) -> Result<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .ok_or_else(|| {
            Error::invalid(format!(
                "invalid endpoint URL {text:?}: expected http(s)://host[:port]"
            ))
        })
}

/// Any region a server names goes with a given endpoint; it must not be empty.
fn check_region(region: &str) -> Result<()> {
    match region.is_empty() {
        true => Err(Error::invalid("the region must not be empty")),
        false => Ok(()),
    }
}

/// Where requests signed for `region` go: the endpoint given, which serves every region, or
/// else AWS's for the region.
pub(crate) fn endpoint_in(given: Option<&Url>, region: &str) -> Result<Url> {
    match given {
        Some(endpoint) => check_region(region).map(|()| endpoint.clone()),
        None => aws_endpoint(region),
    }
}

/// AWS's S3 endpoint for `region`, which then names a host: letters, digits and dashes.
fn aws_endpoint(region: &str) -> Result<Url> {
    check_region(region)?;
    if !region
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    {
        return Err(Error::invalid(format!(
            "invalid region {region:?}: expected letters, digits and dashes, like eu-west-1"
        )));
    }
    parse_endpoint(&format!("https://s3.{region}.amazonaws.com"))
}

/// A proxy URL must be `http://host[:port]` (user and password allowed).
fn check_proxy(url: String) -> Result<ProxyUrl> {
    let parsed = Url::parse(&url)
        .ok()
        .filter(|parsed| parsed.scheme() == "http" && parsed.host_str().is_some());
    match parsed {
        Some(_) => Ok(ProxyUrl(url)),
        None => Err(Error::invalid(format!(
            "invalid proxy URL {:?}: expected http://[user:password@]host[:port]",
            redact_userinfo(&url)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Credentials;

    fn builder() -> ConfigBuilder {
        Config::builder(Credentials::new("AKID", "SECRET"))
    }

    #[test]
    fn defaults_are_valid_and_point_at_aws() {
        let config = builder().build().unwrap();
        assert_eq!(
            config.endpoint.as_str(),
            "https://s3.us-east-1.amazonaws.com/"
        );
        assert!(config.is_aws_endpoint());
        assert_eq!(config.concurrency, DEFAULT_CONCURRENCY);
    }

    /// Where requests to `bucket` go, and the region they are signed for.
    fn place_of(config: &Config, bucket: &str) -> (Url, String) {
        let region = config.region_of(bucket);
        let endpoint = endpoint_in(config.given_endpoint.as_ref(), region).unwrap();
        (endpoint, region.to_owned())
    }

    #[test]
    fn a_bucket_in_another_region_is_signed_for_it_at_its_endpoint() {
        let config = builder()
            .region("eu-west-1")
            .bucket_region("frankfurt", "eu-central-1")
            .build()
            .unwrap();
        let (endpoint, region) = place_of(&config, "frankfurt");
        assert_eq!(endpoint.as_str(), "https://s3.eu-central-1.amazonaws.com/");
        assert_eq!(region, "eu-central-1");
        let (endpoint, region) = place_of(&config, "dublin");
        assert_eq!(endpoint.as_str(), "https://s3.eu-west-1.amazonaws.com/");
        assert_eq!(region, "eu-west-1");

        // A given endpoint serves every region: only the signature's region differs.
        let config = builder()
            .endpoint("http://127.0.0.1:8333")
            .bucket_region("other", "any_name the server uses")
            .build()
            .unwrap();
        let (endpoint, region) = place_of(&config, "other");
        assert_eq!(endpoint.as_str(), "http://127.0.0.1:8333/");
        assert_eq!(region, "any_name the server uses");

        // Without one, a region must make a host name.
        let refused = builder().bucket_region("b", "eu/west").build().unwrap_err();
        assert!(refused.to_string().contains("invalid region"), "{refused}");
        assert!(builder().bucket_region("b", "").build().is_err());
        assert!(builder().region("").build().is_err());
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(builder().concurrency(0).build().is_err());
        assert!(builder().concurrency(MAX_CONCURRENCY + 1).build().is_err());
        assert!(builder().part_size(crate::size::MIB).build().is_err());
        assert!(builder().multipart_threshold(0).build().is_err());
        assert!(builder().endpoint("ftp://host").build().is_err());
        assert!(builder().endpoint("not a url").build().is_err());
        assert!(builder().max_attempts(0).build().is_err());
        assert!(builder().max_bandwidth(0).build().is_err());
        // Combinations S3 refuses, and the defaults of each algorithm.
        let with = |algorithm, kind| {
            builder()
                .checksum_algorithm(algorithm)
                .checksum_type(kind)
                .build()
        };
        assert!(with(ChecksumAlgorithm::Crc64Nvme, ChecksumType::Composite).is_err());
        assert!(with(ChecksumAlgorithm::Sha256, ChecksumType::FullObject).is_err());
        assert!(with(ChecksumAlgorithm::Crc32, ChecksumType::Composite).is_ok());
        assert_eq!(
            builder().build().unwrap().checksum_type,
            ChecksumType::FullObject
        );
        let sha = builder()
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .build();
        assert_eq!(sha.unwrap().checksum_type, ChecksumType::Composite);
        assert!(Config::builder(Credentials::new("", "x")).build().is_err());
        assert!(builder().proxy("socks5://h:1").build().is_err());
        assert!(
            builder()
                .ca_bundle("ca.pem", "no certificate")
                .build()
                .is_err()
        );
    }

    #[test]
    fn proxy_credentials_never_show() {
        let config = builder()
            .proxy("http://user:pa55word@proxy.example:3128")
            .build()
            .unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("pa55word") && shown.contains("REDACTED@proxy.example"),
            "{shown}"
        );
        assert_eq!(
            redact_userinfo("http://a:b@h:1/p?x=y@z"),
            "http://REDACTED@h:1/p?x=y@z"
        );
        assert_eq!(redact_userinfo("http://h:1/p@x"), "http://h:1/p@x");
        let err = builder().proxy("ftp://u:secret@h").build().unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
