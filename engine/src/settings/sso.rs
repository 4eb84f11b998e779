//! Credentials from IAM Identity Center (SSO), as aws-cli gets them after `aws sso login`: the
//! access token cached in `~/.aws/sso/cache/<SHA-1 of the session name or start URL>.json`,
//! exchanged at the portal's `GetRoleCredentials` for the profile's account and role. s3mt never
//! runs the browser login: a missing or expired token says how to log in. I/O at the edge.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use ureq::http;
use url::Url;

use super::credentials::{Credentials, ProvideCredentials, unavailable};
use super::service_http::{ServiceAccess, ServiceHttp};
use crate::error::Result;
use crate::sigv4::uri_encode;

/// The header carrying the SSO access token to the portal.
const TOKEN_HEADER: &str = "x-amz-sso_bearer_token";

/// The profile's SSO settings and the portal that exchanges its token.
pub(crate) struct SsoCredentials {
    /// The profile, for the `aws sso login --profile NAME` hint.
    pub profile: String,
    /// The cached token's file.
    pub cache_file: PathBuf,
    pub account_id: String,
    pub role_name: String,
    pub portal: Url,
    pub http: ServiceHttp,
}

impl SsoCredentials {
    /// The portal of `region` (`https://portal.sso.REGION.amazonaws.com`), unless `endpoint`
    /// (`AWS_ENDPOINT_URL_SSO`) names another.
    pub fn portal(region: &str, endpoint: Option<&str>) -> Result<Url> {
        let text = endpoint
            .map(str::to_owned)
            .unwrap_or_else(|| format!("https://portal.sso.{region}.amazonaws.com"));
        Url::parse(&text)
            .map_err(|err| unavailable(format!("the SSO portal URL {text:?} is not valid: {err}")))
    }

    /// The cache file of a token: `<cache dir>/<hex SHA-1 of key>.json`, where the key is the
    /// `sso_session` name, or for a legacy profile its `sso_start_url`.
    pub fn cache_file(cache_dir: PathBuf, key: &str) -> PathBuf {
        cache_dir.join(format!(
            "{}.json",
            hex::encode(Sha1::digest(key.as_bytes()))
        ))
    }

    pub fn new(
        profile: String,
        cache_file: PathBuf,
        (account_id, role_name): (String, String),
        portal: Url,
        access: &ServiceAccess,
    ) -> Self {
        let http = ServiceHttp::new(access, &portal);
        Self {
            profile,
            cache_file,
            account_id,
            role_name,
            portal,
            http,
        }
    }

    /// The cached access token, if it is there and has not expired.
    fn token(&self) -> Result<String> {
        let login = format!(
            "run `aws sso login --profile {}` to sign in (s3mt does not open a browser)",
            self.profile
        );
        let text = std::fs::read_to_string(&self.cache_file).map_err(|_| {
            unavailable(format!(
                "no cached SSO token ({} cannot be read): {login}",
                self.cache_file.display()
            ))
        })?;
        let cached: CachedToken = serde_json::from_str(&text).map_err(|_| {
            unavailable(format!(
                "the cached SSO token {} is not one aws-cli writes: {login}",
                self.cache_file.display()
            ))
        })?;
        let expires = parse_expiry(&cached.expires_at).ok_or_else(|| {
            unavailable(format!(
                "the cached SSO token {} has no valid expiresAt: {login}",
                self.cache_file.display()
            ))
        })?;
        if expires <= Timestamp::now() {
            return Err(unavailable(format!(
                "the cached SSO token expired at {expires}: {login}"
            )));
        }
        Ok(cached.access_token)
    }
}

impl fmt::Debug for SsoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoCredentials")
            .field("profile", &self.profile)
            .field("account_id", &self.account_id)
            .field("role_name", &self.role_name)
            .field("portal", &self.portal.as_str())
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for SsoCredentials {
    fn provide(&self) -> Result<Credentials> {
        let token = self.token()?;
        let what = format!("the SSO portal at {}", self.portal);
        let url = format!(
            "{}/federation/credentials?role_name={}&account_id={}",
            self.portal.as_str().trim_end_matches('/'),
            uri_encode(&self.role_name),
            uri_encode(&self.account_id)
        );
        let headers = [(TOKEN_HEADER.to_owned(), token)];
        let (status, body) = self
            .http
            .send(http::Method::GET, &url, &headers, b"", &what)?;
        match status {
            200 => parse_role_credentials(&body, &what),
            401 => Err(unavailable(format!(
                "{what} refused the cached SSO token (HTTP 401): run `aws sso login --profile {}`",
                self.profile
            ))),
            status => Err(unavailable(format!(
                "{what} answered HTTP {status}{}",
                error_message(&body)
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default()
            ))),
        }
    }
}

/// A token file as `aws sso login` leaves it (other fields ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedToken {
    access_token: String,
    expires_at: String,
}

/// `expiresAt` as botocore writes it (`2026-12-04T18:00:00Z`, or with `UTC` for `Z`).
fn parse_expiry(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let normalized = match text.strip_suffix("UTC") {
        Some(rest) => format!("{}Z", rest.trim_end()),
        None => text.to_owned(),
    };
    normalized.parse().ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentialsReply {
    role_credentials: RoleCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Milliseconds since the epoch.
    expiration: Option<i64>,
}

/// The credentials of a `GetRoleCredentials` reply. Errors name the problem, never a value.
fn parse_role_credentials(body: &str, what: &str) -> Result<Credentials> {
    let reply: RoleCredentialsReply = serde_json::from_str(body).map_err(|err| {
        unavailable(format!(
            "{what} sent no role credentials (JSON error at line {} column {})",
            err.line(),
            err.column()
        ))
    })?;
    let role = reply.role_credentials;
    let mut credentials = Credentials::new(role.access_key_id, role.secret_access_key);
    if let Some(token) = role.session_token {
        credentials = credentials.with_session_token(token);
    }
    if let Some(millis) = role.expiration {
        let expires = Timestamp::from_millisecond(millis)
            .map_err(|_| unavailable(format!("{what} sent an expiration out of range")))?;
        credentials = credentials.with_expiry(expires);
    }
    Ok(credentials)
}

/// The `message` of a portal error reply.
fn error_message(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Reply {
        message: Option<String>,
    }
    serde_json::from_str::<Reply>(body).ok()?.message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_file_is_named_by_the_sha1_of_the_session_or_start_url() {
        // SHA-1 of "abc" is the FIPS 180 test vector.
        let file = SsoCredentials::cache_file(PathBuf::from("/c"), "abc");
        assert_eq!(
            file,
            PathBuf::from("/c/a9993e364706816aba3e25717850c26c9cd0d89d.json")
        );
    }

    #[test]
    fn expiry_times_and_role_credentials_are_read_as_aws_writes_them() {
        let at: Timestamp = "2026-12-04T18:00:00Z".parse().unwrap();
        assert_eq!(parse_expiry("2026-12-04T18:00:00Z"), Some(at));
        assert_eq!(parse_expiry("2026-12-04T18:00:00UTC"), Some(at));
        assert_eq!(parse_expiry("tomorrow"), None);
        let body = r#"{"roleCredentials":{"accessKeyId":"ASIA","secretAccessKey":"S","sessionToken":"T","expiration":1796407200000}}"#;
        let credentials = parse_role_credentials(body, "portal").unwrap();
        assert_eq!(credentials.access_key(), "ASIA");
        assert_eq!(
            credentials.expires(),
            Some(Timestamp::from_millisecond(1_796_407_200_000).unwrap())
        );
        let err = parse_role_credentials(r#"{"roleCredentials":{}}"#, "portal").unwrap_err();
        assert!(err.to_string().contains("JSON error"), "{err}");
    }
}
