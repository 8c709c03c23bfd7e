//! The streaming parser of Prometheus text 0.0.4 and OpenMetrics, and the JSON reader.

mod collect;
mod error;
mod fold;
mod json;
mod series;

pub use collect::{ParsedFamily, ParsedSeries, parse_text};
pub use error::{ParseError, ParseErrorKind};
pub use json::{JsonError, parse_json};
pub use series::{HistogramSeries, SummarySeries};

use crate::family::MetricType;
use fold::{FoldSample, fold};

/// A family as declared by `# HELP`/`# TYPE` lines (or implied by an untyped sample).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    /// The family name (for OpenMetrics counters, without `_total`).
    pub name: String,
    /// The unescaped HELP text, empty when absent.
    pub help: String,
    /// The declared type; [`MetricType::Untyped`] when undeclared.
    pub metric_type: MetricType,
}

/// One thing the [`Parser`] found, handed to the callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum Item<'a> {
    /// A family starts; always before its series, also for a family without any.
    Family(&'a FamilyInfo),
    /// A counter, gauge or untyped sample (also a counter's `_created`).
    Sample(Sample<'a>),
    /// A complete histogram series.
    Histogram(&'a HistogramSeries),
    /// A complete summary series.
    Summary(&'a SummarySeries),
}

/// One sample, borrowed from the input: no allocation unless a label value has escapes.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The family the sample belongs to.
    pub family: &'a FamilyInfo,
    /// The sample's name as written (e.g. `x_total` for an OpenMetrics counter `x`).
    pub name: &'a str,
    /// The labels.
    pub labels: Labels<'a>,
    /// The value.
    pub value: f64,
    /// The timestamp as written: milliseconds in text 0.0.4, seconds in OpenMetrics.
    pub timestamp: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
    /// The value is in the unescape buffer rather than the line.
    unescaped: bool,
}

/// The labels of a [`Sample`], unescaped, in input order.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    line: &'a str,
    unescaped: &'a str,
    spans: &'a [Span],
}

impl<'a> Labels<'a> {
    fn pair(&self, s: &Span) -> (&'a str, &'a str) {
        let name = &self.line[s.name.0 as usize..s.name.1 as usize];
        let src = if s.unescaped {
            self.unescaped
        } else {
            self.line
        };
        (name, &src[s.value.0 as usize..s.value.1 as usize])
    }

    /// `(name, value)` pairs in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.spans.iter().map(|s| self.pair(s))
    }

    /// The value of the label called `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// A streaming parser of Prometheus text 0.0.4 and OpenMetrics 1.0.
///
/// Feed it chunks of any size with [`push`](Self::push) (a line may be split anywhere, down to
/// one byte per chunk) and call [`finish`](Self::finish) at the end of the input: that flushes
/// the last histogram or summary series and an unterminated last line. Counter, gauge and untyped
/// samples reach the callback as borrowed [`Sample`]s; histogram and summary samples are folded
/// into one [`HistogramSeries`]/[`SummarySeries`] per label set (consecutive lines with the same
/// labels, minus `le`/`quantile`).
///
/// Accepted: escapes in label values (`\\`, `\"`, `\n`; any other `\x` is kept as written) and
/// HELP, optional timestamps, comments, blank lines, `# EOF` (nothing may follow it), CRLF line
/// ends, OpenMetrics exemplars (ignored), types counter, gauge, histogram, summary, untyped and
/// `unknown`. Samples without a `# TYPE` form an untyped family of their own name.
///
/// After an error the parser keeps returning that error until [`finish`](Self::finish) or
/// [`reset`](Self::reset).
///
/// # Examples
///
/// ```
/// use kumo_metrics::{Item, Parser};
/// let mut p = Parser::new();
/// let mut total = 0.0;
/// let mut on_item = |item: Item<'_>| {
///     if let Item::Sample(s) = item {
///         total += s.value;
///     }
/// };
/// p.push(b"# TYPE q gauge\nq{queue=\"a\\\"b\"} 2\nq{queue=\"c\"} 3", &mut on_item)?;
/// p.finish(&mut on_item)?;
/// assert_eq!(total, 5.0);
/// # Ok::<(), kumo_metrics::ParseError>(())
/// ```
#[derive(Debug)]
pub struct Parser {
    partial: Vec<u8>,
    line_no: u64,
    max_line: usize,
    family: FamilyInfo,
    /// A family is open (declared or implied) and not yet closed.
    open: bool,
    announced: bool,
    has_samples: bool,
    hist: Option<HistogramSeries>,
    summary: Option<SummarySeries>,
    spans: Vec<Span>,
    unescaped: String,
    eof: bool,
    failed: Option<ParseError>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

type R<T> = Result<T, (usize, ParseErrorKind)>;

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Byte classes for names: bit 0 = may start a metric name, bit 1 = may continue one, bit 2 =
/// may start a label name, bit 3 = may continue one.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        t[c] = (alpha as u8 | (b == b':') as u8)
            | ((alpha || digit || b == b':') as u8) << 1
            | (alpha as u8) << 2
            | ((alpha || digit) as u8) << 3;
        c += 1;
    }
    t
};

#[inline]
fn class_end(b: &[u8], i: usize, first: u8, rest: u8) -> usize {
    let mut j = i;
    if j < b.len() && NAME_CLASS[usize::from(b[j])] & first != 0 {
        j += 1;
        while j < b.len() && NAME_CLASS[usize::from(b[j])] & rest != 0 {
            j += 1;
        }
    }
    j
}

fn metric_name_end(b: &[u8], i: usize) -> usize {
    class_end(b, i, 1, 2)
}

fn label_name_end(b: &[u8], i: usize) -> usize {
    class_end(b, i, 4, 8)
}

fn token_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && !is_ws(b[j]) {
        j += 1;
    }
    j
}

/// Parses a Prometheus number: an integer fast path, else Rust's float grammar (which covers
/// `NaN`, `+Inf`, `-Inf`, exponents).
#[inline]
fn number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &c in b {
            v = v * 10 + u64::from(c - b'0');
        }
        return Some(v as f64);
    }
    s.parse().ok()
}

fn unescape_into(out: &mut String, s: &str) {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    None,
    Total,
    Created,
    Bucket,
    Sum,
    Count,
}

impl Parser {
    /// The default longest accepted line: 1 MiB.
    pub const DEFAULT_MAX_LINE: usize = 1 << 20;

    /// A parser with the default line limit.
    pub fn new() -> Self {
        Self {
            partial: Vec::new(),
            line_no: 0,
            max_line: Self::DEFAULT_MAX_LINE,
            family: FamilyInfo::default(),
            open: false,
            announced: false,
            has_samples: false,
            hist: None,
            summary: None,
            spans: Vec::new(),
            unescaped: String::new(),
            eof: false,
            failed: None,
        }
    }

    /// Sets the longest accepted line, in bytes (what one series may take in memory).
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Starts over, for a new input.
    pub fn reset(&mut self) {
        let max = self.max_line;
        *self = Self::new().max_line(max);
    }

    /// Whether a `# EOF` line was seen.
    pub fn saw_eof(&self) -> bool {
        self.eof
    }

    /// Parses the complete lines of `chunk` (with what is left of earlier chunks) and keeps the
    /// incomplete last line for the next call.
    ///
    /// # Errors
    ///
    /// [`ParseError`] with the line and column of the first problem.
    pub fn push<F: FnMut(Item<'_>)>(&mut self, chunk: &[u8], f: &mut F) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(chunk, f);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Ends the input: parses an unterminated last line, flushes the last series and family,
    /// and resets the parser for a new input.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push), for the last line or an earlier error.
    pub fn finish<F: FnMut(Item<'_>)>(&mut self, f: &mut F) -> Result<(), ParseError> {
        let r = match self.failed.take() {
            Some(e) => Err(e),
            None => {
                let line = std::mem::take(&mut self.partial);
                let r = if line.is_empty() {
                    Ok(())
                } else {
                    self.line(&line, f)
                };
                r.map(|()| self.close(f))
            }
        };
        self.reset();
        r
    }

    fn push_inner<F: FnMut(Item<'_>)>(
        &mut self,
        chunk: &[u8],
        f: &mut F,
    ) -> Result<(), ParseError> {
        let mut rest = chunk;
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', rest) {
                None => {
                    self.keep(rest)?;
                    return Ok(());
                }
                Some(p) => {
                    self.keep(&rest[..p])?;
                    let line = std::mem::take(&mut self.partial);
                    let r = self.line(&line, f);
                    self.partial = line;
                    self.partial.clear();
                    r?;
                    rest = &rest[p + 1..];
                }
            }
        }
        while let Some(p) = memchr::memchr(b'\n', rest) {
            self.line(&rest[..p], f)?;
            rest = &rest[p + 1..];
        }
        self.keep(rest)
    }

    fn keep(&mut self, b: &[u8]) -> Result<(), ParseError> {
        if self.partial.len() + b.len() > self.max_line {
            return Err(ParseError {
                line: self.line_no + 1,
                column: self.max_line as u64 + 1,
                kind: ParseErrorKind::LineTooLong,
            });
        }
        self.partial.extend_from_slice(b);
        Ok(())
    }

    fn line<F: FnMut(Item<'_>)>(&mut self, line: &[u8], f: &mut F) -> Result<(), ParseError> {
        self.line_no += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line_no = self.line_no;
        let at = move |(col, kind): (usize, ParseErrorKind)| ParseError {
            line: line_no,
            column: col as u64 + 1,
            kind,
        };
        if line.len() > self.max_line {
            return Err(at((self.max_line, ParseErrorKind::LineTooLong)));
        }
        if self.eof {
            return Err(at((0, ParseErrorKind::AfterEof)));
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => return Err(at((e.valid_up_to(), ParseErrorKind::InvalidUtf8))),
        };
        let first = skip_ws(line, 0);
        if first == line.len() {
            return Ok(());
        }
        let r = if line[first] == b'#' {
            self.comment(text, first, f)
        } else {
            self.sample(text, first, f)
        };
        r.map_err(at)
    }

    fn comment<F: FnMut(Item<'_>)>(&mut self, text: &str, first: usize, f: &mut F) -> R<()> {
        let b = text.as_bytes();
        let i = skip_ws(b, first + 1);
        let kw_end = token_end(b, i);
        let kw = &text[i..kw_end];
        if kw == "EOF" && skip_ws(b, kw_end) == b.len() {
            self.close(f);
            self.eof = true;
            return Ok(());
        }
        if kw != "HELP" && kw != "TYPE" {
            return Ok(()); // a comment (or UNIT, which is not kept)
        }
        let n0 = skip_ws(b, kw_end);
        let n1 = metric_name_end(b, n0);
        if n1 == n0 || (n1 < b.len() && !is_ws(b[n1])) {
            return Err((n0, ParseErrorKind::InvalidMetadata));
        }
        let name = &text[n0..n1];
        let rest_at = if n1 < b.len() { n1 + 1 } else { n1 };
        let rest = &text[rest_at..];
        if !(self.open && self.family.name == name && !self.has_samples) {
            self.open_family(name, f);
        }
        if kw == "HELP" {
            self.family.help.clear();
            if rest.contains('\\') {
                unescape_into(&mut self.family.help, rest);
            } else {
                self.family.help.push_str(rest);
            }
        } else {
            self.family.metric_type = match rest.trim_matches([' ', '\t']) {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "summary" => MetricType::Summary,
                "untyped" | "unknown" => MetricType::Untyped,
                _ => return Err((rest_at, ParseErrorKind::UnknownType)),
            };
        }
        Ok(())
    }

    /// Flushes the open series and announces an empty family.
    fn close<F: FnMut(Item<'_>)>(&mut self, f: &mut F) {
        self.flush_series(f);
        if self.open && !self.announced {
            f(Item::Family(&self.family));
        }
        self.open = false;
        self.announced = false;
        self.has_samples = false;
    }

    /// Closes the open family and opens `name`, untyped and without help until declared.
    fn open_family<F: FnMut(Item<'_>)>(&mut self, name: &str, f: &mut F) {
        self.close(f);
        self.family.name.clear();
        self.family.name.push_str(name);
        self.family.help.clear();
        self.family.metric_type = MetricType::Untyped;
        self.open = true;
    }

    fn flush_series<F: FnMut(Item<'_>)>(&mut self, f: &mut F) {
        if let Some(h) = self.hist.take() {
            f(Item::Histogram(&h));
        }
        if let Some(s) = self.summary.take() {
            f(Item::Summary(&s));
        }
    }

    fn suffix(&self, name: &str) -> Option<Suffix> {
        let rest = name.strip_prefix(self.family.name.as_str())?;
        let s = match rest {
            "" => Suffix::None,
            "_total" => Suffix::Total,
            "_created" => Suffix::Created,
            "_bucket" => Suffix::Bucket,
            "_sum" => Suffix::Sum,
            "_count" => Suffix::Count,
            _ => return None,
        };
        let ok = matches!(
            (self.family.metric_type, &s),
            (
                MetricType::Counter,
                Suffix::None | Suffix::Total | Suffix::Created
            ) | (MetricType::Gauge | MetricType::Untyped, Suffix::None)
                | (
                    MetricType::Histogram,
                    Suffix::Bucket | Suffix::Sum | Suffix::Count | Suffix::Created
                )
                | (
                    MetricType::Summary,
                    Suffix::None | Suffix::Sum | Suffix::Count | Suffix::Created
                )
        );
        ok.then_some(s)
    }

    fn sample<F: FnMut(Item<'_>)>(&mut self, text: &str, first: usize, f: &mut F) -> R<()> {
        let b = text.as_bytes();
        let n1 = metric_name_end(b, first);
        if n1 == first {
            return Err((first, ParseErrorKind::ExpectedName));
        }
        let mut i = n1;
        self.spans.clear();
        self.unescaped.clear();
        let brace = skip_ws(b, n1);
        if brace < b.len() && b[brace] == b'{' {
            i = brace + 1;
            loop {
                i = skip_ws(b, i);
                if i < b.len() && b[i] == b'}' {
                    i += 1;
                    break;
                }
                let l0 = i;
                let l1 = label_name_end(b, l0);
                if l1 == l0 {
                    return Err((l0, ParseErrorKind::ExpectedLabelName));
                }
                i = skip_ws(b, l1);
                if i >= b.len() || b[i] != b'=' {
                    return Err((i, ParseErrorKind::ExpectedEquals));
                }
                i = skip_ws(b, i + 1);
                if i >= b.len() || b[i] != b'"' {
                    return Err((i, ParseErrorKind::ExpectedQuote));
                }
                let v0 = i + 1;
                let mut j = v0;
                let mut escaped = false;
                loop {
                    match memchr::memchr2(b'"', b'\\', &b[j..]) {
                        None => return Err((v0 - 1, ParseErrorKind::UnterminatedLabelValue)),
                        Some(k) if b[j + k] == b'"' => {
                            j += k;
                            break;
                        }
                        Some(k) => {
                            escaped = true;
                            j += k + 2;
                            if j > b.len() {
                                return Err((v0 - 1, ParseErrorKind::UnterminatedLabelValue));
                            }
                        }
                    }
                }
                let span = if escaped {
                    let u0 = self.unescaped.len();
                    unescape_into(&mut self.unescaped, &text[v0..j]);
                    Span {
                        name: (l0 as u32, l1 as u32),
                        value: (u0 as u32, self.unescaped.len() as u32),
                        unescaped: true,
                    }
                } else {
                    Span {
                        name: (l0 as u32, l1 as u32),
                        value: (v0 as u32, j as u32),
                        unescaped: false,
                    }
                };
                self.spans.push(span);
                i = skip_ws(b, j + 1);
                if i < b.len() && b[i] == b',' {
                    i += 1;
                } else if i < b.len() && b[i] == b'}' {
                    i += 1;
                    break;
                } else {
                    return Err((i, ParseErrorKind::ExpectedCommaOrBrace));
                }
            }
        }
        let v0 = skip_ws(b, i);
        if v0 == i && i < b.len() {
            return Err((i, ParseErrorKind::MissingValue));
        }
        let v1 = token_end(b, v0);
        if v1 == v0 {
            return Err((v0, ParseErrorKind::MissingValue));
        }
        let value = number(&text[v0..v1]).ok_or((v0, ParseErrorKind::InvalidValue))?;
        let mut timestamp = None;
        let t0 = skip_ws(b, v1);
        if t0 < b.len() && b[t0] != b'#' {
            let t1 = token_end(b, t0);
            timestamp = Some(number(&text[t0..t1]).ok_or((t0, ParseErrorKind::InvalidTimestamp))?);
            let e = skip_ws(b, t1);
            if e < b.len() && b[e] != b'#' {
                return Err((e, ParseErrorKind::TrailingData));
            }
        }
        let name = &text[first..n1];
        let suffix = match self.open.then(|| self.suffix(name)).flatten() {
            Some(s) => s,
            None => {
                self.open_family(name, f);
                Suffix::None
            }
        };
        if !self.announced {
            f(Item::Family(&self.family));
            self.announced = true;
        }
        self.has_samples = true;
        let labels = Labels {
            line: text,
            unescaped: &self.unescaped,
            spans: &self.spans,
        };
        match self.family.metric_type {
            MetricType::Histogram | MetricType::Summary => {
                let sample = FoldSample {
                    family: &self.family.name,
                    labels: &labels,
                    suffix,
                    value,
                    timestamp,
                    first,
                    name_end: n1,
                };
                if self.family.metric_type == MetricType::Histogram {
                    fold(&mut self.hist, sample, f)?;
                } else {
                    fold(&mut self.summary, sample, f)?;
                }
            }
            _ => f(Item::Sample(Sample {
                family: &self.family,
                name,
                labels,
                value,
                timestamp,
            })),
        }
        Ok(())
    }
}

fn same_labels(owned: &[(String, String)], labels: &Labels<'_>, skip: Option<&str>) -> bool {
    let mut it = owned.iter();
    for (n, v) in labels.iter() {
        if Some(n) == skip {
            continue;
        }
        match it.next() {
            Some((on, ov)) if on == n && ov == v => {}
            _ => return false,
        }
    }
    it.next().is_none()
}

fn owned_labels(labels: &Labels<'_>, skip: Option<&str>) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|(n, _)| Some(*n) != skip)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}
