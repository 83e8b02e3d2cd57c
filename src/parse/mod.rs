//! Access-log lines in, borrowed records out.
//!
//! This layer is pure: it takes one line as `&[u8]` (without its `\n`), does no I/O and never
//! allocates per line. Every field of a [`Record`] borrows from the line. The only state is the
//! W3C `#Fields:` layout, which [`LineParser`] keeps between lines because the header names the
//! columns of every line after it.
//!
//! Formats:
//! - [`LogFormat::Common`]: `host ident user [time] "request" status bytes`; anything after the
//!   bytes field is ignored, so Combined lines parse as Common without referer and user agent.
//! - [`LogFormat::Combined`]: Common followed by `"referer" "user-agent"`, both required.
//! - [`LogFormat::W3c`]: W3C extended as IIS writes it, columns named by `#Fields:` directives.
//! - [`LogFormat::Auto`]: W3C once a `#Fields:` header has been seen, otherwise Common with
//!   referer and user agent taken when they are there.
//!
//! A duration is carried when the format has one (W3C `time-taken`, milliseconds). Another
//! source of duration is added by giving its parser a field that fills [`Record::duration`].

mod bytes;
mod clf;
mod fields;
mod json;
mod section;
mod template;
mod time;
mod w3c;

pub use json::{JsonKeys, JsonKeysError};
pub use section::{scheme_and_authority, section};
pub use template::{Dialect, Template, TemplateError};
pub use time::Timestamp;

use std::sync::Arc;
use std::time::Duration;

/// Which line format to expect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// W3C after a `#Fields:` header, otherwise Common/Combined decided per line.
    #[default]
    Auto,
    /// NCSA Common Log Format.
    Common,
    /// NCSA Combined: Common plus referer and user agent.
    Combined,
    /// W3C extended log format (IIS).
    W3c,
    /// Laid out by an nginx `log_format` or Apache `LogFormat` string.
    Template(Arc<Template>),
    /// One JSON object a line.
    Json(Arc<JsonKeys>),
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    /// Reads a `--format` value: `auto`, `common`, `combined`, `w3c`, `json`,
    /// `json:FIELD=KEY,…`, `nginx:<log_format>` or `apache:<LogFormat>`.
    fn from_str(text: &str) -> Result<LogFormat, String> {
        let compile = |dialect, format: &str| {
            Template::compile(dialect, format)
                .map(|template| LogFormat::Template(Arc::new(template)))
                .map_err(|mut error| {
                    // Where in the whole value, prefix included.
                    error.at += text.len() - format.len();
                    error.to_string()
                })
        };
        match text.split_once(':') {
            Some(("nginx", format)) => compile(Dialect::Nginx, format),
            Some(("apache", format)) => compile(Dialect::Apache, format),
            Some(("json", keys)) => JsonKeys::with_overrides(keys)
                .map(|keys| LogFormat::Json(Arc::new(keys)))
                .map_err(|error| error.to_string()),
            _ => match text {
                "auto" => Ok(LogFormat::Auto),
                "common" => Ok(LogFormat::Common),
                "combined" => Ok(LogFormat::Combined),
                "w3c" => Ok(LogFormat::W3c),
                "json" => Ok(LogFormat::Json(Arc::default())),
                _ => Err(format!(
                    "expected auto, common, combined, w3c, json, json:FIELD=KEY,…, \
                     nginx:<log_format> or apache:<LogFormat>, got {text:?}"
                )),
            },
        }
    }
}

/// The request line of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// A request line with a method token and a target.
    Line {
        /// The method token, as written (`GET`).
        method: &'a [u8],
        /// The request target, as written: origin-form `/a?b`, absolute-form `http://h/a`, …
        target: &'a [u8],
        /// `HTTP/1.1`; `None` for HTTP/0.9 lines, which carry no protocol.
        protocol: Option<&'a [u8]>,
    },
    /// What the server logged for a request it could not read: `-` (timeouts, 408), TLS bytes
    /// sent to a plain-HTTP port, or anything that is not `METHOD TARGET [PROTOCOL]`.
    Malformed(&'a [u8]),
}

/// One access-log record, borrowing from its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Client address or host name (IPv4, IPv6, or a name when the server resolves them).
    pub client: &'a [u8],
    /// Authenticated user, `-` when none.
    pub user: &'a [u8],
    /// When the request was logged, with the zone the server wrote.
    pub timestamp: Timestamp,
    /// The request line.
    pub request: Request<'a>,
    /// The three-digit status code (100–999).
    pub status: u16,
    /// Response bytes; `-` in the log is 0.
    pub bytes: u64,
    /// Referer, raw (still escaped as the server wrote it), when the format has one.
    pub referer: Option<&'a [u8]>,
    /// User agent, raw, when the format has one.
    pub user_agent: Option<&'a [u8]>,
    /// Time taken to serve the request, when the format has one.
    pub duration: Option<Duration>,
    /// Time spent waiting for upstream servers (nginx `$upstream_response_time`, summed over
    /// the upstreams tried), when the format has one.
    pub upstream_duration: Option<Duration>,
    /// The site the request was for, raw, when the format has a host field (nginx `$host`,
    /// Apache `%v`, W3C `cs-host`, JSON `host`) and it is not `-` or empty.
    pub host: Option<&'a [u8]>,
}

/// What a line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// An access-log record.
    Record(Record<'a>),
    /// A W3C directive (`#Fields:`, `#Software:`, …): not a hit, not an error.
    Directive,
}

/// Why a line is not an access-log record. Small and `Copy`, so counting it costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty (or only `\r`).
    #[error("empty line")]
    Empty,
    /// A field the format requires is missing or not where it should be.
    #[error("missing or misplaced field: {0}")]
    Field(&'static str),
    /// The timestamp is not a valid date and time.
    #[error("invalid timestamp")]
    Timestamp,
    /// The status is not a three-digit code.
    #[error("invalid status code")]
    Status,
    /// The response size is neither digits nor `-`.
    #[error("invalid response size")]
    Bytes,
    /// A quoted field has no closing quote.
    #[error("unterminated quoted field")]
    UnterminatedQuote,
    /// A W3C data line came before any `#Fields:` header, or the header lacks date/time.
    #[error("W3C line without a usable #Fields header")]
    W3cHeader,
    /// A W3C data line has a different number of columns than its `#Fields:` header.
    #[error("W3C line does not match its #Fields header")]
    W3cColumns,
}

impl ParseError {
    /// A short, fixed name for the error, suitable as a metric label value.
    pub fn reason(self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::Field(_) | ParseError::UnterminatedQuote => "syntax",
            ParseError::Timestamp => "timestamp",
            ParseError::Status => "status",
            ParseError::Bytes => "bytes",
            ParseError::W3cHeader | ParseError::W3cColumns => "w3c_layout",
        }
    }
}

/// Parses lines of one log, keeping the W3C layout between them.
#[derive(Debug, Default, Clone)]
pub struct LineParser {
    format: LogFormat,
    w3c: Option<w3c::Layout>,
    clf_times: time::ClfTimeCache,
    w3c_times: time::W3cTimeCache,
}

impl LineParser {
    /// A parser for lines of `format`.
    pub fn new(format: LogFormat) -> Self {
        LineParser {
            format,
            w3c: None,
            clf_times: time::ClfTimeCache::default(),
            w3c_times: time::W3cTimeCache::default(),
        }
    }

    /// Parses one line, given without its `\n`; a trailing `\r` is ignored.
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Line<'a>, ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        match &self.format {
            LogFormat::Template(template) => template.parse(line, &mut self.clf_times),
            LogFormat::Json(keys) => keys.parse(line, &mut self.clf_times),
            LogFormat::Common => clf::parse(line, clf::Extras::Ignore, &mut self.clf_times),
            LogFormat::Combined => clf::parse(line, clf::Extras::Require, &mut self.clf_times),
            LogFormat::W3c => self.parse_w3c(line),
            LogFormat::Auto => {
                if line[0] == b'#' || self.w3c.is_some() {
                    self.parse_w3c(line)
                } else {
                    clf::parse(line, clf::Extras::IfPresent, &mut self.clf_times)
                }
            }
        }
    }

    fn parse_w3c<'a>(&mut self, line: &'a [u8]) -> Result<Line<'a>, ParseError> {
        if let Some(directive) = line.strip_prefix(b"#") {
            if let Some(fields) = directive.strip_prefix(b"Fields:") {
                // The one allocation this layer makes: once per header, not per line.
                self.w3c = Some(w3c::Layout::from_header(fields));
            }
            return Ok(Line::Directive);
        }
        match &self.w3c {
            Some(layout) => layout.parse(line, &mut self.w3c_times),
            None => Err(ParseError::W3cHeader),
        }
    }
}

/// Seconds written as logs write them (`0.25`, `3`), read as a time in a log is: a bucket
/// bound read this way holds a logged time written the same (`1.118`) exactly. The float
/// nearest the decimal value, as `"1.118".parse()` gives (`Duration::as_secs_f64` adds the
/// fraction to the whole seconds and can be one unit off).
pub fn seconds(text: &str) -> Option<f64> {
    fields::duration(fields::Unit::Seconds, text.as_bytes())
        .map(|time| nanoseconds(time) as f64 / 1e9)
}

/// A time read from a log in whole nanoseconds (584 years at most): in u64, whose conversion
/// to a float is an instruction where u128's (`Duration::as_nanos`) is a call.
#[inline]
pub fn nanoseconds(time: std::time::Duration) -> u64 {
    time.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(time.subsec_nanos()))
}

/// Splits `input` at the first space: the token before it and the rest after it.
fn split_token(input: &[u8]) -> (&[u8], &[u8]) {
    match bytes::find_first(input, [b' ']) {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

/// A three-digit status code, 100–999.
fn parse_status(field: &[u8]) -> Result<u16, ParseError> {
    match *field {
        [hundreds @ b'1'..=b'9', tens @ b'0'..=b'9', units @ b'0'..=b'9'] => {
            Ok(u16::from(hundreds - b'0') * 100
                + u16::from(tens - b'0') * 10
                + u16::from(units - b'0'))
        }
        _ => Err(ParseError::Status),
    }
}

/// Splits a request line `METHOD TARGET [PROTOCOL]` into its parts.
///
/// The protocol is the last word when it starts with `HTTP/`, so a target with a raw space in it
/// (some clients send them, servers log them) stays one target. Runs of spaces between the parts
/// count as one, as nginx and Apache read them (`GET  /a HTTP/1.1` is a GET of `/a`).
// Inlined so the request is built where the record is: returned through the stack, it is
// reloaded at another width right after being stored (a store-forwarding stall a line).
#[inline(always)]
fn parse_request(raw: &[u8]) -> Request<'_> {
    let (method, mut rest) = split_token(raw);
    let is_token = bytes::all_upper_case(raw, method.len())
        || !method.is_empty() && method.iter().all(|&b| is_tchar(b));
    if rest.first() == Some(&b' ') {
        // Servers take any run of spaces between the parts, as nginx and Apache do.
        rest = trim_spaces(rest);
    }
    if !is_token || rest.is_empty() {
        return Request::Malformed(raw);
    }
    // Nearly always ` HTTP/x.y`, found without a search.
    let usual = rest.len().checked_sub(9).filter(|&i| {
        matches!(rest[i..], [b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit())
    });
    let (target, protocol) = match usual.or_else(|| memchr::memrchr(b' ', rest)) {
        Some(i) if rest[i + 1..].starts_with(b"HTTP/") => {
            (trim_spaces(&rest[..i]), Some(&rest[i + 1..]))
        }
        _ => (rest, None),
    };
    if target.is_empty() {
        return Request::Malformed(raw);
    }
    Request::Line {
        method,
        target,
        protocol,
    }
}

/// `text` without the spaces it starts or ends with.
fn trim_spaces(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    &text[start..end]
}

/// RFC 9110 `tchar`: the bytes a method token may contain.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod format_tests;
