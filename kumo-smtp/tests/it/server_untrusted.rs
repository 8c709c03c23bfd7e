//! Arbitrary client bytes into a server session over an in-memory stream: the session never
//! panics and always ends.

use std::time::Duration;

use kumo_smtp::{Io, ServerConfig, serve_session};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Recorder;

/// Prefixes that take the session to its deeper states before the arbitrary bytes.
const PREFIXES: [&[u8]; 4] = [
    b"",
    b"EHLO x\r\n",
    b"EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n",
    b"EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n",
];

fn run(bytes: Vec<u8>) -> kumo_smtp::SessionSummary {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (server_end, client) = tokio::io::duplex(1 << 16);
        let config = ServerConfig::new("mx.kumo.test")
            .max_command_line(600)
            .max_message_size(2000)
            .max_data_line(100)
            .idle_timeout(Duration::from_millis(300));
        let (mut rd, mut wr) = tokio::io::split(client);
        let feeder = tokio::spawn(async move {
            // The server may close first; then the writes fail, which is fine.
            for chunk in bytes.chunks(97) {
                if wr.write_all(chunk).await.is_err() {
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });
        let drain = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        });
        let addr = "192.0.2.1:25".parse().expect("addr");
        let recorder = Recorder::default();
        let session = serve_session(&config, &recorder, Io::new(server_end), addr, addr);
        let summary = tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends");
        let _ = feeder.await;
        let _ = drain.await;
        summary
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_client_bytes_never_panic_and_the_session_ends(
        prefix in 0usize..PREFIXES.len(),
        tail in proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => Just(b'.'),
            ],
            0..4000,
        ),
    ) {
        let bytes = [PREFIXES[prefix], &tail].concat();
        let summary = run(bytes);
        prop_assert!(summary.messages_accepted <= 1 + tail.len() / 3);
    }
}
