//! W3C extended log lines, as IIS writes them.
//!
//! Columns are separated by single spaces and named by the last `#Fields:` directive; IIS
//! writes `-` for an empty value and `+` for a space inside a value.

use std::time::Duration;

use super::bytes;
use super::time::W3cTimeCache;
use super::{parse_status, Line, ParseError, Record, Request, Timestamp};

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
    Host,
}

impl Column {
    const COUNT: usize = Column::Host as usize + 1;

    fn from_name(name: &[u8]) -> Option<Column> {
        Some(match name {
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
            b"cs-host" => Column::Host,
            _ => return None,
        })
    }
}

/// The most values a line may have: IIS knows about two dozen fields.
const MAX_VALUES: usize = 48;

/// Where the columns a record is built from are, as named by one `#Fields:` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    /// How many values a line must have.
    width: usize,
    /// The position of each [`Column`] among a line's values, if the header names it (the
    /// last time, if more than once).
    positions: [Option<u8>; Column::COUNT],
}

impl Layout {
    /// Builds the layout from what follows `#Fields:`.
    pub(super) fn from_header(names: &[u8]) -> Layout {
        let mut layout = Layout {
            width: 0,
            positions: [None; Column::COUNT],
        };
        let names = names
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|name| !name.is_empty());
        for (position, name) in names.enumerate() {
            layout.width += 1;
            if let (Some(column), Ok(position)) = (Column::from_name(name), u8::try_from(position))
            {
                layout.positions[column as usize] = Some(position);
            }
        }
        layout
    }

    pub(super) fn parse<'a>(
        &self,
        line: &'a [u8],
        times: &mut W3cTimeCache,
    ) -> Result<Line<'a>, ParseError> {
        let mut spaces = [0u32; MAX_VALUES - 1];
        let count = bytes::space_positions(line, &mut spaces).ok_or(ParseError::W3cColumns)?;
        if count + 1 != self.width {
            return Err(ParseError::W3cColumns);
        }
        let values = Values {
            line,
            spaces: &spaces[..count],
            positions: &self.positions,
        };
        let value = |column| values.get(column);
        let present = |column| values.present(column);

        let (Some(date), Some(time)) = (value(Column::Date), value(Column::Time)) else {
            return Err(ParseError::W3cHeader);
        };
        let status = value(Column::Status).ok_or(ParseError::Field("sc-status"))?;
        let status = parse_status(status)?;
        let bytes = values
            .number(Column::Bytes, ParseError::Bytes)?
            .unwrap_or(0);
        let duration = values
            .number(Column::TimeTaken, ParseError::Field("time-taken"))?
            .map(Duration::from_millis);
        let (method, stem, protocol) = (
            present(Column::Method),
            present(Column::UriStem),
            present(Column::Version),
        );
        let (client, user) = (value(Column::ClientIp), value(Column::User));
        let (referer, user_agent) = (value(Column::Referer), value(Column::UserAgent));
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
            user: user.unwrap_or(b"-"),
            timestamp,
            request,
            status,
            bytes,
            referer,
            user_agent,
            duration,
            upstream_duration: None,
            host: value(Column::Host),
        }))
    }
}

/// The values of one line, cut out by column as they are asked for.
struct Values<'a, 'l> {
    line: &'a [u8],
    /// Where the spaces between values are.
    spaces: &'l [u32],
    positions: &'l [Option<u8>; Column::COUNT],
}

// Inlined into each use: a call a column costs more than the cut.
impl<'a> Values<'a, '_> {
    /// The value of `column`, if the header names it. Value i lies between space i - 1 and
    /// space i.
    #[inline(always)]
    fn get(&self, column: Column) -> Option<&'a [u8]> {
        let (start, end) = self.span(column)?;
        Some(&self.line[start..end])
    }

    /// Where the value of `column` starts and ends in the line.
    #[inline(always)]
    fn span(&self, column: Column) -> Option<(usize, usize)> {
        let i = usize::from(self.positions[column as usize]?);
        let start = match i.checked_sub(1) {
            Some(before) => self.spaces[before] as usize + 1,
            None => 0,
        };
        let end = self
            .spaces
            .get(i)
            .map_or(self.line.len(), |&end| end as usize);
        Some((start, end))
    }

    /// The value of `column` as a decimal number: `None` if the header does not name it or
    /// it is `-`, an error if it is anything but digits.
    #[inline(always)]
    fn number(&self, column: Column, error: ParseError) -> Result<Option<u64>, ParseError> {
        let Some((start, end)) = self.span(column) else {
            return Ok(None);
        };
        match bytes::leading_digits(self.line, start) {
            Some((value, digits)) if digits > 0 && start + digits == end => Ok(Some(value)),
            _ if &self.line[start..end] == b"-" => Ok(None),
            _ => Err(error),
        }
    }

    /// The value of `column` unless it is `-`, which IIS writes for a value it does not have.
    #[inline(always)]
    fn present(&self, column: Column) -> Option<&'a [u8]> {
        self.get(column).filter(|&value| value != b"-")
    }
}
