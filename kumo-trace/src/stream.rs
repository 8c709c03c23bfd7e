//! [`TracedStream`]: any tokio `AsyncRead + AsyncWrite` whose bytes are published to a
//! [`TraceHub`](crate::TraceHub) as a session's reads and writes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Payload, Tracer, terse_bytes};

/// A byte stream whose reads and writes are traced: every successful read publishes
/// [`Payload::Read`] and every successful write [`Payload::Write`] with the bytes it moved,
/// for the session of its [`Tracer`].
///
/// It wraps the stream an SMTP implementation talks through (a `TcpStream`, a TLS stream, a
/// host's own type), so that implementation is traced without a change to its code.
///
/// * **Connection events.** Making one publishes [`Payload::Connected`]; dropping it publishes
///   [`Payload::Closed`], which ends the session for `only_one` watchers. One traced stream is
///   one session: a client that tries several addresses makes one per connection, each with
///   its own key (publish [`Payload::BeginSession`] through the tracer before connecting, and
///   [`Payload::Closed`] yourself when the connection fails).
/// * **Free when nobody watches.** With no subscriber an I/O call costs one relaxed atomic
///   load more than the stream below: the bytes are not copied, no text is made and the clock
///   is not read (measured by `compare smtp`, `traced_stream_overhead_ns_per_io`).
/// * **Text.** Bytes become text with `String::from_utf8_lossy`, as a trace is for people.
///   A subscriber that asked for [`terse`](crate::terse) gets multi-line message data cut at
///   the source (the client's writes, the server's reads), as for any published event; each
///   I/O call is one event, so a message body written in one call is cut to one line. When
///   every subscriber is terse, the cut is made on the bytes: only the first line of a body
///   becomes text, so watching costs the same for a 10 KB message as for a 100 KB one.
/// * **Layers.** [`AsMut`] reaches the stream below, so a protocol layer that switches it to
///   TLS in place (kumo-smtp's `Io` does so for STARTTLS) leaves this wrapper on top, tracing
///   the plaintext.
///
/// # Examples
///
/// ```
/// use kumo_trace::{Payload, SessionKey, Side, SubscribeOptions, TraceHub, TracedStream, Tracer};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let hub = TraceHub::new();
/// let mut sub = hub.subscribe(SubscribeOptions::default());
/// let (ours, mut peer) = tokio::io::duplex(1024);
/// let tracer = Tracer::new(hub.clone(), Side::Client, SessionKey::new("mx.example.test#1"));
/// let mut stream = TracedStream::new(ours, tracer);
///
/// peer.write_all(b"220 mx.example.test ESMTP\r\n").await?;
/// let mut buf = [0u8; 64];
/// let n = stream.read(&mut buf).await?;
/// stream.write_all(b"EHLO me.example.test\r\n").await?;
/// drop(stream);
///
/// let seen: Vec<Payload> = std::iter::from_fn(|| sub.try_recv().ok())
///     .map(|ev| ev.payload.clone())
///     .collect();
/// assert_eq!(seen, [
///     Payload::Connected,
///     Payload::read(String::from_utf8_lossy(&buf[..n])),
///     Payload::write("EHLO me.example.test\r\n"),
///     Payload::Closed,
/// ]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TracedStream<S> {
    inner: S,
    closer: Closer,
}

/// Publishes [`Payload::Closed`] when dropped, unless disarmed by
/// [`TracedStream::into_parts`].
#[derive(Debug)]
struct Closer {
    tracer: Tracer,
    armed: bool,
}

impl Drop for Closer {
    fn drop(&mut self) {
        if self.armed {
            self.tracer.publish(Payload::Closed);
        }
    }
}

impl<S> TracedStream<S> {
    /// Wraps `inner`, publishing [`Payload::Connected`] for the tracer's session.
    pub fn new(inner: S, tracer: Tracer) -> Self {
        tracer.publish(Payload::Connected);
        Self::resume(inner, tracer)
    }

    /// Wraps `inner` without publishing `Connected`: for a stream of a session that is
    /// already open (for example one taken apart by [`TracedStream::into_parts`]).
    pub fn resume(inner: S, tracer: Tracer) -> Self {
        Self {
            inner,
            closer: Closer {
                tracer,
                armed: true,
            },
        }
    }

    /// The session's tracer, to publish the host's own events into the same session.
    pub fn tracer(&self) -> &Tracer {
        &self.closer.tracer
    }

    /// The tracer, mutably (to change the metadata, [`Tracer::set_meta`]).
    pub fn tracer_mut(&mut self) -> &mut Tracer {
        &mut self.closer.tracer
    }

    /// The stream below.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream below, mutably. Bytes moved through it directly are not traced.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the wrapper apart without publishing [`Payload::Closed`].
    pub fn into_parts(mut self) -> (S, Tracer) {
        self.closer.armed = false;
        let tracer = self.closer.tracer.clone();
        (self.inner, tracer)
    }
}

impl<S> AsMut<S> for TracedStream<S> {
    fn as_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> AsRef<S> for TracedStream<S> {
    fn as_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TracedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let tracer = &this.closer.tracer;
            if tracer.is_watched() && buf.filled().len() > before {
                publish(tracer, true, &buf.filled()[before..]);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TracedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            let tracer = &this.closer.tracer;
            if tracer.is_watched() && n > 0 {
                publish(tracer, false, &buf[..n.min(buf.len())]);
            }
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            let tracer = &this.closer.tracer;
            if tracer.is_watched() && n > 0 {
                let hub = tracer.hub();
                match bufs.iter().find(|b| !b.is_empty()) {
                    // One slice carried it all: no need to gather.
                    Some(first) if first.len() >= n => publish(tracer, false, &first[..n]),
                    _ if hub.all_terse() => {
                        publish(tracer, false, &written_bytes(bufs, n));
                    }
                    _ => tracer.publish_with(|| Payload::write(written_text(bufs, n))),
                }
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Publishes bytes read or written. When every subscriber is terse and the data is cut in this
/// direction, only its first line becomes text: a message body is never copied whole.
fn publish(tracer: &Tracer, read: bool, bytes: &[u8]) {
    if tracer.hub().all_terse()
        && let Some(cut) = terse_bytes(tracer.side(), read, bytes)
    {
        tracer.publish(cut);
        return;
    }
    tracer.publish_with(|| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        if read {
            Payload::Read { data: text }
        } else {
            Payload::Write { data: text }
        }
    });
}

/// The first `n` bytes of a vectored write.
fn written_bytes(bufs: &[IoSlice<'_>], n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n);
    for b in bufs {
        let take = (n - bytes.len()).min(b.len());
        bytes.extend_from_slice(&b[..take]);
        if bytes.len() == n {
            break;
        }
    }
    bytes
}

/// The first `n` bytes of a vectored write, as text.
fn written_text(bufs: &[IoSlice<'_>], n: usize) -> String {
    match String::from_utf8(written_bytes(bufs, n)) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_text_stops_at_the_count() {
        let a = IoSlice::new(b"MAIL FROM:<a@x>\r\n");
        let b = IoSlice::new(b"RCPT TO:<b@y>\r\n");
        assert_eq!(written_text(&[a, b], 17), "MAIL FROM:<a@x>\r\n");
        assert_eq!(written_text(&[a, b], 20), "MAIL FROM:<a@x>\r\nRCP");
        assert_eq!(
            written_text(&[a, b], 32),
            "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"
        );
        assert_eq!(written_text(&[IoSlice::new(&[0xff, b'a'])], 2), "\u{fffd}a");
    }
}
