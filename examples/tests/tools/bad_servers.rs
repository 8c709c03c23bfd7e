//! The tools against misbehaving servers on loopback (written here, one thread per
//! connection): a corrupt, truncated or junk-padded compressed body is an error with a
//! non-zero exit, a server that drips bytes meets `--timeout`, one that goes silent meets the
//! idle timeout, and every message names the URL and says what happened (never a raw
//! "os error 11").

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::example;

/// How the server answers each connection.
#[derive(Debug, Clone)]
enum Behaviour {
    /// Writes the bytes at once and closes.
    Whole(Vec<u8>),
    /// Writes the head, then one body byte every `pause`, forever.
    Drip { head: Vec<u8>, pause: Duration },
    /// Writes the bytes, then keeps the connection open without a word.
    Stall(Vec<u8>),
}

/// A loopback server answering every connection the same way.
fn serve(behaviour: Behaviour) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let behaviour = behaviour.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                match behaviour {
                    Behaviour::Whole(bytes) => {
                        let _ = s.write_all(&bytes);
                    }
                    Behaviour::Drip { head, pause } => {
                        if s.write_all(&head).is_err() {
                            return;
                        }
                        loop {
                            std::thread::sleep(pause);
                            if s.write_all(b"#").is_err() {
                                return;
                            }
                        }
                    }
                    Behaviour::Stall(bytes) => {
                        let _ = s.write_all(&bytes);
                        std::thread::sleep(Duration::from_secs(120));
                    }
                }
            });
        }
    });
    addr
}

const METRICS: &[u8] = b"# TYPE scheduled_count gauge\nscheduled_count{queue=\"a.test\"} 3\n\
# TYPE total_messages_delivered counter\ntotal_messages_delivered{queue=\"a.test\"} 5\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A 200 response with `encoding`; with a `Content-Length` unless `close_delimited`.
fn response(encoding: &str, body: &[u8], close_delimited: bool) -> Vec<u8> {
    let mut r =
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: {encoding}\r\n");
    if !close_delimited {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

/// Runs a tool; returns (success, stderr, how long it took).
fn run(bin: &PathBuf, args: &[&str]) -> (bool, String, Duration) {
    let t0 = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t0.elapsed(),
    )
}

#[test]
fn corrupt_truncated_and_padded_compressed_bodies_fail_with_the_url_and_the_reason() {
    let (Some(summary), Some(top)) = (example("queue-summary"), example("top")) else {
        return;
    };
    let z = gzip(METRICS);
    let mut padded = z.clone();
    padded.extend_from_slice(b"JUNK AFTER THE GZIP STREAM");
    let zl = zlib(METRICS);
    let mut zl_padded = zl.clone();
    zl_padded.extend_from_slice(b"junk");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "corrupt gzip",
            response("gzip", b"this is not gzip data at all", false),
            "corrupt gzip body",
        ),
        (
            "truncated gzip (close-delimited)",
            response("gzip", &z[..z.len() - 10], true),
            "truncated gzip body",
        ),
        (
            "truncated gzip (content-length)",
            response("gzip", &z[..z.len() / 2], false),
            "truncated gzip body",
        ),
        (
            "gzip + junk",
            response("gzip", &padded, false),
            "trailing data after the end of the gzip body",
        ),
        (
            "corrupt deflate",
            response("deflate", b"\x78\x9c this is not deflate", false),
            "corrupt deflate body",
        ),
        (
            "truncated deflate",
            response("deflate", &zl[..zl.len() - 5], true),
            "truncated deflate body",
        ),
        (
            "deflate + junk",
            response("deflate", &zl_padded, false),
            "trailing data after the end of the deflate body",
        ),
    ];
    for (name, resp, want) in cases {
        let addr = serve(Behaviour::Whole(resp));
        let url = format!("http://{addr}");
        let expected = format!("http://{addr}/metrics: {want}");
        for (tool, bin, extra) in [
            ("queue-summary", &summary, &["--gzip"][..]),
            ("top", &top, &["--once", "--gzip"][..]),
        ] {
            let mut args = vec!["--url", url.as_str(), "--timeout", "5"];
            args.extend_from_slice(extra);
            let (ok, err, _) = run(bin, &args);
            assert!(!ok, "{name}: {tool} exited 0: {err}");
            assert!(
                err.starts_with(&format!("{tool}: {expected}")),
                "{name}: {tool}: {err}"
            );
        }
    }

    // The same server with a whole body: the tools work (the cases above fail for the body).
    let addr = serve(Behaviour::Whole(response("gzip", &z, false)));
    let (ok, err, _) = run(&summary, &["--url", &format!("http://{addr}"), "--gzip"]);
    assert!(ok, "{err}");
}

#[test]
fn a_dripping_server_meets_the_timeout_and_a_silent_one_the_idle_timeout() {
    let (Some(summary), Some(top), Some(trace)) =
        (example("queue-summary"), example("top"), example("trace"))
    else {
        return;
    };
    // One byte every 100 ms: each read is quick, only the overall deadline ends it.
    let drip = serve(Behaviour::Drip {
        head: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec(),
        pause: Duration::from_millis(100),
    });
    let url = format!("http://{drip}");
    for (tool, bin, extra) in [
        ("queue-summary", &summary, &[][..]),
        ("top", &top, &["--once"][..]),
    ] {
        let mut args = vec!["--url", url.as_str(), "--timeout", "1.5"];
        args.extend_from_slice(extra);
        let (ok, err, took) = run(bin, &args);
        assert!(!ok, "{tool}: {err}");
        assert!(
            err.contains(&format!(
                "http://{drip}/metrics: no complete response within 1.5 s"
            )),
            "{tool}: {err}"
        );
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
            "{tool} took {took:?}"
        );
    }

    // A head and part of a body, then silence: the idle timeout, worded, not EAGAIN.
    let stall = serve(Behaviour::Stall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n# TYPE x gauge\n".to_vec(),
    ));
    let url = format!("http://{stall}");
    let (ok, err, took) = run(
        &summary,
        &["--url", &url, "--timeout", "20", "--idle-timeout", "0.5"],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("http://{stall}/metrics: no data for 0.5 s")),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Without --idle-timeout the idle limit is at most --timeout.
    let (ok, err, took) = run(&summary, &["--url", &url, "--timeout", "1"]);
    assert!(!ok && !err.contains("os error"), "{err}");
    assert!(err.contains(&format!("http://{stall}/metrics: ")), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A server that never answers: trace's --timeout bounds the wait for the head.
    let silent = serve(Behaviour::Stall(Vec::new()));
    let (ok, err, took) = run(
        &trace,
        &["--url", &format!("http://{silent}"), "--timeout", "1"],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("no complete response head within 1 s")
            && err.contains(&format!("http://{silent}/api/trace/v1")),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Bad values are refused up front.
    let (ok, err, _) = run(&summary, &["--timeout", "0"]);
    assert!(!ok && err.contains("--timeout"), "{err}");
}
