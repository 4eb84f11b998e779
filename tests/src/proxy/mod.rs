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
//!
//! This module holds the [`FaultProxy`] handle and the state it shares with its threads;
//! `rules` what a test scripts and what is recorded, `http1` the HTTP/1.1 message handling,
//! `connection` the threads that accept and serve connections.

mod connection;
mod http1;
mod link;
mod rules;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub(crate) use self::http1::{find_header, read_head};
pub use self::rules::{Fault, Match, RequestRecord, Rule};

use self::connection::accept_loop;
use self::http1::RequestHead;
use self::link::TlsSides;

/// Longest single sleep of a stalled connection, so that it notices the proxy stopping.
const SLEEP_STEP: Duration = Duration::from_millis(10);

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
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`, or `https://`: the proxy then
    /// speaks TLS on both sides, with the test CA's certificates) on a free loopback port.
    ///
    /// # Errors
    /// When `upstream` is not an `http://host:port` address, or no port can be bound.
    pub fn start(upstream: &str) -> io::Result<FaultProxy> {
        // An https server gets an https proxy: TLS ended and begun again with the test CA.
        let to_clients = upstream
            .starts_with("https://")
            .then(|| Arc::clone(&crate::tls::shared().server));
        Self::start_with(upstream, to_clients)
    }

    /// Starts a proxy to `upstream` that serves its clients TLS with `server` (a certificate of
    /// the test's choosing: for another name, expired ...), whatever `upstream` speaks.
    ///
    /// # Errors
    /// As [`FaultProxy::start`].
    pub fn start_tls(upstream: &str, server: Arc<rustls::ServerConfig>) -> io::Result<FaultProxy> {
        Self::start_with(upstream, Some(server))
    }

    fn start_with(
        upstream: &str,
        to_clients: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<FaultProxy> {
        let tls = TlsSides {
            to_clients,
            to_upstream: upstream
                .starts_with("https://")
                .then(|| Arc::clone(&crate::tls::shared().client)),
        };
        let upstream = upstream_address(upstream)?;
        let listener = bind_listener(0)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream,
            tls,
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

    /// The proxy's address for clients: `http://127.0.0.1:PORT`, `https://` for an https
    /// server.
    pub fn endpoint(&self) -> String {
        let scheme = if self.shared.tls.to_clients.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.shared.port)
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Adds a rule after the existing ones. For each request, the first rule (in the order
    /// added) that matches it and is not spent applies.
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push((rule, 0));
    }

    /// Removes every rule: from now on requests are forwarded faithfully.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// How many client connections the proxy accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.next_connection.load(Ordering::SeqCst)
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
    /// TLS towards the clients and the server, where they speak it.
    tls: TlsSides,
    port: u16,
    /// Each rule, and how many requests it was applied to.
    rules: Mutex<Vec<(Rule, usize)>>,
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

    /// The fault for `request`, spending one use of the first live rule that matches it
    /// (numbered: see [`Fault::Forge`]).
    fn take_fault(&self, request: &RequestHead) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let (rule, applied) = rules
            .iter_mut()
            .find(|(rule, _)| rule.times > 0 && rule.matcher.matches(request))?;
        rule.times -= 1;
        *applied += 1;
        Some(rule.fault.clone().numbered(*applied - 1))
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
            format!("expected an http(s)://host:port upstream, not {upstream:?}"),
        )
    };
    let authority = upstream
        .strip_prefix("http://")
        .or_else(|| upstream.strip_prefix("https://"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
