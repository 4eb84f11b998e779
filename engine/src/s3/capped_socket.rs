//! The TCP connector of a session under `--max-bandwidth`: each socket's receive and send
//! buffers are fixed at a share of the cap, so that neither end can get far ahead of the bytes
//! s3mt paces.
//!
//! Without it the kernel grows each connection's buffers to megabytes. A server fills the
//! receive buffer at link speed the moment a ranged GET starts: the bytes cross the network in
//! a burst well above the cap, however evenly s3mt then reads them (1.57x the cap in the first
//! second at 10 MB/s, measured). Likewise a send buffer holds what s3mt wrote at the cap while
//! the link stalled, and empties at link speed when it resumes. A fixed buffer also turns the
//! kernel's autotuning off, so it must still carry the cap over the link's round trip; when it
//! cannot (more than the kernel grants), the socket keeps the autotuning. Uncapped sessions keep
//! ureq's own connector.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// What all of a session's buffers of one direction together may hold, at least: this much
/// time at the cap. Bursts over any second stay within it.
const LEAST_TIME_BUFFERED: Duration = Duration::from_millis(25);
/// Beyond that, the buffers hold this many round trips at the cap (the round trip measured by
/// the TCP handshake), so that a long link still carries the cap: a connection moves at most
/// a window per round trip.
const ROUND_TRIPS_BUFFERED: u32 = 2;
/// The smallest receive buffer asked for, bytes (the kernel doubles what it is asked for, for
/// its bookkeeping).
const LEAST_RECEIVE_BUFFER: u64 = 16 * 1024;
/// The smallest send buffer asked for: a few segments of a loopback link (64 KiB each), as a
/// sender with less waits on the receiver's delayed acknowledgements (measured: 31 KiB held a
/// 10 MB/s upload to 0.83 of the cap).
const LEAST_SEND_BUFFER: u64 = 128 * 1024;

/// What a capped socket's buffers are set to, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketBuffers {
    pub receive: usize,
    pub send: usize,
}

/// The buffers for each of `connections` sockets sharing a cap of `bytes_per_second`, on a
/// link whose round trip is `round_trip`, at most `largest` (the most the kernel grants);
/// `None` when the link needs more than that to carry the cap, which the kernel's autotuning
/// must then do.
pub(crate) fn socket_buffers(
    bytes_per_second: u64,
    connections: usize,
    round_trip: Duration,
    largest: u64,
) -> Option<SocketBuffers> {
    let each = |time: Duration| {
        let all = u128::from(bytes_per_second) * time.as_nanos() / 1_000_000_000;
        u64::try_from(all / connections.max(1) as u128).unwrap_or(u64::MAX)
    };
    let link_needs = each(round_trip * ROUND_TRIPS_BUFFERED);
    if link_needs > largest {
        return None;
    }
    let share = link_needs.max(each(LEAST_TIME_BUFFERED));
    let sized = |least: u64| usize::try_from(share.max(least).min(largest)).unwrap_or(usize::MAX);
    Some(SocketBuffers {
        receive: sized(LEAST_RECEIVE_BUFFER),
        send: sized(LEAST_SEND_BUFFER),
    })
}

/// Opens TCP sockets whose buffers hold a fixed share of a cap (in place of ureq's
/// `TcpConnector`, which sets none).
#[derive(Debug)]
pub(crate) struct CappedTcpConnector {
    bytes_per_second: u64,
    connections: usize,
    /// The largest buffer this machine's kernel grants (of the two, the smaller).
    largest: u64,
}

impl CappedTcpConnector {
    /// A connector for `connections` sharing a cap of `bytes_per_second`.
    pub fn new(bytes_per_second: u64, connections: usize) -> Self {
        Self {
            bytes_per_second,
            connections,
            largest: largest_buffer(),
        }
    }
}

/// The kernel's ceiling on a socket's buffers (`net.core.rmem_max` and `wmem_max` on Linux),
/// the smaller of the two: learnt by asking a fresh socket for far more and reading back what
/// it got (halved: the kernel reports the doubled size it books); Linux's default when no
/// socket can be made.
fn largest_buffer() -> u64 {
    const LINUX_DEFAULT: u64 = 212_992;
    let granted = || -> io::Result<usize> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_recv_buffer_size(1 << 30)?;
        socket.set_send_buffer_size(1 << 30)?;
        Ok(socket.recv_buffer_size()?.min(socket.send_buffer_size()?))
    };
    granted().map_or(LINUX_DEFAULT, |doubled| doubled as u64 / 2)
}

impl<In: Transport> Connector<In> for CappedTcpConnector {
    type Out = Either<In, CappedTransport>;

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
                    if let Some(sizes) = socket_buffers(
                        self.bytes_per_second,
                        self.connections,
                        round_trip,
                        self.largest,
                    ) {
                        let socket = SockRef::from(&stream);
                        socket.set_recv_buffer_size(sizes.receive)?;
                        socket.set_send_buffer_size(sizes.send)?;
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
                    return Ok(Some(Either::B(CappedTransport {
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
pub(crate) struct CappedTransport {
    /// Shared (weakly) with the agent's shutdown.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl std::fmt::Debug for CappedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedTransport")
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

impl Transport for CappedTransport {
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

    fn sizes(receive: usize, send: usize) -> Option<SocketBuffers> {
        Some(SocketBuffers { receive, send })
    }

    #[test]
    fn all_buffers_together_hold_25_ms_at_the_cap_on_a_short_link() {
        // 10 MB/s over 8 connections on loopback: 31,250 bytes each, 250,000 in all (the send
        // buffers at least their least).
        let loopback = Duration::from_micros(50);
        let buffers = socket_buffers(10_000_000, 8, loopback, LARGEST);
        assert_eq!(buffers, sizes(31_250, 128 * 1024));
        let buffers = socket_buffers(1_000, 8, loopback, LARGEST);
        assert_eq!(buffers, sizes(16 * 1024, 128 * 1024));
        // 100 MB/s: 312,500 each, more than the kernel grants.
        let buffers = socket_buffers(100_000_000, 8, loopback, LARGEST);
        assert_eq!(buffers, sizes(212_992, 212_992));
        // No connections counts as one.
        let buffers = socket_buffers(8_000_000, 0, loopback, LARGEST);
        assert_eq!(buffers, sizes(200_000, 200_000));
    }

    #[test]
    fn a_long_link_gets_two_round_trips_at_the_cap() {
        // 10 MB/s over 8 connections, 40 ms round trips: 80 ms at the cap, 100,000 each.
        let buffers = socket_buffers(10_000_000, 8, Duration::from_millis(40), LARGEST);
        assert_eq!(buffers, sizes(100_000, 128 * 1024));
    }

    #[test]
    fn a_link_that_needs_more_than_the_kernel_grants_is_left_to_its_autotuning() {
        let buffers = socket_buffers(1_000_000_000, 8, Duration::from_millis(40), LARGEST);
        assert_eq!(buffers, None);
        let buffers = socket_buffers(1 << 40, 1, Duration::from_secs(1), LARGEST);
        assert_eq!(buffers, None);
    }

    #[test]
    fn the_kernel_grants_a_largest_buffer() {
        assert!(largest_buffer() >= 4096);
    }
}
