//! [`serve`]: an accept loop that runs a [`serve_session`] task per connection, within a
//! [`ConnectionLimiter`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::handler::Handler;
use crate::io::Io;
use crate::limiter::ConnectionLimiter;
use crate::server::serve_session;
use crate::server_config::ServerConfig;

/// The answer to a connection over a limit.
const TOO_MANY: &[u8] = b"421 4.3.2 too many connections, try again later\r\n";

/// How long that answer may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(2);

/// How long to wait after a failed `accept` (out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and serves each in a task of its own, until the
/// returned future is dropped (or its task aborted); sessions already running go on.
///
/// Each accepted connection gets a [`ConnectionPermit`](crate::ConnectionPermit) from
/// `limiter`, held for the session's life; one over a limit is answered
/// `421 4.3.2 too many connections` and closed (counted in
/// [`ConnectionLimiter::denied`]). The others get `TCP_NODELAY` (replies to pipelined
/// batches go out at once) and are handed to `wrap` with the peer and local addresses: the
/// host wraps the [`Io`] in its own layer (kumo-trace's `TracedStream<Io>`) or returns it as
/// it is. A failed `accept` (out of file descriptors) is logged and retried after 100 ms.
///
/// Must be called within a tokio runtime (it spawns the sessions).
///
/// # Examples
///
/// ```no_run
/// use kumo_smtp::{serve, ConnectionLimiter, Handler, MailFrom, ReceivedEnvelope, Reply, ServerConfig, SessionInfo};
/// use std::sync::Arc;
///
/// struct Spool;
/// impl Handler for Spool {
///     async fn rcpt_to(&self, session: &SessionInfo, _: &MailFrom, rcpt: &str) -> Reply {
///         if session.peer.ip().is_loopback() || rcpt.ends_with("@example.com") {
///             Reply::new(250, Some((2, 1, 5)), "ok")
///         } else {
///             Reply::new(550, Some((5, 7, 1)), "relaying denied")
///         }
///     }
///     async fn message(&self, _: &SessionInfo, _: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
///         // write `data` durably here, then:
///         Reply::new(250, Some((2, 0, 0)), "queued")
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:25").await?;
/// let config = Arc::new(ServerConfig::new("mx1.example.com"));
/// let limiter = ConnectionLimiter::new(10_000, 50);
/// serve(listener, config, Arc::new(Spool), limiter, |io, _peer, _local| io).await;
/// # Ok(())
/// # }
/// ```
pub async fn serve<H, S, W>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    limiter: ConnectionLimiter,
    wrap: W,
) -> Infallible
where
    H: Handler + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + AsMut<Io> + 'static,
    W: Fn(Io, SocketAddr, SocketAddr) -> S,
{
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "smtp listener: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let permit = match limiter.try_acquire(peer.ip()) {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!(%peer, %refused, "smtp connection refused");
                tokio::spawn(refuse(tcp));
                continue;
            }
        };
        let local = match tcp.local_addr() {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "smtp connection lost at accept");
                continue;
            }
        };
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = tcp.set_nodelay(true);
        let stream = wrap(Io::new(tcp), peer, local);
        let config = config.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_session(&config, &*handler, stream, peer, local).await;
        });
    }
}

/// Answers a connection over a limit and closes it.
async fn refuse(mut tcp: TcpStream) {
    let answer = async {
        tcp.write_all(TOO_MANY).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE, answer).await;
}
