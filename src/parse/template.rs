//! Lines laid out by an nginx `log_format` or an Apache `LogFormat` string.
//!
//! The string is compiled once, at start, into the literal a line starts with and a list of
//! steps: a field, then the literal that follows it. A line is read step by step: each value
//! runs to where its following literal is found (for a value between quotes, to its closing
//! quote, so escaped quotes inside it are kept), and is read only if the field is one a record
//! needs. Nothing is allocated per line.
//!
//! Variables known to carry what a record needs are read; every other variable the server
//! knows is skipped; a name it does not know is an error at start, pointing at the name.

use std::fmt;

use super::bytes;
use super::fields::{Field, TimeText, Unit, Values};
use super::time::ClfTimeCache;
use super::{Line, ParseError};

/// Which server's syntax a format string is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// nginx `log_format`: `$remote_addr - $remote_user [$time_local] "$request" …`.
    Nginx,
    /// Apache `LogFormat`: `%h %l %u %t \"%r\" %>s %b …`.
    Apache,
}

/// A format string that cannot be read: where, what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The offending variable or text, as written.
    pub name: String,
    /// Its byte offset in the format string.
    pub at: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{} (byte {}) {}", self.name, self.at, self.problem)
        }
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    field: Field,
    /// Between double quotes in the format: the value ends at its closing quote, and `\"`
    /// inside it does not end it.
    quoted: bool,
    /// The literal after the value, up to the next field; empty only for the last.
    then: Vec<u8>,
}

/// A compiled format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    start: Vec<u8>,
    steps: Vec<Step>,
}

impl Template {
    /// Compiles `format`, written in `dialect`.
    pub fn compile(dialect: Dialect, format: &str) -> Result<Template, TemplateError> {
        let mut template = Template {
            start: Vec::new(),
            steps: Vec::new(),
        };
        match dialect {
            Dialect::Nginx => read_nginx(format, &mut template)?,
            Dialect::Apache => read_apache(format, &mut template)?,
        }
        for step in &mut template.steps {
            step.quoted &= step.then.first() == Some(&b'"');
        }
        template.check_complete(dialect)?;
        Ok(template)
    }

    /// Adds a literal byte: to the text before the first field, or after the last one.
    fn literal(&mut self, byte: u8) {
        match self.steps.last_mut() {
            Some(step) => step.then.push(byte),
            None => self.start.push(byte),
        }
    }

    /// Adds a field, written as `name` at byte `at` of the format.
    fn field(&mut self, field: Field, at: usize, name: &str) -> Result<(), TemplateError> {
        let before = match self.steps.last() {
            Some(step) if step.then.is_empty() => {
                return Err(TemplateError {
                    name: name.into(),
                    at,
                    problem: "follows the value before it with nothing between them, so \
                              where one ends cannot be told"
                        .into(),
                })
            }
            Some(step) => &step.then,
            None => &self.start,
        };
        // Told for sure once the literal after it is known (see compile).
        let quoted = before.last() == Some(&b'"');
        self.steps.push(Step {
            field,
            quoted,
            then: Vec::new(),
        });
        Ok(())
    }

    fn check_complete(&self, dialect: Dialect) -> Result<(), TemplateError> {
        let has = |wanted: fn(Field) -> bool| self.steps.iter().any(|s| wanted(s.field));
        let missing = |what: &str| {
            Err(TemplateError {
                name: String::new(),
                at: 0,
                problem: format!("the format has no {what}"),
            })
        };
        let (time, request, status, bytes) = match dialect {
            Dialect::Nginx => (
                "time ($time_local, $time_iso8601 or $msec)",
                "request ($request, or $request_method and $request_uri or $uri)",
                "status ($status)",
                "response size ($body_bytes_sent or $bytes_sent)",
            ),
            Dialect::Apache => (
                "time (%t)",
                "request (%r, or %m and %U)",
                "status (%>s or %s)",
                "response size (%b, %B or %O)",
            ),
        };
        if !has(|f| matches!(f, Field::Time(_))) {
            return missing(time);
        }
        let method_and_target = has(|f| f == Field::Method) && has(|f| f == Field::Target);
        if !has(|f| f == Field::Request) && !method_and_target {
            return missing(request);
        }
        if !has(|f| f == Field::Status) {
            return missing(status);
        }
        if !has(|f| f == Field::Bytes) {
            return missing(bytes);
        }
        Ok(())
    }

    /// Parses one line (without its `\n` or `\r`).
    // Not inlined into `LineParser::parse`: its stack frame, large, would be set up for every
    // line of every format, a dozen instructions a Common line. The same for JSON's.
    #[inline(never)]
    pub(super) fn parse<'a>(
        &self,
        line: &'a [u8],
        times: &mut ClfTimeCache,
    ) -> Result<Line<'a>, ParseError> {
        let line = line
            .strip_prefix(&self.start[..])
            .ok_or(ParseError::Field("text before the first field"))?;
        let mut rest = line;
        let mut values = Values::default();
        for step in &self.steps {
            let (value, after, _) = match step.cut(rest, 0) {
                Ok(cut) => cut,
                Err(NoCut(error)) => return self.read_again(line, times).ok_or(error),
            };
            rest = after;
            values.set(step.field, value);
        }
        match values.record(times) {
            Ok(record) => Ok(record),
            Err(error) => self.read_again(line, times).ok_or(error),
        }
    }

    /// The line read again after its first reading failed, each unquoted value tried up to
    /// each later place its literal occurs: a value can hold its own literal (a user `x] [y`
    /// before ` [$time_local]`), where a quoted one cannot (the server escapes its `"`). The
    /// first reading that makes a record wins; at most [`READINGS_AGAIN`] are tried.
    #[cold]
    fn read_again<'a>(&self, line: &'a [u8], times: &mut ClfTimeCache) -> Option<Line<'a>> {
        let mut budget = READINGS_AGAIN;
        self.read_from(0, line, Values::default(), times, &mut budget)
    }

    fn read_from<'a>(
        &self,
        index: usize,
        input: &'a [u8],
        mut values: Values<'a>,
        times: &mut ClfTimeCache,
        budget: &mut u32,
    ) -> Option<Line<'a>> {
        let Some(step) = self.steps.get(index) else {
            return values.record(times).ok();
        };
        let mut from = 0;
        loop {
            let (value, after, next) = step.cut(input, from).ok()?;
            values.set(step.field, value);
            if let Some(line) = self.read_from(index + 1, after, values, times, budget) {
                return Some(line);
            }
            if step.quoted || *budget == 0 {
                return None;
            }
            *budget -= 1;
            from = next;
        }
    }
}

/// Readings of a line tried after the first fails (see [`Template::read_again`]): each costs
/// a search of the line, so a hostile line costs a bounded multiple of a good one.
const READINGS_AGAIN: u32 = 16;

/// Why a value could not be cut out.
struct NoCut(ParseError);

impl Step {
    /// This step's value at the start of `input`, ending at the first place its literal
    /// occurs at or after `from`; what follows the literal; and where to look for a later place.
    #[inline]
    fn cut<'a>(
        &self,
        input: &'a [u8],
        mut from: usize,
    ) -> Result<(&'a [u8], &'a [u8], usize), NoCut> {
        let then = &self.then[..];
        let Some((&first, more)) = then.split_first() else {
            return match from {
                0 => Ok((input, &[], input.len() + 1)),
                _ => Err(NoCut(ParseError::Field("literal after a field"))),
            };
        };
        loop {
            let searched = input
                .get(from..)
                .ok_or(NoCut(ParseError::Field("literal after a field")))?;
            let at = if self.quoted {
                from + closing_quote(searched).map_err(NoCut)?
            } else {
                from + bytes::find_first(searched, [first])
                    .ok_or(NoCut(ParseError::Field("literal after a field")))?
            };
            let after = &input[at + 1..];
            if after.starts_with(more) {
                let value = &input[..at];
                // Several upstreams are listed with separators of their own: `0.1, 0.2`.
                let continues = self.field == Field::UpstreamDuration
                    && (value.ends_with(b",") || after.starts_with(b": "));
                if !continues {
                    return Ok((value, &after[more.len()..], at + 1));
                }
            }
            from = at + 1;
        }
    }
}

/// Where the `"` that closes a quoted value is, skipping `\`-escaped bytes.
fn closing_quote(input: &[u8]) -> Result<usize, ParseError> {
    let mut from = 0;
    while let Some(i) = bytes::find_first(input.get(from..).unwrap_or_default(), [b'"', b'\\']) {
        let at = from + i;
        if input[at] == b'"' {
            return Ok(at);
        }
        from = at + 2;
    }
    Err(ParseError::UnterminatedQuote)
}

fn read_nginx(format: &str, template: &mut Template) -> Result<(), TemplateError> {
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            template.literal(bytes[i]);
            i += 1;
            continue;
        }
        let at = i;
        let braced = bytes.get(i + 1) == Some(&b'{');
        let name_start = i + 1 + usize::from(braced);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let name = &format[name_start..name_start + name_len];
        let mut end = name_start + name_len;
        if braced {
            if bytes.get(end) != Some(&b'}') {
                return Err(TemplateError {
                    name: format[at..end].into(),
                    at,
                    problem: "has no closing }".into(),
                });
            }
            end += 1;
        }
        let written = &format[at..end];
        if name.is_empty() {
            return Err(TemplateError {
                name: written.into(),
                at,
                problem: "is a $ with no variable name after it".into(),
            });
        }
        let field = nginx_field(name).ok_or_else(|| TemplateError {
            name: written.into(),
            at,
            problem: "is not an nginx variable this exporter knows".into(),
        })?;
        template.field(field, at, written)?;
        i = end;
    }
    Ok(())
}

/// What an nginx variable is read as; `None` for a name nginx does not have.
fn nginx_field(name: &str) -> Option<Field> {
    Some(match name {
        "remote_addr" | "realip_remote_addr" | "proxy_add_x_forwarded_for" => Field::Client,
        "remote_user" => Field::User,
        "time_local" => Field::Time(TimeText::Clf),
        "time_iso8601" => Field::Time(TimeText::Iso8601),
        "msec" => Field::Time(TimeText::Epoch),
        "request" => Field::Request,
        "request_method" => Field::Method,
        "request_uri" | "uri" | "document_uri" => Field::Target,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::Bytes,
        "http_referer" => Field::Referer,
        "http_user_agent" => Field::UserAgent,
        "request_time" => Field::Duration(Unit::Seconds),
        "upstream_response_time" => Field::UpstreamDuration,
        "host" | "http_host" | "server_name" => Field::Host,
        _ if NGINX_SKIPPED.contains(&name)
            || NGINX_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) =>
        {
            Field::Skip
        }
        _ => return None,
    })
}

/// nginx variables read past: those of the core and of the modules that ship with it that a
/// log line may carry.
const NGINX_SKIPPED: &[&str] = &[
    "args",
    "binary_remote_addr",
    "bytes_received",
    "connection",
    "connection_requests",
    "connection_time",
    "content_length",
    "content_type",
    "document_root",
    "gzip_ratio",
    "host",
    "hostname",
    "http2",
    "http3",
    "https",
    "is_args",
    "nginx_version",
    "pid",
    "pipe",
    "query_string",
    "realip_remote_port",
    "realpath_root",
    "remote_port",
    "request_body",
    "request_completion",
    "request_filename",
    "request_id",
    "request_length",
    "scheme",
    "server_addr",
    "server_name",
    "server_port",
    "server_protocol",
    "ssl_cipher",
    "ssl_protocol",
    "ssl_server_name",
    "ssl_session_reused",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "upstream_addr",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_length",
    "upstream_status",
    "proxy_host",
    "proxy_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "geoip_country_code",
];

/// Families of nginx variables named after a header, cookie, argument or map.
const NGINX_PREFIXES: &[&str] = &[
    "http_",
    "sent_http_",
    "sent_trailer_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
    "cookie_",
    "arg_",
    "ssl_",
    "geoip_",
    "geoip2_",
    "jwt_",
];

fn read_apache(format: &str, template: &mut Template) -> Result<(), TemplateError> {
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // As written in a LogFormat line of httpd.conf: `\"`, `\\`, `\t`, `\n`.
            b'\\' if i + 1 < bytes.len() => {
                template.literal(match bytes[i + 1] {
                    b't' => b'\t',
                    b'n' => b'\n',
                    other => other,
                });
                i += 2;
            }
            b'%' if bytes.get(i + 1) == Some(&b'%') => {
                template.literal(b'%');
                i += 2;
            }
            b'%' => {
                let at = i;
                let mut j = i + 1;
                // Conditions and redirect modifiers: `%400,501{…}i`, `%!200h`, `%>s`, `%<s`.
                while j < bytes.len() && (bytes[j].is_ascii_digit() || b",!<>".contains(&bytes[j]))
                {
                    j += 1;
                }
                let mut argument = "";
                if bytes.get(j) == Some(&b'{') {
                    let close = format[j..].find('}').ok_or_else(|| TemplateError {
                        name: format[at..].into(),
                        at,
                        problem: "has no closing }".into(),
                    })?;
                    argument = &format[j + 1..j + close];
                    j += close + 1;
                }
                let letter = *bytes.get(j).ok_or_else(|| TemplateError {
                    name: format[at..].into(),
                    at,
                    problem: "ends without a directive letter".into(),
                })?;
                let end = j + 1;
                let written = &format[at..end.min(format.len())];
                let field = apache_field(letter, argument).ok_or_else(|| TemplateError {
                    name: written.into(),
                    at,
                    problem: "is not an Apache log directive this exporter can read".into(),
                })?;
                template.field(field, at, written)?;
                i = end;
            }
            other => {
                template.literal(other);
                i += 1;
            }
        }
    }
    Ok(())
}

/// What an Apache directive is read as (mod_log_config's list); `None` for one it does not
/// have, or one whose output cannot be read back (a custom `%{…}t` time).
fn apache_field(letter: u8, argument: &str) -> Option<Field> {
    Some(match (letter, argument) {
        (b'h' | b'a', _) => Field::Client,
        (b'u', _) => Field::User,
        (b't', "") => Field::Time(TimeText::BracketedClf),
        (b't', "sec") => Field::Time(TimeText::Epoch),
        (b'r', _) => Field::Request,
        (b'm', _) => Field::Method,
        (b'U', _) => Field::Target,
        (b's', _) => Field::Status,
        (b'b' | b'B' | b'O', _) => Field::Bytes,
        (b'i', name) if name.eq_ignore_ascii_case("Referer") => Field::Referer,
        (b'i', name) if name.eq_ignore_ascii_case("User-Agent") => Field::UserAgent,
        (b'i', name) if name.eq_ignore_ascii_case("Host") => Field::Host,
        (b'v' | b'V', _) => Field::Host,
        (b'D', _) => Field::Duration(Unit::Microseconds),
        (b'T', "" | "s") => Field::Duration(Unit::Seconds),
        (b'T', "ms") => Field::Duration(Unit::Milliseconds),
        (b'T', "us") => Field::Duration(Unit::Microseconds),
        (b'A' | b'e' | b'f' | b'H' | b'i' | b'I' | b'k' | b'l' | b'L' | b'n' | b'o' | b'p', _)
        | (b'P' | b'q' | b'R' | b'S' | b'X' | b'C' | b'^', _) => Field::Skip,
        _ => return None,
    })
}
