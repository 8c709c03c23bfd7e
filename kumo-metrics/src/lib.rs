//! A metrics registry with streaming Prometheus text and JSON writers, compression, and a streaming parser, for millions of series.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
