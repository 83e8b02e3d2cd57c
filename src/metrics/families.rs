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

impl Logs {
    /// Writes every family with at least one series, in the text format.
    pub fn write(&self, out: &mut String, buckets: &HistogramBuckets) {
        let logs: Vec<(&LogCounts, String)> = self
            .by_name
            .values()
            .map(|log| (&**log, log_labels(log)))
            .collect();
        let folded: Vec<_> = logs.iter().map(|(log, _)| log.folded()).collect();

        let requests = logs.iter().zip(&folded).flat_map(|((_, labels), folded)| {
            let mut series: Vec<&RequestSeries> = folded.requests.iter().collect();
            // In label order, as the client library sorts them: method, section, status.
            series.sort_by(|a, b| {
                (&a.host, a.method, &a.section, &a.status)
                    .cmp(&(&b.host, b.method, &b.section, &b.status))
            });
            series.into_iter().map(move |series| {
                let labels = join(
                    &host_label(series.host.as_deref()),
                    &join(
                        labels,
                        &format!(
                            "method=\"{}\",section=\"{}\",status=\"{}\"",
                            series.method,
                            escape(&series.section),
                            escape(&series.status)
                        ),
                    ),
                );
                (labels, series.count)
            })
        });
        family(
            out,
            "accesslog_http_requests_total",
            "HTTP requests read from the access log.",
            "counter",
            requests,
        );
        for (name, help, buckets, counts) in [
            (
                "accesslog_http_response_size_bytes",
                "Size of HTTP responses read from the access log.",
                &buckets.response_size,
                (|set: &SetCounts| &set.response_size) as fn(&SetCounts) -> &Option<Box<Counts>>,
            ),
            (
                "accesslog_http_request_duration_seconds",
                "Time taken to serve HTTP requests, for log formats that record it.",
                &buckets.duration,
                |set: &SetCounts| &set.duration,
            ),
            (
                "accesslog_http_upstream_duration_seconds",
                "Time spent waiting for upstream servers, summed over those tried, for log \
                 formats that record it.",
                &buckets.duration,
                |set: &SetCounts| &set.upstream_duration,
            ),
        ] {
            let mut series = String::new();
            for ((_, labels), folded) in logs.iter().zip(&folded) {
                let mut sets: Vec<&HistogramSeries> = folded.histograms.iter().collect();
                // In label order: method, section, status_class.
                sets.sort_by(|a, b| {
                    (&a.host, a.method, &a.section, a.class)
                        .cmp(&(&b.host, b.method, &b.section, b.class))
                });
                for set in sets {
                    let Some(counts) = counts(&set.counts) else {
                        continue;
                    };
                    let labels = join(
                        &host_label(set.host.as_deref()),
                        &join(
                            labels,
                            &format!(
                                "method=\"{}\",section=\"{}\"",
                                set.method,
                                escape(&set.section)
                            ),
                        ),
                    );
                    histogram::write_series(&mut series, name, &labels, set.class, buckets, counts);
                }
            }
            if !series.is_empty() {
                header(out, name, help, "histogram");
                out.push_str(&series);
            }
        }
        let parse_errors = logs.iter().flat_map(|(log, labels)| {
            PARSE_ERROR_REASONS
                .iter()
                .zip(&log.parse_errors)
                .map(move |(reason, count)| {
                    let labels = join(labels, &format!("reason=\"{reason}\""));
                    (labels, count.load(Ordering::Relaxed))
                })
        });
        family(
            out,
            "accesslog_parse_errors_total",
            "Log lines that are not access-log records.",
            "counter",
            parse_errors,
        );
        for (name, help, value) in [
            (
                "accesslog_lines_read_total",
                "Lines read from the log.",
                (|log: &LogCounts| &log.lines_read) as fn(&LogCounts) -> &AtomicU64,
            ),
            (
                "accesslog_bytes_read_total",
                "Bytes read from the log.",
                |log: &LogCounts| &log.bytes_read,
            ),
            (
                "accesslog_directives_total",
                "W3C directive lines (#Fields and others) read from the log.",
                |log: &LogCounts| &log.directives,
            ),
        ] {
            let series = logs
                .iter()
                .map(|(log, labels)| (labels.clone(), value(log).load(Ordering::Relaxed)));
            family(out, name, help, "counter", series);
        }
        let rotations = logs.iter().flat_map(|(log, labels)| {
            ROTATION_KINDS
                .iter()
                .zip(&log.rotations)
                .map(move |(kind, count)| {
                    // `kind` sorts before `log`.
                    let labels = join(&format!("kind=\"{kind}\""), labels);
                    (labels, count.load(Ordering::Relaxed))
                })
        });
        family(
            out,
            "accesslog_log_rotations_total",
            "Rotations of the log file seen.",
            "counter",
            rotations,
        );
        let file_open = logs
            .iter()
            .map(|(log, labels)| (labels.clone(), log.file_open.load(Ordering::Relaxed) as f64));
        family(
            out,
            "accesslog_log_file_open",
            "1 while the file at the log path is open for reading, 0 otherwise.",
            "gauge",
            file_open,
        );
        let last_record = logs.iter().zip(&folded).map(|((_, labels), folded)| {
            (labels.clone(), folded.last_record_timestamp.unwrap_or(0.0))
        });
        family(
            out,
            "accesslog_last_record_timestamp_seconds",
            "Log timestamp of the last record read, in seconds since the epoch.",
            "gauge",
            last_record,
        );
    }
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

/// Two label lists joined, either possibly empty.
fn join(first: &str, second: &str) -> String {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second.to_owned(),
        (_, true) => first.to_owned(),
        _ => format!("{first},{second}"),
    }
}

/// Writes a family's header and series, or nothing if it has none. Counters are given as
/// integers: printed as the client library's floats print them below 2^53, without
/// formatting a float.
fn family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    series: impl Iterator<Item = (String, V)>,
) {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return;
    }
    header(out, name, help, kind);
    for (labels, value) in series {
        let _ = if labels.is_empty() {
            writeln!(out, "{name} {value}")
        } else {
            writeln!(out, "{name}{{{labels}}} {value}")
        };
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
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
