//! The TCP connector of a session under `--max-bandwidth`: each socket's receive buffer is
//! fixed at a share of the cap, so that a server cannot send far ahead of a reader paced at it.
//!
//! Without it the kernel grows each connection's receive buffer to megabytes, and a server
//! fills it at link speed the moment a ranged GET starts: the bytes cross the network in a
//! burst well above the cap, however evenly s3mt then reads them (1.57x the cap in the first
//! second at 10 MB/s, measured). A fixed buffer also turns the kernel's autotuning off, so it
//! must still carry the cap over the link's round trip; when it cannot (more than the kernel
//! grants), the socket keeps the autotuning. Uncapped sessions keep ureq's own connector.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// What all of a session's receive buffers together may hold, at least: this much time at the
/// cap. Bursts over any second stay within it.
const LEAST_TIME_BUFFERED: Duration = Duration::from_millis(25);
/// Beyond that, the buffers hold this many round trips at the cap (the round trip measured by
/// the TCP handshake), so that a long link still carries the cap: a connection moves at most
/// a window per round trip.
const ROUND_TRIPS_BUFFERED: u32 = 2;
/// The smallest receive buffer asked for, bytes (the kernel doubles what it is asked for, for
/// its bookkeeping).
const LEAST_RECEIVE_BUFFER: u64 = 16 * 1024;

/// The receive buffer for each of `connections` sockets sharing a cap of `bytes_per_second`,
/// on a link whose round trip is `round_trip`, at most `largest` (the most the kernel grants);
/// `None` when the link needs more than that to carry the cap, which the kernel's autotuning
/// must then do.
pub(crate) fn receive_buffer(
    bytes_per_second: u64,
    connections: usize,
    round_trip: Duration,
    largest: u64,
) -> Option<usize> {
    let each = |time: Duration| {
        let all = u128::from(bytes_per_second) * time.as_nanos() / 1_000_000_000;
        u64::try_from(all / connections.max(1) as u128).unwrap_or(u64::MAX)
    };
    let link_needs = each(round_trip * ROUND_TRIPS_BUFFERED);
    if link_needs > largest {
        return None;
    }
    let size = link_needs
        .max(each(LEAST_TIME_BUFFERED))
        .max(LEAST_RECEIVE_BUFFER)
        .min(largest);
    usize::try_from(size).ok()
}

/// Opens TCP sockets whose receive buffers hold a fixed share of a cap (in place of ureq's
/// `TcpConnector`, which sets none).
#[derive(Debug)]
pub(crate) struct WindowedTcpConnector {
    bytes_per_second: u64,
    connections: usize,
    /// The largest receive buffer this machine's kernel grants.
    largest: u64,
}

impl WindowedTcpConnector {
    /// A connector for `connections` sharing a cap of `bytes_per_second`.
    pub fn new(bytes_per_second: u64, connections: usize) -> Self {
        Self {
            bytes_per_second,
            connections,
            largest: largest_receive_buffer(),
        }
    }
}

/// The kernel's ceiling on a receive buffer (`net.core.rmem_max` on Linux), learnt by asking
/// a fresh socket for far more and reading back what it got (halved: the kernel reports the
/// doubled size it books); Linux's default when no socket can be made.
fn largest_receive_buffer() -> u64 {
    const LINUX_DEFAULT: u64 = 212_992;
    let granted = || -> io::Result<usize> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_recv_buffer_size(1 << 30)?;
        socket.recv_buffer_size()
    };
    granted().map_or(LINUX_DEFAULT, |doubled| doubled as u64 / 2)
}

impl<In: Transport> Connector<In> for WindowedTcpConnector {
    type Out = Either<In, WindowedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // A connection made before this one (through a CONNECT proxy) is used as it is: its
        // socket to the proxy was opened by this connector, as the chain runs again for it.
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let addresses: Vec<SocketAddr> = details.addrs.iter().copied().collect();
        let timeout = connect_timeout(details.timeout, addresses.len());
        let mut last_error = None;
        for address in addresses {
            let started = Instant::now();
            match open(address, timeout) {
                Ok(stream) => {
                    // After the handshake, which measured the round trip (and announced a
                    // window scale fit for the largest buffer the kernel grants).
                    let round_trip = started.elapsed();
                    if let Some(size) = receive_buffer(
                        self.bytes_per_second,
                        self.connections,
                        round_trip,
                        self.largest,
                    ) {
                        SockRef::from(&stream).set_recv_buffer_size(size)?;
                    }
                    stream.set_nodelay(details.config.no_delay())?;
                    let stream = Arc::new(stream);
                    // The agent's shutdown (a transfer's cancel) shuts the socket down.
                    (details.register_shutdown)(
                        Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>
                    )?;
                    let buffers = LazyBuffers::new(
                        details.config.input_buffer_size(),
                        details.config.output_buffer_size(),
                    );
                    return Ok(Some(Either::B(WindowedTransport {
                        stream,
                        buffers,
                        read_timeout: None,
                        write_timeout: None,
                    })));
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            ureq::Error::Io(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "no address to connect to",
            ))
        }))
    }
}

/// A socket connected to `address` within `timeout`.
fn open(address: SocketAddr, timeout: Option<Duration>) -> Result<TcpStream, ureq::Error> {
    let connected = match timeout {
        Some(timeout) => TcpStream::connect_timeout(&address, timeout),
        None => TcpStream::connect(address),
    };
    connected.map_err(|err| match timed_out(&err) {
        true => ureq::Error::Timeout(ureq::Timeout::Connect),
        false => ureq::Error::Io(err),
    })
}

/// The connect timeout shared evenly by the addresses a name resolved to.
fn connect_timeout(timeout: NextTimeout, addresses: usize) -> Option<Duration> {
    let whole = *timeout.not_zero()?;
    let each = whole / u32::try_from(addresses.max(1)).unwrap_or(u32::MAX);
    Some(each.max(Duration::from_millis(10)))
}

fn timed_out(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// A TCP connection as ureq's own transport keeps one (whose type ureq does not export): its
/// buffers, and the per-read and per-write timeouts set on the socket only when they change.
pub(crate) struct WindowedTransport {
    /// Shared (weakly) with the agent's shutdown.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl std::fmt::Debug for WindowedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// `timeout` for the next read or write as the socket takes it, or the timeout error when
/// none is left.
fn socket_timeout(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|after| *after))
}

impl Transport for WindowedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = socket_timeout(timeout)?;
        if limit != self.write_timeout {
            self.stream.set_write_timeout(limit)?;
            self.write_timeout = limit;
        }
        match (&*self.stream).write_all(&self.buffers.output()[..amount]) {
            Ok(()) => Ok(()),
            Err(err) if timed_out(&err) => Err(ureq::Error::Timeout(timeout.reason)),
            Err(err) => Err(err.into()),
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let limit = socket_timeout(timeout)?;
        if limit != self.read_timeout {
            self.stream.set_read_timeout(limit)?;
            self.read_timeout = limit;
        }
        let read = loop {
            match (&*self.stream).read(self.buffers.input_append_buf()) {
                // A signal: read again (the timeout restarts, which only lengthens a stall's
                // detection).
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if timed_out(&err) => {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                other => break other?,
            }
        };
        self.buffers.input_appended(read);
        Ok(read > 0)
    }

    /// Whether a pooled connection can be used again: nothing to read on it (no bytes a
    /// server sent unasked, no end of stream), probed without waiting.
    fn is_open(&mut self) -> bool {
        let probe = || -> io::Result<bool> {
            self.stream.set_nonblocking(true)?;
            let idle = matches!(
                (&*self.stream).read(&mut [0]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock
            );
            self.stream.set_nonblocking(false)?;
            Ok(idle)
        };
        probe().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LARGEST: u64 = 212_992;

    #[test]
    fn all_buffers_together_hold_25_ms_at_the_cap_on_a_short_link() {
        // 10 MB/s over 8 connections on loopback: 31,250 bytes each, 250,000 in all.
        let loopback = Duration::from_micros(50);
        assert_eq!(
            receive_buffer(10_000_000, 8, loopback, LARGEST),
            Some(31_250)
        );
        assert_eq!(receive_buffer(1_000, 8, loopback, LARGEST), Some(16 * 1024));
        // No connections counts as one.
        assert_eq!(
            receive_buffer(4_000_000, 0, loopback, LARGEST),
            Some(100_000)
        );
    }

    #[test]
    fn a_long_link_gets_two_round_trips_at_the_cap() {
        // 10 MB/s over 8 connections, 40 ms round trips: 80 ms at the cap, 100,000 each.
        let buffer = receive_buffer(10_000_000, 8, Duration::from_millis(40), LARGEST);
        assert_eq!(buffer, Some(100_000));
    }

    #[test]
    fn a_short_link_at_a_high_cap_gets_what_the_kernel_grants() {
        let loopback = Duration::from_micros(50);
        let buffer = receive_buffer(1_000_000_000, 8, loopback, LARGEST);
        assert_eq!(buffer, Some(212_992));
    }

    #[test]
    fn a_link_that_needs_more_than_the_kernel_grants_is_left_to_its_autotuning() {
        let buffer = receive_buffer(1_000_000_000, 8, Duration::from_millis(40), LARGEST);
        assert_eq!(buffer, None);
        assert_eq!(
            receive_buffer(1 << 40, 1, Duration::from_secs(1), LARGEST),
            None
        );
    }

    #[test]
    fn the_kernel_grants_a_largest_buffer() {
        assert!(largest_receive_buffer() >= 4096);
    }
}
