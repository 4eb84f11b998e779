//! Temporary credentials from AWS STS: `AssumeRole`, signed with SigV4 by the source
//! credentials (a role assumed from a base profile, a chain of them, or the environment,
//! instance metadata or container credentials), and `AssumeRoleWithWebIdentity`, unsigned,
//! with the token file read again at every refresh (Kubernetes rotates it). Both go as
//! form-encoded POSTs, so no token is ever in a URL. I/O at the edge.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use ureq::http;
use url::Url;

use super::credentials::{CredentialSource, Credentials, ProvideCredentials, unavailable};
use super::service_http::{ServiceAccess, ServiceHttp};
use crate::error::Result;
use crate::sigv4;

/// The STS query API version.
const VERSION: &str = "2011-06-15";

/// One STS endpoint, with the region requests are signed for.
#[derive(Debug)]
pub(crate) struct Sts {
    endpoint: Url,
    region: String,
    http: ServiceHttp,
}

impl Sts {
    /// STS at `endpoint` (the regional one, or `AWS_ENDPOINT_URL_STS`), signing for `region`.
    pub fn new(endpoint: Url, region: String, access: &ServiceAccess) -> Self {
        let http = ServiceHttp::new(access, &endpoint);
        Self {
            endpoint,
            region,
            http,
        }
    }

    /// Sends `Action` with `parameters` as a form body, signed by `keys` when given; the
    /// credentials of the reply.
    fn call(
        &self,
        parameters: &[(&str, &str)],
        keys: Option<sigv4::Keys<'_>>,
        what: &str,
    ) -> Result<Credentials> {
        let host = match self.endpoint.port() {
            Some(port) => format!("{}:{port}", self.endpoint.host_str().unwrap_or_default()),
            None => self.endpoint.host_str().unwrap_or_default().to_owned(),
        };
        let mut pairs: Vec<(&str, &str)> = vec![("Version", VERSION)];
        pairs.extend_from_slice(parameters);
        let body = form_body(&pairs);
        let content_type = ("content-type", "application/x-www-form-urlencoded");
        let mut headers = vec![(content_type.0.to_owned(), content_type.1.to_owned())];
        if let Some(keys) = keys {
            let request = sigv4::Request {
                method: "POST",
                host: &host,
                path: self.endpoint.path(),
                query: &[],
                headers: &[content_type],
                payload: body.as_bytes(),
            };
            let signed = sigv4::sign(&request, keys, &self.region, "sts", Timestamp::now());
            headers.extend(signed.headers);
        }
        let (status, reply) = self.http.send(
            http::Method::POST,
            self.endpoint.as_str(),
            &headers,
            body.as_bytes(),
            what,
        )?;
        parse_reply(status, &reply, what)
    }
}

/// `AssumeRole` with the credentials of `source`.
pub(crate) struct AssumeRole {
    pub sts: Sts,
    pub source: CredentialSource,
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u32>,
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("endpoint", &self.sts.endpoint.as_str())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide(&self) -> Result<Credentials> {
        let what = format!(
            "STS AssumeRole of {} at {}",
            self.role_arn, self.sts.endpoint
        );
        let source = self.source.current()?;
        let keys = sigv4::Keys {
            access_key: source.key(),
            secret_key: source.secret(),
            session_token: source.token(),
        };
        let duration = self.duration_seconds.map(|seconds| seconds.to_string());
        let mut parameters = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
        ];
        if let Some(duration) = &duration {
            parameters.push(("DurationSeconds", duration));
        }
        if let Some(external_id) = &self.external_id {
            parameters.push(("ExternalId", external_id));
        }
        self.sts.call(&parameters, Some(keys), &what)
    }
}

/// `AssumeRoleWithWebIdentity` with the token in `token_file`, read at every fetch.
#[derive(Debug)]
pub(crate) struct WebIdentity {
    pub sts: Sts,
    pub token_file: PathBuf,
    pub role_arn: String,
    pub session_name: String,
    pub duration_seconds: Option<u32>,
}

impl ProvideCredentials for WebIdentity {
    fn provide(&self) -> Result<Credentials> {
        let what = format!(
            "STS AssumeRoleWithWebIdentity of {} at {}",
            self.role_arn, self.sts.endpoint
        );
        let token = std::fs::read_to_string(&self.token_file).map_err(|err| {
            unavailable(format!(
                "cannot read the web identity token file {}: {err}",
                self.token_file.display()
            ))
        })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(unavailable(format!(
                "the web identity token file {} is empty",
                self.token_file.display()
            )));
        }
        let duration = self.duration_seconds.map(|seconds| seconds.to_string());
        let mut parameters = vec![
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
            ("WebIdentityToken", token),
        ];
        if let Some(duration) = &duration {
            parameters.push(("DurationSeconds", duration));
        }
        self.sts.call(&parameters, None, &what)
    }
}

/// A form body: every name and value percent-encoded, as the query API takes them.
fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", sigv4::uri_encode(name), sigv4::uri_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The credentials of an STS reply, or its error (`Code: Message`). Errors never quote the
/// reply's secrets.
fn parse_reply(status: u16, body: &str, what: &str) -> Result<Credentials> {
    let document = roxmltree::Document::parse(body).map_err(|_| {
        unavailable(format!(
            "{what} answered HTTP {status} with a reply that is not XML"
        ))
    })?;
    let text = |name: &str| {
        document
            .descendants()
            .find(|node| node.has_tag_name(name))
            .and_then(|node| node.text())
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    if status != 200 {
        let code = text("Code").unwrap_or("no error code");
        let message = text("Message").unwrap_or("no message");
        return Err(unavailable(format!(
            "{what} answered HTTP {status}, {code}: {message}"
        )));
    }
    let (Some(access_key), Some(secret_key)) = (text("AccessKeyId"), text("SecretAccessKey"))
    else {
        return Err(unavailable(format!("{what} sent a reply without keys")));
    };
    let mut credentials = Credentials::new(access_key, secret_key);
    if let Some(token) = text("SessionToken") {
        credentials = credentials.with_session_token(token);
    }
    if let Some(expiration) = text("Expiration") {
        let expires: Timestamp = expiration.parse().map_err(|_| {
            unavailable(format!(
                "{what} sent an Expiration that is not an ISO 8601 time"
            ))
        })?;
        credentials = credentials.with_expiry(expires);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
      <AssumeRoleResult><Credentials>
        <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>wJalrSECRET</SecretAccessKey>
        <SessionToken>FwoGZTOKEN</SessionToken><Expiration>2026-12-04T18:00:00Z</Expiration>
      </Credentials></AssumeRoleResult></AssumeRoleResponse>"#;

    #[test]
    fn replies_give_credentials_or_say_what_went_wrong_without_secrets() {
        let credentials = parse_reply(200, REPLY, "STS").unwrap();
        assert_eq!(credentials.access_key(), "ASIAEXAMPLE");
        assert_eq!(
            credentials.expires(),
            Some("2026-12-04T18:00:00Z".parse().unwrap())
        );
        assert!(!format!("{credentials:?}").contains("FwoGZTOKEN"));
        let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                      <Message>not allowed</Message></Error></ErrorResponse>";
        let err = parse_reply(403, denied, "STS AssumeRole").unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Credentials);
        assert!(
            err.to_string().contains("AccessDenied: not allowed"),
            "{err}"
        );
        let err = parse_reply(200, "{not xml", "STS").unwrap_err();
        assert!(err.to_string().contains("not XML"), "{err}");
        let keyless = REPLY.replace("<AccessKeyId>ASIAEXAMPLE</AccessKeyId>", "");
        let err = parse_reply(200, &keyless, "STS").unwrap_err();
        assert!(!err.to_string().contains("wJalrSECRET"), "{err}");
    }

    #[test]
    fn form_bodies_encode_every_value() {
        assert_eq!(
            form_body(&[
                ("RoleArn", "arn:aws:iam::1:role/r"),
                ("WebIdentityToken", "a+b/c=")
            ]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&WebIdentityToken=a%2Bb%2Fc%3D"
        );
    }
}
