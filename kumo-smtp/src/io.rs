//! [`Io`]: the transport a session talks through, switched to TLS in place for `STARTTLS`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Any byte stream kumo-smtp can carry: a `TcpStream`, a `tokio::io::DuplexStream`, a host's
/// own type.
trait RawStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawStream for T {}

/// A transport that kumo-smtp can switch to TLS in place (`STARTTLS`), on either side: the
/// client starts TLS after the server's `220`, the server
/// ([`serve_session`](crate::serve_session)) accepts it after writing its own.
///
/// It holds the raw byte stream boxed: `Io::new(tcp_stream)`. A session is generic over a
/// stream `S: AsMut<Io>`, so a host can wrap the `Io` in a layer of its own (kumo-trace's
/// `TracedStream<Io>`): kumo-smtp reaches the `Io` through `as_mut()` to start TLS, and the
/// layer above keeps seeing plaintext after `STARTTLS`.
///
/// # Examples
///
/// ```no_run
/// use kumo_smtp::Io;
///
/// # async fn f() -> std::io::Result<()> {
/// let tcp = tokio::net::TcpStream::connect("192.0.2.1:25").await?;
/// let io = Io::new(tcp);
/// assert!(!io.is_tls());
/// # Ok(())
/// # }
/// ```
pub struct Io {
    state: State,
}

enum State {
    Plain(Box<dyn RawStream>),
    Tls(Box<TlsStream<Box<dyn RawStream>>>),
    /// The server side of a TLS session (after `STARTTLS` was accepted).
    ServerTls(Box<tokio_rustls::server::TlsStream<Box<dyn RawStream>>>),
    /// After a failed TLS handshake (the raw stream went into it and is gone).
    Closed,
}

impl Io {
    /// Wraps a raw, plaintext byte stream.
    pub fn new<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(raw: T) -> Self {
        Self {
            state: State::Plain(Box::new(raw)),
        }
    }

    /// `true` once `STARTTLS` has completed on this stream.
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_) | State::ServerTls(_))
    }

    /// The negotiated TLS protocol version and cipher suite, for diagnostics; `None` in
    /// plaintext.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let conn: &rustls::CommonState = match &self.state {
            State::Tls(tls) => tls.get_ref().1,
            State::ServerTls(tls) => tls.get_ref().1,
            State::Plain(_) | State::Closed => return None,
        };
        let protocol = conn
            .protocol_version()
            .map(|v| v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned))
            .unwrap_or_default();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| {
                let suite = s.suite();
                suite
                    .as_str()
                    .map_or_else(|| format!("{suite:?}"), str::to_owned)
            })
            .unwrap_or_default();
        Some(TlsInfo { protocol, cipher })
    }

    /// Runs the TLS handshake over the plaintext stream and keeps the TLS stream in its place.
    /// On failure the stream is closed.
    pub(crate) async fn start_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Plain(raw) => {
                let tls = connector.connect(name, raw).await?;
                self.state = State::Tls(Box::new(tls));
                Ok(())
            }
            other => {
                let err = not_plain(&other);
                self.state = other;
                Err(err)
            }
        }
    }

    /// The server side of [`start_tls`](Self::start_tls): runs the handshake as the TLS
    /// server and keeps the TLS stream in the plaintext stream's place. On failure the stream
    /// is closed.
    pub(crate) async fn accept_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Plain(raw) => {
                let tls = acceptor.accept(raw).await?;
                self.state = State::ServerTls(Box::new(tls));
                Ok(())
            }
            other => {
                let err = not_plain(&other);
                self.state = other;
                Err(err)
            }
        }
    }
}

/// Why TLS cannot start on a stream in this state.
fn not_plain(state: &State) -> io::Error {
    io::Error::other(if matches!(state, State::Closed) {
        "the stream is closed"
    } else {
        "the stream is already encrypted"
    })
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Plain(_) => "plain",
            State::Tls(_) => "tls",
            State::ServerTls(_) => "tls (server)",
            State::Closed => "closed",
        };
        f.debug_struct("Io").field("state", &state).finish()
    }
}

impl AsMut<Io> for Io {
    fn as_mut(&mut self) -> &mut Io {
        self
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream closed after a failed TLS handshake",
    )
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_read(cx, buf),
            State::Tls(s) => Pin::new(s).poll_read(cx, buf),
            State::ServerTls(s) => Pin::new(s).poll_read(cx, buf),
            State::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_write(cx, buf),
            State::Tls(s) => Pin::new(s).poll_write(cx, buf),
            State::ServerTls(s) => Pin::new(s).poll_write(cx, buf),
            State::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            State::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            State::ServerTls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            State::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.state {
            State::Plain(s) => s.is_write_vectored(),
            State::Tls(s) => s.is_write_vectored(),
            State::ServerTls(s) => s.is_write_vectored(),
            State::Closed => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_flush(cx),
            State::Tls(s) => Pin::new(s).poll_flush(cx),
            State::ServerTls(s) => Pin::new(s).poll_flush(cx),
            State::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_shutdown(cx),
            State::Tls(s) => Pin::new(s).poll_shutdown(cx),
            State::ServerTls(s) => Pin::new(s).poll_shutdown(cx),
            State::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// The negotiated TLS parameters of a connection, as text for a trace or a log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsInfo {
    /// The protocol version, as rustls names it (`"TLSv1_3"`).
    pub protocol: String,
    /// The cipher suite, as rustls names it (`"TLS13_AES_256_GCM_SHA384"`).
    pub cipher: String,
}

impl fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.protocol, self.cipher)
    }
}
