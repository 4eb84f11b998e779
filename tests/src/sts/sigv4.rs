//! SigV4 verification as STS does it, written apart from the engine's signer so that the tests
//! check it: the `Authorization` header, the canonical request, the signature recomputed from
//! the caller's secret. Generic over the service (the scope's) so that AWS's published example,
//! for IAM, checks it. Also the decoding of queries and form bodies, which the canonical query
//! and the query API's parameters share.

use std::fmt::Write as _;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use super::wire::Refusal;
use crate::loopback::Request;

/// How far `x-amz-date` may be from the server's clock, as AWS allows.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Checks `request`'s SigV4 `Authorization` for `sts` as STS does (the header, the scope, then
/// the key, whose secret `secret_of` gives from the access key id and any session token, then
/// the clock, then the signature, recomputed); the caller's access key id.
pub(super) fn authenticate(
    request: &Request,
    secret_of: impl FnOnce(&str, Option<&str>) -> Result<String, Refusal>,
) -> Result<String, Refusal> {
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
    let secret_key = secret_of(&authorization.access_key, token)?;
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

/// What an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
/// header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authorization {
    pub(super) access_key: String,
    /// The scope's `YYYYMMDD`.
    date: String,
    pub(super) region: String,
    service: String,
    /// Lowercase, in the order given (which the canonical request follows).
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    pub(super) fn parse(value: &str) -> Option<Self> {
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
pub(super) fn form_pairs(text: &str) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
