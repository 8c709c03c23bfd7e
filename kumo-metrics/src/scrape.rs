//! [`Scrape`]: the streaming writer that turns a registry into chunks of text or JSON.

use crate::family::{FamilyCore, ScanCursor};
use crate::{json, text};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;

/// The output format of a [`Scrape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics 1.0 text (counters as `_total`, ends with `# EOF`).
    OpenMetrics,
    /// KumoMTA's `/metrics.json` shape.
    Json,
}

impl Format {
    /// The HTTP `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
        }
    }
}

/// A metric name prefix that is not `[a-zA-Z_:][a-zA-Z0-9_:]*`. Permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric name prefix {0:?}")]
pub struct InvalidPrefix(pub String);

/// What a [`Scrape`] writes and how it chunks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeOptions {
    format: Format,
    chunk_size: usize,
    prefix: Option<Arc<str>>,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        Self::new(Format::Text)
    }
}

impl ScrapeOptions {
    /// The default chunk size: 64 KiB.
    pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

    /// Options for `format`, 64 KiB chunks, no prefix.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            prefix: None,
        }
    }

    /// Prometheus text 0.0.4.
    pub fn text() -> Self {
        Self::new(Format::Text)
    }

    /// OpenMetrics 1.0.
    pub fn openmetrics() -> Self {
        Self::new(Format::OpenMetrics)
    }

    /// KumoMTA's JSON shape.
    pub fn json() -> Self {
        Self::new(Format::Json)
    }

    /// Sets the format.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the chunk size (at least 1). A chunk is at least this long (except the last) and at
    /// most this plus one series' output.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Prepends `prefix` to every metric name.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] when the prefix has a character outside `[a-zA-Z0-9_:]` or starts with
    /// a digit.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, InvalidPrefix> {
        let b = prefix.as_bytes();
        let ok = b.first().is_none_or(|c| !c.is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
        if !ok {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        self.prefix = (!prefix.is_empty()).then(|| prefix.into());
        Ok(self)
    }

    /// The format.
    pub fn get_format(&self) -> Format {
        self.format
    }

    /// The chunk size.
    pub fn get_chunk_size(&self) -> usize {
        self.chunk_size
    }
}

/// A scrape in progress: an iterator of output chunks.
///
/// Memory is O(chunk size): the scrape keeps one chunk buffer and a cursor, never a copy of the
/// series. The registry's families are listed when the scrape starts; each family is walked one
/// chunk of 1024 slots at a time, taking the family lock only to find that chunk, and each series
/// under its own slot lock, so a thread creating a series waits at most for one such step, never
/// for the whole scrape. Values are read when written. A series created after the walk of its
/// family began is left out of this scrape; one removed before the walk reaches it is left out.
///
/// # Examples
///
/// ```
/// use kumo_metrics::{Registry, ScrapeOptions};
/// let registry = Registry::new();
/// registry.family("hits_total", "hits").counter::<()>()?.get_or_create(&()).inc();
/// let json: Vec<u8> = registry.scrape(&ScrapeOptions::json()).flatten().collect();
/// assert_eq!(json, br#"{"hits_total":{"help":"hits","type":"counter","value":1}}
/// "#);
/// # Ok::<(), kumo_metrics::RegisterError>(())
/// ```
#[derive(Debug)]
pub struct Scrape {
    families: Vec<Arc<FamilyCore>>,
    next_family: usize,
    current: Option<Current>,
    format: Format,
    prefix: Option<Arc<str>>,
    chunk_size: usize,
    buf: BytesMut,
    scratch: BytesMut,
    done: bool,
}

#[derive(Debug)]
struct Current {
    core: Arc<FamilyCore>,
    cursor: ScanCursor,
    series: u64,
}

impl Scrape {
    pub(crate) fn new(families: Vec<Arc<FamilyCore>>, options: &ScrapeOptions) -> Self {
        Self {
            families,
            next_family: 0,
            current: None,
            format: options.format,
            prefix: options.prefix.clone(),
            chunk_size: options.chunk_size,
            buf: BytesMut::new(),
            scratch: BytesMut::new(),
            done: false,
        }
    }

    /// The HTTP `Content-Type` of the output.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }

    /// Hands out the buffer's contents. The buffer keeps its allocation's tail; when the consumer
    /// has dropped the previous chunk, the next `reserve` reclaims the whole allocation, so a
    /// scrape whose chunks are consumed one at a time allocates only once.
    fn take(&mut self) -> Bytes {
        self.buf.split().freeze()
    }

    /// Writes until the buffer holds a chunk or the output is complete.
    fn fill(&mut self) {
        let prefix: &str = self.prefix.as_deref().unwrap_or("");
        while self.buf.len() < self.chunk_size {
            let Some(cur) = &mut self.current else {
                let Some(core) = self.families.get(self.next_family).cloned() else {
                    match self.format {
                        Format::Json => json::finish(&mut self.buf, self.next_family > 0),
                        Format::OpenMetrics => self.buf.extend_from_slice(b"# EOF\n"),
                        Format::Text => {}
                    }
                    self.done = true;
                    return;
                };
                match self.format {
                    Format::Json => {
                        json::begin(&mut self.buf, &core, prefix, self.next_family == 0)
                    }
                    f => text::begin(&mut self.buf, &core, prefix, f == Format::OpenMetrics),
                }
                self.next_family += 1;
                self.current = Some(Current {
                    core,
                    cursor: ScanCursor::default(),
                    series: 0,
                });
                continue;
            };
            let (buf, scratch, limit, format) = (
                &mut self.buf,
                &mut self.scratch,
                self.chunk_size,
                self.format,
            );
            let core = &*cur.core;
            let series = &mut cur.series;
            let finished = core.scan(&mut cur.cursor, |key, cells| {
                match format {
                    Format::Json => json::series(buf, core, key, cells, *series == 0),
                    f => text::series(
                        buf,
                        scratch,
                        core,
                        key,
                        cells,
                        prefix,
                        f == Format::OpenMetrics,
                    ),
                }
                *series += 1;
                buf.len() < limit
            });
            if finished {
                if format == Format::Json {
                    json::end(buf, core, *series > 0);
                }
                self.current = None;
            }
        }
    }
}

impl Iterator for Scrape {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done && self.buf.is_empty() {
            return None;
        }
        self.buf
            .reserve(self.chunk_size.saturating_add(1024).min(1 << 24));
        if !self.done {
            self.fill();
        }
        if self.buf.is_empty() {
            return None;
        }
        Some(self.take())
    }
}
