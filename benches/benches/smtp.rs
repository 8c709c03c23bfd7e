//! Criterion benchmarks of the `smtp` area: one 10 KB message sent over a reused connection
//! to the in-process sink by `kumo_smtp` and by lettre's pooled transport, the same message
//! received by kumo-smtp's listener (`serve`, a handler that counts and drops) from
//! `kumo_smtp`'s client, and the cost of a `kumo_trace::TracedStream` with no subscriber per
//! I/O call.
//!
//! ```text
//! cargo bench -p kumo-benches --no-default-features --features smtp --bench smtp
//! ```
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kumo_benches::smtp::{
    IO_BYTES, MemStream, client_runtime, io_loop, kumo_client, kumo_envelope, lettre_envelope,
    lettre_transport, message, open_plain, traced_mem_stream,
};
use kumo_benches::smtp_receive::Listener;
use kumo_benches::smtp_sink::{Ack, Sink};
use kumo_smtp::Target;
use kumo_trace::TraceHub;
use lettre::AsyncTransport;

fn send_one(c: &mut Criterion) {
    let sink = Sink::start(Ack::Quick).expect("sink");
    let rt = client_runtime();
    // lettre's pool spawns a task when it is built and when it is dropped: in the runtime.
    let _in_runtime = rt.enter();
    let data: Arc<[u8]> = message().into();
    let mut g = c.benchmark_group("smtp/send_10KB_reused_connection");

    let client = kumo_client();
    let envelope = kumo_envelope();
    let target = Target::new("sink.test", sink.addr());
    let (mut conn, _) = rt
        .block_on(client.connect(&[target], |t| open_plain(t.addr)))
        .expect("connect");
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(conn.send(&envelope, &data).await.is_delivered());
                }
                start.elapsed()
            })
        })
    });
    rt.block_on(conn.quit());

    // One pooled connection, reused by every send (after lettre's `NOOP` check).
    let transport = lettre_transport(sink.addr(), 1);
    let envelope = lettre_envelope();
    g.bench_function("lettre", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    transport.send_raw(&envelope, &data).await.expect("sent");
                }
                start.elapsed()
            })
        })
    });
    rt.block_on(transport.shutdown());
    g.finish();
}

fn receive_one(c: &mut Criterion) {
    let listener = Listener::start().expect("listener");
    let rt = client_runtime();
    let data: Arc<[u8]> = message().into();
    let mut g = c.benchmark_group("smtp/receive_10KB_reused_connection");
    let client = kumo_client();
    let envelope = kumo_envelope();
    let target = Target::new("listener.test", listener.addr());
    let (mut conn, _) = rt
        .block_on(client.connect(&[target], |t| open_plain(t.addr)))
        .expect("connect");
    g.bench_function("kumo_listener", |b| {
        b.iter_custom(|iters| {
            let before = listener.counts().messages;
            let d = rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(conn.send(&envelope, &data).await.is_delivered());
                }
                start.elapsed()
            });
            assert_eq!(listener.counts().messages - before, iters);
            d
        })
    });
    rt.block_on(conn.quit());
    g.finish();
}

fn traced_stream(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("smtp/poll_write_read_{IO_BYTES}B"));
    // One criterion iteration = one I/O call (a write and a read are two).
    let calls = |iters: u64| (iters.max(1).div_ceil(2) * 2, iters.max(1));
    let per = |d: Duration, (made, wanted): (u64, u64)| d.mul_f64(wanted as f64 / made as f64);
    g.bench_function("bare", |b| {
        let mut s = MemStream::new();
        b.iter_custom(|iters| per(io_loop(&mut s, calls(iters).0), calls(iters)))
    });
    g.bench_function("traced_no_subscriber", |b| {
        let hub = TraceHub::new();
        let mut s = traced_mem_stream(&hub);
        b.iter_custom(|iters| per(io_loop(&mut s, calls(iters).0), calls(iters)))
    });
    g.finish();
}

criterion_group!(benches, send_one, receive_one, traced_stream);
criterion_main!(benches);
