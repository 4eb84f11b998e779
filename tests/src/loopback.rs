//! The HTTP/1 skeleton of the loopback credential services the tests play ([`crate::metadata`],
//! [`crate::sts`]): a listener on a free 127.0.0.1 port, a thread per connection serving its one
//! request (`Connection: close`), and a [`Handler`] that records and answers each request.
//!
//! The HTTP is minimal: a body announced by `Content-Length` is read whole before the handler
//! sees the request; a chunked one is refused with 411, a body over 1 MiB with 413, a head that
//! does not parse with 400.

use std::fmt::Write as _;
use std::io::{self, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::proxy::{find_header, read_head};

/// Largest request body accepted.
const MAX_BODY: u64 = 1024 * 1024;
/// Read and write timeout of every connection: requests are tiny, and a connection thread
/// must end soon after the server is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the listener thread polls for connections and for the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// What a loopback service does with the requests it gets. It keeps its own state: it is shared
/// by the connection threads.
pub(crate) trait Handler: Send + Sync + 'static {
    /// The response to `request`, whose body was read whole. Recorded before it is returned,
    /// so that a client that got its response finds its request recorded.
    fn respond(&self, request: &Request) -> Response;

    /// Records `request`, answered `status` without reaching [`Handler::respond`]: a request
    /// that did not parse (then an empty [`Request`]), a body too large or chunked.
    fn refused(&self, request: &Request, status: u16);
}

/// A running loopback service. Dropping it stops it: the listener thread ends within a few
/// milliseconds, a connection being served within 2 s (its I/O timeout).
pub(crate) struct Loopback<H> {
    handler: Arc<H>,
    port: u16,
    stopping: Arc<AtomicBool>,
    listener_thread: Option<JoinHandle<()>>,
}

impl<H: Handler> Loopback<H> {
    /// Listens on a free loopback port and serves with the handler `make_handler` builds for
    /// that port. Threads are named `{name}-{port}`.
    ///
    /// # Errors
    /// When no port can be bound or no thread started.
    pub(crate) fn start(name: &str, make_handler: impl FnOnce(u16) -> H) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        // Non-blocking so that the listener thread sees the stop flag between connections.
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let handler = Arc::new(make_handler(port));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread_name = format!("{name}-{port}");
        let listener_thread = thread::Builder::new().name(thread_name.clone()).spawn({
            let handler = Arc::clone(&handler);
            let stopping = Arc::clone(&stopping);
            move || accept_loop(&handler, &listener, &stopping, &thread_name)
        })?;
        Ok(Self {
            handler,
            port,
            stopping,
            listener_thread: Some(listener_thread),
        })
    }
}

impl<H> Loopback<H> {
    /// The service's address: `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The handler, and so the service's state.
    pub(crate) fn handler(&self) -> &H {
        &self.handler
    }
}

impl<H> Drop for Loopback<H> {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(listener_thread) = self.listener_thread.take() {
            // Bounded: the loop polls the stop flag every ACCEPT_POLL.
            let _ = listener_thread.join();
        }
    }
}

/// Accepts connections until the service stops, serving each on its own thread.
fn accept_loop<H: Handler>(
    handler: &Arc<H>,
    listener: &TcpListener,
    stopping: &AtomicBool,
    thread_name: &str,
) {
    while !stopping.load(Ordering::SeqCst) {
        let Ok((stream, _)) = listener.accept() else {
            thread::sleep(ACCEPT_POLL);
            continue;
        };
        let handler = Arc::clone(handler);
        // Not joined: the thread ends once its one exchange is done or timed out.
        let _ = thread::Builder::new()
            .name(format!("{thread_name}-conn"))
            .spawn(move || {
                let _ = serve(handler.as_ref(), stream);
            });
    }
}

/// Serves the one request of a connection.
fn serve(handler: &impl Handler, stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut input = BufReader::new(stream.try_clone()?);
    let Some(raw) = read_head(&mut input)? else {
        return Ok(()); // Closed without a request.
    };
    let refuse = |request: &Request, response: Response| {
        handler.refused(request, response.status);
        response
    };
    let response = match Request::parse(&raw) {
        Ok(mut request) => {
            let length = request.content_length().unwrap_or(0);
            if request.header("transfer-encoding").is_some() {
                refuse(&request, Response::text(411, "send a Content-Length"))
            } else if length > MAX_BODY {
                refuse(&request, Response::text(413, "request body too large"))
            } else {
                // The whole body: a form POST's parameters are in it, and a signature covers it.
                (&mut input).take(length).read_to_end(&mut request.body)?;
                if request.body.len() as u64 != length {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                handler.respond(&request)
            }
        }
        Err(_) => refuse(
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

/// A request as received, body included. No `Debug`: its headers may carry secrets.
#[derive(Default)]
pub(crate) struct Request {
    /// The method, e.g. `GET`.
    pub(crate) method: String,
    /// The path of the request target, as sent (percent-encoded).
    pub(crate) path: String,
    /// The query of the request target, as sent (after `?`; empty without one).
    pub(crate) query: String,
    /// Every header in order, names in lowercase, values trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// The body announced by `Content-Length`, if any.
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The request line and headers of `raw` (a head read with [`read_head`]).
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

    /// The value of the header `name` (case-insensitive), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }
}

/// A response to send, with `Content-Length` and `Connection: close`.
pub(crate) struct Response {
    /// The status code, e.g. 200.
    pub(crate) status: u16,
    content_type: &'static str,
    extra_headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    /// A response of `status` with `body` of type `content_type`.
    pub(crate) fn new(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            extra_headers: Vec::new(),
            body,
        }
    }

    /// A `text/xml` response.
    pub(crate) fn xml(status: u16, body: String) -> Self {
        Self::new(status, "text/xml", body)
    }

    /// An `application/json` response.
    pub(crate) fn json(status: u16, body: String) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A `text/plain` response.
    pub(crate) fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain", body.to_owned())
    }

    /// The same response with the header `name: value` too.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.extra_headers.push((name, value));
        self
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

/// The reason phrase of the statuses the services answer.
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

/// `text` as the inside of a JSON string, for the JSON documents the services write.
pub(crate) fn json_escape(text: &str) -> String {
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

/// What the services' tests ask them with.
#[cfg(test)]
pub(crate) mod client {
    /// An agent that hands back every status rather than failing on errors.
    pub(crate) fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    /// Status and body of a response.
    pub(crate) fn read(
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, String) {
        let mut response = response.expect("HTTP exchange");
        let body = response.body_mut().read_to_string().expect("body");
        (response.status().as_u16(), body)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::sync::Mutex;

    use super::*;
    use crate::proxy::lock;

    /// Records each request as `STATUS METHOD PATH QUERY BODY`, and answers 200 with the body's
    /// length.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Handler for Recorder {
        fn respond(&self, request: &Request) -> Response {
            self.refused(request, 200);
            Response::text(200, &request.body.len().to_string()).with_header("x-test", "1".into())
        }

        fn refused(&self, request: &Request, status: u16) {
            let Request {
                method,
                path,
                query,
                body,
                ..
            } = request;
            let body = String::from_utf8_lossy(body);
            lock(&self.0).push(format!("{status} {method} {path} {query} {body}"));
        }
    }

    /// The raw response to the raw request `request`.
    fn exchange(server: &Loopback<Recorder>, request: &[u8]) -> String {
        let address = server.endpoint().trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.write_all(request).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        response
    }

    #[test]
    fn serves_one_request_per_connection_and_refuses_what_it_cannot_read() {
        let server = Loopback::start("loopback-test", |_port| Recorder::default()).expect("start");
        let response = exchange(
            &server,
            b"POST /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("\r\nConnection: close\r\n"), "{response}");
        assert!(response.contains("\r\nx-test: 1\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\n5"), "{response}");
        let chunked = exchange(
            &server,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert!(chunked.starts_with("HTTP/1.1 411 "), "{chunked}");
        let large = exchange(
            &server,
            b"PUT / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
        );
        assert!(large.starts_with("HTTP/1.1 413 "), "{large}");
        let malformed = exchange(&server, b"GET\r\n\r\n");
        assert!(malformed.starts_with("HTTP/1.1 400 "), "{malformed}");
        assert_eq!(
            *lock(&server.handler().0),
            [
                "200 POST /a%20b x=1 hello",
                "411 POST /  ",
                "413 PUT /  ",
                "400    ",
            ]
        );
    }
}
