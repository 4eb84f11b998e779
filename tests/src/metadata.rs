//! A loopback server playing the AWS credential endpoints: the ECS/container credentials
//! endpoint and EC2 instance metadata (IMDSv2).
//!
//! [`MetadataServer::start`] listens on a free 127.0.0.1 port and hands out the
//! [`IssuedCredentials`] it was given, one document after the other, each with an `Expiration`
//! counted from the moment it is served: tests check that s3mt fetches credentials there and
//! refreshes them before they expire. Every request is recorded ([`MetadataServer::requests`]),
//! and [`MetadataServer::fail_next`] makes the next requests fail with 500.
//!
//! The HTTP is minimal (the shared `loopback` skeleton): one request per connection
//! (`Connection: close`), a body announced by `Content-Length` is read and ignored, chunked
//! request bodies are refused with 411.

use std::fmt;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::loopback::{Handler, Loopback, Request, Response, json_escape};
use crate::proxy::{find_header, lock};
use crate::server::S3Server;

/// The role name IMDS lists under `/latest/meta-data/iam/security-credentials/`.
pub const IMDS_ROLE: &str = "s3mt-test-role";
/// The `RoleArn` of container credential documents.
pub const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/s3mt-test";
/// The IMDSv2 path that issues session tokens (`PUT`).
pub const IMDS_TOKEN_PATH: &str = "/latest/api/token";
/// The IMDS path listing the instance's role (`GET`, with or without the trailing slash).
pub const IMDS_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The request header carrying the requested IMDSv2 session token lifetime, in seconds.
pub const IMDS_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The request header carrying an IMDSv2 session token.
pub const IMDS_TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// Longest IMDSv2 session token lifetime accepted, in seconds (6 hours, as EC2).
const MAX_TTL_SECONDS: u64 = 21_600;

/// One set of credentials to hand out, with how long it stays valid once served.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    /// `AccessKeyId`.
    pub access_key: String,
    /// `SecretAccessKey`.
    pub secret_key: String,
    /// `Token` (the session token); the field is left out of the document when `None`.
    pub token: Option<String>,
    /// `Expiration` is the moment the document is served plus this (whole seconds: the
    /// timestamp is truncated to the second).
    pub expires_in: Duration,
}

impl IssuedCredentials {
    /// Credentials without a session token, valid for `expires_in` once served.
    pub fn new(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        expires_in: Duration,
    ) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            token: None,
            expires_in,
        }
    }

    /// The spare identity `index` of `server` (see [`S3Server::spare_credentials`]), with the
    /// session token `token` if any, valid for `expires_in` once served: credentials the S3
    /// server accepts, as a credential service would hand them out.
    pub fn spare(
        server: &S3Server,
        index: usize,
        token: Option<&str>,
        expires_in: Duration,
    ) -> Self {
        let (access_key, secret_key) = server.spare_credentials(index);
        Self {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            token: token.map(str::to_owned),
            expires_in,
        }
    }

    /// The same credentials with the session token `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Their expiration if served now: now plus `expires_in`, to the second.
    pub(crate) fn expiration_if_served_now(&self) -> jiff::Timestamp {
        whole_seconds_from_now(self.expires_in)
    }
}

impl fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Which credential endpoint the server plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// The ECS/container endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): `GET {path}` answers
    /// a credential document, any other path 404.
    Container {
        /// The path serving credentials, e.g. `/creds`.
        path: String,
        /// When set, requests must carry `Authorization` with exactly this value (as
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN` makes SDKs send), or get 401.
        authorization: Option<String>,
    },
    /// EC2 instance metadata, IMDSv2 only: `PUT /latest/api/token` with
    /// `X-aws-ec2-metadata-token-ttl-seconds` (1..=21600, else 400) issues a session token
    /// `imds-session-<n>` valid for that many seconds; `GET`s must carry a live one in
    /// `X-aws-ec2-metadata-token` (else 401). `GET .../security-credentials/` answers the
    /// role [`IMDS_ROLE`], `GET .../security-credentials/s3mt-test-role` a credential document,
    /// any other path 404.
    Imds,
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// The method, e.g. `PUT`.
    pub method: String,
    /// The path of the request target (without the query, if any).
    pub path: String,
    /// Every header in order, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The status the server answered with (400 for a request it could not parse).
    pub status: u16,
}

impl MetadataRequest {
    /// The value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A running credential endpoint on 127.0.0.1. Dropping it stops it: the listener thread ends
/// within a few milliseconds, a connection being served within 2 s (its I/O timeout).
pub struct MetadataServer {
    loopback: Loopback<Shared>,
}

impl fmt::Debug for MetadataServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataServer")
            .field("endpoint", &self.endpoint())
            .field("flavor", &self.shared().flavor)
            .field("credentials_served", &self.credentials_served())
            .finish_non_exhaustive()
    }
}

impl MetadataServer {
    /// Starts a server of `flavor` on a free loopback port. The k-th credential document it
    /// serves (from 0) holds `issued[min(k, issued.len() - 1)]`.
    ///
    /// # Errors
    /// When `issued` is empty, or no port can be bound.
    pub fn start(flavor: Flavor, issued: Vec<IssuedCredentials>) -> io::Result<Self> {
        if issued.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a metadata server needs at least one set of credentials to issue",
            ));
        }
        let loopback = Loopback::start("metadata", |_port| Shared {
            flavor,
            issued,
            state: Mutex::new(State::default()),
        })?;
        Ok(Self { loopback })
    }

    /// The server's address: `http://127.0.0.1:PORT` (for `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        self.loopback.endpoint()
    }

    /// The full URL of the credential document: `endpoint` + the container path (for
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`), or + the IMDS role's credentials path.
    pub fn credentials_url(&self) -> String {
        match &self.shared().flavor {
            Flavor::Container { path, .. } => format!("{}{path}", self.endpoint()),
            Flavor::Imds => format!("{}{IMDS_CREDENTIALS_PATH}{IMDS_ROLE}", self.endpoint()),
        }
    }

    /// How many credential documents were served (with status 200) so far.
    pub fn credentials_served(&self) -> usize {
        lock(&self.shared().state).served
    }

    /// Every request received so far, in arrival order. A request is recorded before it is
    /// answered, so a client that got its response finds it here.
    pub fn requests(&self) -> Vec<MetadataRequest> {
        lock(&self.shared().state).requests.clone()
    }

    /// Makes the next `n` requests, of any kind, fail with 500 (on top of failures still
    /// pending), e.g. to check that still-valid credentials are kept when a refresh fails.
    pub fn fail_next(&self, n: usize) {
        lock(&self.shared().state).fail_next += n;
    }

    fn shared(&self) -> &Shared {
        self.loopback.handler()
    }
}

/// What the handle and the connection threads share: the script and what was done of it.
struct Shared {
    flavor: Flavor,
    issued: Vec<IssuedCredentials>,
    state: Mutex<State>,
}

/// What the server has done so far.
#[derive(Default)]
struct State {
    /// Credential documents served.
    served: usize,
    /// Requests still to fail with 500.
    fail_next: usize,
    /// IMDSv2 session tokens issued, with their expiry.
    sessions: Vec<(String, Instant)>,
    requests: Vec<MetadataRequest>,
}

impl Handler for Shared {
    /// The response to `request`, recorded (with the credential document counted) before it
    /// is returned.
    fn respond(&self, request: &Request) -> Response {
        let mut state = lock(&self.state);
        let response = if state.fail_next > 0 {
            state.fail_next -= 1;
            Response::json(500, error_json("InternalError", "injected failure"))
        } else {
            match &self.flavor {
                Flavor::Container {
                    path,
                    authorization,
                } => self.container(&mut state, request, path, authorization.as_deref()),
                Flavor::Imds => self.imds(&mut state, request),
            }
        };
        state.record(request, response.status);
        response
    }

    fn refused(&self, request: &Request, status: u16) {
        lock(&self.state).record(request, status);
    }
}

impl Shared {
    fn container(
        &self,
        state: &mut State,
        request: &Request,
        path: &str,
        authorization: Option<&str>,
    ) -> Response {
        if request.path != path {
            return Response::json(404, error_json("NotFound", "no such path"));
        }
        if request.method != "GET" {
            return Response::json(405, error_json("MethodNotAllowed", "GET only"));
        }
        if authorization.is_some_and(|wanted| request.header("authorization") != Some(wanted)) {
            return Response::json(401, error_json("Unauthorized", "bad token"));
        }
        let credentials = self.next_credentials(state);
        let mut fields = credential_fields(credentials);
        fields.push(("RoleArn", ROLE_ARN.to_owned()));
        Response::json(200, json_object(&fields))
    }

    fn imds(&self, state: &mut State, request: &Request) -> Response {
        let path = request.path.as_str();
        if path == IMDS_TOKEN_PATH {
            if request.method != "PUT" {
                return Response::text(405, "method not allowed");
            }
            return state.new_session(request.header(IMDS_TTL_HEADER));
        }
        let role_path = format!("{IMDS_CREDENTIALS_PATH}{IMDS_ROLE}");
        let listing =
            path == IMDS_CREDENTIALS_PATH || path == IMDS_CREDENTIALS_PATH.trim_end_matches('/');
        if !listing && path != role_path {
            return Response::text(404, "not found");
        }
        if request.method != "GET" {
            return Response::text(405, "method not allowed");
        }
        if !state.session_is_live(request.header(IMDS_TOKEN_HEADER)) {
            return Response::text(401, "unauthorized");
        }
        if listing {
            return Response::text(200, IMDS_ROLE);
        }
        let credentials = self.next_credentials(state);
        let mut fields = vec![
            ("Code", "Success".to_owned()),
            (
                "LastUpdated",
                whole_seconds_from_now(Duration::ZERO).to_string(),
            ),
            ("Type", "AWS-HMAC".to_owned()),
        ];
        fields.extend(credential_fields(credentials));
        Response::json(200, json_object(&fields))
    }

    /// The credentials of the next document, counted as served.
    fn next_credentials(&self, state: &mut State) -> &IssuedCredentials {
        let index = state.served.min(self.issued.len() - 1);
        state.served += 1;
        &self.issued[index]
    }
}

impl State {
    fn record(&mut self, request: &Request, status: u16) {
        self.requests.push(MetadataRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            status,
        });
    }

    /// Issues an IMDSv2 session token valid for `ttl` seconds (400 without a valid `ttl`).
    fn new_session(&mut self, ttl: Option<&str>) -> Response {
        let Some(seconds) = ttl
            .and_then(|ttl| ttl.trim().parse::<u64>().ok())
            .filter(|seconds| (1..=MAX_TTL_SECONDS).contains(seconds))
        else {
            return Response::text(400, "missing or invalid token TTL");
        };
        let token = format!("imds-session-{}", self.sessions.len() + 1);
        let expiry = Instant::now() + Duration::from_secs(seconds);
        self.sessions.push((token.clone(), expiry));
        Response::text(200, &token)
            .with_header("X-aws-ec2-metadata-token-ttl-seconds", seconds.to_string())
    }

    /// Whether `token` is a session token issued and not expired.
    fn session_is_live(&self, token: Option<&str>) -> bool {
        let now = Instant::now();
        token.is_some_and(|token| {
            self.sessions
                .iter()
                .any(|(issued, expiry)| issued == token && now < *expiry)
        })
    }
}

/// The credential fields common to both flavors, `Token` left out when there is none.
fn credential_fields(credentials: &IssuedCredentials) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("AccessKeyId", credentials.access_key.clone()),
        ("SecretAccessKey", credentials.secret_key.clone()),
    ];
    if let Some(token) = &credentials.token {
        fields.push(("Token", token.clone()));
    }
    fields.push((
        "Expiration",
        credentials.expiration_if_served_now().to_string(),
    ));
    fields
}

/// Now plus `delay`, truncated to the second: SDKs parse fractions, but the documented formats
/// (`2026-11-21T20:45:07Z`, or milliseconds since the epoch) have none.
fn whole_seconds_from_now(delay: Duration) -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    let later = jiff::SignedDuration::try_from(delay)
        .ok()
        .and_then(|delay| now.checked_add(delay).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    jiff::Timestamp::from_second(later.as_second()).unwrap_or(later)
}

/// A flat JSON object of string fields, in order.
fn json_object(fields: &[(&str, String)]) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{}\":\"{}\"", json_escape(name), json_escape(value)))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The error document of the container endpoint (also used for injected failures).
fn error_json(code: &str, message: &str) -> String {
    json_object(&[("code", code.to_owned()), ("message", message.to_owned())])
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::thread;

    use super::*;
    use crate::loopback::client::{agent, read};

    /// The string value of `"name":"..."` in a flat JSON object.
    fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
        let (_, rest) = json.split_once(&format!("\"{name}\":\""))?;
        Some(&rest[..rest.find('"')?])
    }

    fn creds(n: usize, expires_in: Duration) -> IssuedCredentials {
        IssuedCredentials::new(format!("AKID{n}"), format!("secret{n}"), expires_in)
            .with_token(format!("token{n}"))
    }

    fn container(authorization: Option<&str>, issued: Vec<IssuedCredentials>) -> MetadataServer {
        let flavor = Flavor::Container {
            path: "/creds".into(),
            authorization: authorization.map(str::to_owned),
        };
        MetadataServer::start(flavor, issued).expect("start")
    }

    #[test]
    fn imds_token_flow() {
        let server = MetadataServer::start(Flavor::Imds, vec![creds(1, Duration::from_secs(900))])
            .expect("start");
        let agent = agent();
        let base = server.endpoint();

        let (status, _) = read(agent.put(format!("{base}{IMDS_TOKEN_PATH}")).send_empty());
        assert_eq!(status, 400, "PUT without TTL");
        let response = agent
            .put(format!("{base}{IMDS_TOKEN_PATH}"))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            .send_empty()
            .expect("PUT token");
        let ttl = response.headers().get(IMDS_TTL_HEADER).cloned();
        let (status, token) = read(Ok(response));
        assert_eq!((status, token.as_str()), (200, "imds-session-1"));
        assert_eq!(ttl.as_ref().and_then(|v| v.to_str().ok()), Some("21600"));

        let (status, _) = read(agent.get(format!("{base}{IMDS_CREDENTIALS_PATH}")).call());
        assert_eq!(status, 401, "GET without token");
        let (status, _) = read(
            agent
                .get(format!("{base}{IMDS_CREDENTIALS_PATH}"))
                .header("X-aws-ec2-metadata-token", "imds-session-9")
                .call(),
        );
        assert_eq!(status, 401, "GET with a token never issued");

        for path in [
            IMDS_CREDENTIALS_PATH,
            IMDS_CREDENTIALS_PATH.trim_end_matches('/'),
        ] {
            let (status, role) = read(
                agent
                    .get(format!("{base}{path}"))
                    .header("X-aws-ec2-metadata-token", &token)
                    .call(),
            );
            assert_eq!((status, role.as_str()), (200, IMDS_ROLE), "{path}");
        }
        assert_eq!(server.credentials_served(), 0);

        let (status, document) = read(
            agent
                .get(server.credentials_url())
                .header("X-aws-ec2-metadata-token", &token)
                .call(),
        );
        assert_eq!(status, 200, "{document}");
        assert_eq!(field(&document, "Code"), Some("Success"));
        assert_eq!(field(&document, "Type"), Some("AWS-HMAC"));
        assert_eq!(field(&document, "AccessKeyId"), Some("AKID1"));
        assert_eq!(field(&document, "SecretAccessKey"), Some("secret1"));
        assert_eq!(field(&document, "Token"), Some("token1"));
        assert!(field(&document, "LastUpdated").is_some_and(|t| t.ends_with('Z')));
        assert_eq!(server.credentials_served(), 1);

        let (status, _) = read(
            agent
                .get(format!("{base}/latest/meta-data/instance-id"))
                .header("X-aws-ec2-metadata-token", &token)
                .call(),
        );
        assert_eq!(status, 404);

        let statuses: Vec<(String, u16)> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.status))
            .collect();
        let expected = [
            ("PUT", 400),
            ("PUT", 200),
            ("GET", 401),
            ("GET", 401),
            ("GET", 200),
            ("GET", 200),
            ("GET", 200),
            ("GET", 404),
        ];
        let expected: Vec<(String, u16)> = expected
            .iter()
            .map(|(m, s)| ((*m).to_owned(), *s))
            .collect();
        assert_eq!(statuses, expected);
        let requests = server.requests();
        assert_eq!(requests[1].header(IMDS_TTL_HEADER), Some("21600"));
        assert_eq!(
            requests[4].header(IMDS_TOKEN_HEADER),
            Some("imds-session-1")
        );
    }

    #[test]
    fn imds_sessions_expire() {
        let server = MetadataServer::start(Flavor::Imds, vec![creds(1, Duration::from_secs(60))])
            .expect("start");
        let agent = agent();
        let (status, token) = read(
            agent
                .put(format!("{}{IMDS_TOKEN_PATH}", server.endpoint()))
                .header("X-aws-ec2-metadata-token-ttl-seconds", "1")
                .send_empty(),
        );
        assert_eq!(status, 200);
        let get = || {
            read(
                agent
                    .get(server.credentials_url())
                    .header("X-aws-ec2-metadata-token", &token)
                    .call(),
            )
            .0
        };
        assert_eq!(get(), 200);
        thread::sleep(Duration::from_millis(1100));
        assert_eq!(get(), 401);
        for bad in ["0", "21601", "x"] {
            let (status, _) = read(
                agent
                    .put(format!("{}{IMDS_TOKEN_PATH}", server.endpoint()))
                    .header("X-aws-ec2-metadata-token-ttl-seconds", bad)
                    .send_empty(),
            );
            assert_eq!(status, 400, "TTL {bad}");
        }
    }

    #[test]
    fn container_checks_the_authorization_header() {
        let server = container(
            Some("Bearer s3cr3t"),
            vec![creds(1, Duration::from_secs(60))],
        );
        let agent = agent();
        let url = server.credentials_url();
        assert_eq!(url, format!("{}/creds", server.endpoint()));

        let (status, body) = read(agent.get(&url).call());
        assert_eq!(status, 401);
        assert_eq!(body, r#"{"code":"Unauthorized","message":"bad token"}"#);
        let (status, _) = read(
            agent
                .get(&url)
                .header("Authorization", "Bearer other")
                .call(),
        );
        assert_eq!(status, 401);
        assert_eq!(server.credentials_served(), 0);

        let (status, document) = read(
            agent
                .get(&url)
                .header("Authorization", "Bearer s3cr3t")
                .call(),
        );
        assert_eq!(status, 200, "{document}");
        assert_eq!(field(&document, "AccessKeyId"), Some("AKID1"));
        assert_eq!(field(&document, "RoleArn"), Some(ROLE_ARN));
        assert_eq!(server.credentials_served(), 1);
        assert_eq!(
            server.requests()[2].header("authorization"),
            Some("Bearer s3cr3t")
        );

        let (status, _) = read(
            agent
                .get(format!("{}/other", server.endpoint()))
                .header("Authorization", "Bearer s3cr3t")
                .call(),
        );
        assert_eq!(status, 404);
    }

    #[test]
    fn container_serves_the_sequence_then_repeats_the_last() {
        // No token, and characters JSON must escape.
        let last = IssuedCredentials::new("AKID\"3", "secret\\3", Duration::from_secs(60));
        let server = container(
            None,
            vec![
                creds(1, Duration::from_secs(60)),
                creds(2, Duration::from_secs(60)),
                last,
            ],
        );
        let agent = agent();
        let mut keys = Vec::new();
        for _ in 0..5 {
            let (status, document) = read(agent.get(server.credentials_url()).call());
            assert_eq!(status, 200);
            keys.push(field(&document, "AccessKeyId").map(str::to_owned));
            if keys.len() >= 3 {
                assert!(!document.contains("\"Token\""), "{document}");
                assert!(
                    document.contains(r#""AccessKeyId":"AKID\"3""#),
                    "{document}"
                );
                assert!(
                    document.contains(r#""SecretAccessKey":"secret\\3""#),
                    "{document}"
                );
            }
        }
        // `field` stops at the escaped quote: the last key reads `AKID\`.
        let keys: Vec<_> = keys.iter().map(|key| key.as_deref()).collect();
        assert_eq!(
            keys,
            [
                Some("AKID1"),
                Some("AKID2"),
                Some("AKID\\"),
                Some("AKID\\"),
                Some("AKID\\")
            ]
        );
        assert_eq!(server.credentials_served(), 5);
    }

    #[test]
    fn fail_next_answers_500_then_recovers() {
        let server = container(
            None,
            vec![
                creds(1, Duration::from_secs(60)),
                creds(2, Duration::from_secs(60)),
            ],
        );
        let agent = agent();
        server.fail_next(2);
        assert_eq!(read(agent.get(server.credentials_url()).call()).0, 500);
        assert_eq!(
            read(agent.get(format!("{}/x", server.endpoint())).call()).0,
            500
        );
        let (status, document) = read(agent.get(server.credentials_url()).call());
        assert_eq!(status, 200);
        assert_eq!(
            field(&document, "AccessKeyId"),
            Some("AKID1"),
            "failures serve nothing"
        );
        assert_eq!(server.credentials_served(), 1);
        let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500, 200]);
    }

    #[test]
    fn expiration_is_served_at_plus_expires_in() {
        let server = container(None, vec![creds(1, Duration::from_secs(900))]);
        let before = jiff::Timestamp::now();
        let (status, document) = read(agent().get(server.credentials_url()).call());
        let after = jiff::Timestamp::now();
        assert_eq!(status, 200);
        let text = field(&document, "Expiration").expect("Expiration");
        assert_eq!(text.len(), "2026-11-21T20:45:07Z".len(), "{text}");
        assert!(text.ends_with('Z'), "{text}");
        let expiration: jiff::Timestamp = text.parse().expect("RFC 3339");
        let earliest = before.as_second() + 900 - 1;
        let latest = after.as_second() + 900;
        assert!(
            (earliest..=latest).contains(&expiration.as_second()),
            "{expiration} not about 900 s after {before}"
        );
    }

    #[test]
    fn drop_stops_the_server() {
        let server = container(None, vec![creds(1, Duration::from_secs(60))]);
        let address = server.endpoint().trim_start_matches("http://").to_owned();
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(TcpStream::connect(address).is_err());
    }
}
