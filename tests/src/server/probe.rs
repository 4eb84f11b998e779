//! Small network and log helpers shared by every kind of server: free loopback ports, a bare
//! HTTP GET for readiness checks, and the tail of a server's log.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// `count` distinct free loopback ports: all bound to 127.0.0.1:0 at once, then released.
pub(super) fn free_ports(count: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io::Error::other(format!("cannot find free loopback ports: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A plain HTTP/1.1 GET to 127.0.0.1:`port`; returns the status code and the body.
pub(super) fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    get(port, path, false)
}

/// [`http_get`], over TLS (trusting the test CA) when `tls`.
pub(super) fn get(port: u16, path: &str, tls: bool) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    if tls {
        let name =
            rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(io::Error::other)?;
        let connection = rustls::ClientConnection::new(crate::tls::shared().client.clone(), name)
            .map_err(io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(connection, stream);
        stream.write_all(request.as_bytes())?;
        match stream.read_to_end(&mut raw) {
            Ok(_) => {}
            // A server that closes without a TLS close_notify: what was read stands.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(err) => return Err(err),
        }
    } else {
        let mut stream = stream;
        stream.write_all(request.as_bytes())?;
        stream.read_to_end(&mut raw)?;
    }
    let raw = String::from_utf8_lossy(&raw);
    let bad = || io::Error::other("malformed HTTP response");
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(bad)?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest.split_once("\r\n")?;
        let size_hex = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Ready when an anonymous `GET /` on `port` gets any HTTP answer: for servers that are
/// ready once they listen.
pub(super) fn answers_http(port: u16) -> Result<(), String> {
    match http_get(port, "/") {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("waiting for the S3 port to answer HTTP ({e})")),
    }
}

/// The last lines the server logged since `offset`.
pub(super) fn log_tail(path: &Path, offset: u64) -> String {
    const MAX_BYTES: u64 = 8 * 1024;
    const MAX_LINES: usize = 40;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset.max(len.saturating_sub(MAX_BYTES))))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(MAX_LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}
