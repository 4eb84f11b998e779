//! The one HTTP agent, sending presigned requests, and turning replies into typed errors.

use std::io::Read;

use std::sync::Arc;

use ureq::config::AutoHeaderValue;
use ureq::http::{self, Response};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};
use ureq::{Agent, Body, Proxy, SendBody};

use super::capped_socket::CappedTcpConnector;
use super::sign::SignedRequest;
use super::xml;
use crate::error::{Error, ErrorKind, Result, ServiceError};
use crate::settings::Config;
use crate::settings::config::{ProxyUrl, redact_userinfo};
use crate::settings::tls::{self, Roots};

/// Largest S3 XML reply read into memory (listings are at most a few hundred KiB).
const MAX_XML_REPLY: u64 = 16 * 1024 * 1024;

/// Largest error reply read to learn its code and message (S3's are under 1 KiB): a longer
/// body is left unread and the error has its status alone.
const MAX_ERROR_REPLY: u64 = 64 * 1024;

/// A request body.
pub(crate) enum Payload<'a> {
    /// No body and no `Content-Length` (GET, HEAD, DELETE).
    None,
    /// An empty body, sent with `Content-Length: 0` (POST, PUT).
    Empty,
    /// A byte slice, sent with its length.
    Bytes(&'a [u8]),
    /// `len` bytes from a reader, sent with `Content-Length: len` (never chunked).
    Reader(&'a mut dyn Read, u64),
}

/// The roots `config` trusts (see [`tls::trust_roots`]).
pub(crate) fn trust_roots(config: &Config) -> Roots {
    tls::trust_roots(&config.ca_certificates, config.system_roots)
}

/// The shared agent: every clone of a client uses its connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    agent: Agent,
}

impl Http {
    pub fn new(config: &Config, roots: &Roots) -> Self {
        let idle = config.concurrency * 2 + 2;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::clone(roots)))
            .disable_verification(!config.verify_tls);
        #[cfg(feature = "aws-lc-rs")]
        let tls = tls.unversioned_rustls_crypto_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ));
        let tls = tls.build();
        // No proxy unless the config names one (the environment was read, as aws-cli reads
        // it, by `Config::from_environment`).
        let proxy = config
            .proxy
            .as_ref()
            .and_then(|ProxyUrl(url)| Proxy::new(url).ok());
        let agent_config = Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            // S3 puts the reason for an error in the body: keep the response to read it.
            .http_status_as_error(false)
            .max_idle_connections(idle)
            .max_idle_connections_per_host(idle)
            .timeout_connect(Some(config.connect_timeout))
            // Per-read and per-write timeouts restart on progress: they detect stalls, not slowness.
            .timeout_per_read(Some(config.io_timeout))
            .timeout_per_write(Some(config.io_timeout))
            // Objects are bytes: never ask for (or undo) a content encoding.
            .accept_encoding(AutoHeaderValue::None)
            .user_agent(concat!("s3mt/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        let agent = match config.max_bandwidth {
            None => agent_config.new_agent(),
            // Under a cap, ureq's chain with the TCP connector that bounds socket buffers.
            Some(rate) => {
                let tcp = CappedTcpConnector::new(rate, config.concurrency);
                let connector =
                    ().chain(ConnectProxyConnector::default())
                        .chain(tcp)
                        .chain(RustlsConnector::default());
                Agent::with_parts(agent_config, connector, DefaultResolver::default())
            }
        };
        Self { agent }
    }

    /// Fails every request in flight on this agent, and every later one.
    pub fn shutdown(&self) {
        self.agent.clone().shutdown();
    }

    /// Sends `request` with its signed headers, `extra` unsigned headers (e.g. `range`), and
    /// `payload`. Any status comes back as a response; only transport failures are errors.
    pub fn send(
        &self,
        request: &SignedRequest,
        extra: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> Result<Response<Body>> {
        let mut builder = http::Request::builder()
            .method(method(request.method))
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_ref(), value.as_str());
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let outcome = match payload {
            Payload::None => self.agent.run(builder.body(()).map_err(request_error)?),
            Payload::Empty => {
                let request = builder.header("content-length", "0").body(SendBody::none());
                self.agent.run(request.map_err(request_error)?)
            }
            Payload::Bytes(bytes) => self.agent.run(builder.body(bytes).map_err(request_error)?),
            Payload::Reader(reader, len) => {
                let request = builder
                    .header("content-length", len)
                    .body(SendBody::from_reader(reader));
                self.agent.run(request.map_err(request_error)?)
            }
        };
        outcome.map_err(transport_error)
    }
}

fn method(method: rusty_s3::Method) -> http::Method {
    match method {
        rusty_s3::Method::Head => http::Method::HEAD,
        rusty_s3::Method::Get => http::Method::GET,
        rusty_s3::Method::Post => http::Method::POST,
        rusty_s3::Method::Put => http::Method::PUT,
        rusty_s3::Method::Delete => http::Method::DELETE,
    }
}

fn request_error(err: http::Error) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("cannot build the request: {err}"),
    )
}

/// Classifies a transport failure. The message is ureq's, with any URL query redacted; a TLS
/// failure says what was wrong and how to trust the server.
fn transport_error(err: ureq::Error) -> Error {
    if let Some(tls) = tls_failure(&err) {
        return Error::new(ErrorKind::Tls, tls);
    }
    let kind = match &err {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound => ErrorKind::Network,
        ureq::Error::Protocol(_) => ErrorKind::Protocol,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => ErrorKind::InvalidInput,
        _ => ErrorKind::Network,
    };
    let text = match &err {
        ureq::Error::BadUri(_) => "invalid request URL".to_owned(),
        // A reply head that is not HTTP: bad header bytes (control characters), a bad length.
        ureq::Error::Protocol(reason) => {
            format!("the server's reply is not valid HTTP/1.1: {reason}")
        }
        other => redact(&other.to_string()),
    };
    Error::new(kind, text)
}

/// What went wrong in a TLS handshake, in words, if `err` is one: never worth a retry.
fn tls_failure(err: &ureq::Error) -> Option<String> {
    let rustls = match err {
        ureq::Error::Rustls(rustls) => Some(rustls),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    let trust = "give the CA that signed it with --ca-bundle or AWS_CA_BUNDLE \
                 (or the profile's ca_bundle)";
    let reason = match rustls? {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            rustls::CertificateError::UnknownIssuer => {
                format!(
                    "the server's certificate is issued by a CA this machine does not trust: {trust}"
                )
            }
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not for the endpoint's host name (use the name \
                 it was issued for)"
                    .to_owned()
            }
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_owned()
            }
            rustls::CertificateError::NotValidYet
            | rustls::CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (or this machine's clock is wrong)"
                    .to_owned()
            }
            rustls::CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                // What `openssl req -x509` makes by default; OpenSSL accepts it, rustls not.
                "the server's certificate is a CA's certificate (self-signed with CA:TRUE, as \
                 `openssl req -x509` makes by default): give the server a certificate signed \
                 by that CA, and trust the CA with --ca-bundle or AWS_CA_BUNDLE"
                    .to_owned()
            }
            other => format!("the server's certificate was refused ({other:?}): {trust}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS (is it plain HTTP? then use an http:// endpoint)"
                .to_owned()
        }
        other => format!("the TLS handshake failed: {other}"),
    };
    Some(format!("TLS: {reason}"))
}

/// Removes the values of presigned-URL query parameters that carry credentials or signatures.
pub(crate) fn redact(text: &str) -> String {
    const SECRET_PARAMS: [&str; 3] = [
        "X-Amz-Signature=",
        "X-Amz-Security-Token=",
        "X-Amz-Credential=",
    ];
    let mut out = redact_userinfo_anywhere(text);
    for param in SECRET_PARAMS {
        let mut from = 0;
        while let Some(found) = out[from..].find(param) {
            let start = from + found + param.len();
            let end = out[start..]
                .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == '\'')
                .map_or(out.len(), |offset| start + offset);
            out.replace_range(start..end, "REDACTED");
            from = start + "REDACTED".len();
        }
    }
    out
}

/// Every `scheme://user:password@` in `text` with its user and password replaced (a proxy's URL
/// in an error), in words split after any whitespace (a message may run over several lines).
fn redact_userinfo_anywhere(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                redact_userinfo(word)
            } else {
                word.to_owned()
            }
        })
        .collect()
}

/// Passes responses with an `expected` status; turns others into a typed error from the S3
/// error reply in their body.
pub(crate) fn expect_status(
    mut response: Response<Body>,
    expected: &[u16],
) -> Result<Response<Body>> {
    let status = response.status().as_u16();
    if expected.contains(&status) {
        return Ok(response);
    }
    // S3 names a bucket's region when a request was signed for another.
    let header_region = header(&response, "x-amz-bucket-region").map(str::to_owned);
    // A HEAD reply has no body to explain itself: the status is all there is.
    let body = read_limited(&mut response, MAX_ERROR_REPLY).unwrap_or_default();
    let service = xml::parse_error(status, &body).unwrap_or(ServiceError {
        status,
        code: None,
        message: None,
    });
    let wrong_region = matches!(
        service.code.as_deref(),
        Some(
            "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "AuthorizationQueryParametersError"
        )
    ) || status == 301
        || (status == 400 && header_region.is_some());
    if wrong_region {
        let region = header_region
            .or_else(|| xml::error_region(&body))
            .filter(|region| is_region_name(region));
        let named = region
            .as_ref()
            .map_or(String::new(), |region| format!(" {region}"));
        let message = format!(
            "{} (the bucket is in another region{named}: name it as the region, or as \
             --source-region for a copy's source)",
            redact(&service.to_string())
        );
        let error = Error::new(ErrorKind::Service, message).with_service(service);
        return Err(match region {
            Some(region) => error.with_bucket_region(region),
            None => error,
        });
    }
    Err(service_error(service))
}

/// Whether a server's word for a region looks like one (AWS's are letters, digits and
/// dashes): anything else is neither shown nor signed for.
fn is_region_name(region: &str) -> bool {
    (1..=64).contains(&region.len())
        && region
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The typed error for an S3 error reply.
pub(crate) fn service_error(service: ServiceError) -> Error {
    let kind = match (service.status, service.code.as_deref()) {
        (_, Some("SlowDown" | "InternalError" | "ServiceUnavailable")) => ErrorKind::ServerBusy,
        (_, Some("RequestTimeout")) => ErrorKind::Network,
        (_, Some("BadDigest")) => ErrorKind::Protocol,
        // Some servers (rclone) refuse bad or expired credentials with 400, not 403.
        (403, _)
        | (
            _,
            Some(
                "AccessDenied"
                | "SignatureDoesNotMatch"
                | "InvalidAccessKeyId"
                | "ExpiredToken"
                | "InvalidToken",
            ),
        ) => ErrorKind::AccessDenied,
        (404, _) => ErrorKind::NotFound,
        (412, _) => ErrorKind::PreconditionFailed,
        (500 | 502 | 503 | 504, _) => ErrorKind::ServerBusy,
        _ => ErrorKind::Service,
    };
    let hint = match kind {
        ErrorKind::AccessDenied => " (check the access key, secret key, session token and region)",
        ErrorKind::NotFound if service.code.is_none() => " (no such bucket or key)",
        ErrorKind::PreconditionFailed if service.code.is_none() => " (precondition failed)",
        _ => "",
    };
    Error::new(kind, format!("{}{hint}", redact(&service.to_string()))).with_service(service)
}

/// Reads a (small) reply body as text.
pub(crate) fn read_text(response: &mut Response<Body>) -> Result<String> {
    read_limited(response, MAX_XML_REPLY)
}

/// Reads a reply body of at most `limit` bytes as text; a longer one is a protocol error
/// (left unread: its connection is dropped).
fn read_limited(response: &mut Response<Body>, limit: u64) -> Result<String> {
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|err| match err {
            ureq::Error::BodyExceedsLimit(_) => too_long(limit),
            other => transport_error(other),
        })
}

/// The error for a reply body longer than s3mt reads.
fn too_long(limit: u64) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!(
            "the server's reply is longer than the {} s3mt reads for a reply of its kind",
            crate::size::Size(limit)
        ),
    )
}

/// The reply's `Date`: the server's clock.
pub(crate) fn date(response: &Response<Body>) -> Option<jiff::Timestamp> {
    header(response, "date")
        .and_then(|date| jiff::fmt::rfc2822::parse(date).ok())
        .map(|date| date.timestamp())
}

/// A response header as text.
pub(crate) fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// Reads whatever is left of a body so the connection goes back to the pool.
pub(crate) fn finish_body(response: &mut Response<Body>) -> Result<()> {
    let mut reader = response.body_mut().as_reader();
    std::io::copy(&mut reader, &mut std::io::sink())
        .map(drop)
        .map_err(|err| {
            Error::new(
                ErrorKind::Network,
                format!("reading the reply failed: {err}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_too_long_to_read_are_protocol_errors_naming_the_limit() {
        let err = too_long(MAX_XML_REPLY);
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("longer than the 16 MiB"), "{err}");
    }

    #[test]
    fn redacts_signatures_tokens_and_credentials() {
        let url = "http://h/b/k?X-Amz-Credential=AKID%2F2026&X-Amz-Security-Token=TOK&X-Amz-Signature=abc123 rest";
        let shown = redact(url);
        assert!(!shown.contains("abc123") && !shown.contains("TOK") && !shown.contains("AKID"));
        assert!(shown.ends_with("X-Amz-Signature=REDACTED rest"), "{shown}");
    }

    #[test]
    fn classifies_service_errors() {
        let kind = |status, code: Option<&str>| {
            service_error(ServiceError {
                status,
                code: code.map(Into::into),
                message: None,
            })
            .kind()
        };
        assert_eq!(kind(503, Some("SlowDown")), ErrorKind::ServerBusy);
        assert_eq!(kind(500, None), ErrorKind::ServerBusy);
        assert_eq!(kind(400, Some("RequestTimeout")), ErrorKind::Network);
        assert_eq!(kind(400, Some("BadDigest")), ErrorKind::Protocol);
        assert_eq!(
            kind(403, Some("SignatureDoesNotMatch")),
            ErrorKind::AccessDenied
        );
        assert_eq!(kind(404, Some("NoSuchBucket")), ErrorKind::NotFound);
        assert_eq!(
            kind(400, Some("SignatureDoesNotMatch")),
            ErrorKind::AccessDenied
        );
        assert_eq!(kind(412, None), ErrorKind::PreconditionFailed);
        assert_eq!(kind(409, Some("BucketAlreadyExists")), ErrorKind::Service);
        assert!(kind(503, None).is_retryable() && !kind(403, None).is_retryable());
    }

    #[test]
    fn tls_failures_are_their_own_kind_and_say_what_to_do() {
        let wrapped =
            |error: rustls::Error| transport_error(ureq::Error::Io(std::io::Error::other(error)));
        let unknown = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(unknown.kind(), ErrorKind::Tls);
        assert!(!unknown.is_retryable());
        let message = unknown.to_string();
        assert!(
            message.contains("--ca-bundle") && message.contains("AWS_CA_BUNDLE"),
            "{message}"
        );
        let name = transport_error(ureq::Error::Rustls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        )));
        assert!(name.to_string().contains("host name"), "{name}");
        let expired = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        ));
        assert!(expired.to_string().contains("expired"), "{expired}");
        let ca_as_server = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(std::sync::Arc::new(
                webpki::Error::CaUsedAsEndEntity,
            ))),
        ));
        assert!(
            ca_as_server.to_string().contains("openssl req -x509"),
            "{ca_as_server}"
        );
        let plain = wrapped(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert!(plain.to_string().contains("does not speak TLS"), "{plain}");
        let reset = transport_error(ureq::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(
            reset.kind(),
            ErrorKind::Network,
            "a reset is no TLS failure"
        );
    }

    #[test]
    fn proxy_credentials_in_messages_are_redacted() {
        let shown = redact("CONNECT proxy failed: http://user:pa55@127.0.0.1:3128 said 407");
        assert!(
            !shown.contains("pa55") && shown.contains("http://REDACTED@127.0.0.1:3128"),
            "{shown}"
        );
    }

    #[test]
    fn proxy_credentials_on_a_line_of_their_own_are_redacted() {
        // Found by properties::redaction_never_panics_and_removes_secrets: words were split at
        // spaces only, so a second URL after a line break kept its password.
        let text = "\nhttp://REDACTED@proxy:3128/\nhttps://u:Aa%%0+aa00%0@p:3128\n";
        assert_eq!(
            redact(text),
            "\nhttp://REDACTED@proxy:3128/\nhttps://REDACTED@p:3128\n"
        );
        let tabbed = redact("proxy:\thttp://user:pa55@h:3128\tsaid 407");
        assert_eq!(tabbed, "proxy:\thttp://REDACTED@h:3128\tsaid 407");
    }
}
