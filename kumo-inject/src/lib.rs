//! A KumoMTA-compatible batch HTTP injection API: validation, per-recipient templating, MIME building, deferred generation, and rate limits.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
