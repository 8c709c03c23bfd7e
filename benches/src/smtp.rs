//! `smtp` area: sending mail with `kumo_smtp` beside lettre's pooled async SMTP transport, the
//! cost of tracing those sessions with `kumo_trace::TracedStream`, and receiving mail with
//! kumo-smtp's listener against a plain TCP sink, all on loopback in one process.
//!
//! For the send figures the receiver is [`Sink`], a minimal SMTP receiver written here
//! (a baseline receiver, so that the clients are measured and not a server). It answers every
//! command at once, answers pipelined commands in one write, and runs on its own runtime and
//! thread, so that it does not share the clients' runtime. The message is [`message`]: one
//! realistic [`MESSAGE_LEN`]-byte RFC 5322 message (trace and DKIM headers, a
//! `multipart/alternative` body with a text and a quoted-printable HTML part), CRLF line
//! endings, some lines starting with `.` (one a lone `.`, so both clients dot-stuff), 7-bit.
//! Both clients send exactly these bytes to the same sink with the same envelope (one sender,
//! one recipient), over [`CONNECTIONS`] connections at once, from the same client runtime
//! ([`CLIENT_THREADS`] worker threads), with the sockets' default options on the client side
//! (lettre offers no way to set `TCP_NODELAY`, so kumo's side does not set it either).
//!
//! Figures (`--n N` sets the messages per round, default [`DEFAULT_MESSAGES`]):
//!
//! * `send_msgs_per_s`: N messages, plaintext. kumo: [`CONNECTIONS`] tokio tasks, each
//!   opening its own `Connection` with `Client::connect` (`TlsPolicy::Disabled`, `pipelining`
//!   on, `max_messages_per_connection` above N), sending its share, then `QUIT`. lettre 0.11:
//!   `AsyncSmtpTransport<Tokio1Executor>` (`builder_dangerous`, no TLS) with
//!   `PoolConfig::max_size(CONNECTIONS)`, [`CONNECTIONS`] tasks calling `send_raw` with the
//!   same bytes and envelope, then `shutdown` (its `QUIT`s). Connecting and quitting are
//!   inside the timed run on both sides. The sink acknowledges at once ([`Ack::Quick`], see
//!   the next figure). After a warm-up of N/10 on each side, [`ROUNDS`] rounds alternating
//!   kumo and lettre, fresh connections each round; the best round of each counts. Every
//!   round asserts that every kumo `Delivery` is `Delivered`, that every lettre `send_raw`
//!   returned `Ok`, and that the sink counted exactly N new messages with exactly the data
//!   bytes expected of that client (a benchmark that measured failures would be worthless).
//!
//!   What each client puts on the wire differs as the crates do. kumo-smtp, with
//!   `PIPELINING` offered: `RSET` (from a connection's second message on), `MAIL` (with
//!   `SIZE=`), `RCPT` and `DATA` in one write, then the body and the final dot in one write:
//!   two round trips per message. lettre does not pipeline: `MAIL`, `RCPT` and `DATA` each
//!   wait for their reply, the body is written and then, in a second write, CRLF `.` CRLF;
//!   and its pool checks every connection it hands out with a `NOOP`: five round trips per
//!   message. lettre's CRLF `.` CRLF after data that already ends with CRLF adds 2 bytes per
//!   message (an empty line at the end of what the receiver stores); kumo-smtp adds none.
//! * `send_msgs_per_s_delayed_ack`: the same with a sink that leaves the kernel's delayed
//!   acknowledgements on ([`Ack::Delayed`], what most receivers do), N/100 messages (at least
//!   8), [`DELAYED_ACK_ROUNDS`] rounds. lettre's second write (the final dot) waits in Nagle's
//!   algorithm until the body is acknowledged, and the receiver, with nothing to answer yet,
//!   delays that ACK (about 40 ms on Linux): every lettre message waits it out. kumo-smtp
//!   writes the body and the dot at once and never waits. This is what the clients do with
//!   their default sockets; `send_msgs_per_s` removes the timer to compare the clients' work.
//! * `send_peak_bytes`: the most bytes allocated at once during a round (the peak of
//!   [`CountingAlloc`] above the bytes live before it), the worst round of `send_msgs_per_s`.
//!   The sink's read buffers are allocated when it starts, so they are not in it; the sink's
//!   small per-connection state (a task, a socket) is, the same for both clients.
//! * `traced_send_msgs_per_s_no_subscriber` and `traced_send_msgs_per_s_terse_subscriber`:
//!   the kumo workload of `send_msgs_per_s` with every connection a `TracedStream<Io>` on one
//!   `TraceHub`, with no subscriber, and with one `terse` subscriber that a task on the client
//!   runtime drains as events arrive (so every event is made, cut, queued and received; the
//!   round asserts at least two events per message arrived or were counted as missed).
//!   [`ROUNDS`] rounds of each, alternating, after one warm-up round of each; the best counts.
//! * `traced_send_ratio`: terse subscriber divided by no subscriber (1.0: watching is free).
//! * `receive_msgs_per_s`: kumo-smtp's server receiving N messages: [`Listener`]
//!   (`kumo_smtp::serve` on its own runtime and thread, [`SINK_THREADS`](crate::smtp_sink::SINK_THREADS)
//!   worker, like the sink; `ServerConfig` defaults but no message limit per connection; the
//!   default `ConnectionLimiter`) with a [`CountingHandler`](crate::smtp_receive::CountingHandler)
//!   that accepts every sender and recipient and, per message, counts it and its bytes and drops
//!   the data. The sender is kumo-smtp's client exactly as in `send_msgs_per_s` ([`CONNECTIONS`]
//!   connections, pipelining, connect and `QUIT` inside the timed run). Every round asserts that
//!   every `Delivery` is `Delivered`, that the handler counted exactly N new messages of
//!   exactly [`MESSAGE_LEN`] bytes each (the dot-unstuffed message), and that no session ended
//!   other than by `QUIT`.
//! * `receive_vs_tcp_ratio`: the listener's payload throughput divided by a plain TCP sink's
//!   ([`TcpSink`]) on the same connection pattern, in the same run: [`CONNECTIONS`]
//!   connections from the same client runtime, N/[`CONNECTIONS`] messages on each, every
//!   message the very bytes kumo-smtp's client writes after `DATA` (the dot-stuffed message
//!   and `.` CRLF, [`smtp_data_wire`]) in one `write_all`, then the sender closes its side and
//!   waits for the sink's close; the sink, on its own runtime and thread like the listener,
//!   only reads into a 64 KB buffer, counts and discards, and never writes. Payload throughput
//!   is message data bytes per second on both sides: N × [`MESSAGE_LEN`] over the round's time
//!   (so the ratio is the TCP time over the SMTP time). The TCP round asserts the sink read
//!   exactly N times the wire bytes, each connection to its end. [`ROUNDS`] rounds alternating
//!   the two after a warm-up of N/10 on each; the best round of each side counts.
//!
//!   Why this comparison: it asks how much of what loopback can move with this concurrency
//!   the listener delivers to a host as whole messages, with the same bytes, connections,
//!   threads and runtime on both sides, so the machine's speed cancels out. The TCP side is
//!   the limit, not a peer: no SMTP at all. Caveats: the SMTP side has round trips and the TCP
//!   side has none. kumo-smtp's client waits for the replies twice per message (`MAIL`,
//!   `RCPT`, `DATA` pipelined, then the body and the dot), so each connection is idle on
//!   the wire while the other end wakes up, parses and answers; the TCP sender streams
//!   without a pause and the kernel coalesces its writes. The SMTP side also has the
//!   commands and replies (about a hundred bytes each way per message, not counted as payload), the
//!   client's own work (the same client as `send_msgs_per_s`: the ratio is of the whole
//!   sender-and-listener pair), and the listener's per-message work (command parsing, DATA
//!   decoding with its bare-CR/LF checks into a fresh `Vec`, the handler call). The goal is
//!   at least 0.5; with round trips on a 2-vCPU machine, where each round trip costs thread
//!   wake-ups, it is far from met (see the README). `send_msgs_per_s` in the same run, the
//!   same client against the minimal [`Sink`], says how much of the gap is the protocol's
//!   round trips rather than the listener.
//! * `bare_stream_ns_per_io` and `traced_stream_overhead_ns_per_io`: the cost of an I/O call
//!   through `TracedStream` with no subscriber minus through the bare stream: a loop of
//!   `poll_write` + `poll_read` of [`IO_BYTES`] over [`MemStream`], an in-memory stream that
//!   only copies into and out of a fixed buffer (no system call, so nanoseconds are not lost
//!   in the noise), polled with a no-op waker. [`ROUNDS_IO`] alternating rounds of
//!   [`IO_CALLS`] calls each; the best round of each side counts.
//!
//! On a machine with few cores the clients and the sink share them: on the 2-vCPU
//! development VM the sink's thread used about as much CPU as each client thread (mostly the
//! kernel receiving the bytes), the same per byte for both clients (per round trip, lettre's
//! extra ones cost the sink too). Everything there is CPU-bound, so the figures move with the
//! machine's other load; the assertions hold whatever the load.

use std::future::Future;
use std::hint::black_box;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use kumo_smtp::{Client, ClientConfig, Connection, Envelope, Io, Target, TlsPolicy};
use kumo_trace::{SessionKey, Side, SubscribeOptions, TraceHub, TracedStream, Tracer};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::smtp_receive::{Listener, ReceiveCounts, TcpSink, smtp_data_wire, tcp_send};
use crate::smtp_sink::{Ack, Sink, SinkCounts};
use crate::{Better, CountingAlloc, Options, Reporter};

/// The peer, as it appears in the report.
pub const LETTRE: &str = "lettre 0.11 AsyncSmtpTransport (pool)";
/// Bytes of the message both clients send.
pub const MESSAGE_LEN: usize = 10 * 1024;
/// Connections (and sending tasks) at once, on both sides.
pub const CONNECTIONS: usize = 4;
/// Messages per round unless `--n` says otherwise.
pub const DEFAULT_MESSAGES: u64 = 20_000;
/// Alternating rounds of each send workload; the best counts.
pub const ROUNDS: usize = 5;
/// Alternating rounds of the delayed-ACK send workload; the best counts.
pub const DELAYED_ACK_ROUNDS: usize = 2;
/// Alternating rounds of the I/O-call loop; the best counts. Many short rounds rather than
/// a few long ones: on a shared machine the best of many rounds of a few milliseconds (about
/// a scheduler time slice) is one that ran without being preempted.
pub const ROUNDS_IO: usize = 51;
/// I/O calls per round of the I/O-call loop (half writes, half reads).
pub const IO_CALLS: u64 = 1_000_000;
/// Worker threads of the clients' runtime (the sink has its own).
pub const CLIENT_THREADS: usize = 2;
/// The envelope's sender.
pub const SENDER: &str = "newsletter@sender.example.com";
/// The envelope's recipient.
pub const RECIPIENT: &str = "alice.smith@receiver.example.net";

/// The message both clients send: [`MESSAGE_LEN`] bytes, CRLF line endings, lines of at most
/// 78 characters, several starting with `.` (one is a lone `.`), 7-bit.
pub fn message() -> Vec<u8> {
    let head = format!(
        "Received: from mta1.sender.example.com (mta1.sender.example.com [192.0.2.25])\r\n\
         \tby mx.receiver.example.net with ESMTPS id 4XyZ1b2C3dz9sQ\r\n\
         \tfor <{RECIPIENT}>; Tue, 03 Sep 2024 10:15:42 +0000\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example.com;\r\n\
         \ts=s2024; t=1725358542; h=from:to:subject:date:message-id:mime-version;\r\n\
         \tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
         \tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBz\r\n\
         \taGFwZSBmb3IgYSBiZW5jaG1hcmsgbWVzc2FnZQ==\r\n\
         From: \"Example Newsletter\" <{SENDER}>\r\n\
         To: \"Alice Smith\" <{RECIPIENT}>\r\n\
         Subject: Your September update: three things worth reading\r\n\
         Date: Tue, 03 Sep 2024 10:15:41 +0000\r\n\
         Message-ID: <20240903101541.4f2a9c@mta1.sender.example.com>\r\n\
         List-Unsubscribe: <https://sender.example.com/u/4f2a9c>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1_4f2a9c\"\r\n\
         \r\n\
         This is a multi-part message in MIME format.\r\n\
         \r\n\
         --b1_4f2a9c\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         Hello Alice,\r\n\
         \r\n"
    );
    let mut html = String::from(
        "--b1_4f2a9c\r\n\
         Content-Type: text/html; charset=us-ascii\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         <!DOCTYPE html><html><head><meta charset=3D\"us-ascii\"><title>September u=\r\n\
         pdate</title></head><body style=3D\"font-family: sans-serif\">\r\n",
    );
    let tail_end = "</body></html>\r\n\r\n--b1_4f2a9c--\r\n";
    let words = [
        "the", "delivery", "queue", "message", "server", "update", "reading", "month", "weather",
        "garden", "station", "letter", "morning", "evening", "project", "shared", "simple",
        "careful", "result", "notes", "report", "picture", "travel", "window",
    ];
    // A small deterministic generator, so the message is the same in every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |m: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % m as u64) as usize
    };
    let line = |first: &str, max: usize, next: &mut dyn FnMut(usize) -> usize| {
        let mut l = String::from(first);
        while l.len() < max - 12 {
            if !l.is_empty() && !l.ends_with(' ') {
                l.push(' ');
            }
            l.push_str(words[next(words.len())]);
        }
        l
    };
    for i in 0..6 {
        html.push_str(&format!("<p>{}</p>\r\n", line("", 60 + i, &mut next)));
    }
    html.push_str(tail_end);

    let mut text = String::new();
    let mut n = 0usize;
    loop {
        let l = match n % 17 {
            // Lines a receiver must see with their leading dot: dot-stuffed on the wire.
            3 => line(".", 70, &mut next),
            8 => "...".to_owned(),
            12 if n == 12 => ".".to_owned(),
            _ => line("", 72, &mut next),
        };
        let para = if n % 6 == 5 { "\r\n" } else { "" };
        if head.len() + text.len() + l.len() + 2 + para.len() + 2 + html.len() > MESSAGE_LEN {
            break;
        }
        text.push_str(&l);
        text.push_str("\r\n");
        text.push_str(para);
        n += 1;
    }
    // Pad the last line to the exact length ("\r\n" closes the text part before the HTML).
    let left = MESSAGE_LEN - (head.len() + text.len() + 2 + html.len());
    if left >= 3 {
        text.push_str(&"x".repeat(left - 2));
        text.push_str("\r\n");
    } else {
        let at = text.len() - 2;
        text.insert_str(at, &"x".repeat(left));
    }
    let msg = format!("{head}{text}\r\n{html}").into_bytes();
    debug_assert_eq!(msg.len(), MESSAGE_LEN);
    msg
}

/// The message's data as it goes on the wire after `DATA`, without the final dot: each line
/// that starts with `.` gets one more.
pub fn dot_stuffed_len(msg: &[u8]) -> usize {
    let starts = msg
        .split(|&b| b == b'\n')
        .filter(|l| l.first() == Some(&b'.'))
        .count();
    msg.len() + starts
}

/// The clients' runtime: [`CLIENT_THREADS`] worker threads.
pub fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_THREADS)
        .thread_name("smtp-client")
        .enable_all()
        .build()
        .expect("the client runtime")
}

/// kumo's client: plaintext, pipelining, no message limit that the workload reaches.
pub fn kumo_client() -> Client {
    Client::new(
        ClientConfig::default()
            .ehlo_name("mta1.sender.example.com")
            .tls(TlsPolicy::Disabled)
            .pipelining(true)
            .max_messages_per_connection(usize::MAX),
    )
    .expect("a valid configuration")
}

/// The envelope kumo sends.
pub fn kumo_envelope() -> Envelope {
    Envelope::new(SENDER, [RECIPIENT])
}

/// The envelope lettre sends.
pub fn lettre_envelope() -> lettre::address::Envelope {
    lettre::address::Envelope::new(
        Some(SENDER.parse().expect("address")),
        vec![RECIPIENT.parse().expect("address")],
    )
    .expect("envelope")
}

/// `n` split over `parts`, the first ones taking the remainder.
pub(crate) fn share(n: u64, parts: usize, i: usize) -> u64 {
    n / parts as u64 + u64::from((i as u64) < n % parts as u64)
}

/// Opens a plaintext kumo transport to `addr`.
pub async fn open_plain(addr: SocketAddr) -> io::Result<Io> {
    Ok(Io::new(TcpStream::connect(addr).await?))
}

/// Opens a traced kumo transport to `addr`, session `key` on `hub`.
pub async fn open_traced(
    addr: SocketAddr,
    hub: TraceHub,
    key: String,
) -> io::Result<TracedStream<Io>> {
    let tracer = Tracer::new(hub, Side::Client, SessionKey::new(key));
    Ok(TracedStream::new(
        Io::new(TcpStream::connect(addr).await?),
        tracer,
    ))
}

/// Connects one plaintext kumo session to `addr`.
async fn kumo_connect_plain(client: &Client, addr: SocketAddr) -> Connection<Io> {
    let target = Target::new("sink.test", addr);
    let (conn, _) = client
        .connect(&[target], |t| open_plain(t.addr))
        .await
        .expect("kumo-smtp connects to the sink");
    conn
}

/// Connects one traced kumo session to `addr` on `hub`.
async fn kumo_connect_traced(
    client: &Client,
    addr: SocketAddr,
    hub: &TraceHub,
    i: usize,
) -> Connection<TracedStream<Io>> {
    let target = Target::new("sink.test", addr);
    let (conn, _) = client
        .connect(&[target], |t| {
            open_traced(t.addr, hub.clone(), format!("sink.test#{i}"))
        })
        .await
        .expect("kumo-smtp connects to the sink");
    conn
}

/// Sends `count` messages on `conn`, asserting each was delivered, then `QUIT`.
async fn kumo_deliver<S>(mut conn: Connection<S>, envelope: &Envelope, data: &[u8], count: u64)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io>,
{
    for _ in 0..count {
        let d = conn.send(envelope, data).await;
        assert!(
            d.is_delivered(),
            "kumo-smtp: {:?} {} {:?}",
            d.outcome,
            d.reply,
            d.error
        );
    }
    conn.quit().await;
}

/// kumo: `n` messages over `conns` connections to `addr`, one task per connection, traced on
/// `hub` when given; returns the time from the first connect to the last `QUIT`. Call it
/// from the client runtime.
pub async fn kumo_send(
    client: &Client,
    addr: SocketAddr,
    hub: Option<&TraceHub>,
    n: u64,
    conns: usize,
    data: &Arc<[u8]>,
) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let (client, hub, data) = (client.clone(), hub.cloned(), Arc::clone(data));
            let count = share(n, conns, i);
            tokio::spawn(async move {
                let envelope = kumo_envelope();
                match hub {
                    None => {
                        let conn = kumo_connect_plain(&client, addr).await;
                        kumo_deliver(conn, &envelope, &data, count).await;
                    }
                    Some(hub) => {
                        let conn = kumo_connect_traced(&client, addr, &hub, i).await;
                        kumo_deliver(conn, &envelope, &data, count).await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a kumo sending task");
    }
    start.elapsed()
}

/// lettre's pooled transport to `addr`, plaintext, at most `conns` connections. Call it
/// inside a tokio runtime (the pool spawns its clean-up task).
pub fn lettre_transport(addr: SocketAddr, conns: usize) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .pool_config(PoolConfig::new().max_size(conns as u32))
        .build()
}

/// lettre: `n` messages through a new pooled transport of `conns` connections, `conns`
/// tasks at once, asserting each `send_raw` succeeded, then `shutdown`; returns the time from
/// building the transport to the end of the shutdown. Call it from the client runtime.
pub async fn lettre_send(addr: SocketAddr, n: u64, conns: usize, data: &Arc<[u8]>) -> Duration {
    let start = Instant::now();
    let transport = lettre_transport(addr, conns);
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let (transport, data) = (transport.clone(), Arc::clone(data));
            let count = share(n, conns, i);
            tokio::spawn(async move {
                let envelope = lettre_envelope();
                for _ in 0..count {
                    if let Err(e) = transport.send_raw(&envelope, &data).await {
                        panic!("lettre: {e}");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a lettre sending task");
    }
    transport.shutdown().await;
    start.elapsed()
}

/// A subscriber drained by a task while the sessions run.
#[derive(Debug)]
pub struct Drain {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl Drain {
    /// Subscribes to `hub` with `options` and drains it on the current runtime.
    pub fn start(hub: &TraceHub, options: SubscribeOptions) -> Drain {
        let mut sub = hub.subscribe(options);
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut events = 0u64;
            loop {
                tokio::select! {
                    ev = sub.recv() => match ev {
                        Some(ev) => {
                            black_box(&ev);
                            events += 1;
                        }
                        None => break,
                    },
                    _ = &mut stopped => break,
                }
            }
            while let Ok(ev) = sub.try_recv() {
                black_box(&ev);
                events += 1;
            }
            (events, sub.missed_total())
        });
        Drain { stop, task }
    }

    /// Stops draining; returns the events received and the events missed by lagging.
    pub async fn finish(self) -> (u64, u64) {
        let _ = self.stop.send(());
        self.task.await.expect("the drain task")
    }
}

/// An in-memory byte stream for the I/O-call loop: a write copies into a fixed buffer, a read
/// copies out of it; never pending, no system call, no allocation.
#[derive(Debug)]
pub struct MemStream {
    buf: [u8; 256],
}

impl MemStream {
    /// A stream whose buffer holds printable bytes.
    pub fn new() -> Self {
        let mut buf = [0u8; 256];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = b'a' + (i % 26) as u8;
        }
        Self { buf }
    }
}

impl Default for MemStream {
    fn default() -> Self {
        Self::new()
    }
}

impl AsyncRead for MemStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = buf.remaining().min(self.buf.len());
        buf.put_slice(&self.buf[..n]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.buf.len());
        self.get_mut().buf[..n].copy_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Bytes per call in the I/O-call loop (a command line or a reply).
pub const IO_BYTES: usize = 64;

/// `calls / 2` pairs of `poll_write` + `poll_read` of [`IO_BYTES`] on `s`; returns the
/// elapsed time.
pub fn io_loop<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, calls: u64) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let out = [b'x'; IO_BYTES];
    let mut inb = [0u8; IO_BYTES];
    let start = Instant::now();
    for _ in 0..calls / 2 {
        let w = Pin::new(&mut *s).poll_write(&mut cx, black_box(&out));
        assert!(matches!(w, Poll::Ready(Ok(IO_BYTES))));
        let mut rb = ReadBuf::new(&mut inb);
        let r = Pin::new(&mut *s).poll_read(&mut cx, &mut rb);
        assert!(matches!(r, Poll::Ready(Ok(()))) && rb.filled().len() == IO_BYTES);
        black_box(rb.filled());
    }
    start.elapsed()
}

/// A traced [`MemStream`] on `hub` (which should have no subscriber for the overhead figure).
pub fn traced_mem_stream(hub: &TraceHub) -> TracedStream<MemStream> {
    let tracer = Tracer::new(hub.clone(), Side::Client, SessionKey::new("mem#1"));
    TracedStream::new(MemStream::new(), tracer)
}

/// Bare and traced ns per I/O call: the best of `rounds` alternating rounds of `calls`.
pub fn io_ns_per_call(calls: u64, rounds: usize) -> (f64, f64) {
    let hub = TraceHub::new();
    let mut bare = MemStream::new();
    let mut traced = traced_mem_stream(&hub);
    io_loop(&mut bare, calls / 10);
    io_loop(&mut traced, calls / 10);
    let (mut b, mut t) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        b = b.min(io_loop(&mut bare, calls));
        t = t.min(io_loop(&mut traced, calls));
    }
    let per = |d: Duration| d.as_nanos() as f64 / (calls / 2 * 2) as f64;
    (per(b), per(t))
}

/// Runs `f` on `rt`, resetting the peak first; returns its value and the peak bytes above
/// the bytes live before.
fn with_peak<T>(alloc: &CountingAlloc, rt: &Runtime, f: impl Future<Output = T>) -> (T, i64) {
    let before = alloc.snapshot().live;
    alloc.reset_peak();
    let v = rt.block_on(f);
    (v, alloc.snapshot().peak - before)
}

/// Asserts that the sink took exactly `n` messages of `per_message` data bytes since `before`.
fn check_sink(who: &str, sink: &Sink, before: &SinkCounts, n: u64, per_message: u64) {
    let got = sink.counts().since(before);
    assert_eq!(got.messages, n, "{who}: the sink counted {got:?}");
    assert_eq!(
        got.data_bytes,
        n * per_message,
        "{who}: unexpected data bytes at the sink {got:?}"
    );
}

/// The best time and the worst peak of each side over `rounds` alternating rounds of `n`
/// messages to `sink`, every round checked at the sink.
#[derive(Debug, Clone, Copy)]
pub struct SendResult {
    /// kumo's best time.
    pub kumo: Duration,
    /// lettre's best time.
    pub lettre: Duration,
    /// kumo's worst peak bytes.
    pub kumo_peak: i64,
    /// lettre's worst peak bytes.
    pub lettre_peak: i64,
}

/// kumo and lettre, `rounds` alternating rounds of `n` messages each to `sink` (after a
/// warm-up of a tenth of that on each side).
pub fn compare_send(
    alloc: &CountingAlloc,
    rt: &Runtime,
    sink: &Sink,
    n: u64,
    rounds: usize,
) -> SendResult {
    let data: Arc<[u8]> = message().into();
    let stuffed = dot_stuffed_len(&data) as u64;
    // kumo: the data and ".\r\n"; lettre adds "\r\n.\r\n" after data that ends with CRLF.
    let (kumo_wire, lettre_wire) = (stuffed + 3, stuffed + 5);
    let addr = sink.addr();
    let client = kumo_client();

    // Warm up both (connections, allocator, page faults) on a tenth of the work.
    let warm = n / 10 + CONNECTIONS as u64;
    let before = sink.counts();
    rt.block_on(kumo_send(&client, addr, None, warm, CONNECTIONS, &data));
    check_sink("kumo warm-up", sink, &before, warm, kumo_wire);
    let before = sink.counts();
    rt.block_on(lettre_send(addr, warm, CONNECTIONS, &data));
    check_sink("lettre warm-up", sink, &before, warm, lettre_wire);

    let mut res = SendResult {
        kumo: Duration::MAX,
        lettre: Duration::MAX,
        kumo_peak: 0,
        lettre_peak: 0,
    };
    for _ in 0..rounds {
        let before = sink.counts();
        let (d, peak) = with_peak(
            alloc,
            rt,
            kumo_send(&client, addr, None, n, CONNECTIONS, &data),
        );
        check_sink("kumo", sink, &before, n, kumo_wire);
        res.kumo = res.kumo.min(d);
        res.kumo_peak = res.kumo_peak.max(peak);

        let before = sink.counts();
        let (d, peak) = with_peak(alloc, rt, lettre_send(addr, n, CONNECTIONS, &data));
        check_sink("lettre", sink, &before, n, lettre_wire);
        res.lettre = res.lettre.min(d);
        res.lettre_peak = res.lettre_peak.max(peak);
    }
    res
}

/// The best time of each side over `rounds` alternating rounds of `n` messages: kumo-smtp's
/// client to kumo-smtp's listener, and the same bytes over plain TCP to the TCP sink.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveResult {
    /// The listener's best time.
    pub smtp: Duration,
    /// The plain TCP sink's best time.
    pub tcp: Duration,
}

/// Asserts that the listener took exactly `n` messages of [`MESSAGE_LEN`] bytes since
/// `before`, and that no session ended other than by `QUIT`.
fn check_listener(who: &str, listener: &Listener, before: &ReceiveCounts, n: u64) {
    let got = listener.counts().since(before);
    assert_eq!(got.messages, n, "{who}: the listener counted {got:?}");
    assert_eq!(
        got.bytes,
        n * MESSAGE_LEN as u64,
        "{who}: unexpected message bytes at the listener {got:?}"
    );
    assert_eq!(got.sessions_failed, 0, "{who}: a session failed {got:?}");
}

/// Asserts that the TCP sink read exactly `n` messages of `per_message` bytes over
/// `conns` connections since `before`, each to its end.
fn check_tcp(tcp: &TcpSink, before: &ReceiveCounts, n: u64, per_message: u64, conns: usize) {
    let got = tcp.counts().since(before);
    assert_eq!(got.bytes, n * per_message, "the TCP sink counted {got:?}");
    assert_eq!(
        got.messages, conns as u64,
        "TCP connections read to the end {got:?}"
    );
}

/// The listener and the plain TCP sink, `rounds` alternating rounds of `n` messages each
/// over [`CONNECTIONS`] connections (after a warm-up of a tenth of that on each side).
pub fn compare_receive(
    rt: &Runtime,
    listener: &Listener,
    tcp: &TcpSink,
    n: u64,
    rounds: usize,
) -> ReceiveResult {
    let data: Arc<[u8]> = message().into();
    let wire: Arc<[u8]> = smtp_data_wire(&data).into();
    let per_message = wire.len() as u64;
    let client = kumo_client();
    let smtp_round = |n: u64| {
        let before = listener.counts();
        let d = rt.block_on(kumo_send(
            &client,
            listener.addr(),
            None,
            n,
            CONNECTIONS,
            &data,
        ));
        check_listener("kumo listener", listener, &before, n);
        d
    };
    let tcp_round = |n: u64| {
        let before = tcp.counts();
        let d = rt.block_on(tcp_send(tcp.addr(), n, CONNECTIONS, &wire));
        check_tcp(tcp, &before, n, per_message, CONNECTIONS);
        d
    };
    let warm = n / 10 + CONNECTIONS as u64;
    smtp_round(warm);
    tcp_round(warm);
    let mut res = ReceiveResult {
        smtp: Duration::MAX,
        tcp: Duration::MAX,
    };
    for _ in 0..rounds {
        res.smtp = res.smtp.min(smtp_round(n));
        res.tcp = res.tcp.min(tcp_round(n));
    }
    res
}

/// Runs the `smtp` area.
pub fn run(opts: &Options, alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(DEFAULT_MESSAGES).max(CONNECTIONS as u64);
    let rt = client_runtime();
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();

    let sink = Sink::start(Ack::Quick).expect("the sink");
    let addr = sink.addr();
    let res = compare_send(alloc, &rt, &sink, n, ROUNDS);
    r.peer(
        "send_msgs_per_s",
        n,
        rate(n, res.kumo),
        LETTRE,
        rate(n, res.lettre),
        Better::Higher,
    );
    r.peer(
        "send_peak_bytes",
        n,
        res.kumo_peak as f64,
        LETTRE,
        res.lettre_peak as f64,
        Better::Lower,
    );
    let rate = |d: Duration| rate(n, d);
    let data: Arc<[u8]> = message().into();
    let kumo_wire = dot_stuffed_len(&data) as u64 + 3;
    let client = kumo_client();

    // Traced sessions: no subscriber against one terse subscriber, alternating.
    let hub = TraceHub::new();
    let (mut quiet, mut watched) = (Duration::MAX, Duration::MAX);
    let traced_round = |watch: bool| {
        let before = sink.counts();
        let (d, events) = rt.block_on(async {
            let drain = watch.then(|| {
                Drain::start(
                    &hub,
                    SubscribeOptions {
                        terse: true,
                        ..SubscribeOptions::default()
                    },
                )
            });
            let d = kumo_send(&client, addr, Some(&hub), n, CONNECTIONS, &data).await;
            let events = match drain {
                Some(drain) => Some(drain.finish().await),
                None => None,
            };
            (d, events)
        });
        check_sink("kumo traced", &sink, &before, n, kumo_wire);
        if let Some((got, missed)) = events {
            // At least a write and a read per message reached (or overflowed) the subscriber.
            assert!(got + missed >= 2 * n, "{got} events, {missed} missed");
        }
        d
    };
    traced_round(false);
    traced_round(true);
    for _ in 0..ROUNDS {
        quiet = quiet.min(traced_round(false));
        watched = watched.min(traced_round(true));
    }
    r.solo(
        "traced_send_msgs_per_s_no_subscriber",
        n,
        rate(quiet),
        Better::Higher,
    );
    r.solo(
        "traced_send_msgs_per_s_terse_subscriber",
        n,
        rate(watched),
        Better::Higher,
    );
    r.solo(
        "traced_send_ratio",
        n,
        rate(watched) / rate(quiet),
        Better::Higher,
    );
    drop(sink);

    // Receiving: kumo-smtp's listener against the plain TCP sink, alternating.
    let listener = Listener::start().expect("the listener");
    let tcp = TcpSink::start().expect("the TCP sink");
    let res = compare_receive(&rt, &listener, &tcp, n, ROUNDS);
    drop((listener, tcp));
    r.solo("receive_msgs_per_s", n, rate(res.smtp), Better::Higher);
    // Payload: message bytes per second on both sides (N × MESSAGE_LEN over each time).
    let payload = |d: Duration| (n * MESSAGE_LEN as u64) as f64 / d.as_secs_f64();
    r.solo(
        "receive_vs_tcp_ratio",
        n,
        payload(res.smtp) / payload(res.tcp),
        Better::Higher,
    );

    // Against the kernel's delayed ACKs: a hundredth of the messages, as each of lettre's
    // waits a delayed ACK out.
    let few = (n / 100).max(2 * CONNECTIONS as u64);
    let slow = Sink::start(Ack::Delayed).expect("the sink");
    let res = compare_send(alloc, &rt, &slow, few, DELAYED_ACK_ROUNDS);
    drop(slow);
    r.peer(
        "send_msgs_per_s_delayed_ack",
        few,
        few as f64 / res.kumo.as_secs_f64(),
        LETTRE,
        few as f64 / res.lettre.as_secs_f64(),
        Better::Higher,
    );

    drop(rt);

    // The cost of the wrapper itself, per I/O call, on a stream without system calls.
    let (bare, traced) = io_ns_per_call(IO_CALLS, ROUNDS_IO);
    r.solo("bare_stream_ns_per_io", IO_CALLS, bare, Better::Lower);
    r.solo(
        "traced_stream_overhead_ns_per_io",
        IO_CALLS,
        traced - bare,
        Better::Lower,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_what_the_doc_says() {
        let m = message();
        assert_eq!(m.len(), MESSAGE_LEN);
        assert!(m.is_ascii());
        assert!(m.ends_with(b"\r\n"));
        let lines: Vec<&[u8]> = m.split(|&b| b == b'\n').collect();
        for l in &lines[..lines.len() - 1] {
            assert!(l.ends_with(b"\r"), "{:?}", String::from_utf8_lossy(l));
            assert!(l.len() <= 79, "{:?}", String::from_utf8_lossy(l));
            assert!(!l[..l.len() - 1].contains(&b'\r'));
        }
        assert!(lines.iter().any(|l| *l == b".\r"));
        assert!(dot_stuffed_len(&m) > m.len() + 3);
    }

    #[test]
    fn both_clients_deliver_to_the_sink() {
        let sink = Sink::start(Ack::Quick).expect("sink");
        let rt = client_runtime();
        let data: Arc<[u8]> = message().into();
        let stuffed = dot_stuffed_len(&data) as u64;
        let client = kumo_client();
        let hub = TraceHub::new();
        rt.block_on(async {
            kumo_send(&client, sink.addr(), None, 10, 2, &data).await;
            let drain = Drain::start(&hub, SubscribeOptions::default());
            kumo_send(&client, sink.addr(), Some(&hub), 10, 2, &data).await;
            let (events, missed) = drain.finish().await;
            assert!(events >= 20 && missed == 0, "{events} {missed}");
        });
        assert_eq!(sink.counts().messages, 20);
        assert_eq!(sink.counts().data_bytes, 20 * (stuffed + 3));
        rt.block_on(lettre_send(sink.addr(), 10, 2, &data));
        assert_eq!(sink.counts().messages, 30);
        assert_eq!(
            sink.counts().data_bytes,
            20 * (stuffed + 3) + 10 * (stuffed + 5)
        );
    }

    #[test]
    fn io_loop_runs_both() {
        let (bare, traced) = io_ns_per_call(10_000, 1);
        assert!(bare > 0.0 && traced > 0.0);
    }
}
