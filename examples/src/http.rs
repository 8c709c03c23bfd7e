//! A small blocking HTTP/1.1 client over a plain TCP socket, enough for the examples to talk to the
//! demo: one request per connection, `Content-Length`, chunked and close-delimited bodies, and
//! `gzip`/`deflate` content decoding as the body streams in.
//!
//! It exists to keep the examples' compile time low (no TLS, no connection pool, no redirects).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A request that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `http://HOST:PORT/PATH` (or `HOST:PORT/PATH`).
    #[error("invalid url {0:?}: expected http://HOST:PORT/PATH")]
    Url(String),
    /// Connecting failed.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("connection failed")]
    Io(#[from] io::Error),
    /// The response is not valid HTTP/1.x.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The body did not decode as its `Content-Encoding` says.
    #[error("cannot decode {encoding} body")]
    Decode {
        /// The content encoding.
        encoding: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
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
    /// [`HttpError::Decode`] when the compressed bytes are corrupt.
    pub fn decoded_body(&self) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::new();
        let mut sink = Decoder::new(self.head.header("content-encoding"), |b: &[u8]| {
            out.extend_from_slice(b);
            true
        })?;
        sink.push(&self.body)?;
        sink.finish()?;
        drop(sink);
        Ok(out)
    }
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
    /// Read and write timeout; `None` waits forever (streams).
    pub timeout: Option<Duration>,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Self {
            method: "GET",
            headers: &[],
            body: &[],
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Sends a request and reads the whole response.
///
/// # Errors
/// [`HttpError`] when the connection fails or the response is malformed.
pub fn send(target: &Target, req: Request<'_>) -> Result<Response, HttpError> {
    let (head, mut reader) = start(target, &req)?;
    let mut body = Vec::new();
    read_body(&head, &mut reader, &mut |b: &[u8]| {
        body.extend_from_slice(b);
        true
    })?;
    Ok(Response { head, body })
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
/// As [`send`], plus [`HttpError::Decode`] for a corrupt compressed body.
pub fn stream(
    target: &Target,
    req: Request<'_>,
    on_chunk: impl FnMut(&[u8]) -> bool,
) -> Result<Head, HttpError> {
    let (head, mut reader) = start(target, &req)?;
    let mut dec = Decoder::new(head.header("content-encoding"), on_chunk)?;
    let mut stopped = false;
    read_body(&head, &mut reader, &mut |b: &[u8]| match dec.push(b) {
        Ok(true) => true,
        Ok(false) | Err(_) => {
            stopped = true;
            false
        }
    })?;
    if !stopped {
        dec.finish()?;
    }
    Ok(head)
}

fn start(target: &Target, req: &Request<'_>) -> Result<(Head, BufReader<TcpStream>), HttpError> {
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|source| HttpError::Connect {
            addr: target.authority.clone(),
            source,
        })?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut sock = None;
    for a in addrs {
        let r = match req.timeout {
            Some(t) => TcpStream::connect_timeout(&a, t),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut sock = sock.ok_or_else(|| HttpError::Connect {
        addr: target.authority.clone(),
        source: last,
    })?;
    sock.set_read_timeout(req.timeout)?;
    sock.set_write_timeout(req.timeout)?;
    sock.set_nodelay(true)?;
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
    sock.write_all(&out)?;
    sock.flush()?;
    let mut reader = BufReader::with_capacity(64 * 1024, sock);
    let head = read_head(&mut reader)?;
    Ok((head, reader))
}

fn read_line(r: &mut impl BufRead) -> Result<String, HttpError> {
    let mut buf = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(HttpError::Malformed("connection closed early"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(HttpError::Malformed("line too long or truncated"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| HttpError::Malformed("non-UTF-8 header line"))
}

fn read_head(r: &mut impl BufRead) -> Result<Head, HttpError> {
    loop {
        let status = read_line(r)?;
        let mut parts = status.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(HttpError::Malformed("not an HTTP/1.x status line"));
        }
        let code: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .ok_or(HttpError::Malformed("bad status code"))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or(HttpError::Malformed("header without colon"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            if headers.len() > 200 {
                return Err(HttpError::Malformed("too many headers"));
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
) -> Result<(), HttpError> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let mut buf = vec![0u8; 64 * 1024];
    if chunked {
        loop {
            let line = read_line(r)?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let mut left = usize::from_str_radix(size_text, 16)
                .map_err(|_| HttpError::Malformed("bad chunk size"))?;
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
                return Err(HttpError::Malformed("chunk not followed by CRLF"));
            }
        }
    } else if let Some(len) = head.header("content-length") {
        let mut left: u64 = len
            .parse()
            .map_err(|_| HttpError::Malformed("bad content-length"))?;
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
            let n = r.read(&mut buf)?;
            if n == 0 || !sink(&buf[..n]) {
                return Ok(());
            }
        }
    }
}

/// Forwards decoded bytes to a callback; remembers when the callback asked to stop.
struct CallbackWriter<F> {
    f: F,
    stopped: bool,
}

impl<F: FnMut(&[u8]) -> bool> Write for CallbackWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.stopped && !buf.is_empty() && !(self.f)(buf) {
            self.stopped = true;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Decoder<F: FnMut(&[u8]) -> bool> {
    Identity(CallbackWriter<F>),
    Gzip(flate2::write::GzDecoder<CallbackWriter<F>>, String),
    Deflate(flate2::write::ZlibDecoder<CallbackWriter<F>>, String),
}

impl<F: FnMut(&[u8]) -> bool> Decoder<F> {
    fn new(encoding: Option<&str>, f: F) -> Result<Self, HttpError> {
        let w = CallbackWriter { f, stopped: false };
        match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Decoder::Identity(w)),
            Some("gzip") | Some("x-gzip") => Ok(Decoder::Gzip(
                flate2::write::GzDecoder::new(w),
                "gzip".into(),
            )),
            Some("deflate") => Ok(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(w),
                "deflate".into(),
            )),
            Some(other) => Err(HttpError::Decode {
                encoding: other.to_owned(),
                source: io::Error::new(io::ErrorKind::Unsupported, "unsupported content encoding"),
            }),
        }
    }

    /// Pushes bytes; Ok(false) once the callback asked to stop.
    fn push(&mut self, b: &[u8]) -> Result<bool, HttpError> {
        let r = match self {
            Decoder::Identity(w) => w.write_all(b).map(|()| !w.stopped),
            Decoder::Gzip(d, _) => d.write_all(b).map(|()| !d.get_ref().stopped),
            Decoder::Deflate(d, _) => d.write_all(b).map(|()| !d.get_ref().stopped),
        };
        r.map_err(|source| self.decode_error(source))
    }

    fn finish(&mut self) -> Result<(), HttpError> {
        let r = match self {
            Decoder::Identity(_) => Ok(()),
            Decoder::Gzip(d, _) => d.try_finish(),
            Decoder::Deflate(d, _) => d.try_finish(),
        };
        r.map_err(|source| self.decode_error(source))
    }

    fn decode_error(&self, source: io::Error) -> HttpError {
        let encoding = match self {
            Decoder::Identity(_) => "identity".to_owned(),
            Decoder::Gzip(_, e) | Decoder::Deflate(_, e) => e.clone(),
        };
        HttpError::Decode { encoding, source }
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
}
