//! Support code shared by kumo's runnable examples (`cargo run --example NAME`).
//!
//! Each example lives in `examples/examples/NAME.rs` and starts with a `//!` comment that says what
//! it shows and how to run it.
#![forbid(unsafe_code)] // nothing here needs it
