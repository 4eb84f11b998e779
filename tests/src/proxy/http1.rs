//! HTTP/1.1 messages as the proxy sees them: request and response heads, how their bodies are
//! framed, header and query helpers, who signed a request and what its record must not show,
//! and copying a body (chunked or not) with one byte flipped or cut short.

use std::io::{self, BufRead, Read, Write};

use super::rules::{Fault, RequestRecord};

/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 4 * 1024;
/// Bodies are copied this many bytes at a time.
pub(super) const CHUNK: usize = 64 * 1024;
/// Query parameters whose values [`RequestRecord::query`] hides.
const SECRET_PARAMS: [&str; 3] = [
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];
/// Headers whose values [`RequestRecord::headers`] hides.
const SECRET_HEADERS: [&str; 2] = ["authorization", "x-amz-security-token"];

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed request head, and its bytes to forward.
pub(super) struct RequestHead {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: String,
    headers: Vec<(String, String)>,
    /// Taken before anything is redacted.
    pub(super) access_key: Option<String>,
    /// The region of the signature's credential scope.
    pub(super) region: Option<String>,
    session_token: Option<String>,
    /// The head as received, less any `Expect` header (the proxy answers that itself).
    pub(super) forward: Vec<u8>,
}

impl RequestHead {
    pub(super) fn parse(raw: &[u8]) -> io::Result<Self> {
        let (start, headers) = parse_head(raw)?;
        let mut words = start.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return Err(invalid_data(format!("bad request line {start:?}")));
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let authorization = find_header(&headers, "authorization");
        let credential = query_value(query, "X-Amz-Credential")
            .or_else(|| authorization.and_then(authorization_credential));
        let access_key = match &credential {
            Some(credential) => credential_key(credential),
            None => authorization.and_then(sigv2_key),
        };
        let region = credential.as_deref().and_then(credential_region);
        let session_token = query_value(query, "X-Amz-Security-Token")
            .or_else(|| find_header(&headers, "x-amz-security-token").map(str::to_owned));
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            access_key,
            region,
            session_token,
            headers,
            forward: without_header(raw, "expect"),
        })
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    fn is_chunked(&self) -> bool {
        has_token(self.header("transfer-encoding"), "chunked")
    }

    pub(super) fn framing(&self) -> Framing {
        match self.content_length() {
            _ if self.is_chunked() => Framing::Chunked,
            Some(length) => Framing::Length(length),
            None => Framing::Empty,
        }
    }

    pub(super) fn wants_close(&self) -> bool {
        has_token(self.header("connection"), "close")
    }

    pub(super) fn expects_continue(&self) -> bool {
        has_token(self.header("expect"), "100-continue")
    }

    pub(super) fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    pub(super) fn record(&self, fault: Option<&Fault>) -> RequestRecord {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let secret = SECRET_HEADERS.contains(&name.as_str());
                let value = if secret { "REDACTED" } else { value.as_str() };
                (name.clone(), value.to_owned())
            })
            .collect();
        RequestRecord {
            method: self.method.clone(),
            path: self.path.clone(),
            query: redact_query(&self.query),
            content_length: self.content_length(),
            chunked: self.is_chunked(),
            headers,
            access_key: self.access_key.clone(),
            region: self.region.clone(),
            session_token: self.session_token.clone(),
            fault: fault.map(Fault::describe),
            status: None,
        }
    }
}

/// A parsed response head, and its bytes.
pub(super) struct ResponseHead {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    pub(super) raw: Vec<u8>,
}

impl ResponseHead {
    pub(super) fn parse(raw: Vec<u8>) -> io::Result<Self> {
        let (start, headers) = parse_head(&raw)?;
        let status = start
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid_data(format!("bad status line {start:?}")))?;
        Ok(Self {
            status,
            headers,
            raw,
        })
    }

    pub(super) fn framing(&self, request: &RequestHead) -> Framing {
        let header = |name| find_header(&self.headers, name);
        let length = header("content-length").and_then(|n| n.trim().parse().ok());
        if request.is_head() || matches!(self.status, 100..=199 | 204 | 304) {
            Framing::Empty
        } else if has_token(header("transfer-encoding"), "chunked") {
            Framing::Chunked
        } else if let Some(length) = length {
            Framing::Length(length)
        } else {
            Framing::UntilClose
        }
    }

    pub(super) fn wants_close(&self) -> bool {
        has_token(find_header(&self.headers, "connection"), "close")
    }
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The start line and the headers (names in lowercase, values trimmed) of a message head.
fn parse_head(raw: &[u8]) -> io::Result<(String, Vec<(String, String)>)> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.lines();
    let start = lines.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid_data(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok((start, headers))
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Whether a comma-separated header value holds `token` (case-insensitive).
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|value| {
        value
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

/// `raw` less the header lines named `name`.
pub(super) fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&byte| byte == b'\n') {
        let named = line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':';
        if !named {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A message head `raw` whose header lines named `name` are replaced by `name: value`, written
/// as given (appended after the others; none when `value` is `None`).
pub(super) fn with_header(raw: &[u8], name: &str, value: Option<&str>) -> Vec<u8> {
    let mut out = without_header(raw, name);
    let end = if out.ends_with(b"\r\n\r\n") {
        out.len() - 2
    } else {
        out.len() - 1 // A head ending in a bare "\n\n".
    };
    if let Some(value) = value {
        let line = format!("{name}: {value}\r\n");
        out.splice(end..end, line.into_bytes());
    }
    out
}

/// The percent-decoded value of the query parameter `name` (case-insensitive), if present.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|parameter| {
        let (key, value) = parameter.split_once('=')?;
        key.eq_ignore_ascii_case(name)
            .then(|| percent_decode(value))
    })
}

/// `text` with its `%XX` escapes decoded (others, malformed ones included, kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The access key id of a SigV4 credential scope, `AKID/20261121/us-east-1/s3/aws4_request`.
fn credential_key(credential: &str) -> Option<String> {
    let (key, _scope) = credential.split_once('/')?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// The region of a credential scope, `AKID/DATE/REGION/SERVICE/aws4_request`.
fn credential_region(credential: &str) -> Option<String> {
    let region = credential.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_owned())
}

/// The credential of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/..., SignedHeaders=..., Signature=...`).
fn authorization_credential(authorization: &str) -> Option<String> {
    let (_, rest) = authorization.split_once("Credential=")?;
    Some(rest.split([',', ' ']).next()?.to_owned())
}

/// The access key id of a SigV2 `Authorization` header (`AWS AKID:signature`).
fn sigv2_key(authorization: &str) -> Option<String> {
    let signature = authorization.strip_prefix("AWS ")?;
    let (key, _) = signature.split_once(':')?;
    Some(key.trim().to_owned())
}

fn redact_query(query: &str) -> String {
    let redact = |parameter: &str| match parameter.split_once('=') {
        Some((name, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) => {
            format!("{name}=REDACTED")
        }
        _ => parameter.to_owned(),
    };
    query.split('&').map(redact).collect::<Vec<_>>().join("&")
}

/// Reads a message head up to its empty line; `None` if the peer closed before sending any.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    loop {
        let room = MAX_HEAD - raw.len();
        if room == 0 {
            return Err(invalid_data("message head over 64 KiB".into()));
        }
        let read = reader.take(room as u64).read_until(b'\n', &mut raw)?;
        if read == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if raw == b"\r\n" || raw == b"\n" {
            raw.clear(); // Empty lines before a request line are allowed.
        } else if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            return Ok(Some(raw));
        }
    }
}

/// Reads one line (a chunk size or a trailer) of at most [`MAX_LINE`] bytes.
fn read_line(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(invalid_data("bad line in a chunked body".into()));
    }
    Ok(line)
}

fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or_default().trim();
    u64::from_str_radix(digits, 16)
        .map_err(|_| invalid_data(format!("bad chunk size line {text:?}")))
}

/// Copies a body, optionally flipping one data byte and stopping after `limit` data bytes.
pub(super) struct BodyCopy<W> {
    out: W,
    flip_at: Option<u64>,
    limit: u64,
    offset: u64,
    buffer: Vec<u8>,
}

impl<W: Write> BodyCopy<W> {
    pub(super) fn new(out: W, flip_at: Option<usize>, limit: Option<usize>) -> Self {
        Self {
            out,
            flip_at: flip_at.map(|at| at as u64),
            limit: limit.map_or(u64::MAX, |limit| limit as u64),
            offset: 0,
            buffer: vec![0; CHUNK],
        }
    }

    /// Copies a body framed by `framing`; false if `limit` cut it short.
    pub(super) fn run(&mut self, input: &mut impl BufRead, framing: Framing) -> io::Result<bool> {
        match framing {
            Framing::Empty => Ok(true),
            Framing::Length(length) => self.data(input, Some(length)),
            Framing::UntilClose => self.data(input, None),
            Framing::Chunked => self.chunked(input),
        }
    }

    /// Copies `length` data bytes (until end of input if `None`); false if `limit` cut it short.
    fn data(&mut self, input: &mut impl BufRead, length: Option<u64>) -> io::Result<bool> {
        let mut left = length.unwrap_or(u64::MAX);
        while left > 0 {
            let room = self.limit - self.offset;
            if room == 0 {
                return Ok(false);
            }
            let want = left.min(room).min(CHUNK as u64) as usize;
            let read = input.read(&mut self.buffer[..want])?;
            if read == 0 && length.is_none() {
                return Ok(true);
            }
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.flip(read);
            self.out.write_all(&self.buffer[..read])?;
            self.offset += read as u64;
            left -= read as u64;
        }
        Ok(true)
    }

    /// Flips the target byte if it is among the `read` bytes at the buffer's start.
    fn flip(&mut self, read: usize) {
        if let Some(at) = self.flip_at
            && (self.offset..self.offset + read as u64).contains(&at)
        {
            self.buffer[(at - self.offset) as usize] ^= 0x01;
        }
    }

    /// Copies a chunked body, framing included, as it is.
    fn chunked(&mut self, input: &mut impl BufRead) -> io::Result<bool> {
        loop {
            let line = read_line(input)?;
            self.out.write_all(&line)?;
            let size = chunk_size(&line)?;
            if size == 0 {
                return self.trailers(input);
            }
            if !self.data(input, Some(size))? {
                return Ok(false);
            }
            let end = read_line(input)?;
            self.out.write_all(&end)?;
        }
    }

    /// Copies the trailer section, up to and including its empty line.
    fn trailers(&mut self, input: &mut impl BufRead) -> io::Result<bool> {
        loop {
            let line = read_line(input)?;
            self.out.write_all(&line)?;
            if line == b"\r\n" || line == b"\n" {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Match;

    #[test]
    fn records_redact_secrets() {
        let raw = b"PUT /b/k?X-Amz-Credential=AK%2Fx&X-Amz-Signature=ab12&partNumber=1 HTTP/1.1\r\n\
                    Host: h\r\nAuthorization: secret\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
        let request = RequestHead::parse(raw).unwrap();
        let record = request.record(None);
        assert_eq!(
            record.query,
            "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&partNumber=1"
        );
        assert_eq!(record.header("authorization"), Some("REDACTED"));
        assert_eq!(record.access_key.as_deref(), Some("AK"));
        assert_eq!(record.session_token, None);
        assert_eq!(record.content_length, Some(5));
        assert!(!record.chunked && request.expects_continue());
        assert!(!String::from_utf8_lossy(&request.forward).contains("Expect"));
    }

    #[test]
    fn records_who_signed() {
        let presigned = b"GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                          &X-Amz-Credential=AKIDQ%2F20261121%2Fus-east-1%2Fs3%2Faws4_request\
                          &X-Amz-Security-Token=tok%2Fen%3D%3D&X-Amz-Signature=ab HTTP/1.1\r\n\
                          Host: h\r\n\r\n";
        let record = RequestHead::parse(presigned).unwrap().record(None);
        assert_eq!(record.access_key.as_deref(), Some("AKIDQ"));
        assert_eq!(record.region.as_deref(), Some("us-east-1"));
        assert_eq!(record.session_token.as_deref(), Some("tok/en=="));
        assert!(record.query.contains("X-Amz-Security-Token=REDACTED"));

        let signed = b"PUT /b/k HTTP/1.1\r\nHost: h\r\n\
                       Authorization: AWS4-HMAC-SHA256 Credential=AKIDH/20261121/us-east-1/s3/aws4_request, \
                       SignedHeaders=host;x-amz-date, Signature=ab\r\n\
                       X-Amz-Security-Token: session==\r\n\r\n";
        let request = RequestHead::parse(signed).unwrap();
        let record = request.record(None);
        assert_eq!(record.access_key.as_deref(), Some("AKIDH"));
        assert_eq!(record.region.as_deref(), Some("us-east-1"));
        assert_eq!(record.session_token.as_deref(), Some("session=="));
        assert_eq!(record.header("x-amz-security-token"), Some("REDACTED"));
        assert!(Match::signed_by("AKIDH").matches(&request));
        assert!(
            Match::bucket("b")
                .and_signed_outside("eu-west-1")
                .matches(&request)
        );
        assert!(
            !Match::bucket("b")
                .and_signed_outside("us-east-1")
                .matches(&request)
        );
        assert!(
            !Match::bucket("c")
                .and_signed_outside("eu-west-1")
                .matches(&request)
        );
        assert!(!Match::signed_by("AKIDQ").matches(&request));
        assert!(
            Match::method("PUT")
                .and_signed_by("AKIDH")
                .matches(&request)
        );
        assert!(
            !Match::method("GET")
                .and_signed_by("AKIDH")
                .matches(&request)
        );

        let unsigned = RequestHead::parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(unsigned.record(None).access_key, None);
        assert!(!Match::signed_by("AKIDH").matches(&unsigned));
        assert_eq!(
            sigv2_key("AWS AKIDV2:c2lnbmF0dXJl").as_deref(),
            Some("AKIDV2")
        );
        assert_eq!(percent_decode("a%2fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn response_headers_are_replaced_added_or_removed() {
        let raw = b"HTTP/1.1 200 OK\r\nETag: \"a\"\r\nContent-Length: 3\r\netag: \"b\"\r\n\r\n";
        assert_eq!(
            with_header(raw, "etag", Some("\"x\x01\"")),
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\netag: \"x\x01\"\r\n\r\n"
        );
        assert_eq!(
            with_header(raw, "ETAG", None),
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
        );
        assert_eq!(
            with_header(b"HTTP/1.1 200 OK\n\n", "x-new", Some("1")),
            b"HTTP/1.1 200 OK\nx-new: 1\r\n\n"
        );
        let request = b"GET /b/k HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n";
        assert_eq!(
            without_header(request, "range"),
            b"GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }

    #[test]
    fn copies_chunked_bodies_faithfully_with_flips_and_limits() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let mut out = Vec::new();
        let complete = BodyCopy::new(&mut out, Some(5), None)
            .run(&mut &body[..], Framing::Chunked)
            .unwrap();
        assert!(complete);
        assert_eq!(
            out,
            b"5\r\nhello\r\n6;ext=1\r\n!world\r\n0\r\nX-Trailer: 1\r\n\r\n"
        );

        let mut out = Vec::new();
        let complete = BodyCopy::new(&mut out, None, Some(3))
            .run(&mut &b"abcdef"[..], Framing::Length(6))
            .unwrap();
        assert!(!complete);
        assert_eq!(out, b"abc");
    }
}
