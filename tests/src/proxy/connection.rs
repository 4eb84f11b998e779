//! Serving clients: the accept loop, a thread per client connection that forwards each request
//! over its own upstream connection, and the faults applied on the way (resets, made-up
//! answers, forged replies, stalls, headers rewritten or dropped, bodies cut short or with a
//! byte flipped).

use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::http1::{
    BodyCopy, CHUNK, Framing, RequestHead, ResponseHead, read_head, with_header, without_header,
};
use super::link::Link;
use super::rules::Fault;
use super::{SLEEP_STEP, Shared, Side};

/// Read and write timeout of every socket.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to connect to the upstream server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the listener thread polls for connections (and for a pending rebind).
const ACCEPT_POLL: Duration = Duration::from_millis(2);
/// How long dropping the proxy waits for connection threads to end.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// Accepts connections until the proxy stops, then waits (bounded) for their threads.
pub(super) fn accept_loop(shared: &Arc<Shared>) {
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
    /// A request header left out.
    dropped_header: Option<String>,
    /// A response header replaced (or removed): the client connection is closed after.
    rewritten_header: Option<(String, Option<String>)>,
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
    /// The socket itself, for its state and to shut it down.
    socket: TcpStream,
    output: Link,
    input: BufReader<Link>,
}

impl Upstream {
    fn connect(address: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<Self> {
        let socket = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
        configure(&socket)?;
        let output = Link::dialled(socket.try_clone()?, tls)?;
        let input = BufReader::with_capacity(CHUNK, output.clone());
        Ok(Self {
            socket,
            output,
            input,
        })
    }

    /// Whether the server closed the connection (or sent something unasked) since last used.
    fn is_stale(&self) -> bool {
        if !self.input.buffer().is_empty() || self.socket.set_nonblocking(true).is_err() {
            return true;
        }
        let stale = !matches!(
            self.socket.peek(&mut [0; 1]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock
        );
        self.socket.set_nonblocking(false).is_err() || stale
    }
}

/// One client connection and its upstream connection.
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    /// The client's socket itself, to reset it.
    client_socket: TcpStream,
    client: Link,
    client_input: BufReader<Link>,
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

    fn new(id: u64, shared: Arc<Shared>, client_socket: TcpStream) -> io::Result<Self> {
        configure(&client_socket)?;
        let client = Link::accepted(client_socket.try_clone()?, shared.tls.to_clients.as_ref())?;
        let client_input = BufReader::with_capacity(CHUNK, client.clone());
        shared.register(id, Side::Client, &client_socket);
        Ok(Self {
            id,
            shared,
            client_socket,
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
                    let _ = reset_on_close(&self.client_socket);
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
            Fault::Reply { status, ref body } => return self.respond(request, status, body),
            Fault::Forge {
                status,
                ref headers,
                ref body,
            } => return self.forge(request, status, headers, body),
            Fault::RewriteResponseHeader { name, value } => Tamper {
                rewritten_header: Some((name, value)),
                ..Tamper::default()
            },
            Fault::DropRequestHeader { name } => Tamper {
                dropped_header: Some(name),
                ..Tamper::default()
            },
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
        let head = match &tamper.dropped_header {
            Some(name) => without_header(&request.forward, name),
            None => request.forward.clone(),
        };
        self.send_upstream(request, &head, tamper.request_flip)?;
        let response = self.read_response()?;
        let framing = response.framing(request);
        match &tamper.rewritten_header {
            Some((name, value)) => {
                self.client
                    .write_all(&with_header(&response.raw, name, value.as_deref()))?
            }
            None => self.client.write_all(&response.raw)?,
        }
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
        BodyCopy::new(self.client.clone(), tamper.response_flip, limit)
            .run(&mut upstream.input, framing)?;
        let reusable = !response.wants_close() && framing != Framing::UntilClose;
        if tamper.cut.is_some() || !reusable {
            self.drop_upstream();
        }
        Ok(match tamper.cut {
            Some(Cut::ResetAfter(_)) => Next::Reset,
            Some(Cut::ShortBy(_)) => Next::Close,
            None if tamper.rewritten_header.is_some() => Next::Close,
            None if reusable && !request.wants_close() => Next::KeepAlive,
            None => Next::Close,
        })
    }

    /// Sends `head` (the request's, or a changed one) and the request body upstream, flipping
    /// the body byte at `flip_at` if any.
    fn send_upstream(
        &mut self,
        request: &RequestHead,
        head: &[u8],
        flip_at: Option<usize>,
    ) -> io::Result<()> {
        let upstream = Self::open_upstream(&mut self.upstream, &self.shared, self.id)?;
        upstream.output.write_all(head)?;
        BodyCopy::new(upstream.output.clone(), flip_at, None)
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
                let upstream = Upstream::connect(shared.upstream, shared.tls.to_upstream.as_ref())?;
                shared.register(id, Side::Upstream, &upstream.socket);
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

    /// Answers the request without forwarding it, with `headers` and `body` exactly as given
    /// (see [`Fault::Forge`]), then closes.
    fn forge(
        &mut self,
        request: &RequestHead,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> io::Result<Next> {
        self.drain(request, None)?;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
        for (name, value) in headers {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let framed = headers.iter().any(|(name, _)| {
            name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
        });
        if !framed {
            head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        // The connection is closed after the reply: said, as a server would, unless the test
        // says otherwise. Unsaid, the client may send its next request on it first, and meet
        // a reset (a closed socket with unread bytes) and a retry's backoff.
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("connection"))
        {
            head.extend_from_slice(b"Connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
        self.client.write_all(&head)?;
        self.shared.answered(self.record, status);
        if !request.is_head() {
            self.client.write_all(body)?;
        }
        self.client.flush()?;
        Ok(Next::Close)
    }

    /// Forwards the request, then keeps the client waiting for `duration` and closes.
    fn stall(&mut self, request: &RequestHead, duration: Duration) -> io::Result<Next> {
        let head = request.forward.clone();
        self.send_upstream(request, &head, None)?;
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
        206 => "Partial Content",
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
