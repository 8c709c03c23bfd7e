//! `TracedStream` over a real loopback TCP connection: what crosses the socket is what the trace
//! shows, in order, with connection events; terse subscribers get the message body cut; nothing
//! is published (or built) without a subscriber.
#![cfg(feature = "tokio")]

use std::sync::Arc;

use kumo_trace::{
    ConnMeta, Payload, SessionKey, Side, SubscribeOptions, TraceHub, TracedStream, Tracer,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const BODY: &str = "From: a@example.test\r\nSubject: hi\r\n\r\n..dot-stuffed line\r\n.\r\n";

/// A tiny scripted SMTP-ish peer: greets, then answers each line it reads with `250 ok` until
/// it reads `QUIT`.
async fn peer(listener: TcpListener) -> Vec<String> {
    let (sock, _) = listener.accept().await.expect("accept");
    let mut sock = BufReader::new(sock);
    sock.get_mut()
        .write_all(b"220 peer.test ESMTP\r\n")
        .await
        .expect("greet");
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if sock.read_line(&mut line).await.expect("read") == 0 {
            break;
        }
        seen.push(line.clone());
        if line.starts_with("QUIT") {
            sock.get_mut().write_all(b"221 bye\r\n").await.expect("bye");
            break;
        }
        if line == ".\r\n" || !line.starts_with(['F', 'S', '\r', '.']) {
            sock.get_mut().write_all(b"250 ok\r\n").await.expect("ok");
        }
    }
    seen
}

async fn session(hub: &TraceHub) -> (Vec<String>, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(peer(listener));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let meta = Arc::new(
        ConnMeta::new()
            .with_peer(addr)
            .with_label(ConnMeta::QUEUE, "peer.test"),
    );
    let tracer =
        Tracer::new(hub.clone(), Side::Client, SessionKey::new("peer.test#1")).with_meta(meta);
    tracer.publish(Payload::BeginSession);
    let mut s = TracedStream::new(tcp, tracer);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let mut read_reply = async |s: &mut TracedStream<TcpStream>, got: &mut Vec<u8>| {
        let n = s.read(&mut buf).await.expect("read");
        got.extend_from_slice(&buf[..n]);
    };
    read_reply(&mut s, &mut got).await;
    s.write_all(b"MAIL FROM:<a@example.test>\r\n")
        .await
        .unwrap();
    read_reply(&mut s, &mut got).await;
    s.write_all(BODY.as_bytes()).await.unwrap();
    read_reply(&mut s, &mut got).await;
    s.write_all(b"QUIT\r\n").await.unwrap();
    read_reply(&mut s, &mut got).await;
    drop(s);
    (server.await.expect("peer"), got)
}

#[tokio::test]
async fn the_trace_shows_what_crossed_the_socket() {
    let hub = TraceHub::new();
    let mut whole = hub.subscribe(SubscribeOptions::default());
    let mut cut = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    let (peer_saw, we_read) = session(&hub).await;

    let events: Vec<_> = std::iter::from_fn(|| whole.try_recv().ok()).collect();
    assert!(events.iter().all(|e| e.session.as_str() == "peer.test#1"));
    assert!(events.iter().all(|e| e.side == Side::Client));
    assert!(
        events
            .iter()
            .all(|e| e.meta.as_ref().and_then(|m| m.queue()) == Some("peer.test"))
    );
    assert_eq!(events[0].payload, Payload::BeginSession);
    assert_eq!(events[1].payload, Payload::Connected);
    assert_eq!(events.last().expect("events").payload, Payload::Closed);

    // The bytes the trace shows are exactly the bytes that crossed, each way, in order.
    let mut written = String::new();
    let mut read = String::new();
    for e in &events {
        match &e.payload {
            Payload::Write { data } => written += data,
            Payload::Read { data } => read += data,
            _ => {}
        }
    }
    assert_eq!(written, peer_saw.concat());
    assert_eq!(read.as_bytes(), we_read.as_slice());
    assert!(written.contains("..dot-stuffed line\r\n"));

    // The terse subscriber saw the body as its first line and its length; commands whole.
    let terse: Vec<_> = std::iter::from_fn(|| cut.try_recv().ok())
        .map(|e| e.payload.clone())
        .collect();
    assert!(terse.contains(&Payload::AbbreviatedWrite {
        snippet: "From: a@example.test".into(),
        len: BODY.len() as u64,
    }));
    assert!(terse.contains(&Payload::write("MAIL FROM:<a@example.test>\r\n")));
    assert!(
        !terse
            .iter()
            .any(|p| matches!(p, Payload::Write { data } if data.contains("Subject")))
    );
}

#[tokio::test]
async fn nobody_watching_means_nothing_is_published() {
    let hub = TraceHub::new();
    let (peer_saw, we_read) = session(&hub).await;
    assert_eq!(peer_saw.len(), 7, "the session ran: {peer_saw:?}");
    assert!(!we_read.is_empty());
    // A subscriber attached afterwards sees nothing from the finished session.
    let mut late = hub.subscribe(SubscribeOptions::default());
    assert!(late.try_recv().is_err());
}

#[tokio::test]
async fn into_parts_does_not_close_the_session() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions::default());
    let (a, _b) = tokio::io::duplex(64);
    let s = TracedStream::new(a, Tracer::new(hub.clone(), Side::Server, "s".into()));
    let (inner, tracer) = s.into_parts();
    let again = TracedStream::resume(inner, tracer);
    assert_eq!(
        sub.try_recv().expect("connected").payload,
        Payload::Connected
    );
    assert!(
        sub.try_recv().is_err(),
        "no Closed from into_parts, no Connected from resume"
    );
    drop(again);
    assert_eq!(sub.try_recv().expect("closed").payload, Payload::Closed);
}

#[tokio::test]
async fn with_only_terse_watchers_the_body_is_cut_from_the_bytes_alike() {
    // Only terse subscribers: the stream cuts the bytes itself (no copy of the body); the
    // events are the ones the hub's own cut gives a terse subscriber beside a whole one.
    let hub = TraceHub::new();
    let mut alone = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    session(&hub).await;
    let cut_by_stream: Vec<_> = std::iter::from_fn(|| alone.try_recv().ok())
        .map(|e| e.payload.clone())
        .collect();

    let hub = TraceHub::new();
    let mut terse = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    let _whole = hub.subscribe(SubscribeOptions::default());
    session(&hub).await;
    let cut_by_hub: Vec<_> = std::iter::from_fn(|| terse.try_recv().ok())
        .map(|e| e.payload.clone())
        .collect();
    assert_eq!(cut_by_stream, cut_by_hub);
    assert!(cut_by_stream.contains(&Payload::AbbreviatedWrite {
        snippet: "From: a@example.test".into(),
        len: BODY.len() as u64,
    }));
}
