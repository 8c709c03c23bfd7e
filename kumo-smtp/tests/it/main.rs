//! The integration tests of `kumo-smtp`: one binary, one module per behaviour.
//!
//! The client tests mostly deliver to Python's `aiosmtpd` (`tests/peer/smtp_peer.py`) over loopback; they need
//! `KUMO_TEST_PYTHON` (set by `scripts/test`), are skipped with a note without it, and fail
//! when `CI` is set and it is missing. The others talk to scripted servers in the test, over
//! an in-memory `tokio::io::duplex` or a raw loopback listener.

mod support;

mod byte_identity;
mod drops;
mod fuzz_wire;
mod local_refusals;
mod outcomes;
mod pipelining;
mod plan_walk;
mod reuse;
mod starttls;
mod timeouts;
mod untrusted_bytes;

// The server side.
mod server_clients;
mod server_hostile;
mod server_limits;
mod server_untrusted;
