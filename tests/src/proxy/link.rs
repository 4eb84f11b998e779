//! One side of a proxied connection: a plain socket, or TLS over it (the proxy ends the
//! client's TLS with the test CA's certificate and opens its own to an `https` server), so the
//! faults apply to the HTTP inside. Reads and writes go through shared handles, used in turn
//! by the connection's one thread.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;

/// TLS on either side of the proxy: a server config towards its clients, a client config
/// towards the upstream server.
#[derive(Clone, Default)]
pub(super) struct TlsSides {
    pub to_clients: Option<Arc<rustls::ServerConfig>>,
    pub to_upstream: Option<Arc<rustls::ClientConfig>>,
}

enum Stream {
    Plain(TcpStream),
    Served(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    Dialled(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A handle on one side's stream; clones share it.
#[derive(Clone)]
pub(super) struct Link(Rc<RefCell<Stream>>);

impl Link {
    /// The client side: TLS served with `tls` when given.
    pub fn accepted(
        socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let stream = match tls {
            None => Stream::Plain(socket),
            Some(tls) => {
                let connection =
                    rustls::ServerConnection::new(Arc::clone(tls)).map_err(io::Error::other)?;
                Stream::Served(Box::new(rustls::StreamOwned::new(connection, socket)))
            }
        };
        Ok(Self(Rc::new(RefCell::new(stream))))
    }

    /// The upstream side: TLS to `127.0.0.1` with `tls` when given.
    pub fn dialled(socket: TcpStream, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<Self> {
        let stream = match tls {
            None => Stream::Plain(socket),
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
                    .map_err(io::Error::other)?;
                let connection = rustls::ClientConnection::new(Arc::clone(tls), name)
                    .map_err(io::Error::other)?;
                Stream::Dialled(Box::new(rustls::StreamOwned::new(connection, socket)))
            }
        };
        Ok(Self(Rc::new(RefCell::new(stream))))
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Served(stream) => stream.read(buf),
            Stream::Dialled(stream) => stream.read(buf),
        }
    }
}

impl Write for Link {
    /// Writes, and sends a TLS side's records at once: the proxy's peers wait for them.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Served(stream) => stream.write(buf).and_then(|n| stream.flush().map(|()| n)),
            Stream::Dialled(stream) => stream.write(buf).and_then(|n| stream.flush().map(|()| n)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut *self.0.borrow_mut() {
            Stream::Plain(stream) => stream.flush(),
            Stream::Served(stream) => stream.flush(),
            Stream::Dialled(stream) => stream.flush(),
        }
    }
}
