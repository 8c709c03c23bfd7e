//! MX resolution with RFC 5321/7505 semantics, a TTL cache with single-flight, and a seedable randomized connection planner.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
