//! The parser's error type.

/// What is wrong with the input at a [`ParseError`]'s position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// A metric name was expected.
    ExpectedName,
    /// A label name was expected.
    ExpectedLabelName,
    /// `=` was expected after a label name.
    ExpectedEquals,
    /// `"` was expected to open a label value.
    ExpectedQuote,
    /// A label value has no closing `"` on its line.
    UnterminatedLabelValue,
    /// `,` or `}` was expected after a label value.
    ExpectedCommaOrBrace,
    /// The sample has no value.
    MissingValue,
    /// The value is not a number.
    InvalidValue,
    /// The timestamp is not a number.
    InvalidTimestamp,
    /// Something follows the timestamp.
    TrailingData,
    /// A `# HELP` or `# TYPE` line without a metric name.
    InvalidMetadata,
    /// A `# TYPE` this parser does not know.
    UnknownType,
    /// A histogram `_bucket` sample without an `le` label.
    MissingLe,
    /// An `le` or `quantile` label that is not a number.
    InvalidBound,
    /// A summary quantile sample without a `quantile` label.
    MissingQuantile,
    /// Input after `# EOF`.
    AfterEof,
    /// A line longer than the parser's limit.
    LineTooLong,
}

impl ParseErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::InvalidUtf8 => "invalid utf-8",
            ParseErrorKind::ExpectedName => "expected a metric name",
            ParseErrorKind::ExpectedLabelName => "expected a label name",
            ParseErrorKind::ExpectedEquals => "expected '='",
            ParseErrorKind::ExpectedQuote => "expected '\"'",
            ParseErrorKind::UnterminatedLabelValue => "unterminated label value",
            ParseErrorKind::ExpectedCommaOrBrace => "expected ',' or '}'",
            ParseErrorKind::MissingValue => "missing value",
            ParseErrorKind::InvalidValue => "invalid value",
            ParseErrorKind::InvalidTimestamp => "invalid timestamp",
            ParseErrorKind::TrailingData => "unexpected data after the sample",
            ParseErrorKind::InvalidMetadata => "invalid HELP or TYPE line",
            ParseErrorKind::UnknownType => "unknown metric type",
            ParseErrorKind::MissingLe => "histogram bucket without le label",
            ParseErrorKind::InvalidBound => "invalid le or quantile label",
            ParseErrorKind::MissingQuantile => "summary sample without quantile label",
            ParseErrorKind::AfterEof => "data after # EOF",
            ParseErrorKind::LineTooLong => "line too long",
        }
    }
}

impl std::fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input the [`Parser`](crate::Parser) cannot read, with its 1-based line and column (in bytes).
/// Permanent for that input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) kind: ParseErrorKind,
}

impl ParseError {
    /// The 1-based line number.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The 1-based column, in bytes from the start of the line.
    pub fn column(&self) -> u64 {
        self.column
    }

    /// What is wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }
}
