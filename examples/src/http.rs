//! A small blocking HTTP/1.1 client over a plain TCP socket, enough for the examples to talk to the
//! demo: one request per connection, `Content-Length`, chunked and close-delimited bodies, and
//! `gzip`/`deflate` content decoding as the body streams in.
//!
//! Every wait is bounded: [`Request::timeout`] is the longest silence (connecting, sending, or
//! between two reads), [`Request::deadline`] the whole exchange and [`Request::head_deadline`]
//! the part up to the response head (for streams without end). A compressed body must be whole:
//! corrupt, truncated or followed by junk, it is an error ([`DecodeError`]). Every error names
//! the URL and says what happened (`http://127.0.0.1:8000/metrics: no data for 10 s`).
//!
//! It exists to keep the examples' compile time low (no TLS, no connection pool, no redirects).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

mod decode;

use decode::ContentDecoder;
pub use decode::DecodeError;

/// A request that failed. Every variant but [`HttpError::Url`] starts its message with the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `http://HOST:PORT/PATH` (or `HOST:PORT/PATH`).
    #[error("invalid url {0:?}: expected http://HOST:PORT/PATH")]
    Url(String),
    /// Connecting failed (refused, unreachable, no address, or no answer within the timeout).
    #[error("{url}: cannot connect to {addr}")]
    Connect {
        /// The URL.
        url: String,
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the connection failed (reset, broken pipe...).
    #[error("{url}: connection failed")]
    Io {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Nothing arrived (or could be sent) for [`Request::timeout`].
    #[error("{url}: no data for {} s", secs(*.after))]
    Idle {
        /// The URL.
        url: String,
        /// The idle timeout.
        after: Duration,
    },
    /// The exchange was not over within [`Request::deadline`] (or the head within
    /// [`Request::head_deadline`]), however steadily bytes came.
    #[error("{url}: no complete {what} within {} s", secs(*.after))]
    Deadline {
        /// The URL.
        url: String,
        /// `response` or `response head`.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The response is not valid HTTP/1.x, or the connection closed in the middle of it.
    #[error("{url}: malformed response: {what}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        what: &'static str,
    },
    /// The body did not decode as its `Content-Encoding` says.
    #[error("{url}: {error}")]
    Decode {
        /// The URL.
        url: String,
        /// What is wrong (its message is part of this one, so it is not a `source`).
        error: DecodeError,
    },
}

/// Seconds for a message: whole numbers without a fraction.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// A request failure before the URL is attached.
#[derive(Debug)]
enum Problem {
    Connect(String, io::Error),
    Io(io::Error),
    Idle(Duration),
    Deadline(&'static str, Duration),
    Malformed(&'static str),
    Decode(DecodeError),
}

impl Problem {
    fn at(self, target: &Target) -> HttpError {
        let url = target.url();
        match self {
            Problem::Connect(addr, source) => HttpError::Connect { url, addr, source },
            Problem::Io(source) => HttpError::Io { url, source },
            Problem::Idle(after) => HttpError::Idle { url, after },
            Problem::Deadline(what, after) => HttpError::Deadline { url, what, after },
            Problem::Malformed(what) => HttpError::Malformed { url, what },
            Problem::Decode(error) => HttpError::Decode { url, error },
        }
    }
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Self {
        if let Some(stall) = e.get_ref().and_then(|i| i.downcast_ref::<Stall>()) {
            return match *stall {
                Stall::Idle(d) => Problem::Idle(d),
                Stall::Deadline(what, d) => Problem::Deadline(what, d),
            };
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                Problem::Malformed("connection closed before the end of the body")
            }
            _ => Problem::Io(e),
        }
    }
}

impl From<DecodeError> for Problem {
    fn from(e: DecodeError) -> Self {
        Problem::Decode(e)
    }
}

/// Why a read or write of a [`Timed`] socket gave up (carried inside an `io::Error`).
#[derive(Debug, Clone, Copy, thiserror::Error)]
enum Stall {
    #[error("no data for {} s", secs(*.0))]
    Idle(Duration),
    #[error("no complete {what} within {} s", secs(*.1), what = .0)]
    Deadline(&'static str, Duration),
}

/// The request's clocks: the idle timeout and the deadlines, absolute.
#[derive(Debug, Clone, Copy)]
struct Clocks {
    idle: Option<Duration>,
    deadline: Option<(Instant, Duration)>,
    head_deadline: Option<(Instant, Duration)>,
    /// Whether the head has been read (the head deadline no longer applies).
    head_done: bool,
}

impl Clocks {
    fn new(req: &Request<'_>, start: Instant) -> Self {
        let at = |d: Option<Duration>| d.map(|d| (start.checked_add(d).unwrap_or(start), d));
        Self {
            idle: req.timeout,
            deadline: at(req.deadline),
            head_deadline: at(req.head_deadline),
            head_done: false,
        }
    }

    /// How long the next wait may last, and what to call it when it runs out: `Err` when a
    /// deadline has passed.
    fn wait(&self, now: Instant) -> Result<(Option<Duration>, Stall), Stall> {
        let mut wait = self.idle;
        let mut limit = Stall::Idle(self.idle.unwrap_or_default());
        let deadlines = [
            self.deadline.map(|d| ("response", d)),
            self.head_deadline
                .filter(|_| !self.head_done)
                .map(|d| ("response head", d)),
        ];
        for (what, (at, after)) in deadlines.into_iter().flatten() {
            let left = at.saturating_duration_since(now);
            if left.is_zero() {
                return Err(Stall::Deadline(what, after));
            }
            if wait.is_none_or(|w| left < w) {
                wait = Some(left);
                limit = Stall::Deadline(what, after);
            }
        }
        Ok((wait, limit))
    }
}

/// A socket whose every read and write waits at most as long as the clocks allow.
#[derive(Debug)]
struct Timed {
    sock: TcpStream,
    clocks: Clocks,
    /// What the wait in force is called when it runs out.
    armed: Stall,
}

impl Timed {
    fn new(sock: TcpStream, clocks: Clocks) -> Self {
        Self {
            sock,
            clocks,
            armed: Stall::Idle(clocks.idle.unwrap_or_default()),
        }
    }

    fn arm(&mut self, read: bool) -> io::Result<()> {
        let (wait, limit) = self
            .clocks
            .wait(Instant::now())
            .map_err(|s| io::Error::new(io::ErrorKind::TimedOut, s))?;
        self.armed = limit;
        // A zero timeout means "forever" to the socket: the smallest real one instead.
        let wait = wait.map(|w| w.max(Duration::from_millis(1)));
        if read {
            self.sock.set_read_timeout(wait)
        } else {
            self.sock.set_write_timeout(wait)
        }
    }

    fn timed_out(&self, e: io::Error) -> io::Error {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            io::Error::new(io::ErrorKind::TimedOut, self.armed)
        } else {
            e
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.sock.read(buf).map_err(|e| self.timed_out(e))
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(false)?;
        self.sock.write(buf).map_err(|e| self.timed_out(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Where to send a request: an address and a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host and port as written (used for the `Host` header).
    pub authority: String,
    /// The path with its query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses `http://HOST:PORT/PATH` or `HOST:PORT/PATH` (the path defaults to `/`).
    ///
    /// # Errors
    /// [`HttpError::Url`] for another scheme or a missing port.
    ///
    /// # Examples
    /// ```
    /// let t = kumo_examples::http::Target::parse("http://127.0.0.1:8000/metrics")?;
    /// assert_eq!(t.authority, "127.0.0.1:8000");
    /// assert_eq!(t.path, "/metrics");
    /// # Ok::<(), kumo_examples::http::HttpError>(())
    /// ```
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(_) => return Err(HttpError::Url(url.to_owned())),
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let port_ok = authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(HttpError::Url(url.to_owned()));
        }
        Ok(Self {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The same authority with another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            authority: self.authority.clone(),
            path: path.to_owned(),
        }
    }

    /// The URL, as error messages show it: `http://AUTHORITY/PATH`.
    ///
    /// # Examples
    /// ```
    /// let t = kumo_examples::http::Target::parse("127.0.0.1:8000/metrics")?;
    /// assert_eq!(t.url(), "http://127.0.0.1:8000/metrics");
    /// # Ok::<(), kumo_examples::http::HttpError>(())
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }

    /// A target on a socket address.
    pub fn from_addr(addr: SocketAddr, path: &str) -> Self {
        Self {
            authority: addr.to_string(),
            path: path.to_owned(),
        }
    }
}

/// The status line and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The URL it answers (for error messages).
    pub url: String,
    /// Status and headers.
    pub head: Head,
    /// The body with transfer encoding removed but content encoding kept (compressed bytes stay
    /// compressed).
    pub body: Vec<u8>,
}

impl Response {
    /// The body decoded per `Content-Encoding` (`gzip`, `deflate` or none).
    ///
    /// # Errors
    /// [`HttpError::Decode`] when the compressed bytes are corrupt, truncated or followed by
    /// other bytes, or the encoding is not one of those.
    pub fn decoded_body(&self) -> Result<Vec<u8>, HttpError> {
        let fail = |error: DecodeError| HttpError::Decode {
            url: self.url.clone(),
            error,
        };
        let mut out = Vec::new();
        let mut dec = decoder_for(&self.head).map_err(fail)?;
        dec.push(&self.body, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            true
        })
        .map_err(fail)?;
        dec.finish().map_err(fail)?;
        Ok(out)
    }
}

/// The content decoder of a response: none for the statuses that have no body.
fn decoder_for(head: &Head) -> Result<ContentDecoder, DecodeError> {
    if head.status == 204 || head.status == 304 {
        return Ok(ContentDecoder::Identity);
    }
    ContentDecoder::new(head.header("content-encoding"))
}

/// A request to send.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// Extra headers.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (sent with `Content-Length` when not empty or when the method is `POST`).
    pub body: &'a [u8],
    /// The idle timeout: the longest wait to connect, to send, or for the next bytes of the
    /// response ([`HttpError::Idle`]); `None` waits forever (streams). Default 30 s.
    pub timeout: Option<Duration>,
    /// The longest the whole exchange may last, from the connection to the last byte of the
    /// body, however steadily the bytes come ([`HttpError::Deadline`]); `None`: no limit
    /// (the default, for the demo's own large requests; the tools set one).
    pub deadline: Option<Duration>,
    /// The longest the exchange may last until the response head is read; the body then has
    /// only [`Request::deadline`] and [`Request::timeout`] (for streams without end). `None`:
    /// no limit of its own (the default).
    pub head_deadline: Option<Duration>,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Self {
            method: "GET",
            headers: &[],
            body: &[],
            timeout: Some(Duration::from_secs(30)),
            deadline: None,
            head_deadline: None,
        }
    }
}

impl Request<'_> {
    /// `GET` with an idle timeout and a deadline, the tools' usual request.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let r = kumo_examples::http::Request::get_within(Duration::from_secs(30), Duration::from_secs(10));
    /// assert_eq!(r.deadline, Some(Duration::from_secs(30)));
    /// assert_eq!(r.timeout, Some(Duration::from_secs(10)));
    /// ```
    pub fn get_within(deadline: Duration, idle: Duration) -> Self {
        Self {
            timeout: Some(idle),
            deadline: Some(deadline),
            ..Self::default()
        }
    }
}

/// Sends a request and reads the whole response.
///
/// # Errors
/// [`HttpError`] when the connection fails, times out or the response is malformed.
pub fn send(target: &Target, req: Request<'_>) -> Result<Response, HttpError> {
    let run = || -> Result<Response, Problem> {
        let (head, mut reader) = start(target, &req)?;
        let mut body = Vec::new();
        read_body(&head, &mut reader, &mut |b: &[u8]| {
            body.extend_from_slice(b);
            true
        })?;
        Ok(Response {
            url: target.url(),
            head,
            body,
        })
    };
    run().map_err(|p| p.at(target))
}

/// `GET` a path and return the response.
///
/// # Errors
/// As [`send`].
pub fn get(target: &Target, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    send(
        target,
        Request {
            headers,
            ..Request::default()
        },
    )
}

/// `POST` a JSON body and return the response.
///
/// # Errors
/// As [`send`].
pub fn post_json(target: &Target, json: &[u8]) -> Result<Response, HttpError> {
    send(
        target,
        Request {
            method: "POST",
            headers: &[("content-type", "application/json")],
            body: json,
            ..Request::default()
        },
    )
}

/// Sends a request and hands the decoded body to `on_chunk` as it arrives, chunk by chunk, until
/// the body ends or `on_chunk` returns false. Returns the response head.
///
/// # Errors
/// As [`send`], plus [`HttpError::Decode`] for a compressed body that is corrupt, truncated or
/// followed by other bytes (also when `on_chunk` stopped early: bytes it was not shown were not
/// checked).
pub fn stream(
    target: &Target,
    req: Request<'_>,
    mut on_chunk: impl FnMut(&[u8]) -> bool,
) -> Result<Head, HttpError> {
    let mut run = || -> Result<Head, Problem> {
        let (head, mut reader) = start(target, &req)?;
        let mut dec = decoder_for(&head)?;
        let mut stopped = false;
        let mut failed = None;
        read_body(&head, &mut reader, &mut |b: &[u8]| {
            match dec.push(b, &mut on_chunk) {
                Ok(true) => return true,
                Ok(false) => stopped = true,
                Err(e) => failed = Some(e),
            }
            false
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        if !stopped {
            dec.finish()?;
        }
        Ok(head)
    };
    run().map_err(|p| p.at(target))
}

fn start(target: &Target, req: &Request<'_>) -> Result<(Head, BufReader<Timed>), Problem> {
    let t0 = Instant::now();
    let mut clocks = Clocks::new(req, t0);
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| Problem::Connect(target.authority.clone(), e))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut sock = None;
    for a in addrs {
        let (wait, _) = clocks
            .wait(Instant::now())
            .map_err(|s| Problem::from(io::Error::new(io::ErrorKind::TimedOut, s)))?;
        let r = match wait {
            Some(t) => TcpStream::connect_timeout(&a, t.max(Duration::from_millis(1))),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                let waited = wait.unwrap_or_default().max(Duration::from_millis(1));
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} s", secs(waited)),
                );
            }
            Err(e) => last = e,
        }
    }
    let sock = sock.ok_or_else(|| Problem::Connect(target.authority.clone(), last))?;
    sock.set_nodelay(true)?;
    let mut conn = Timed::new(sock, clocks);
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\nuser-agent: kumo-examples\r\n",
        req.method, target.path, target.authority
    );
    for (n, v) in req.headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    if !req.body.is_empty() || req.method.eq_ignore_ascii_case("POST") {
        head.push_str(&format!("content-length: {}\r\n", req.body.len()));
    }
    head.push_str("\r\n");
    let mut out = Vec::with_capacity(head.len() + req.body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(req.body);
    conn.write_all(&out)?;
    conn.flush()?;
    let mut reader = BufReader::with_capacity(64 * 1024, conn);
    let head = read_head(&mut reader)?;
    clocks.head_done = true;
    reader.get_mut().clocks = clocks;
    Ok((head, reader))
}

fn read_line(r: &mut impl BufRead) -> Result<String, Problem> {
    let mut buf = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(Problem::Malformed("connection closed early"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(Problem::Malformed("line too long or truncated"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| Problem::Malformed("non-UTF-8 header line"))
}

fn read_head(r: &mut impl BufRead) -> Result<Head, Problem> {
    loop {
        let status = read_line(r)?;
        let mut parts = status.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(Problem::Malformed("not an HTTP/1.x status line"));
        }
        let code: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .ok_or(Problem::Malformed("bad status code"))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or(Problem::Malformed("header without colon"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            if headers.len() > 200 {
                return Err(Problem::Malformed("too many headers"));
            }
        }
        // 1xx responses precede the real one.
        if (100..200).contains(&code) {
            continue;
        }
        return Ok(Head {
            status: code,
            headers,
        });
    }
}

/// Removes the transfer encoding; `sink` returns false to stop early.
fn read_body(
    head: &Head,
    r: &mut impl BufRead,
    sink: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), Problem> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let mut buf = vec![0u8; 64 * 1024];
    if chunked {
        loop {
            let line = read_line(r)?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let mut left = usize::from_str_radix(size_text, 16)
                .map_err(|_| Problem::Malformed("bad chunk size"))?;
            if left == 0 {
                // Trailers, then the final empty line.
                while !read_line(r)?.is_empty() {}
                return Ok(());
            }
            while left > 0 {
                let want = left.min(buf.len());
                r.read_exact(&mut buf[..want])?;
                left -= want;
                if !sink(&buf[..want]) {
                    return Ok(());
                }
            }
            if !read_line(r)?.is_empty() {
                return Err(Problem::Malformed("chunk not followed by CRLF"));
            }
        }
    } else if let Some(len) = head.header("content-length") {
        let mut left: u64 = len
            .parse()
            .map_err(|_| Problem::Malformed("bad content-length"))?;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..want])?;
            left -= want as u64;
            if !sink(&buf[..want]) {
                return Ok(());
            }
        }
        Ok(())
    } else {
        loop {
            let n = match r.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 || !sink(&buf[..n]) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one canned response to one connection and returns the request it read.
    fn serve_once(response: Vec<u8>) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(&response).unwrap();
            req
        });
        (addr, h)
    }

    #[test]
    fn target_parsing() {
        assert_eq!(Target::parse("127.0.0.1:1").unwrap().path, "/");
        assert!(Target::parse("https://a:1/").is_err());
        assert!(Target::parse("http://nohost/").is_err());
        assert!(Target::parse("http://:80/").is_err());
        let t = Target::parse("http://[::1]:8000/x?y=1").unwrap();
        assert_eq!(t.authority, "[::1]:8000");
        assert_eq!(t.with_path("/z").path, "/z");
    }

    #[test]
    fn content_length_body() {
        let (addr, h) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello".to_vec());
        let r = get(&Target::from_addr(addr, "/p"), &[("accept", "text/plain")]).unwrap();
        assert_eq!(r.head.status, 200);
        assert_eq!(r.head.header("x-a"), Some("b"));
        assert_eq!(r.body, b"hello");
        let req = String::from_utf8(h.join().unwrap()).unwrap();
        assert!(req.starts_with("GET /p HTTP/1.1\r\n"));
        assert!(req.contains("accept: text/plain\r\n"));
    }

    #[test]
    fn chunked_gzip_body_streams() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"line one\nline two\n".repeat(100)).unwrap();
        let z = gz.finish().unwrap();
        let mut resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        for part in z.chunks(7) {
            resp.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            resp.extend_from_slice(part);
            resp.extend_from_slice(b"\r\n");
        }
        resp.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
        let (addr, _h) = serve_once(resp.clone());
        let mut got = Vec::new();
        let head = stream(&Target::from_addr(addr, "/"), Request::default(), |b| {
            got.extend_from_slice(b);
            true
        })
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(got, b"line one\nline two\n".repeat(100));
        // The whole-response path keeps the compressed bytes and decodes on request.
        let (addr, _h) = serve_once(resp);
        let r = get(&Target::from_addr(addr, "/"), &[]).unwrap();
        assert_eq!(r.body, z);
        assert_eq!(
            r.decoded_body().unwrap(),
            b"line one\nline two\n".repeat(100)
        );
    }

    #[test]
    fn stream_stops_when_asked() {
        let (addr, _h) = serve_once(b"HTTP/1.1 200 OK\r\n\r\nabcdef".to_vec());
        let mut calls = 0;
        stream(&Target::from_addr(addr, "/"), Request::default(), |_| {
            calls += 1;
            false
        })
        .unwrap();
        assert_eq!(calls, 1);
    }

    #[test]
    fn malformed_responses_are_errors() {
        for bad in [
            &b"SMTP 220 hi\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            let (addr, _h) = serve_once(bad.to_vec());
            assert!(
                get(&Target::from_addr(addr, "/"), &[]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (addr, _h) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
        );
        let r = get(&Target::from_addr(addr, "/"), &[]).unwrap();
        assert!(matches!(r.decoded_body(), Err(HttpError::Decode { .. })));
    }

    /// Serves `response` to one connection, `step` bytes every `pause`.
    fn serve_dripping(response: Vec<u8>, step: usize, pause: Duration) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            for part in response.chunks(step) {
                if s.write_all(part).is_err() {
                    return;
                }
                std::thread::sleep(pause);
            }
            std::thread::sleep(Duration::from_secs(60));
        });
        addr
    }

    #[test]
    fn a_dripping_server_meets_the_deadline_and_a_silent_one_the_idle_timeout() {
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
        resp.extend(std::iter::repeat_n(b'x', 100_000));
        let addr = serve_dripping(resp, 1, Duration::from_millis(20));
        let t0 = Instant::now();
        let e = send(
            &Target::from_addr(addr, "/m"),
            Request::get_within(Duration::from_millis(600), Duration::from_millis(300)),
        )
        .unwrap_err();
        let took = t0.elapsed();
        assert!(matches!(e, HttpError::Deadline { .. }), "{e:?}");
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("http://{addr}/m: no complete response within 0.6 s")
        );

        // Silent after the head: the idle timeout, never a raw EAGAIN.
        let addr = serve_dripping(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            1000,
            Duration::ZERO,
        );
        let e = send(
            &Target::from_addr(addr, "/m"),
            Request::get_within(Duration::from_secs(10), Duration::from_millis(300)),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), format!("http://{addr}/m: no data for 0.3 s"));
    }

    #[test]
    fn a_truncated_or_trailing_gzip_stream_is_an_error_even_streamed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello\n").unwrap();
        let z = gz.finish().unwrap();
        let mut junk = z.clone();
        junk.extend_from_slice(b"junk");
        for (body, want) in [
            (&z[..z.len() - 3], "truncated gzip body"),
            (&junk[..], "trailing data after the end of the gzip body"),
            (&b"not gzip at all"[..], "corrupt gzip body"),
        ] {
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            resp.extend_from_slice(body);
            let (addr, _h) = serve_once(resp);
            let e =
                stream(&Target::from_addr(addr, "/x"), Request::default(), |_| true).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("http://{addr}/x: {want}")),
                "{e}"
            );
        }
    }
}
