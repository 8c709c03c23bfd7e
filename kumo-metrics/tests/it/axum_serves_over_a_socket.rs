//! The axum router over a real socket on 127.0.0.1: plain and gzip, text, OpenMetrics, JSON.
#![cfg(feature = "axum")]

use kumo_metrics::{Registry, parse_json, parse_text};
use std::io::Read;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

kumo_metrics::label_set! { struct Queue { queue } }

struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 GET with `Connection: close`, de-chunking the body.
async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut rest = &raw[split + 4..];
    let mut body = Vec::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        body = rest.to_vec();
    }
    Reply { head, body }
}

#[tokio::test]
async fn serves_text_and_json_plain_and_gzip() {
    let registry = Registry::new();
    let f = registry
        .family("queued", "queued \"messages\"")
        .gauge::<Queue<'static>>()
        .unwrap();
    let handles: Vec<_> = (0..5000)
        .map(|i| {
            let g = f.get_or_create(&Queue {
                queue: &format!("t{i}:c\"{i}@example.com"),
            });
            g.set(i);
            g
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // OpenMetrics is negotiated only when the host turns it on (the default router's answer
    // to the same `Accept` is a unit test of `serve`).
    let app = kumo_metrics::MetricsRouter::new(registry.clone())
        .chunk_size(4096)
        .negotiate_openmetrics(true)
        .build();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let plain = get(addr, "/metrics", "").await;
    assert!(plain.head.starts_with("HTTP/1.1 200"), "{}", plain.head);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(plain.header("content-encoding"), None);
    let fams = parse_text(&plain.body).unwrap();
    assert_eq!(fams[0].series.len(), 5000);

    let gz = get(addr, "/metrics", "Accept-Encoding: deflate;q=0.5, gzip\r\n").await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body);
    assert!(gz.body.len() * 3 < plain.body.len());

    let no_gzip = get(addr, "/metrics", "Accept-Encoding: gzip;q=0\r\n").await;
    assert_eq!(no_gzip.header("content-encoding"), None);
    assert_eq!(no_gzip.body, plain.body);

    let deflate = get(addr, "/metrics", "Accept-Encoding: deflate\r\n").await;
    assert_eq!(deflate.header("content-encoding"), Some("deflate"));
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&deflate.body[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, plain.body);

    let om = get(
        addr,
        "/metrics?prefix=kumo_",
        "Accept: application/openmetrics-text\r\n",
    )
    .await;
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.body.starts_with(b"# HELP kumo_queued "));
    assert!(om.body.ends_with(b"# EOF\n"));

    let json = get(addr, "/metrics.json", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(
        json.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&json.body[..])
        .read_to_end(&mut text)
        .unwrap();
    let fams = parse_json(&text).unwrap();
    assert_eq!(fams[0].series.len(), 5000);

    let bad = get(addr, "/metrics?prefix=no-dashes", "").await;
    assert!(bad.head.starts_with("HTTP/1.1 400"), "{}", bad.head);

    drop(handles);
    server.abort();
}
