//! Syslog messages as nginx, rsyslog, glibc's `syslog()` and `logger` send them: the tag that
//! picks the log, and the message that is its line. Pure: borrowed slices, no allocation.
//!
//! Three headers are read, told apart by what follows the priority:
//! - RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, the tag being
//!   APP-NAME;
//! - RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, as nginx and rsyslog send it;
//! - the local form without a hostname that glibc's `syslog()` and `logger -u` write to
//!   `/dev/log`, and nginx with `nohostname`: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`.

/// A message read: its tag and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The program's name: nginx's `tag=`, `logger -t`, RFC 5424's APP-NAME.
    pub tag: &'a [u8],
    /// The log line it carries, without the line ending a sender may add.
    pub text: &'a [u8],
}

/// Why a message was not read, the `reason` it is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// No `<PRI>` at its start.
    Priority,
    /// No tag where the header puts one.
    Header,
}

impl Malformed {
    /// The `reason` label value.
    pub fn reason(self) -> &'static str {
        match self {
            Malformed::Priority => "priority",
            Malformed::Header => "header",
        }
    }
}

/// The longest tag read: RFC 3164 allows 32 characters, RFC 5424's APP-NAME 48.
pub const MAX_TAG_BYTES: usize = 48;

/// Reads one message.
pub fn parse(message: &[u8]) -> Result<Message<'_>, Malformed> {
    let rest = after_priority(message).ok_or(Malformed::Priority)?;
    let (tag, text) = match rest.strip_prefix(b"1 ") {
        Some(header) => rfc5424(header),
        None => rfc3164(rest),
    }
    .ok_or(Malformed::Header)?;
    if tag.is_empty() || tag.len() > MAX_TAG_BYTES || !tag.iter().all(|&b| is_tag_byte(b)) {
        return Err(Malformed::Header);
    }
    Ok(Message {
        tag,
        text: trim_line_end(text),
    })
}

/// What follows `<PRI>`, PRI being 0 to 191.
fn after_priority(message: &[u8]) -> Option<&[u8]> {
    let rest = message.strip_prefix(b"<")?;
    let end = rest.iter().take(4).position(|&b| b == b'>')?;
    let digits = &rest[..end];
    let priority = std::str::from_utf8(digits).ok()?.parse::<u8>().ok()?;
    (!digits.is_empty() && priority <= 191).then_some(&rest[end + 1..])
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`: the APP-NAME and the MSG.
fn rfc5424(header: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_timestamp, rest) = word(header)?;
    let (_hostname, rest) = word(rest)?;
    let (app, rest) = word(rest)?;
    let (_procid, rest) = word(rest)?;
    let (_msgid, rest) = word(rest)?;
    let text = after_structured_data(rest)?;
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    Some((app, text))
}

/// Past the structured data (`-` or `[id k="v"]…`) and the space after it.
fn after_structured_data(rest: &[u8]) -> Option<&[u8]> {
    if let Some(text) = rest.strip_prefix(b"-") {
        return Some(text.strip_prefix(b" ").unwrap_or(text));
    }
    let mut i = 0;
    while rest.get(i) == Some(&b'[') {
        // Inside an element, `]` ends it unless escaped within a quoted value.
        let (mut quoted, mut escaped) = (false, false);
        i += 1;
        loop {
            let b = *rest.get(i)?;
            i += 1;
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
        }
    }
    (i > 0).then(|| {
        let text = &rest[i..];
        text.strip_prefix(b" ").unwrap_or(text)
    })
}

/// `Mmm dd hh:mm:ss [HOSTNAME ]TAG[PID]: MSG`: the TAG and the MSG.
fn rfc3164(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = skip_timestamp(rest);
    let (first, after_first) = word(rest)?;
    if let Some(tag) = tag_of(first) {
        return Some((tag, after_first));
    }
    // The first word was the hostname.
    let (second, after_second) = word(after_first)?;
    Some((tag_of(second)?, after_second))
}

/// Past `Mmm dd hh:mm:ss ` (the day padded with a space), if it is there.
fn skip_timestamp(rest: &[u8]) -> &[u8] {
    let looks_like_one = rest.len() > 16
        && rest[..3].iter().all(u8::is_ascii_alphabetic)
        && rest[3] == b' '
        && rest[6] == b' '
        && rest[9] == b':'
        && rest[12] == b':'
        && rest[15] == b' ';
    if looks_like_one {
        &rest[16..]
    } else {
        rest
    }
}

/// The tag of a `TAG:` or `TAG[PID]:` word, else `None` (a hostname).
fn tag_of(word: &[u8]) -> Option<&[u8]> {
    let word = word.strip_suffix(b":")?;
    match word.iter().position(|&b| b == b'[') {
        Some(open) if word.ends_with(b"]") => Some(&word[..open]),
        Some(_) => None,
        None => Some(word),
    }
}

/// The word up to the next space, and what follows that space.
fn word(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = input.iter().position(|&b| b == b' ')?;
    Some((&input[..end], &input[end + 1..]))
}

/// Printable ASCII but `:`, `[`, `]` and space: what tags and APP-NAMEs are made of.
fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b':' | b'[' | b']')
}

/// Without the `\n`, `\r\n` or NULs a sender ends a message with.
fn trim_line_end(text: &[u8]) -> &[u8] {
    let end = text
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] =
        b"127.0.0.1 - - [03/Dec/2026:06:00:00 +0000] \"GET /a/b HTTP/1.1\" 200 3 \"-\" \"curl\"";

    fn read(message: &[u8]) -> Result<(String, Vec<u8>), Malformed> {
        parse(message).map(|m| (String::from_utf8_lossy(m.tag).into_owned(), m.text.to_vec()))
    }

    #[test]
    fn the_headers_senders_write_give_their_tag_and_line() {
        let with = |header: &str| [header.as_bytes(), LINE].concat();
        for (message, tag) in [
            // nginx: RFC 3164 with its hostname, and with `nohostname`.
            (with("<190>Dec  3 06:00:00 web1 nginx: "), "nginx"),
            (with("<190>Dec 13 06:00:00 shopfeed: "), "shopfeed"),
            // glibc syslog() and `logger -u` with a pid.
            (with("<13>Dec  3 06:00:00 app[1234]: "), "app"),
            (with("<13>Dec  3 06:00:00 web1.example app[1234]: "), "app"),
            // RFC 5424, as `logger --rfc5424` and rsyslog send it.
            (
                with("<13>1 2026-12-03T06:00:00.123+00:00 web1 edge 4242 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] "),
                "edge",
            ),
            (with("<13>1 2026-12-03T06:00:00Z - edge - - - \u{feff}"), "edge"),
            (with("<13>1 - - edge - - [a b=\"x\\\"]y\"][c] "), "edge"),
        ] {
            assert_eq!(
                read(&message),
                Ok((tag.to_owned(), LINE.to_vec())),
                "{}",
                String::from_utf8_lossy(&message)
            );
        }
        // Line endings a sender adds are not the line's.
        assert_eq!(read(b"<13>Dec  3 06:00:00 a: x y\r\n\0").unwrap().1, b"x y");
        // A timestamp is not required where a sender leaves it out.
        assert_eq!(read(b"<13>nginx: x").unwrap().0, "nginx");
    }

    #[test]
    fn malformed_messages_say_why() {
        for (message, why) in [
            (&b""[..], Malformed::Priority),
            (b"GET / HTTP/1.1", Malformed::Priority),
            (b"<999>Dec  3 06:00:00 a: x", Malformed::Priority),
            (b"<>a: x", Malformed::Priority),
            (
                b"<13>Dec  3 06:00:00 host only words here",
                Malformed::Header,
            ),
            (b"<13>Dec  3 06:00:00 host", Malformed::Header),
            (b"<13>1 2026-12-03T06:00:00Z host app", Malformed::Header),
            (b"<13>1 - - app - - [unclosed x", Malformed::Header),
            (b"<13>: x", Malformed::Header),
        ] {
            assert_eq!(
                read(message),
                Err(why),
                "{}",
                String::from_utf8_lossy(message)
            );
        }
        let long = format!("<13>{}: x", "t".repeat(MAX_TAG_BYTES + 1));
        assert_eq!(read(long.as_bytes()), Err(Malformed::Header));
    }
}
