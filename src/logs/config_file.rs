//! `--config.file`: the logs to follow, in YAML, each with its name, its format and labels of
//! its own.
//!
//! ```yaml
//! logs:
//!   - name: shop                               # the `log` label
//!     path: /var/log/nginx/shop.access.log     # a path or a glob
//!     format: 'nginx:$remote_addr - ...'       # any --format value; default: --format
//!     labels: {team: shop}                     # static labels, at most 8
//!   - name: edge
//!     tag: edge                                # a syslog tag instead of a path
//!     format: combined
//! ```
//!
//! Every error is found while the YAML is read, where the value is, so that it is said with
//! its line and column: an unknown key, a bad format, a bad label, a name given twice.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{LogSource, Origin, StreamSource};
use crate::parse::LogFormat;

/// The most labels an entry may give.
pub const MAX_LABELS: usize = 8;
/// The longest label value.
pub const MAX_LABEL_VALUE_BYTES: usize = 256;

/// Label names the exporter's own series carry, or Prometheus reserves.
const RESERVED_LABELS: [&str; 10] = [
    "log",
    "section",
    "method",
    "status",
    "status_class",
    "host",
    "le",
    "reason",
    "kind",
    "version",
];

/// The logs a configuration file names.
#[derive(Debug, Default)]
pub struct ConfigLogs {
    /// Files and globs.
    pub sources: Vec<LogSource>,
    /// Syslog tags.
    pub streams: Vec<StreamSource>,
}

/// A configuration file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileError {
    /// The file.
    pub file: PathBuf,
    /// Line and column, from 1, where known.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => {
                write!(
                    f,
                    "{}:{line}:{column}: {}",
                    self.file.display(),
                    self.problem
                )
            }
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

/// Reads the configuration file at `path`.
pub fn read(path: &Path) -> Result<ConfigLogs, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigFileError {
        file: path.to_owned(),
        at: None,
        problem: error.to_string(),
    })?;
    parse(&text).map_err(|(at, problem)| ConfigFileError {
        file: path.to_owned(),
        at,
        problem,
    })
}

type Located = (Option<(usize, usize)>, String);

/// Reads a configuration from its text.
fn parse(text: &str) -> Result<ConfigLogs, Located> {
    let file: File = yaml_serde::from_str(text).map_err(|error| {
        let at = error.location().map(|at| (at.line(), at.column()));
        (at, without_location(&error.to_string()))
    })?;
    let mut logs = ConfigLogs::default();
    for entry in file.logs.0 {
        match entry {
            Entry::File(source) => logs.sources.push(source),
            Entry::Syslog(stream) => logs.streams.push(stream),
        }
    }
    Ok(logs)
}

/// `message` without the " at line L column C" a YAML error adds to itself (libyaml's, twice):
/// the location is said first, as every configuration error says it.
fn without_location(message: &str) -> String {
    const AT: &str = " at line ";
    let digits = |text: &str| text.bytes().take_while(u8::is_ascii_digit).count();
    let mut kept = String::new();
    let mut rest = message;
    while let Some(start) = rest.find(AT) {
        let after = &rest[start + AT.len()..];
        let column = after[digits(after)..].strip_prefix(" column ");
        match column {
            Some(column) => {
                kept += &rest[..start];
                rest = &column[digits(column)..];
            }
            None => {
                kept += &rest[..start + AT.len()];
                rest = after;
            }
        }
    }
    kept + rest
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    logs: Entries,
}

/// The entries, their names told apart as they are read.
struct Entries(Vec<Entry>);

enum Entry {
    File(LogSource),
    Syslog(StreamSource),
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of logs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut names = Vec::new();
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element_seed(EntrySeed { names: &mut names })? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_seq(EntriesVisitor)
    }
}

/// One entry, given the names the entries before it took.
struct EntrySeed<'a> {
    names: &'a mut Vec<String>,
}

const ENTRY_KEYS: &[&str] = &["name", "path", "tag", "format", "labels"];

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log: name, path or tag, format, labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let (mut name, mut path, mut tag, mut format, mut labels) = (None, None, None, None, None);
        while let Some(EntryKey(key)) = map.next_key()? {
            match key {
                "name" => name = Some(map.next_value_seed(NameSeed { names: self.names })?),
                "path" => path = Some(map.next_value::<PathValue>()?.0),
                "tag" => tag = Some(map.next_value::<TagValue>()?.0),
                "format" => format = Some(map.next_value::<FormatValue>()?.0),
                _ => labels = Some(map.next_value::<Labels>()?.0),
            }
        }
        let labels = labels.unwrap_or_default();
        match (path, tag) {
            (Some(_), Some(_)) => Err(de::Error::custom("a log has a path or a tag, not both")),
            (None, None) => Err(de::Error::custom("a log needs a path or a tag")),
            (Some((pattern, is_glob)), None) => Ok(Entry::File(LogSource {
                name,
                pattern,
                is_glob,
                format,
                labels,
            })),
            (None, Some(tag)) => {
                let stream = StreamSource {
                    name,
                    origin: Origin::Syslog { tag },
                    format,
                    labels,
                };
                if stream.name.is_none() {
                    let label = stream.label().to_owned();
                    if self.names.contains(&label) {
                        return Err(de::Error::custom(format!(
                            "the name {label:?} (the tag's) is given to two logs"
                        )));
                    }
                    self.names.push(label);
                }
                Ok(Entry::Syslog(stream))
            }
        }
    }
}

/// A name, checked against those taken.
struct NameSeed<'a> {
    names: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let names = self.names;
        checked_str(deserializer, "a log name", |name| {
            let valid = !name.is_empty()
                && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !valid {
                return Err(format!(
                    "{name:?} is not a log name (letters, digits, _, - and .)"
                ));
            }
            if names.iter().any(|taken| taken == name) {
                return Err(format!("the name {name:?} is given to two logs"));
            }
            names.push(name.to_owned());
            Ok(name.to_owned())
        })
    }
}

/// Reads a string and checks it within the read, so that an error is placed at the value.
fn checked_str<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Checked<F>(F, &'static str);
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Checked<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
            (self.0)(value).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Checked(check, expecting))
}

/// One of [`ENTRY_KEYS`].
struct EntryKey(&'static str);

impl<'de> Deserialize<'de> for EntryKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a key", |key| {
            (ENTRY_KEYS.iter().find(|known| **known == key))
                .map(|known| EntryKey(known))
                .ok_or_else(|| {
                    format!(
                        "unknown field `{key}`, expected one of {}",
                        ENTRY_KEYS.join(", ")
                    )
                })
        })
    }
}

/// A path or a glob, and whether it is a glob.
struct PathValue((PathBuf, bool));

impl<'de> Deserialize<'de> for PathValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a path or a glob", |text| {
            if text.is_empty() || text == "-" {
                return Err("expected a path or a glob (stdin is --log-file -)".into());
            }
            let is_glob = text.contains(['*', '?', '[']);
            if is_glob {
                if let Err(error) = glob::Pattern::new(text) {
                    return Err(format!("{text:?} is not a valid glob: {error}"));
                }
            }
            Ok(PathValue((PathBuf::from(text), is_glob)))
        })
    }
}

/// A syslog tag, as [`crate::syslog::message`] reads them.
struct TagValue(String);

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a syslog tag", |tag| {
            let valid = !tag.is_empty()
                && tag.len() <= crate::syslog::message::MAX_TAG_BYTES
                && (tag.bytes()).all(|b| b.is_ascii_graphic() && !b":[]".contains(&b));
            if !valid {
                return Err(format!(
                    "{tag:?} is not a syslog tag (1 to {} printable characters, no : [ ])",
                    crate::syslog::message::MAX_TAG_BYTES
                ));
            }
            Ok(TagValue(tag.to_owned()))
        })
    }
}

/// A `--format` value.
struct FormatValue(LogFormat);

impl<'de> Deserialize<'de> for FormatValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a --format value", |text| {
            text.parse().map(FormatValue)
        })
    }
}

/// Static labels: at most [`MAX_LABELS`], names as Prometheus takes them and none of the
/// exporter's own, values of at most [`MAX_LABEL_VALUE_BYTES`].
struct Labels(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;
        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut labels: Vec<(String, String)> = Vec::new();
                while let Some(LabelName(name)) = map.next_key()? {
                    if labels.len() == MAX_LABELS {
                        return Err(de::Error::custom(format!("more than {MAX_LABELS} labels")));
                    }
                    if labels.iter().any(|(taken, _)| *taken == name) {
                        return Err(de::Error::custom(format!(
                            "the label {name} is given twice"
                        )));
                    }
                    let LabelValue(value) = map.next_value()?;
                    labels.push((name, value));
                }
                labels.sort();
                Ok(Labels(labels))
            }
        }
        deserializer.deserialize_map(LabelsVisitor)
    }
}

struct LabelName(String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a label name", |name| {
            let valid = (name.bytes().next()).is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(format!(
                    "{name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                ));
            }
            if name.starts_with("__") || RESERVED_LABELS.contains(&name) {
                return Err(format!(
                    "{name:?} is a label the exporter or Prometheus sets"
                ));
            }
            Ok(LabelName(name.to_owned()))
        })
    }
}

struct LabelValue(String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a label value", |value| {
            if value.len() > MAX_LABEL_VALUE_BYTES {
                return Err(format!(
                    "a label value of {} bytes; at most {MAX_LABEL_VALUE_BYTES}",
                    value.len()
                ));
            }
            Ok(LabelValue(value.to_owned()))
        })
    }
}

#[cfg(test)]
mod tests;
