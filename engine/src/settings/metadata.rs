//! Temporary credentials from the endpoints a machine provides: the container (ECS, EKS Pod
//! Identity) credentials endpoint and EC2 instance metadata (IMDSv2). I/O at the edge: each
//! provider makes small blocking HTTP calls with short timeouts, never through a proxy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use ureq::http;

use super::credentials::{Credentials, ProvideCredentials, unavailable};
use super::service_http::ServiceHttp;
use crate::error::Result;

/// Lifetime asked for an IMDSv2 session token (the most IMDS allows).
const IMDS_TOKEN_TTL: &str = "21600";

/// How patiently an endpoint is asked: aws-cli's `AWS_METADATA_SERVICE_TIMEOUT` (seconds,
/// default 1) and `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (default 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    pub timeout: Duration,
    pub attempts: u32,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            attempts: 1,
        }
    }
}

/// A value that must not appear in `Debug` output.
#[derive(Clone)]
pub(crate) struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the container endpoint's `Authorization` value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Authorization {
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Token(Secret),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read on every fetch (the file is rotated).
    File(PathBuf),
}

/// The container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or
/// `_RELATIVE_URI`).
#[derive(Debug)]
pub(crate) struct ContainerCredentials {
    uri: String,
    authorization: Authorization,
    client: MetadataClient,
}

impl ContainerCredentials {
    pub fn new(uri: String, authorization: Authorization, patience: Patience) -> Self {
        Self {
            uri,
            authorization,
            client: MetadataClient::new(patience),
        }
    }

    fn authorization(&self) -> Result<Option<String>> {
        let value = match &self.authorization {
            Authorization::None => return Ok(None),
            Authorization::Token(Secret(token)) => token.clone(),
            Authorization::File(path) => std::fs::read_to_string(path)
                .map_err(|err| {
                    unavailable(format!(
                        "cannot read the container authorization token file {}: {err}",
                        path.display()
                    ))
                })?
                .trim()
                .to_owned(),
        };
        if value.contains(['\r', '\n']) {
            return Err(unavailable(
                "the container authorization token contains a line break",
            ));
        }
        Ok(Some(value))
    }
}

impl ProvideCredentials for ContainerCredentials {
    fn provide(&self) -> Result<Credentials> {
        let what = format!("the container credentials endpoint {}", self.uri);
        let authorization = self.authorization()?;
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        let body = self
            .client
            .text(http::Method::GET, &self.uri, &headers, &what)?;
        parse_document(&body, &what)
    }
}

/// EC2 instance metadata, IMDSv2: a session token first, then the role's credentials.
#[derive(Debug)]
pub(crate) struct InstanceMetadata {
    /// Base URL with a trailing slash, e.g. `http://169.254.169.254/`.
    endpoint: String,
    /// Whether to go on without a token when the token request is refused as unsupported.
    allow_v1: bool,
    client: MetadataClient,
}

impl InstanceMetadata {
    pub fn new(endpoint: &str, allow_v1: bool, patience: Patience) -> Self {
        Self {
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
            allow_v1,
            client: MetadataClient::new(patience),
        }
    }

    fn token(&self) -> Result<Option<Secret>> {
        let url = format!("{}latest/api/token", self.endpoint);
        let what = format!("the instance metadata service at {}", self.endpoint);
        let ttl = [("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)];
        match self.client.send(http::Method::PUT, &url, &ttl, &what)? {
            (200, token) => Ok(Some(Secret(token.trim().to_owned()))),
            // Older or configured-off token support: IMDSv1, when allowed.
            (403..=405, _) if self.allow_v1 => Ok(None),
            (status, _) => Err(unavailable(format!(
                "{what} refused a session token (HTTP {status})"
            ))),
        }
    }
}

impl ProvideCredentials for InstanceMetadata {
    fn provide(&self) -> Result<Credentials> {
        let token = self.token()?;
        let headers: Vec<(&str, &str)> = token
            .as_ref()
            .map(|Secret(token)| ("x-aws-ec2-metadata-token", token.as_str()))
            .into_iter()
            .collect();
        let roles_url = format!(
            "{}latest/meta-data/iam/security-credentials/",
            self.endpoint
        );
        let what = format!("the instance metadata service at {}", self.endpoint);
        let roles = self
            .client
            .text(http::Method::GET, &roles_url, &headers, &what)?;
        let role = roles.lines().map(str::trim).find(|line| !line.is_empty());
        let role =
            role.ok_or_else(|| unavailable(format!("{what}: the instance has no IAM role")))?;
        let document_url = format!("{roles_url}{role}");
        let body = self
            .client
            .text(http::Method::GET, &document_url, &headers, &what)?;
        parse_document(&body, &what)
    }
}

/// A small HTTP client for metadata endpoints: the patience's timeout and attempts, no proxy
/// (the endpoints are local or link-local), no redirects.
#[derive(Debug)]
struct MetadataClient {
    http: ServiceHttp,
}

impl MetadataClient {
    fn new(patience: Patience) -> Self {
        Self {
            http: ServiceHttp::direct(patience.timeout, patience.attempts),
        }
    }

    /// The body of a 200 reply to `method url`; other statuses are errors.
    fn text(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<String> {
        match self.send(method, url, headers, what)? {
            (200, body) => Ok(body),
            (status, body) => Err(unavailable(format!(
                "{what} answered HTTP {status}{}",
                error_message(&body)
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Status and body, retrying transport failures and 5xx replies up to the attempts.
    fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<(u16, String)> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.http.send(method, url, &headers, b"", what)
    }
}

/// The JSON both endpoints answer with. The container endpoint reports errors as
/// `{"code": .., "message": ..}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    #[serde(alias = "code")]
    code: Option<String>,
    #[serde(alias = "message")]
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// Credentials from an endpoint's JSON document. Errors name the problem, never a value.
fn parse_document(body: &str, what: &str) -> Result<Credentials> {
    let document: Document = serde_json::from_str(body).map_err(|err| {
        unavailable(format!(
            "{what} sent no credentials document (JSON error at line {} column {})",
            err.line(),
            err.column()
        ))
    })?;
    if let Some(code) = document.code.as_deref().filter(|code| *code != "Success") {
        let message = document.message.as_deref().unwrap_or("no message");
        return Err(unavailable(format!("{what} answered {code}: {message}")));
    }
    let (Some(access_key), Some(secret_key)) = (document.access_key_id, document.secret_access_key)
    else {
        return Err(unavailable(format!("{what} sent a document without keys")));
    };
    let mut credentials = Credentials::new(access_key, secret_key);
    if let Some(token) = document.token {
        credentials = credentials.with_session_token(token);
    }
    if let Some(expiration) = document.expiration {
        let expires = expiration.parse().map_err(|_| {
            unavailable(format!(
                "{what} sent an Expiration that is not an RFC 3339 time"
            ))
        })?;
        credentials = credentials.with_expiry(expires);
    }
    Ok(credentials)
}

/// The `message` of an error document, if the body is one.
fn error_message(body: &str) -> Option<String> {
    let document: Document = serde_json::from_str(body).ok()?;
    let message = document.message?;
    Some(match document.code {
        Some(code) => format!("{code}: {message}"),
        None => message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn documents_from_both_endpoints_parse() {
        let imds = r#"{"Code":"Success","LastUpdated":"2026-11-21T20:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"sekrit","Token":"tok",
            "Expiration":"2026-11-21T21:00:00Z"}"#;
        let credentials = parse_document(imds, "imds").unwrap();
        assert_eq!(credentials.access_key(), "ASIAEXAMPLE");
        assert_eq!(
            credentials.expires(),
            Some("2026-11-21T21:00:00Z".parse().unwrap())
        );
        let container = r#"{"AccessKeyId":"AK","SecretAccessKey":"s","Token":"t",
            "Expiration":"2026-11-21T21:00:00Z","RoleArn":"arn:aws:iam::1:role/r"}"#;
        assert_eq!(parse_document(container, "c").unwrap().access_key(), "AK");
        let long_term = r#"{"AccessKeyId":"AK","SecretAccessKey":"s"}"#;
        assert_eq!(parse_document(long_term, "c").unwrap().expires(), None);
    }

    #[test]
    fn bad_documents_are_credential_errors_that_show_no_values() {
        let cases = [
            r#"{"code":"AccessDenied","message":"no role"}"#,
            r#"{"Code":"Failure","Message":"x"}"#,
            r#"{"AccessKeyId":"AK"}"#,
            r#"{"AccessKeyId":"AK","SecretAccessKey":"topsecret","Expiration":"soon"}"#,
            "topsecret not json",
        ];
        for body in cases {
            let err = parse_document(body, "endpoint").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Credentials, "{body}");
            assert!(!err.to_string().contains("topsecret"), "{err}");
        }
        let err = parse_document(cases[0], "endpoint").unwrap_err();
        assert!(err.to_string().contains("AccessDenied: no role"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let provider = ContainerCredentials::new(
            "http://127.0.0.1:1/creds".into(),
            Authorization::Token(Secret("bearer-value".into())),
            Patience::default(),
        );
        let shown = format!("{provider:?}");
        assert!(shown.contains("127.0.0.1:1/creds") && !shown.contains("bearer-value"));
    }
}
