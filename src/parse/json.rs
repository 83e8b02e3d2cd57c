//! JSON lines: one object a line, whose keys name a record's fields.
//!
//! Which key holds which field is a table ([`JsonKeys`]) built at start: by default the keys
//! of nginx's `escape=json` examples, ingress-nginx and Traefik (see [`JsonKeys::default`]),
//! each overridable. Values are borrowed raw from the line (a string's content still escaped,
//! as the Common parser keeps referer and user agent), so nothing is allocated per line.

use std::fmt;

use foldhash::HashMap;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::{Field, TimeText, Unit, Values};
use super::time::ClfTimeCache;
use super::{Line, ParseError};

/// The names of the fields in `--format json:FIELD=KEY,…`, with what each is read as.
const FIELD_NAMES: [(&str, Field); 16] = [
    ("client", Field::Client),
    ("user", Field::User),
    ("time", Field::Time(TimeText::Any)),
    ("request", Field::Request),
    ("method", Field::Method),
    ("target", Field::Target),
    ("status", Field::Status),
    ("bytes", Field::Bytes),
    ("referer", Field::Referer),
    ("user_agent", Field::UserAgent),
    ("duration_s", Field::Duration(Unit::Seconds)),
    ("duration_ms", Field::Duration(Unit::Milliseconds)),
    ("duration_us", Field::Duration(Unit::Microseconds)),
    ("duration_ns", Field::Duration(Unit::Nanoseconds)),
    ("upstream_s", Field::UpstreamDuration),
    ("host", Field::Host),
];

/// The keys read by default, by field (see docs/formats.md).
const DEFAULT_KEYS: [(&str, &[&str]); 16] = [
    ("client", &["remote_addr", "client_ip", "ClientHost"]),
    ("user", &["remote_user", "ClientUsername"]),
    (
        "time",
        &[
            "time_local",
            "time_iso8601",
            "time",
            "timestamp",
            "@timestamp",
            "StartUTC",
            "msec",
        ],
    ),
    ("request", &["request"]),
    ("method", &["request_method", "method", "RequestMethod"]),
    ("target", &["request_uri", "uri", "path", "RequestPath"]),
    ("status", &["status", "DownstreamStatus"]),
    (
        "bytes",
        &["body_bytes_sent", "bytes_sent", "DownstreamContentSize"],
    ),
    (
        "referer",
        &["http_referer", "http_referrer", "request_Referer"],
    ),
    ("user_agent", &["http_user_agent", "request_User-Agent"]),
    ("duration_s", &["request_time", "duration"]),
    ("duration_ms", &[]),
    ("duration_us", &[]),
    ("duration_ns", &["Duration"]),
    ("upstream_s", &["upstream_response_time"]),
    ("host", &["host", "http_host", "server_name", "RequestHost"]),
];

/// Which JSON key holds which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonKeys {
    fields: HashMap<Box<str>, Field>,
}

/// A `--format json:…` mapping that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonKeysError(String);

impl Default for JsonKeys {
    /// The keys nginx's documentation, ingress-nginx and Traefik write.
    fn default() -> Self {
        JsonKeys::with_overrides("").expect("the default keys are valid")
    }
}

impl JsonKeys {
    /// The default keys, with the fields named in `overrides` (`FIELD=KEY,…`, possibly empty)
    /// read from the given keys instead.
    pub fn with_overrides(overrides: &str) -> Result<JsonKeys, JsonKeysError> {
        let mut keys: Vec<(&str, Vec<&str>)> = DEFAULT_KEYS
            .iter()
            .map(|(field, keys)| (*field, keys.to_vec()))
            .collect();
        for pair in overrides.split(',').filter(|pair| !pair.is_empty()) {
            let (field, key) = pair
                .split_once('=')
                .ok_or_else(|| JsonKeysError(format!("{pair:?}: expected FIELD=KEY")))?;
            let entry = keys
                .iter_mut()
                .find(|(name, _)| *name == field)
                .ok_or_else(|| {
                    let names: Vec<&str> = FIELD_NAMES.iter().map(|(name, _)| *name).collect();
                    JsonKeysError(format!(
                        "{field:?} is not a field; expected one of {}",
                        names.join(", ")
                    ))
                })?;
            if key.is_empty() {
                return Err(JsonKeysError(format!("{pair:?}: the key is empty")));
            }
            entry.1 = vec![key];
        }
        let mut fields = HashMap::default();
        for (name, keys) in keys {
            let field = FIELD_NAMES
                .iter()
                .find(|(field_name, _)| *field_name == name)
                .map(|(_, field)| *field)
                .expect("every default names a field");
            for key in keys {
                // A key given for one field takes it from a default of another.
                fields.insert(key.into(), field);
            }
        }
        Ok(JsonKeys { fields })
    }

    // Out of line, as `Template::parse` is.
    #[inline(never)]
    pub(super) fn parse<'a>(
        &self,
        line: &'a [u8],
        times: &mut ClfTimeCache,
    ) -> Result<Line<'a>, ParseError> {
        let mut values = Values::default();
        let mut deserializer = serde_json::Deserializer::from_slice(line);
        ObjectSeed {
            keys: self,
            values: &mut values,
        }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|_| ParseError::Field("JSON object"))?;
        values.record(times)
    }
}

struct ObjectSeed<'k, 'v, 'a> {
    keys: &'k JsonKeys,
    values: &'v mut Values<'a>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let field = match key {
                Key::Borrowed(key) => self.keys.fields.get(key),
                // A key with an escape in it: not one of ours, which are plain.
                Key::Escaped => None,
            };
            let Some(&field) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let raw: &'de RawValue = map.next_value()?;
            let Some(value) = scalar(raw.get().as_bytes()) else {
                continue;
            };
            self.values.set(field, value);
        }
        Ok(())
    }
}

/// A string's content (still escaped) or a number's text; `None` for `null`, `""`, objects,
/// arrays and booleans, which carry no field.
fn scalar(raw: &[u8]) -> Option<&[u8]> {
    match raw {
        [b'"', content @ .., b'"'] if !content.is_empty() => Some(content),
        [b'-' | b'0'..=b'9', ..] => Some(raw),
        _ => None,
    }
}

/// An object key, borrowed from the line unless it holds an escape.
enum Key<'de> {
    Borrowed(&'de str),
    Escaped,
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(key))
            }
            fn visit_str<E>(self, _: &str) -> Result<Key<'de>, E> {
                Ok(Key::Escaped)
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
