//! The pure, synchronous core: a request compiled once ([`Batch`]) and its messages generated
//! one recipient at a time.

use crate::address::{check_header_name, check_mailbox, check_sender, domain_of};
use crate::attachment::{EncodedPart, encode_part};
use crate::error::{MessageError, RecipientError, RequestError, error_chain};
use crate::host::{Durability, MessageSink, RecipientFailure};
use crate::job_store::RecipientOutcome;
use crate::mime::{date, encode, header};
use crate::model::{Content, FromHeader, InjectRequest, InjectResponse, Recipient};
use crate::template::{FieldId, RenderVars, TemplateLimits, Templates};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value as JsonValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Limits and names used while generating messages.
///
/// # Implementation
///
/// [`template_fuel`](Self::template_fuel) bounds a `Jinja` render with minijinja's fuel. The
/// `handlebars` crate has none, so kumo-inject drives each handlebars render itself (a fresh
/// `RenderContext` per render) and registers, for that render only, local helpers named
/// `each`, `with`, `lookup`, `eq`, `ne`, `gt`, `gte`, `lt`, `lte` and `log` (those the template
/// calls), which shadow the built-ins, produce the same output, and charge one shared budget:
/// an `#each` iteration costs the static weight of its body (elements, path lengths, literal
/// sizes), times one plus the size of the copied values that paths in the body may read;
/// copying a value that is not in the context (`lookup`, `with` or `each` over a literal or a
/// subexpression) or comparing values costs their size. The remaining built-ins do constant
/// work besides their blocks, or write what they touch, so the output cap bounds them.
/// Counting work as it happens was chosen over bounding the product of nested loop lengths
/// before rendering: the collections a loop visits depend on `../`, block parameters and
/// `lookup` results, and a static bound would either miss copies and comparisons that write
/// nothing or refuse ordinary nested loops that sit next to one large, unrelated array.
///
/// [`batch_time_limit`](Self::batch_time_limit) sums the time spent in
/// [`Batch::generate`] over a batch's recipients, read from a clock the caller passes in, and
/// is checked before each recipient and before each of its template renders; a single render
/// is bounded by the fuel, so a batch overruns its limit by at most one render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// The most recipients one request may have (default 100,000).
    pub max_recipients: usize,
    /// The largest generated message, and the largest rendered template output (default 32 MiB).
    pub max_message_bytes: usize,
    /// The work one template render may do (default 1,000,000: some 40 ms of CPU for `Jinja`
    /// and 80 ms for `Handlebars` on one core of the development VM); a render that needs more
    /// fails its recipient. `Jinja`: instructions (minijinja's fuel). `Handlebars`: work units
    /// of kumo-inject's metered helpers, mostly one per `#each` iteration times the size of the
    /// loop's body, plus the size of values that `lookup`, `with` and the comparison helpers
    /// copy or compare
    /// ([`TemplateError::HandlebarsOutOfFuel`](crate::TemplateError::HandlebarsOutOfFuel)).
    pub template_fuel: u64,
    /// `Jinja` template recursion depth (default 100; minijinja caps it at 500). `Handlebars`
    /// templates cannot recurse: partials and decorators are refused.
    pub template_recursion: usize,
    /// The domain of generated `Message-ID`s; `None` uses the envelope sender's domain, then
    /// [`hostname`](Self::hostname).
    pub message_id_domain: Option<String>,
    /// This host's name, for `Received:` headers and as the last-resort `Message-ID` domain.
    pub hostname: String,
    /// The time one batch may spend generating messages, summed over its recipients
    /// (rendering and MIME building; not the time spent in the host's
    /// [`MessageSink`](crate::MessageSink)). Once it is used up, the batch stops and every
    /// recipient not yet generated fails with [`RecipientError::BatchTimeLimit`]. Default 60 s,
    /// far above an ordinary batch (100,000 simple recipients take a few seconds) and a bound
    /// on a batch of many recipients that each use most of their
    /// [`template_fuel`](Self::template_fuel). `None`: no limit.
    ///
    /// The core does not read the clock: the limit applies where one is passed in, in
    /// [`Batch::generate_all_with`] and in the [`Injector`](crate::Injector) (synchronous and
    /// deferred batches; a resumed deferred batch starts a new measure).
    pub batch_time_limit: Option<Duration>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_recipients: 100_000,
            max_message_bytes: 32 << 20,
            template_fuel: 1_000_000,
            template_recursion: 100,
            message_id_domain: None,
            hostname: "localhost".to_owned(),
            batch_time_limit: Some(Duration::from_secs(60)),
        }
    }
}

/// A batch's identity; message ids are `<batch_id>.<recipient index>@<domain>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(Arc<str>);

/// A string that cannot be a [`BatchId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch id must be 1 to 64 ASCII letters, digits, '-' or '_'")]
pub struct InvalidBatchId;

impl BatchId {
    /// A batch id from a string of 1 to 64 ASCII letters, digits, `-` or `_`.
    ///
    /// # Errors
    ///
    /// [`InvalidBatchId`] for anything else (it becomes part of `Message-ID`s).
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidBatchId> {
        let id = id.into();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidBatchId);
        }
        Ok(Self(id.into()))
    }

    /// A fresh random id (128 bits, 32 hex digits).
    pub fn random() -> Self {
        let v: u128 = rand::random();
        Self(format!("{v:032x}").into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BatchId({})", self.0)
    }
}

/// What generation needs from outside the request: the batch id, the time (the core never reads
/// the clock) and the HTTP peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateContext {
    /// The batch id.
    pub batch_id: BatchId,
    /// The `Date` of the messages.
    pub now: SystemTime,
    /// The client, for the `Received:` header.
    pub peer: Option<IpAddr>,
}

/// One generated message, ready for the host's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedMessage {
    /// The `Message-ID` without angle brackets; stable for a (batch, recipient index).
    pub id: String,
    /// The batch it belongs to.
    pub batch_id: BatchId,
    /// The recipient's position in the request.
    pub index: u32,
    /// SMTP `MAIL FROM` (empty for the null sender).
    pub envelope_sender: String,
    /// SMTP `RCPT TO`.
    pub recipient: String,
    /// The RFC 5322 message: CRLF line ends, lines within 998 octets.
    pub data: Bytes,
    /// The recipient's `metadata` from the request.
    pub metadata: HashMap<String, JsonValue>,
    /// How durably the host must store it before acknowledging.
    pub durability: Durability,
    /// An address is non-ASCII: deliver with SMTPUTF8.
    pub smtputf8: bool,
    /// The message has 8-bit bytes (RFC 5322 mode only): deliver with `BODY=8BITMIME`.
    pub eight_bit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderKind {
    Unstructured,
    Addresses,
}

#[derive(Debug)]
struct MailboxFields {
    email: FieldId,
    name: Option<FieldId>,
}

#[derive(Debug)]
struct BuilderPlan<'a> {
    from: Option<MailboxFields>,
    reply_to: Option<MailboxFields>,
    subject: Option<FieldId>,
    headers: Vec<(&'a str, FieldId, HeaderKind)>,
    text: Option<FieldId>,
    amp: Option<FieldId>,
    html: Option<FieldId>,
    inline: Vec<EncodedPart>,
    attachments: Vec<EncodedPart>,
    add_to: bool,
}

#[derive(Debug)]
enum Plan<'a> {
    Builder(Box<BuilderPlan<'a>>),
    Rfc822(FieldId),
}

/// A request compiled once: templates parsed, addresses and header names checked, attachments
/// encoded. [`generate`](Self::generate) then builds any recipient's message.
///
/// # Examples
///
/// ```
/// use kumo_inject::{Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest};
///
/// let json = r#"{
///     "envelope_sender": "news@example.com",
///     "recipients": [{"email": "zoe@example.org", "name": "Zoë"}],
///     "content": {"from": {"email": "news@example.com"},
///                 "subject": "Hello {{ name }}", "text_body": "Hi {{ name }}!\n"}
/// }"#;
/// let req = InjectRequest::from_json(json.as_bytes())?;
/// let batch = Batch::compile(&req, &GenerateOptions::default())?;
/// let ctx = GenerateContext {
///     batch_id: BatchId::new("b1")?,
///     now: std::time::UNIX_EPOCH,
///     peer: None,
/// };
/// let msg = batch.generate(0, &ctx)?;
/// assert_eq!(msg.id, "b1.0@example.com");
/// assert!(msg.data.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Batch<'a> {
    req: &'a InjectRequest,
    templates: Templates<'a>,
    plan: Plan<'a>,
    max_bytes: usize,
    hostname: String,
    msgid_domain: String,
    supplemental: Option<&'a str>,
    size_hint: AtomicUsize,
    /// The `Date` text of the last `now` seen: a batch is usually generated with one `now`.
    date: parking_lot::Mutex<Option<(SystemTime, Arc<str>)>>,
    time_limit: Option<Duration>,
}

/// What may stop [`Batch::run`] between two recipients, from outside the batch.
#[derive(Clone, Copy, Default)]
pub(crate) struct RunControl<'c> {
    /// Measures generation against the batch's time limit; `None`: no time limit.
    pub(crate) clock: Option<&'c dyn Fn() -> Instant>,
    /// Set, from another thread, to stop: the request was cancelled.
    pub(crate) cancel: Option<&'c AtomicBool>,
}

impl fmt::Debug for RunControl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunControl")
            .field("clock", &self.clock.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// One recipient's template variables, and what may stop its generation between two fields.
#[derive(Debug)]
struct RecipientVars<'c> {
    vars: RenderVars,
    stop: Option<FieldStop<'c>>,
}

/// The batch's limits as seen by one recipient, checked before each template render.
struct FieldStop<'c> {
    cancel: Option<&'c AtomicBool>,
    /// The clock, the instant the batch's time runs out, and the limit.
    deadline: Option<(&'c dyn Fn() -> Instant, Instant, Duration)>,
}

impl fmt::Debug for FieldStop<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldStop")
            .field("cancel", &self.cancel)
            .field("deadline", &self.deadline.map(|(_, d, _)| d))
            .finish()
    }
}

impl FieldStop<'_> {
    fn must_stop(&self) -> Option<Stop> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Some(Stop::Cancelled);
        }
        match self.deadline {
            Some((clock, deadline, limit)) if clock() > deadline => Some(Stop::TimeLimit(limit)),
            _ => None,
        }
    }
}

/// Why a batch stopped before its last recipient.
#[derive(Debug, Clone, Copy)]
enum Stop {
    TimeLimit(Duration),
    Cancelled,
}

impl Stop {
    fn error(self) -> RecipientError {
        match self {
            Stop::TimeLimit(limit) => RecipientError::BatchTimeLimit { limit },
            Stop::Cancelled => RecipientError::Cancelled,
        }
    }
}

const RESERVED: [&str; 2] = ["content-type", "content-transfer-encoding"];
const ADDRESS_HEADERS: [&str; 7] = ["from", "to", "cc", "bcc", "reply-to", "sender", "resent-to"];

fn add_mailbox<'a>(
    t: &mut Templates<'a>,
    label: &str,
    m: &'a FromHeader,
) -> Result<MailboxFields, RequestError> {
    let email = t.add(format!("{label}.email"), &m.email, false)?;
    // A static address is checked now, so that a typo is a 422 for the whole request.
    if t.is_static(email) {
        check_mailbox(m.email.trim()).map_err(|source| RequestError::InvalidAddress {
            field: format!("{label}.email"),
            source,
        })?;
    }
    let name = match &m.name {
        Some(n) => Some(t.add(format!("{label}.name"), n, false)?),
        None => None,
    };
    Ok(MailboxFields { email, name })
}

impl<'a> Batch<'a> {
    /// Validates and compiles `req`.
    ///
    /// # Errors
    ///
    /// A [`RequestError`] for anything that would fail every recipient: no recipients, a bad
    /// envelope sender or static `From`, a header name that is not ftext, a template syntax
    /// error, no body, an invalid attachment, an unsupported dialect.
    pub fn compile(req: &'a InjectRequest, opts: &GenerateOptions) -> Result<Self, RequestError> {
        if req.recipients.is_empty() {
            return Err(RequestError::NoRecipients);
        }
        if req.recipients.len() > opts.max_recipients {
            return Err(RequestError::TooManyRecipients {
                count: req.recipients.len(),
                max: opts.max_recipients,
            });
        }
        check_sender(&req.envelope_sender).map_err(RequestError::InvalidSender)?;
        let supplemental = if req.trace_headers.supplemental_header {
            let name = req.trace_headers.supplemental_name();
            if !check_header_name(name) {
                return Err(RequestError::InvalidHeaderName { name: name.into() });
            }
            Some(name)
        } else {
            None
        };
        let mut t = Templates::new(
            req.template_dialect,
            &req.substitutions,
            TemplateLimits {
                fuel: opts.template_fuel,
                recursion: opts.template_recursion,
                max_output: opts.max_message_bytes,
            },
        )?;
        let plan = match &req.content {
            Content::Rfc822(text) => Plan::Rfc822(t.add("content".into(), text, false)?),
            Content::Builder(b) => {
                if b.text_body.is_none() && b.html_body.is_none() {
                    return Err(RequestError::NoBody);
                }
                let from = match &b.from {
                    Some(m) => Some(add_mailbox(&mut t, "content.from", m)?),
                    None => None,
                };
                let reply_to = match &b.reply_to {
                    Some(m) => Some(add_mailbox(&mut t, "content.reply_to", m)?),
                    None => None,
                };
                let subject = match &b.subject {
                    Some(s) => Some(t.add("content.subject".into(), s, false)?),
                    None => None,
                };
                let mut headers = Vec::with_capacity(b.headers.len());
                let mut add_to = true;
                for (name, value) in &b.headers {
                    if !check_header_name(name) {
                        return Err(RequestError::InvalidHeaderName { name: name.clone() });
                    }
                    let lower = name.to_ascii_lowercase();
                    if RESERVED.contains(&lower.as_str()) {
                        return Err(RequestError::ReservedHeader { name: name.clone() });
                    }
                    // The dedicated fields win over the same header in `headers`, as in KumoMTA.
                    if (lower == "from" && from.is_some())
                        || (lower == "subject" && subject.is_some())
                        || (lower == "reply-to" && reply_to.is_some())
                    {
                        continue;
                    }
                    if lower == "to" {
                        add_to = false;
                    }
                    let kind = if ADDRESS_HEADERS.contains(&lower.as_str()) {
                        HeaderKind::Addresses
                    } else {
                        HeaderKind::Unstructured
                    };
                    let id = t.add(format!("content.headers.{name}"), value, false)?;
                    headers.push((name.as_str(), id, kind));
                }
                let text = match &b.text_body {
                    Some(s) => Some(t.add("content.text_body".into(), s, false)?),
                    None => None,
                };
                let html = match &b.html_body {
                    Some(s) => Some(t.add("content.html_body".into(), s, true)?),
                    None => None,
                };
                let amp = match &b.amp_html_body {
                    Some(s) => Some(t.add("content.amp_html_body".into(), s, true)?),
                    None => None,
                };
                let mut inline = Vec::new();
                let mut attachments = Vec::new();
                for (index, a) in b.attachments.iter().enumerate() {
                    let part = encode_part(a, opts.max_message_bytes)
                        .map_err(|source| RequestError::Attachment { index, source })?;
                    if part.inline {
                        inline.push(part);
                    } else {
                        attachments.push(part);
                    }
                }
                Plan::Builder(Box::new(BuilderPlan {
                    from,
                    reply_to,
                    subject,
                    headers,
                    text,
                    amp,
                    html,
                    inline,
                    attachments,
                    add_to,
                }))
            }
        };
        let msgid_domain = opts
            .message_id_domain
            .clone()
            .or_else(|| domain_of(&req.envelope_sender).map(|d| d.trim_end_matches('>').to_owned()))
            .unwrap_or_else(|| opts.hostname.clone());
        Ok(Self {
            req,
            templates: t,
            plan,
            max_bytes: opts.max_message_bytes,
            hostname: opts.hostname.clone(),
            msgid_domain,
            supplemental,
            size_hint: AtomicUsize::new(4096),
            date: parking_lot::Mutex::new(None),
            time_limit: opts.batch_time_limit,
        })
    }

    /// The number of recipients.
    pub fn len(&self) -> usize {
        self.req.recipients.len()
    }

    /// Always false: a compiled batch has at least one recipient.
    pub fn is_empty(&self) -> bool {
        self.req.recipients.is_empty()
    }

    /// The request this batch was compiled from.
    pub fn request(&self) -> &'a InjectRequest {
        self.req
    }

    /// The `Message-ID` (without brackets) of recipient `index` in batch `batch_id`.
    pub fn message_id(&self, batch_id: &BatchId, index: usize) -> String {
        let mut buf = itoa::Buffer::new();
        let idx = buf.format(index);
        let mut s = String::with_capacity(
            batch_id.as_str().len() + idx.len() + self.msgid_domain.len() + 2,
        );
        s.push_str(batch_id.as_str());
        s.push('.');
        s.push_str(idx);
        s.push('@');
        s.push_str(&self.msgid_domain);
        s
    }

    fn render(
        &self,
        id: FieldId,
        vars: &RecipientVars<'_>,
    ) -> Result<Cow<'a, str>, RecipientError> {
        if self.templates.is_static(id) {
            return Ok(Cow::Borrowed(self.templates.source(id)));
        }
        if let Some(why) = vars.stop.as_ref().and_then(FieldStop::must_stop) {
            return Err(why.error());
        }
        let mut out = String::new();
        match self.templates.render(id, &vars.vars, &mut out) {
            Ok(()) => Ok(Cow::Owned(out)),
            Err(source) => Err(RecipientError::Template {
                field: self.templates.label(id).to_owned(),
                source,
            }),
        }
    }

    fn render_header(
        &self,
        id: FieldId,
        vars: &RecipientVars<'_>,
    ) -> Result<Cow<'a, str>, RecipientError> {
        let v = self.render(id, vars)?;
        no_injection(&v, self.templates.label(id))?;
        Ok(v)
    }

    fn date_text(&self, now: SystemTime) -> Arc<str> {
        let mut cached = self.date.lock();
        match &*cached {
            Some((t, s)) if *t == now => s.clone(),
            _ => {
                let s: Arc<str> = date::rfc5322(now).into();
                *cached = Some((now, s.clone()));
                s
            }
        }
    }

    /// Generates the message of recipient `index`.
    ///
    /// # Errors
    ///
    /// A [`RecipientError`] fails this recipient only: a bad address, a template runtime error
    /// or exhausted fuel, a substitution that puts a line break into a header, a message over
    /// the size limit.
    ///
    /// # Panics
    ///
    /// When `index >= self.len()`.
    pub fn generate(
        &self,
        index: usize,
        ctx: &GenerateContext,
    ) -> Result<GeneratedMessage, RecipientError> {
        self.generate_checked(index, ctx, None)
    }

    /// [`generate`](Self::generate), checking `stop` before each template render so that a
    /// recipient with many expensive fields cannot run far past the batch's limits.
    fn generate_checked(
        &self,
        index: usize,
        ctx: &GenerateContext,
        stop: Option<FieldStop<'_>>,
    ) -> Result<GeneratedMessage, RecipientError> {
        let r: &Recipient = &self.req.recipients[index];
        let checked = check_mailbox(&r.email).map_err(|source| RecipientError::InvalidAddress {
            field: "email".into(),
            source,
        })?;
        if let Some(name) = &r.name {
            no_injection(name, "name")?;
        }
        let vars = if self.templates.any_dynamic() {
            let to_header = self.templates.uses_to_header().then(|| {
                let mut v = Vec::new();
                header::mailbox(&mut v, r.name.as_deref(), &r.email, 4);
                String::from_utf8(v).unwrap_or_default()
            });
            self.templates
                .vars(&r.email, r.name.as_deref(), to_header, &r.substitutions)
        } else {
            RenderVars::None
        };
        let vars = RecipientVars { vars, stop };
        let id = self.message_id(&ctx.batch_id, index);
        let mut out = Vec::with_capacity(self.size_hint.load(Ordering::Relaxed) + 256);
        let date = self.date_text(ctx.now);
        self.write_trace(&mut out, r, index, &id, &date, ctx);
        let mut smtputf8 = checked.utf8 || !self.req.envelope_sender.is_ascii();
        let mut eight_bit = false;
        match &self.plan {
            Plan::Builder(plan) => {
                smtputf8 |= self.write_builder(&mut out, plan, r, &vars, &id, &date, ctx)?;
            }
            Plan::Rfc822(field) => {
                let text = self.render(*field, &vars)?;
                let (u, e) = finish_rfc822(&mut out, &text, &id, &date)
                    .map_err(RecipientError::InvalidMessage)?;
                smtputf8 |= u;
                eight_bit = e;
            }
        }
        if out.len() > self.max_bytes {
            return Err(RecipientError::TooLarge {
                limit: self.max_bytes,
            });
        }
        self.size_hint.store(out.len(), Ordering::Relaxed);
        let sender = self.req.envelope_sender.as_str();
        Ok(GeneratedMessage {
            id,
            batch_id: ctx.batch_id.clone(),
            index: index as u32,
            envelope_sender: if sender == "<>" { "" } else { sender }.to_owned(),
            recipient: r.email.clone(),
            data: Bytes::from(out),
            metadata: r.metadata.clone(),
            durability: if self.req.deferred_spool {
                Durability::Deferred
            } else {
                Durability::Immediate
            },
            smtputf8,
            eight_bit,
        })
    }

    fn write_trace(
        &self,
        out: &mut Vec<u8>,
        r: &Recipient,
        index: usize,
        id: &str,
        date: &str,
        ctx: &GenerateContext,
    ) {
        if self.req.trace_headers.received_header {
            out.extend_from_slice(b"Received: from ");
            match ctx.peer {
                Some(IpAddr::V4(ip)) => out.extend_from_slice(format!("[{ip}]").as_bytes()),
                Some(IpAddr::V6(ip)) => out.extend_from_slice(format!("[IPv6:{ip}]").as_bytes()),
                None => out.extend_from_slice(b"unknown"),
            }
            out.extend_from_slice(b"\r\n\tby ");
            out.extend_from_slice(self.hostname.as_bytes());
            out.extend_from_slice(b" with HTTP\r\n\tid ");
            out.extend_from_slice(id.split('@').next().unwrap_or(id).as_bytes());
            out.extend_from_slice(b";\r\n\t");
            out.extend_from_slice(date.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(name) = self.supplemental {
            let mut obj = serde_json::Map::new();
            obj.insert("_@_".into(), "\\_/".into());
            obj.insert("batch_id".into(), ctx.batch_id.as_str().into());
            obj.insert("index".into(), index.into());
            obj.insert("recipient".into(), r.email.as_str().into());
            for key in &self.req.trace_headers.include_meta_names {
                if let Some(v) = r.metadata.get(key) {
                    obj.insert(key.clone(), v.clone());
                }
            }
            let json = serde_json::to_vec(&JsonValue::Object(obj)).unwrap_or_default();
            let b64 = base64::engine::general_purpose::STANDARD.encode(json);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b":");
            let first = 76usize.saturating_sub(name.len() + 2).max(8);
            let mut rest = b64.as_str();
            let mut n = first;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(n.min(rest.len()));
                out.push(b' ');
                out.extend_from_slice(chunk.as_bytes());
                rest = tail;
                if !rest.is_empty() {
                    out.extend_from_slice(b"\r\n");
                }
                n = 75;
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Writes a builder message. Returns whether a header address is non-ASCII.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site, all borrowed pieces"
    )]
    fn write_builder(
        &self,
        out: &mut Vec<u8>,
        plan: &BuilderPlan<'a>,
        r: &Recipient,
        vars: &RecipientVars<'_>,
        id: &str,
        date: &str,
        ctx: &GenerateContext,
    ) -> Result<bool, RecipientError> {
        let mut utf8 = false;
        for (label, m) in [("From", &plan.from), ("Reply-To", &plan.reply_to)] {
            if let Some(m) = m {
                let email = self.render_header(m.email, vars)?;
                let email = email.trim();
                let c = check_mailbox(email).map_err(|source| RecipientError::InvalidAddress {
                    field: self.templates.label(m.email).to_owned(),
                    source,
                })?;
                utf8 |= c.utf8;
                let name = match m.name {
                    Some(n) => Some(self.render_header(n, vars)?),
                    None => None,
                };
                header::write_mailbox(out, label, name.as_deref(), email);
            }
        }
        if plan.add_to {
            header::write_mailbox(out, "To", r.name.as_deref(), &r.email);
        }
        if let Some(s) = plan.subject {
            let s = self.render_header(s, vars)?;
            header::write_unstructured(out, "Subject", &s);
        }
        let mut present = AddedHeaders::default();
        for (name, fid, kind) in &plan.headers {
            let value = self.render_header(*fid, vars)?;
            present.note(name);
            if *kind == HeaderKind::Addresses {
                match header::parse_address_list(&value) {
                    Some(list) => {
                        for (_, addr) in &list {
                            let c = check_mailbox(addr).map_err(|source| {
                                RecipientError::InvalidAddress {
                                    field: self.templates.label(*fid).to_owned(),
                                    source,
                                }
                            })?;
                            utf8 |= c.utf8;
                        }
                        header::write_address_list(out, name, &list);
                    }
                    None if value.is_ascii() => header::write_unstructured(out, name, &value),
                    None => {
                        return Err(RecipientError::InvalidAddressList {
                            field: (*name).to_owned(),
                        });
                    }
                }
            } else {
                header::write_unstructured(out, name, &value);
            }
        }
        present.write_date_and_id(out, date, id);
        present.write_mime_version(out);
        self.write_body(out, plan, vars, ctx)?;
        Ok(utf8)
    }

    fn write_body(
        &self,
        out: &mut Vec<u8>,
        plan: &BuilderPlan<'a>,
        vars: &RecipientVars<'_>,
        ctx: &GenerateContext,
    ) -> Result<(), RecipientError> {
        let mut alts: [Option<(&str, Cow<'a, str>)>; 3] = [None, None, None];
        for (slot, (ctype, field)) in alts.iter_mut().zip([
            ("text/plain", plan.text),
            ("text/x-amp-html", plan.amp),
            ("text/html", plan.html),
        ]) {
            if let Some(f) = field {
                *slot = Some((ctype, self.render(f, vars)?));
            }
        }
        let alts: Vec<(&str, Cow<'a, str>)> = alts.into_iter().flatten().collect();
        let mixed = !plan.attachments.is_empty();
        let related = !plan.inline.is_empty();
        let alternative = alts.len() > 1;
        let tag = &ctx.batch_id.as_str()[..ctx.batch_id.as_str().len().min(32)];
        let boundary = |level: u8| format!("=_kumo{level}_{tag}");
        let top = !(mixed || related || alternative);
        if mixed {
            open_multipart(out, "mixed", &boundary(0));
        }
        if related {
            open_multipart(out, "related", &boundary(1));
        }
        if alternative {
            let b = boundary(2);
            open_multipart(out, "alternative", &b);
            for (i, (ctype, text)) in alts.iter().enumerate() {
                if i > 0 {
                    delimiter(out, &b);
                }
                write_leaf(out, ctype, text, false);
            }
            close(out, &b);
        } else if let Some((ctype, text)) = alts.first() {
            write_leaf(out, ctype, text, top);
        }
        if related {
            close_with_parts(out, &boundary(1), &plan.inline);
        }
        if mixed {
            close_with_parts(out, &boundary(0), &plan.attachments);
        }
        Ok(())
    }

    /// Generates every recipient's message and hands each to `sink`, in order. This is the
    /// synchronous injection of one request; the [`Injector`](crate::Injector) runs it (as
    /// [`generate_all_with`](Self::generate_all_with)) on a blocking thread.
    ///
    /// Without a clock this has no time limit
    /// ([`GenerateOptions::batch_time_limit`] does not apply); each render is still bounded by
    /// [`GenerateOptions::template_fuel`].
    pub fn generate_all(&self, ctx: &GenerateContext, sink: &dyn MessageSink) -> InjectResponse {
        let (resp, _) = self.run(ctx, sink, RunControl::default(), |_| false, |_, _| true);
        resp
    }

    /// [`generate_all`](Self::generate_all), stopped early from outside: the time spent
    /// generating is measured with `clock` against [`GenerateOptions::batch_time_limit`], and
    /// `cancel` is checked before each recipient and each template render (set it from another
    /// thread when the request is abandoned, e.g. its HTTP client went away). Once either stops
    /// the batch, the recipient being generated and those not yet generated fail with
    /// [`RecipientError::BatchTimeLimit`] or [`RecipientError::Cancelled`], without rendering
    /// anything more.
    ///
    /// # Examples
    ///
    /// ```
    /// use kumo_inject::{Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest};
    /// use kumo_inject::{GeneratedMessage, MessageSink, SinkError};
    /// use std::cell::Cell;
    /// use std::sync::atomic::AtomicBool;
    /// use std::time::{Duration, Instant};
    ///
    /// struct Discard;
    /// impl MessageSink for Discard {
    ///     fn accept(&self, _: GeneratedMessage) -> Result<(), SinkError> { Ok(()) }
    /// }
    ///
    /// let json = br#"{"envelope_sender": "a@example.com",
    ///     "recipients": [{"email": "b@example.org"}, {"email": "c@example.org"}],
    ///     "content": {"text_body": "hi {{ email }}"}}"#;
    /// let req = InjectRequest::from_json(json)?;
    /// let limit = Some(Duration::from_millis(1500));
    /// let batch = Batch::compile(&req, &GenerateOptions { batch_time_limit: limit, ..Default::default() })?;
    /// let ctx = GenerateContext {
    ///     batch_id: BatchId::new("b1")?,
    ///     now: std::time::UNIX_EPOCH,
    ///     peer: None,
    /// };
    /// // A test clock that advances a second per reading: the first recipient reads it three
    /// // times (start, before its template, end) and "takes" 2 s, so the second is not
    /// // generated.
    /// let (start, reads) = (Instant::now(), Cell::new(0));
    /// let clock = || {
    ///     reads.set(reads.get() + 1);
    ///     start + Duration::from_secs(reads.get())
    /// };
    /// let resp = batch.generate_all_with(&ctx, &Discard, &clock, &AtomicBool::new(false));
    /// assert_eq!((resp.success_count, resp.fail_count), (1, 1));
    /// assert!(resp.errors[0].ends_with("batch exceeded its generation time limit of 1.5s"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generate_all_with(
        &self,
        ctx: &GenerateContext,
        sink: &dyn MessageSink,
        clock: &dyn Fn() -> Instant,
        cancel: &AtomicBool,
    ) -> InjectResponse {
        let control = RunControl {
            clock: Some(clock),
            cancel: Some(cancel),
        };
        let (resp, _) = self.run(ctx, sink, control, |_| false, |_, _| true);
        resp
    }

    /// Whether the batch must stop before its next recipient, having spent `spent` generating.
    fn must_stop(&self, control: &RunControl<'_>, spent: Duration) -> Option<Stop> {
        if control.cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Some(Stop::Cancelled);
        }
        match self.time_limit {
            Some(limit) if control.clock.is_some() && spent > limit => Some(Stop::TimeLimit(limit)),
            _ => None,
        }
    }

    /// The loop behind [`generate_all`](Self::generate_all) and deferred jobs: skips the
    /// recipients for which `skip` is true, calls `after` with each outcome (stops when it
    /// returns false). Returns the counts of the recipients it handled and whether it finished.
    /// Once `control` stops the batch (time limit, cancellation), the remaining recipients get
    /// a failed outcome without being generated, so the batch still finishes.
    pub(crate) fn run(
        &self,
        ctx: &GenerateContext,
        sink: &dyn MessageSink,
        control: RunControl<'_>,
        skip: impl Fn(usize) -> bool,
        mut after: impl FnMut(usize, &RecipientOutcome) -> bool,
    ) -> (InjectResponse, bool) {
        let mut resp = InjectResponse::default();
        let mut spent = Duration::ZERO;
        let mut stop = None;
        let clock = control.clock.filter(|_| self.time_limit.is_some());
        for index in 0..self.len() {
            if skip(index) {
                continue;
            }
            if stop.is_none() {
                stop = self.must_stop(&control, spent);
                if let Some(why) = stop {
                    tracing::warn!(
                        batch_id = %ctx.batch_id,
                        recipient = index,
                        generated = resp.success_count + resp.fail_count,
                        reason = %why.error(),
                        "batch stopped; its remaining recipients fail"
                    );
                }
            }
            let r = &self.req.recipients[index];
            let result = match stop {
                Some(why) => Err(why.error()),
                None => {
                    let started = clock.map(|c| c());
                    let stop = FieldStop {
                        cancel: control.cancel,
                        deadline: match (clock, started, self.time_limit) {
                            // A limit too far away to be an `Instant` is no limit.
                            (Some(c), Some(t), Some(limit)) => t
                                .checked_add(limit.saturating_sub(spent))
                                .map(|d| (c, d, limit)),
                            _ => None,
                        },
                    };
                    let generated = self.generate_checked(index, ctx, Some(stop));
                    if let (Some(c), Some(t)) = (clock, started) {
                        spent += c().saturating_duration_since(t);
                    }
                    generated.and_then(|m| {
                        let id = m.id.clone();
                        sink.accept(m).map(|_| id).map_err(RecipientError::Sink)
                    })
                }
            };
            let outcome = match result {
                Ok(message_id) => {
                    resp.success_count += 1;
                    RecipientOutcome::Accepted { message_id }
                }
                Err(error) => {
                    sink.recipient_failed(&RecipientFailure {
                        batch_id: &ctx.batch_id,
                        index: index as u32,
                        recipient: &r.email,
                        error: &error,
                    });
                    let error = error_chain(&error);
                    resp.fail_count += 1;
                    resp.failed_recipients.push(r.email.clone());
                    resp.errors.push(format!("{}: {error}", r.email));
                    RecipientOutcome::Failed { error }
                }
            };
            if !after(index, &outcome) {
                return (resp, false);
            }
        }
        (resp, true)
    }
}

/// Which of the headers that generation adds when missing (`Date`, `Message-ID`,
/// `MIME-Version`) a message already has.
#[derive(Debug, Default)]
struct AddedHeaders {
    date: bool,
    id: bool,
    mime: bool,
}

impl AddedHeaders {
    /// Notes a header field named `name` (in any case).
    fn note(&mut self, name: &str) {
        match name.to_ascii_lowercase().as_str() {
            "date" => self.date = true,
            "message-id" => self.id = true,
            "mime-version" => self.mime = true,
            _ => {}
        }
    }

    /// Writes `Date: date` and `Message-ID: <id>` unless the message has them.
    fn write_date_and_id(&self, out: &mut Vec<u8>, date: &str, id: &str) {
        if !self.date {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.id {
            out.extend_from_slice(b"Message-ID: <");
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(b">\r\n");
        }
    }

    /// Writes `MIME-Version: 1.0` unless the message has it.
    fn write_mime_version(&self, out: &mut Vec<u8>) {
        if !self.mime {
            out.extend_from_slice(b"MIME-Version: 1.0\r\n");
        }
    }
}

fn no_injection(value: &str, field: &str) -> Result<(), RecipientError> {
    if memchr::memchr3(b'\r', b'\n', 0, value.as_bytes()).is_some() {
        return Err(RecipientError::HeaderInjection {
            field: field.to_owned(),
        });
    }
    Ok(())
}

fn open_multipart(out: &mut Vec<u8>, kind: &str, boundary: &str) {
    out.extend_from_slice(b"Content-Type: multipart/");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b";\r\n\tboundary=\"");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\"\r\n\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn delimiter(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the already encoded `parts` into the open multipart `boundary`, then closes it.
fn close_with_parts(out: &mut Vec<u8>, boundary: &str, parts: &[EncodedPart]) {
    for p in parts {
        delimiter(out, boundary);
        out.extend_from_slice(&p.bytes);
    }
    close(out, boundary);
}

fn close(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
}

/// Writes a text part. At the top level (the whole message is this part) a body that does not
/// end in a line break is written as quoted-printable with a final soft break, so that the
/// message still ends in CRLF and the text decodes exactly.
fn write_leaf(out: &mut Vec<u8>, ctype: &str, text: &str, top: bool) {
    let open_end = top && !text.ends_with('\n') && !text.ends_with('\r');
    let enc = if open_end {
        encode::TextEncoding::QuotedPrintable
    } else {
        encode::choose(text)
    };
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(ctype.as_bytes());
    out.extend_from_slice(b";\r\n\tcharset=\"utf-8\"\r\nContent-Transfer-Encoding: ");
    out.extend_from_slice(enc.name().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    match enc {
        encode::TextEncoding::SevenBit => encode::write_crlf(out, text.as_bytes()),
        encode::TextEncoding::QuotedPrintable => encode::write_qp(out, text.as_bytes()),
    }
    if open_end {
        out.extend_from_slice(b"=\r\n");
    }
}

/// Checks a rendered RFC 5322 message and writes it with CRLF line ends, adding `MIME-Version`,
/// `Date` and `Message-ID` when missing. Returns (non-ASCII headers, 8-bit body).
fn finish_rfc822(
    out: &mut Vec<u8>,
    text: &str,
    id: &str,
    date: &str,
) -> Result<(bool, bool), MessageError> {
    let bytes = text.as_bytes();
    if let Some(offset) = memchr::memchr(0, bytes) {
        return Err(MessageError::Nul { offset });
    }
    let mut present = AddedHeaders::default();
    let mut in_headers = true;
    let mut any_header = false;
    let mut header_end = bytes.len();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < bytes.len() {
        line_no += 1;
        let end = memchr::memchr2(b'\r', b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let line = &text[pos..end];
        if line.len() > 998 {
            return Err(MessageError::LineTooLong { line: line_no });
        }
        let next = if bytes.get(end) == Some(&b'\r') && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                header_end = pos;
            } else if line.starts_with([' ', '\t']) {
                if !any_header {
                    return Err(MessageError::NotAHeader { line: line_no });
                }
            } else {
                match line.split_once(':') {
                    Some((name, _)) if check_header_name(name) => {
                        any_header = true;
                        present.note(name);
                    }
                    _ => return Err(MessageError::NotAHeader { line: line_no }),
                }
            }
        }
        pos = next;
    }
    if !any_header {
        return Err(MessageError::NoHeaders);
    }
    present.write_mime_version(out);
    present.write_date_and_id(out, date, id);
    encode::write_crlf(out, bytes);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    let utf8 = !text[..header_end].is_ascii();
    let eight_bit = !text[header_end..].is_ascii();
    Ok((utf8, eight_bit))
}
