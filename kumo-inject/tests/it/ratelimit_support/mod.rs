//! Shared support for the Redis rate-limit tests: finding the test server, and starting and
//! stopping a private redis-server on a loopback port.
#![allow(dead_code, reason = "each test file uses part of the support")]
#![allow(
    clippy::print_stderr,
    reason = "tests say on stderr why they return early"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The value of `var`, or `None` with a note when it is missing outside CI.
///
/// # Panics
///
/// When `var` is missing and `CI` is set: under CI these tests must run, never skip.
fn required_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is not set but CI is: {what} is required (scripts/test provides it)"
            );
            eprintln!("note: {var} is not set; skipping this test outside CI (run scripts/test)");
            None
        }
    }
}

/// The shared throwaway Redis of `scripts/test` (`KUMO_TEST_REDIS_URL`).
pub(crate) fn redis_url() -> Option<String> {
    required_env("KUMO_TEST_REDIS_URL", "a redis-server on loopback")
}

/// The redis-server binary (`KUMO_TEST_REDIS_SERVER`), for tests that stop and restart a server.
pub(crate) fn redis_server_bin() -> Option<PathBuf> {
    required_env("KUMO_TEST_REDIS_SERVER", "the redis-server binary").map(PathBuf::from)
}

/// A key prefix no other test (or earlier run) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("kumo-test:{test}:{}:{nanos}", std::process::id())
}

/// A free loopback port (bound then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a Redis answers PING on `port`.
pub(crate) fn pings(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A private redis-server on a loopback port, without persistence; killed on drop.
#[derive(Debug)]
pub(crate) struct OwnRedis {
    bin: PathBuf,
    pub(crate) port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts `bin` on a free port and waits until it answers.
    pub(crate) fn start(bin: PathBuf) -> Self {
        let mut r = Self {
            bin,
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    /// The `redis://` URL of this server.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again) on the same port and waits until it answers.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new(&self.bin)
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            self.child = Some(child);
            while Instant::now() < deadline {
                if pings(self.port) {
                    return;
                }
                if let Some(c) = self.child.as_mut()
                    && c.try_wait().unwrap().is_some()
                {
                    break; // exited (port not yet free after a restart): try again
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.child = None;
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server and waits until it is gone.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
