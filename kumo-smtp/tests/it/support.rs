//! Shared helpers: the aiosmtpd peer, test certificates, scripted servers, plans, and for the
//! server side a recording handler, a server on loopback and a raw client.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_smtp::{
    Client, ClientConfig, ConnectionLimiter, Handler, Io, MailFrom, ReceivedEnvelope, Reply,
    ServerConfig, SessionInfo, SessionSummary, Target, Timeouts, TlsPolicy, rustls,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// The host name the test certificate is made for; targets use it with a loopback address.
pub(crate) const MX_HOST: &str = "mx.kumo.test";

/// The Python with aiosmtpd: `$KUMO_TEST_PYTHON`. `None` (with a note) when it is not set and
/// `CI` is unset; a panic when `CI` is set.
pub(crate) fn python() -> Option<String> {
    match std::env::var("KUMO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("KUMO_TEST_PYTHON is required when CI is set (scripts/test sets it)")
        }
        _ => {
            #[allow(
                clippy::print_stderr,
                reason = "the skip note the common brief asks for"
            )]
            {
                eprintln!("note: KUMO_TEST_PYTHON not set; skipping the aiosmtpd test");
            }
            None
        }
    }
}

/// Runs `python` on a script given as text; its standard output.
pub(crate) async fn run_python(python: &str, script: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One `smtp_peer.py` process on a loopback port, with its maildir in a temporary folder.
pub(crate) struct Peer {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

/// How to start a peer.
#[derive(Default)]
pub(crate) struct PeerOptions<'a> {
    pub(crate) role: &'a str,
    pub(crate) tls: Option<&'a TestCert>,
    pub(crate) extra: &'a [&'a str],
}

impl Peer {
    /// Starts a peer in `role` (`accept` when empty), or `None` when there is no Python.
    pub(crate) async fn start(role: &str) -> Option<Peer> {
        Self::start_with(PeerOptions {
            role,
            ..PeerOptions::default()
        })
        .await
    }

    pub(crate) async fn start_with(options: PeerOptions<'_>) -> Option<Peer> {
        let python = python()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/smtp_peer.py");
        let log = std::fs::File::create(dir.path().join("peer.log")).expect("log file");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .args(["--port", "0", "--exit-on-eof", "--maildir"])
            .arg(dir.path().join("maildir"))
            .args([
                "--role",
                if options.role.is_empty() {
                    "accept"
                } else {
                    options.role
                },
            ])
            .args(options.extra);
        if let Some(cert) = options.tls {
            cmd.arg("--tls-cert")
                .arg(&cert.cert_path)
                .arg("--tls-key")
                .arg(&cert.key_path);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start smtp_peer.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        let peer_log = || std::fs::read_to_string(dir.path().join("peer.log")).unwrap_or_default();
        let port = match read {
            Ok(Ok(_)) => line.trim().parse().unwrap_or_else(|_| {
                panic!(
                    "smtp_peer.py printed {line:?}, not a port; log:\n{}",
                    peer_log()
                )
            }),
            _ => panic!("smtp_peer.py did not print its port; log:\n{}", peer_log()),
        };
        Some(Peer { child, port, dir })
    }

    /// The peer's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A target for the peer, named [`MX_HOST`].
    pub(crate) fn target(&self) -> Target {
        Target::new(MX_HOST, self.addr())
    }

    /// The messages stored so far, in the order received: (bytes, envelope JSON).
    pub(crate) fn messages(&self) -> Vec<(Vec<u8>, serde_json::Value)> {
        let new = self.dir.path().join("maildir/new");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.map(|e| e.expect("dir entry").path()).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        names
            .into_iter()
            .map(|json| {
                let meta = serde_json::from_slice(&std::fs::read(&json).expect("read json"))
                    .expect("envelope json");
                let data = std::fs::read(json.with_extension("eml")).expect("read eml");
                (data, meta)
            })
            .collect()
    }

    /// The messages, waiting up to two seconds for `n` of them (the peer stores after it
    /// replies only in the drop roles, but the file system is not instant either).
    pub(crate) async fn wait_messages(&self, n: usize) -> Vec<(Vec<u8>, serde_json::Value)> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.messages()
    }

    /// The peer's log (aiosmtpd's warnings, Python tracebacks), for failure messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("peer.log")).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A self-signed certificate for [`MX_HOST`], made at test time, in PEM files.
pub(crate) struct TestCert {
    pub(crate) der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_path: PathBuf,
    key_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub(crate) fn new() -> TestCert {
        let key = rcgen::generate_simple_self_signed(vec![MX_HOST.to_owned()]).expect("rcgen");
        let dir = tempfile::tempdir().expect("tempdir");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, key.cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.signing_key.serialize_pem()).expect("write key");
        TestCert {
            der: key.cert.der().clone(),
            key_der: key.signing_key.serialize_der(),
            cert_path,
            key_path,
            _dir: dir,
        }
    }

    /// A rustls server configuration presenting this certificate (for the server side).
    pub(crate) fn server_tls(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], key)
            .expect("server certificate");
        Arc::new(config)
    }

    /// A root store holding just this certificate.
    pub(crate) fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("add root");
        Arc::new(roots)
    }
}

/// Opens a TCP connection to the target, as a host's `open` callback does.
pub(crate) fn tcp(target: &Target) -> impl Future<Output = io::Result<Io>> + Send + use<> {
    let addr = target.addr;
    async move { Ok(Io::new(TcpStream::connect(addr).await?)) }
}

/// A loopback address where nothing listens (a port bound and released).
pub(crate) async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// A client with short timeouts (2 s) and the given TLS policy.
pub(crate) fn client(tls: TlsPolicy) -> Client {
    client_with(ClientConfig::default().tls(tls))
}

/// A client from `config` with its EHLO name set and short timeouts (2 s) unless changed.
pub(crate) fn client_with(config: ClientConfig) -> Client {
    let mut config = config.ehlo_name("client.kumo.test");
    if config.timeouts == Timeouts::default() {
        config.timeouts = Timeouts::all(Duration::from_secs(2));
    }
    Client::new(config).expect("client config")
}

/// What a scripted server does with a command line.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Writes this reply (with CRLF line endings added per line).
    Reply(&'static str),
    /// Never answers (reads on, so the client's writes do not block).
    Silent,
    /// Closes the connection.
    Close,
}

/// A scripted server on one stream: greets with `greeting`, then answers each command line
/// (given without its CRLF; `"."` for the end of the message data) with `answer`. A reply
/// starting `354` switches to reading message data until the final dot.
///
/// Returns the chunks it read, in order (one per read call), for checks on how the client
/// wrote.
pub(crate) fn scripted<S>(
    stream: S,
    greeting: &'static str,
    mut answer: impl FnMut(&str) -> Answer + Send + 'static,
) -> Arc<Mutex<Vec<Vec<u8>>>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let chunks = Arc::new(Mutex::new(Vec::new()));
    let log = chunks.clone();
    tokio::spawn(async move {
        let (mut rd, mut wr) = tokio::io::split(stream);
        if !greeting.is_empty() && write_reply(&mut wr, greeting).await.is_err() {
            return;
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut in_data = false;
        let mut silent = false;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            log.lock().unwrap().push(buf[..n].to_vec());
            if silent {
                continue;
            }
            pending.extend_from_slice(&buf[..n]);
            loop {
                let line = if in_data {
                    let end = if pending.starts_with(b".\r\n") {
                        Some(3)
                    } else {
                        pending
                            .windows(5)
                            .position(|w| w == b"\r\n.\r\n")
                            .map(|i| i + 5)
                    };
                    let Some(end) = end else { break };
                    pending.drain(..end);
                    in_data = false;
                    ".".to_owned()
                } else {
                    let Some(lf) = pending.iter().position(|&b| b == b'\n') else {
                        break;
                    };
                    let line: Vec<u8> = pending.drain(..=lf).collect();
                    String::from_utf8_lossy(&line).trim_end().to_owned()
                };
                match answer(&line) {
                    Answer::Reply(reply) => {
                        if reply.starts_with("354") {
                            in_data = true;
                        }
                        if write_reply(&mut wr, reply).await.is_err() {
                            return;
                        }
                    }
                    Answer::Silent => {
                        silent = true;
                        break;
                    }
                    Answer::Close => return,
                }
            }
        }
    });
    chunks
}

async fn write_reply<W: AsyncWrite + Unpin>(wr: &mut W, reply: &str) -> io::Result<()> {
    let mut bytes = Vec::new();
    for line in reply.lines() {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    wr.write_all(&bytes).await?;
    wr.flush().await
}

/// The usual answers of a server that accepts everything; `ehlo` is its EHLO reply.
pub(crate) fn accepting(ehlo: &'static str) -> impl FnMut(&str) -> Answer + Send + 'static {
    move |line: &str| {
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => Answer::Reply(ehlo),
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => Answer::Reply("250 OK"),
            "DATA" => Answer::Reply("354 go ahead"),
            "." => Answer::Reply("250 2.0.0 queued"),
            "QUIT" => Answer::Reply("221 bye"),
            _ => Answer::Reply("500 5.5.1 unknown command"),
        }
    }
}

/// A scripted server on a fresh loopback listener, one connection at a time; its address.
pub(crate) async fn scripted_listener<F>(
    greeting: &'static str,
    make_answer: impl Fn() -> F + Send + 'static,
) -> SocketAddr
where
    F: FnMut(&str) -> Answer + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            scripted(stream, greeting, make_answer());
        }
    });
    addr
}

/// The lines of a chunk log as text, for assertion messages.
pub(crate) fn show(chunks: &[Vec<u8>]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// A server-side [`Handler`] that accepts every sender, refuses recipients whose local part
/// is `reject`, and records every message and every session's summary.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) messages: Mutex<Vec<(ReceivedEnvelope, Vec<u8>)>>,
    pub(crate) summaries: Mutex<Vec<SessionSummary>>,
}

impl Handler for Recorder {
    async fn rcpt_to(&self, _: &SessionInfo, _: &MailFrom, rcpt: &str) -> Reply {
        if rcpt.starts_with("reject@") {
            Reply::new(550, Some((5, 1, 1)), "no such user")
        } else {
            Reply::new(250, Some((2, 1, 5)), "recipient ok")
        }
    }

    async fn message(&self, _: &SessionInfo, envelope: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
        self.messages.lock().unwrap().push((envelope.clone(), data));
        Reply::new(250, Some((2, 0, 0)), "queued")
    }

    fn session_ended(&self, summary: &SessionSummary) {
        self.summaries.lock().unwrap().push(summary.clone());
    }
}

impl Recorder {
    pub(crate) fn messages(&self) -> Vec<(ReceivedEnvelope, Vec<u8>)> {
        self.messages.lock().unwrap().clone()
    }

    /// The summaries, waiting up to two seconds for `n` of them.
    pub(crate) async fn wait_summaries(&self, n: usize) -> Vec<SessionSummary> {
        for _ in 0..200 {
            if self.summaries.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.summaries.lock().unwrap().clone()
    }
}

/// A kumo-smtp server (`serve`) on a loopback port with a [`Recorder`]; stopped on drop.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) limiter: ConnectionLimiter,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(config: ServerConfig, limiter: ConnectionLimiter) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let recorder = Arc::new(Recorder::default());
        let task = tokio::spawn({
            let recorder = recorder.clone();
            let limiter = limiter.clone();
            async move {
                kumo_smtp::serve(listener, Arc::new(config), recorder, limiter, |io, _, _| io)
                    .await;
            }
        });
        TestServer {
            addr,
            recorder,
            limiter,
            task,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw client on a server: writes bytes and reads what comes back.
pub(crate) struct Raw {
    pub(crate) rd: tokio::net::tcp::OwnedReadHalf,
    pub(crate) wr: tokio::net::tcp::OwnedWriteHalf,
    /// Everything read so far.
    pub(crate) seen: Vec<u8>,
}

impl Raw {
    /// Connects and waits for the greeting (or whatever comes first).
    pub(crate) async fn connect(addr: SocketAddr) -> Raw {
        let (rd, wr) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut raw = Raw {
            rd,
            wr,
            seen: Vec::new(),
        };
        raw.read_until("\r\n").await;
        raw
    }

    /// Writes `bytes` while reading, until what was read since the call contains `expect`;
    /// returns that part. Panics after 10 s.
    pub(crate) async fn send(&mut self, bytes: &[u8], expect: &str) -> String {
        let (wrote, read) = tokio::join!(self.wr.write_all(bytes), async {
            let start = self.seen.len();
            read_until_from(&mut self.rd, &mut self.seen, start, expect).await
        });
        // A server that closed on us may fail the write; the replies tell what happened.
        let _ = wrote;
        read
    }

    /// Reads until what is read from now on contains `expect`.
    pub(crate) async fn read_until(&mut self, expect: &str) -> String {
        let start = self.seen.len();
        read_until_from(&mut self.rd, &mut self.seen, start, expect).await
    }

    /// `true` when the server closes the connection within 5 s (reading what remains).
    pub(crate) async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.rd.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.seen.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }
}

async fn read_until_from(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    seen: &mut Vec<u8>,
    start: usize,
    expect: &str,
) -> String {
    let mut buf = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&seen[start..]).into_owned();
        if text.contains(expect) {
            return text;
        }
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => panic!("{expect:?} not received; got {text:?}"),
        }
    }
}
