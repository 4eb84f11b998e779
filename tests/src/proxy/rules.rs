//! What a test scripts and reads back: a [`Rule`] gives the requests that a [`Match`] picks a
//! [`Fault`], so many times; a [`RequestRecord`] is what the proxy keeps of each request.

use std::time::Duration;

use super::http1::{RequestHead, find_header};

/// Which requests a [`Rule`] applies to: every condition given must hold (none: every request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// The request method, e.g. `"PUT"` (compared case-insensitively).
    pub method: Option<&'static str>,
    /// A query parameter the request must have: `"partNumber=3"` (this exact value, so not
    /// `partNumber=30`), `"uploads"` (the parameter, with any or no value) or `"uploadId="`
    /// (any value). Text holding `&` is matched as a plain substring of the query.
    pub query_contains: Option<String>,
    /// A header the request must carry, e.g. `"range"` (compared case-insensitively).
    pub has_header: Option<&'static str>,
    /// The access key id that must have signed the request (see
    /// [`RequestRecord::access_key`]); unsigned requests never match.
    pub signed_by: Option<String>,
    /// The exact path of the request target, e.g. `/bucket/key` (as sent, percent-encoded).
    pub path: Option<String>,
    /// The bucket of a path-style request: the path's first segment.
    pub bucket: Option<String>,
    /// A region the request must have been signed for another than (see
    /// [`RequestRecord::region`]), as S3 refuses a request to a bucket of another region;
    /// unsigned requests never match.
    pub signed_outside: Option<String>,
}

impl Match {
    /// Matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches requests with this method.
    pub fn method(method: &'static str) -> Self {
        Self {
            method: Some(method),
            ..Self::default()
        }
    }

    /// Matches requests signed with the access key id `access_key`, e.g. to answer
    /// `Fault::Respond { status: 403, code: "ExpiredToken" }` to every request signed with
    /// credentials once they have expired (add the rule at that moment, with a large `times`).
    pub fn signed_by(access_key: impl Into<String>) -> Self {
        Self {
            signed_by: Some(access_key.into()),
            ..Self::default()
        }
    }

    /// Also requires the request to be signed with the access key id `access_key` (see
    /// [`Match::signed_by`]).
    pub fn and_signed_by(mut self, access_key: impl Into<String>) -> Self {
        self.signed_by = Some(access_key.into());
        self
    }

    /// Matches (path-style) requests to `bucket`.
    pub fn bucket(bucket: impl Into<String>) -> Self {
        Self {
            bucket: Some(bucket.into()),
            ..Self::default()
        }
    }

    /// Also requires the request to be signed for another region than `region` (see
    /// [`Match::signed_outside`]).
    pub fn and_signed_outside(mut self, region: impl Into<String>) -> Self {
        self.signed_outside = Some(region.into());
        self
    }

    /// Also requires the request target's path to be exactly `path` (see [`Match::path`]).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Also requires the query parameter `parameter` (see [`Match::query_contains`]).
    pub fn query(mut self, parameter: impl Into<String>) -> Self {
        self.query_contains = Some(parameter.into());
        self
    }

    /// Also requires the header `name`.
    pub fn header(mut self, name: &'static str) -> Self {
        self.has_header = Some(name);
        self
    }

    pub(super) fn matches(&self, request: &RequestHead) -> bool {
        let method = self
            .method
            .is_none_or(|method| method.eq_ignore_ascii_case(&request.method));
        let query = self
            .query_contains
            .as_deref()
            .is_none_or(|wanted| query_has(&request.query, wanted));
        let header = self
            .has_header
            .is_none_or(|name| request.header(name).is_some());
        let signer = self
            .signed_by
            .as_deref()
            .is_none_or(|key| request.access_key.as_deref() == Some(key));
        let path = self.path.as_deref().is_none_or(|path| path == request.path);
        let bucket = self.bucket.as_deref().is_none_or(|bucket| {
            request.path.trim_start_matches('/').split('/').next() == Some(bucket)
        });
        let outside = self.signed_outside.as_deref().is_none_or(|region| {
            request
                .region
                .as_deref()
                .is_some_and(|signed| signed != region)
        });
        method && query && header && signer && path && bucket && outside
    }
}

/// Whether `query` has the parameter `wanted` (see [`Match::query_contains`]).
fn query_has(query: &str, wanted: &str) -> bool {
    if wanted.contains('&') {
        return query.contains(wanted);
    }
    query.split('&').any(|parameter| {
        parameter == wanted
            || (wanted.ends_with('=') && parameter.starts_with(wanted))
            || (!wanted.contains('=') && parameter.split('=').next() == Some(wanted))
    })
}

/// What the proxy does to a request instead of forwarding it faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Reads `after` bytes of the request body (none is forwarded), then resets the client
    /// connection (RST) and drops the upstream one.
    ResetDuringRequestBody {
        /// Body bytes read before the reset.
        after: usize,
    },
    /// Forwards the request; passes the response head and `after` body bytes to the client,
    /// then resets the client connection (RST).
    ResetDuringResponseBody {
        /// Response body bytes passed on before the reset.
        after: usize,
    },
    /// Answers without forwarding (the request body is read and discarded) with `status` and
    /// the S3 error body `<Error><Code>{code}</Code><Message>injected</Message></Error>`.
    Respond {
        /// HTTP status, e.g. 503.
        status: u16,
        /// S3 error code, e.g. `"SlowDown"`.
        code: &'static str,
    },
    /// Waits `for_`, then forwards the request faithfully: a slow link, to make transfers
    /// last long enough to interrupt them at chosen points.
    Delay {
        /// How long each matching request is held before it is forwarded.
        for_: Duration,
    },
    /// Forwards the request, then sends nothing to the client for `for_` and closes its
    /// connection.
    Stall {
        /// How long the client waits for nothing.
        for_: Duration,
    },
    /// Forwards the request; passes the response head unchanged (same `Content-Length`) but
    /// `missing` fewer body bytes, then closes the client connection. A response without
    /// `Content-Length` gets no body at all.
    ShortBody {
        /// Body bytes left out at the end.
        missing: usize,
    },
    /// Forwards the request; flips the lowest bit of the response body byte at `offset` (of
    /// the decoded body when it is chunked). A shorter body passes unchanged.
    FlipResponseByte {
        /// Offset of the flipped byte in the response body.
        offset: usize,
    },
    /// Flips the lowest bit of the request body byte at `offset` on its way upstream.
    FlipRequestByte {
        /// Offset of the flipped byte in the request body.
        offset: usize,
    },
    /// Answers without forwarding (the request body is read and discarded) `200 OK` with the
    /// error body `<Error><Code>{code}</Code>...</Error>`, as S3 may answer a
    /// CompleteMultipartUpload that failed.
    OkWithErrorBody {
        /// S3 error code, e.g. `"InternalError"`.
        code: &'static str,
    },
    /// Answers without forwarding (the request body is read and discarded) `200 OK` with an
    /// empty body (`Content-Length: 0`).
    EmptyOk,
    /// Answers without forwarding (the request body is read and discarded) with `status` and
    /// `body` as XML: a reply the server would never give, e.g. a listing of hostile keys.
    Reply {
        /// HTTP status, e.g. 200.
        status: u16,
        /// The XML body.
        body: String,
    },
    /// Answers without forwarding (the request body is read and discarded) with `status`,
    /// exactly `headers` as given, in order and byte for byte (nothing checked, so a value may
    /// hold control characters), then `body` (not to a HEAD), and closes the client connection:
    /// a reply no honest server sends, e.g. a `Content-Length` that lies (the proxy adds the
    /// body's true length only when `headers` name neither `Content-Length` nor
    /// `Transfer-Encoding`, and `Connection: close` when they name no `Connection`), or a
    /// `Content-Range` of another range. Each `{n}` in the body
    /// becomes the number of requests this rule answered before (0, 1, 2 ...), so that every
    /// reply can differ, e.g. a new continuation token on each page.
    Forge {
        /// HTTP status, e.g. 206.
        status: u16,
        /// The header lines, name and value, written as `name: value`.
        headers: Vec<(String, String)>,
        /// The body bytes sent after the head.
        body: Vec<u8>,
    },
    /// Forwards the request; in the server's response head, the headers named `name` are
    /// replaced by one `name: value` line written verbatim (added when the server sent none),
    /// or removed when `value` is `None`. The body is passed on as the server framed it, then
    /// the client connection is closed (a changed length would poison it).
    RewriteResponseHeader {
        /// The header's name, e.g. `"etag"` (compared case-insensitively).
        name: String,
        /// Its new value, or `None` to remove it.
        value: Option<String>,
    },
    /// Forwards the request without its headers named `name`, e.g. `"range"`: the server then
    /// answers a ranged GET with the whole object. Only an unsigned header can go unnoticed.
    DropRequestHeader {
        /// The header's name (compared case-insensitively).
        name: String,
    },
}

impl Fault {
    /// This fault as applied to the rule's request number `n` (from 0): a forged body's `{n}`
    /// replaced by `n`.
    pub(super) fn numbered(self, n: usize) -> Self {
        match self {
            Fault::Forge {
                status,
                headers,
                body,
            } => Fault::Forge {
                status,
                headers,
                body: replace_all(&body, b"{n}", n.to_string().as_bytes()),
            },
            other => other,
        }
    }

    /// What a [`RequestRecord`] says of the fault: its `Debug` form, a forged body by its
    /// length only (it may be megabytes).
    pub(super) fn describe(&self) -> String {
        match self {
            Fault::Forge {
                status,
                headers,
                body,
            } => format!(
                "Forge {{ status: {status}, headers: {headers:?}, body: {} bytes }}",
                body.len()
            ),
            other => format!("{other:?}"),
        }
    }
}

/// `bytes` with every `pattern` replaced by `with`.
fn replace_all(bytes: &[u8], pattern: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest
        .windows(pattern.len())
        .position(|window| window == pattern)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + pattern.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The requests it applies to.
    pub matcher: Match,
    /// How many more matching requests get the fault; the rule is spent at zero.
    pub times: usize,
    /// What happens to them.
    pub fault: Fault,
}

impl Rule {
    /// `fault` for the first `times` requests that `matcher` matches.
    pub fn new(matcher: Match, times: usize, fault: Fault) -> Self {
        Self {
            matcher,
            times,
            fault,
        }
    }

    /// `fault` for the first request that `matcher` matches.
    pub fn once(matcher: Match, fault: Fault) -> Self {
        Self::new(matcher, 1, fault)
    }
}

/// A request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method, e.g. `PUT`.
    pub method: String,
    /// The path of the request target, e.g. `/bucket/key`.
    pub path: String,
    /// The query without `?`, values of `X-Amz-Signature`, `X-Amz-Credential` and
    /// `X-Amz-Security-Token` replaced by `REDACTED`.
    pub query: String,
    /// The `Content-Length` header, if any.
    pub content_length: Option<u64>,
    /// Whether the body was sent with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Every header in order, names in lowercase (`authorization` and `x-amz-security-token`
    /// values replaced by `REDACTED`).
    pub headers: Vec<(String, String)>,
    /// The access key id that signed the request, from the `X-Amz-Credential` query
    /// parameter of a presigned URL or the `Credential=` of the `Authorization` header
    /// (`None` for an unsigned request).
    pub access_key: Option<String>,
    /// The region the request was signed for: its credential scope's.
    pub region: Option<String>,
    /// The session token the request carried, from the `X-Amz-Security-Token` query parameter
    /// (percent-decoded) or header.
    pub session_token: Option<String>,
    /// The `Debug` form of the fault applied, if any.
    pub fault: Option<String>,
    /// The status of the response head sent back to the client (the server's, or the one a
    /// fault made up); `None` while none has been sent, or if none ever was.
    pub status: Option<u16>,
}

impl RequestRecord {
    /// Whether the query has the parameter `parameter` (same rules as [`Match::query_contains`]).
    pub fn has_query(&self, parameter: &str) -> bool {
        query_has(&self.query, parameter)
    }

    /// The value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_match_whole_values() {
        let query = "partNumber=3&uploadId=abc&uploads";
        assert!(query_has(query, "partNumber=3"));
        assert!(!query_has("partNumber=30", "partNumber=3"));
        assert!(query_has(query, "uploadId="));
        assert!(query_has(query, "uploads"));
        assert!(query_has("uploads=", "uploads"));
        assert!(!query_has("uploadId=x", "uploads"));
        assert!(query_has(query, "3&uploadId"));
    }

    #[test]
    fn forged_bodies_are_numbered_and_described_by_length() {
        let forge = Fault::Forge {
            status: 200,
            headers: vec![("x".into(), "{n}".into())],
            body: b"<T>t{n}</T><U>{n}</U>{".to_vec(),
        };
        let Fault::Forge { headers, body, .. } = forge.clone().numbered(12) else {
            unreachable!()
        };
        assert_eq!(body, b"<T>t12</T><U>12</U>{");
        assert_eq!(headers, [("x".to_owned(), "{n}".to_owned())]);
        assert_eq!(
            forge.describe(),
            "Forge { status: 200, headers: [(\"x\", \"{n}\")], body: 22 bytes }"
        );
        let other = Fault::EmptyOk;
        assert_eq!(other.clone().numbered(3), other);
    }
}
