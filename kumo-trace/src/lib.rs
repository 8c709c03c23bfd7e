//! SMTP session tracing: a broadcast hub with terse, only-new and only-one filters, and a session-relative formatter.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
