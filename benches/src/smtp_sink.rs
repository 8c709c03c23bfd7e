//! A minimal in-process SMTP receiver for the `smtp` area's send figures: a baseline receiver
//! written here, not a crate and not kumo-smtp's server (which the receive figures measure,
//! see `smtp_receive`).
//!
//! It does as little as a receiver can while speaking correct SMTP to a client, so that the
//! clients are measured and not the receiver:
//!
//! * greets with `220`, answers `EHLO` with `PIPELINING`, `8BITMIME` and `SIZE`, `DATA` with
//!   `354`, `QUIT` with `221` (then closes), and every other command (`HELO`, `MAIL`, `RCPT`,
//!   `RSET`, `NOOP`, ...) with `250`; nothing is checked or stored;
//! * reads the message data until CRLF `.` CRLF, scanning with `memchr::memmem`, and counts
//!   messages, data bytes (from the first byte after the `DATA` line through the final
//!   `.` CRLF, dot-stuffing included) and every byte read;
//! * answers pipelined input in one write: every complete command line in what one read
//!   returned (and the end of a message's data) gets its reply appended to one buffer, written
//!   once;
//! * runs on its own tokio runtime on its own thread ([`SINK_THREADS`]), so it does not share
//!   the clients' runtime; `TCP_NODELAY` on its sockets, as its replies are small;
//! * with [`Ack::Quick`], sets `TCP_QUICKACK` after every read, so the kernel acknowledges
//!   what arrived at once instead of delaying the ACK (up to 40 ms on Linux) until the sink
//!   has something to send. A client that writes the end of its data in a second small write
//!   without `TCP_NODELAY` (lettre: the body, then CRLF `.` CRLF) otherwise waits for that
//!   delayed ACK in Nagle's algorithm on every message. [`Ack::Delayed`] leaves the kernel's
//!   default;
//! * takes its read buffers from a pool filled when it starts, so a client's peak memory
//!   measured during a run does not include them.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Worker threads of the sink's runtime.
pub const SINK_THREADS: usize = 1;

/// The read buffer of one connection (a 10 KB message arrives in one or two reads).
const BUF: usize = 64 * 1024;

const GREETING: &[u8] = b"220 sink.test ESMTP\r\n";
const EHLO: &[u8] = b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n";
const OK: &[u8] = b"250 2.0.0 OK\r\n";
const GO_AHEAD: &[u8] = b"354 go ahead\r\n";
const QUEUED: &[u8] = b"250 2.0.0 queued\r\n";
const BYE: &[u8] = b"221 2.0.0 bye\r\n";

/// When the sink's kernel acknowledges received data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// `TCP_QUICKACK` after every read: acknowledged at once.
    Quick,
    /// The kernel's default: delayed acknowledgements.
    Delayed,
}

/// Read buffers made when the sink starts (connections beyond them allocate their own).
const POOLED_BUFFERS: usize = 16;

/// What the sink has received since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkCounts {
    /// Connections accepted.
    pub connections: u64,
    /// Messages whose final `.` CRLF arrived (each answered `250`).
    pub messages: u64,
    /// Message data bytes as on the wire (dot-stuffed, through the final `.` CRLF).
    pub data_bytes: u64,
    /// Every byte read (commands and data).
    pub bytes: u64,
}

impl SinkCounts {
    /// The counts of `self` minus `before`.
    pub fn since(&self, before: &SinkCounts) -> SinkCounts {
        SinkCounts {
            connections: self.connections - before.connections,
            messages: self.messages - before.messages,
            data_bytes: self.data_bytes - before.data_bytes,
            bytes: self.bytes - before.bytes,
        }
    }
}

#[derive(Debug)]
struct Counters {
    connections: AtomicU64,
    messages: AtomicU64,
    data_bytes: AtomicU64,
    bytes: AtomicU64,
    ack: Ack,
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Counters {
    fn take_buffer(&self) -> Vec<u8> {
        let pooled = self.buffers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        pooled.unwrap_or_else(|| vec![0u8; BUF])
    }

    fn put_buffer(&self, buf: Vec<u8>) {
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
    }
}

/// The running sink: a listener on `127.0.0.1` and its runtime; dropping it stops both.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    counters: Arc<Counters>,
    rt: Option<Runtime>,
}

impl Sink {
    /// Starts the sink on its own runtime, listening on an ephemeral port of `127.0.0.1`.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be built or the listener cannot bind.
    pub fn start(ack: Ack) -> io::Result<Sink> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SINK_THREADS)
            .thread_name("smtp-sink")
            .enable_io()
            .build()?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters {
            connections: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            data_bytes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            ack,
            buffers: Mutex::new((0..POOLED_BUFFERS).map(|_| vec![0u8; BUF]).collect()),
        });
        let c = Arc::clone(&counters);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.connections.fetch_add(1, Ordering::Relaxed);
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    // A client that goes away mid-session is the client's business; the
                    // counts say what arrived.
                    let mut buf = c.take_buffer();
                    let _ = serve(stream, &c, &mut buf).await;
                    c.put_buffer(buf);
                });
            }
        });
        Ok(Sink {
            addr,
            counters,
            rt: Some(rt),
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counts now.
    pub fn counts(&self) -> SinkCounts {
        let c = &self.counters;
        SinkCounts {
            connections: c.connections.load(Ordering::Relaxed),
            messages: c.messages.load(Ordering::Relaxed),
            data_bytes: c.data_bytes.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Command,
    Data,
}

/// One session. `buf[pos..filled]` is unprocessed input: in `Command`, the start of the next
/// command line; in `Data`, where the search for CRLF `.` CRLF resumes (the 2 bytes before
/// the data, the `DATA` line's CRLF, are searched too, so an empty message is found).
async fn serve(mut s: TcpStream, c: &Counters, buf: &mut [u8]) -> io::Result<()> {
    s.set_nodelay(true)?;
    let finder = memmem::Finder::new(b"\r\n.\r\n");
    let mut out = Vec::with_capacity(1024);
    let (mut pos, mut filled) = (0usize, 0usize);
    // The stream offset of buf[0], and of the current message's first data byte.
    let (mut base, mut data_start) = (0u64, 0u64);
    let mut state = State::Command;
    s.write_all(GREETING).await?;
    loop {
        if pos == filled {
            base += pos as u64;
            (pos, filled) = (0, 0);
        } else if buf.len() - filled < 4096 {
            if pos == 0 {
                return Err(io::Error::other("command line longer than the buffer"));
            }
            buf.copy_within(pos..filled, 0);
            base += pos as u64;
            filled -= pos;
            pos = 0;
        }
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        c.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if c.ack == Ack::Quick {
            rustix::net::sockopt::set_tcp_quickack(&s, true)?;
        }
        let mut quit = false;
        loop {
            match state {
                State::Command => {
                    let Some(nl) = memchr::memchr(b'\n', &buf[pos..filled]) else {
                        break;
                    };
                    let line = &buf[pos..pos + nl + 1];
                    pos += nl + 1;
                    let verb = line.get(..4).unwrap_or_default();
                    if verb.eq_ignore_ascii_case(b"EHLO") {
                        out.extend_from_slice(EHLO);
                    } else if verb.eq_ignore_ascii_case(b"DATA") {
                        out.extend_from_slice(GO_AHEAD);
                        data_start = base + pos as u64;
                        pos = pos.saturating_sub(2);
                        state = State::Data;
                    } else if verb.eq_ignore_ascii_case(b"QUIT") {
                        out.extend_from_slice(BYE);
                        quit = true;
                        break;
                    } else {
                        out.extend_from_slice(OK);
                    }
                }
                State::Data => match finder.find(&buf[pos..filled]) {
                    Some(i) => {
                        pos += i + 5;
                        c.messages.fetch_add(1, Ordering::Relaxed);
                        c.data_bytes
                            .fetch_add(base + pos as u64 - data_start, Ordering::Relaxed);
                        out.extend_from_slice(QUEUED);
                        state = State::Command;
                    }
                    None => {
                        // Keep the last 4 bytes: the terminator may straddle two reads.
                        pos = pos.max(filled.saturating_sub(4));
                        break;
                    }
                },
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_session_with_split_terminator() {
        let sink = Sink::start(Ack::Quick).expect("sink");
        let addr = sink.addr();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let replies = rt.block_on(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut got = Vec::new();
            read_until(&mut s, &mut got, 1).await;
            s.write_all(b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
                .await
                .expect("write");
            read_until(&mut s, &mut got, 8).await;
            // The terminator split across writes, and an empty message after it.
            s.write_all(b"hello\r\n..dot\r\n\r").await.expect("write");
            s.flush().await.expect("flush");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(b"\n.\r\nDATA\r\n").await.expect("write");
            read_until(&mut s, &mut got, 10).await;
            s.write_all(b".\r\nQUIT\r\n").await.expect("write");
            read_until(&mut s, &mut got, 12).await;
            got
        });
        let text = String::from_utf8(replies).expect("ascii");
        assert!(text.starts_with("220 "), "{text}");
        assert!(text.contains("250-PIPELINING"), "{text}");
        assert!(text.ends_with("354 go ahead\r\n250 2.0.0 queued\r\n221 2.0.0 bye\r\n"));
        let counts = sink.counts();
        assert_eq!(counts.messages, 2);
        assert_eq!(
            counts.data_bytes,
            b"hello\r\n..dot\r\n\r\n.\r\n".len() as u64 + 3
        );
    }

    /// Reads until `got` holds `lines` reply lines.
    async fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, lines: usize) {
        let mut buf = [0u8; 1024];
        while got.iter().filter(|&&b| b == b'\n').count() < lines {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
    }
}
