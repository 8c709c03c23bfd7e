//! The receiving side of the `smtp` area: kumo-smtp's listener ([`Listener`], `serve` with a
//! [`CountingHandler`]) and the plain TCP sink it is compared with ([`TcpSink`]), each on its
//! own tokio runtime and thread; what the figures mean is in the `smtp` module's doc.
//!
//! * [`Listener`]: `kumo_smtp::serve` on `127.0.0.1`, `ServerConfig` defaults apart from no
//!   message limit per connection, the default `ConnectionLimiter`, no wrapping layer. Its
//!   [`CountingHandler`] accepts every sender and recipient, and for each message counts it
//!   and its bytes (after dot-unstuffing) and drops the data: the cost measured is the
//!   listener's (reading, command parsing, DATA decoding into the message `Vec`, replies), not
//!   a host's storage.
//! * [`TcpSink`]: accepts connections, reads each into a 64 KB buffer until the client closes
//!   its side, counts the bytes, discards them, and closes. It never writes; the client's
//!   read of that close is how it knows every byte arrived.
//! * [`tcp_send`]: the TCP sink's sender, the same connection pattern as `kumo_send` (one
//!   task and connection each, the same message count per connection), writing per message
//!   exactly the bytes kumo-smtp's client writes after `DATA` ([`smtp_data_wire`]: the
//!   dot-stuffed message and `.` CRLF) in one `write_all`, with the sockets' default options.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kumo_smtp::{
    ConnectionLimiter, Handler, MailFrom, ReceivedEnvelope, Reply, ServerConfig, SessionEnd,
    SessionInfo, SessionSummary, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use crate::smtp_sink::SINK_THREADS;

/// The listener's host name.
pub const LISTENER_HOST: &str = "mx.receiver.example.net";

/// The read buffer of one plain TCP sink connection.
const TCP_BUF: usize = 64 * 1024;

/// What a receiver has taken since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiveCounts {
    /// Messages accepted (the listener) or connections read to their end (the TCP sink).
    pub messages: u64,
    /// Message bytes: after dot-unstuffing (the listener), every byte read (the TCP sink).
    pub bytes: u64,
    /// Sessions that ended with `QUIT` (the listener) or connections closed (the TCP sink).
    pub sessions: u64,
    /// Sessions that ended otherwise (the listener only).
    pub sessions_failed: u64,
}

impl ReceiveCounts {
    /// The counts of `self` minus `before`.
    pub fn since(&self, before: &ReceiveCounts) -> ReceiveCounts {
        ReceiveCounts {
            messages: self.messages - before.messages,
            bytes: self.bytes - before.bytes,
            sessions: self.sessions - before.sessions,
            sessions_failed: self.sessions_failed - before.sessions_failed,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
    sessions: AtomicU64,
    sessions_failed: AtomicU64,
}

impl Counters {
    fn get(&self) -> ReceiveCounts {
        ReceiveCounts {
            messages: self.messages.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            sessions: self.sessions.load(Ordering::Relaxed),
            sessions_failed: self.sessions_failed.load(Ordering::Relaxed),
        }
    }
}

/// A [`Handler`] that accepts everything, counts messages and their bytes, and drops them.
#[derive(Debug, Default)]
pub struct CountingHandler {
    counters: Counters,
}

impl Handler for CountingHandler {
    async fn rcpt_to(&self, _: &SessionInfo, _: &MailFrom, _: &str) -> Reply {
        Reply::new(250, Some((2, 1, 5)), "recipient ok")
    }

    async fn message(&self, _: &SessionInfo, _: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        drop(data);
        Reply::new(250, Some((2, 0, 0)), "queued")
    }

    fn session_ended(&self, summary: &SessionSummary) {
        let c = if summary.end == SessionEnd::Quit {
            &self.counters.sessions
        } else {
            &self.counters.sessions_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A receiver's runtime: [`SINK_THREADS`] worker threads named `name`.
fn receiver_runtime(name: &str) -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SINK_THREADS)
        .thread_name(name)
        .enable_all()
        .build()
}

/// kumo-smtp's listener (`serve` with a [`CountingHandler`]) on its own runtime, on an
/// ephemeral port of `127.0.0.1`; dropping it stops both.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    handler: Arc<CountingHandler>,
    rt: Option<Runtime>,
}

impl Listener {
    /// Starts the listener.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be built or the socket cannot bind.
    pub fn start() -> io::Result<Listener> {
        let rt = receiver_runtime("smtp-listener")?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let handler = Arc::new(CountingHandler::default());
        // No message limit per connection: a round sends N / CONNECTIONS on each.
        let config =
            Arc::new(ServerConfig::new(LISTENER_HOST).max_messages_per_connection(usize::MAX));
        let h = Arc::clone(&handler);
        rt.spawn(async move {
            serve(
                listener,
                config,
                h,
                ConnectionLimiter::default(),
                |io, _, _| io,
            )
            .await
        });
        Ok(Listener {
            addr,
            handler,
            rt: Some(rt),
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counts now.
    pub fn counts(&self) -> ReceiveCounts {
        self.handler.counters.get()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The plain TCP sink on its own runtime, on an ephemeral port of `127.0.0.1`; dropping it
/// stops both.
#[derive(Debug)]
pub struct TcpSink {
    addr: SocketAddr,
    counters: Arc<Counters>,
    rt: Option<Runtime>,
}

impl TcpSink {
    /// Starts the sink.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be built or the socket cannot bind.
    pub fn start() -> io::Result<TcpSink> {
        let rt = receiver_runtime("tcp-sink")?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    // A client that goes away mid-stream is the client's business; the
                    // counts say what arrived.
                    let _ = drain(stream, &c).await;
                    c.sessions.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        Ok(TcpSink {
            addr,
            counters,
            rt: Some(rt),
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counts now (`messages`: connections read to their end).
    pub fn counts(&self) -> ReceiveCounts {
        self.counters.get()
    }
}

impl Drop for TcpSink {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Reads `s` to its end, counting the bytes, then counts the connection as read to its end
/// (before closing: the client's read of the close then proves both counts are in).
async fn drain(mut s: TcpStream, c: &Counters) -> io::Result<()> {
    let mut buf = vec![0u8; TCP_BUF];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            c.messages.fetch_add(1, Ordering::Relaxed);
            return s.shutdown().await;
        }
        c.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What kumo-smtp's client writes after `DATA` for `msg` (which ends with CRLF): every line
/// that starts with `.` gets one more, then `.` CRLF.
pub fn smtp_data_wire(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 64 + 3);
    for line in msg.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The plain TCP side: `n` messages of `wire` bytes over `conns` connections to `addr`, one
/// task per connection writing its share (one `write_all` per message), then closing its
/// side and waiting for the sink's close; returns the time from the first connect to the
/// last close. Call it from the client runtime.
pub async fn tcp_send(addr: SocketAddr, n: u64, conns: usize, wire: &Arc<[u8]>) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let wire = Arc::clone(wire);
            let count = crate::smtp::share(n, conns, i);
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr)
                    .await
                    .expect("connect to the TCP sink");
                for _ in 0..count {
                    s.write_all(&wire).await.expect("write to the TCP sink");
                }
                s.shutdown().await.expect("close towards the TCP sink");
                let mut b = [0u8; 16];
                let got = s.read(&mut b).await.expect("the TCP sink's close");
                assert_eq!(got, 0, "the TCP sink wrote");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a TCP sending task");
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{client_runtime, dot_stuffed_len, kumo_client, kumo_send, message};

    #[test]
    fn wire_is_what_kumo_writes() {
        let m = message();
        let w = smtp_data_wire(&m);
        assert_eq!(w.len(), dot_stuffed_len(&m) + 3);
        assert!(w.ends_with(b"\r\n.\r\n"));
    }

    #[test]
    fn listener_and_tcp_sink_receive_everything() {
        let listener = Listener::start().expect("listener");
        let tcp = TcpSink::start().expect("tcp sink");
        let rt = client_runtime();
        let data: Arc<[u8]> = message().into();
        let wire: Arc<[u8]> = smtp_data_wire(&data).into();
        let client = kumo_client();
        rt.block_on(kumo_send(&client, listener.addr(), None, 10, 2, &data));
        let got = listener.counts();
        assert_eq!((got.messages, got.bytes), (10, 10 * data.len() as u64));
        rt.block_on(tcp_send(tcp.addr(), 10, 2, &wire));
        let got = tcp.counts();
        assert_eq!((got.messages, got.bytes), (2, 10 * wire.len() as u64));
    }
}
