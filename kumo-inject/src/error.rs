//! Errors of the two failure domains of a batch: the whole request, and one recipient.

use crate::address::AddressError;

/// Why a whole request was refused (HTTP 422). Permanent: the same request fails again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `recipients` is empty.
    #[error("no recipients")]
    NoRecipients,
    /// More recipients than [`GenerateOptions::max_recipients`](crate::GenerateOptions::max_recipients).
    #[error("too many recipients: {count} (at most {max})")]
    TooManyRecipients {
        /// Recipients in the request.
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// `envelope_sender` is not an address.
    #[error("invalid envelope_sender")]
    InvalidSender(#[source] AddressError),
    /// An address in the content (`content.from.email`, `content.reply_to.email`) is invalid.
    #[error("invalid address in {field}")]
    InvalidAddress {
        /// The request path of the field.
        field: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// A header name in `content.headers` is not printable ASCII without `:` and spaces.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
    /// A header that kumo-inject writes itself (`Content-Type`, `Content-Transfer-Encoding`).
    #[error("header {name} is written by the builder and cannot be set")]
    ReservedHeader {
        /// The name as given.
        name: String,
    },
    /// A template does not compile.
    #[error("failed parsing field '{field}' as template")]
    Template {
        /// The request path of the field (`content.text_body`).
        field: String,
        /// The engine's error, with the line.
        #[source]
        source: TemplateError,
    },
    /// The builder has neither `text_body` nor `html_body`.
    #[error("content needs a text_body or an html_body")]
    NoBody,
    /// An attachment is invalid.
    #[error("invalid attachment {index}")]
    Attachment {
        /// Its position in `content.attachments`.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: AttachmentError,
    },
}

/// A template engine's error, by `template_dialect`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `Jinja`: a syntax error, a runtime error, exhausted fuel or output over the size limit.
    #[error(transparent)]
    Jinja(minijinja::Error),
    /// `Handlebars`: the template does not compile.
    #[error(transparent)]
    HandlebarsSyntax(Box<handlebars::TemplateError>),
    /// `Handlebars`: a partial or a decorator (inline partial), refused because handlebars has
    /// no recursion or fuel limit for them.
    #[error("handlebars partials and decorators are not supported")]
    HandlebarsPartial,
    /// `Handlebars`: a render error, or output over the size limit.
    #[error(transparent)]
    HandlebarsRender(Box<handlebars::RenderError>),
    /// `Handlebars`: the render used up its work budget,
    /// [`GenerateOptions::template_fuel`](crate::GenerateOptions::template_fuel): too many
    /// `#each` iterations (nested loops multiply), or lookups and comparisons of large values.
    /// Permanent for the same template and data.
    #[error("handlebars render exceeded its work budget of {limit} units (template_fuel)")]
    HandlebarsOutOfFuel {
        /// The budget, in work units.
        limit: u64,
    },
}

/// What is wrong with an attachment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// `data` is not valid base64 (line breaks and spaces are allowed).
    #[error("data is not valid base64")]
    Base64,
    /// `content_type` is not `type/subtype` with optional printable ASCII parameters.
    #[error("invalid content_type")]
    ContentType,
    /// `content_id` has characters other than printable ASCII.
    #[error("invalid content_id")]
    ContentId,
    /// The decoded data is larger than the message size limit.
    #[error("attachment larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Why one recipient got no message. The rest of the batch is unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientError {
    /// The recipient's address, or a rendered `From`/`Reply-To`/address header, is invalid.
    #[error("invalid address in {field}")]
    InvalidAddress {
        /// `email` or the request path of the field.
        field: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// A template failed at render time (runtime error, fuel exhausted, output too large).
    #[error("failed rendering field '{field}'")]
    Template {
        /// The request path of the field.
        field: String,
        /// The engine's error.
        #[source]
        source: TemplateError,
    },
    /// A rendered header value (or display name) contains CR, LF or NUL: a header injection.
    #[error("line break or NUL in header {field}")]
    HeaderInjection {
        /// The field that carried it.
        field: String,
    },
    /// An address header (`To`, `Cc`, ...) in `content.headers` is not a list of mailboxes.
    #[error("header {field} is not an address list")]
    InvalidAddressList {
        /// The header's name.
        field: String,
    },
    /// The generated message is larger than the configured limit.
    #[error("message larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// In RFC 5322 mode, the rendered text is not a message.
    #[error("rendered content is not a valid message")]
    InvalidMessage(#[source] MessageError),
    /// The host's [`MessageSink`](crate::MessageSink) refused the message.
    #[error("the host refused the message")]
    Sink(#[source] crate::host::SinkError),
    /// The batch used up
    /// [`GenerateOptions::batch_time_limit`](crate::GenerateOptions::batch_time_limit) before
    /// this recipient: it was not generated. Permanent for the same request (its templates
    /// are too expensive for its size); a smaller batch may pass.
    #[error("batch exceeded its generation time limit of {limit:?}")]
    BatchTimeLimit {
        /// The configured limit.
        limit: std::time::Duration,
    },
    /// The batch was cancelled before this recipient (a synchronous request whose HTTP client
    /// went away): it was not generated.
    #[error("batch cancelled before this recipient was generated")]
    Cancelled,
}

/// Why a rendered RFC 5322 message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The text has a NUL byte.
    #[error("NUL byte at offset {offset}")]
    Nul {
        /// Its byte offset.
        offset: usize,
    },
    /// A line is longer than 998 octets.
    #[error("line {line} longer than 998 octets")]
    LineTooLong {
        /// The 1-based line number.
        line: usize,
    },
    /// A line of the header section is not a header field.
    #[error("line {line} is not a header field")]
    NotAHeader {
        /// The 1-based line number.
        line: usize,
    },
    /// There is no header field at all.
    #[error("no header fields")]
    NoHeaders,
}

/// Formats an error and its chain of causes on one line as `outer: cause: cause`, the way
/// KumoMTA's `errors` entries read (and the way a program prints an error for people).
///
/// # Examples
///
/// ```
/// use kumo_inject::error_chain;
///
/// let cause = std::io::Error::other("connection refused");
/// let outer = std::io::Error::other(cause);
/// assert_eq!(error_chain(&outer), "connection refused");
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("spool write failed")]
/// struct Spool(#[source] std::io::Error);
/// let e = Spool(std::io::Error::other("disk full"));
/// assert_eq!(error_chain(&e), "spool write failed: disk full");
/// ```
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
