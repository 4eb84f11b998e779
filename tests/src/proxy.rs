//! A fault-injecting HTTP/1.1 proxy to put between an s3mt client and the test server.
//!
//! [`FaultProxy::start`] listens on a free loopback port and forwards every request to the
//! upstream server, unless a [`Rule`] added with [`FaultProxy::add`] matches it: then the rule's
//! [`Fault`] is applied (a reset connection, an error reply, a stall, a corrupted byte ...).
//! Every request is recorded ([`FaultProxy::requests`]) with the fault it got, if any.
//!
//! Each client connection is served by its own thread with its own upstream connection (opened
//! lazily and reopened when the server closed it), keep-alive on both sides. Bodies are
//! streamed in 64 KiB chunks, never held whole in memory. Every socket has 60 s read and write
//! timeouts, and dropping the proxy ends all its threads within about 2 s.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 4 * 1024;
/// Bodies are copied this many bytes at a time.
const CHUNK: usize = 64 * 1024;
/// Read and write timeout of every socket.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to connect to the upstream server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the listener thread polls for connections (and for a pending rebind).
const ACCEPT_POLL: Duration = Duration::from_millis(2);
/// How long dropping the proxy waits for connection threads to end.
const STOP_GRACE: Duration = Duration::from_millis(1500);
/// Longest single sleep of a stalled connection, so that it notices the proxy stopping.
const SLEEP_STEP: Duration = Duration::from_millis(10);
/// Query parameters whose values [`RequestRecord::query`] hides.
const SECRET_PARAMS: [&str; 3] = [
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];
/// Headers whose values [`RequestRecord::headers`] hides.
const SECRET_HEADERS: [&str; 2] = ["authorization", "x-amz-security-token"];

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

    fn matches(&self, request: &RequestHead) -> bool {
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
        method && query && header && signer
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

/// A running fault-injecting proxy on 127.0.0.1. Dropping it stops it: its listener and every
/// connection thread end within about 2 s.
pub struct FaultProxy {
    shared: Arc<Shared>,
    listener_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint())
            .field("upstream", &self.shared.upstream)
            .field("rules", &*lock(&self.shared.rules))
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    ///
    /// # Errors
    /// When `upstream` is not an `http://host:port` address, or no port can be bound.
    pub fn start(upstream: &str) -> io::Result<FaultProxy> {
        let upstream = upstream_address(upstream)?;
        let listener = bind_listener(0)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream,
            port,
            rules: Mutex::new(Vec::new()),
            records: Mutex::new(Vec::new()),
            listening: Mutex::new(Listening::Open(listener)),
            sockets: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            next_connection: AtomicU64::new(0),
        });
        let listener_thread = thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&shared)
            })?;
        Ok(FaultProxy {
            shared,
            listener_thread: Some(listener_thread),
        })
    }

    /// The proxy's address for clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.port)
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Adds a rule after the existing ones. For each request, the first rule (in the order
    /// added) that matches it and is not spent applies.
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule: from now on requests are forwarded faithfully.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.records).clone()
    }

    /// Closes the listening socket now, so that connecting fails with `ECONNREFUSED`, and
    /// listens on the same port again after `duration`. Open connections are not affected.
    pub fn refuse_connections_for(&self, duration: Duration) {
        *lock(&self.shared.listening) = Listening::Refusing {
            until: Instant::now() + duration,
        };
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(listener_thread) = self.listener_thread.take() {
            // Bounded: the loop polls the stop flag, then waits STOP_GRACE at most.
            let _ = listener_thread.join();
        }
    }
}

/// State shared by the proxy handle, the listener thread and the connection threads.
struct Shared {
    upstream: SocketAddr,
    port: u16,
    rules: Mutex<Vec<Rule>>,
    records: Mutex<Vec<RequestRecord>>,
    listening: Mutex<Listening>,
    /// Clones of the open sockets, by connection and side, to shut them down on stop.
    sockets: Mutex<HashMap<(u64, Side), TcpStream>>,
    stopping: AtomicBool,
    next_connection: AtomicU64,
}

/// The listening socket, or when it comes back.
enum Listening {
    Open(TcpListener),
    Refusing { until: Instant },
}

/// Which side of a connection a socket faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Client,
    Upstream,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sets the stop flag and shuts down every open socket, waking up blocked threads.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for socket in lock(&self.sockets).values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Keeps a clone of `socket` to shut it down on stop (at once if already stopping).
    fn register(&self, connection: u64, side: Side, socket: &TcpStream) {
        let mut sockets = lock(&self.sockets);
        if self.is_stopping() {
            let _ = socket.shutdown(Shutdown::Both);
        } else if let Ok(clone) = socket.try_clone() {
            sockets.insert((connection, side), clone);
        }
    }

    fn unregister(&self, connection: u64, side: Side) {
        lock(&self.sockets).remove(&(connection, side));
    }

    /// A new client connection, if one is waiting; rebinds the port once a refusal is over.
    fn poll_accept(&self) -> Option<TcpStream> {
        let mut listening = lock(&self.listening);
        match &*listening {
            Listening::Open(listener) => listener.accept().ok().map(|(stream, _)| stream),
            Listening::Refusing { until } if Instant::now() >= *until => {
                // On failure (the port is briefly taken) the next poll tries again.
                if let Ok(listener) = bind_listener(self.port) {
                    *listening = Listening::Open(listener);
                }
                None
            }
            Listening::Refusing { .. } => None,
        }
    }

    /// The fault for `request`, spending one use of the first live rule that matches it.
    fn take_fault(&self, request: &RequestHead) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|rule| rule.times > 0 && rule.matcher.matches(request))?;
        rule.times -= 1;
        Some(rule.fault.clone())
    }

    /// Records `request`, returning its index for [`Shared::answered`].
    fn record(&self, request: &RequestHead, fault: Option<&Fault>) -> usize {
        let mut records = lock(&self.records);
        records.push(request.record(fault));
        records.len() - 1
    }

    /// Notes the status the request recorded at `index` was answered with.
    fn answered(&self, index: usize, status: u16) {
        if let Some(record) = lock(&self.records).get_mut(index) {
            record.status = Some(status);
        }
    }

    /// Sleeps for `duration`, or less if the proxy stops meanwhile.
    fn pause(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.is_stopping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            thread::sleep(left.min(SLEEP_STEP));
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The socket address of `http://host:port`.
fn upstream_address(upstream: &str) -> io::Result<SocketAddr> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("expected an http://host:port upstream, not {upstream:?}"),
        )
    };
    let authority = upstream
        .strip_prefix("http://")
        .ok_or_else(invalid)?
        .trim_end_matches('/');
    authority.to_socket_addrs()?.next().ok_or_else(invalid)
}

/// A non-blocking listener on 127.0.0.1:`port` (std sets `SO_REUSEADDR` on Unix).
fn bind_listener(port: u16) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accepts connections until the proxy stops, then waits (bounded) for their threads.
fn accept_loop(shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.is_stopping() {
        let Some(stream) = shared.poll_accept() else {
            thread::sleep(ACCEPT_POLL);
            continue;
        };
        workers.retain(|worker| !worker.is_finished());
        let shared = Arc::clone(shared);
        let worker = thread::Builder::new()
            .name(format!("fault-proxy-{}-conn", shared.port))
            .spawn(move || Connection::serve(shared, stream));
        workers.extend(worker.ok());
    }
    let deadline = Instant::now() + STOP_GRACE;
    while workers.iter().any(|worker| !worker.is_finished()) && Instant::now() < deadline {
        thread::sleep(SLEEP_STEP);
    }
    for worker in workers {
        if worker.is_finished() {
            let _ = worker.join();
        }
    }
}

/// Sets timeouts (and blocking mode) on a socket.
fn configure(socket: &TcpStream) -> io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(IO_TIMEOUT))?;
    socket.set_write_timeout(Some(IO_TIMEOUT))?;
    socket.set_nodelay(true)
}

/// Makes closing `socket` reset the connection (RST) instead of closing it gracefully (FIN):
/// `SO_LINGER` with a zero timeout. The RST goes out when the last descriptor is closed.
fn reset_on_close(socket: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO))
}

// ---------------------------------------------------------------------------------------
// HTTP messages

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed request head, and its bytes to forward.
struct RequestHead {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    /// Taken before anything is redacted.
    access_key: Option<String>,
    session_token: Option<String>,
    /// The head as received, less any `Expect` header (the proxy answers that itself).
    forward: Vec<u8>,
}

impl RequestHead {
    fn parse(raw: &[u8]) -> io::Result<Self> {
        let (start, headers) = parse_head(raw)?;
        let mut words = start.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return Err(invalid_data(format!("bad request line {start:?}")));
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let authorization = find_header(&headers, "authorization");
        let access_key = query_value(query, "X-Amz-Credential")
            .and_then(|credential| credential_key(&credential))
            .or_else(|| authorization.and_then(authorization_key));
        let session_token = query_value(query, "X-Amz-Security-Token")
            .or_else(|| find_header(&headers, "x-amz-security-token").map(str::to_owned));
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            access_key,
            session_token,
            headers,
            forward: without_header(raw, "expect"),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    fn is_chunked(&self) -> bool {
        has_token(self.header("transfer-encoding"), "chunked")
    }

    fn framing(&self) -> Framing {
        match self.content_length() {
            _ if self.is_chunked() => Framing::Chunked,
            Some(length) => Framing::Length(length),
            None => Framing::Empty,
        }
    }

    fn wants_close(&self) -> bool {
        has_token(self.header("connection"), "close")
    }

    fn expects_continue(&self) -> bool {
        has_token(self.header("expect"), "100-continue")
    }

    fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    fn record(&self, fault: Option<&Fault>) -> RequestRecord {
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
            session_token: self.session_token.clone(),
            fault: fault.map(|fault| format!("{fault:?}")),
            status: None,
        }
    }
}

/// A parsed response head, and its bytes.
struct ResponseHead {
    status: u16,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
}

impl ResponseHead {
    fn parse(raw: Vec<u8>) -> io::Result<Self> {
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

    fn framing(&self, request: &RequestHead) -> Framing {
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

    fn wants_close(&self) -> bool {
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
fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
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

/// The access key id of an `Authorization` header: SigV4
/// (`AWS4-HMAC-SHA256 Credential=AKID/..., SignedHeaders=..., Signature=...`) or SigV2
/// (`AWS AKID:signature`).
fn authorization_key(authorization: &str) -> Option<String> {
    if let Some(signature) = authorization.strip_prefix("AWS ") {
        let (key, _) = signature.split_once(':')?;
        return Some(key.trim().to_owned());
    }
    let (_, rest) = authorization.split_once("Credential=")?;
    let credential = rest.split([',', ' ']).next()?;
    credential_key(credential)
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
struct BodyCopy<W> {
    out: W,
    flip_at: Option<u64>,
    limit: u64,
    offset: u64,
    buffer: Vec<u8>,
}

impl<W: Write> BodyCopy<W> {
    fn new(out: W, flip_at: Option<usize>, limit: Option<usize>) -> Self {
        Self {
            out,
            flip_at: flip_at.map(|at| at as u64),
            limit: limit.map_or(u64::MAX, |limit| limit as u64),
            offset: 0,
            buffer: vec![0; CHUNK],
        }
    }

    /// Copies a body framed by `framing`; false if `limit` cut it short.
    fn run(&mut self, input: &mut impl BufRead, framing: Framing) -> io::Result<bool> {
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

// ---------------------------------------------------------------------------------------
// Connections

/// What happens to the client connection after a request.
enum Next {
    KeepAlive,
    Close,
    Reset,
}

/// How a forwarded exchange is tampered with.
#[derive(Default)]
struct Tamper {
    request_flip: Option<usize>,
    response_flip: Option<usize>,
    cut: Option<Cut>,
}

/// Where a forwarded response body is cut.
enum Cut {
    /// After this many body bytes, with a reset.
    ResetAfter(usize),
    /// This many bytes before the end, with a close.
    ShortBy(usize),
}

/// The upstream side of a connection.
struct Upstream {
    output: TcpStream,
    input: BufReader<TcpStream>,
}

impl Upstream {
    fn connect(address: SocketAddr) -> io::Result<Self> {
        let output = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
        configure(&output)?;
        let input = BufReader::with_capacity(CHUNK, output.try_clone()?);
        Ok(Self { output, input })
    }

    /// Whether the server closed the connection (or sent something unasked) since last used.
    fn is_stale(&self) -> bool {
        if !self.input.buffer().is_empty() || self.output.set_nonblocking(true).is_err() {
            return true;
        }
        let stale = !matches!(
            self.output.peek(&mut [0; 1]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock
        );
        self.output.set_nonblocking(false).is_err() || stale
    }
}

/// One client connection and its upstream connection.
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    client: TcpStream,
    client_input: BufReader<TcpStream>,
    upstream: Option<Upstream>,
    /// The index of the current request's record.
    record: usize,
}

impl Connection {
    /// Serves requests on `client` until either side closes or the proxy stops.
    fn serve(shared: Arc<Shared>, client: TcpStream) {
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        let Ok(mut connection) = Self::new(id, Arc::clone(&shared), client) else {
            return;
        };
        connection.run();
        shared.unregister(id, Side::Client);
        shared.unregister(id, Side::Upstream);
    }

    fn new(id: u64, shared: Arc<Shared>, client: TcpStream) -> io::Result<Self> {
        configure(&client)?;
        let client_input = BufReader::with_capacity(CHUNK, client.try_clone()?);
        shared.register(id, Side::Client, &client);
        Ok(Self {
            id,
            shared,
            client,
            client_input,
            upstream: None,
            record: 0,
        })
    }

    fn run(&mut self) {
        while !self.shared.is_stopping() {
            let Ok(Some(raw)) = read_head(&mut self.client_input) else {
                return;
            };
            let Ok(request) = RequestHead::parse(&raw) else {
                return;
            };
            let fault = self.shared.take_fault(&request);
            self.record = self.shared.record(&request, fault.as_ref());
            match self.exchange(&request, fault) {
                Ok(Next::KeepAlive) => {}
                Ok(Next::Close) | Err(_) => return,
                Ok(Next::Reset) => {
                    let _ = reset_on_close(&self.client);
                    return;
                }
            }
        }
    }

    /// Handles one request, applying `fault` if any.
    fn exchange(&mut self, request: &RequestHead, fault: Option<Fault>) -> io::Result<Next> {
        if request.expects_continue() {
            self.client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let Some(fault) = fault else {
            return self.forward(request, &Tamper::default());
        };
        let tamper = match fault {
            Fault::ResetDuringRequestBody { after } => {
                self.drain(request, Some(after))?;
                self.drop_upstream();
                return Ok(Next::Reset);
            }
            Fault::Respond { status, code } => {
                return self.respond(request, status, &error_body(code));
            }
            Fault::OkWithErrorBody { code } => {
                return self.respond(request, 200, &error_body(code));
            }
            Fault::EmptyOk => return self.respond(request, 200, ""),
            Fault::Stall { for_ } => return self.stall(request, for_),
            Fault::Delay { for_ } => {
                std::thread::sleep(for_);
                return self.forward(request, &Tamper::default());
            }
            Fault::ResetDuringResponseBody { after } => Tamper {
                cut: Some(Cut::ResetAfter(after)),
                ..Tamper::default()
            },
            Fault::ShortBody { missing } => Tamper {
                cut: Some(Cut::ShortBy(missing)),
                ..Tamper::default()
            },
            Fault::FlipResponseByte { offset } => Tamper {
                response_flip: Some(offset),
                ..Tamper::default()
            },
            Fault::FlipRequestByte { offset } => Tamper {
                request_flip: Some(offset),
                ..Tamper::default()
            },
        };
        self.forward(request, &tamper)
    }

    /// Forwards the request and its response, tampered with as `tamper` says.
    fn forward(&mut self, request: &RequestHead, tamper: &Tamper) -> io::Result<Next> {
        self.send_upstream(request, tamper.request_flip)?;
        let response = self.read_response()?;
        let framing = response.framing(request);
        self.client.write_all(&response.raw)?;
        self.shared.answered(self.record, response.status);
        let limit = match tamper.cut {
            None => None,
            Some(Cut::ResetAfter(after)) => Some(after),
            Some(Cut::ShortBy(missing)) => Some(match framing {
                Framing::Length(length) => (length as usize).saturating_sub(missing),
                _ => 0,
            }),
        };
        let upstream = self.upstream.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        BodyCopy::new(&self.client, tamper.response_flip, limit)
            .run(&mut upstream.input, framing)?;
        let reusable = !response.wants_close() && framing != Framing::UntilClose;
        if tamper.cut.is_some() || !reusable {
            self.drop_upstream();
        }
        Ok(match tamper.cut {
            Some(Cut::ResetAfter(_)) => Next::Reset,
            Some(Cut::ShortBy(_)) => Next::Close,
            None if reusable && !request.wants_close() => Next::KeepAlive,
            None => Next::Close,
        })
    }

    /// Sends the request head and body upstream, flipping the body byte at `flip_at` if any.
    fn send_upstream(&mut self, request: &RequestHead, flip_at: Option<usize>) -> io::Result<()> {
        let upstream = Self::open_upstream(&mut self.upstream, &self.shared, self.id)?;
        upstream.output.write_all(&request.forward)?;
        BodyCopy::new(&upstream.output, flip_at, None)
            .run(&mut self.client_input, request.framing())?;
        Ok(())
    }

    /// The final response head from upstream (interim `1xx` responses are skipped).
    fn read_response(&mut self) -> io::Result<ResponseHead> {
        let upstream = self.upstream.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        loop {
            let raw = read_head(&mut upstream.input)?.ok_or(io::ErrorKind::UnexpectedEof)?;
            let response = ResponseHead::parse(raw)?;
            if !(100..=199).contains(&response.status) {
                return Ok(response);
            }
        }
    }

    /// The upstream connection, (re)opened if there is none or the server closed it.
    fn open_upstream<'a>(
        slot: &'a mut Option<Upstream>,
        shared: &Shared,
        id: u64,
    ) -> io::Result<&'a mut Upstream> {
        if slot.as_ref().is_some_and(Upstream::is_stale) {
            *slot = None;
        }
        match slot {
            Some(upstream) => Ok(upstream),
            None => {
                let upstream = Upstream::connect(shared.upstream)?;
                shared.register(id, Side::Upstream, &upstream.output);
                Ok(slot.insert(upstream))
            }
        }
    }

    fn drop_upstream(&mut self) {
        self.upstream = None;
        self.shared.unregister(self.id, Side::Upstream);
    }

    /// Reads and discards the request body, or only its first `limit` bytes.
    fn drain(&mut self, request: &RequestHead, limit: Option<usize>) -> io::Result<()> {
        BodyCopy::new(io::sink(), None, limit).run(&mut self.client_input, request.framing())?;
        Ok(())
    }

    /// Answers the request without forwarding it.
    fn respond(&mut self, request: &RequestHead, status: u16, body: &str) -> io::Result<Next> {
        self.drain(request, None)?;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        if !body.is_empty() {
            head.push_str("Content-Type: application/xml\r\n");
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nServer: s3mt-fault-proxy\r\n\r\n",
            body.len()
        ));
        self.client.write_all(head.as_bytes())?;
        self.shared.answered(self.record, status);
        if !request.is_head() {
            self.client.write_all(body.as_bytes())?;
        }
        if request.wants_close() {
            return Ok(Next::Close);
        }
        Ok(Next::KeepAlive)
    }

    /// Forwards the request, then keeps the client waiting for `duration` and closes.
    fn stall(&mut self, request: &RequestHead, duration: Duration) -> io::Result<Next> {
        self.send_upstream(request, None)?;
        self.drop_upstream();
        self.shared.pause(duration);
        Ok(Next::Close)
    }
}

/// An S3 error document with `code`.
fn error_body(code: &str) -> String {
    format!("<Error><Code>{code}</Code><Message>injected</Message></Error>")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
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
        assert_eq!(record.session_token.as_deref(), Some("tok/en=="));
        assert!(record.query.contains("X-Amz-Security-Token=REDACTED"));

        let signed = b"PUT /b/k HTTP/1.1\r\nHost: h\r\n\
                       Authorization: AWS4-HMAC-SHA256 Credential=AKIDH/20261121/us-east-1/s3/aws4_request, \
                       SignedHeaders=host;x-amz-date, Signature=ab\r\n\
                       X-Amz-Security-Token: session==\r\n\r\n";
        let request = RequestHead::parse(signed).unwrap();
        let record = request.record(None);
        assert_eq!(record.access_key.as_deref(), Some("AKIDH"));
        assert_eq!(record.session_token.as_deref(), Some("session=="));
        assert_eq!(record.header("x-amz-security-token"), Some("REDACTED"));
        assert!(Match::signed_by("AKIDH").matches(&request));
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
            authorization_key("AWS AKIDV2:c2lnbmF0dXJl").as_deref(),
            Some("AKIDV2")
        );
        assert_eq!(percent_decode("a%2fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn rejects_requests_signed_by_a_given_key() {
        // Nothing listens upstream: only the injected answers can succeed.
        let closed = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let upstream = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let proxy = FaultProxy::start(&upstream).unwrap();
        proxy.add(Rule::new(
            Match::signed_by("AKIDOLD"),
            usize::MAX,
            Fault::Respond {
                status: 403,
                code: "ExpiredToken",
            },
        ));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let authorization = |key: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/20261121/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=00"
            )
        };
        for _ in 0..2 {
            let mut response = agent
                .get(format!("{}/b/k", proxy.endpoint()))
                .header("Authorization", authorization("AKIDOLD"))
                .call()
                .unwrap();
            assert_eq!(response.status().as_u16(), 403);
            let body = response.body_mut().read_to_string().unwrap();
            assert!(body.contains("<Code>ExpiredToken</Code>"), "{body}");
        }
        let forwarded = agent
            .get(format!("{}/b/k", proxy.endpoint()))
            .header("Authorization", authorization("AKIDNEW"))
            .call();
        assert!(
            forwarded.is_err(),
            "forwarded to a closed port: {forwarded:?}"
        );
        let signers: Vec<_> = proxy
            .requests()
            .into_iter()
            .map(|record| (record.access_key, record.fault.is_some()))
            .collect();
        assert_eq!(
            signers,
            [
                (Some("AKIDOLD".to_owned()), true),
                (Some("AKIDOLD".to_owned()), true),
                (Some("AKIDNEW".to_owned()), false),
            ]
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
