//! Support code shared by kumo's runnable examples (`cargo run --example NAME`).
//!
//! Each example lives in `examples/examples/NAME.rs` and starts with a `//!` comment that says what
//! it shows and how to run it. The building blocks of the demo MTA live here, as modules, so that
//! they are unit-tested and can be reused by the other examples and the integration tests:
//!
//! | module | what it is |
//! |---|---|
//! | [`cli`] | the demo's command-line options |
//! | [`settings`] | the demo's config files: embedded defaults, typed sections, the retry schedule |
//! | [`zones`] | the `.test` zone set served by the in-process DNS server |
//! | [`delivery`] | the simulated delivery stage: walks a connection plan, answers at random |
//! | [`maildir`] | writes delivered messages into a Maildir, byte for byte |
//! | [`ledger`] | self-test accounting: every message ends exactly once |
//! | [`clock`] | simulated time that can run faster than real time |
//! | [`http`] | a small blocking HTTP/1.1 client for the command-line examples |
//! | [`snapshot`] | `/metrics` read with the streaming parser: per-queue and per-provider counts |
//! | [`tools`] | the `top` and `queue-summary` views, sized by what they show (a million queues) |
//! | [`demo`] | the composed demo MTA and its self test |
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate

// The root README's Rust examples run as doctests of this package.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RootReadme;

pub mod cli;
pub mod clock;
pub mod delivery;
pub mod demo;
pub mod http;
pub mod ledger;
pub mod maildir;
pub mod settings;
pub mod snapshot;
pub mod tools;
pub mod zones;
