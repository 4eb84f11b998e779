//! The server's tests, over HTTP: requests signed by a SigV4 signer of their own, the replies
//! read as clients read them, and the records and their redaction.

use std::io;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::loopback::client::{agent, read};

const CALLER_KEY: &str = "AKIDCALLER";

/// STS parameters a test builds, then edits.
type Parameters = Vec<(&'static str, String)>;
const CALLER_SECRET: &str = "caller/secret+key";

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
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b) {
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
    assert!(
        body.starts_with(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
        )
    );

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
        let (status, body) = signed_post(&server, &Signer::caller(), &borrowed(&parameters), false);
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
    let (status, body) = role_credentials(&server, Some("sso-token-1"), "other", SSO_ACCOUNT_ID);
    assert_eq!(status, 403);
    assert!(body.contains("#ForbiddenException"), "{body}");
    let (status, _) = role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, "1");
    assert_eq!(status, 403);

    server.accept_sso_token("sso-token-2");
    server.revoke_sso_token("sso-token-1");
    let (status, _) = role_credentials(&server, Some("sso-token-2"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
    assert_eq!(status, 200);
    let (status, _) = role_credentials(&server, Some("sso-token-1"), SSO_ROLE_NAME, SSO_ACCOUNT_ID);
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
    let address = host(&server);
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(TcpStream::connect(address).is_err());
}
