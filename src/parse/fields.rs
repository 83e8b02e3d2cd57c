//! The values a record is built from, as the configurable formats (server format strings,
//! JSON) find them, and how each is read.

use std::time::Duration;

use super::bytes;
use super::time::ClfTimeCache;
use super::{parse_request, parse_status, Line, ParseError, Record, Request, Timestamp};

/// How a time value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeText {
    /// `10/Oct/2000:13:55:36 -0700`.
    Clf,
    /// `[10/Oct/2000:13:55:36 -0700]`, as Apache's `%t` writes it.
    BracketedClf,
    /// `2000-10-10T13:55:36-07:00`.
    Iso8601,
    /// Seconds since the epoch, with or without a fraction (`1700000000.123`).
    Epoch,
    /// Any of those, told apart by their shape (JSON keys that hold either).
    Any,
}

impl TimeText {
    fn of(text: &[u8]) -> Option<TimeText> {
        match text {
            [.., b']'] => Some(TimeText::BracketedClf),
            t if t.len() == 26 && t[2] == b'/' => Some(TimeText::Clf),
            t if t.get(10) == Some(&b'T') => Some(TimeText::Iso8601),
            [b'0'..=b'9', ..] => Some(TimeText::Epoch),
            _ => None,
        }
    }
}

/// What a value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Client,
    User,
    /// A time, written as the [`TimeText`] says.
    Time(TimeText),
    /// The whole request line, `GET /a HTTP/1.1`.
    Request,
    Method,
    /// The path, with or without the query.
    Target,
    Status,
    Bytes,
    Referer,
    UserAgent,
    /// Time taken to serve the request, in the given unit.
    Duration(Unit),
    /// nginx `$upstream_response_time`: `-`, a time in seconds, or several separated by `, `
    /// or ` : ` (one per upstream tried, summed).
    UpstreamDuration,
    /// The site the request was for.
    Host,
    /// A value no record needs.
    Skip,
}

/// A unit durations are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// The values of one line that a record is built from.
#[derive(Default, Clone, Copy)]
pub(super) struct Values<'a> {
    pub(super) client: Option<&'a [u8]>,
    pub(super) user: Option<&'a [u8]>,
    pub(super) time: Option<(TimeText, &'a [u8])>,
    pub(super) request: Option<&'a [u8]>,
    pub(super) method: Option<&'a [u8]>,
    pub(super) target: Option<&'a [u8]>,
    pub(super) status: Option<&'a [u8]>,
    pub(super) bytes: Option<&'a [u8]>,
    pub(super) referer: Option<&'a [u8]>,
    pub(super) user_agent: Option<&'a [u8]>,
    pub(super) duration: Option<(Unit, &'a [u8])>,
    pub(super) upstream: Option<&'a [u8]>,
    pub(super) host: Option<&'a [u8]>,
}

impl<'a> Values<'a> {
    /// Keeps `value` as what `field` says it is.
    #[inline]
    pub(super) fn set(&mut self, field: Field, value: &'a [u8]) {
        match field {
            Field::Client => self.client = Some(value),
            Field::User => self.user = Some(value),
            Field::Time(text) => self.time = Some((text, value)),
            Field::Request => self.request = Some(value),
            Field::Method => self.method = Some(value),
            Field::Target => self.target = Some(value),
            Field::Status => self.status = Some(value),
            Field::Bytes => self.bytes = Some(value),
            Field::Referer => self.referer = Some(value),
            Field::UserAgent => self.user_agent = Some(value),
            Field::Duration(unit) => self.duration = Some((unit, value)),
            Field::UpstreamDuration => self.upstream = Some(value),
            Field::Host => self.host = Some(value),
            Field::Skip => {}
        }
    }

    /// The record these values make, or why they make none.
    pub(super) fn record(self, times: &mut ClfTimeCache) -> Result<Line<'a>, ParseError> {
        let timestamp = self
            .time
            .and_then(|(kind, text)| timestamp(kind, text, times));
        let timestamp = timestamp.ok_or(ParseError::Timestamp)?;
        let request = match (self.request, self.method, self.target) {
            (Some(raw), _, _) => parse_request(raw),
            (None, Some(method), Some(target)) if !method.is_empty() && !target.is_empty() => {
                Request::Line {
                    method,
                    target,
                    protocol: None,
                }
            }
            (None, method, _) => Request::Malformed(method.unwrap_or_default()),
        };
        let status = parse_status(self.status.unwrap_or_default())?;
        let bytes = match self.bytes.unwrap_or(b"-") {
            b"-" => 0,
            digits => whole_number(digits).ok_or(ParseError::Bytes)?,
        };
        let duration = match self.duration {
            Some((_, b"-")) | None => None,
            Some((unit, text)) => Some(duration(unit, text).ok_or(ParseError::Field("duration"))?),
        };
        let upstream_duration = match self.upstream {
            Some(b"-") | None => None,
            Some(list) => Some(upstream_total(list).ok_or(ParseError::Field("upstream time"))?),
        };
        Ok(Line::Record(Record {
            client: self.client.unwrap_or(b"-"),
            user: self.user.unwrap_or(b"-"),
            timestamp,
            request,
            status,
            bytes,
            referer: self.referer,
            user_agent: self.user_agent,
            duration,
            upstream_duration,
            host: self.host.filter(|host| !host.is_empty() && *host != b"-"),
        }))
    }
}

fn timestamp(kind: TimeText, text: &[u8], times: &mut ClfTimeCache) -> Option<Timestamp> {
    match kind {
        TimeText::Clf => times.get_or_parse(text, b"", || Timestamp::parse_clf(text)),
        TimeText::BracketedClf => {
            let text = text.strip_prefix(b"[")?.strip_suffix(b"]")?;
            times.get_or_parse(text, b"", || Timestamp::parse_clf(text))
        }
        TimeText::Iso8601 => Timestamp::parse_iso8601(text),
        TimeText::Epoch => Timestamp::parse_epoch(text),
        TimeText::Any => timestamp(TimeText::of(text)?, text, times),
    }
}

fn whole_number(digits: &[u8]) -> Option<u64> {
    match bytes::leading_digits(digits, 0)? {
        (value, count) if count == digits.len() && count > 0 => Some(value),
        _ => None,
    }
}

/// A non-negative decimal number of `unit`s, `0.123` or `15`.
pub(super) fn duration(unit: Unit, text: &[u8]) -> Option<Duration> {
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let whole = whole_number(whole)?;
    // Nanoseconds of the fraction: at most nine digits are significant.
    let mut nanos_of_unit = 0u64;
    let mut scale = 100_000_000u64;
    for &digit in fraction {
        if !digit.is_ascii_digit() {
            return None;
        }
        nanos_of_unit += u64::from(digit - b'0') * scale;
        scale /= 10;
    }
    let nanos_per_unit = match unit {
        Unit::Seconds => 1_000_000_000,
        Unit::Milliseconds => 1_000_000,
        Unit::Microseconds => 1_000,
        Unit::Nanoseconds => 1,
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)?
        .checked_add(nanos_of_unit * nanos_per_unit / 1_000_000_000)?;
    Some(Duration::from_nanos(nanos))
}

/// The sum of nginx's list of upstream times, `0.012, 0.003 : 0.004`; `-` entries (an upstream
/// that did not answer) count nothing.
fn upstream_total(list: &[u8]) -> Option<Duration> {
    list.split(|&b| b == b',' || b == b':')
        .map(|entry| entry.trim_ascii())
        .filter(|entry| *entry != b"-")
        .try_fold(Duration::ZERO, |total, entry| {
            Some(total + duration(Unit::Seconds, entry)?)
        })
}
