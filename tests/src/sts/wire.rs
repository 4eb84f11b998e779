//! The replies as the services write them: STS's XML documents (credentials, the assumed
//! role's user, errors with their fault) and the portal's JSON (credentials, errors).

use sha2::{Digest as _, Sha256};

use super::{STS_NAMESPACE, WEB_IDENTITY_AUDIENCE, WEB_IDENTITY_PROVIDER, WEB_IDENTITY_SUBJECT};
use crate::loopback::{Response, json_escape};
use crate::metadata::IssuedCredentials;

/// An error reply before it is written in its protocol's format (STS XML or portal JSON).
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// STS's 400 `ValidationError` for a parameter `field` that fails `constraint`.
    pub(super) fn invalid(field: &str, value: Option<&str>, constraint: &str) -> Self {
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

/// Credentials as served, with their expiration.
pub(super) struct Served<'a> {
    pub(super) credentials: &'a IssuedCredentials,
    pub(super) expiration: jiff::Timestamp,
}

/// The reply of `action`, `AssumeRole` or `AssumeRoleWithWebIdentity` (which names the token's
/// subject, provider and audience too): `served` for session `session` of `role_arn`.
pub(super) fn assumed_role_reply(
    action: &str,
    served: &Served<'_>,
    role_arn: &str,
    session: &str,
    request_id: &str,
) -> Response {
    let (subject, provider) = if action == "AssumeRoleWithWebIdentity" {
        (
            format!(
                "<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>",
                xml_escape(WEB_IDENTITY_SUBJECT)
            ),
            format!(
                "<Provider>{}</Provider><Audience>{}</Audience>",
                xml_escape(WEB_IDENTITY_PROVIDER),
                xml_escape(WEB_IDENTITY_AUDIENCE)
            ),
        )
    } else {
        (String::new(), String::new())
    };
    let body = format!(
        "<{action}Response xmlns=\"{STS_NAMESPACE}\"><{action}Result>{}{subject}{}{provider}\
         </{action}Result>{}</{action}Response>",
        credentials_xml(served),
        assumed_role_user_xml(role_arn, session),
        response_metadata(request_id),
    );
    Response::xml(200, body)
}

/// The portal's `GetRoleCredentials` reply: `served` as `roleCredentials`.
pub(super) fn role_credentials_reply(served: &Served<'_>) -> Response {
    let credentials = served.credentials;
    let mut members = vec![
        format!(
            "\"accessKeyId\":\"{}\"",
            json_escape(&credentials.access_key)
        ),
        format!(
            "\"secretAccessKey\":\"{}\"",
            json_escape(&credentials.secret_key)
        ),
    ];
    if let Some(token) = &credentials.token {
        members.push(format!("\"sessionToken\":\"{}\"", json_escape(token)));
    }
    // Milliseconds since the epoch, as the portal sends it (whole seconds, as STS's).
    let expiration = served.expiration.as_second().saturating_mul(1000);
    members.push(format!("\"expiration\":{expiration}"));
    let body = format!("{{\"roleCredentials\":{{{}}}}}", members.join(","));
    Response::json(200, body)
}

/// STS's `Credentials` element.
fn credentials_xml(served: &Served<'_>) -> String {
    let credentials = served.credentials;
    let token = credentials
        .token
        .as_deref()
        .map_or_else(String::new, |token| {
            format!("<SessionToken>{}</SessionToken>", xml_escape(token))
        });
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>{token}\
         <Expiration>{}</Expiration></Credentials>",
        xml_escape(&credentials.access_key),
        xml_escape(&credentials.secret_key),
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

/// STS's `ResponseMetadata` element.
fn response_metadata(request_id: &str) -> String {
    format!("<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
}

/// STS's error document: `Sender` faults below 500, `Receiver` ones from 500.
pub(super) fn sts_error(refusal: &Refusal, request_id: &str) -> Response {
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
    Response::xml(refusal.status, body)
}

/// The portal's REST-JSON error: `message` and `__type`, and the `x-amzn-ErrorType` header
/// SDKs read first.
pub(super) fn portal_error(refusal: &Refusal) -> Response {
    let body = format!(
        "{{\"message\":\"{}\",\"__type\":\"com.amazonaws.switchboard.portal#{}\"}}",
        json_escape(&refusal.message),
        refusal.code,
    );
    Response::json(refusal.status, body).with_header("x-amzn-ErrorType", refusal.code.to_owned())
}

/// `text` as XML character data or an attribute value.
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
