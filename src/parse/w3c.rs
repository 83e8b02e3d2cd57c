//! W3C extended log lines, as IIS writes them.
//!
//! Columns are separated by single spaces and named by the last `#Fields:` directive; IIS
//! writes `-` for an empty value and `+` for a space inside a value.

use std::time::Duration;

use super::time::W3cTimeCache;
use super::{
    parse_bytes, parse_decimal, parse_status, Line, ParseError, Record, Request, Timestamp,
};

/// The columns a record is built from; all others are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Date,
    Time,
    ClientIp,
    User,
    Method,
    UriStem,
    Version,
    Status,
    Bytes,
    TimeTaken,
    UserAgent,
    Referer,
    Other,
}

impl Column {
    fn from_name(name: &[u8]) -> Column {
        match name {
            b"date" => Column::Date,
            b"time" => Column::Time,
            b"c-ip" => Column::ClientIp,
            b"cs-username" => Column::User,
            b"cs-method" => Column::Method,
            b"cs-uri-stem" => Column::UriStem,
            b"cs-version" => Column::Version,
            b"sc-status" => Column::Status,
            b"sc-bytes" => Column::Bytes,
            b"time-taken" => Column::TimeTaken,
            b"cs(User-Agent)" => Column::UserAgent,
            b"cs(Referer)" => Column::Referer,
            _ => Column::Other,
        }
    }
}

/// The column order named by one `#Fields:` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    columns: Vec<Column>,
}

impl Layout {
    /// Builds the layout from what follows `#Fields:`.
    pub(super) fn from_header(names: &[u8]) -> Layout {
        let columns = names
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|name| !name.is_empty())
            .map(Column::from_name)
            .collect();
        Layout { columns }
    }

    pub(super) fn parse<'a>(
        &self,
        line: &'a [u8],
        times: &mut W3cTimeCache,
    ) -> Result<Line<'a>, ParseError> {
        let mut date = None;
        let mut time = None;
        let mut client = None;
        let mut user: &[u8] = b"-";
        let mut method = None;
        let mut stem = None;
        let mut protocol = None;
        let mut status = None;
        let mut bytes = 0;
        let mut duration = None;
        let mut user_agent = None;
        let mut referer = None;

        let mut values = SpaceSeparated { rest: Some(line) };
        for &column in &self.columns {
            let value = values.next().ok_or(ParseError::W3cColumns)?;
            let present = value != b"-";
            match column {
                Column::Date => date = Some(value),
                Column::Time => time = Some(value),
                Column::ClientIp => client = Some(value),
                Column::User => user = value,
                Column::Method => method = present.then_some(value),
                Column::UriStem => stem = present.then_some(value),
                Column::Version => protocol = present.then_some(value),
                Column::Status => status = Some(parse_status(value)?),
                Column::Bytes => bytes = parse_bytes(value)?,
                Column::TimeTaken if present => {
                    let millis = parse_decimal(value).ok_or(ParseError::Field("time-taken"))?;
                    duration = Some(Duration::from_millis(millis));
                }
                Column::UserAgent => user_agent = Some(value),
                Column::Referer => referer = Some(value),
                Column::TimeTaken | Column::Other => {}
            }
        }
        if values.next().is_some() {
            return Err(ParseError::W3cColumns);
        }

        let (Some(date), Some(time)) = (date, time) else {
            return Err(ParseError::W3cHeader);
        };
        let timestamp = times
            .get_or_parse(date, time, || Timestamp::parse_w3c(date, time))
            .ok_or(ParseError::Timestamp)?;
        let request = match (method, stem) {
            (Some(method), Some(target)) => Request::Line {
                method,
                target,
                protocol,
            },
            _ => Request::Malformed(b"-"),
        };
        // Built as the Line the caller returns: see clf::parse.
        Ok(Line::Record(Record {
            client: client.ok_or(ParseError::Field("c-ip"))?,
            user,
            timestamp,
            request,
            status: status.ok_or(ParseError::Field("sc-status"))?,
            bytes,
            referer,
            user_agent,
            duration,
        }))
    }
}

/// The values of a line, split at each single space.
struct SpaceSeparated<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for SpaceSeparated<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        // Most values are short, where a plain loop beats memchr's setup; user agents and
        // URLs are long, where memchr wins.
        let short = rest.len().min(16);
        let space = match rest[..short].iter().position(|&b| b == b' ') {
            Some(at) => Some(at),
            None => memchr::memchr(b' ', &rest[short..]).map(|at| short + at),
        };
        match space {
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}
