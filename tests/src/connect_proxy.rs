//! A forward proxy of ours on loopback, speaking HTTP CONNECT as company proxies do: it
//! tunnels each connection to the host and port asked for, records what it was asked, and can
//! require `Proxy-Authorization` (answering 407 without it).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One CONNECT the proxy was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// `host:port`.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// The proxy; it stops when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    tunnels: Mutex<Vec<Tunnel>>,
    /// The `Proxy-Authorization` value required, if any.
    required: Option<String>,
    stopping: AtomicBool,
}

impl ConnectProxy {
    /// A proxy that tunnels every CONNECT.
    pub fn start() -> io::Result<Self> {
        Self::start_requiring(None)
    }

    /// A proxy that tunnels only CONNECTs carrying `Proxy-Authorization: Basic <user:password
    /// in base64>` for `credentials` (`user:password`), and answers 407 to the others.
    pub fn start_requiring(credentials: Option<&str>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            required: credentials.map(|credentials| format!("Basic {}", base64(credentials))),
            ..Shared::default()
        });
        let thread = thread::Builder::new()
            .name(format!("connect-proxy-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept(&listener, &shared)
            })?;
        Ok(Self {
            port,
            shared,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, or with `user:password@` before the host.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(credentials) => format!("http://{credentials}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every CONNECT received so far.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.shared
            .tunnels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let shared = Arc::clone(shared);
                let _ = thread::Builder::new()
                    .name("connect-proxy-conn".into())
                    .spawn(move || {
                        let _ = serve(client, &shared);
                    });
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Reads a CONNECT, checks the credentials, and tunnels both ways until either side closes.
fn serve(client: TcpStream, shared: &Shared) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        return (&client)
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
    };
    let target = target.to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("proxy-authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    shared
        .tunnels
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Tunnel {
            target: target.clone(),
            authorization: authorization.clone(),
        });
    if shared.required.is_some() && authorization != shared.required {
        return (&client).write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
        );
    }
    // Loopback addresses only (no name is looked up): the tests never reach beyond this
    // machine.
    let Some(address) = target
        .parse::<SocketAddr>()
        .ok()
        .filter(|address| address.ip().is_loopback())
    else {
        return (&client).write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    };
    let upstream = TcpStream::connect(address)?;
    (&client).write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    // What the client sent after its CONNECT head is already in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    (&upstream).write_all(&buffered)?;
    let (client_out, upstream_in) = (client.try_clone()?, upstream.try_clone()?);
    let down = thread::spawn(move || pipe(upstream_in, client_out));
    pipe(client, upstream);
    let _ = down.join();
    Ok(())
}

/// Copies `from` to `to` until `from` ends, then closes `to`'s sending side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Standard base64 of `text` (for a `Basic` credential).
fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_credentials_encode_as_base64() {
        assert_eq!(super::base64("user:pass"), "dXNlcjpwYXNz");
    }
}
