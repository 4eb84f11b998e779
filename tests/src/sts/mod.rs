//! A loopback server playing AWS STS (`AssumeRole`, `AssumeRoleWithWebIdentity`) and the IAM
//! Identity Center (SSO) portal's `GetRoleCredentials`.
//!
//! [`StsServer::start`] listens on a free 127.0.0.1 port and speaks the real wire formats: the
//! STS query API (version 2011-06-15: the parameters in the query of a `GET` or in the
//! form-encoded body of a `POST` to `/`, XML replies) and the portal's REST-JSON
//! `GET /federation/credentials`. `AssumeRole` must be signed with SigV4 for `sts` by one of the
//! configured callers, or by credentials the server issued (a role chain): the server
//! recomputes the signature and refuses a wrong one as STS does. Credentials are handed out
//! from a scripted list, one set after the other, each expiring a set time after it is served.
//! Every request is recorded ([`StsServer::requests`]), and [`StsServer::fail_next`] makes the
//! next requests fail with 500.
//!
//! The HTTP is minimal (the shared `loopback` skeleton): one request per connection
//! (`Connection: close`), a body announced by `Content-Length` (chunked request bodies are
//! refused with 411).
//!
//! Here: the server, its configuration, the request records, and the dispatch of a request to
//! its action. `actions.rs` holds what each action checks and answers, `sigv4.rs` the signature
//! verification, `wire.rs` the replies as STS and the portal write them.

mod actions;
mod sigv4;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::sync::Mutex;
use std::time::Instant;

use self::sigv4::{Authorization, form_pairs};
use self::wire::{Refusal, portal_error, sts_error};
use crate::loopback::{Handler, Loopback, Request, Response};
use crate::metadata::IssuedCredentials;
use crate::proxy::{find_header, lock};

/// The role [`StsConfig::default`] lets callers assume.
pub const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/s3mt-sts-test";
/// The account of [`StsConfig::default`]'s SSO role.
pub const SSO_ACCOUNT_ID: &str = "000000000000";
/// The role name of [`StsConfig::default`]'s SSO role.
pub const SSO_ROLE_NAME: &str = "s3mt-sso-test";
/// The STS query API version every request must name (`Version=`).
pub const STS_VERSION: &str = "2011-06-15";
/// The XML namespace of every STS reply.
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The portal path of `GetRoleCredentials` (`GET`, with `role_name` and `account_id`).
pub const SSO_CREDENTIALS_PATH: &str = "/federation/credentials";
/// The request header carrying the SSO access token.
pub const SSO_TOKEN_HEADER: &str = "x-amz-sso_bearer_token";
/// The `SubjectFromWebIdentityToken` of every web identity reply: tokens are opaque strings
/// here, not JWTs to read a subject from.
pub const WEB_IDENTITY_SUBJECT: &str = "system:serviceaccount:s3mt:test";
/// The `Provider` of every web identity reply.
pub const WEB_IDENTITY_PROVIDER: &str = "arn:aws:iam::000000000000:oidc-provider/oidc.s3mt.test";
/// The `Audience` of every web identity reply.
pub const WEB_IDENTITY_AUDIENCE: &str = "sts.amazonaws.com";
/// Header values [`StsRequest`]'s `Debug` leaves out.
const SECRET_HEADERS: [&str; 2] = ["x-amz-security-token", SSO_TOKEN_HEADER];

/// A role that may be assumed through STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The `RoleArn`, e.g. `arn:aws:iam::000000000000:role/name`.
    pub arn: String,
    /// When set, `AssumeRole` must pass exactly this `ExternalId` (as a trust policy's
    /// `sts:ExternalId` condition demands), else 403 `AccessDenied`. Web identity ignores it.
    pub external_id: Option<String>,
}

impl Role {
    /// The role `arn`, with no `ExternalId` required.
    pub fn new(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            external_id: None,
        }
    }

    /// The same role, requiring the `ExternalId` `external_id`.
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }
}

/// What an [`StsServer`] accepts and hands out. [`StsConfig::default`] has the role
/// [`ROLE_ARN`], the SSO role [`SSO_ROLE_NAME`] in [`SSO_ACCOUNT_ID`], and nothing else: fill
/// in at least `issued`, e.g. `StsConfig { callers, issued, ..StsConfig::default() }`.
#[derive(Clone)]
pub struct StsConfig {
    /// Long-term identities allowed to sign `AssumeRole`: (access key id, secret access key).
    /// An `x-amz-security-token` they send is recorded, not checked.
    pub callers: Vec<(String, String)>,
    /// `WebIdentityToken`s accepted at the start (see
    /// [`StsServer::accept_web_identity_token`]).
    pub web_identity_tokens: Vec<String>,
    /// SSO access tokens (`x-amz-sso_bearer_token`) accepted at the start (see
    /// [`StsServer::accept_sso_token`]).
    pub sso_tokens: Vec<String>,
    /// The roles STS lets be assumed; any other `RoleArn` gets 403 `AccessDenied`.
    pub roles: Vec<Role>,
    /// The (account id, role name) pairs the portal gives credentials for; any other gets 403
    /// `ForbiddenException`.
    pub sso_roles: Vec<(String, String)>,
    /// The credentials to hand out, over all endpoints: the k-th set served (from 0) is
    /// `issued[min(k, issued.len() - 1)]`. A set without a token is served without
    /// `SessionToken` (`sessionToken`), which real services never do.
    pub issued: Vec<IssuedCredentials>,
}

impl Default for StsConfig {
    fn default() -> Self {
        Self {
            callers: Vec::new(),
            web_identity_tokens: Vec::new(),
            sso_tokens: Vec::new(),
            roles: vec![Role::new(ROLE_ARN)],
            sso_roles: vec![(SSO_ACCOUNT_ID.to_owned(), SSO_ROLE_NAME.to_owned())],
            issued: Vec::new(),
        }
    }
}

impl fmt::Debug for StsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let callers: Vec<&str> = self.callers.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("StsConfig")
            .field("callers (secrets redacted)", &callers)
            .field("web_identity_tokens", &self.web_identity_tokens.len())
            .field("sso_tokens", &self.sso_tokens.len())
            .field("roles", &self.roles)
            .field("sso_roles", &self.sso_roles)
            .field("issued", &self.issued)
            .finish()
    }
}

/// A request the server received, and what it carried of interest. Fields the request did not
/// carry are `None`; parameters are percent-decoded, from the query or the form body.
#[derive(Clone, PartialEq, Eq)]
pub struct StsRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path of the request target (without the query), e.g. `/`.
    pub path: String,
    /// The STS `Action`, e.g. `AssumeRole`.
    pub action: Option<String>,
    /// The access key id of the SigV4 `Authorization` header's credential scope, whether or
    /// not the signature held.
    pub access_key: Option<String>,
    /// The region of that credential scope.
    pub region: Option<String>,
    /// The `x-amz-security-token` header: present when the signing credentials were temporary.
    pub session_token: Option<String>,
    /// `RoleArn`.
    pub role_arn: Option<String>,
    /// `RoleSessionName`.
    pub role_session_name: Option<String>,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `DurationSeconds`, as sent.
    pub duration_seconds: Option<String>,
    /// `WebIdentityToken`.
    pub web_identity_token: Option<String>,
    /// The `x-amz-sso_bearer_token` header.
    pub sso_bearer_token: Option<String>,
    /// The portal's `role_name` query parameter.
    pub role_name: Option<String>,
    /// The portal's `account_id` query parameter.
    pub account_id: Option<String>,
    /// Every header in order, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The status the server answered with (400 for a request it could not parse).
    pub status: u16,
    /// The error code answered (`SignatureDoesNotMatch`, `UnauthorizedException`...), if any.
    pub error_code: Option<String>,
}

impl StsRequest {
    /// The value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// What is recorded of `request` before it is answered (status 0, no error yet).
    fn new(request: &Request) -> Self {
        let parameters = parameters(request);
        let parameter = |name: &str| parameter(&parameters, name).map(str::to_owned);
        let authorization = request
            .header("authorization")
            .and_then(Authorization::parse);
        Self {
            method: request.method.clone(),
            path: request.path.clone(),
            action: parameter("Action"),
            access_key: authorization.as_ref().map(|a| a.access_key.clone()),
            region: authorization.map(|a| a.region),
            session_token: request.header("x-amz-security-token").map(str::to_owned),
            role_arn: parameter("RoleArn"),
            role_session_name: parameter("RoleSessionName"),
            external_id: parameter("ExternalId"),
            duration_seconds: parameter("DurationSeconds"),
            web_identity_token: parameter("WebIdentityToken"),
            sso_bearer_token: request.header(SSO_TOKEN_HEADER).map(str::to_owned),
            role_name: parameter("role_name"),
            account_id: parameter("account_id"),
            headers: request.headers.clone(),
            status: 0,
            error_code: None,
        }
    }
}

impl fmt::Debug for StsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let secret = SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name));
                (name.as_str(), if secret { "<redacted>" } else { value })
            })
            .collect();
        f.debug_struct("StsRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("action", &self.action)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("session_token", &redacted(&self.session_token))
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("external_id", &self.external_id)
            .field("duration_seconds", &self.duration_seconds)
            .field("web_identity_token", &redacted(&self.web_identity_token))
            .field("sso_bearer_token", &redacted(&self.sso_bearer_token))
            .field("role_name", &self.role_name)
            .field("account_id", &self.account_id)
            .field("headers", &headers)
            .field("status", &self.status)
            .field("error_code", &self.error_code)
            .finish()
    }
}

/// A running STS and SSO portal on 127.0.0.1. Dropping it stops it: the listener thread ends
/// within a few milliseconds, a connection being served within 2 s (its I/O timeout).
pub struct StsServer {
    loopback: Loopback<Shared>,
}

impl fmt::Debug for StsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsServer")
            .field("endpoint", &self.endpoint())
            .field("credentials_served", &self.credentials_served())
            .finish_non_exhaustive()
    }
}

impl StsServer {
    /// Starts a server with `config` on a free loopback port.
    ///
    /// # Errors
    /// When `config.issued` is empty, or no port can be bound.
    pub fn start(config: StsConfig) -> io::Result<Self> {
        if config.issued.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an STS server needs at least one set of credentials to issue",
            ));
        }
        let state = State {
            web_identity_tokens: config.web_identity_tokens,
            sso_tokens: config.sso_tokens,
            ..State::default()
        };
        let loopback = Loopback::start("sts", |port| Shared {
            callers: config.callers,
            roles: config.roles,
            sso_roles: config.sso_roles,
            issued: config.issued,
            port,
            state: Mutex::new(state),
        })?;
        Ok(Self { loopback })
    }

    /// The server's address, `http://127.0.0.1:PORT`: the STS endpoint
    /// (`AWS_ENDPOINT_URL_STS`) and the SSO portal's (`sso_region`'s portal URL) alike.
    pub fn endpoint(&self) -> String {
        self.loopback.endpoint()
    }

    /// How many sets of credentials were served (with status 200) so far, over all endpoints.
    pub fn credentials_served(&self) -> usize {
        lock(&self.shared().state).served
    }

    /// Every request received so far, in arrival order. A request is recorded before it is
    /// answered, so a client that got its response finds it here.
    pub fn requests(&self) -> Vec<StsRequest> {
        lock(&self.shared().state).requests.clone()
    }

    /// Makes the next `n` requests, of any kind, fail with 500 `InternalError` (on top of
    /// failures still pending), e.g. to check that still-valid credentials are kept when a
    /// refresh fails.
    pub fn fail_next(&self, n: usize) {
        lock(&self.shared().state).fail_next += n;
    }

    /// Accepts `token` as a `WebIdentityToken` from now on (as a rotated token file's new
    /// token).
    pub fn accept_web_identity_token(&self, token: impl Into<String>) {
        let token = token.into();
        let mut state = lock(&self.shared().state);
        if !state.web_identity_tokens.contains(&token) {
            state.web_identity_tokens.push(token);
        }
    }

    /// Refuses `token` as a `WebIdentityToken` from now on (400 `InvalidIdentityToken`).
    pub fn refuse_web_identity_token(&self, token: &str) {
        lock(&self.shared().state)
            .web_identity_tokens
            .retain(|accepted| accepted != token);
    }

    /// Accepts `token` as an SSO access token from now on (as after `aws sso login`).
    pub fn accept_sso_token(&self, token: impl Into<String>) {
        let token = token.into();
        let mut state = lock(&self.shared().state);
        if !state.sso_tokens.contains(&token) {
            state.sso_tokens.push(token);
        }
    }

    /// Revokes the SSO access token `token` (401 `UnauthorizedException` from now on, as after
    /// `aws sso logout` or the session's end).
    pub fn revoke_sso_token(&self, token: &str) {
        lock(&self.shared().state)
            .sso_tokens
            .retain(|accepted| accepted != token);
    }

    fn shared(&self) -> &Shared {
        self.loopback.handler()
    }
}

/// What the handle and the connection threads share: the script, and what was done of it.
struct Shared {
    callers: Vec<(String, String)>,
    roles: Vec<Role>,
    sso_roles: Vec<(String, String)>,
    issued: Vec<IssuedCredentials>,
    /// Numbers the request ids, with the count of requests answered.
    port: u16,
    state: Mutex<State>,
}

/// What the server has done so far, and what the test may change while it runs.
#[derive(Default)]
struct State {
    /// Credential sets served.
    served: usize,
    /// Requests still to fail with 500.
    fail_next: usize,
    /// Requests answered, numbering the request ids.
    answered: u64,
    web_identity_tokens: Vec<String>,
    sso_tokens: Vec<String>,
    /// The credentials served, which may sign `AssumeRole` in turn (role chaining), latest last.
    temporary_callers: Vec<TemporaryCaller>,
    requests: Vec<StsRequest>,
}

/// Credentials the server served, valid to sign with their session token until they expire.
struct TemporaryCaller {
    access_key: String,
    secret_key: String,
    token: Option<String>,
    /// `None`: too far ahead for an `Instant`.
    expires: Option<Instant>,
}

impl Handler for Shared {
    /// The response to `request`, recorded (with any credentials counted) before it is
    /// returned.
    fn respond(&self, request: &Request) -> Response {
        let mut record = StsRequest::new(request);
        let mut state = lock(&self.state);
        state.answered += 1;
        let request_id = request_id(self.port, state.answered);
        let portal = request.path == SSO_CREDENTIALS_PATH;
        let outcome = if state.fail_next > 0 {
            state.fail_next -= 1;
            Err(Refusal::new(
                500,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ))
        } else if portal {
            self.get_role_credentials(&mut state, request)
        } else {
            self.query_api(&mut state, request, &request_id)
        };
        let response = outcome.unwrap_or_else(|refusal| {
            record.error_code = Some(refusal.code.to_owned());
            if portal {
                portal_error(&refusal)
            } else {
                sts_error(&refusal, &request_id)
            }
        });
        let response = response.with_header("x-amzn-RequestId", request_id);
        record.status = response.status;
        state.requests.push(record);
        response
    }

    fn refused(&self, request: &Request, status: u16) {
        let mut record = StsRequest::new(request);
        record.status = status;
        lock(&self.state).requests.push(record);
    }
}

/// The value of the first parameter `name` (case-sensitive, as the query API).
fn parameter<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A request id in the form AWS uses (a UUID), unique per server and request.
fn request_id(port: u16, n: u64) -> String {
    format!("{port:08x}-0000-4000-8000-{n:012x}")
}

/// The query's parameters, then a form body's (as the query API reads a `POST`).
fn parameters(request: &Request) -> Vec<(String, String)> {
    let mut parameters = form_pairs(&request.query);
    let form = request.header("content-type").is_some_and(|content_type| {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if request.method == "POST" && form {
        parameters.extend(form_pairs(&String::from_utf8_lossy(&request.body)));
    }
    parameters
}
