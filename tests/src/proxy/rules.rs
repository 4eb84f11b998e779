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
        method && query && header && signer && path
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
}
