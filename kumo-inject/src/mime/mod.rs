//! The MIME writer: header fields, transfer encodings and dates. Hand-written so that
//! attachments are encoded once per batch and spliced into every message (see the crate docs).

pub(crate) mod date;
pub(crate) mod encode;
pub(crate) mod header;
