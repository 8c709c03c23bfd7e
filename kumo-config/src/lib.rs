//! Config epochs that detect changed files, caches that recompute only when they change, and layered multi-file configuration.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
