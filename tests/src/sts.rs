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
//! The HTTP is minimal: one request per connection (`Connection: close`), a body announced by
//! `Content-Length` (chunked request bodies are refused with 411).

use std::fmt::{self, Write as _};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::metadata::IssuedCredentials;
use crate::proxy::{find_header, lock, read_head};

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

/// The `DurationSeconds` STS accepts (15 minutes to 12 hours).
const DURATION_SECONDS: std::ops::RangeInclusive<u64> = 900..=43_200;
/// How far `x-amz-date` may be from the server's clock, as AWS allows.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// Largest request body accepted.
const MAX_BODY: u64 = 1024 * 1024;
/// Read and write timeout of every connection: requests are tiny, and a connection thread
/// must end soon after the server is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the listener thread polls for connections and for the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
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
        let parameters = request.parameters();
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
    shared: Arc<Shared>,
    listener_thread: Option<JoinHandle<()>>,
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
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = State {
            web_identity_tokens: config.web_identity_tokens,
            sso_tokens: config.sso_tokens,
            ..State::default()
        };
        let shared = Arc::new(Shared {
            callers: config.callers,
            roles: config.roles,
            sso_roles: config.sso_roles,
            issued: config.issued,
            port,
            state: Mutex::new(state),
            stopping: AtomicBool::new(false),
        });
        let listener_thread = thread::Builder::new().name(format!("sts-{port}")).spawn({
            let shared = Arc::clone(&shared);
            move || accept_loop(&shared, &listener)
        })?;
        Ok(Self {
            shared,
            listener_thread: Some(listener_thread),
        })
    }

    /// The server's address, `http://127.0.0.1:PORT`: the STS endpoint
    /// (`AWS_ENDPOINT_URL_STS`) and the SSO portal's (`sso_region`'s portal URL) alike.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.port)
    }

    /// How many sets of credentials were served (with status 200) so far, over all endpoints.
    pub fn credentials_served(&self) -> usize {
        lock(&self.shared.state).served
    }

    /// Every request received so far, in arrival order. A request is recorded before it is
    /// answered, so a client that got its response finds it here.
    pub fn requests(&self) -> Vec<StsRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Makes the next `n` requests, of any kind, fail with 500 `InternalError` (on top of
    /// failures still pending), e.g. to check that still-valid credentials are kept when a
    /// refresh fails.
    pub fn fail_next(&self, n: usize) {
        lock(&self.shared.state).fail_next += n;
    }

    /// Accepts `token` as a `WebIdentityToken` from now on (as a rotated token file's new
    /// token).
    pub fn accept_web_identity_token(&self, token: impl Into<String>) {
        let token = token.into();
        let mut state = lock(&self.shared.state);
        if !state.web_identity_tokens.contains(&token) {
            state.web_identity_tokens.push(token);
        }
    }

    /// Refuses `token` as a `WebIdentityToken` from now on (400 `InvalidIdentityToken`).
    pub fn refuse_web_identity_token(&self, token: &str) {
        lock(&self.shared.state)
            .web_identity_tokens
            .retain(|accepted| accepted != token);
    }

    /// Accepts `token` as an SSO access token from now on (as after `aws sso login`).
    pub fn accept_sso_token(&self, token: impl Into<String>) {
        let token = token.into();
        let mut state = lock(&self.shared.state);
        if !state.sso_tokens.contains(&token) {
            state.sso_tokens.push(token);
        }
    }

    /// Revokes the SSO access token `token` (401 `UnauthorizedException` from now on, as after
    /// `aws sso logout` or the session's end).
    pub fn revoke_sso_token(&self, token: &str) {
        lock(&self.shared.state)
            .sso_tokens
            .retain(|accepted| accepted != token);
    }
}

impl Drop for StsServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(listener_thread) = self.listener_thread.take() {
            // Bounded: the loop polls the stop flag every ACCEPT_POLL.
            let _ = listener_thread.join();
        }
    }
}

/// State shared by the server handle, the listener thread and the connection threads.
struct Shared {
    callers: Vec<(String, String)>,
    roles: Vec<Role>,
    sso_roles: Vec<(String, String)>,
    issued: Vec<IssuedCredentials>,
    port: u16,
    state: Mutex<State>,
    stopping: AtomicBool,
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

/// An error reply before it is written in its protocol's format (STS XML or portal JSON).
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// STS's 400 `ValidationError` for a parameter `field` that fails `constraint`.
    fn invalid(field: &str, value: Option<&str>, constraint: &str) -> Self {
        let value = value.map_or_else(|| "null".to_owned(), |value| format!("'{value}'"));
        Self::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value {value} at '{field}' failed to satisfy \
                 constraint: Member must {constraint}"
            ),
        )
    }
}

/// Accepts connections until the server stops, serving each on its own thread.
fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let Ok((stream, _)) = listener.accept() else {
            thread::sleep(ACCEPT_POLL);
            continue;
        };
        let shared = Arc::clone(shared);
        // Not joined: the thread ends once its one exchange is done or timed out.
        let _ = thread::Builder::new()
            .name(format!("sts-{}-conn", shared.port))
            .spawn(move || {
                let _ = serve(&shared, stream);
            });
    }
}

/// Serves the one request of a connection.
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut input = BufReader::new(stream.try_clone()?);
    let Some(raw) = read_head(&mut input)? else {
        return Ok(()); // Closed without a request.
    };
    let response = match Request::parse(&raw) {
        Ok(mut request) => {
            let length = request.content_length();
            if request.header("transfer-encoding").is_some() {
                shared.answer(&request, Response::text(411, "send a Content-Length"))
            } else if length.is_some_and(|length| length > MAX_BODY) {
                shared.answer(&request, Response::text(413, "request body too large"))
            } else {
                // The whole body: a POST's parameters are in it, and it is signed.
                (&mut input)
                    .take(length.unwrap_or(0))
                    .read_to_end(&mut request.body)?;
                if request.body.len() as u64 != length.unwrap_or(0) {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                shared.respond(&request)
            }
        }
        Err(_) => shared.answer(
            &Request::default(),
            Response::text(400, "malformed request"),
        ),
    };
    let mut output = &stream;
    output.write_all(&response.to_bytes())?;
    output.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

impl Shared {
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
            self.sts(&mut state, request, &request_id)
        };
        let mut response = outcome.unwrap_or_else(|refusal| {
            if portal {
                portal_error(&refusal)
            } else {
                sts_error(&refusal, &request_id)
            }
        });
        response
            .extra_headers
            .push(("x-amzn-RequestId", request_id));
        record.status = response.status;
        record.error_code = response.error_code.clone();
        state.requests.push(record);
        response
    }

    /// Records `request` as answered with `response`, and returns `response`.
    fn answer(&self, request: &Request, response: Response) -> Response {
        let mut record = StsRequest::new(request);
        record.status = response.status;
        lock(&self.state).requests.push(record);
        response
    }

    /// The query API at `/`: the action the parameters name.
    fn sts(
        &self,
        state: &mut State,
        request: &Request,
        request_id: &str,
    ) -> Result<Response, Refusal> {
        if request.path != "/" {
            return Err(Refusal::new(404, "NotFound", "STS is at /"));
        }
        if request.method != "GET" && request.method != "POST" {
            return Err(Refusal::new(405, "MethodNotAllowed", "GET or POST only"));
        }
        let parameters = request.parameters();
        let Some(action) = parameter(&parameters, "Action") else {
            return Err(Refusal::new(400, "MissingAction", "Missing Action"));
        };
        let version = parameter(&parameters, "Version").unwrap_or_default();
        if version != STS_VERSION {
            return Err(Refusal::new(
                400,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            ));
        }
        match action {
            "AssumeRole" => self.assume_role(state, request, &parameters, request_id),
            "AssumeRoleWithWebIdentity" => self.web_identity(state, &parameters, request_id),
            _ => Err(Refusal::new(
                400,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            )),
        }
    }

    fn assume_role(
        &self,
        state: &mut State,
        request: &Request,
        parameters: &[(String, String)],
        request_id: &str,
    ) -> Result<Response, Refusal> {
        let caller = self.authenticate(state, request)?;
        let session = SessionRequest::read(parameters)?;
        let external_id = parameter(parameters, "ExternalId");
        if let Some(id) = external_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
            if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
                return Err(Refusal::invalid(
                    "externalId",
                    Some(id),
                    "satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
                ));
            }
        }
        let trusted = self.roles.iter().any(|role| {
            role.arn == session.role_arn
                && role
                    .external_id
                    .as_deref()
                    .is_none_or(|wanted| external_id == Some(wanted))
        });
        if !trusted {
            return Err(Refusal::new(
                403,
                "AccessDenied",
                format!(
                    "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {}",
                    session.role_arn
                ),
            ));
        }
        let credentials = self.serve_credentials(state);
        let body = format!(
            "<AssumeRoleResponse xmlns=\"{STS_NAMESPACE}\"><AssumeRoleResult>{}{}\
             </AssumeRoleResult>{}</AssumeRoleResponse>",
            credentials_xml(&credentials),
            assumed_role_user_xml(session.role_arn, session.name),
            response_metadata(request_id),
        );
        Ok(Response::xml(200, body))
    }

    fn web_identity(
        &self,
        state: &mut State,
        parameters: &[(String, String)],
        request_id: &str,
    ) -> Result<Response, Refusal> {
        let session = SessionRequest::read(parameters)?;
        let token = parameter(parameters, "WebIdentityToken");
        let Some(token) = token.filter(|token| token.len() >= 4) else {
            return Err(Refusal::invalid(
                "webIdentityToken",
                token,
                "have length greater than or equal to 4",
            ));
        };
        if !state.web_identity_tokens.iter().any(|t| t == token) {
            return Err(Refusal::new(
                400,
                "InvalidIdentityToken",
                "The web identity token that was passed could not be validated by AWS. Get a \
                 new identity token from the identity provider and then retry the request.",
            ));
        }
        if !self.roles.iter().any(|role| role.arn == session.role_arn) {
            return Err(Refusal::new(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ));
        }
        let credentials = self.serve_credentials(state);
        let body = format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"{STS_NAMESPACE}\">\
             <AssumeRoleWithWebIdentityResult>{}\
             <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>{}\
             <Provider>{}</Provider><Audience>{}</Audience>\
             </AssumeRoleWithWebIdentityResult>{}</AssumeRoleWithWebIdentityResponse>",
            credentials_xml(&credentials),
            xml_escape(WEB_IDENTITY_SUBJECT),
            assumed_role_user_xml(session.role_arn, session.name),
            xml_escape(WEB_IDENTITY_PROVIDER),
            xml_escape(WEB_IDENTITY_AUDIENCE),
            response_metadata(request_id),
        );
        Ok(Response::xml(200, body))
    }

    /// The portal's `GetRoleCredentials`: the token first, then the parameters, then access.
    fn get_role_credentials(
        &self,
        state: &mut State,
        request: &Request,
    ) -> Result<Response, Refusal> {
        if request.method != "GET" {
            return Err(Refusal::new(
                405,
                "InvalidRequestException",
                "GetRoleCredentials is a GET",
            ));
        }
        let token = request.header(SSO_TOKEN_HEADER);
        if !token.is_some_and(|token| state.sso_tokens.iter().any(|t| t == token)) {
            return Err(Refusal::new(
                401,
                "UnauthorizedException",
                "Session token not found or invalid",
            ));
        }
        let parameters = request.parameters();
        let (Some(role_name), Some(account_id)) = (
            parameter(&parameters, "role_name"),
            parameter(&parameters, "account_id"),
        ) else {
            return Err(Refusal::new(
                400,
                "InvalidRequestException",
                "role_name and account_id are required",
            ));
        };
        let entitled = self
            .sso_roles
            .iter()
            .any(|(account, role)| account == account_id && role == role_name);
        if !entitled {
            return Err(Refusal::new(403, "ForbiddenException", "No access"));
        }
        let served = self.serve_credentials(state);
        let mut members = vec![
            format!("\"accessKeyId\":\"{}\"", json_escape(&served.access_key)),
            format!(
                "\"secretAccessKey\":\"{}\"",
                json_escape(&served.secret_key)
            ),
        ];
        if let Some(token) = &served.token {
            members.push(format!("\"sessionToken\":\"{}\"", json_escape(token)));
        }
        // Milliseconds since the epoch, as the portal sends it (whole seconds, as STS's).
        let expiration = served.expiration.as_second().saturating_mul(1000);
        members.push(format!("\"expiration\":{expiration}"));
        let body = format!("{{\"roleCredentials\":{{{}}}}}", members.join(","));
        Ok(Response::json(200, body))
    }

    /// Checks `AssumeRole`'s SigV4 `Authorization` as STS does (the key, then the clock, then
    /// the signature, recomputed); the caller's access key id.
    fn authenticate(&self, state: &State, request: &Request) -> Result<String, Refusal> {
        let mismatch = |message: String| Refusal::new(403, "SignatureDoesNotMatch", message);
        let Some(header) = request.header("authorization") else {
            return Err(Refusal::new(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ));
        };
        let authorization = Authorization::parse(header).ok_or_else(|| {
            Refusal::new(
                400,
                "IncompleteSignature",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' \
                 parameters of an AWS4-HMAC-SHA256 signature",
            )
        })?;
        let amz_date = request.header("x-amz-date").unwrap_or_default();
        let Some(signed_at) = parse_amz_date(amz_date) else {
            return Err(Refusal::new(
                400,
                "IncompleteSignature",
                "Authorization header requires existence of an 'X-Amz-Date' header in the ISO \
                 8601 basic format (yyyyMMddTHHmmssZ)",
            ));
        };
        if authorization.service != "sts" {
            return Err(mismatch(
                "Credential should be scoped to correct service: 'sts'.".into(),
            ));
        }
        if authorization.date != amz_date[..8] {
            return Err(mismatch(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                 date from HTTP: '{}' != '{}', from '{amz_date}'.",
                authorization.date,
                &amz_date[..8]
            )));
        }
        if !authorization.signed_headers.iter().any(|h| h == "host") {
            return Err(mismatch(
                "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        let token = request.header("x-amz-security-token");
        let secret_key = self.secret_of(state, &authorization.access_key, token)?;
        let now = jiff::Timestamp::now();
        let skew = now.duration_since(signed_at).unsigned_abs();
        if skew > MAX_CLOCK_SKEW {
            return Err(mismatch(format!(
                "Signature expired: {amz_date} is more than 15 minutes away from the server's \
                 time ({}).",
                now.strftime("%Y%m%dT%H%M%SZ")
            )));
        }
        let signable = Signable {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            payload: &request.body,
        };
        if expected_signature(&signable, &authorization, amz_date, &secret_key)
            != authorization.signature
        {
            return Err(mismatch(
                "The request signature we calculated does not match the signature you \
                 provided. Check your AWS Secret Access Key and signing method. Consult the \
                 service documentation for details."
                    .into(),
            ));
        }
        Ok(authorization.access_key)
    }

    /// The secret key of `access_key`: a configured caller's, or that of credentials served
    /// earlier, which must come with their token and be unexpired.
    fn secret_of(
        &self,
        state: &State,
        access_key: &str,
        token: Option<&str>,
    ) -> Result<String, Refusal> {
        let invalid = || {
            Refusal::new(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        if let Some((_, secret)) = self.callers.iter().find(|(key, _)| key == access_key) {
            return Ok(secret.clone());
        }
        let caller = state
            .temporary_callers
            .iter()
            .rev()
            .find(|caller| caller.access_key == access_key)
            .ok_or_else(invalid)?;
        if caller.token.is_some() && caller.token.as_deref() != token {
            return Err(invalid());
        }
        if caller
            .expires
            .is_some_and(|expires| Instant::now() >= expires)
        {
            return Err(Refusal::new(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        Ok(caller.secret_key.clone())
    }

    /// The next set of credentials, counted as served, and from now on allowed to sign.
    fn serve_credentials(&self, state: &mut State) -> Served {
        let issued = &self.issued[state.served.min(self.issued.len() - 1)];
        state.served += 1;
        state.temporary_callers.push(TemporaryCaller {
            access_key: issued.access_key.clone(),
            secret_key: issued.secret_key.clone(),
            token: issued.token.clone(),
            expires: Instant::now().checked_add(issued.expires_in),
        });
        Served {
            access_key: issued.access_key.clone(),
            secret_key: issued.secret_key.clone(),
            token: issued.token.clone(),
            expiration: expiry_after(issued.expires_in),
        }
    }
}

/// Credentials as served, with their expiration.
struct Served {
    access_key: String,
    secret_key: String,
    token: Option<String>,
    expiration: jiff::Timestamp,
}

/// The parameters both STS actions share, checked as STS does.
struct SessionRequest<'a> {
    role_arn: &'a str,
    name: &'a str,
}

impl<'a> SessionRequest<'a> {
    fn read(parameters: &'a [(String, String)]) -> Result<Self, Refusal> {
        let role_arn = parameter(parameters, "RoleArn");
        let Some(role_arn) = role_arn.filter(|arn| (20..=2048).contains(&arn.len())) else {
            return Err(Refusal::invalid(
                "roleArn",
                role_arn,
                "have length between 20 and 2048",
            ));
        };
        let name = parameter(parameters, "RoleSessionName");
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        let Some(name) =
            name.filter(|name| (2..=64).contains(&name.len()) && name.chars().all(allowed))
        else {
            return Err(Refusal::invalid(
                "roleSessionName",
                name,
                "satisfy regular expression pattern: [\\w+=,.@-]{2,64}",
            ));
        };
        if let Some(duration) = parameter(parameters, "DurationSeconds") {
            let valid = duration
                .parse::<u64>()
                .is_ok_and(|seconds| DURATION_SECONDS.contains(&seconds));
            if !valid {
                return Err(Refusal::invalid(
                    "durationSeconds",
                    Some(duration),
                    "have value between 900 and 43200",
                ));
            }
        }
        Ok(Self { role_arn, name })
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

/// STS's `Credentials` element.
fn credentials_xml(served: &Served) -> String {
    let token = served.token.as_deref().map_or_else(String::new, |token| {
        format!("<SessionToken>{}</SessionToken>", xml_escape(token))
    });
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>{token}\
         <Expiration>{}</Expiration></Credentials>",
        xml_escape(&served.access_key),
        xml_escape(&served.secret_key),
        served.expiration,
    )
}

/// STS's `AssumedRoleUser` of session `session` of `role_arn`
/// (`arn:PARTITION:iam::ACCOUNT:role[/path]/NAME`):
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION`, and a role id derived from the ARN.
fn assumed_role_user_xml(role_arn: &str, session: &str) -> String {
    let fields: Vec<&str> = role_arn.splitn(6, ':').collect();
    let (partition, account, resource) = match fields.as_slice() {
        [_, partition, _, _, account, resource] => (*partition, *account, *resource),
        _ => ("aws", "000000000000", role_arn),
    };
    let name = resource.rsplit('/').next().unwrap_or(resource);
    let digest = hex::encode_upper(Sha256::digest(role_arn.as_bytes()));
    format!(
        "<AssumedRoleUser><AssumedRoleId>AROA{}:{}</AssumedRoleId>\
         <Arn>arn:{}:sts::{}:assumed-role/{}/{}</Arn></AssumedRoleUser>",
        &digest[..17],
        xml_escape(session),
        xml_escape(partition),
        xml_escape(account),
        xml_escape(name),
        xml_escape(session),
    )
}

fn response_metadata(request_id: &str) -> String {
    format!("<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
}

/// STS's error document: `Sender` faults below 500, `Receiver` ones from 500.
fn sts_error(refusal: &Refusal, request_id: &str) -> Response {
    let fault = if refusal.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{STS_NAMESPACE}\"><Error><Type>{fault}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        refusal.code,
        xml_escape(&refusal.message),
    );
    let mut response = Response::xml(refusal.status, body);
    response.error_code = Some(refusal.code.to_owned());
    response
}

/// The portal's REST-JSON error: `message` and `__type`, and the `x-amzn-ErrorType` header
/// SDKs read first.
fn portal_error(refusal: &Refusal) -> Response {
    let body = format!(
        "{{\"message\":\"{}\",\"__type\":\"com.amazonaws.switchboard.portal#{}\"}}",
        json_escape(&refusal.message),
        refusal.code,
    );
    let mut response = Response::json(refusal.status, body);
    response
        .extra_headers
        .push(("x-amzn-ErrorType", refusal.code.to_owned()));
    response.error_code = Some(refusal.code.to_owned());
    response
}

/// Now plus `delay`, truncated to the second (the documented formats have no fraction).
fn expiry_after(delay: Duration) -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    let later = jiff::SignedDuration::try_from(delay)
        .ok()
        .and_then(|delay| now.checked_add(delay).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    jiff::Timestamp::from_second(later.as_second()).unwrap_or(later)
}

/// `x-amz-date` (`20150830T123600Z`, ISO 8601 basic) as a time.
fn parse_amz_date(text: &str) -> Option<jiff::Timestamp> {
    let digits = |range: std::ops::Range<usize>| {
        text.get(range)
            .filter(|part| part.bytes().all(|b| b.is_ascii_digit()))
    };
    if text.len() != 16 || text.as_bytes()[8] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let extended = format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    );
    extended.parse().ok()
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(escaped, "\\u{:04x}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

// SigV4 verification, generic over the service (the scope's) so that AWS's published example,
// for IAM, checks it.

/// What an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
/// header says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authorization {
    access_key: String,
    /// The scope's `YYYYMMDD`.
    date: String,
    region: String,
    service: String,
    /// Lowercase, in the order given (which the canonical request follows).
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix("AWS4-HMAC-SHA256 ")?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for field in rest.split(',') {
            let (name, value) = field.trim().split_once('=')?;
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let scope: Vec<&str> = credential?.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
            return None;
        };
        let signed_headers: Vec<String> = signed_headers?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        let signature = signature?;
        let parts_given = [access_key, date, region, service, &signature]
            .iter()
            .all(|part| !part.is_empty());
        (parts_given && !signed_headers.iter().any(String::is_empty)).then(|| Self {
            access_key: (*access_key).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }
}

/// A request as SigV4 covers it, as received.
struct Signable<'a> {
    method: &'a str,
    /// The path as sent (percent-encoded).
    path: &'a str,
    /// The query as sent (after `?`, percent-encoded), maybe empty.
    query: &'a str,
    /// Names in lowercase, values trimmed.
    headers: &'a [(String, String)],
    payload: &'a [u8],
}

/// The canonical request: method, path, query, the signed headers, their names, and the hex
/// SHA-256 of the payload.
fn canonical_request(request: &Signable<'_>, signed_headers: &[String]) -> String {
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query)
    );
    for name in signed_headers {
        // Repeated headers are joined with commas; a signed header not sent counts as empty.
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let _ = writeln!(canonical, "{name}:{}", values.join(","));
    }
    let _ = write!(
        canonical,
        "\n{}\n{}",
        signed_headers.join(";"),
        hex::encode(Sha256::digest(request.payload))
    );
    canonical
}

/// The path with each segment decoded and encoded again, `/` when empty. Escapes are not
/// encoded twice as SigV4 wants of non-S3 services: s3mt's signer does not, and STS is at `/`.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(|segment| uri_encode(&percent_decode(segment, false)))
        .collect::<Vec<_>>()
        .join("/")
}

/// The query's parameters, decoded (whatever the sender encoded) then encoded strictly, sorted
/// by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_pairs(query)
        .iter()
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature the holder of `secret_key` computes for `request` under `authorization`'s
/// scope and signed headers at `amz_date`.
fn expected_signature(
    request: &Signable<'_>,
    authorization: &Authorization,
    amz_date: &str,
    secret_key: &str,
) -> String {
    let Authorization {
        date,
        region,
        service,
        ..
    } = authorization;
    let canonical = canonical_request(request, &authorization.signed_headers);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(secret_key, date, region, service);
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// The HMAC chain from `AWS4` + the secret through the date, region, service and
/// `aws4_request`.
fn signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    key
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 3986 encoding of everything but `A-Z a-z 0-9 - _ . ~`, as SigV4 wants.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The decoded `name=value` pairs of a query or a form body, in order (a name without `=` has
/// an empty value).
fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name, true), percent_decode(value, true))
        })
        .collect()
}

/// `text` with its `%XX` escapes decoded (malformed ones kept as they are), and `+` as a space
/// when `plus_is_space` (form encoding, which the query API follows).
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed request, body included.
#[derive(Default)]
struct Request {
    method: String,
    /// As sent, percent-encoded.
    path: String,
    /// As sent, after `?` (empty without one).
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn parse(raw: &[u8]) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.lines();
        let start = lines.next().unwrap_or_default();
        let mut words = start.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return Err(invalid(format!("bad request line {start:?}")));
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = Vec::new();
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: Vec::new(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }

    /// The query's parameters, then a form body's (as the query API reads a `POST`).
    fn parameters(&self) -> Vec<(String, String)> {
        let mut parameters = form_pairs(&self.query);
        let form = self.header("content-type").is_some_and(|content_type| {
            let media = content_type.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if self.method == "POST" && form {
            parameters.extend(form_pairs(&String::from_utf8_lossy(&self.body)));
        }
        parameters
    }
}

/// A response to send.
struct Response {
    status: u16,
    content_type: &'static str,
    extra_headers: Vec<(&'static str, String)>,
    body: String,
    /// The error code in the body, for the record; not sent as such.
    error_code: Option<String>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            extra_headers: Vec::new(),
            body,
            error_code: None,
        }
    }

    fn xml(status: u16, body: String) -> Self {
        Self::new(status, "text/xml", body)
    }

    fn json(status: u16, body: String) -> Self {
        Self::new(status, "application/json", body)
    }

    fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain", body.to_owned())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER_KEY: &str = "AKIDCALLER";

    /// STS parameters a test builds, then edits.
    type Parameters = Vec<(&'static str, String)>;
    const CALLER_SECRET: &str = "caller/secret+key";

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    /// Status and body of a response.
    fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut response = response.expect("HTTP exchange");
        let body = response.body_mut().read_to_string().expect("body");
        (response.status().as_u16(), body)
    }

    /// The text of the first `<name>` element of an XML document.
    fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
        let (_, rest) = xml.split_once(&format!("<{name}>"))?;
        Some(&rest[..rest.find(&format!("</{name}>"))?])
    }

    fn creds(n: usize, expires_in: Duration) -> IssuedCredentials {
        IssuedCredentials::new(format!("ASIA{n}"), format!("secret/{n}"), expires_in)
            .with_token(format!("token+{n}"))
    }

    fn server(issued: Vec<IssuedCredentials>) -> StsServer {
        StsServer::start(StsConfig {
            callers: vec![(CALLER_KEY.into(), CALLER_SECRET.into())],
            web_identity_tokens: vec!["web-token-1".into()],
            sso_tokens: vec!["sso-token-1".into()],
            roles: vec![
                Role::new(ROLE_ARN),
                Role::new("arn:aws:iam::111122223333:role/path/external").with_external_id("ext-1"),
            ],
            issued,
            ..StsConfig::default()
        })
        .expect("start")
    }

    /// SigV4's strict encoding, written apart from the server's so that the tests check it.
    fn encode(text: &str, keep: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b)
                {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// `pairs` as a query or form body, in the order given; `keep` is left unencoded (a
    /// sender's looser encoding, which the server must canonicalize).
    fn join(pairs: &[(&str, &str)], keep: &str) -> String {
        pairs
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name, ""), encode(value, keep)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("key");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A SigV4 signer for `sts`, as SDKs sign the query API.
    struct Signer<'a> {
        access_key: &'a str,
        secret_key: &'a str,
        token: Option<&'a str>,
        region: &'a str,
        /// `x-amz-date`; now when `None`.
        amz_date: Option<&'a str>,
    }

    impl Signer<'_> {
        fn caller() -> Self {
            Signer {
                access_key: CALLER_KEY,
                secret_key: CALLER_SECRET,
                token: None,
                region: "us-east-1",
                amz_date: None,
            }
        }

        /// The headers to add (`x-amz-date`, the token, `authorization`) to a request to `/`
        /// of `host` with `query` parameters, the other signed `headers` and `body`.
        fn sign(
            &self,
            method: &str,
            host: &str,
            query: &[(&str, &str)],
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> Vec<(String, String)> {
            let amz_date = self.amz_date.map_or_else(
                || {
                    jiff::Timestamp::now()
                        .strftime("%Y%m%dT%H%M%SZ")
                        .to_string()
                },
                str::to_owned,
            );
            let mut signed: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
                .collect();
            signed.push(("host".into(), host.into()));
            signed.push(("x-amz-date".into(), amz_date.clone()));
            if let Some(token) = self.token {
                signed.push(("x-amz-security-token".into(), token.into()));
            }
            signed.sort();
            let mut sorted: Vec<(&str, &str)> = query.to_vec();
            sorted.sort_by_key(|(name, value)| (encode(name, ""), encode(value, "")));
            let names: Vec<&str> = signed.iter().map(|(name, _)| name.as_str()).collect();
            let lines: String = signed.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
            let canonical = format!(
                "{method}\n/\n{}\n{lines}\n{}\n{}",
                join(&sorted, ""),
                names.join(";"),
                hex::encode(Sha256::digest(body))
            );
            let scope = format!("{}/{}/sts/aws4_request", &amz_date[..8], self.region);
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            let mut key = hmac(
                format!("AWS4{}", self.secret_key).as_bytes(),
                &amz_date[..8],
            );
            for part in [self.region, "sts", "aws4_request"] {
                key = hmac(&key, part);
            }
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={}",
                self.access_key,
                names.join(";"),
                hex::encode(hmac(&key, &to_sign))
            );
            signed.retain(|(name, _)| name != "host"); // ureq sends it.
            signed.push(("authorization".into(), authorization));
            signed
        }
    }

    fn host(server: &StsServer) -> String {
        server.endpoint().trim_start_matches("http://").to_owned()
    }

    /// A signed `GET /?...`, its query sent in the order given with `:` and `/` unencoded.
    fn signed_get(
        server: &StsServer,
        signer: &Signer<'_>,
        parameters: &[(&str, &str)],
    ) -> (u16, String) {
        let headers = signer.sign("GET", &host(server), parameters, &[], b"");
        let url = format!("{}/?{}", server.endpoint(), join(parameters, ":/"));
        let mut request = agent().get(url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        read(request.call())
    }

    /// A signed form `POST /`, with `x-amz-content-sha256` signed or not.
    fn signed_post(
        server: &StsServer,
        signer: &Signer<'_>,
        parameters: &[(&str, &str)],
        content_sha256: bool,
    ) -> (u16, String) {
        let body = join(parameters, "");
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let mut signed = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if content_sha256 {
            signed.push(("X-Amz-Content-Sha256", hash.as_str()));
        }
        let headers = signer.sign("POST", &host(server), &[], &signed, body.as_bytes());
        let mut request = agent()
            .post(format!("{}/", server.endpoint()))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (name, value) in headers.iter().filter(|(n, _)| n != "content-type") {
            request = request.header(name, value);
        }
        read(request.send(body))
    }

    fn assume(session: &str) -> Parameters {
        vec![
            ("Action", "AssumeRole".to_owned()),
            ("Version", STS_VERSION.to_owned()),
            ("RoleArn", ROLE_ARN.to_owned()),
            ("RoleSessionName", session.to_owned()),
        ]
    }

    fn borrowed<'a>(parameters: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        parameters
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }

    #[test]
    fn assume_role_signed_get_and_post_then_chained() {
        let hour = Duration::from_secs(3600);
        let server = server(vec![creds(1, hour), creds(2, hour), creds(3, hour)]);
        let caller = Signer::caller();

        // GET, parameters out of order, with a duration and an external id.
        let mut parameters = assume("get-session");
        parameters.insert(0, ("DurationSeconds", "900".into()));
        parameters.push(("ExternalId", "any id: fine".replace(' ', "_")));
        let (status, body) = signed_get(&server, &caller, &borrowed(&parameters));
        assert_eq!(status, 200, "{body}");
        assert!(
            body.starts_with(&format!("<AssumeRoleResponse xmlns=\"{STS_NAMESPACE}\">")),
            "{body}"
        );
        assert_eq!(element(&body, "AccessKeyId"), Some("ASIA1"));
        assert_eq!(element(&body, "SecretAccessKey"), Some("secret/1"));
        assert_eq!(element(&body, "SessionToken"), Some("token+1"));
        let expiration: jiff::Timestamp = element(&body, "Expiration")
            .expect("Expiration")
            .parse()
            .expect("RFC 3339");
        let left = expiration.as_second() - jiff::Timestamp::now().as_second();
        assert!((3598..=3600).contains(&left), "{left}");
        assert_eq!(
            element(&body, "Arn"),
            Some("arn:aws:sts::000000000000:assumed-role/s3mt-sts-test/get-session")
        );
        let role_id = element(&body, "AssumedRoleId").expect("AssumedRoleId");
        assert!(role_id.starts_with("AROA") && role_id.ends_with(":get-session"));
        assert!(element(&body, "RequestId").is_some(), "{body}");

        // POST, without and with x-amz-content-sha256.
        let parameters = assume("post-session");
        let (status, body) = signed_post(&server, &caller, &borrowed(&parameters), false);
        assert_eq!(
            (status, element(&body, "AccessKeyId")),
            (200, Some("ASIA2"))
        );
        let (status, body) = signed_post(&server, &caller, &borrowed(&parameters), true);
        assert_eq!(
            (status, element(&body, "AccessKeyId")),
            (200, Some("ASIA3"))
        );

        // Chained: credentials the server served sign, with their token; the last set repeats.
        let chained = Signer {
            access_key: "ASIA1",
            secret_key: "secret/1",
            token: Some("token+1"),
            region: "eu-west-3",
            amz_date: None,
        };
        let (status, body) = signed_post(&server, &chained, &borrowed(&assume("chain")), true);
        assert_eq!(
            (status, element(&body, "AccessKeyId")),
            (200, Some("ASIA3"))
        );
        assert_eq!(server.credentials_served(), 4);

        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        let first = &requests[0];
        assert_eq!(
            (first.method.as_str(), first.path.as_str(), first.status),
            ("GET", "/", 200)
        );
        assert_eq!(first.action.as_deref(), Some("AssumeRole"));
        assert_eq!(first.access_key.as_deref(), Some(CALLER_KEY));
        assert_eq!(first.region.as_deref(), Some("us-east-1"));
        assert_eq!(first.session_token, None);
        assert_eq!(first.role_arn.as_deref(), Some(ROLE_ARN));
        assert_eq!(first.role_session_name.as_deref(), Some("get-session"));
        assert_eq!(first.duration_seconds.as_deref(), Some("900"));
        assert_eq!(first.external_id.as_deref(), Some("any_id:_fine"));
        assert_eq!(first.error_code, None);
        assert_eq!(requests[1].method, "POST");
        assert_eq!(requests[1].header("x-amz-content-sha256"), None);
        assert!(requests[2].header("x-amz-content-sha256").is_some());
        assert_eq!(requests[3].access_key.as_deref(), Some("ASIA1"));
        assert_eq!(requests[3].region.as_deref(), Some("eu-west-3"));
        assert_eq!(requests[3].session_token.as_deref(), Some("token+1"));
        assert_eq!(requests[3].role_session_name.as_deref(), Some("chain"));
    }

    #[test]
    fn bad_signatures_and_unknown_keys_are_refused() {
        let server = server(vec![creds(1, Duration::from_secs(60))]);
        let parameters = assume("session");
        let parameters = borrowed(&parameters);
        let refused = |signer: &Signer<'_>| {
            let (status, body) = signed_post(&server, signer, &parameters, false);
            (status, element(&body, "Code").unwrap_or(&body).to_owned())
        };
        let wrong_secret = Signer {
            secret_key: "not the secret",
            ..Signer::caller()
        };
        assert_eq!(
            refused(&wrong_secret),
            (403, "SignatureDoesNotMatch".into())
        );
        let unknown = Signer {
            access_key: "AKIDUNKNOWN",
            ..Signer::caller()
        };
        assert_eq!(refused(&unknown), (403, "InvalidClientTokenId".into()));
        let stale = Signer {
            amz_date: Some("20150830T123600Z"),
            ..Signer::caller()
        };
        assert_eq!(refused(&stale), (403, "SignatureDoesNotMatch".into()));

        // A parameter changed after signing.
        let headers = Signer::caller().sign("GET", &host(&server), &parameters, &[], b"");
        let tampered = join(&parameters, "").replace("session", "sessiom");
        let mut request = agent().get(format!("{}/?{tampered}", server.endpoint()));
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let (status, body) = read(request.call());
        assert_eq!(
            (status, element(&body, "Code")),
            (403, Some("SignatureDoesNotMatch"))
        );
        assert_eq!(element(&body, "Type"), Some("Sender"));
        assert!(body.starts_with(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
        ));

        // Unsigned.
        let url = format!("{}/?{}", server.endpoint(), join(&parameters, ""));
        let (status, body) = read(agent().get(&url).call());
        assert_eq!(
            (status, element(&body, "Code")),
            (403, Some("MissingAuthenticationToken"))
        );
        assert_eq!(server.credentials_served(), 0);

        // Served credentials sign only with their token.
        let (status, _) = signed_post(&server, &Signer::caller(), &parameters, false);
        assert_eq!(status, 200);
        for token in [None, Some("token+2")] {
            let served = Signer {
                access_key: "ASIA1",
                secret_key: "secret/1",
                token,
                ..Signer::caller()
            };
            assert_eq!(
                refused(&served),
                (403, "InvalidClientTokenId".into()),
                "{token:?}"
            );
        }
        let requests = server.requests();
        let codes: Vec<Option<&str>> = requests.iter().map(|r| r.error_code.as_deref()).collect();
        let expected = [
            Some("SignatureDoesNotMatch"),
            Some("InvalidClientTokenId"),
            Some("SignatureDoesNotMatch"),
            Some("SignatureDoesNotMatch"),
            Some("MissingAuthenticationToken"),
            None,
            Some("InvalidClientTokenId"),
            Some("InvalidClientTokenId"),
        ];
        assert_eq!(codes, expected);
        assert_eq!(requests[1].access_key.as_deref(), Some("AKIDUNKNOWN"));
        assert_eq!(requests[4].access_key, None);
        assert_eq!(requests[7].session_token.as_deref(), Some("token+2"));
    }

    #[test]
    fn served_credentials_expire_as_signers() {
        let server = server(vec![creds(1, Duration::from_secs(1))]);
        let parameters = assume("session");
        let parameters = borrowed(&parameters);
        assert_eq!(
            signed_post(&server, &Signer::caller(), &parameters, false).0,
            200
        );
        let served = Signer {
            access_key: "ASIA1",
            secret_key: "secret/1",
            token: Some("token+1"),
            ..Signer::caller()
        };
        assert_eq!(signed_post(&server, &served, &parameters, false).0, 200);
        thread::sleep(Duration::from_millis(1100));
        let (status, body) = signed_post(&server, &served, &parameters, false);
        assert_eq!(
            (status, element(&body, "Code")),
            (400, Some("ExpiredToken"))
        );
    }

    #[test]
    fn assume_role_validates_parameters_and_trust() {
        let server = server(vec![creds(1, Duration::from_secs(60))]);
        let outcome = |edit: &dyn Fn(&mut Parameters)| {
            let mut parameters = assume("session");
            edit(&mut parameters);
            let (status, body) =
                signed_post(&server, &Signer::caller(), &borrowed(&parameters), false);
            (status, element(&body, "Code").map(str::to_owned))
        };
        let validation = (400, Some("ValidationError".to_owned()));
        assert_eq!(outcome(&|p| p.retain(|(n, _)| *n != "RoleArn")), validation);
        assert_eq!(
            outcome(&|p| p.retain(|(n, _)| *n != "RoleSessionName")),
            validation
        );
        assert_eq!(outcome(&|p| p[3].1 = "has space".into()), validation);
        for duration in ["899", "43201", "x"] {
            let edit = |p: &mut Parameters| {
                p.push(("DurationSeconds", duration.into()));
            };
            assert_eq!(outcome(&edit), validation, "{duration}");
        }
        for duration in ["900", "43200"] {
            let edit = |p: &mut Parameters| {
                p.push(("DurationSeconds", duration.into()));
            };
            assert_eq!(outcome(&edit).0, 200, "{duration}");
        }
        let denied = (403, Some("AccessDenied".to_owned()));
        let other = "arn:aws:iam::000000000000:role/other";
        assert_eq!(outcome(&|p| p[2].1 = other.into()), denied);
        let external = "arn:aws:iam::111122223333:role/path/external";
        assert_eq!(outcome(&|p| p[2].1 = external.into()), denied);
        let with_id = |id: &'static str| {
            move |p: &mut Parameters| {
                p[2].1 = external.into();
                p.push(("ExternalId", id.into()));
            }
        };
        assert_eq!(outcome(&with_id("ext-2")), denied);
        let (status, _) = outcome(&with_id("ext-1"));
        assert_eq!(status, 200);
        let last = server.requests().pop().expect("a request");
        assert_eq!(last.external_id.as_deref(), Some("ext-1"));

        let (status, body) = {
            let mut parameters = assume("session");
            parameters[2].1 = external.into();
            parameters.push(("ExternalId", "ext-1".into()));
            signed_get(&server, &Signer::caller(), &borrowed(&parameters))
        };
        assert_eq!(status, 200);
        assert_eq!(
            element(&body, "Arn"),
            Some("arn:aws:sts::111122223333:assumed-role/external/session")
        );

        let (status, body) = signed_post(
            &server,
            &Signer::caller(),
            &[("Action", "GetCallerIdentity"), ("Version", STS_VERSION)],
            false,
        );
        assert_eq!(
            (status, element(&body, "Code")),
            (400, Some("InvalidAction"))
        );
        let (status, body) = signed_post(
            &server,
            &Signer::caller(),
            &[("Action", "AssumeRole"), ("Version", "2010-05-08")],
            false,
        );
        assert_eq!(
            (status, element(&body, "Code")),
            (400, Some("InvalidAction"))
        );
    }

    /// An unsigned web identity request, as a form POST or a GET.
    fn web_identity(server: &StsServer, token: &str, post: bool) -> (u16, String) {
        let parameters = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", STS_VERSION),
            ("RoleArn", ROLE_ARN),
            ("RoleSessionName", "web"),
            ("WebIdentityToken", token),
            ("DurationSeconds", "3600"),
        ];
        if post {
            read(
                agent()
                    .post(format!("{}/", server.endpoint()))
                    .header(
                        "Content-Type",
                        "application/x-www-form-urlencoded; charset=utf-8",
                    )
                    .send(join(&parameters, "")),
            )
        } else {
            read(
                agent()
                    .get(format!("{}/?{}", server.endpoint(), join(&parameters, "")))
                    .call(),
            )
        }
    }

    #[test]
    fn web_identity_tokens_are_checked_and_can_change() {
        let server = server(vec![creds(1, Duration::from_secs(60))]);
        let (status, body) = web_identity(&server, "web-token-1", true);
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with(&format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"{STS_NAMESPACE}\">\
             <AssumeRoleWithWebIdentityResult><Credentials>"
        )));
        assert_eq!(element(&body, "AccessKeyId"), Some("ASIA1"));
        assert_eq!(element(&body, "SessionToken"), Some("token+1"));
        assert_eq!(
            element(&body, "SubjectFromWebIdentityToken"),
            Some(WEB_IDENTITY_SUBJECT)
        );
        assert_eq!(
            element(&body, "Arn"),
            Some("arn:aws:sts::000000000000:assumed-role/s3mt-sts-test/web")
        );

        let invalid = (400, Some("InvalidIdentityToken"));
        let (status, body) = web_identity(&server, "web-token-2", false);
        assert_eq!((status, element(&body, "Code")), invalid);
        server.accept_web_identity_token("web-token-2");
        server.refuse_web_identity_token("web-token-1");
        assert_eq!(web_identity(&server, "web-token-2", false).0, 200);
        let (status, body) = web_identity(&server, "web-token-1", true);
        assert_eq!((status, element(&body, "Code")), invalid);
        assert_eq!(server.credentials_served(), 2);

        let requests = server.requests();
        assert_eq!(
            requests[0].web_identity_token.as_deref(),
            Some("web-token-1")
        );
        assert_eq!(
            requests[0].action.as_deref(),
            Some("AssumeRoleWithWebIdentity")
        );
        assert_eq!(requests[0].duration_seconds.as_deref(), Some("3600"));
        assert_eq!(requests[0].access_key, None);
        assert_eq!(requests[1].method, "GET");
        assert_eq!(
            requests[1].error_code.as_deref(),
            Some("InvalidIdentityToken")
        );
        assert!(!format!("{:?}", requests[0]).contains("web-token-1"));
    }

    fn role_credentials(
        server: &StsServer,
        token: Option<&str>,
        role: &str,
        account: &str,
    ) -> (u16, String) {
        let url = format!(
            "{}{SSO_CREDENTIALS_PATH}?role_name={role}&account_id={account}",
            server.endpoint()
        );
        let mut request = agent().get(url);
        if let Some(token) = token {
            request = request.header(SSO_TOKEN_HEADER, token);
        }
        read(request.call())
    }

    #[test]
    fn sso_portal_serves_known_tokens_and_roles() {
        let server = server(vec![creds(1, Duration::from_secs(900))]);
        let before = jiff::Timestamp::now();
        let (status, body) =
            role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let credentials = &json["roleCredentials"];
        assert_eq!(credentials["accessKeyId"], "ASIA1");
        assert_eq!(credentials["secretAccessKey"], "secret/1");
        assert_eq!(credentials["sessionToken"], "token+1");
        let millis = credentials["expiration"].as_i64().expect("a number");
        assert_eq!(millis % 1000, 0);
        let earliest = (before.as_second() + 900 - 1) * 1000;
        assert!((earliest..=earliest + 5000).contains(&millis), "{millis}");

        let unauthorized = r#"{"message":"Session token not found or invalid","__type":"com.amazonaws.switchboard.portal#UnauthorizedException"}"#;
        for token in [Some("sso-token-2"), None] {
            let outcome = role_credentials(&server, token, SSO_ROLE_NAME, SSO_ACCOUNT_ID);
            assert_eq!(outcome, (401, unauthorized.to_owned()), "{token:?}");
        }
        let (status, body) =
            role_credentials(&server, Some("sso-token-1"), "other", SSO_ACCOUNT_ID);
        assert_eq!(status, 403);
        assert!(body.contains("#ForbiddenException"), "{body}");
        let (status, _) = role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, "1");
        assert_eq!(status, 403);

        server.accept_sso_token("sso-token-2");
        server.revoke_sso_token("sso-token-1");
        let (status, _) =
            role_credentials(&server, Some("sso-token-2"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
        assert_eq!(status, 200);
        let (status, _) =
            role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
        assert_eq!(status, 401);
        assert_eq!(server.credentials_served(), 2);

        let requests = server.requests();
        assert_eq!(requests[0].path, SSO_CREDENTIALS_PATH);
        assert_eq!(requests[0].sso_bearer_token.as_deref(), Some("sso-token-1"));
        assert_eq!(requests[0].role_name.as_deref(), Some(SSO_ROLE_NAME));
        assert_eq!(requests[0].account_id.as_deref(), Some(SSO_ACCOUNT_ID));
        assert_eq!(requests[0].action, None);
        assert_eq!(
            requests[1].error_code.as_deref(),
            Some("UnauthorizedException")
        );
        assert_eq!(
            requests[3].error_code.as_deref(),
            Some("ForbiddenException")
        );
        let debug = format!("{requests:?}");
        assert!(!debug.contains("sso-token-1"), "{debug}");
    }

    #[test]
    fn fail_next_answers_500_then_recovers() {
        let server = server(vec![
            creds(1, Duration::from_secs(60)),
            creds(2, Duration::from_secs(60)),
        ]);
        server.fail_next(2);
        let (status, body) = web_identity(&server, "web-token-1", true);
        assert_eq!(
            (status, element(&body, "Code")),
            (500, Some("InternalError"))
        );
        assert_eq!(element(&body, "Type"), Some("Receiver"));
        let (status, body) =
            role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
        assert_eq!(status, 500);
        assert!(body.contains("#InternalError"), "{body}");
        let (status, body) = web_identity(&server, "web-token-1", true);
        assert_eq!(status, 200);
        assert_eq!(
            element(&body, "AccessKeyId"),
            Some("ASIA1"),
            "failures serve nothing"
        );
        assert_eq!(server.credentials_served(), 1);
        let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500, 200]);
    }

    #[test]
    fn other_paths_and_methods() {
        let server = server(vec![creds(1, Duration::from_secs(60))]);
        let (status, body) = read(agent().get(format!("{}/other", server.endpoint())).call());
        assert_eq!((status, element(&body, "Code")), (404, Some("NotFound")));
        let (status, body) = read(
            agent()
                .get(format!("{}/?Version=2011-06-15", server.endpoint()))
                .call(),
        );
        assert_eq!(
            (status, element(&body, "Code")),
            (400, Some("MissingAction"))
        );
        let (status, _) = read(agent().put(format!("{}/", server.endpoint())).send_empty());
        assert_eq!(status, 405);
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn debug_output_keeps_secrets_out() {
        let config = StsConfig {
            callers: vec![(CALLER_KEY.into(), CALLER_SECRET.into())],
            web_identity_tokens: vec!["web-secret".into()],
            sso_tokens: vec!["sso-secret".into()],
            issued: vec![creds(1, Duration::from_secs(60))],
            ..StsConfig::default()
        };
        let debug = format!("{config:?}");
        for secret in [
            CALLER_SECRET,
            "web-secret",
            "sso-secret",
            "secret/1",
            "token+1",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains(CALLER_KEY), "{debug}");
        let server = StsServer::start(config).expect("start");
        assert!(format!("{server:?}").contains(&server.endpoint()));
        let signer = Signer {
            token: Some("session-secret"),
            ..Signer::caller()
        };
        signed_post(&server, &signer, &borrowed(&assume("session")), false);
        let debug = format!("{:?}", server.requests());
        assert!(!debug.contains("session-secret"), "{debug}");
        assert!(debug.contains("x-amz-security-token"), "{debug}");
    }

    #[test]
    fn start_needs_credentials_and_drop_stops() {
        let empty = StsServer::start(StsConfig::default()).expect_err("no credentials");
        assert_eq!(empty.kind(), io::ErrorKind::InvalidInput);
        let server = server(vec![creds(1, Duration::from_secs(60))]);
        let port = server.shared.port;
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    /// AWS's published SigV4 example: IAM `ListUsers` ("Create a signed AWS API request").
    #[test]
    fn verifier_checks_aws_published_example() {
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
            ("host".to_owned(), "iam.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ];
        let request = Signable {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            payload: b"",
        };
        let authorization = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .expect("parses");
        assert_eq!(authorization.access_key, "AKIDEXAMPLE");
        assert_eq!(authorization.service, "iam");
        let canonical = canonical_request(&request, &authorization.signed_headers);
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            hex::encode(signing_key(secret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            expected_signature(&request, &authorization, "20150830T123600Z", secret),
            authorization.signature
        );
        // The same request with its query in another order and looser encoding.
        let reordered = Signable {
            query: "Version=2010%2D05%2D08&Action=ListUsers",
            ..request
        };
        assert_eq!(
            expected_signature(&reordered, &authorization, "20150830T123600Z", secret),
            authorization.signature
        );
        let other_secret = expected_signature(&request, &authorization, "20150830T123600Z", "x");
        assert_ne!(other_secret, authorization.signature);
    }

    #[test]
    fn authorization_headers_parse_strictly() {
        for bad in [
            "AWS AKID:signature",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
        ] {
            assert_eq!(Authorization::parse(bad), None, "{bad}");
        }
        assert_eq!(
            parse_amz_date("20150830T123600Z").map(|t| t.as_second()),
            Some(1_440_938_160)
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(canonical_query("b=2&a=x+y&a=1&c"), "a=1&a=x%20y&b=2&c=");
        assert_eq!(canonical_path("/a b/%7Ec"), "/a%20b/~c");
    }
}
