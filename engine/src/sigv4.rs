//! AWS Signature Version 4 in the `Authorization` header, for services other than S3 (STS's
//! AssumeRole). rusty-s3 signs only for `s3`, and only as presigned URLs; the AWS SDK's
//! `aws-sigv4` crate brings tokio and the smithy runtime, which a client without an async
//! runtime should not carry. The algorithm is small and specified to the byte, and this module
//! is checked against AWS's published example. Pure: the time and keys are parameters.

use std::fmt::Write as _;

use hmac::{KeyInit as _, Mac as _};
use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

/// What is signed of a request: everything S3-independent SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// `host[:port]`, as the `Host` header will carry it.
    pub host: &'a str,
    /// The path, already percent-encoded (`/` for the query APIs).
    pub path: &'a str,
    /// The query parameters, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Other headers to sign (name, value), beside `host` and `x-amz-date`.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// The keys a request is signed with.
#[derive(Clone, Copy)]
pub(crate) struct Keys<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// What signing adds to a request: the query string to send (encoded exactly as signed) and the
/// headers (`x-amz-date`, `x-amz-security-token` for temporary keys, `authorization`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub query: String,
    pub headers: Vec<(String, String)>,
}

/// Signs `request` for `service` in `region` at `time`.
pub(crate) fn sign(
    request: &Request<'_>,
    keys: Keys<'_>,
    region: &str,
    service: &str,
    time: Timestamp,
) -> Signed {
    let amz_date = time.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.to_owned()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    if let Some(token) = keys.session_token {
        headers.push(("x-amz-security-token".into(), token.to_owned()));
    }
    for (name, value) in request.headers {
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let query = canonical_query(request.query);
    let mut canonical = format!("{}\n{}\n{query}\n", request.method, request.path);
    for (name, value) in &headers {
        let _ = writeln!(canonical, "{name}:{value}");
    }
    let _ = write!(
        canonical,
        "\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(request.payload))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", keys.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        keys.access_key
    );
    // `host` is sent by the HTTP client itself.
    let mut added: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(name, _)| name != "host")
        .collect();
    added.retain(|(name, _)| {
        !request
            .headers
            .iter()
            .any(|(given, _)| given.eq_ignore_ascii_case(name))
    });
    added.push(("authorization".into(), authorization));
    Signed {
        query,
        headers: added,
    }
}

/// The query string as SigV4 canonicalizes it (and as it must then be sent): every name and
/// value percent-encoded (all but unreserved characters), sorted by name, then value.
fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 percent-encoding of everything but `A-Z a-z 0-9 - _ . ~`.
pub(crate) fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example ("Create a signed AWS API request", IAM ListUsers).
    #[test]
    fn signs_aws_published_example() {
        let time: Timestamp = "2015-08-30T12:36:00Z".parse().unwrap();
        let request = Request {
            method: "GET",
            host: "iam.amazonaws.com",
            path: "/",
            query: &[("Version", "2010-05-08"), ("Action", "ListUsers")],
            headers: &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            payload: b"",
        };
        let keys = Keys {
            access_key: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let signed = sign(&request, keys, "us-east-1", "iam", time);
        assert_eq!(signed.query, "Action=ListUsers&Version=2010-05-08");
        let authorization = &signed.headers.last().unwrap().1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert!(
            signed
                .headers
                .contains(&("x-amz-date".into(), "20150830T123600Z".into()))
        );
        assert!(
            !signed
                .headers
                .iter()
                .any(|(name, _)| name == "content-type"),
            "the caller sends the headers it gave"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed_and_values_are_encoded() {
        let time: Timestamp = "2026-12-04T00:00:00Z".parse().unwrap();
        let request = Request {
            method: "GET",
            host: "127.0.0.1:9000",
            path: "/",
            query: &[
                ("RoleArn", "arn:aws:iam::1:role/a b"),
                ("Action", "AssumeRole"),
            ],
            headers: &[],
            payload: b"",
        };
        let keys = Keys {
            access_key: "AK",
            secret_key: "SK",
            session_token: Some("TOKEN"),
        };
        let signed = sign(&request, keys, "eu-west-1", "sts", time);
        assert_eq!(
            signed.query,
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b"
        );
        assert!(
            signed
                .headers
                .contains(&("x-amz-security-token".into(), "TOKEN".into()))
        );
        let authorization = &signed.headers.last().unwrap().1;
        assert!(
            authorization.contains("/20261204/eu-west-1/sts/aws4_request")
                && authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{authorization}"
        );
        let without = sign(
            &request,
            Keys {
                session_token: None,
                ..keys
            },
            "eu-west-1",
            "sts",
            time,
        );
        assert_ne!(without.headers.last(), signed.headers.last());
    }
}
