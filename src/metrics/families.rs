//! The metric families of the logs: every log's counts, kept compact, and written out as the
//! Prometheus text format on a scrape.
//!
//! # Memory and speed
//! A log costs its counts and the request series it has seen, nothing per metric family: no
//! collector, descriptor or label set is made for it, so thousands of logs fit in a few
//! kilobytes each. A scrape writes the text straight from the counts, one line a series, where
//! gathering every series into protocol buffers first would allocate several times the text.
//! The exporter's own metrics (build info, threshold) stay in a [`prometheus::Registry`] and
//! are encoded by the client library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::histogram::{self, Buckets, Counts, SetCounts};
use super::LOG_LABEL;

/// Why a line is not a record: the `reason` label values of `accesslog_parse_errors_total`,
/// each exposed from the start.
pub const PARSE_ERROR_REASONS: [&str; 7] = [
    "bytes",
    "empty",
    "status",
    "syntax",
    "timestamp",
    "too_long",
    "w3c_layout",
];
/// The `kind` label values of `accesslog_log_rotations_total`, each exposed from the start.
pub const ROTATION_KINDS: [&str; 2] = ["rename", "truncate"];

/// One series of `accesslog_http_requests_total`.
#[derive(Debug)]
pub struct RequestSeries {
    /// With `--host-label`.
    pub host: Option<Box<str>>,
    pub section: Box<str>,
    pub method: &'static str,
    pub status: Box<str>,
    pub count: u64,
}

/// One label set of the three histograms.
#[derive(Debug)]
pub struct HistogramSeries {
    /// With `--host-label`.
    pub host: Option<Box<str>>,
    pub section: Box<str>,
    pub method: &'static str,
    /// The status code's first digit.
    pub class: u16,
    pub counts: SetCounts,
}

/// What a log's pipeline folds in under the fold lock.
#[derive(Default)]
pub struct Folded {
    pub requests: Vec<RequestSeries>,
    pub histograms: Vec<HistogramSeries>,
    pub last_record_timestamp: Option<f64>,
}

/// One log's counts: counters its pipeline adds to at any time, and what it folds in.
pub struct LogCounts {
    /// The `log` label value, if logs are labelled.
    pub name: Option<String>,
    /// The labels its configuration gives it (`--config.file`'s `labels:`).
    pub labels: Vec<(String, String)>,
    pub lines_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub directives: AtomicU64,
    pub parse_errors: [AtomicU64; PARSE_ERROR_REASONS.len()],
    pub rotations: [AtomicU64; ROTATION_KINDS.len()],
    pub file_open: AtomicI64,
    folded: Mutex<Folded>,
}

impl LogCounts {
    pub fn new(name: Option<String>, labels: Vec<(String, String)>) -> LogCounts {
        LogCounts {
            name,
            labels,
            lines_read: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            directives: AtomicU64::new(0),
            parse_errors: Default::default(),
            rotations: Default::default(),
            file_open: AtomicI64::new(0),
            folded: Mutex::default(),
        }
    }

    /// The folded counts. Held only for adding or reading them: never across I/O.
    pub fn folded(&self) -> std::sync::MutexGuard<'_, Folded> {
        // Plain counts: a panic while holding them leaves nothing half-done that matters.
        self.folded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The buckets of the three histograms, shared by every log.
pub struct HistogramBuckets {
    pub response_size: Arc<Buckets>,
    pub duration: Arc<Buckets>,
}

/// Every log's counts, by label value (`""` for the one unlabelled log).
#[derive(Default)]
pub struct Logs {
    /// Whether the logs carry a `log` label; set by the first log registered.
    pub labelled: Option<bool>,
    pub by_name: BTreeMap<String, Arc<LogCounts>>,
}

/// A number a series shows: a count, or a real number (a histogram's sum, a gauge).
/// Counts print as the client library's floats print them below 2^53, without formatting a
/// float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A counter's value, a histogram bucket's or count.
    Count(u64),
    /// Anything else.
    Real(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Count(count) => count.fmt(f),
            Value::Real(real) => real.fmt(f),
        }
    }
}

/// A metric family's name, help and type, as its header says them.
#[derive(Debug)]
pub struct Family {
    /// As scraped: a counter's ends in `_total`.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
}

/// Which label set of a family: the log's place among the exposition's, and the set's among
/// the log's. A set keeps it from one walk to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetId {
    /// The log's place in the exposition.
    pub log: usize,
    /// The set's place among the log's sets of the family.
    pub index: usize,
}

/// What reads the logs' series, family by family, a label set at a time ([`Logs::walk`]):
/// the scrape's text, backfill's samples.
pub trait SeriesVisitor {
    /// The sets of `family` follow, until the next family. A family may have none.
    fn family(&mut self, family: &'static Family);
    /// One label set of the current family (a histogram's buckets, sum and count together):
    /// its series' `values`, and `names`, which writes their names (`name{labels}`) one a
    /// line, in the same order, each followed by its value if given the values. Names cost
    /// formatting: call it only for what is written.
    fn set(&mut self, id: SetId, values: &[Value], names: &Names<'_>);
}

/// Writes a label set's series names ([`SeriesVisitor::set`]).
pub type Names<'a> = dyn Fn(&mut String, Option<&[Value]>) + 'a;

const REQUESTS: Family = Family {
    name: "accesslog_http_requests_total",
    help: "HTTP requests read from the access log.",
    kind: "counter",
};
const RESPONSE_SIZE: Family = Family {
    name: "accesslog_http_response_size_bytes",
    help: "Size of HTTP responses read from the access log.",
    kind: "histogram",
};
const REQUEST_DURATION: Family = Family {
    name: "accesslog_http_request_duration_seconds",
    help: "Time taken to serve HTTP requests, for log formats that record it.",
    kind: "histogram",
};
const UPSTREAM_DURATION: Family = Family {
    name: "accesslog_http_upstream_duration_seconds",
    help: "Time spent waiting for upstream servers, summed over those tried, for log formats \
           that record it.",
    kind: "histogram",
};
const PARSE_ERRORS: Family = Family {
    name: "accesslog_parse_errors_total",
    help: "Log lines that are not access-log records.",
    kind: "counter",
};
const LINES_READ: Family = Family {
    name: "accesslog_lines_read_total",
    help: "Lines read from the log.",
    kind: "counter",
};
const BYTES_READ: Family = Family {
    name: "accesslog_bytes_read_total",
    help: "Bytes read from the log.",
    kind: "counter",
};
const DIRECTIVES: Family = Family {
    name: "accesslog_directives_total",
    help: "W3C directive lines (#Fields and others) read from the log.",
    kind: "counter",
};
const ROTATIONS: Family = Family {
    name: "accesslog_log_rotations_total",
    help: "Rotations of the log file seen.",
    kind: "counter",
};
const FILE_OPEN: Family = Family {
    name: "accesslog_log_file_open",
    help: "1 while the file at the log path is open for reading, 0 otherwise.",
    kind: "gauge",
};
const LAST_RECORD: Family = Family {
    name: "accesslog_last_record_timestamp_seconds",
    help: "Log timestamp of the last record read, in seconds since the epoch.",
    kind: "gauge",
};

impl Logs {
    /// Writes every family with at least one series, in the text format.
    pub fn write(&self, out: &mut String, buckets: &HistogramBuckets) {
        self.walk(buckets, &mut TextVisitor { out, header: None });
    }

    /// Shows `visitor` every family and label set of every log, in the text format's order.
    pub fn walk(&self, buckets: &HistogramBuckets, visitor: &mut impl SeriesVisitor) {
        let logs: Vec<(&LogCounts, String)> = self
            .by_name
            .values()
            .map(|log| (&**log, log_labels(log)))
            .collect();
        let folded: Vec<_> = logs.iter().map(|(log, _)| log.folded()).collect();
        let logs_folded = || logs.iter().zip(&folded).enumerate();

        visitor.family(&REQUESTS);
        for (log, ((_, labels), folded)) in logs_folded() {
            let mut series: Vec<(usize, &RequestSeries)> =
                folded.requests.iter().enumerate().collect();
            // In label order, as the client library sorts them: method, section, status.
            series.sort_by(|(_, a), (_, b)| {
                (&a.host, a.method, &a.section, &a.status)
                    .cmp(&(&b.host, b.method, &b.section, &b.status))
            });
            for (index, series) in series {
                let names = |out: &mut String, values: Option<&[Value]>| {
                    let own = format!(
                        "method=\"{}\",section=\"{}\",status=\"{}\"",
                        series.method,
                        escape(&series.section),
                        escape(&series.status)
                    );
                    let host = host_label(series.host.as_deref());
                    write_name(out, REQUESTS.name, &[&host, labels, &own], values);
                };
                let id = SetId { log, index };
                visitor.set(id, &[Value::Count(series.count)], &names);
            }
        }
        let mut values = Vec::new();
        for (family, buckets, counts) in [
            (
                &RESPONSE_SIZE,
                &buckets.response_size,
                (|set: &SetCounts| &set.response_size) as fn(&SetCounts) -> &Option<Box<Counts>>,
            ),
            (&REQUEST_DURATION, &buckets.duration, |set: &SetCounts| {
                &set.duration
            }),
            (&UPSTREAM_DURATION, &buckets.duration, |set: &SetCounts| {
                &set.upstream_duration
            }),
        ] {
            visitor.family(family);
            for (log, ((_, labels), folded)) in logs_folded() {
                let mut sets: Vec<(usize, &HistogramSeries)> =
                    folded.histograms.iter().enumerate().collect();
                // In label order: method, section, status_class.
                sets.sort_by(|(_, a), (_, b)| {
                    (&a.host, a.method, &a.section, a.class)
                        .cmp(&(&b.host, b.method, &b.section, b.class))
                });
                for (index, set) in sets {
                    let Some(counts) = counts(&set.counts) else {
                        continue;
                    };
                    values.clear();
                    histogram::values(buckets, counts, &mut values);
                    let names = |out: &mut String, values: Option<&[Value]>| {
                        let own = format!(
                            "method=\"{}\",section=\"{}\"",
                            set.method,
                            escape(&set.section)
                        );
                        let host = host_label(set.host.as_deref());
                        let labels = joined(&[&host, labels, &own]);
                        let class = set.class;
                        histogram::write_names(out, family.name, &labels, class, buckets, values);
                    };
                    visitor.set(SetId { log, index }, &values, &names);
                }
            }
        }
        visitor.family(&PARSE_ERRORS);
        for (log, ((counts, labels), _)) in logs_folded() {
            for (index, reason) in PARSE_ERROR_REASONS.iter().enumerate() {
                let count = counts.parse_errors[index].load(Ordering::Relaxed);
                let names = |out: &mut String, values: Option<&[Value]>| {
                    let own = format!("reason=\"{reason}\"");
                    write_name(out, PARSE_ERRORS.name, &[labels, &own], values);
                };
                visitor.set(SetId { log, index }, &[Value::Count(count)], &names);
            }
        }
        for (family, value) in [
            (
                &LINES_READ,
                (|log: &LogCounts| &log.lines_read) as fn(&LogCounts) -> &AtomicU64,
            ),
            (&BYTES_READ, |log: &LogCounts| &log.bytes_read),
            (&DIRECTIVES, |log: &LogCounts| &log.directives),
        ] {
            visitor.family(family);
            for (log, ((counts, labels), _)) in logs_folded() {
                let count = value(counts).load(Ordering::Relaxed);
                let names = |out: &mut String, values: Option<&[Value]>| {
                    write_name(out, family.name, &[labels], values)
                };
                visitor.set(SetId { log, index: 0 }, &[Value::Count(count)], &names);
            }
        }
        visitor.family(&ROTATIONS);
        for (log, ((counts, labels), _)) in logs_folded() {
            for (index, kind) in ROTATION_KINDS.iter().enumerate() {
                let count = counts.rotations[index].load(Ordering::Relaxed);
                let names = |out: &mut String, values: Option<&[Value]>| {
                    // `kind` sorts before `log`.
                    let own = format!("kind=\"{kind}\"");
                    write_name(out, ROTATIONS.name, &[&own, labels], values);
                };
                visitor.set(SetId { log, index }, &[Value::Count(count)], &names);
            }
        }
        visitor.family(&FILE_OPEN);
        for (log, ((counts, labels), _)) in logs_folded() {
            let open = counts.file_open.load(Ordering::Relaxed) as f64;
            let names = |out: &mut String, values: Option<&[Value]>| {
                write_name(out, FILE_OPEN.name, &[labels], values)
            };
            visitor.set(SetId { log, index: 0 }, &[Value::Real(open)], &names);
        }
        visitor.family(&LAST_RECORD);
        for (log, ((_, labels), folded)) in logs_folded() {
            let seconds = folded.last_record_timestamp.unwrap_or(0.0);
            let names = |out: &mut String, values: Option<&[Value]>| {
                write_name(out, LAST_RECORD.name, &[labels], values)
            };
            visitor.set(SetId { log, index: 0 }, &[Value::Real(seconds)], &names);
        }
    }
}

/// The text format: each family's header before its first series, none for a family without.
struct TextVisitor<'a> {
    out: &'a mut String,
    header: Option<&'static Family>,
}

impl SeriesVisitor for TextVisitor<'_> {
    fn family(&mut self, family: &'static Family) {
        self.header = Some(family);
    }

    fn set(&mut self, _id: SetId, values: &[Value], names: &Names<'_>) {
        if let Some(Family { name, help, kind }) = self.header.take() {
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        names(self.out, Some(values));
    }
}

/// Writes `name`, its labels in braces (each part a list of them written, possibly empty),
/// its value if given, and a line feed.
fn write_name(out: &mut String, name: &str, parts: &[&str], value: Option<&[Value]>) {
    out.push_str(name);
    let mut parts = parts.iter().filter(|part| !part.is_empty());
    if let Some(first) = parts.next() {
        out.push('{');
        out.push_str(first);
        for part in parts {
            out.push(',');
            out.push_str(part);
        }
        out.push('}');
    }
    end_line(out, value.and_then(|values| values.first()));
}

/// Ends a series' line: its value, if given, and a line feed.
pub(super) fn end_line(out: &mut String, value: Option<&Value>) {
    let _ = match value {
        Some(value) => writeln!(out, " {value}"),
        None => writeln!(out),
    };
}

/// Lists of labels, written, joined; any may be empty.
fn joined(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|part| !part.is_empty())
        .collect();
    parts.join(",")
}

/// The labels every series of `log` carries: `log="…"` and those its configuration gives, or
/// none.
fn log_labels(log: &LogCounts) -> String {
    let name = (log.name.iter()).map(|name| format!("{LOG_LABEL}=\"{}\"", escape(name)));
    let given = (log.labels.iter()).map(|(label, value)| format!("{label}=\"{}\"", escape(value)));
    name.chain(given).collect::<Vec<_>>().join(",")
}

/// `host="…"` with `--host-label`, else nothing. The label sorts before `log`.
fn host_label(host: Option<&str>) -> String {
    match host {
        Some(host) => format!("host=\"{}\"", escape(host)),
        None => String::new(),
    }
}

/// A label value as the text format writes it: `\`, `"` and line feeds escaped.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped.into()
}
