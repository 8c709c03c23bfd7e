//! The `POST /api/inject/v1` request and response, field for field as KumoMTA's inject v1.
//!
//! Every struct rejects unknown fields, as KumoMTA's do, so a typo in a client's request is a 422
//! rather than a silently ignored option.

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use std::collections::{BTreeMap, HashMap};

/// A batch injection request: one message template, many recipients.
///
/// # Examples
///
/// ```
/// use kumo_inject::InjectRequest;
///
/// let req = InjectRequest::from_json(br#"{
///     "envelope_sender": "noreply@example.com",
///     "recipients": [{"email": "a@example.org", "name": "A"}],
///     "content": {"subject": "hi {{ name }}", "text_body": "hello"}
/// }"#)?;
/// assert_eq!(req.recipients.len(), 1);
/// # Ok::<(), kumo_inject::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectRequest {
    /// The envelope sender (SMTP `MAIL FROM`); `""` or `"<>"` is the null sender.
    pub envelope_sender: String,
    /// The recipients; each gets its own message.
    pub recipients: Vec<Recipient>,
    /// The message: an RFC 5322 string (itself a template) or a builder description.
    pub content: Content,
    /// Template variables shared by every recipient.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub substitutions: HashMap<String, JsonValue>,
    /// The trace headers added to each message.
    #[serde(default)]
    pub trace_headers: TraceHeaders,
    /// Hand generated messages to the host without a first spool write
    /// ([`Durability::Deferred`](crate::Durability::Deferred)).
    #[serde(default)]
    pub deferred_spool: bool,
    /// Accept the batch at once and generate its messages later, in the background.
    #[serde(default)]
    pub deferred_generation: bool,
    /// The template language of the content.
    #[serde(default)]
    pub template_dialect: TemplateDialect,
}

impl InjectRequest {
    /// Parses a request from JSON bytes.
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the bytes are not JSON ([`ParseError::is_syntax`], HTTP 400) or when
    /// the JSON does not fit the request's shape (unknown or missing field, wrong type: HTTP 422).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(bytes).map_err(|source| ParseError { source })
    }
}

/// Why a request body could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid request body")]
pub struct ParseError {
    #[source]
    source: serde_json::Error,
}

impl ParseError {
    /// True when the body is not well-formed JSON (HTTP 400); false when it is JSON of the wrong
    /// shape (HTTP 422).
    pub fn is_syntax(&self) -> bool {
        matches!(
            self.source.classify(),
            serde_json::error::Category::Syntax
                | serde_json::error::Category::Eof
                | serde_json::error::Category::Io
        )
    }

    /// The line and column where parsing stopped (1-based).
    pub fn position(&self) -> (usize, usize) {
        (self.source.line(), self.source.column())
    }
}

/// One recipient of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// The recipient's address (SMTP `RCPT TO`, and the `To` header unless the content sets one).
    pub email: String,
    /// The display name for the `To` header; also the template variable `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Template variables for this recipient; they override the batch's.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub substitutions: HashMap<String, JsonValue>,
    /// Opaque metadata handed to the host with the generated message.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, JsonValue>,
}

/// The message content: a complete RFC 5322 message or a builder description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "mirrors the JSON shape; there is one per request"
)]
pub enum Content {
    /// A complete message (headers, blank line, body), rendered as one template.
    Rfc822(String),
    /// Parts from which kumo-inject builds the MIME message.
    Builder(Builder),
}

/// The builder form of [`Content`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// The `text/plain` part (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_body: Option<String>,
    /// The `text/html` part (a template, HTML auto-escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// The `text/x-amp-html` part (a template, HTML auto-escaped); needs a text or html part too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amp_html_body: Option<String>,
    /// Attachments and inline parts (never templated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Extra headers, name to value (values are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The `From` header (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<FromHeader>,
    /// The `Subject` header (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The `Reply-To` header (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<FromHeader>,
}

/// A mailbox for the `From` or `Reply-To` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromHeader {
    /// The address.
    pub email: String,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An attachment or (with `content_id`) an inline part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The content: UTF-8 text, or base64 when `base64` is true.
    pub data: String,
    /// Whether `data` is base64.
    #[serde(default)]
    pub base64: bool,
    /// The MIME type, e.g. `image/png`.
    pub content_type: String,
    /// Makes the part inline (inside `multipart/related`), referenced as `cid:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The file name offered to the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// The template language of a request's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TemplateDialect {
    /// Jinja (minijinja), the default.
    #[default]
    Jinja,
    /// No templating: every field is used as written.
    Static,
    /// Handlebars (the `handlebars` crate), strict mode off as in KumoMTA: HTML bodies are
    /// HTML-escaped, text and headers are not. No fuel: only the output size is capped, and
    /// partials and decorators are refused.
    Handlebars,
}

/// Which trace headers each generated message gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceHeaders {
    /// Add a `Received:` header naming the HTTP peer.
    #[serde(default)]
    pub received_header: bool,
    /// Add the supplemental trace header (`X-KumoRef` by default).
    #[serde(default = "default_true")]
    pub supplemental_header: bool,
    /// The supplemental header's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Recipient metadata keys copied into the supplemental header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_meta_names: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Default for TraceHeaders {
    fn default() -> Self {
        Self {
            received_header: false,
            supplemental_header: true,
            header_name: None,
            include_meta_names: Vec::new(),
        }
    }
}

impl TraceHeaders {
    /// The supplemental header's name (`X-KumoRef` unless set).
    pub fn supplemental_name(&self) -> &str {
        self.header_name.as_deref().unwrap_or("X-KumoRef")
    }
}

/// The response: how many recipients got a message and why the others did not.
///
/// With `deferred_generation` the counts are zero (as KumoMTA answers); the outcomes are
/// reported to the host later through [`MessageSink`](crate::MessageSink).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectResponse {
    /// Recipients whose message was generated and accepted by the host.
    pub success_count: usize,
    /// Recipients that failed.
    pub fail_count: usize,
    /// The failed recipients' addresses.
    pub failed_recipients: Vec<String>,
    /// One `"<email>: <error>"` line per failed recipient.
    pub errors: Vec<String>,
}
