//! NCSA Common and Combined log lines.

use super::bytes;
use super::time::ClfTimeCache;
use super::{parse_request, parse_status, split_token, Line, ParseError, Record, Timestamp};

/// What to do with the `"referer" "user-agent"` pair after the bytes field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extras {
    /// Common: whatever follows the bytes is not ours to read.
    Ignore,
    /// Combined: both quoted fields must be there.
    Require,
    /// Auto: take them when they are there, ignore what is not.
    IfPresent,
}

pub(super) fn parse<'a>(
    line: &'a [u8],
    extras: Extras,
    times: &mut ClfTimeCache,
) -> Result<Line<'a>, ParseError> {
    let (client, user, rest) = host_ident_user(line);
    if client.is_empty() || user.is_empty() {
        return Err(ParseError::Field("host/ident/user"));
    }
    let (user, timestamp, rest) = match bracketed_time(rest, times) {
        Ok((timestamp, rest)) if rest.starts_with(b" \"") => (user, timestamp, rest),
        first => {
            let user_start = line.len() - rest.len() - 1 - user.len();
            match user_up_to_time(line, user_start, times) {
                Some(found) => found,
                None => return Err(first.err().unwrap_or(ParseError::Field("request"))),
            }
        }
    };
    let rest = &rest[1..];
    let (request, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(b" ").ok_or(ParseError::Field("status"))?;
    // Three digits: where the status ends is looked at, not searched for.
    let status = rest
        .get(..3)
        .filter(|_| matches!(rest.get(3), None | Some(b' ')))
        .ok_or(ParseError::Status)?;
    let status = parse_status(status)?;
    let size_start = line.len() - rest.len() + 4;
    let (bytes, rest) = size_at(line, size_start)?;
    let rest = line.get(rest..).unwrap_or_default();

    let (referer, user_agent) = match extras {
        Extras::Ignore => (None, None),
        Extras::Require => {
            let (referer, rest) = quoted(rest)?;
            let rest = rest
                .strip_prefix(b" ")
                .ok_or(ParseError::Field("user agent"))?;
            let (user_agent, _) = quoted(rest)?;
            (Some(referer), Some(user_agent))
        }
        Extras::IfPresent => match quoted(rest) {
            Ok((referer, rest)) => {
                let user_agent = rest.strip_prefix(b" ").and_then(|r| quoted(r).ok());
                (Some(referer), user_agent.map(|(ua, _)| ua))
            }
            Err(_) => (None, None),
        },
    };

    // Built as the Line the caller returns: a Record moved into one is a copy of ~160 bytes.
    Ok(Line::Record(Record {
        client,
        user,
        timestamp,
        request: parse_request(request),
        status,
        bytes,
        referer,
        user_agent,
        duration: None,
        upstream_duration: None,
        host: None,
    }))
}

/// The first three space-separated tokens of `line` but the second (the ident, which nobody
/// sends), and what follows them.
fn host_ident_user(line: &[u8]) -> (&[u8], &[u8], &[u8]) {
    // Their ends are nearly always within the first 64 bytes: one bitmap of those finds all
    // three, where three searches would each set up and end their own.
    let mut spaces = bytes::space_bitmap(&line[..line.len().min(64)]);
    let mut next_space = || {
        let at = spaces.trailing_zeros() as usize;
        spaces &= spaces.wrapping_sub(1);
        at
    };
    let (first, second, third) = (next_space(), next_space(), next_space());
    if third < 64 {
        return (&line[..first], &line[second + 1..third], &line[third + 1..]);
    }
    let (host, rest) = split_token(line);
    let (_ident, rest) = split_token(rest);
    let (user, rest) = split_token(rest);
    (host, user, rest)
}

/// The user field when it holds spaces or brackets (nginx logs any `Authorization: Basic`
/// user, so a client chooses it): all up to the first ` [` that opens a CLF time followed by
/// ` "`, which a user cannot forge (servers escape `"` in it). Returns the user, the time, and
/// what follows the time.
#[cold]
fn user_up_to_time<'a>(
    line: &'a [u8],
    user_start: usize,
    times: &mut ClfTimeCache,
) -> Option<(&'a [u8], Timestamp, &'a [u8])> {
    let mut from = user_start + 1;
    loop {
        let at = from + memchr::memmem::find(line.get(from..)?, b" [")?;
        let time = &line[at + 2..];
        if time.get(26) == Some(&b']') && time.get(27..29) == Some(b" \"") {
            let text = &time[..26];
            if let Some(timestamp) = times.get_or_parse(text, b"", || Timestamp::parse_clf(text)) {
                return Some((&line[user_start..at], timestamp, &time[27..]));
            }
        }
        from = at + 1;
    }
}

/// `[10/Oct/2000:13:55:36 -0700]` at the start of `input`; returns the time and what follows.
fn bracketed_time<'a>(
    input: &'a [u8],
    times: &mut ClfTimeCache,
) -> Result<(Timestamp, &'a [u8]), ParseError> {
    let inner = input
        .strip_prefix(b"[")
        .ok_or(ParseError::Field("timestamp"))?;
    // The CLF time is fixed-width: look where its `]` must be before searching for it.
    let end = match inner.get(26) {
        Some(b']') => 26,
        _ => inner
            .iter()
            .position(|&b| b == b']')
            .ok_or(ParseError::Timestamp)?,
    };
    let text = &inner[..end];
    let timestamp = times
        .get_or_parse(text, b"", || Timestamp::parse_clf(text))
        .ok_or(ParseError::Timestamp)?;
    Ok((timestamp, &inner[end + 1..]))
}

/// A `"…"` field at the start of `input`, its content raw (escapes kept as written: Apache's
/// `\"` and nginx's `\x22` both leave the closing quote unambiguous). Returns content and rest.
fn quoted(input: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let inner = input
        .strip_prefix(b"\"")
        .ok_or(ParseError::Field("quoted field"))?;
    // Most fields end within 64 bytes: one bitmap of those finds the end without a loop
    // whose exit depends on the field's length.
    let first = bytes::bitmap(&inner[..inner.len().min(64)], [b'"', b'\\']);
    let at = first.trailing_zeros() as usize;
    if first != 0 && inner[at] == b'"' {
        return Ok((&inner[..at], &inner[at + 1..]));
    }
    let mut from = 0;
    while let Some(i) = bytes::find_first(&inner[from..], [b'"', b'\\']) {
        let at = from + i;
        if inner[at] == b'"' {
            return Ok((&inner[..at], &inner[at + 1..]));
        }
        from = at + 2;
        if from > inner.len() {
            break;
        }
    }
    Err(ParseError::UnterminatedQuote)
}

/// A response size at `start` in `line`, digits or `-`, ended by a space or the end of the
/// line: the size and where what follows the space starts.
fn size_at(line: &[u8], start: usize) -> Result<(u64, usize), ParseError> {
    let (size, end) = match line.get(start) {
        Some(b'-') => (0, start + 1),
        _ => match bytes::leading_digits(line, start) {
            Some((size, digits)) if digits > 0 => (size, start + digits),
            _ => return Err(ParseError::Bytes),
        },
    };
    match line.get(end) {
        None => Ok((size, end)),
        Some(b' ') => Ok((size, end + 1)),
        Some(_) => Err(ParseError::Bytes),
    }
}
