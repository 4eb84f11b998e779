//! An emulated wide-area link for `cargo xtask bench --link DELAY,RATE`.
//!
//! This kernel has no netem, so [`LinkProxy`] is a TCP proxy between the clients and the S3
//! server. Each direction of each connection holds every chunk for half the round-trip delay
//! from the moment it was read (so a request/response round trip gains the whole delay, while
//! pipelined data stays pipelined, as on a real link), then paces it to the rate cap. The
//! proxy's own cost is what `0ms,unlimited` measures.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Largest chunk read from a socket at once: one queue entry.
const READ_CHUNK: usize = 64 * 1024;
/// Bounds of the queue of each direction of a connection, in bytes.
const QUEUE_BYTES: (u64, u64) = (4 << 20, 64 << 20);
/// Rate assumed to size the queue of an unlimited link (10 Gbit/s).
const UNLIMITED_RATE: u64 = 1_250_000_000;
/// Bounds of the slices paced data is written in (about 1 ms each at the rate): small enough
/// for a smooth rate, large enough to keep the syscalls few.
const SLICE_BYTES: (usize, usize) = (4 * 1024, 64 * 1024);
/// How often a reader checks whether its full queue has room again: a full queue holds far
/// more than this much data, so the link does not idle meanwhile.
const QUEUE_POLL: Duration = Duration::from_millis(1);
/// How much earlier than due data may be written. A sleep lasts some 50 us more than asked, so
/// sleeping for every small chunk just before it is due would throttle the link; pacing stays
/// exact on average, as the next send time advances by exactly each slice's time.
const EARLY: Duration = Duration::from_micros(200);
/// How often the listener thread polls for connections and the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(1);
/// Longest single sleep of a delayed or paced write, so that it notices the proxy stopping.
const SLEEP_STEP: Duration = Duration::from_millis(50);
/// How long dropping the proxy waits for connection threads to end.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// Time allowed to connect to the upstream server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An emulated link: a round-trip delay added to every connection, and a per-connection rate cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Round-trip delay added; each direction holds data for half of it.
    pub delay: Duration,
    /// Cap of each direction of each connection, in bytes per second (`None`: unlimited).
    pub bytes_per_second: Option<u64>,
}

impl Link {
    /// Parses `DELAY,RATE`: DELAY like `25ms`, `0ms`, `1s`, `250us`; RATE like `1gbit`,
    /// `100mbit`, `500kbit`, `1gbyte`, `125mbyte`, `unlimited` (bits are /8; decimal SI units).
    ///
    /// # Errors
    /// When the text is not of that form; the message names what is wrong.
    pub fn parse(text: &str) -> anyhow::Result<Link> {
        let (delay, rate) = text
            .split_once(',')
            .with_context(|| format!("expected DELAY,RATE like 25ms,1gbit, not {text:?}"))?;
        let (delay, rate) = (delay.trim(), rate.trim());
        let (value, unit) = number_and_unit(delay, "delay")?;
        let seconds_per_unit = match unit.as_str() {
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            _ => bail!("delay {delay:?} needs a unit: us, ms or s"),
        };
        let delay = Duration::try_from_secs_f64(value * seconds_per_unit)
            .with_context(|| format!("delay {delay:?} is out of range"))?;
        if rate.eq_ignore_ascii_case("unlimited") {
            return Ok(Link {
                delay,
                bytes_per_second: None,
            });
        }
        let (value, unit) = number_and_unit(rate, "rate")?;
        let bytes_per_unit = match unit.as_str() {
            "kbit" => 1e3 / 8.0,
            "mbit" => 1e6 / 8.0,
            "gbit" => 1e9 / 8.0,
            "kbyte" => 1e3,
            "mbyte" => 1e6,
            "gbyte" => 1e9,
            _ => bail!(
                "rate {rate:?} needs a unit: kbit, mbit, gbit, kbyte, mbyte, gbyte (or is unlimited)"
            ),
        };
        let bytes = (value * bytes_per_unit).round();
        if !(1.0..=1e18).contains(&bytes) {
            bail!("rate {rate:?} is out of range (at least 1 byte/s)");
        }
        Ok(Link {
            delay,
            bytes_per_second: Some(bytes as u64),
        })
    }
}

/// Splits `25ms` into 25.0 and `ms` (lowercase); `what` names `text` in errors.
fn number_and_unit(text: &str, what: &str) -> anyhow::Result<(f64, String)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    match text[..end].parse::<f64>() {
        Ok(value) => Ok((value, text[end..].to_ascii_lowercase())),
        Err(_) => bail!("{what} {text:?} does not start with a number"),
    }
}

impl fmt::Display for Link {
    /// `25 ms RTT, 1 Gbit/s per connection`: whole numbers in the largest unit that allows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.delay.as_micros() {
            0 => write!(f, "0 ms RTT, ")?,
            us if us.is_multiple_of(1_000_000) => write!(f, "{} s RTT, ", us / 1_000_000)?,
            us if us.is_multiple_of(1000) => write!(f, "{} ms RTT, ", us / 1000)?,
            us => write!(f, "{us} us RTT, ")?,
        }
        match self.bytes_per_second.map(|rate| u128::from(rate) * 8) {
            None => write!(f, "unlimited rate")?,
            Some(bits) if bits.is_multiple_of(1_000_000_000) => {
                write!(f, "{} Gbit/s", bits / 1_000_000_000)?
            }
            Some(bits) if bits.is_multiple_of(1_000_000) => {
                write!(f, "{} Mbit/s", bits / 1_000_000)?
            }
            Some(bits) if bits.is_multiple_of(1000) => write!(f, "{} kbit/s", bits / 1000)?,
            Some(bits) => write!(f, "{bits} bit/s")?,
        }
        write!(f, " per connection")
    }
}

/// A running proxy on 127.0.0.1 forwarding to `upstream` (an `http://127.0.0.1:PORT`
/// endpoint) through the link. Dropping it stops it (listener and connection threads end
/// within ~1 s).
#[derive(Debug)]
pub struct LinkProxy {
    shared: Arc<Shared>,
    listener_thread: Option<JoinHandle<()>>,
}

impl LinkProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    ///
    /// # Errors
    /// When `upstream` is not an `http://host:port` address, or no port can be bound.
    pub fn start(upstream: &str, link: Link) -> io::Result<LinkProxy> {
        Self::start_with(upstream, link, None)
    }

    /// A proxy like [`LinkProxy::start`] whose sockets send from a buffer of `send_buffer`
    /// bytes: what it counts as forwarded has then reached the peer's kernel, not waited in
    /// its own (which grows to 4 MiB a connection), so the counts are what a wire carries.
    pub fn metering(upstream: &str, link: Link, send_buffer: usize) -> io::Result<LinkProxy> {
        Self::start_with(upstream, link, Some(send_buffer))
    }

    fn start_with(upstream: &str, link: Link, send_buffer: Option<usize>) -> io::Result<LinkProxy> {
        let invalid = || {
            let message = format!("expected an http://host:port upstream, not {upstream:?}");
            io::Error::new(io::ErrorKind::InvalidInput, message)
        };
        let authority = upstream.strip_prefix("http://").ok_or_else(invalid)?;
        let upstream = authority
            .trim_end_matches('/')
            .to_socket_addrs()?
            .next()
            .ok_or_else(invalid)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        // Nonblocking, so that the accept loop can notice the stop flag.
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream,
            link,
            port,
            stopping: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            moved: [AtomicU64::new(0), AtomicU64::new(0)],
            send_buffer,
        });
        let listener_thread = thread::Builder::new()
            .name(format!("link-proxy-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&shared, &listener)
            })?;
        Ok(LinkProxy {
            shared,
            listener_thread: Some(listener_thread),
        })
    }

    /// Bytes written so far towards the server (uploads) and towards the clients (downloads),
    /// over all connections.
    pub fn bytes_moved(&self) -> [u64; 2] {
        let moved = &self.shared.moved;
        [
            moved[0].load(Ordering::Relaxed),
            moved[1].load(Ordering::Relaxed),
        ]
    }

    /// The proxy's address for clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.port)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Shutting the sockets down wakes up the threads blocked reading or writing them.
        for (client, upstream) in self.shared.sockets().values() {
            close_both(client, upstream);
        }
        if let Some(listener_thread) = self.listener_thread.take() {
            // Bounded: the loop polls the stop flag, then waits STOP_GRACE at most.
            let _ = listener_thread.join();
        }
    }
}

/// State shared by the proxy handle, the listener thread and the connection threads.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    link: Link,
    port: u16,
    stopping: AtomicBool,
    /// Clones of the open (client, upstream) sockets by connection, to shut them down on stop.
    sockets: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_connection: AtomicU64,
    /// Bytes written towards the server, and towards the clients.
    moved: [AtomicU64; 2],
    /// The sockets' send buffer size, when not the kernel's autotuned one.
    send_buffer: Option<usize>,
}

impl Shared {
    /// The open sockets (a panicking thread cannot leave them inconsistent).
    fn sockets(&self) -> MutexGuard<'_, HashMap<u64, (TcpStream, TcpStream)>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps until `deadline` (or up to [`EARLY`] before it) in short steps; false if the
    /// proxy stopped meanwhile.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now + EARLY >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(SLEEP_STEP));
        }
    }
}

/// Accepts connections until the proxy stops, then waits (bounded) for their threads.
fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping.load(Ordering::SeqCst) {
        let Ok((client, _)) = listener.accept() else {
            thread::sleep(ACCEPT_POLL);
            continue;
        };
        workers.retain(|worker| !worker.is_finished());
        let shared = Arc::clone(shared);
        let worker = thread::Builder::new()
            .name(format!("link-proxy-{}-conn", shared.port))
            .spawn(move || serve(&shared, client));
        workers.extend(worker.ok());
    }
    let deadline = Instant::now() + STOP_GRACE;
    while workers.iter().any(|worker| !worker.is_finished()) && Instant::now() < deadline {
        thread::sleep(ACCEPT_POLL * 10);
    }
    for worker in workers.into_iter().filter(|worker| worker.is_finished()) {
        let _ = worker.join();
    }
}

/// What a reader hands its writer: data read, or the end of the stream (its FIN), each with
/// the time it may leave the link.
enum Piece {
    Data(Instant, Vec<u8>),
    End(Instant),
}

/// Serves one client connection: opens its upstream connection and pumps both directions
/// (a reader and a writer thread each) until both have ended.
fn serve(shared: &Shared, client: TcpStream) {
    // On failure the client is dropped, so it sees its connection closed.
    let Ok(upstream) = TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT) else {
        return;
    };
    let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
    // Accepted sockets inherit the listener's nonblocking mode on some systems.
    let registered = [&client, &upstream]
        .into_iter()
        .try_for_each(|socket| {
            socket.set_nonblocking(false)?;
            socket.set_nodelay(true)?;
            match shared.send_buffer {
                Some(size) => socket2::SockRef::from(socket).set_send_buffer_size(size),
                None => Ok(()),
            }
        })
        .and_then(|()| Ok((client.try_clone()?, upstream.try_clone()?)))
        .map(|clones| shared.sockets().insert(id, clones));
    // Checked after registering: a stop that came before did not see these sockets.
    if registered.is_err() || shared.stopping.load(Ordering::SeqCst) {
        close_both(&client, &upstream);
    }
    let link = shared.link;
    let rate = link.bytes_per_second.unwrap_or(UNLIMITED_RATE);
    // The queue holds a round trip's worth at the rate (twice the one-way bandwidth-delay
    // product), so that the delay does not throttle the link; bounded to bound memory.
    let queue_bytes = (rate as f64 * link.delay.as_secs_f64()) as u64;
    let limit = queue_bytes.clamp(QUEUE_BYTES.0, QUEUE_BYTES.1) as usize;
    let queued = [AtomicUsize::new(0), AtomicUsize::new(0)];
    thread::scope(|scope| {
        for (from, to, queued, moved) in [
            (&client, &upstream, &queued[0], &shared.moved[0]),
            (&upstream, &client, &queued[1], &shared.moved[1]),
        ] {
            let (sender, receiver) = channel();
            let pump = Pump {
                shared,
                from,
                to,
                queued,
                moved,
            };
            let spawned = thread::Builder::new()
                .spawn_scoped(scope, move || pump.read(&sender, limit))
                .and_then(|_| {
                    thread::Builder::new().spawn_scoped(scope, move || pump.write(&receiver))
                });
            if spawned.is_err() {
                close_both(&client, &upstream);
            }
        }
    });
    shared.sockets().remove(&id);
}

/// One direction of a connection: its reader thread queues what it reads from `from`, its
/// writer thread writes it to `to` through the link.
#[derive(Clone, Copy)]
struct Pump<'a> {
    shared: &'a Shared,
    from: &'a TcpStream,
    to: &'a TcpStream,
    /// Bytes allocated by the chunks in the queue: it bounds the memory (a count of chunks
    /// would not, and would throttle the link when reads are small).
    queued: &'a AtomicUsize,
    /// Bytes this direction of every connection has written.
    moved: &'a AtomicU64,
}

impl Pump<'_> {
    /// Reads `from` into the queue, each chunk stamped with its release time (half the delay
    /// after it was read), while the queue holds less than `limit` bytes; queues the end at EOF;
    /// closes both sockets on an error.
    fn read(self, queue: &Sender<Piece>, limit: usize) {
        let (mut source, hold) = (self.from, self.shared.link.delay / 2);
        loop {
            // Waiting before reading leaves the data in the socket, which slows the sender.
            while self.queued.load(Ordering::Acquire) >= limit {
                if !self.shared.sleep_until(Instant::now() + QUEUE_POLL) {
                    return;
                }
            }
            let mut buffer = vec![0; READ_CHUNK];
            let piece = match source.read(&mut buffer) {
                Ok(0) => Piece::End(Instant::now() + hold),
                Ok(read) => {
                    buffer.truncate(read);
                    if read < READ_CHUNK / 2 {
                        // Small reads would otherwise hold a whole chunk of memory each.
                        buffer.shrink_to_fit();
                    }
                    self.queued.fetch_add(buffer.capacity(), Ordering::AcqRel);
                    Piece::Data(Instant::now() + hold, buffer)
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return close_both(self.from, self.to),
            };
            let end = matches!(piece, Piece::End(_));
            // A send error means the writer gave up, having closed both sockets.
            if queue.send(piece).is_err() || end {
                return;
            }
        }
    }

    /// Writes the queued chunks to `to` when their release time comes, paced to the rate cap;
    /// half-closes `to` at the end of the stream; closes both sockets on an error.
    fn write(self, queue: &Receiver<Piece>) {
        let (mut sink, shared) = (self.to, self.shared);
        let rate = shared.link.bytes_per_second;
        let slice = rate.map_or(READ_CHUNK, |rate| {
            (rate as usize / 1000).clamp(SLICE_BYTES.0, SLICE_BYTES.1)
        });
        // When the next slice may go: it advances by exactly each slice's time at the rate, so
        // sleeping too long is caught up, and restarts at the release time after an idle period.
        let mut next_send = Instant::now();
        loop {
            let sent = match queue.recv() {
                Ok(Piece::Data(release, data)) => {
                    next_send = next_send.max(release);
                    let sent = data.chunks(slice).all(|part| {
                        let sent = shared.sleep_until(next_send) && sink.write_all(part).is_ok();
                        if sent {
                            self.moved.fetch_add(part.len() as u64, Ordering::Relaxed);
                        }
                        if let Some(rate) = rate {
                            next_send += Duration::from_secs_f64(part.len() as f64 / rate as f64);
                        }
                        sent
                    });
                    self.queued.fetch_sub(data.capacity(), Ordering::AcqRel);
                    sent
                }
                Ok(Piece::End(release)) => {
                    if shared.sleep_until(release) {
                        let _ = self.to.shutdown(Shutdown::Write);
                        return;
                    }
                    false
                }
                // The reader ended on an error, having closed both sockets.
                Err(_) => false,
            };
            if !sent {
                // Frees a reader waiting for room: it then finds its socket closed and ends.
                self.queued.store(0, Ordering::Release);
                return close_both(self.to, self.from);
            }
        }
    }
}

/// Shuts both sockets down both ways, which ends every thread of their connection.
fn close_both(first: &TcpStream, second: &TcpStream) {
    let _ = first.shutdown(Shutdown::Both);
    let _ = second.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `connections` connections on a free loopback port, each with `handler` in its
    /// own thread.
    fn server(connections: usize, handler: fn(TcpStream)) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        thread::spawn(move || {
            for _ in 0..connections {
                let (stream, _) = listener.accept().unwrap();
                stream.set_nodelay(true).unwrap();
                thread::spawn(move || handler(stream));
            }
        });
        endpoint
    }

    /// Sends back everything, then half-closes.
    fn echo(stream: TcpStream) {
        let mut buffer = vec![0; READ_CHUNK];
        while let Ok(read @ 1..) = (&stream).read(&mut buffer) {
            (&stream).write_all(&buffer[..read]).unwrap();
        }
        stream.shutdown(Shutdown::Write).unwrap();
    }

    /// Reads until EOF, then answers how many bytes it read.
    fn sink(mut stream: TcpStream) {
        let total = io::copy(&mut stream, &mut io::sink()).unwrap();
        stream.write_all(total.to_string().as_bytes()).unwrap();
    }

    fn connect(endpoint: &str) -> TcpStream {
        let stream = TcpStream::connect(endpoint.trim_start_matches("http://")).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    fn proxy(upstream: &str, link: &str) -> LinkProxy {
        LinkProxy::start(upstream, Link::parse(link).unwrap()).unwrap()
    }

    /// Sends `bytes` bytes and half-closes; the time until the sink's answer.
    fn upload(endpoint: &str, bytes: usize) -> Duration {
        let (mut stream, start) = (connect(endpoint), Instant::now());
        io::copy(&mut io::repeat(7).take(bytes as u64), &mut stream).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, bytes.to_string());
        start.elapsed()
    }

    #[test]
    fn parses_links() {
        for (text, delay_us, rate) in [
            ("25ms,1gbit", 25_000, Some(125_000_000)),
            ("0ms,unlimited", 0, None),
            ("1s, 100mbit", 1_000_000, Some(12_500_000)),
            ("250us,500kbit", 250, Some(62_500)),
            ("1.5ms,1GByte", 1500, Some(1_000_000_000)),
        ] {
            let delay = Duration::from_micros(delay_us);
            let expected = Link {
                delay,
                bytes_per_second: rate,
            };
            assert_eq!(Link::parse(text).unwrap(), expected, "{text}");
        }
        for (text, shown) in [
            ("25ms,125mbyte", "25 ms RTT, 1 Gbit/s per connection"),
            ("1s,1500kbit", "1 s RTT, 1500 kbit/s per connection"),
            ("0ms,unlimited", "0 ms RTT, unlimited rate per connection"),
            ("1.5ms,0.001kbyte", "1500 us RTT, 8 bit/s per connection"),
        ] {
            assert_eq!(Link::parse(text).unwrap().to_string(), shown);
        }
        for (text, error) in [
            ("25ms", "expected DELAY,RATE"),
            ("25,1gbit", "needs a unit: us"),
            ("25xs,1gbit", "needs a unit: us"),
            ("fast,1gbit", "delay \"fast\" does not start with a number"),
            ("25ms,", "rate \"\" does not start with a number"),
            ("25ms,1gbps", "needs a unit: kbit"),
            ("25ms,0mbit", "out of range"),
        ] {
            let message = Link::parse(text).unwrap_err().to_string();
            assert!(message.contains(error), "{text}: {message}");
        }
    }

    #[test]
    fn adds_the_delay_to_each_round_trip() {
        let upstream = server(2, echo);
        let link = proxy(&upstream, "25ms,unlimited");
        let round_trip = |endpoint: &str| {
            let (mut stream, mut back) = (connect(endpoint), [0; 100]);
            let mut exchange = || {
                stream.write_all(&[1; 100]).unwrap();
                stream.read_exact(&mut back).unwrap();
            };
            exchange(); // The first one includes connecting upstream.
            let start = Instant::now();
            (0..10).for_each(|_| exchange());
            start.elapsed() / 10
        };
        let (direct, proxied) = (round_trip(&upstream), round_trip(&link.endpoint()));
        let added = proxied.saturating_sub(direct);
        eprintln!("round trip: direct {direct:?}, through 25 ms link {proxied:?}: added {added:?}");
        assert!((15..=35).contains(&added.as_millis()), "added {added:?}");
    }

    #[test]
    fn caps_the_rate_of_each_connection() {
        let upstream = server(3, sink);
        let link = proxy(&upstream, "0ms,200mbit");
        let upload = || upload(&link.endpoint(), 10_000_000);
        let mut times = vec![upload()];
        // Two at once: each still gets the cap, which is per connection.
        thread::scope(|scope| {
            let parallel = [scope.spawn(upload), scope.spawn(upload)];
            times.extend(parallel.map(|upload| upload.join().unwrap()));
        });
        for time in times {
            let rate = 80.0 / time.as_secs_f64();
            eprintln!("10 MB through 200 Mbit/s: {time:?}, {rate:.0} Mbit/s");
            assert!((360..=560).contains(&time.as_millis()), "{time:?}");
        }
    }

    #[test]
    fn measures_its_overhead() {
        let upstream = server(2, echo);
        let link = proxy(&upstream, "0ms,unlimited");
        let pattern: Vec<u8> = (0..1_000_000_u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // Echoes 200 times the pattern (200 MB), checking every byte that comes back.
        let echo_through = |endpoint: &str| {
            let (stream, start) = (connect(endpoint), Instant::now());
            thread::scope(|scope| {
                scope.spawn(|| {
                    (0..200).for_each(|_| (&stream).write_all(&pattern).unwrap());
                    stream.shutdown(Shutdown::Write).unwrap();
                });
                let mut buffer = vec![0; pattern.len()];
                for _ in 0..200 {
                    (&stream).read_exact(&mut buffer).unwrap();
                    assert!(buffer == pattern, "bytes changed on the way");
                }
                assert_eq!((&stream).read(&mut buffer).unwrap(), 0);
            });
            200e6 / start.elapsed().as_secs_f64() / 1e6
        };
        let (direct, proxied) = (echo_through(&upstream), echo_through(&link.endpoint()));
        eprintln!(
            "200 MB echoed: direct {direct:.0} MB/s, through 0ms,unlimited {proxied:.0} MB/s"
        );
    }

    #[test]
    fn propagates_half_close() {
        let upstream = server(1, sink);
        let link = proxy(&upstream, "10ms,100mbit");
        // The sink answers only once it saw EOF, and the answer still comes back.
        let time = upload(&link.endpoint(), 5);
        assert!(time >= Duration::from_millis(10), "{time:?}");
    }

    #[test]
    fn stops_when_dropped() {
        let upstream = server(1, echo);
        let link = proxy(&upstream, "1s,unlimited");
        let endpoint = link.endpoint();
        let mut stream = connect(&endpoint);
        stream.write_all(b"held for half a second").unwrap();
        thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        drop(link);
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1200), "{took:?}");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert!(matches!(stream.read(&mut [0; 64]), Ok(0) | Err(_)));
        assert!(TcpStream::connect(endpoint.trim_start_matches("http://")).is_err());
    }
}
